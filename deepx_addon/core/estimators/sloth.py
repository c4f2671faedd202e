"""Sloth: a confidence-weighted estimate of the torso's projected size from many pose bones.

Every bone b has an expected length ratio r_b to the shoulder-hip reference (torso) and a prior
reliability. Each visible bone proposes an *undistorted reference projection size*
s_b = l_b / r_b (l_b its image length in K^-1-normalised units); the proposals are combined with
weights reliability x keypoint confidences, and depth = torso_m / s.

Foreshortening only ever shortens a bone, so a bone that proposes far less than the others is seen
end-on and is dropped (proposals under ``foreshortening_cut`` x the weighted median). This is what
lets Sloth read a crouching person's torso from the legs and arms when the torso itself is bent.

For a track (several frames of one person at about the same distance) ``estimate_track`` takes the
median of per-frame depths, or of each bone's length across frames before combining (``mode``).
The priors are documented in ``anthropometry.py`` and can be replaced by a JSON file
(``SlothEstimator.from_json``), e.g. priors measured on synthetic people.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from ..anthropometry import SEGMENT, STATURE_REL_SD
from ..keypoints import (L_ANKLE, L_ELBOW, L_HIP, L_KNEE, L_SHOULDER, L_WRIST, R_ANKLE, R_ELBOW, R_HIP,
                         R_KNEE, R_SHOULDER, R_WRIST)
from .base import (DEFAULT_MIN_CONF, LOW_CONFIDENCE, OK, Estimate, Estimator, as_inputs, finish)

MID_SHOULDER, MID_HIP = -1, -2  # pseudo-keypoints


@dataclass(frozen=True)
class Bone:
    name: str
    a: int
    b: int
    ratio: float        # expected length / torso (shoulder mid-point to hip mid-point)
    reliability: float  # prior weight: how rarely the bone is foreshortened or mislocated


_T = SEGMENT["torso"]
_SIDE = math.hypot(_T, (SEGMENT["shoulder_joints"] - SEGMENT["hip_joints"]) / 2) / _T
# Reliability priors: the torso is rigid and upright in most poses; legs are long and mostly
# vertical; arms swing freely; widths turn with the body's yaw. (Refit from synthetic poses with
# scripts/fit_sloth_priors.py once the generator is available.)
DEFAULT_BONES: tuple[Bone, ...] = (
    Bone("torso", MID_SHOULDER, MID_HIP, 1.0, 1.0),
    Bone("torso_left", L_SHOULDER, L_HIP, _SIDE, 0.5),
    Bone("torso_right", R_SHOULDER, R_HIP, _SIDE, 0.5),
    Bone("thigh_left", L_HIP, L_KNEE, SEGMENT["thigh"] / _T, 0.5),
    Bone("thigh_right", R_HIP, R_KNEE, SEGMENT["thigh"] / _T, 0.5),
    Bone("shank_left", L_KNEE, L_ANKLE, SEGMENT["shank"] / _T, 0.5),
    Bone("shank_right", R_KNEE, R_ANKLE, SEGMENT["shank"] / _T, 0.5),
    Bone("upper_arm_left", L_SHOULDER, L_ELBOW, SEGMENT["upper_arm"] / _T, 0.25),
    Bone("upper_arm_right", R_SHOULDER, R_ELBOW, SEGMENT["upper_arm"] / _T, 0.25),
    Bone("forearm_left", L_ELBOW, L_WRIST, SEGMENT["forearm"] / _T, 0.15),
    Bone("forearm_right", R_ELBOW, R_WRIST, SEGMENT["forearm"] / _T, 0.15),
    Bone("shoulder_width", L_SHOULDER, R_SHOULDER, SEGMENT["shoulder_joints"] / _T, 0.2),
    Bone("hip_width", L_HIP, R_HIP, SEGMENT["hip_joints"] / _T, 0.15),
)


def _points(kp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) points and (N,) confidences with the two mid-points appended at -2/-1."""
    xy, c = kp[:, :2], kp[:, 2]
    ms, mh = (xy[L_SHOULDER] + xy[R_SHOULDER]) / 2, (xy[L_HIP] + xy[R_HIP]) / 2
    cms, cmh = min(c[L_SHOULDER], c[R_SHOULDER]), min(c[L_HIP], c[R_HIP])
    return np.vstack([xy, mh, ms]), np.concatenate([c, [cmh, cms]])


class SlothEstimator(Estimator):
    name = "sloth"

    def __init__(self, bones=DEFAULT_BONES, torso_m: float = 0.48, min_conf: float = DEFAULT_MIN_CONF,
                 foreshortening_cut: float = 0.7):
        self.bones, self.torso_m, self.min_conf, self.cut = tuple(bones), torso_m, min_conf, foreshortening_cut

    @classmethod
    def from_json(cls, path, **kw) -> "SlothEstimator":
        d = json.loads(open(path, encoding="utf-8").read())
        by_name = {b.name: b for b in DEFAULT_BONES}
        bones = []
        for name, p in d["bones"].items():
            if name not in by_name:
                raise ValueError(f"{path}: unknown bone {name!r}; known: {sorted(by_name)}")
            b = by_name[name]
            bones.append(Bone(name, b.a, b.b, float(p["ratio"]), float(p["reliability"])))
        return cls(bones, torso_m=float(d.get("torso_m", 0.48)), **kw)

    # -- per frame ---------------------------------------------------------------------------------
    def proposals(self, kp: np.ndarray, intr) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per bone: proposed reference size s_b, weight, and min confidence (NaN/0 if absent)."""
        pts, conf = _points(kp)
        norm = intr.normalize(pts)
        s = np.full(len(self.bones), np.nan)
        w = np.zeros(len(self.bones))
        c = np.zeros(len(self.bones))
        for i, b in enumerate(self.bones):
            ca, cb = conf[b.a], conf[b.b]
            if ca <= 0 or cb <= 0:
                continue
            length = float(np.linalg.norm(norm[b.a] - norm[b.b]))
            if length <= 0:
                continue
            s[i], w[i], c[i] = length / b.ratio, b.reliability * ca * cb, min(ca, cb)
        return s, w, c

    def combine(self, s: np.ndarray, w: np.ndarray) -> tuple[float, float] | None:
        """Weighted, foreshortening-robust combination in log space -> (size, relative spread)."""
        ok = np.isfinite(s) & (w > 0)
        if not ok.any():
            return None
        s, w = s[ok], w[ok]
        med = _weighted_median(s, w)
        keep = s >= self.cut * med
        s, w = s[keep], w[keep]
        logs = np.log(s)
        mean = float(np.sum(w * logs) / np.sum(w))
        n_eff = float(np.sum(w) ** 2 / np.sum(w ** 2))
        spread = float(np.sqrt(np.sum(w * (logs - mean) ** 2) / np.sum(w)))
        return math.exp(mean), spread / math.sqrt(n_eff)

    def estimate(self, keypoints, K) -> Estimate:
        kp, intr = as_inputs(keypoints, K)
        s, w, c = self.proposals(kp, intr)
        strong = c >= self.min_conf
        status, reason = OK, None
        if not (strong & (w > 0)).any():
            status, reason = LOW_CONFIDENCE, "only keypoints below the confidence threshold"
        else:
            w = np.where(strong, w, 0.0)
        res = self.combine(s, w)
        if res is None:
            return Estimate.none("no bone with both end keypoints visible")
        size, rel_spread = res
        rel_sigma = math.sqrt(STATURE_REL_SD ** 2 + rel_spread ** 2)
        return finish(self.torso_m / size, kp, intr, rel_sigma, status, reason)

    # -- several frames of one track ----------------------------------------------------------------
    def estimate_track(self, frames, mode: str = "bones") -> Estimate:
        """frames: list of (keypoints, K) for one person. mode: 'depth' = median of per-frame
        depths; 'bones' = median of each bone's proposal across frames, then combine."""
        if not frames:
            return Estimate.none("empty track")
        if mode == "depth":
            ests = [self.estimate(k, K) for k, K in frames]
            good = [e for e in ests if e.has_value]
            if not good:
                return Estimate.none("no frame of the track gave an estimate")
            depth = float(np.median([e.depth_m for e in good]))
            kp, intr = as_inputs(*frames[-1])
            rel = float(np.median([e.sigma_m / e.distance_m for e in good])) / math.sqrt(len(good))
            status = OK if any(e.status == OK for e in good) else LOW_CONFIDENCE
            return finish(depth, kp, intr, max(rel, STATURE_REL_SD), status,
                          f"median of {len(good)}/{len(frames)} frames")
        if mode != "bones":
            raise ValueError(f"mode must be 'depth' or 'bones', got {mode!r}")
        props = [self.proposals(*as_inputs(k, K)) for k, K in frames]
        S = np.array([p[0] for p in props])
        W = np.array([np.where(p[2] >= self.min_conf, p[1], 0.0) for p in props])
        with np.errstate(all="ignore"):
            s_med = np.nanmedian(np.where(W > 0, S, np.nan), axis=0)
        w_med = W.mean(0)
        res = self.combine(s_med, w_med)
        if res is None:
            return Estimate.none("no bone visible with enough confidence in any frame")
        size, rel_spread = res
        kp, intr = as_inputs(*frames[-1])
        return finish(self.torso_m / size, kp, intr, math.sqrt(STATURE_REL_SD ** 2 + rel_spread ** 2),
                      OK, f"bone-length median over {len(frames)} frames")


def _weighted_median(x: np.ndarray, w: np.ndarray) -> float:
    order = np.argsort(x)
    cw = np.cumsum(w[order])
    return float(x[order][np.searchsorted(cw, cw[-1] / 2)])
