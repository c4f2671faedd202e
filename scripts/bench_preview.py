"""Time the in-Blender distance preview headless and compare its ONNX and torch backends.

    .venv/bin/python scripts/bench_preview.py [--model models/x.json] [--runs 3] [--dist 6]

Builds the standing mannequin with a camera --dist metres from its pelvis (960 x 720 render size,
previewed at 640 x 480), runs blender/preview.py's preview_distance --runs times per detector
backend and prints wall times (render / detect / total), then, on one render, the largest keypoint
and distance differences between the ONNX Runtime and the torch (Ultralytics) backends.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="deepx-bench-"))
os.environ.setdefault("YOLO_OFFLINE", "1")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="distance model .json (default: the shipped one, else Sloth)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--dist", type=float, default=6.0)
    a = p.parse_args(argv)

    import bpy
    import numpy as np

    import deepx_addon
    from deepx_addon.blender.posing import pelvis_world, world_keypoints
    from deepx_addon.blender.preview import preview_distance
    from deepx_addon.blender.scene import set_camera, setup_scene
    from deepx_addon.core.cameras import intrinsics_from_hfov, look_at
    from deepx_addon.runtime import detector as rdet
    from deepx_addon.runtime import preview as rp

    bpy.ops.wm.read_factory_settings(use_empty=True)
    deepx_addon.register()
    bpy.ops.deepx.create_mannequin()
    bpy.ops.deepx.apply_pose(preset="standing")
    rig = setup_scene()
    scene = bpy.context.scene
    pel = pelvis_world(scene.deepx.mannequin)
    d = np.array([1.0, -6.0, 0.3])
    R, t = look_at(pel + d / np.linalg.norm(d) * a.dist, pel)
    set_camera(rig.camera, intrinsics_from_hfov(50.0, 960, 720), R, t, 960, 720)

    backends = ["onnx"] + (["torch"] if rdet.module_available("torch") and rdet.module_available("ultralytics") else [])
    res = None
    for det in backends:
        for i in range(a.runs):
            t0 = time.perf_counter()
            r = preview_distance(bpy.context, detector=det, model=a.model, return_image=True)
            wall = time.perf_counter() - t0
            ts = r["timings_s"]
            print(f"{det:5s} run {i}: wall {wall:.2f} s (render {ts['render']:.2f}, detect {ts['detect']:.2f}) "
                  f"pred {r['predicted_m']} ±{r['sigma_m']} true {r['true_m']} | {r['model']}")
            res = res or r
    if len(backends) == 2:
        kw = world_keypoints(scene.deepx.mannequin)
        args = (res["image"], res["K"], res["R"], res["t"], kw)
        for model in ["sloth"] + ([a.model] if a.model else []):
            out = {}
            for det in backends:
                est, label, _ = rp.load_distance_model(model)
                out[det] = rp.run(*args, rdet.load_detector(det)[0], est)
            ka, kb = (np.asarray(out[k]["keypoints"]) for k in backends)
            dkp = np.linalg.norm(ka[:, :2] - kb[:, :2], axis=1).max()
            print(f"onnx vs torch detector, model {label}: keypoints max {dkp:.4f} px, "
                  f"conf max {np.abs(ka[:, 2] - kb[:, 2]).max():.5f}, distance {out['onnx']['predicted_m']} vs "
                  f"{out['torch']['predicted_m']} m")
        if a.model:
            det = rdet.load_detector("onnx")[0]
            o = [rp.run(*args, det, rp.load_distance_model(a.model, b)[0])["predicted_m"] for b in ("onnx", "torch")]
            print(f"learned model on onnxruntime vs torch: {o[0]} vs {o[1]} m")
    return 0


if __name__ == "__main__":
    sys.exit(main())
