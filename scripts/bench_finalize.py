"""Peak memory and time of a render run's `finalize` (labels.jsonl + COCO) at 10^4 and 10^5 labels.

    .venv/bin/python scripts/bench_finalize.py [--sizes 10000,100000] [--views 3] [--dir /tmp/x]

Writes synthetic label files shaped like the render path's (K, camera, 2D/3D keypoints, body, pose
recipe, appearance, light, ``--views`` downscaled views each), then runs core.runfolder.finalize in a
fresh process per size and reports its peak RSS (ru_maxrss) and wall time. Goal: peak RSS at 10^5
within 1.3x of 10^4 (flat memory). Also prints the pose table's memory per row (core/posetable.py).
Run with PYTHONPATH pointing at another checkout to measure that one (the script's own folder is
only a fallback on sys.path).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))


def synthetic_label(index: int, cpp: int, views: int, rng) -> dict:
    p, c = divmod(index, cpp)
    sid = f"p{p:06d}-c{c:03d}"
    r = lambda *shape: rng.uniform(0, 100, shape).round(6).tolist()   # noqa: E731
    K = [[800.0, 0.0, 320.0], [0.0, 800.0, 320.0], [0.0, 0.0, 1.0]]
    kp2d = [[float(x), float(y), 2.0] for x, y in rng.uniform(100, 500, (17, 2))]
    lab = {"id": sid, "index": index, "pose_index": p, "camera_index": c, "source": "deepx-render",
           "sample_seed": index * 7919, "pose_seed": p, "image": f"images/{sid}.png", "image_size": [640, 640],
           "K": K, "camera": {"R": r(3, 3), "t": r(3), "position": r(3), "hfov_deg": 60.0, "height_m": 1.6,
                              "blender": {"lens_mm": 35.0, "sensor_width_mm": 36.0, "shift_x": 0.0, "shift_y": 0.0}},
           "keypoints_2d": kp2d, "keypoints_3d_world": r(17, 3), "keypoints_3d_camera": r(17, 3),
           "bbox": [100.0, 100.0, 300.0, 400.0], "distance_m": 12.3, "depth_m": 12.0,
           "pelvis_world": r(3), "pelvis_camera": r(3),
           "body": {k: float(v) for k, v in zip("abcdefghij", rng.uniform(0.8, 1.2, 10))}, "height_m": 1.75,
           "pose": {"family": "walking", "recipe": {"presets": ["standing", "walk"], "blend": r(2), "phase": 0.3,
                                                    "tweaks": r(12)}, "support": "ground", "box_height_m": 0.0,
                    "seat_height_m": 0.0, "support_box": None},
           "appearance": {"skin": r(3), "shirt": r(3), "trousers": r(3), "hair": r(3)},
           "light": {"sun_elevation_deg": 40.0, "sun_azimuth_deg": 120.0, "sun_strength": 3.0,
                     "world_strength": 0.6, "world_rgb": r(3), "ground_rgb": r(3)},
           "occluders": [], "render": {"engine": "CYCLES", "samples": 4, "blender": "4.2.23"}, "views": []}
    for k in range(views):
        s = 0.5 ** (k + 1)
        w = int(640 * s)
        lab["views"].append({"image": f"images/{sid}-{w}x{w}.png", "image_size": [w, w], "scale": s, "sx": s, "sy": s,
                             "K": [[800.0 * s, 0.0, 320.0 * s], [0.0, 800.0 * s, 320.0 * s], [0.0, 0.0, 1.0]],
                             "keypoints_2d": [[x * s, y * s, v] for x, y, v in kp2d],
                             "bbox": [100.0 * s, 100.0 * s, 300.0 * s, 400.0 * s]})
    return lab


def make_run(out: Path, n: int, views: int) -> None:
    import numpy as np

    from deepx_addon.core.runfolder import SETTINGS_FILE, _settings_doc
    from deepx_addon.core.settings import GeneratorSettings

    s = GeneratorSettings(seed=1, count=n, cameras_per_pose=16)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    (out / SETTINGS_FILE).write_text(json.dumps(_settings_doc(s), indent=1))
    rng = np.random.default_rng(0)
    for i in range(n):
        lab = synthetic_label(i, 16, views, rng)
        (out / "labels" / f"{lab['id']}.json").write_text(json.dumps(lab) + "\n")


def child(out: str) -> None:
    from deepx_addon.core.runfolder import finalize
    t = time.perf_counter()
    fin = finalize(out)
    print(json.dumps({"seconds": time.perf_counter() - t, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "images": fin["images"]}))


def posetable_bytes_per_row(n: int = 2000) -> str:
    """Bytes a row of a pose table (core/posebuild.py, numpy backend), per column, as held in memory;
    the recipe also as the fixed-width numpy str array it was before (and still is in the .npz)."""
    import numpy as np

    from deepx_addon.core.posebuild import build_pose_table
    t = build_pose_table(n=n, seed=1)
    per = t.nbytes_per_row()
    old = np.asarray(t.recipe).nbytes / len(t)
    return (f"pose table ({n} rows, numpy backend): {sum(per.values()):.0f} bytes/row in memory, recipe "
            f"{per['recipe']:.0f} (as a numpy str array: {old:.0f}; the whole row then "
            f"{sum(per.values()) - per['recipe'] + old:.0f})")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10000,100000")
    p.add_argument("--views", type=int, default=3, help="downscaled views per label (the render default 0)")
    p.add_argument("--dir", help="where to write the synthetic runs (default: a temp folder, removed)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        child(a.child)
        return 0
    base = Path(a.dir) if a.dir else Path(tempfile.mkdtemp(prefix="deepx-finalize-"))
    res = {}
    try:
        for n in (int(x) for x in a.sizes.split(",")):
            out = base / f"run{n}"
            if not (out / "labels").is_dir() or len(os.listdir(out / "labels")) != n:
                shutil.rmtree(out, ignore_errors=True)
                make_run(out, n, a.views)
            r = subprocess.run([sys.executable, __file__, "--child", str(out)], capture_output=True, text=True, check=True)
            res[n] = json.loads(r.stdout.strip().splitlines()[-1])
            size = sum(f.stat().st_size for f in (out / "labels").iterdir()) / n / 1024
            print(f"{n:>8} labels ({size:.1f} KB each, {res[n]['images']} images): finalize {res[n]['seconds']:.1f} s, "
                  f"peak RSS {res[n]['peak_rss_mb']:.0f} MB", flush=True)
    finally:
        if not a.dir:
            shutil.rmtree(base, ignore_errors=True)
    print(posetable_bytes_per_row())
    sizes = sorted(res)
    if len(sizes) > 1:
        print(f"peak RSS {sizes[-1]} / {sizes[0]} labels: {res[sizes[-1]]['peak_rss_mb'] / res[sizes[0]]['peak_rss_mb']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
