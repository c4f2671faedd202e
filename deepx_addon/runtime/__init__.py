"""Torch-free inference pieces (numpy, optionally onnxruntime): what the in-Blender preview can run.

``Detection`` is the one detection record shared by the torch detector (``ml.detector``) and the
ONNX detector (``runtime.pose_onnx``). Nothing here imports torch, bpy or cv2 at module level.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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


__all__ = ["Detection"]
