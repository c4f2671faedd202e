"""Build a pose table (core/posetable.py) with the Blender mannequin (bpy).

The rows (bodies and poses) and their keypoints come from core/posebuild.py, the one route from a
posed person to keypoints; Blender only supplies the forward kinematics: the body is applied to
armature-only mannequins through their scale channels (no mesh, no edit mode) and the pose matrices
are read back from Blender's evaluated depsgraph, BATCH armatures per evaluation.
"""
from __future__ import annotations

import time

import bpy
import numpy as np

from ..core import posebuild
from ..core.posetable import PoseTable
from ..core.settings import GeneratorSettings
from .mannequin import build_mannequin, remove_mannequin

BATCH = 16   # armatures posed per depsgraph evaluation (amortises its fixed cost)
NB = posebuild.NB


def _blender_matrices(rows: posebuild.Rows) -> tuple[np.ndarray, np.ndarray]:
    """Pose matrices A (n, B, 3, 3), T (n, B, 3) of every row from Blender's evaluated armatures."""
    n = len(rows.pose_seed)
    A, T = np.empty((n, NB, 3, 3)), np.empty((n, NB, 3))
    k = min(BATCH, n)
    arms = [build_mannequin(name=f"DeepX_PoseTable{j}", with_mesh=False) for j in range(k)]
    try:
        layer = bpy.context.view_layer
        for arm in arms:
            arm.location, arm.rotation_euler, arm.scale = (0, 0, 0), (0, 0, 0), (1, 1, 1)
        bones = [arm.pose.bones for arm in arms]          # RNA look-ups are slow: once
        buf = np.empty(NB * 16, np.float32)
        d2r = np.pi / 180.0
        for start in range(0, n, max(k, 1)):
            stop = min(start + max(k, 1), n)
            for i in range(start, stop):
                pbs = bones[i - start]
                pbs.foreach_set("scale", rows.scales[i].astype(np.float32).ravel())      # float32: bpy's fast path
                pbs.foreach_set("rotation_euler", (rows.rotations[i] * d2r).astype(np.float32).ravel())
                arms[i - start].update_tag()
            layer.update()      # one depsgraph evaluation for the whole batch of armatures
            for i in range(start, stop):
                bones[i - start].foreach_get("matrix", buf)
                m = buf.reshape(NB, 4, 4)          # column-major: m[b, col, row]
                A[i] = m[:, :3, :3].transpose(0, 2, 1)
                T[i] = m[:, 3, :3]
    finally:
        for arm in arms:
            remove_mannequin(arm)
    return A, T


def build_pose_table(settings: GeneratorSettings | None = None, n: int | None = None, seed: int | None = None,
                     progress=None, backend: str = "blender", presets=None, limits=None) -> PoseTable:
    """``n`` random posed people (default ``settings.count``) as a PoseTable.

    seed: default ``settings.seed``. progress: optional callable(done, n) called every 256 rows and at
    the end. backend: "blender" (evaluated pose matrices of temporary armatures) or "numpy"
    (core/posebuild.py alone: core/rig.py's forward kinematics, which reproduces Blender's to ~1e-6 m).
    presets/limits: default the shipped presets and ``settings.pose.limits_preset``.
    """
    if backend not in ("blender", "numpy"):
        raise ValueError(f"backend must be 'blender' or 'numpy', got {backend!r}")
    if backend == "numpy":
        return posebuild.build_pose_table(settings, n, seed, progress, presets, limits,
                                          blender_version=bpy.app.version_string)
    settings, n, seed, presets, limits = posebuild.resolve(settings, n, seed, presets, limits)
    t0 = time.perf_counter()
    rows = posebuild.sample_rows(settings, n, seed, presets, limits, progress)
    A, T = _blender_matrices(rows) if n else (None, None)
    table = posebuild.make_table(rows, A, T, settings, seed, "blender", limits, presets, t0, bpy.app.version_string)
    if progress is not None:
        progress(n, n)
    return table
