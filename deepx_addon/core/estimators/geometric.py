"""Fixed-size rules: the bbox-height rule and MonoLoco's shoulder-hip rule."""
from __future__ import annotations

import numpy as np

from ..anthropometry import LANDMARK_HEIGHT, STATURE_REL_SD
from ..keypoints import COCO_KEYPOINTS, L_HIP, L_SHOULDER, R_HIP, R_SHOULDER
from .base import (DEFAULT_MIN_CONF, LOW_CONFIDENCE, OK, Estimate, Estimator, as_inputs, finish,
                   midpoint, segment_length)


class BBoxHeightEstimator(Estimator):
    """depth = f * H / bbox_height, the classic pose-blind rule.

    With a detector box (``bbox=[x1, y1, x2, y2]``) H is the full stature (1.7 m). With only
    keypoints, the box spans from the anatomically highest to the lowest keypoint present, and H is
    that span on a standing body (landmark heights as fractions of stature, see anthropometry.py).
    """

    name = "bbox"
    uses_bbox = True

    def __init__(self, stature_m: float = 1.7, min_conf: float = DEFAULT_MIN_CONF):
        self.stature_m, self.min_conf = stature_m, min_conf

    def estimate(self, keypoints, K, bbox=None) -> Estimate:
        kp, intr = as_inputs(keypoints, K)
        if bbox is not None:
            x1, y1, x2, y2 = map(float, bbox)
            h = (y2 - y1) / intr.fy
            return finish(self.stature_m / h if h > 0 else None, kp, intr, STATURE_REL_SD,
                          reason=None if h > 0 else "empty bounding box")
        status, reason = OK, None
        use = kp[:, 2] >= self.min_conf
        if use.sum() < 2 or np.ptp(LANDMARK_HEIGHT[use]) < 0.2:
            use = kp[:, 2] > 0
            status, reason = LOW_CONFIDENCE, "keypoints below confidence threshold used"
        if use.sum() < 2:
            return Estimate.none("fewer than two keypoints")
        heights = LANDMARK_HEIGHT[use]
        span_frac = heights.max() - heights.min()
        if span_frac < 0.2:
            return Estimate.none("keypoints cover too little of the body for a height rule")
        ys = kp[use, 1]
        h = (ys.max() - ys.min()) / intr.fy
        if h <= 0:
            return Estimate.none("keypoint box has no height")
        return finish(self.stature_m * span_frac / h, kp, intr, STATURE_REL_SD, status, reason)


class ShoulderHipEstimator(Estimator):
    """MonoLoco's geometric baseline: shoulder mid-point to hip mid-point is 0.48 m."""

    name = "shoulder_hip"

    def __init__(self, torso_m: float = 0.48, min_conf: float = DEFAULT_MIN_CONF):
        self.torso_m, self.min_conf = torso_m, min_conf

    def estimate(self, keypoints, K) -> Estimate:
        kp, intr = as_inputs(keypoints, K)
        status, reason = OK, None
        sh, hip = midpoint(kp, L_SHOULDER, R_SHOULDER, self.min_conf), midpoint(kp, L_HIP, R_HIP, self.min_conf)
        if sh is None or hip is None:
            sh, hip = midpoint(kp, L_SHOULDER, R_SHOULDER), midpoint(kp, L_HIP, R_HIP)
            status, reason = LOW_CONFIDENCE, "shoulders/hips below confidence threshold used"
        if sh is None or hip is None:
            missing = [COCO_KEYPOINTS[i] for i in (L_SHOULDER, R_SHOULDER, L_HIP, R_HIP) if kp[i, 2] <= 0]
            return Estimate.none("needs a shoulder and a hip; missing: " + ", ".join(missing))
        length = segment_length(kp, intr, sh, hip)
        if length <= 0:
            return Estimate.none("shoulders and hips coincide in the image")
        # Torso length varies ~6 % between adults; foreshortening only adds error on top.
        return finish(self.torso_m / length, kp, intr, 0.08, status, reason)
