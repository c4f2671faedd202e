"""Hand-made people with known geometry for estimator tests (no Blender needed): exact anthropometric
widths in the camera frame, what the estimators' known answers are computed from (core/standin.py
makes the stand-in training data and pose tables)."""
from __future__ import annotations

import numpy as np

from deepx_addon.core.anthropometry import LANDMARK_HEIGHT, SEGMENT
from deepx_addon.core.keypoints import pelvis_of

# lateral offset of each keypoint (fraction of stature, + = person's left = image right for a
# person facing the camera) and forward offset (towards the camera)
_SHOULDER = SEGMENT["shoulder_joints"] / 2
_HIP = SEGMENT["hip_joints"] / 2
LATERAL = np.array([0, 0.018, -0.018, 0.04, -0.04, _SHOULDER, -_SHOULDER, _SHOULDER, -_SHOULDER,
                    _SHOULDER, -_SHOULDER, _HIP, -_HIP, _HIP, -_HIP, _HIP, -_HIP])
FORWARD = np.array([0.06, 0.04, 0.04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])


def standing_person_cam(stature: float, x: float, depth: float, camera_height: float = 1.0) -> np.ndarray:
    """(17, 3) camera-frame keypoints (OpenCV axes) of an upright person facing the camera."""
    h = LANDMARK_HEIGHT * stature
    return np.stack([x + LATERAL * stature, camera_height - h, depth - FORWARD * stature], axis=1)


def to_keypoints(points_cam: np.ndarray, K: np.ndarray, conf: float = 0.9) -> np.ndarray:
    uv = (K @ (points_cam / points_cam[:, 2:3]).T).T[:, :2]
    return np.concatenate([uv, np.full((len(uv), 1), conf)], axis=1)


pelvis = pelvis_of   # the one definition (core/keypoints.py)
