"""The one estimator interface every method implements, and the helpers they share.

An estimator turns one person's 17 keypoints (pixels + confidence) and the camera's K into an
``Estimate``: depth and distance of the pelvis (mid-hip), an uncertainty, and a status. It never
returns a number it cannot stand behind without saying so: ``status`` is ``ok``,
``low_confidence`` (a number, but built on weak keypoints) or ``no_estimate`` (no number, reason).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..camera import Intrinsics
from ..keypoints import L_HIP, L_SHOULDER, R_HIP, R_SHOULDER

OK, LOW_CONFIDENCE, NO_ESTIMATE, INVALID_INPUT = "ok", "low_confidence", "no_estimate", "invalid_input"

# Keypoints below this confidence are "weak": used only when nothing better exists, and flagged.
DEFAULT_MIN_CONF = 0.1

# What every distance silently relies on, said in every output (results.json, predict's summary):
# a keypoint layout cannot tell a small near person from a tall far one.
ASSUMPTIONS = {
    "stature": "distances assume an adult-sized person (stature about 1.72 m, SD 5 %); a shorter person "
               "reads too far in proportion (a 1.2 m child about 40 % too far) and sigma_m does not cover it",
}


@dataclass
class Estimate:
    distance_m: float | None
    depth_m: float | None
    sigma_m: float | None = None            # 1-sigma uncertainty of distance_m
    status: str = OK
    reason: str | None = None
    position_m: tuple[float, float, float] | None = None   # pelvis in the camera frame (x right, y down, z fwd)

    @classmethod
    def none(cls, reason: str, status: str = NO_ESTIMATE) -> "Estimate":
        return cls(None, None, None, status, reason)

    @property
    def has_value(self) -> bool:
        return self.distance_m is not None

    def row(self, row_id) -> dict:
        """The output row of `deepx predict` (stable interface)."""
        r = lambda v, n=4: None if v is None else round(float(v), n)
        return {"id": row_id, "distance_m": r(self.distance_m), "depth_m": r(self.depth_m),
                "sigma_m": r(self.sigma_m), "status": self.status, "reason": self.reason}


class Estimator:
    """Base class: subclasses implement ``estimate``; ``estimate_many`` may be batched."""

    name = "base"

    def estimate(self, keypoints, K) -> Estimate:  # pragma: no cover - interface
        raise NotImplementedError

    def estimate_many(self, items) -> list[Estimate]:
        """items: iterable of (keypoints (17,3), K (3,3))."""
        return [self.estimate(k, K) for k, K in items]

    def describe(self) -> str:
        return self.name


def as_inputs(keypoints, K) -> tuple[np.ndarray, Intrinsics]:
    kp = np.asarray(keypoints, dtype=float)
    if kp.shape != (17, 3):
        raise ValueError(f"keypoints must have shape (17, 3), got {kp.shape}")
    return kp, K if isinstance(K, Intrinsics) else Intrinsics.from_K(K)


def present(kp: np.ndarray, idx, min_conf: float = 0.0) -> bool:
    return bool(np.all(kp[list(np.atleast_1d(idx)), 2] > min_conf))


def midpoint(kp: np.ndarray, a: int, b: int, min_conf: float = 0.0):
    """Mid-point of two keypoints (or the one that is present); None if neither."""
    pa, pb = kp[a, 2] > min_conf, kp[b, 2] > min_conf
    if pa and pb:
        return (kp[a, :2] + kp[b, :2]) / 2
    if pa or pb:
        return kp[a if pa else b, :2].copy()
    return None


def reference_pixel(kp: np.ndarray) -> tuple[np.ndarray | None, str | None]:
    """Pixel of the pelvis (mid-hip) ray, with a note when it had to be approximated (one person
    of reference_pixels)."""
    uv, note = reference_pixels(np.asarray(kp, float)[None])
    return (None, None) if not np.isfinite(uv[0, 0]) else (uv[0], _NOTES[note[0]])


def finish(depth: float, kp: np.ndarray, intr: Intrinsics, rel_sigma: float | None,
           status: str = OK, reason: str | None = None) -> Estimate:
    """Place the pelvis on its viewing ray at the estimated depth and build the Estimate."""
    if depth is None or not math.isfinite(depth) or depth <= 0:
        return Estimate.none(reason or "estimate is not a finite positive depth")
    uv, note = reference_pixel(kp)
    if uv is None:
        return Estimate.none("no keypoint to place the person on")
    pos = intr.backproject(uv, depth)
    dist = float(np.linalg.norm(pos))
    notes = "; ".join(n for n in (reason, note) if n) or None
    sigma = None if rel_sigma is None else float(rel_sigma * dist)
    return Estimate(dist, float(depth), sigma, status, notes, tuple(float(v) for v in pos))


_NOTES = np.array([None, "pelvis ray from one hip", "pelvis ray approximated by the shoulders",
                   "pelvis ray approximated by the keypoint centroid"], dtype=object)


def reference_pixels(kp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """reference_pixel for (n, 17, 3) keypoints at once: (n, 2) pixels (NaN: no keypoint) and the
    (n,) note index into _NOTES (0: both hips)."""
    pres = kp[..., 2] > 0
    n = len(kp)
    uv = np.full((n, 2), np.nan)
    note = np.zeros(n, int)

    def mid(a, b):
        pa, pb = pres[:, a, None].astype(float), pres[:, b, None].astype(float)
        s = kp[:, a, :2] * pa + kp[:, b, :2] * pb
        return s / np.maximum(pa + pb, 1)

    hips = pres[:, L_HIP] | pres[:, R_HIP]
    both = pres[:, L_HIP] & pres[:, R_HIP]
    sh = ~hips & (pres[:, L_SHOULDER] | pres[:, R_SHOULDER])
    rest = ~hips & ~sh & pres.any(1)
    uv[hips] = mid(L_HIP, R_HIP)[hips]
    note[hips & ~both] = 1
    uv[sh] = mid(L_SHOULDER, R_SHOULDER)[sh]
    note[sh] = 2
    if rest.any():
        w = pres[rest, :, None]
        uv[rest] = (kp[rest, :, :2] * w).sum(1) / w.sum(1)
        note[rest] = 3
    return uv, note


def finish_many(depth, kp, K, rel_sigma, status, reason) -> dict:
    """finish() for n people at once (the learned model's streaming path): arrays distance_m,
    depth_m, sigma_m, position_m (n, 3) with NaN where there is no estimate, and status / reason
    (object arrays) exactly as finish() would give them one by one."""
    depth = np.asarray(depth, float)
    n = len(depth)
    status, reason = np.array(status, dtype=object), np.array(reason, dtype=object)
    uv, note = reference_pixels(kp)
    with np.errstate(all="ignore"):
        good = np.isfinite(depth) & (depth > 0)
        placed = good & np.isfinite(uv[:, 0])
        xy = (uv - K[:, :2, 2]) / np.stack([K[:, 0, 0], K[:, 1, 1]], 1)
        pos = np.concatenate([xy * depth[:, None], depth[:, None]], 1)
        dist = np.linalg.norm(pos, axis=1)
        placed &= np.isfinite(dist) & (dist > 0)
    out_status = np.where(placed, status, NO_ESTIMATE)
    out_reason = np.empty(n, dtype=object)
    for i in range(n):
        if not good[i]:
            out_reason[i] = reason[i] or "estimate is not a finite positive depth"
        elif not placed[i]:
            out_reason[i] = "no keypoint to place the person on"
        else:
            out_reason[i] = "; ".join(x for x in (reason[i], _NOTES[note[i]]) if x) or None
    nanify = lambda a: np.where(placed, a, np.nan)   # noqa: E731
    sigma = None if rel_sigma is None else nanify(np.asarray(rel_sigma, float) * dist)
    return {"distance_m": nanify(dist), "depth_m": nanify(depth), "sigma_m": sigma,
            "position_m": np.where(placed[:, None], pos, np.nan), "status": out_status, "reason": out_reason}


def segment_length(kp: np.ndarray, intr: Intrinsics, a, b) -> float:
    """Length in normalised image units (K^-1 applied) between two pixel points."""
    pa, pb = intr.normalize(np.asarray(a)), intr.normalize(np.asarray(b))
    return float(np.linalg.norm(pa - pb))


def estimate_record(estimator: Estimator, record) -> Estimate:
    """Estimate for a PersonRecord, passing a detector box to estimators that use one."""
    bbox = record.extra.get("bbox") if getattr(record, "extra", None) else None
    if bbox is not None and getattr(estimator, "uses_bbox", False):
        return estimator.estimate(record.keypoints, record.K, bbox=bbox)
    return estimator.estimate(record.keypoints, record.K)
