"""The one pose-detector interface: ``PoseBackend`` (load in ``__init__``, ``detect(images, rgb)
-> [[Detection]]`` per image), one file per runtime, picked by name from ``BACKENDS``:

- ``onnx``: YOLO11n-pose in ONNX Runtime with numpy pre/post-processing (runtime/pose_onnx.py);
- ``torch``: Ultralytics on torch (ml/detector.py) - the one optional torch backend, imported
  only when chosen and absent from the Blender extension (which ships no ml/).

``load_detector`` picks one (``auto``: ONNX, else torch, else ``BackendError`` saying what is
missing) and caches it per process.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path

from ..core.paths import PACKAGE_DIR, models_dir

# name -> (module relative to the package root, class); imported on first use
BACKENDS = {"onnx": ("runtime.pose_onnx", "OnnxPoseDetector"), "torch": ("ml.detector", "PoseDetector")}
OPTIONAL_TORCH_BACKENDS = ("ml.detector",)   # the layer test allows exactly these upward names


AUTO_IMGSZ = (640, 1920)    # "auto" input sizes: the image's own size, kept within these bounds


def check_imgsz(value) -> int | str:
    """A detector input size: "auto", or pixels (a multiple of 32, 32 to 4096). ValueError says why."""
    text = str(value).strip().lower()
    if text == "auto":
        return "auto"
    if isinstance(value, bool) or not (isinstance(value, int) or text.isdigit()):
        raise ValueError(f"detector input size must be 'auto' or whole pixels, got {value!r}")
    n = int(text)
    if not 32 <= n <= 4096 or n % 32:
        raise ValueError(f"detector input size must be a multiple of 32 from 32 to 4096 (or 'auto'), got {n}")
    return n


def imgsz_of(detector) -> int | str:
    """A detector's input size as given: "auto", or pixels (torch keeps an int, the ONNX graph its
    (height, width), square)."""
    size = detector.imgsz
    return size if isinstance(size, (int, str)) else int(max(size))


def input_size(imgsz, height: int, width: int, stride: int = 32) -> int:
    """The detector input size for one image: ``imgsz`` itself, or for "auto" the image's longer side
    rounded up to the stride and kept within AUTO_IMGSZ. Why: a fixed 640 shrinks a 1920 x 1080 photo
    3x, and YOLO11n-pose finds few people under ~100 px of its input (640 x 640 renders read at 320
    against 640: 24 % against 73 % of the people 96-128 px tall, scripts/imgsz_recall.py, README)."""
    if imgsz != "auto":
        return int(imgsz)
    side = -(-max(int(height), int(width)) // stride) * stride
    return min(max(side, AUTO_IMGSZ[0]), AUTO_IMGSZ[1])


class PoseBackend:
    """A detector runtime: people with boxes and 17 COCO keypoints (pixels of the input image).

    ``detect(images, rgb=False)``: one image (path or HxWx3 uint8 array, BGR unless rgb=True) or a
    sequence of them -> one list of Detection per image, people sorted by score."""

    def detect(self, images, rgb: bool = False):
        raise NotImplementedError


def backend(name: str) -> type:
    """The PoseBackend class registered as ``name`` (ImportError when its runtime is missing)."""
    if name not in BACKENDS:
        raise ValueError(f"detector backend must be one of {', '.join(BACKENDS)}, got {name!r}")
    module, cls = BACKENDS[name]
    root = __package__.rsplit(".", 1)[0]
    return getattr(importlib.import_module(f"{root}.{module}"), cls)


POSE_ONNX_NAME = "yolo11n-pose.onnx"      # the name build.py gives it inside the extension's models/
POSE_ONNX_DYNAMIC_NAME = "yolo11n-pose-dyn.onnx"   # any input size (export_onnx.py --dynamic): deepx estimate


class BackendError(RuntimeError):
    """No usable detector or model: the message says what is missing and how to get it."""


def module_available(name: str) -> bool:
    """Whether ``name`` could be imported (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def find_pose_onnx(explicit=None, dynamic: bool = False) -> Path | None:
    """The YOLO11n-pose ONNX file: ``explicit``, else $DEEPX_POSE_ONNX, else <models>/yolo11n-pose.onnx
    (inside the extension: build.py puts it there), else the newest export cached by
    scripts/export_onnx.py in <repo>/runs/onnx/ (a source checkout). ``dynamic``: the graph with any
    input size instead ($DEEPX_POSE_ONNX_DYNAMIC, <models>/yolo11n-pose-dyn.onnx, the cached
    ``--dynamic`` export)."""
    if explicit is not None:
        p = Path(explicit)
        if not p.is_file():
            raise BackendError(f"pose ONNX file not found: {p}")
        return p
    var, name = ("DEEPX_POSE_ONNX_DYNAMIC", POSE_ONNX_DYNAMIC_NAME) if dynamic else ("DEEPX_POSE_ONNX", POSE_ONNX_NAME)
    env = os.environ.get(var)
    if env:
        p = Path(env)
        if not p.is_file():
            raise BackendError(f"${var} names a missing file: {p}")
        return p
    for d in (models_dir(), PACKAGE_DIR / "models"):
        if (d / name).is_file():
            return d / name
    cache = PACKAGE_DIR.parent / "runs" / "onnx"          # a source checkout: scripts/export_onnx.py's cache
    pattern = f"yolo11n-pose-*-640-op17{'-dyn' if dynamic else ''}.onnx"
    found = list(cache.glob(pattern)) if cache.is_dir() else []
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


# ---- backends (cached) -----------------------------------------------------------------------------
_CACHE: dict = {}


def load_detector(prefer: str = "auto", onnx_path=None):
    """(detector, label) with ``detector.detect(rgb_image, rgb=True) -> [[Detection]]``.

    prefer: "auto" (ONNX, else torch), "onnx" or "torch". Raises BackendError naming what is missing."""
    if prefer not in ("auto", "onnx", "torch"):
        raise ValueError(f"detector must be 'auto', 'onnx' or 'torch', got {prefer!r}")
    problems = []
    if prefer in ("auto", "onnx"):
        path = find_pose_onnx(onnx_path)
        if not module_available("onnxruntime"):
            problems.append("onnxruntime is not installed (the extension bundles it for Python 3.11/3.13 on "
                            "Linux x64, Windows x64 and macOS arm64)")
        elif path is None:
            problems.append(f"no {POSE_ONNX_NAME} (the extension ships it in models/; in a source checkout "
                            "run scripts/export_onnx.py)")
        else:
            key = ("det", "onnx", str(path.resolve()))
            if key not in _CACHE:
                _CACHE[key] = backend("onnx")(path)
            import onnxruntime
            return _CACHE[key], f"YOLO11n-pose, onnxruntime {onnxruntime.__version__}"
        if prefer == "onnx":
            raise BackendError("ONNX detector unavailable: " + "; ".join(problems))
    missing = [m for m in ("torch", "ultralytics") if not module_available(m)]
    if missing:
        problems.append(f"{' and '.join(missing)} not installed (the torch detector needs torch + ultralytics)")
        raise BackendError("no pose detector: " + "; ".join(problems))
    key = ("det", "torch")
    if key not in _CACHE:
        try:
            _CACHE[key] = backend("torch")(rect=False)   # the ONNX graph's square letterbox: same numbers
        except ImportError as e:                          # the Blender extension ships no ml/
            raise BackendError(f"no pose detector: {'; '.join(problems + [f'the torch backend is not installed ({e})'])}") from None
    from importlib.metadata import version
    return _CACHE[key], f"YOLO11n-pose, torch {version('torch').split('+')[0]} + Ultralytics"
