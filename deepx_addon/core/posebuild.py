"""Pose tables (core/posetable.py) from the generator settings: the one route from a posed person to
its keypoints (numpy). The Blender layer (blender/posetable_build.py) only swaps in Blender's
evaluated pose matrices for the forward kinematics; everything else is here.

Row i: ``pose_seed = pose_seed_for(seed, i)`` (= seed * 2**32 + i) and one generator,
``pose_rng(pose_seed)`` = ``default_rng(SeedSequence([seed, i]))``, that draws the body
(``sample_body``) and then the pose (``sample_pose``), so any row can be rebuilt alone from its
pose_seed and the settings in ``meta``. Keypoints are put in the person frame (pelvis at x = y = 0,
feet or seat on the support, facing -Y).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import numpy as np

from . import rig
from .limits import JointLimits
from .posetable import PoseTable, StringColumn
from .poses import load_presets, pose_seed_for, sample_row
from .settings import GeneratorSettings

NB = len(rig.BONES)
FRAME = "metres, Z up, pelvis (mid-hip) at x=y=0, support at z=0 (or seat), facing -Y"


def posed_keypoints(A, T, scale, scales, girth, support, box_height_m):
    """Keypoints (n, 17, 3) in the person frame and seat heights (n,) of n posed people.

    A (n, B, 3, 3), T (n, B, 3): armature-space pose matrices (``rig.forward_kinematics``, or
    Blender's evaluated ones); scale (n,) object scale; scales (n, B, 3) bone scales; girth (n,);
    support (n,) "ground" | "box"; box_height_m (n,)."""
    A, T = np.asarray(A), np.asarray(T)
    scale, support = np.asarray(scale, float), np.asarray(support, dtype=object)
    box_height_m = np.asarray(box_height_m, float)
    radii = rig.contact_radii(scales, scale, girth)
    kp = np.empty((len(A), 17, 3))
    seat = np.zeros(len(A))
    for kind in ("ground", "box"):
        m = support == kind
        if m.any():
            kp[m], _, seat[m] = rig.person_frame(A[m], T[m], scale[m], radii[m], kind, box_height_m[m])
    return kp, seat


@dataclass
class Rows:
    """The sampled bodies and poses of n table rows (before any forward kinematics)."""
    rotations: np.ndarray            # (n, B, 3) Euler XYZ degrees
    scales: np.ndarray               # (n, B, 3) bone scales
    scale: np.ndarray                # (n,) object scale
    girth: np.ndarray
    support: np.ndarray              # (n,) object: "ground" | "box"
    box_height_m: np.ndarray
    pose_seed: np.ndarray
    family: list = field(default_factory=list)
    recipes: list = field(default_factory=list)
    bodies: list = field(default_factory=list)


def sample_rows(settings: GeneratorSettings, n: int, seed: int, presets, limits, progress=None) -> Rows:
    """Rows 0..n-1 (``sample_row`` of each row's pose_seed); progress(done, n) every 256 rows."""
    r = Rows(np.empty((n, NB, 3)), np.empty((n, NB, 3)), np.empty(n), np.empty(n), np.empty(n, dtype=object),
             np.zeros(n), np.empty(n, np.int64))
    for i in range(n):
        ps = pose_seed_for(seed, i)
        body, pose = sample_row(ps, settings, presets, limits)
        s, sc = body.scales()
        r.pose_seed[i], r.scale[i], r.girth[i], r.scales[i], r.rotations[i] = ps, s, body.girth, sc, pose.array()
        r.support[i], r.box_height_m[i] = pose.support, pose.box_height_m
        r.family.append(pose.family)
        r.recipes.append(pose.recipe)
        r.bodies.append(body.flat())
        if progress is not None and (i + 1) % 256 == 0:
            progress(i + 1, n)
    return r


def make_table(rows: Rows, A, T, settings: GeneratorSettings, seed: int, backend: str, limits, presets,
               t0: float, blender_version: str | None = None) -> PoseTable:
    """The PoseTable of ``rows`` posed by the pose matrices A, T (see ``posed_keypoints``)."""
    n = len(rows.pose_seed)
    if n:
        kp, seat = posed_keypoints(A, T, rows.scale, rows.scales, rows.girth, rows.support, rows.box_height_m)
    else:
        kp, seat = np.zeros((0, 17, 3)), np.zeros(0)
    for r, st, sup in zip(rows.recipes, seat, rows.support):
        if sup == "box":
            r["seat_height_m"] = round(float(st), 6)
    keys = ("stature_m", "girth") + rig.PROPORTIONS
    return PoseTable(
        keypoints=kp.astype(np.float32),
        stature_m=np.array([b["stature_m"] for b in rows.bodies], np.float32),
        family=np.array(rows.family, dtype=str) if n else np.zeros(0, dtype=str),
        recipe=StringColumn([json.dumps(r, sort_keys=True) for r in rows.recipes]),
        pose_seed=rows.pose_seed,
        body={k: np.array([b[k] for b in rows.bodies], np.float32) for k in keys},
        meta={"settings": settings.to_dict(), "seed": seed, "n": n, "backend": backend,
              "blender_version": blender_version, "limits": limits.name, "presets": sorted(presets),
              "row_rule": "pose_rng(pose_seed): sample_body then sample_pose (deepx_addon.core.poses.sample_row)",
              "frame": FRAME, "seconds": round(time.perf_counter() - t0, 3)},
    )


def resolve(settings, n, seed, presets, limits):
    """Defaults: settings or GeneratorSettings(), n = settings.count, seed = settings.seed, the shipped
    presets, the settings' limit preset. ValueError for n < 0."""
    settings = settings or GeneratorSettings()
    n = settings.count if n is None else int(n)
    seed = settings.seed if seed is None else int(seed)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    presets = load_presets() if presets is None else presets
    limits = JointLimits.load(settings.pose.limits_preset) if limits is None else limits
    return settings, n, seed, presets, limits


def build_pose_table(settings: GeneratorSettings | None = None, n: int | None = None, seed: int | None = None,
                     progress=None, presets=None, limits=None, blender_version: str | None = None) -> PoseTable:
    """``n`` random posed people as a PoseTable with core/rig.py's forward kinematics (no bpy; it
    reproduces Blender's evaluated armature to ~1e-6 m). progress: callable(done, n)."""
    settings, n, seed, presets, limits = resolve(settings, n, seed, presets, limits)
    t0 = time.perf_counter()
    rows = sample_rows(settings, n, seed, presets, limits, progress)
    A, T = rig.forward_kinematics(rows.rotations, rows.scales) if n else (None, None)
    table = make_table(rows, A, T, settings, seed, "numpy", limits, presets, t0, blender_version)
    if progress is not None:
        progress(n, n)
    return table
