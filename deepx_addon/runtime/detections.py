"""Detections and pairing them with known keypoints (numpy): the one detection record every
detector backend returns, and OKS matching against ground truth (photos or renders)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

# COCO keypoint sigmas (for OKS), in COCO order.
COCO_SIGMAS = np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62,
                        1.07, 1.07, 0.87, 0.87, 0.89, 0.89]) / 10.0



@dataclass
class Detection:
    """One person: box, confidence, 17 COCO keypoints; pixels of the original image.

    Pixel convention: continuous coordinates, the image spans [0, W] x [0, H]."""
    bbox: np.ndarray                 # (4,) x1, y1, x2, y2 in pixels
    score: float                     # person confidence
    keypoints: np.ndarray            # (17, 3) x, y (pixels), confidence
    track_id: int | None = None

    @property
    def height_px(self) -> float:
        return float(self.bbox[3] - self.bbox[1])

    def to_dict(self) -> dict:
        return {"bbox": [round(float(v), 2) for v in self.bbox], "score": round(float(self.score), 4),
                "keypoints": [[round(float(x), 2), round(float(y), 2), round(float(c), 4)]
                              for x, y, c in self.keypoints],
                "track_id": self.track_id}


# ---- pairing detections with known keypoints --------------------------------------------------------
def oks(det_kp: np.ndarray, gt_kp: np.ndarray, area: float | None = None) -> float:
    """Object keypoint similarity over the keypoints present in the ground truth (conf > 0).

    area: the object's scale squared (COCO uses the segment area); default: the area of the
    ground-truth keypoints' bounding box."""
    det_kp, gt_kp = np.asarray(det_kp, float), np.asarray(gt_kp, float)
    vis = gt_kp[:, 2] > 0
    if not vis.any():
        return 0.0
    if area is None:
        xy = gt_kp[vis, :2]
        area = float(np.ptp(xy[:, 0]) * np.ptp(xy[:, 1])) if vis.sum() > 1 else 0.0
    area = max(area, 1.0)
    d2 = ((det_kp[vis, :2] - gt_kp[vis, :2]) ** 2).sum(-1)
    k2 = (2 * COCO_SIGMAS[vis]) ** 2
    return float(np.mean(np.exp(-d2 / (2 * area * k2))))


@dataclass
class Match:
    det: int          # index into the detections
    gt: int           # index into the ground-truth keypoint list
    oks: float


def match_detections(dets: Sequence[Detection], gt_keypoints_list, min_oks: float = 0.1) -> list[Match]:
    """One-to-one pairing of detections with ground-truth keypoint sets maximising total OKS
    (Hungarian; greedy if scipy is missing). Pairs with OKS < min_oks are dropped.
    Returns matches sorted by gt index; unmatched ground truth simply has no entry."""
    gts = [np.asarray(g, float) for g in gt_keypoints_list]
    if not dets or not gts:
        return []
    sim = np.array([[oks(d.keypoints, g) for g in gts] for d in dets])
    try:
        from scipy.optimize import linear_sum_assignment
        rows, cols = linear_sum_assignment(-sim)
        pairs = list(zip(rows.tolist(), cols.tolist()))
    except ImportError:  # greedy by descending similarity
        pairs, used_d, used_g = [], set(), set()
        for flat in np.argsort(-sim, axis=None):
            i, j = divmod(int(flat), sim.shape[1])
            if i not in used_d and j not in used_g:
                pairs.append((i, j))
                used_d.add(i)
                used_g.add(j)
    out = [Match(i, j, float(sim[i, j])) for i, j in pairs if sim[i, j] >= min_oks]
    return sorted(out, key=lambda m: m.gt)
