"""The distribution preview's numbers: n (body, pose, camera) draws with the generator's own
functions, projected exactly, without rendering (numpy; the panel's "Distribution Preview")."""
from __future__ import annotations

import numpy as np

from . import rig
from .body import sample_body
from .cameras import sample_cameras
from .keypoints import pelvis_of
from .noise import person_height_px
from .posebuild import posed_keypoints
from .poses import sample_pose


def distribution_sample(settings, limits, presets, n: int, seed: int) -> dict:
    """n (body, pose, camera) draws with the generator's own functions, projected exactly.

    Returns families (n,), distance_m (n,), height_px (n,) (larger side of the keypoint box),
    frac (n,) = height_px / image height, in_frame (n,) bool (all 17 keypoints inside the image)."""
    rng = np.random.default_rng(seed)
    bodies, poses = [], []
    for _ in range(n):               # one stream, body then pose: the panel's preview draws
        bodies.append(sample_body(rng, settings.body))
        poses.append(sample_pose(rng, settings.pose, presets, limits))
    fam = [p.family for p in poses]
    scale, sc = (np.asarray(v) for v in zip(*(b.scales() for b in bodies)))
    A, T = rig.forward_kinematics(np.asarray([p.array() for p in poses]), sc)
    kps, _ = posed_keypoints(A, T, scale, sc, np.asarray([b.girth for b in bodies]),
                             [p.support for p in poses], [p.box_height_m for p in poses])   # (n, 17, 3) person frame
    pelvis = pelvis_of(kps)
    cams = sample_cameras(rng, settings.camera, pelvis, n)
    uv, z = cams.project(kps)                                      # (n, 17, 2), (n, 17)
    W, H = cams.image_size
    vis = np.isfinite(uv).all(-1) & (z > 0)
    inside = vis & (uv[..., 0] >= 0) & (uv[..., 0] <= W) & (uv[..., 1] >= 0) & (uv[..., 1] <= H)
    h = person_height_px(np.concatenate([np.nan_to_num(uv), vis[..., None]], -1))
    return {"families": np.asarray(fam), "distance_m": cams.distance_m, "height_px": h,
            "frac": h / float(H), "in_frame": inside.all(-1), "image_size": (W, H)}


def preview_report(d: dict) -> str:
    """A few short lines (the sidebar is narrow): family shares, distances, person sizes."""
    n = len(d["families"])
    names, counts = np.unique(d["families"], return_counts=True)
    order = np.argsort(-counts, kind="stable")
    shares = [f"{names[i]} {100 * counts[i] / n:.0f}%" for i in order]
    lines = [f"{n} samples, no rendering"]
    lines += [", ".join(shares[i:i + 2]) for i in range(0, len(shares), 2)]
    dist = np.percentile(d["distance_m"], [5, 50, 95])
    lines.append(f"Distance m: {dist[0]:.1f} / {dist[1]:.1f} / {dist[2]:.1f}")
    hp = np.percentile(d["height_px"], [5, 50, 95])
    lines.append(f"Person px: {hp[0]:.0f} / {hp[1]:.0f} / {hp[2]:.0f}")
    lines.append("(5% / median / 95%)")
    W, H = d["image_size"]
    lines.append(f"Under 32 px: {100 * np.mean(d['height_px'] < 32):.0f}% (image {W}x{H})")
    lines.append(f"Whole body in frame: {100 * np.mean(d['in_frame']):.0f}%")
    return "\n".join(lines)
