"""Keypoints + intrinsics -> the learned model's input vector (numpy only: no torch here).

The same function serves training (vectorised over millions of samples) and the torch-free
runtime (ONNX in Blender). Feature version 1, per person:

1. keypoints are normalised by the intrinsics (K^-1, as MonoLoco does): one model for every camera
   and resolution; a keypoint with confidence <= ``min_conf`` is *missing*: value 0, mask bit 0;
2. the **centre** is the pelvis ray's pixel exactly as ``core.estimators.base.reference_pixel``
   picks it among the present keypoints (mid-hip, one hip, mid-shoulder/one shoulder, centroid);
3. the **scale** ``s`` is a foreshortening-robust body size in normalised units: every visible bone
   proposes ``length / ratio`` (ratio = its expected length over the torso), the proposals below
   0.7 x their weighted median are dropped (seen end-on), the rest averaged in log space with
   fixed reliability weights. ``s`` is roughly the torso's length in the image / focal length;
4. features: the shape ``(xy - centre) / s`` (34, clipped to +-8), the keypoint mask (17),
   confidences (17), each bone's ``log(proposal / s)`` (13, clipped) and bone mask (13),
   ``log s`` (1) and the centre's viewing direction as a unit vector (3): 98 numbers.

The network predicts ``t = log(distance * s / ray_len)`` with ``ray_len = |(cx, cy, 1)|`` for the
centre: ``exp(t)`` is a pose-dependent body size that does not change with distance, and
``depth = exp(t) / s`` placed on the centre's ray (``base.finish``) gives back the distance, so a
log-distance error equals the error in ``t``. Everything is a function of K^-1-normalised
coordinates only, so changing the resolution (K and keypoints scaled together), the focal length
(same 3D scene) or cropping leaves the prediction unchanged.

Feature version 2 appends one number, ``log_px_scale`` = log(s x sqrt(fx fy) / 100), clipped to
+-PX_SCALE_CLIP: the body size in *pixels* (s times the focal length; about the torso's length in
pixels over 100). Version 1 is blind to it by design, so it cannot tell whether a detector errs
differently on a 30 px person than on a 300 px one; version 2 can learn a size-dependent error and
sigma. It gives up the resolution invariance on purpose: downscaling an image (K and keypoints
together) changes it. Measured on realistic renders (README, "The detector fine-tune"): YOLO11n-pose's
shrink of rendered people is nearly flat in size, and version 2 gained 0.2 points: opt-in only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.keypoints import (COCO_KEYPOINTS, L_ANKLE, L_ELBOW, L_HIP, L_KNEE, L_SHOULDER, L_WRIST,
                              NUM_KEYPOINTS, R_ANKLE, R_ELBOW, R_HIP, R_KNEE, R_SHOULDER, R_WRIST)

FEATURE_VERSION = 1           # what a new model gets unless its TrainConfig asks for another
FEATURE_VERSIONS = (1, 2)     # what this DeepX computes and loads
PX_SCALE_CLIP = 4.0
DEFAULT_MIN_CONF = 0.1        # a keypoint with confidence <= this is missing
MIN_KEYPOINTS = 4             # fewer present keypoints -> no estimate
SHAPE_CLIP = 8.0
BONE_LOG_CLIP = 3.0
FORESHORTENING_CUT = 0.7
MID_SHOULDER, MID_HIP = 17, 18  # pseudo-keypoints appended after the 17 COCO ones

# Bones of feature version 1, frozen here (name, a, b, ratio to the torso, reliability weight):
# the ratios are Winter's segment fractions (anthropometry.py) over the torso 0.288 of stature.
# Never edit these for version 1: a saved model's inputs depend on them (the model JSON records
# the table and LearnedEstimator.load checks it).
BONES_V1: tuple[tuple[str, int, int, float, float], ...] = (
    ("torso", MID_SHOULDER, MID_HIP, 1.0, 1.0),
    ("torso_left", L_SHOULDER, L_HIP, 1.0069, 0.5),
    ("torso_right", R_SHOULDER, R_HIP, 1.0069, 0.5),
    ("thigh_left", L_HIP, L_KNEE, 0.8507, 0.5),
    ("thigh_right", R_HIP, R_KNEE, 0.8507, 0.5),
    ("shank_left", L_KNEE, L_ANKLE, 0.8542, 0.5),
    ("shank_right", R_KNEE, R_ANKLE, 0.8542, 0.5),
    ("upper_arm_left", L_SHOULDER, L_ELBOW, 0.6458, 0.25),
    ("upper_arm_right", R_SHOULDER, R_ELBOW, 0.6458, 0.25),
    ("forearm_left", L_ELBOW, L_WRIST, 0.5069, 0.15),
    ("forearm_right", R_ELBOW, R_WRIST, 0.5069, 0.15),
    ("shoulder_width", L_SHOULDER, R_SHOULDER, 0.8160, 0.2),
    ("hip_width", L_HIP, R_HIP, 0.6632, 0.15),
)
# A torso or leg bone must be visible for an estimate (arms and widths alone are too unreliable).
CORE_BONES = tuple(i for i, b in enumerate(BONES_V1) if b[0].startswith(("torso", "thigh", "shank")))

NO_REASON, TOO_FEW, NO_CORE_BONE, DEGENERATE = 0, 1, 2, 3


def check_version(version: int) -> int:
    if version not in FEATURE_VERSIONS:
        raise ValueError(f"feature version {version!r} is not supported (this DeepX computes "
                         f"{', '.join(map(str, FEATURE_VERSIONS))})")
    return int(version)


def feature_names(version: int = FEATURE_VERSION) -> list[str]:
    check_version(version)
    names = [f"shape_{k}_{a}" for k in COCO_KEYPOINTS for a in "xy"]
    names += [f"mask_{k}" for k in COCO_KEYPOINTS] + [f"conf_{k}" for k in COCO_KEYPOINTS]
    names += [f"bone_{b[0]}" for b in BONES_V1] + [f"bone_mask_{b[0]}" for b in BONES_V1]
    names += ["log_scale", "dir_x", "dir_y", "dir_z"]
    return names + (["log_px_scale"] if version >= 2 else [])


def n_features(version: int = FEATURE_VERSION) -> int:
    return len(feature_names(version))


N_FEATURES = n_features(1)     # version 1 (the shipped models)


@dataclass
class Features:
    x: np.ndarray          # (n, N_FEATURES) float32; rows with valid False are zeros
    mask: np.ndarray       # (n, 17) bool: keypoint present (conf > min_conf)
    valid: np.ndarray      # (n,) bool: enough keypoints for an estimate
    reason: np.ndarray     # (n,) int8: NO_REASON, TOO_FEW, NO_CORE_BONE, DEGENERATE
    scale: np.ndarray      # (n,) s in normalised image units (NaN where invalid)
    centre: np.ndarray     # (n, 2) normalised centre (x, y)
    centre_px: np.ndarray  # (n, 2) the centre in pixels
    ray_len: np.ndarray    # (n,) |(cx, cy, 1)|
    n_present: np.ndarray  # (n,) int
    mean_conf: np.ndarray  # (n,) mean confidence of the present keypoints

    def target(self, distance_m) -> np.ndarray:
        """Training target t = log(distance * s / ray_len) (NaN where invalid)."""
        return np.log(np.asarray(distance_m, float) * self.scale / self.ray_len)

    def depth_from_target(self, t) -> np.ndarray:
        """Depth of the pelvis on the centre's ray for predictions t: exp(t) / s."""
        return np.exp(np.asarray(t, float)) / self.scale

    def reason_text(self, i: int, min_conf: float) -> str | None:
        r = int(self.reason[i])
        if r == TOO_FEW:
            return (f"only {int(self.n_present[i])} keypoints with confidence > {min_conf:g} "
                    f"(need {MIN_KEYPOINTS})")
        if r == NO_CORE_BONE:
            return "no torso or leg bone (a shoulder-hip, hip-knee or knee-ankle pair) visible"
        if r == DEGENERATE:
            return "keypoints collapse to a point (no measurable body size)"
        return None


def _broadcast_K(K, n: int) -> np.ndarray:
    K = np.asarray(K, float)
    if K.shape == (3, 3):
        K = np.broadcast_to(K, (n, 3, 3))
    if K.shape != (n, 3, 3):
        raise ValueError(f"K must be (3, 3) or ({n}, 3, 3), got {K.shape}")
    if np.any(K[:, 0, 0] <= 0) or np.any(K[:, 1, 1] <= 0) or not np.all(np.isfinite(K)):
        raise ValueError("K must be finite with fx, fy > 0")
    return K


def extract(keypoints, K, min_conf: float = DEFAULT_MIN_CONF, use_conf: bool = True,
            version: int = FEATURE_VERSION) -> Features:
    """keypoints (n, 17, 3) pixels + confidence (or (17, 3)), K (3, 3) or (n, 3, 3) -> Features.

    use_conf=False fills the confidence slots with the mask: the network then sees only *which*
    keypoints the detector kept, not how sure it was. Confidence scales differ between detectors
    (PifPaf's fall with distance far more than YOLO's), and a network that reads them learns
    "low confidence = small = far", a shortcut that breaks on another detector."""
    check_version(version)
    kp = np.asarray(keypoints, float)
    if kp.ndim == 2:
        kp = kp[None]
    if kp.ndim != 3 or kp.shape[1:] != (NUM_KEYPOINTS, 3):
        raise ValueError(f"keypoints must be (n, 17, 3), got {kp.shape}")
    n = len(kp)
    K = _broadcast_K(K, n)
    # x and y are kept as separate (n, 17) arrays: numpy reduces the middle axis of (n, 17, 2) slowly
    conf = np.nan_to_num(kp[..., 2], nan=0.0)
    m = (conf > min_conf) & np.isfinite(kp[..., 0]) & np.isfinite(kp[..., 1])
    fx, fy, cx, cy = K[:, 0, 0, None], K[:, 1, 1, None], K[:, 0, 2, None], K[:, 1, 2, None]
    X = np.where(m, (kp[..., 0] - cx) / fx, 0.0)
    Y = np.where(m, (kp[..., 1] - cy) / fy, 0.0)
    mf = m.astype(float)

    # centre: the same choice as base.reference_pixel, among present keypoints
    def mean_of(idx):
        w = mf[:, idx]
        cnt = w.sum(1)
        d = np.maximum(cnt, 1)
        return (X[:, idx] * w).sum(1) / d, (Y[:, idx] * w).sum(1) / d, cnt
    hx, hy, hip_n = mean_of([L_HIP, R_HIP])
    sx, sy, sh_n = mean_of([L_SHOULDER, R_SHOULDER])
    ax, ay = X.sum(1) / np.maximum(mf.sum(1), 1), Y.sum(1) / np.maximum(mf.sum(1), 1)
    n_present = m.sum(1)
    has_hip, has_sh = hip_n > 0, sh_n > 0
    ccx = np.where(has_hip, hx, np.where(has_sh, sx, ax))
    ccy = np.where(has_hip, hy, np.where(has_sh, sy, ay))
    ray_len = np.sqrt(1.0 + ccx ** 2 + ccy ** 2)

    # bone proposals (mid-points need both of their keypoints)
    PX = np.concatenate([X, (X[:, [L_SHOULDER]] + X[:, [R_SHOULDER]]) / 2, (X[:, [L_HIP]] + X[:, [R_HIP]]) / 2], 1)
    PY = np.concatenate([Y, (Y[:, [L_SHOULDER]] + Y[:, [R_SHOULDER]]) / 2, (Y[:, [L_HIP]] + Y[:, [R_HIP]]) / 2], 1)
    pm = np.concatenate([m, m[:, [L_SHOULDER]] & m[:, [R_SHOULDER]], m[:, [L_HIP]] & m[:, [R_HIP]]], 1)
    a = np.array([b[1] for b in BONES_V1])
    b_ = np.array([b[2] for b in BONES_V1])
    ratio = np.array([b[3] for b in BONES_V1])
    rel = np.array([b[4] for b in BONES_V1])
    length = np.hypot(PX[:, a] - PX[:, b_], PY[:, a] - PY[:, b_])
    bm = pm[:, a] & pm[:, b_] & (length > 1e-12)
    logp = np.where(bm, np.log(np.where(bm, length, 1.0) / ratio), np.nan)
    w = np.where(bm, rel, 0.0)
    med = _weighted_median_rows(logp, w)
    keep = bm & (logp >= med[:, None] + np.log(FORESHORTENING_CUT))
    wk = np.where(keep, rel, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        log_s = np.where(keep, logp * rel, 0.0).sum(1) / wk.sum(1)

    core = bm[:, list(CORE_BONES)].any(1)
    valid = (n_present >= MIN_KEYPOINTS) & core & np.isfinite(log_s)
    reason = np.where(n_present < MIN_KEYPOINTS, TOO_FEW,
                      np.where(~core, NO_CORE_BONE, np.where(~np.isfinite(log_s), DEGENERATE, NO_REASON))).astype(np.int8)
    log_s = np.where(valid, log_s, 0.0)
    inv_s = np.exp(-log_s)[:, None]

    x = np.empty((n, n_features(version)))
    shape = x[:, :2 * NUM_KEYPOINTS].reshape(n, NUM_KEYPOINTS, 2)
    shape[..., 0] = np.clip((X - ccx[:, None]) * inv_s, -SHAPE_CLIP, SHAPE_CLIP) * mf
    shape[..., 1] = np.clip((Y - ccy[:, None]) * inv_s, -SHAPE_CLIP, SHAPE_CLIP) * mf
    o = 2 * NUM_KEYPOINTS
    x[:, o:o + NUM_KEYPOINTS] = mf
    x[:, o + NUM_KEYPOINTS:o + 2 * NUM_KEYPOINTS] = conf * mf if use_conf else mf
    o += 2 * NUM_KEYPOINTS
    nb = len(BONES_V1)
    x[:, o:o + nb] = np.where(bm, np.clip(np.nan_to_num(logp - log_s[:, None]), -BONE_LOG_CLIP, BONE_LOG_CLIP), 0.0)
    x[:, o + nb:o + 2 * nb] = bm
    o += 2 * nb
    x[:, o] = log_s
    x[:, o + 1], x[:, o + 2], x[:, o + 3] = ccx / ray_len, ccy / ray_len, 1.0 / ray_len
    if version >= 2:
        f_px = np.sqrt(fx[:, 0] * fy[:, 0])
        x[:, o + 4] = np.clip(log_s + np.log(f_px / 100.0), -PX_SCALE_CLIP, PX_SCALE_CLIP)
    x[~valid] = 0.0
    mean_conf = (conf * mf).sum(1) / np.maximum(n_present, 1)
    centre_px = np.stack([ccx * fx[:, 0] + cx[:, 0], ccy * fy[:, 0] + cy[:, 0]], -1)
    return Features(x.astype(np.float32), m, valid, reason, np.where(valid, np.exp(log_s), np.nan),
                    np.stack([ccx, ccy], -1), centre_px, ray_len, n_present.astype(int), mean_conf)


def _weighted_median_rows(v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Row-wise weighted median of v (NaN where w == 0); NaN for rows without weight."""
    vv = np.where(w > 0, v, np.inf)
    order = np.argsort(vv, axis=1, kind="stable")
    vs = np.take_along_axis(vv, order, 1)
    cw = np.cumsum(np.take_along_axis(w, order, 1), 1)
    total = cw[:, -1:]
    idx = np.argmax(cw >= total / 2, axis=1)
    out = vs[np.arange(len(v)), idx]
    return np.where(total[:, 0] > 0, out, np.nan)


def bones_table() -> list[dict]:
    """The frozen bone table of this feature version (recorded in the model JSON)."""
    return [{"name": b[0], "a": b[1], "b": b[2], "ratio": b[3], "reliability": b[4]} for b in BONES_V1]


def spec(min_conf: float = DEFAULT_MIN_CONF, use_conf: bool = True, version: int = FEATURE_VERSION) -> dict:
    """Everything that defines the inputs, for the model JSON."""
    extra = {"px_scale_clip": PX_SCALE_CLIP} if version >= 2 else {}
    return {"version": check_version(version), "min_conf": min_conf, "use_conf": use_conf,
            "min_keypoints": MIN_KEYPOINTS, "n_features": n_features(version), "names": feature_names(version),
            "bones": bones_table(), **extra,
            "shape_clip": SHAPE_CLIP, "bone_log_clip": BONE_LOG_CLIP, "foreshortening_cut": FORESHORTENING_CUT,
            "target": "t = log(distance_m * s / ray_len); depth_m = exp(t) / s on the centre's ray"}
