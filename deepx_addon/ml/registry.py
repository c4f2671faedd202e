"""Estimator names the CLI and API accept, and how each is built."""
from __future__ import annotations

import sys
from pathlib import Path

from ..core.estimators import GEOMETRIC, Estimator

REPO_MODELS = Path(__file__).resolve().parents[2] / "models"
PACKAGED_MODELS = Path(__file__).resolve().parents[1] / "models"
DEFAULT_MODEL_NAME = "deepx_default"


def default_model_path() -> Path | None:
    """The shipped learned model (models/deepx_default.json + .safetensors), if present."""
    for d in (PACKAGED_MODELS, REPO_MODELS):
        p = d / f"{DEFAULT_MODEL_NAME}.json"
        if p.exists():
            return p
    return None


def names() -> list[str]:
    """Estimators to compare: the learned model (when one is shipped) and every baseline."""
    return (["default"] if default_model_path() else []) + list(GEOMETRIC)


def build(name: str, quiet: bool = False) -> Estimator:
    """'bbox' | 'shoulder_hip' | 'sloth' | 'default' (the learned model) | a model .json path."""
    if name in GEOMETRIC:
        return GEOMETRIC[name]()
    if name == "default" or name.endswith(".json"):
        path = default_model_path() if name == "default" else Path(name)
        if path is None:
            if not quiet:
                print("deepx: no learned model in models/ yet; 'default' uses the Sloth estimator",
                      file=sys.stderr)
            return GEOMETRIC["sloth"]()
        if not path.exists():
            raise ValueError(f"model file not found: {path}")
        from .predictor import LearnedEstimator  # torch is imported only when a model is used
        return LearnedEstimator.load(path)
    raise ValueError(f"unknown estimator {name!r}; choose from {', '.join(names())} or a model .json path")
