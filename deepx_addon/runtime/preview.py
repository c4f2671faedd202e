"""The numbers of the in-Blender "predicted vs true distance" preview, without bpy and without torch.

``run(image, K, R, t, keypoints_world, detector, estimator)`` takes one rendered picture, the
camera that took it (OpenCV K and world -> camera R, t) and the mannequin's true 3D keypoints, and
returns a JSON-ready dict: the detected person matching the mannequin (OKS against the projected true
keypoints), the model's distance and sigma, the true camera-centre -> pelvis (mid-hip) distance and
the error. The Blender layer (blender/preview.py) renders the picture and reads the scene.

Backends are chosen by ``load_detector`` / ``load_distance_model`` and cached per process:

- detector ``auto``: YOLO11n-pose in ONNX Runtime (``runtime.pose_onnx``) when ``onnxruntime``
  imports and the ONNX file is found (``find_pose_onnx``), else Ultralytics on torch
  (``ml.detector.PoseDetector``) when torch and ultralytics are installed, else ``BackendError``
  saying what is missing;
- distance model ``auto``: the shipped learned model (``ml.registry.default_model_path()``) through
  ONNX Runtime when its ``.onnx`` sits next to the JSON, else through torch, else the Sloth rule
  (numpy) with a note saying why.

Nothing here imports torch unless the torch backend is chosen (``import deepx_addon.runtime.preview``
imports only numpy and deepx_addon modules that are torch-free at import time).
"""
from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import numpy as np

from ..core.keypoints import L_HIP, NUM_KEYPOINTS, R_HIP

POSE_ONNX_NAME = "yolo11n-pose.onnx"      # the name build.py gives it inside the extension's models/
MIN_OKS = 0.1


class BackendError(RuntimeError):
    """No usable detector or model: the message says what is missing and how to get it."""


def module_available(name: str) -> bool:
    """Whether ``name`` could be imported (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def find_pose_onnx(explicit=None) -> Path | None:
    """The YOLO11n-pose ONNX file: ``explicit``, else $DEEPX_POSE_ONNX, else <models>/yolo11n-pose.onnx
    (inside the extension: build.py puts it there), else the newest export cached by
    scripts/export_onnx.py in <repo>/runs/onnx/ (a source checkout)."""
    from ..core.paths import PACKAGE_DIR, models_dir

    if explicit is not None:
        p = Path(explicit)
        if not p.is_file():
            raise BackendError(f"pose ONNX file not found: {p}")
        return p
    env = os.environ.get("DEEPX_POSE_ONNX")
    if env:
        p = Path(env)
        if not p.is_file():
            raise BackendError(f"$DEEPX_POSE_ONNX names a missing file: {p}")
        return p
    for d in (models_dir(), PACKAGE_DIR / "models"):
        if (d / POSE_ONNX_NAME).is_file():
            return d / POSE_ONNX_NAME
    cache = PACKAGE_DIR.parent / "runs" / "onnx"          # a source checkout: scripts/export_onnx.py's cache
    found = list(cache.glob("yolo11n-pose-*-640-op17.onnx")) if cache.is_dir() else []
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
                from .pose_onnx import OnnxPoseDetector
                _CACHE[key] = OnnxPoseDetector(path)
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
        from ..ml.detector import PoseDetector
        _CACHE[key] = SquareTorchDetector(PoseDetector())
    det = _CACHE[key]
    import torch
    return det, f"YOLO11n-pose, torch {torch.__version__.split('+')[0]} + Ultralytics"


class SquareTorchDetector:
    """Ultralytics on torch fed the same square 640 x 640 letterbox as the static ONNX graph.

    Ultralytics' own predict uses a minimal "rect" letterbox (a 640 x 480 render becomes a 640 x 480
    input, not 640 x 640): on such an image its keypoints differ from the ONNX graph's by up to ~4 px
    and 0.3 in confidence. With rect=False both backends see identical input and agree to < 0.001 px,
    so the preview's numbers do not depend on which backend happened to be installed."""

    def __init__(self, detector):
        self.detector = detector
        self.weights = detector.weights

    def detect(self, image, rgb: bool = False):
        from ..ml.detector import _to_detections, as_bgr
        d = self.detector
        res = d._predict([as_bgr(image, rgb)], **{**d._kw(), "rect": False})
        return [_to_detections(res[0])]


def load_distance_model(model=None, prefer: str = "auto"):
    """(estimator, label, note). model: None/"default" (the shipped learned model, else Sloth),
    "sloth" (or another geometric name), or a model .json path. prefer: "auto", "onnx" or "torch"
    for a learned model. ``note`` explains a fallback (or is None)."""
    from ..core.estimators import GEOMETRIC
    from ..ml.registry import DEFAULT_MODEL_NAME

    if prefer not in ("auto", "onnx", "torch"):
        raise ValueError(f"model backend must be 'auto', 'onnx' or 'torch', got {prefer!r}")
    if isinstance(model, str) and model in GEOMETRIC:
        return GEOMETRIC[model](), f"{model} rule (numpy)", None
    path = _default_model() if model in (None, "default") else Path(model)
    if path is None:
        return GEOMETRIC["sloth"](), "Sloth rule (numpy)", (
            f"no learned model shipped (models/{DEFAULT_MODEL_NAME}.json): using the Sloth rule")
    if not path.is_file():
        raise BackendError(f"model file not found: {path}")
    onnx = path.with_suffix(".onnx")
    reasons = []
    if prefer in ("auto", "onnx"):
        if not module_available("onnxruntime"):
            reasons.append("onnxruntime is not installed")
        elif not onnx.is_file():
            reasons.append(f"no {onnx.name} next to {path.name}")
        else:
            key = ("model", "onnx", str(path.resolve()), onnx.stat().st_mtime_ns)
            if key not in _CACHE:
                from ..ml.predictor import LearnedEstimator
                _CACHE[key] = LearnedEstimator.load(path, backend="onnx")
            est = _CACHE[key]
            return est, f"learned {est.doc.get('name', path.stem)!r}, onnxruntime", None
        if prefer == "onnx":
            raise BackendError(f"learned model {path.name} cannot run on ONNX Runtime: " + "; ".join(reasons))
    if module_available("torch") and module_available("safetensors"):
        key = ("model", "torch", str(path.resolve()), path.stat().st_mtime_ns)
        if key not in _CACHE:
            from ..ml.predictor import LearnedEstimator
            _CACHE[key] = LearnedEstimator.load(path, backend="torch")
        est = _CACHE[key]
        return est, f"learned {est.doc.get('name', path.stem)!r}, torch", ("; ".join(reasons) or None)
    reasons.append("torch/safetensors not installed")
    if prefer == "torch":
        raise BackendError(f"learned model {path.name} cannot run on torch: torch/safetensors not installed")
    return GEOMETRIC["sloth"](), "Sloth rule (numpy)", (
        f"learned model {path.name} not usable ({'; '.join(reasons)}): using the Sloth rule")


def _default_model() -> Path | None:
    """ml.registry.default_model_path(), else <paths.models_dir()>/deepx_default.json ($DEEPX_MODELS_DIR)."""
    from ..core.paths import models_dir
    from ..ml.registry import DEFAULT_MODEL_NAME, default_model_path
    p = default_model_path()
    if p is None and (models_dir() / f"{DEFAULT_MODEL_NAME}.json").is_file():
        p = models_dir() / f"{DEFAULT_MODEL_NAME}.json"
    return p


def clear_cache() -> None:
    _CACHE.clear()


# ---- geometry -------------------------------------------------------------------------------------
def project_true_keypoints(keypoints_world, R, t, K, width: int, height: int) -> np.ndarray:
    """(17, 3) pixels of the true keypoints with conf 1 when in front of the camera and inside the
    image, else 0 (x, y kept; (-1, -1) behind the camera)."""
    pw = np.asarray(keypoints_world, float).reshape(NUM_KEYPOINTS, 3)
    pc = pw @ np.asarray(R, float).T + np.asarray(t, float)
    out = np.zeros((NUM_KEYPOINTS, 3))
    out[:, :2] = -1.0
    front = pc[:, 2] > 1e-6
    if front.any():
        uv = pc[front] @ np.asarray(K, float).T
        out[front, :2] = uv[:, :2] / uv[:, 2:3]
    inside = front & (out[:, 0] >= 0) & (out[:, 0] <= width) & (out[:, 1] >= 0) & (out[:, 1] <= height)
    out[inside, 2] = 1.0
    return out


def pelvis_camera(keypoints_world, R, t) -> np.ndarray:
    """The true pelvis (mid-point of the hips) in the OpenCV camera frame."""
    pw = np.asarray(keypoints_world, float).reshape(NUM_KEYPOINTS, 3)
    pel = 0.5 * (pw[L_HIP] + pw[R_HIP])
    return np.asarray(R, float) @ pel + np.asarray(t, float)


def _r(v, n=4):
    return None if v is None else round(float(v), n)


def run(image_rgb, K, R, t, keypoints_world, detector, estimator, *, min_oks: float = MIN_OKS) -> dict:
    """Detect, match to the mannequin, estimate, compare with the truth. JSON-ready dict:

    ok (a distance was predicted), status ("ok" | "low_confidence" | "no_estimate" | "no_person"),
    message, predicted_m, depth_m, sigma_m, true_m, true_depth_m, error_m, rel_error, keypoints
    (17 x [x, y, conf] pixels of the matched detection), bbox [x1, y1, x2, y2], score, oks, n_people,
    true_keypoints (17 x [x, y, in_image]), image_size [W, H], K, R, t, timings_s {detect, estimate}."""
    img = np.asarray(image_rgb)
    H, W = img.shape[:2]
    K, R, t = (np.asarray(a, float) for a in (K, R, t))
    gt = project_true_keypoints(keypoints_world, R, t, K, W, H)
    pel = pelvis_camera(keypoints_world, R, t)
    true_m = float(np.linalg.norm(pel))
    out = {"ok": False, "status": "no_person", "message": "", "predicted_m": None, "depth_m": None,
           "sigma_m": None, "true_m": _r(true_m, 6), "true_depth_m": _r(pel[2], 6), "error_m": None,
           "rel_error": None, "keypoints": None, "bbox": None, "score": None, "oks": None, "n_people": 0,
           "true_keypoints": np.round(gt, 3).tolist(), "image_size": [int(W), int(H)],
           "K": K.tolist(), "R": R.tolist(), "t": t.tolist(), "timings_s": {}}
    if not (gt[:, 2] > 0).any():
        out["message"] = "the mannequin is not in the camera's view"
        return out
    t0 = time.perf_counter()
    dets = detector.detect(img, rgb=True)[0]
    out["timings_s"]["detect"] = round(time.perf_counter() - t0, 4)
    out["n_people"] = len(dets)
    if not dets:
        out["message"] = "the detector found no person in the render"
        return out
    from ..ml.detector import match_detections   # numpy only at import time
    m = match_detections(dets, [gt], min_oks=min_oks)
    if not m:
        out["message"] = f"the detector found {len(dets)} people but none matches the mannequin (OKS < {min_oks})"
        return out
    d = dets[m[0].det]
    out.update(keypoints=np.round(d.keypoints, 3).tolist(), bbox=[round(float(v), 2) for v in d.bbox],
               score=_r(d.score), oks=_r(m[0].oks))
    t0 = time.perf_counter()
    est = estimator.estimate(d.keypoints, K)
    out["timings_s"]["estimate"] = round(time.perf_counter() - t0, 4)
    out["status"] = est.status
    if not est.has_value:
        out["message"] = f"no estimate: {est.reason}"
        return out
    err = est.distance_m - true_m
    out.update(ok=True, predicted_m=_r(est.distance_m), depth_m=_r(est.depth_m), sigma_m=_r(est.sigma_m),
               error_m=_r(err), rel_error=_r(err / true_m, 5), message=est.reason or "")
    return out


def label(result: dict) -> str:
    """One line for the viewport and the panel: "pred 7.9 m ±0.4 | true 8.1 m"."""
    true = result.get("true_m")
    tail = f" | true {true:.1f} m" if true is not None else ""
    if not result.get("ok"):
        return f"no estimate{tail}"
    s = result.get("sigma_m")
    sig = f" ±{s:.1f}" if s is not None else ""
    return f"pred {result['predicted_m']:.1f} m{sig}{tail}"
