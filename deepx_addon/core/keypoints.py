"""The 17 COCO keypoints: names, indices, skeleton and left/right pairs (no bpy, no torch)."""
from __future__ import annotations

import numpy as np

COCO_KEYPOINTS: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
NUM_KEYPOINTS = len(COCO_KEYPOINTS)
KP = {name: i for i, name in enumerate(COCO_KEYPOINTS)}

NOSE, L_EYE, R_EYE, L_EAR, R_EAR = 0, 1, 2, 3, 4
L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = 5, 6, 7, 8, 9, 10
L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE = 11, 12, 13, 14, 15, 16

FACE = (NOSE, L_EYE, R_EYE, L_EAR, R_EAR)


def pelvis_of(keypoints) -> np.ndarray:
    """The pelvis DeepX measures distances to: the mid-point of the two hip keypoints,
    (..., 17, D) -> (..., D). The one definition; everything else calls it."""
    k = np.asarray(keypoints)
    return 0.5 * (k[..., L_HIP, :] + k[..., R_HIP, :])

# Index of each keypoint's mirror image (for horizontal flips and swap modelling).
FLIP_INDEX: tuple[int, ...] = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)

# COCO skeleton as 0-based index pairs (used for drawing).
SKELETON: tuple[tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6),
    (5, 7), (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)


def drop_hips(keypoints, frac, size) -> np.ndarray:
    """Keypoints (..., 17, 3) with both hips moved ``frac`` x ``size`` (px, per person) down the torso
    (mid-shoulder -> mid-hip). Only people whose shoulders and hips are all present (confidence > 0)
    move. Why: the detector reads rendered people's hips higher than COCO's convention, so a model
    can be trained for where it places real people's hips (README, "How much of YOLO's offset")."""
    k = np.array(keypoints, dtype=float)
    ms = 0.5 * (k[..., L_SHOULDER, :2] + k[..., R_SHOULDER, :2])
    mh = pelvis_of(k)[..., :2]
    u = mh - ms
    n = np.linalg.norm(u, axis=-1, keepdims=True)
    ok = (k[..., [L_SHOULDER, R_SHOULDER, L_HIP, R_HIP], 2] > 0).all(-1) & (n[..., 0] > 0)
    step = np.where(ok[..., None], u / np.maximum(n, 1e-9), 0.0) * (np.asarray(frac, float) * np.asarray(size, float))[..., None]
    for j in (L_HIP, R_HIP):
        k[..., j, :2] += step
    return k
