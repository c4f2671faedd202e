"""Body proportions of a standing adult, as fractions of stature.

Source: Drillis & Contini (1966) segment lengths as tabulated in D. A. Winter, *Biomechanics and
Motor Control of Human Movement* (4th ed., Fig. 4.1): eye 0.936, shoulder 0.818, elbow 0.630,
wrist 0.485, hip joint 0.530, knee 0.285, ankle 0.039; shoulder width 0.259, hip width 0.191,
upper arm 0.186, forearm 0.146, thigh 0.245, shank 0.246. Nose and ear heights are interpolated
between the eye (0.936) and the chin (0.870).

Keypoints sit at joint *centres*, which are narrower than the body's breadths above: the hip joint
centres are 0.72 x the inter-ASIS width apart (Bell, Pedersen & Brand 1990; inter-ASIS ~0.145 H)
= 0.105 H, and the shoulder (glenohumeral) joint centres lie ~0.03 H inside each acromion, 0.20 H
apart. Running YOLO11n-pose on our rendered mannequin confirmed the breadths are too wide: its hip
keypoints came out 0.54-0.87 x the 0.191 H breadth apart, its shoulders 0.72-0.91 x 0.235 H.
"""
from __future__ import annotations

import numpy as np

# Height above the floor of each COCO keypoint when standing upright (fraction of stature).
LANDMARK_HEIGHT = np.array([
    0.905,          # nose
    0.936, 0.936,   # eyes
    0.925, 0.925,   # ears
    0.818, 0.818,   # shoulders
    0.630, 0.630,   # elbows
    0.485, 0.485,   # wrists
    0.530, 0.530,   # hips (joint centres)
    0.285, 0.285,   # knees
    0.039, 0.039,   # ankles
])

SEGMENT = {  # length as a fraction of stature
    "torso": 0.818 - 0.530,        # shoulder mid-point to hip mid-point (0.288)
    "shoulder_width": 0.259,       # biacromial breadth (body surface)
    "hip_width": 0.191,            # hip breadth (body surface)
    "shoulder_joints": 0.20,       # between the shoulder joint centres (keypoints)
    "hip_joints": 0.105,           # between the hip joint centres (keypoints)
    "upper_arm": 0.186,
    "forearm": 0.146,
    "thigh": 0.245,
    "shank": 0.246,
}

# Adult stature: men N(178, 7) cm, women N(165, 7) cm (the MonoLoco "task error" assumption).
# Mixed 50/50 the spread is ~5 % of the mean; this bounds any single-image ranging method.
STATURE_MEAN_M = 1.715
STATURE_REL_SD = 0.05
