"""Render 16 varied samples and tile them, with their keypoint labels drawn, into one PNG.

    .venv/bin/python scripts/contact_sheet.py                       # -> docs/contact_sheet.png
    .venv/bin/python scripts/contact_sheet.py --out /tmp/sheet.png --seed 3 --tile 256

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
    kp = [(x * scale, y * scale, int(v)) for x, y, v in lab["keypoints_2d"]]
    for a, b in SKELETON:
        if kp[a][2] > 0 and kp[b][2] > 0:
            col = (90, 200, 255) if kp[a][2] == 2 and kp[b][2] == 2 else (200, 140, 60)
            d.line([kp[a][:2], kp[b][:2]], fill=col, width=1)
    r = max(1.5, im.width / 160)
    for x, y, v in kp:
        if v > 0:
            d.ellipse([x - r, y - r, x + r, y + r], fill=VIS_COLOURS[v], outline=(0, 0, 0))
    vis = [v for *_, v in kp]
    text = (f"{lab['distance_m']:.1f} m {lab['pose']['family']}"
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
    a = p.parse_args(argv)

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


if __name__ == "__main__":
    sys.exit(main())
