"""Estimator names the CLI and API accept, and how each is built."""
from __future__ import annotations

import sys
from pathlib import Path

from ..core.estimators import GEOMETRIC, Estimator
from ..core.paths import default_model_path

def names() -> list[str]:
    """Estimators to compare: the learned model (when one is shipped) and every baseline."""
    return (["default"] if default_model_path() else []) + list(GEOMETRIC)


def build(name: str, quiet: bool = False, backend: str = "auto") -> Estimator:
    """'bbox' | 'shoulder_hip' | 'sloth' | 'default' (the learned model) | a model .json path.

    backend of a learned model: "torch", "onnx", or "auto": ONNX Runtime when NAME.onnx exists and
    onnxruntime is installed (the same network, outputs equal to ~1e-6; 3x faster per row on these
    CPUs and no torch start-up: the default; runtime/model.auto_backend), else torch."""
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
        from ..runtime.model import LearnedEstimator  # "auto": no torch import when NAME.onnx is there
        return LearnedEstimator.load(path, backend=backend)
    raise ValueError(f"unknown estimator {name!r}; choose from {', '.join(names())} or a model .json path")
