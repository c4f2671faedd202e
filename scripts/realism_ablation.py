"""Same scenes, three pictures: how the real detector's recall depends on the scene and the picture.

    .venv/bin/python scripts/realism_ablation.py VARIANT N [OUT_DIR]
    .venv/bin/python scripts/realism_report.py OUT_DIR/pairs_VARIANT.jsonl

VARIANT: realistic (SceneSettings defaults of the run), clean (realistic without blur, noise or
JPEG), plain (SceneSettings.realistic off: the old one-person scene). N renders at 640x640 with
copies at 1/2, 1/4 and 1/8 (camera "any", 2.5-20 m, 1-2 people), each person-image with a keypoint
in the frame paired with YOLO11n-pose's detections (deepx_addon.cli.detect.detect_rows).
The same seeds in every variant, so the people and cameras are the same. A check, not a test.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    variant, n = argv[0], int(argv[1])
    out = Path(argv[2] if len(argv) > 2 else f"runs/ablation/{variant}")
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("YOLO_OFFLINE", "1")
    import bpy
    import torch
    torch.set_num_threads(1)

    from deepx_addon.blender.render import RenderContext, render_sample
    from deepx_addon.cli.detect import detect_rows
    from deepx_addon.core.runfolder import label_to_records
    from deepx_addon.core.settings import GeneratorSettings, RenderSettings
    from deepx_addon.ml.detector import PoseDetector

    bpy.ops.wm.read_factory_settings(use_empty=True)
    s = GeneratorSettings(seed=5, count=n, cameras_per_pose=1,
                          render=RenderSettings(resolution=(640, 640), samples=4,
                                                downscale_levels=(1.0, 0.5, 0.25, 0.125)))
    s.camera.distance_m, s.camera.p_occluder = (2.5, 20.0), 0.0
    s.scene.camera_kinds, s.scene.people = {"any": 1.0}, (1, 2)
    if variant == "clean":
        s.scene.p_blur, s.scene.noise_sd, s.scene.p_jpeg = 0.0, (0.0, 0.0), 0.0
    elif variant == "plain":
        s.scene.realistic = False
    elif variant != "realistic":
        raise SystemExit(f"unknown variant {variant!r}: realistic, clean or plain")
    ctx = RenderContext(s, out, threads=1)
    det = PoseDetector(conf=0.1, threads=1)
    with open(out / f"pairs_{variant}.jsonl", "w") as f:
        for k in range(n):
            lab = render_sample(ctx, 5000 + k, pose_seed=900 + k, sample_id=f"s{k}")
            rows = [r for r in label_to_records(lab) if any(v > 0 for v in r["visibility"])]
            for r in detect_rows(rows, [out] * len(rows), det, 0.1):
                f.write(json.dumps(r) + "\n")
    print(f"{out / f'pairs_{variant}.jsonl'}: {n} renders")
    return 0


if __name__ == "__main__":
    sys.exit(main())
