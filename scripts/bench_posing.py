"""How fast the mannequin poses (prints numbers; no assertions).

    .venv/bin/python scripts/bench_posing.py [--n 1000] [--n-mesh 200]

1. sample_row (body + pose, numpy only)
2. apply_pose + world_keypoints, armature only
3. the same with the skinned mesh (the mesh re-evaluates every pose)
4. build_pose_table, Blender backend (target >= 1.5 k poses/s) and numpy backend
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="poses for the armature-only runs")
    ap.add_argument("--n-mesh", type=int, default=200, help="poses for the run with the mesh")
    a = ap.parse_args()

    import bpy
    import numpy as np

    from deepx_addon.blender.mannequin import build_mannequin, remove_mannequin, update_body
    from deepx_addon.blender.posetable_build import build_pose_table
    from deepx_addon.blender.posing import apply_pose, world_keypoints
    from deepx_addon.core.limits import JointLimits
    from deepx_addon.core.poses import load_presets, pose_seed_for, sample_row
    from deepx_addon.core.settings import GeneratorSettings

    bpy.ops.wm.read_factory_settings(use_empty=True)
    g = GeneratorSettings(seed=1)
    presets, limits = load_presets(), JointLimits.load()

    def rate(label, n, fn):
        fn(min(n, 20))                        # warm-up
        t, c = time.perf_counter(), time.process_time()
        fn(n)
        dt, dc = time.perf_counter() - t, time.process_time() - c
        # per CPU-second too: on a shared machine wall time includes other processes' turns
        print(f"{label:48s} {n / dt:8.0f} poses/s wall  {n / dc:8.0f} per CPU-s  ({dt / n * 1e3:.3f} ms each, n={n})")

    rows = [sample_row(pose_seed_for(1, i), g, presets, limits) for i in range(max(a.n, a.n_mesh))]
    rate("sample_row (body + pose, numpy)", a.n, lambda n: [sample_row(pose_seed_for(1, i), g, presets, limits)
                                                            for i in range(n)])

    for with_mesh, n in ((False, a.n), (True, a.n_mesh)):
        arm = build_mannequin(name="Bench", with_mesh=with_mesh)

        def pose(n, arm=arm):
            for body, p in rows[:n]:
                update_body(arm, body)
                apply_pose(arm, p.array(), p.support, p.box_height_m)
                world_keypoints(arm)
        rate(f"update_body + apply_pose + keypoints ({'mesh' if with_mesh else 'armature'})", n, pose)
        remove_mannequin(arm)

    for backend in ("blender", "numpy"):
        rate(f"build_pose_table, {backend} backend", a.n, lambda n, b=backend: build_pose_table(g, n, backend=b))
    print(f"bpy {bpy.app.version_string}, numpy {np.__version__}")


if __name__ == "__main__":
    main()
