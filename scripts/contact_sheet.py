"""Render 16 varied samples and tile them, with their keypoint labels drawn, into one PNG.

    .venv/bin/python scripts/contact_sheet.py                       # -> docs/contact_sheet.png
    .venv/bin/python scripts/contact_sheet.py --out /tmp/sheet.png --seed 3 --tile 256
    .venv/bin/python scripts/contact_sheet.py --from RENDER_DIR --real docs/estimate_example.jpg \
        --out docs/contact_sheet_realistic.png     # renders already made, next to real photos

--from takes the samples of an existing render folder (deepx generate / scripts/render_detect.py)
instead of rendering, spread over its camera kinds; --real puts real photos (unlabelled) in the
first tiles for comparison. Every labelled person of a realistic scene is drawn.

Keypoints: green = visible (v 2), orange = hidden (v 1; by the body itself or an occluder),
skeleton lines between labelled keypoints; each tile is captioned with distance, family and
visibility counts. Renders go to a temporary folder (or --keep DIR).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VIS_COLOURS = {2: (40, 230, 60), 1: (255, 150, 0)}


def draw_labels(im, lab: dict, scale: float = 1.0):
    from PIL import ImageDraw

    from deepx_addon.core.keypoints import SKELETON
    d = ImageDraw.Draw(im)
    r = max(1.5, im.width / 160)
    for person in [lab, *lab.get("others", [])]:
        kp = [(x * scale, y * scale, int(v)) for x, y, v in person["keypoints_2d"]]
        for a, b in SKELETON:
            if kp[a][2] > 0 and kp[b][2] > 0:
                col = (90, 200, 255) if kp[a][2] == 2 and kp[b][2] == 2 else (200, 140, 60)
                d.line([kp[a][:2], kp[b][:2]], fill=col, width=1)
        for x, y, v in kp:
            if v > 0:
                d.ellipse([x - r, y - r, x + r, y + r], fill=VIS_COLOURS[v], outline=(0, 0, 0))
    vis = [int(v) for *_, v in lab["keypoints_2d"]]
    kind = lab.get("camera", {}).get("kind")
    text = (f"{lab['distance_m']:.1f} m {lab['pose']['family']}{' ' + kind if kind else ''}"
            f"{' +occ' if lab.get('occluders') else ''}  v2:{vis.count(2)} v1:{vis.count(1)}")
    d.rectangle([0, im.height - 13, im.width, im.height], fill=(0, 0, 0))
    d.text((3, im.height - 12), text, fill=(255, 255, 255))
    return im


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(ROOT / "docs" / "contact_sheet.png"))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--tile", type=int, default=256, help="tile size in pixels (square renders)")
    p.add_argument("--samples", type=int, default=8, help="Cycles samples per pixel")
    p.add_argument("--distance", type=float, nargs=2, default=(2.0, 9.0), metavar=("MIN", "MAX"))
    p.add_argument("--keep", help="keep the renders and labels in this folder")
    p.add_argument("--from", dest="from_dir", help="tile the samples of this render folder (no rendering)")
    p.add_argument("--real", action="append", default=[], help="a real photo for the first tiles (repeatable)")
    p.add_argument("--no-labels", action="store_true", help="draw no keypoints (to judge the pictures alone)")
    a = p.parse_args(argv)
    if a.from_dir:
        return sheet_from(a)

    import bpy
    from PIL import Image

    from deepx_addon.blender.batch import load_labels, run_batch
    from deepx_addon.core.settings import GeneratorSettings

    bpy.ops.wm.read_factory_settings(use_empty=True)
    s = GeneratorSettings(seed=a.seed, count=16, cameras_per_pose=1)
    s.render.samples = a.samples
    s.render.resolution = s.camera.image_size = (a.tile, a.tile)
    s.camera.distance_m = tuple(a.distance)
    s.camera.hfov_deg = (30.0, 65.0)
    s.camera.off_centre = 0.5
    s.camera.p_occluder = 0.25
    tmp = None
    if a.keep:
        out_dir = Path(a.keep)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="deepx-sheet-")
        out_dir = Path(tmp.name)
    summary = run_batch(s, out_dir)
    labels = load_labels(out_dir, s.count)
    sheet = Image.new("RGB", (4 * a.tile, 4 * a.tile))
    for i, lab in enumerate(labels[:16]):
        with Image.open(out_dir / lab["image"]) as im:
            tile = draw_labels(im.convert("RGB"), lab)
        sheet.paste(tile, ((i % 4) * a.tile, (i // 4) * a.tile))
    dst = Path(a.out)
    dst.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(dst, optimize=True)
    if dst.stat().st_size > 900_000:              # keep the repo light (< 1 MB): fall back to a palette PNG
        sheet.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(dst, optimize=True)
    print(f"{dst}: {dst.stat().st_size / 1e6:.2f} MB, 16 samples rendered in {summary['seconds']:.1f} s")
    if tmp is not None:
        tmp.cleanup()
    return 0


def sheet_from(a) -> int:
    """A 4x4 sheet from an existing render folder: the real photos first, then samples taken
    round-robin over the camera kinds (one camera per pose), labels drawn unless --no-labels."""
    import json

    from PIL import Image, ImageDraw
    d = Path(a.from_dir)
    labels = [json.loads(p.read_text()) for p in sorted((d / "labels").glob("*.json")) if not p.name.startswith(".")]
    by_kind: dict = {}
    seen_pose = set()
    for lab in labels:
        if lab.get("pose_index") in seen_pose:
            continue
        seen_pose.add(lab.get("pose_index"))
        by_kind.setdefault(lab.get("camera", {}).get("kind"), []).append(lab)
    picks = []
    while len(picks) < 16 - len(a.real) and any(by_kind.values()):
        for k in sorted(by_kind, key=str):
            if by_kind[k] and len(picks) < 16 - len(a.real):
                picks.append(by_kind[k].pop(0))
    t = a.tile
    sheet = Image.new("RGB", (4 * t, 4 * t))
    tiles = []
    for path in a.real:
        with Image.open(path) as im:
            im = im.convert("RGB")
            s = t / max(im.size)
            tile = Image.new("RGB", (t, t))
            tile.paste(im.resize((round(im.width * s), round(im.height * s))), (0, 0))
            dr = ImageDraw.Draw(tile)
            dr.rectangle([0, t - 13, t, t], fill=(0, 0, 0))
            dr.text((3, t - 12), f"REAL: {Path(path).name}", fill=(255, 255, 0))
            tiles.append(tile)
    for lab in picks:
        with Image.open(d / lab["image"]) as im:
            im = im.convert("RGB")
            s = t / im.width
            im = im.resize((t, round(im.height * s)))
            if not a.no_labels:
                im = draw_labels(im, lab, s)
            tiles.append(im)
    for i, tile in enumerate(tiles[:16]):
        sheet.paste(tile, ((i % 4) * t, (i // 4) * t))
    dst = Path(a.out)
    dst.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(dst, optimize=True)
    if dst.stat().st_size > 900_000:
        sheet.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(dst, optimize=True)
    print(f"{dst}: {dst.stat().st_size / 1e6:.2f} MB, {len(picks)} renders from {d}, {len(a.real)} real")
    return 0


if __name__ == "__main__":
    sys.exit(main())
