"""Build a pose table (core/posetable.py) with the Blender mannequin (bpy).

Row i: ``pose_seed = pose_seed_for(seed, i)`` (= seed * 2**32 + i) and one generator,
``pose_rng(pose_seed)`` = ``default_rng(SeedSequence([seed, i]))``, that draws the body
(``sample_body``) and then the pose (``sample_pose``), so any row can be rebuilt alone from its
pose_seed and the settings in ``meta``. The body is applied to an armature-only mannequin through
its scale channels (no mesh, no edit mode); the keypoints come from Blender's evaluated pose
matrices and are put in the person frame (pelvis at x = y = 0, feet or seat on the support,
facing -Y).
"""
from __future__ import annotations

import json
import time

import bpy
import numpy as np

from ..core import rig
from ..core.limits import JointLimits
from ..core.posetable import PoseTable
from ..core.poses import load_presets, pose_seed_for, sample_row
from ..core.settings import GeneratorSettings
from .mannequin import build_mannequin, remove_mannequin
from .posing import NB

BATCH = 16   # armatures posed per depsgraph evaluation (amortises its fixed cost)


def _person_frame(A, T, scale, sc, girth, support, box):
    """Vectorised placement of N posed armatures (rig.person_frame per support kind)."""
    n = len(A)
    radii = rig.contact_radii(sc, scale, girth)
    kp = np.empty((n, 17, 3))
    seat = np.zeros(n)
    for kind in ("ground", "box"):
        m = support == kind
        if m.any():
            kp[m], _, seat[m] = rig.person_frame(A[m], T[m], scale[m], radii[m], kind, box[m])
    return kp, seat


def build_pose_table(settings: GeneratorSettings | None = None, n: int | None = None, seed: int | None = None,
                     progress=None, backend: str = "blender", presets=None, limits=None) -> PoseTable:
    """``n`` random posed people (default ``settings.count``) as a PoseTable.

    seed: default ``settings.seed``. progress: optional callable(done, n) called every 256 rows and at
    the end. backend: "blender" (evaluated pose matrices of a temporary armature) or "numpy"
    (core/rig.py forward kinematics, which reproduces Blender's to ~1e-6 m; for checks and speed).
    presets/limits: default the shipped presets and ``settings.pose.limits_preset``.
    """
    settings = settings or GeneratorSettings()
    n = settings.count if n is None else int(n)
    seed = settings.seed if seed is None else int(seed)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if backend not in ("blender", "numpy"):
        raise ValueError(f"backend must be 'blender' or 'numpy', got {backend!r}")
    presets = load_presets() if presets is None else presets
    limits = JointLimits.load(settings.pose.limits_preset) if limits is None else limits

    A = np.empty((n, NB, 3, 3))
    T = np.empty((n, NB, 3))
    rots = np.empty((n, NB, 3))
    scs = np.empty((n, NB, 3))
    scale, girth, box = np.empty(n), np.empty(n), np.zeros(n)
    support = np.empty(n, dtype=object)
    seeds = np.empty(n, np.int64)
    family, recipes, bodies = [], [], []
    k = min(BATCH, n) if backend == "blender" else 0
    arms = [build_mannequin(name=f"DeepX_PoseTable{j}", with_mesh=False) for j in range(k)]
    t0 = time.perf_counter()
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
                ps = pose_seed_for(seed, i)
                body, pose = sample_row(ps, settings, presets, limits)
                s, sc = body.scales()
                rot = pose.array()
                seeds[i], scale[i], girth[i], scs[i], rots[i] = ps, s, body.girth, sc, rot
                support[i], box[i] = pose.support, pose.box_height_m
                family.append(pose.family)
                recipes.append(pose.recipe)
                bodies.append(body.flat())
                if arms:
                    pbs = bones[i - start]
                    pbs.foreach_set("scale", sc.astype(np.float32).ravel())      # float32: bpy's fast path
                    pbs.foreach_set("rotation_euler", (rot * d2r).astype(np.float32).ravel())
                    arms[i - start].update_tag()
                if progress is not None and (i + 1) % 256 == 0:
                    progress(i + 1, n)
            if arms:      # one depsgraph evaluation for the whole batch of armatures
                layer.update()
                for i in range(start, stop):
                    bones[i - start].foreach_get("matrix", buf)
                    m = buf.reshape(NB, 4, 4)          # column-major: m[b, col, row]
                    A[i] = m[:, :3, :3].transpose(0, 2, 1)
                    T[i] = m[:, 3, :3]
    finally:
        for arm in arms:
            remove_mannequin(arm)
    if backend == "numpy" and n:
        A, T = rig.forward_kinematics(rots, scs)
    if n:
        kp, seat = _person_frame(A, T, scale, scs, girth, support, box)
    else:
        kp, seat = np.zeros((0, 17, 3)), np.zeros(0)
    for r, st, sup in zip(recipes, seat, support):
        if sup == "box":
            r["seat_height_m"] = round(float(st), 6)
    if progress is not None:
        progress(n, n)
    keys = ("stature_m", "girth") + rig.PROPORTIONS
    return PoseTable(
        keypoints=kp.astype(np.float32),
        stature_m=np.array([b["stature_m"] for b in bodies], np.float32),
        family=np.array(family, dtype=str) if n else np.zeros(0, dtype=str),
        recipe=np.array([json.dumps(r, sort_keys=True) for r in recipes], dtype=str) if n else np.zeros(0, dtype=str),
        pose_seed=seeds,
        body={k: np.array([b[k] for b in bodies], np.float32) for k in keys},
        meta={"settings": settings.to_dict(), "seed": seed, "n": n, "backend": backend,
              "blender_version": bpy.app.version_string, "limits": limits.name, "presets": sorted(presets),
              "row_rule": "pose_rng(pose_seed): sample_body then sample_pose (deepx_addon.core.poses.sample_row)",
              "frame": "metres, Z up, pelvis (mid-hip) at x=y=0, support at z=0 (or seat), facing -Y",
              "seconds": round(time.perf_counter() - t0, 3)},
    )
