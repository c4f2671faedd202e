"""Make Ultralytics run on a CPU-only torch whose torchvision wheel was built for CUDA torch.

Two small stand-ins, each inert when the real thing works:

* ``torchvision::nms`` / ``torchvision::qnms``: PyPI's torchvision 0.28 is compiled against CUDA torch;
  with the CPU torch its ``_C`` extension does not load and ``import torchvision`` dies while
  registering fake kernels for those two ops ("operator torchvision::nms does not exist"). Ultralytics
  imports torchvision during warm-up. Before torchvision is first imported we try to load its
  extension exactly as torchvision would; only if that fails do we define the two ops with
  ``torch.library`` and a pure-torch greedy NMS (same semantics as torchvision's CPU kernel: scores
  sorted descending, stable; a box suppresses later boxes whose IoU with it is > threshold).
* ``lap``: Ultralytics' ByteTrack imports ``lap`` and, when it is missing, tries to ``pip install``
  it at run time. If ``lap`` cannot be imported we register a module with the one function used,
  ``lapjv(cost, extend_cost=True, cost_limit=...)``, built on ``scipy.optimize.linear_sum_assignment``
  with lap's own extended-matrix construction for ``cost_limit``.

Call ``ensure_torchvision()`` (and ``ensure_lap()`` before tracking) before importing ultralytics.
With the shim, ``ensure_torchvision()`` imports torchvision itself (to lift torchvision's
"extension missing" check in ``torchvision.ops.boxes`` for NMS only).
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import types

import torch

_STATE: dict[str, str] = {}
_LIB = None  # keep the torch.library.Library alive: dropping it unregisters the ops


def nms_reference(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy NMS in plain torch: indices of kept boxes (int64), highest score first."""
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    order = torch.sort(scores, descending=True, stable=True).indices
    b = boxes[order]
    x1, y1, x2, y2 = b.unbind(1)
    area = (x2 - x1) * (y2 - y1)
    remaining = torch.arange(len(order), device=boxes.device)
    keep = []
    while remaining.numel():
        i = remaining[0]
        keep.append(i)
        rest = remaining[1:]
        if not rest.numel():
            break
        w = (torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest])).clamp(min=0)
        h = (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest])).clamp(min=0)
        inter = w * h
        iou = inter / (area[i] + area[rest] - inter)
        remaining = rest[~(iou > iou_threshold)]  # NaN IoU (empty boxes) suppresses nothing, as in torchvision
    return order[torch.stack(keep)]


def _qnms(dets: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    # torchvision passes the integer representation of quantized tensors
    return nms_reference(dets.float(), scores.float(), iou_threshold)


def _extension_path() -> str | None:
    """Where torchvision keeps its compiled ``_C`` library (found without importing torchvision)."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return None
    loader = (importlib.machinery.ExtensionFileLoader, importlib.machinery.EXTENSION_SUFFIXES)
    finder = importlib.machinery.FileFinder(list(spec.submodule_search_locations)[0], loader)
    ext = finder.find_spec("_C")
    return None if ext is None else ext.origin


def _op_exists(name: str) -> bool:
    try:
        torch._C._dispatch_find_schema_or_throw(f"torchvision::{name}", "")
        return True
    except RuntimeError:
        return False


def _patch_boxes_module() -> None:
    """torchvision.ops.nms refuses to run when its extension did not load (``_assert_has_ops``).
    Lift that check for the NMS functions of ``torchvision.ops.boxes`` only; every other
    torchvision op keeps failing loudly."""
    import torchvision.ops.boxes as boxes

    boxes._assert_has_ops = lambda: None


def ensure_torchvision() -> str:
    """Make ``import torchvision`` work. Returns 'native' (real ops), 'shim' (ours), 'absent'
    (torchvision not installed) or 'already-imported'."""
    global _LIB
    if "state" in _STATE:
        return _STATE["state"]
    if "torchvision" in sys.modules:
        state = "already-imported"
    elif _op_exists("nms"):
        state = "native"
    else:
        path = _extension_path()
        if path is None and importlib.util.find_spec("torchvision") is None:
            state = "absent"
        else:
            try:
                if path is None:
                    raise OSError("torchvision/_C not found")
                torch.ops.load_library(path)
                state = "native" if _op_exists("nms") else "shim"
            except (OSError, ImportError, RuntimeError):
                state = "shim"
            if state == "shim":
                _LIB = torch.library.Library("torchvision", "DEF")
                for name, fn in (("nms", nms_reference), ("qnms", _qnms)):
                    if not _op_exists(name):
                        _LIB.define(f"{name}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
                        _LIB.impl(name, fn, "CompositeExplicitAutograd")
                _patch_boxes_module()
    _STATE["state"] = state
    return state


# ---- lap (linear assignment) for Ultralytics' trackers ---------------------------------------------
def lapjv(cost, extend_cost: bool = False, cost_limit: float = float("inf"), return_cost: bool = True):
    """lap.lapjv's contract: (cost, x, y) with x[row] = col or -1, y[col] = row or -1."""
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    c = np.asarray(cost, dtype=float)
    n_rows, n_cols = c.shape
    if n_rows != n_cols and not extend_cost and not np.isfinite(cost_limit):
        raise ValueError("square cost matrix required unless extend_cost=True")
    if np.isfinite(cost_limit):
        # lap's construction: each real row/column may instead pair with a dummy at cost_limit / 2
        n = n_rows + n_cols
        ext = np.full((n, n), cost_limit / 2.0)
        ext[n_rows:, n_cols:] = 0.0
        ext[:n_rows, :n_cols] = c
        c_solve = ext
    else:
        c_solve = c
    r, k = linear_sum_assignment(c_solve)
    x = np.full(n_rows, -1, dtype=np.int64)
    y = np.full(n_cols, -1, dtype=np.int64)
    for i, j in zip(r, k):
        if i < n_rows and j < n_cols:
            x[i], y[j] = j, i
    total = float(sum(c[i, x[i]] for i in range(n_rows) if x[i] >= 0))
    return (total, x, y) if return_cost else (x, y)


def ensure_lap() -> str:
    """'native' if the lap package imports, else 'shim' (a ``lap`` module with ``lapjv``)."""
    if "lap" in _STATE:
        return _STATE["lap"]
    try:
        import lap  # noqa: F401
        state = "native" if getattr(lap, "__version__", None) else "shim"
    except ImportError:
        state = "shim"
    if state == "shim":
        mod = types.ModuleType("lap")
        mod.__version__ = "0.0-deepx-shim"
        mod.lapjv = lapjv
        sys.modules["lap"] = mod
    _STATE["lap"] = state
    return state
