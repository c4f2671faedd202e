"""Stand-in data for tests, smoke runs and benchmarks (numpy): the one place that makes people without
Blender. ``standin_data``: posed stick figures from anthropometry.py seen by random pinhole cameras;
``stick_figure_table``: a pose table of standing stick figures (feeds the no-render sampler).

Only for tests, smoke runs and benchmarks until the Blender pose tables and the no-render sampler
(core/sampler.py) provide real training data. numpy only; the output has the sampler's
``SampleBatch`` arrays (keypoints_2d with visibility 2/0, K, image_size, distance_m, depth_m,
family, stature_m, keypoints_3d_cam).

People: stature N(1.715 m, 5 %), families standing / walking / crouching / sitting / hands_up
built from Winter's segment fractions with random joint angles; person frame = Blender world
(Z up, feet on z = 0, facing -Y, pelvis at x = y = 0). Cameras: distance log-uniform in
``distance_m``, height 0.3-6 m, any azimuth, horizontal FOV 30-90 deg, the pelvis anywhere in the
central 80 % of the frame, roll +-5 deg, four image sizes.
"""
from __future__ import annotations

import numpy as np

from .anthropometry import LANDMARK_HEIGHT, SEGMENT, STATURE_MEAN_M, STATURE_REL_SD
from .keypoints import NUM_KEYPOINTS, pelvis_of
from .posetable import PoseTable

FAMILIES = ("standing", "walking", "crouching", "sitting", "hands_up")
IMAGE_SIZES = np.array([(640, 640), (640, 480), (1280, 720), (1920, 1080)], float)


def _rad(a):
    return np.deg2rad(a)


def _u(rng, n, lo, hi):
    return rng.uniform(lo, hi, n)


def stick_figures(rng: np.random.Generator, n: int, families=FAMILIES):
    """(n, 17, 3) keypoints in the person frame, statures (n,), family names (n,)."""
    fam = rng.choice(np.asarray(families), n)
    S = rng.normal(STATURE_MEAN_M, STATURE_REL_SD * STATURE_MEAN_M, n).clip(1.4, 2.05)
    T, thigh, shank = 0.288 * S, SEGMENT["thigh"] * S, SEGMENT["shank"] * S
    upper, fore = SEGMENT["upper_arm"] * S, SEGMENT["forearm"] * S
    z = np.zeros(n)
    # joint angles in degrees (pitch > 0 = towards the front, i.e. -Y); defaults: standing
    lean = rng.normal(0, 3, n)
    th_l, th_r = rng.normal(0, 4, n), rng.normal(0, 4, n)
    kn_l, kn_r = _u(rng, n, 0, 10), _u(rng, n, 0, 10)
    ar_l, ar_r = rng.normal(0, 12, n), rng.normal(0, 12, n)
    ab_l, ab_r = _u(rng, n, 5, 25), _u(rng, n, 5, 25)
    el_l, el_r = _u(rng, n, 0, 40), _u(rng, n, 0, 40)
    w = fam == "walking"
    sw = _u(rng, n, 10, 28) * np.where(rng.random(n) < 0.5, 1, -1)
    th_l[w], th_r[w] = sw[w], -sw[w] * 0.8
    kn_l[w], kn_r[w] = np.where(sw[w] > 0, 5, 35), np.where(sw[w] > 0, 35, 5)
    ar_l[w], ar_r[w] = -sw[w] * 1.2, sw[w] * 1.2
    c = fam == "crouching"
    lean[c] = _u(rng, c.sum(), 20, 50)
    th_l[c], th_r[c] = _u(rng, c.sum(), 75, 110), _u(rng, c.sum(), 75, 110)
    kn_l[c], kn_r[c] = th_l[c] + _u(rng, c.sum(), 20, 50), th_r[c] + _u(rng, c.sum(), 20, 50)
    ar_l[c], ar_r[c] = _u(rng, c.sum(), 20, 70), _u(rng, c.sum(), 20, 70)
    s = fam == "sitting"
    lean[s] = _u(rng, s.sum(), -10, 15)
    th_l[s], th_r[s] = _u(rng, s.sum(), 80, 95), _u(rng, s.sum(), 80, 95)
    kn_l[s], kn_r[s] = th_l[s] + rng.normal(0, 10, s.sum()), th_r[s] + rng.normal(0, 10, s.sum())
    ar_l[s], ar_r[s] = _u(rng, s.sum(), 10, 50), _u(rng, s.sum(), 10, 50)
    el_l[s], el_r[s] = _u(rng, s.sum(), 40, 90), _u(rng, s.sum(), 40, 90)
    hu = fam == "hands_up"
    ar_l[hu], ar_r[hu] = _u(rng, hu.sum(), 140, 180), _u(rng, hu.sum(), 140, 180)
    el_l[hu], el_r[hu] = _u(rng, hu.sum(), 0, 30), _u(rng, hu.sum(), 0, 30)

    def pitch_vec(p_deg, lateral=0.0):
        """Unit vector from 'straight down' rotated forward (towards -Y) by p and sideways."""
        p, l = _rad(p_deg), _rad(lateral)
        return np.stack([np.sin(l) * np.cos(p), -np.sin(p) * np.cos(l), -np.cos(p) * np.cos(l)], -1)

    kp = np.zeros((n, 17, 3))
    hip_half = SEGMENT["hip_joints"] / 2 * S
    sh_half = SEGMENT["shoulder_joints"] / 2 * S
    up = np.stack([z, -np.sin(_rad(lean)), np.cos(_rad(lean))], -1)       # torso axis (leans forward)
    fwd = np.stack([z, -np.cos(_rad(lean)), -np.sin(_rad(lean))], -1)     # torso front
    left = np.stack([np.ones(n), z, z], -1)
    mid_sh = up * T[:, None]
    for side, sgn in ((0, 1.0), (1, -1.0)):          # 0 = left (+X), 1 = right
        hip = left * sgn * hip_half[:, None]
        th, kn = (th_l, kn_l) if side == 0 else (th_r, kn_r)
        knee = hip + pitch_vec(th, sgn * 3) * thigh[:, None]
        ankle = knee + pitch_vec(th - kn) * shank[:, None]
        sh = mid_sh + left * sgn * sh_half[:, None]
        ar, ab, el = (ar_l, ab_l, el_l) if side == 0 else (ar_r, ab_r, el_r)
        elbow = sh + pitch_vec(ar + lean, sgn * ab) * upper[:, None]
        wrist = elbow + pitch_vec(ar + lean + el, sgn * ab) * fore[:, None]
        kp[:, 11 + side], kp[:, 13 + side], kp[:, 15 + side] = hip, knee, ankle
        kp[:, 5 + side], kp[:, 7 + side], kp[:, 9 + side] = sh, elbow, wrist
        kp[:, 1 + side] = mid_sh + up * (0.118 * S)[:, None] + fwd * (0.05 * S)[:, None] + left * sgn * (0.032 * S)[:, None]
        kp[:, 3 + side] = mid_sh + up * (0.107 * S)[:, None] + left * sgn * (0.07 * S)[:, None]
    kp[:, 0] = mid_sh + up * (0.087 * S)[:, None] + fwd * (0.07 * S)[:, None]
    # feet on the ground: the lower ankle at its standing height
    kp[..., 2] += (0.039 * S - kp[:, 15:17, 2].min(1))[:, None]
    yaw = _u(rng, n, 0, 2 * np.pi)
    cy, sy = np.cos(yaw), np.sin(yaw)
    x, y = kp[..., 0].copy(), kp[..., 1].copy()
    kp[..., 0], kp[..., 1] = cy[:, None] * x - sy[:, None] * y, sy[:, None] * x + cy[:, None] * y
    return kp, S, fam


def standin_data(n: int, seed: int = 0, distance_m=(2.0, 60.0), families=FAMILIES) -> dict:
    """n samples in the sampler's SampleBatch layout (see module docstring)."""
    rng = np.random.default_rng(seed)
    kp, S, fam = stick_figures(rng, n, families)
    pelvis = pelvis_of(kp)
    d = np.exp(rng.uniform(np.log(distance_m[0]), np.log(distance_m[1]), n))
    cam_h = rng.uniform(0.3, 6.0, n)
    dz = np.clip(cam_h - pelvis[:, 2], -0.9 * d, 0.9 * d)
    az = rng.uniform(0, 2 * np.pi, n)
    horiz = np.sqrt(d ** 2 - dz ** 2)
    C = pelvis + np.stack([horiz * np.cos(az), horiz * np.sin(az), dz], -1)
    f = pelvis - C
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    size = IMAGE_SIZES[rng.integers(0, len(IMAGE_SIZES), n)]
    hfov = _rad(rng.uniform(30, 90, n))
    focal = size[:, 0] / (2 * np.tan(hfov / 2))
    # turn the camera so the pelvis lands anywhere in the central 80 % of the frame, then roll
    ox = np.arctan(rng.uniform(-0.8, 0.8, n) * size[:, 0] / 2 / focal)
    oy = np.arctan(rng.uniform(-0.8, 0.8, n) * size[:, 1] / 2 / focal)
    zup = np.array([0.0, 0.0, 1.0])
    r = np.cross(f, zup)
    r /= np.linalg.norm(r, axis=1, keepdims=True)
    dn = np.cross(f, r)
    f2 = _rotate(f, dn, -ox)
    r2 = _rotate(r, dn, -ox)
    f3 = _rotate(f2, r2, oy)
    d3 = np.cross(f3, r2)
    roll = _rad(rng.uniform(-5, 5, n))
    r4, d4 = _rotate(r2, f3, roll), _rotate(d3, f3, roll)
    R = np.stack([r4, d4, f3], 1)                   # rows: camera x, y, z axes in the world
    pc = np.einsum("nij,nkj->nki", R, kp - C[:, None])
    pel_c = np.einsum("nij,nj->ni", R, pelvis - C)
    K = np.zeros((n, 3, 3))
    K[:, 0, 0] = K[:, 1, 1] = focal
    K[:, 0, 2], K[:, 1, 2], K[:, 2, 2] = size[:, 0] / 2, size[:, 1] / 2, 1.0
    zc = np.maximum(pc[..., 2], 1e-6)
    u = focal[:, None] * pc[..., 0] / zc + K[:, 0, 2, None]
    v = focal[:, None] * pc[..., 1] / zc + K[:, 1, 2, None]
    vis = (pc[..., 2] > 0.05) & (u >= 0) & (u <= size[:, :1]) & (v >= 0) & (v <= size[:, 1:])
    kp2 = np.stack([np.where(vis, u, 0.0), np.where(vis, v, 0.0), np.where(vis, 2.0, 0.0)], -1)
    return {"keypoints_2d": kp2.astype(np.float32), "K": K, "image_size": size.astype(np.int32),
            "distance_m": np.linalg.norm(pel_c, axis=1), "depth_m": pel_c[:, 2],
            "family": np.asarray(fam, dtype=str), "stature_m": S, "keypoints_3d_cam": pc.astype(np.float32)}


def _rotate(v, axis, ang):
    """Rodrigues rotation of row vectors v about unit row vectors axis by ang (radians)."""
    c, s = np.cos(ang)[:, None], np.sin(ang)[:, None]
    return v * c + np.cross(axis, v) * s + axis * np.sum(axis * v, 1, keepdims=True) * (1 - c)


# ---- a stand-in pose table (tests, benchmarks, demos without Blender) -----------------------------

# lateral offset (+X = the person's left when facing -Y) and forward offset (-Y) of each keypoint when
# standing, as fractions of stature (anthropometry.SEGMENT widths; face offsets are rough)
_LATERAL = np.array([0, .03, -.03, .07, -.07, .1295, -.1295, .14, -.14, .14, -.14, .0955, -.0955, .06, -.06, .06, -.06])
_FORWARD = np.array([.06, .05, .05, 0, 0, 0, 0, 0, 0, .01, .01, 0, 0, .01, .01, 0, 0])


def stick_figure_table(n: int, seed: int = 0, jitter_m: float = 0.02) -> PoseTable:
    """A PoseTable of n standing stick figures (landmark heights from core/anthropometry.py, stature
    1.5-1.95 m, Gaussian jitter per keypoint), in the pose-table frame. Not a body model: the real
    table comes from the Blender mannequin; this one only feeds tests and benchmarks."""
    rng = np.random.default_rng(seed)
    st = rng.uniform(1.5, 1.95, n)
    kp = np.zeros((n, NUM_KEYPOINTS, 3))
    kp[..., 0] = _LATERAL * st[:, None]
    kp[..., 1] = -_FORWARD * st[:, None]
    kp[..., 2] = LANDMARK_HEIGHT * st[:, None]
    kp += rng.normal(0.0, jitter_m, kp.shape)
    pel = pelvis_of(kp)
    kp[..., :2] -= pel[:, None, :2]
    return PoseTable(kp, st, np.full(n, "standing"), np.full(n, '{"stick_figure": true}'),
                     rng.integers(0, 2 ** 62, n), {"girth": rng.uniform(0.9, 1.1, n)}, {"source": "stick_figure_table"})
