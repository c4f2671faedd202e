"""Estimators that need no learning (numpy only). The learned model lives in deepx_addon.ml."""
from .base import (INVALID_INPUT, LOW_CONFIDENCE, NO_ESTIMATE, OK, Estimate, Estimator)
from .geometric import BBoxHeightEstimator, ShoulderHipEstimator
from .sloth import SlothEstimator

GEOMETRIC = {"bbox": BBoxHeightEstimator, "shoulder_hip": ShoulderHipEstimator, "sloth": SlothEstimator}

__all__ = ["Estimate", "Estimator", "BBoxHeightEstimator", "ShoulderHipEstimator", "SlothEstimator",
           "GEOMETRIC", "OK", "LOW_CONFIDENCE", "NO_ESTIMATE", "INVALID_INPUT"]
