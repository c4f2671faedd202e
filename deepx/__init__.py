"""DeepX's public front door: the names users import. Thin re-exports of the working modules
(deepx_addon/...), so those can move while ``from deepx import DistanceEstimator`` stays.

    from deepx import DistanceEstimator
    est = DistanceEstimator()                        # YOLO11n-pose + the default distance model
    for r in est("photo.jpg", camera={"focal_px": 1450}):
        print(r.status, r.distance_m)

Importing this module imports torch only when DistanceEstimator / PoseDetector are first used.
"""
from __future__ import annotations

from deepx_addon.core.camera import Intrinsics
from deepx_addon.core.estimators import GEOMETRIC, Estimate, Estimator
from deepx_addon.core.records import PersonRecord, read_jsonl
from deepx_addon.core.settings import GeneratorSettings
from deepx_addon.runtime.detections import Detection
from deepx_addon.runtime.model import LearnedEstimator

_LAZY = {"DistanceEstimator": "deepx_addon.ml.api", "DistanceResult": "deepx_addon.ml.api",
         "PersonResult": "deepx_addon.ml.api", "VideoResult": "deepx_addon.ml.api",
         "PoseDetector": "deepx_addon.ml.detector"}

__all__ = ["DistanceEstimator", "DistanceResult", "PersonResult", "VideoResult", "PoseDetector", "Detection",
           "Estimate", "Estimator", "GEOMETRIC", "GeneratorSettings", "Intrinsics", "LearnedEstimator",
           "PersonRecord", "read_jsonl"]


def __getattr__(name: str):
    """The torch-backed names, imported on first use (``import deepx`` stays light)."""
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'deepx' has no attribute {name!r}")
