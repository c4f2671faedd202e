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
    """Pixel of the pelvis (mid-hip) ray, with a note when it had to be approximated."""
    hip = midpoint(kp, L_HIP, R_HIP)
    if hip is not None and kp[L_HIP, 2] > 0 and kp[R_HIP, 2] > 0:
        return hip, None
    if hip is not None:
        return hip, "pelvis ray from one hip"
    sh = midpoint(kp, L_SHOULDER, R_SHOULDER)
    if sh is not None:
        return sh, "pelvis ray approximated by the shoulders"
    vis = kp[:, 2] > 0
    if vis.any():
        return kp[vis, :2].mean(0), "pelvis ray approximated by the keypoint centroid"
    return None, None


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


def finish_batch(depth, kp: np.ndarray, K: np.ndarray, rel_sigma, status, reason) -> list[Estimate]:
    """finish() for n rows at once: depth (n,), kp (n, 17, 3), K (n, 3, 3), rel_sigma / status /
    reason (n,) sequences. The same numbers as finish() row by row (the same elementwise arithmetic
    as Intrinsics.backproject; rows whose pelvis ray needs the keypoint centroid take reference_pixel)."""
    depth = np.asarray(depth, float)
    n = len(depth)
    on = kp[..., 2] > 0
    lh, rh, ls, rs = on[:, L_HIP], on[:, R_HIP], on[:, L_SHOULDER], on[:, R_SHOULDER]
    uv = np.full((n, 2), np.nan)
    note = np.full(n, None, dtype=object)
    for a, b, both, one, text in ((L_HIP, R_HIP, lh & rh, lh ^ rh, "pelvis ray from one hip"),
                                  (L_SHOULDER, R_SHOULDER, ~(lh | rh) & ls & rs, ~(lh | rh) & (ls ^ rs),
                                   "pelvis ray approximated by the shoulders")):
        uv[both] = (kp[both, a, :2] + kp[both, b, :2]) / 2
        uv[one] = np.where(on[one, a][:, None], kp[one, a, :2], kp[one, b, :2])
        note[one] = text
        if a == L_SHOULDER:
            note[both] = text
    for i in np.flatnonzero(~(lh | rh | ls | rs)):
        u, note[i] = reference_pixel(kp[i])
        if u is not None:
            uv[i] = u
    z = depth
    pos = np.stack([(uv[:, 0] - K[:, 0, 2]) / K[:, 0, 0] * z, (uv[:, 1] - K[:, 1, 2]) / K[:, 1, 1] * z, z], axis=1)
    dist = np.linalg.norm(pos, axis=1)
    out = []
    for i in range(n):
        d = float(depth[i])
        if not math.isfinite(d) or d <= 0:
            out.append(Estimate.none(reason[i] or "estimate is not a finite positive depth"))
        elif not np.isfinite(uv[i, 0]):
            out.append(Estimate.none("no keypoint to place the person on"))
        else:
            di = float(dist[i])
            notes = "; ".join(t for t in (reason[i], note[i]) if t) or None
            sigma = None if rel_sigma[i] is None else float(rel_sigma[i] * di)
            out.append(Estimate(di, d, sigma, status[i], notes, tuple(float(v) for v in pos[i])))
    return out


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
