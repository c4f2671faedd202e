"""The numbers of the in-Blender "predicted vs true distance" preview, without bpy and without torch.

``run(image, K, R, t, keypoints_world, detector, estimator)`` takes one rendered picture, the
camera that took it (OpenCV K and world -> camera R, t) and the mannequin's true 3D keypoints, and
returns a JSON-ready dict: the detected person matching the mannequin (OKS against the projected true
keypoints), the model's distance and sigma, the true camera-centre -> pelvis (mid-hip) distance and
the error. The Blender layer (blender/preview.py) renders the picture and reads the scene.

Backends are chosen by ``load_detector`` / ``load_distance_model`` and cached per process:

- detector ``auto``: YOLO11n-pose in ONNX Runtime (``runtime.pose_onnx``) when ``onnxruntime``
  imports and the ONNX file is found (``find_pose_onnx``), else Ultralytics on torch
  (``ml.detector.PoseDetector``, the optional torch backend of runtime/detector.py) when torch and ultralytics are installed, else ``BackendError``
  saying what is missing;
- distance model ``auto``: the shipped learned model (``core.paths.default_model_path()``) through
  ONNX Runtime when its ``.onnx`` sits next to the JSON, else through torch, else the Sloth rule
  (numpy) with a note saying why.

Nothing here imports torch unless the torch backend is chosen (``import deepx_addon.runtime.preview``
imports only numpy and deepx_addon modules that are torch-free at import time).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..core.estimators import GEOMETRIC
from ..core.keypoints import NUM_KEYPOINTS, pelvis_of
from ..core.paths import DEFAULT_MODEL_NAME, default_model_path
from .detections import match_detections
from .detector import BackendError, module_available
from .model import LearnedEstimator

MIN_OKS = 0.1
_CACHE: dict = {}    # loaded distance models, per process


def load_distance_model(model=None, prefer: str = "auto"):
    """(estimator, label, note). model: None/"default" (the shipped learned model, else Sloth),
    "sloth" (or another geometric name), or a model .json path. prefer: "auto", "onnx" or "torch"
    for a learned model. ``note`` explains a fallback (or is None)."""

    if prefer not in ("auto", "onnx", "torch"):
        raise ValueError(f"model backend must be 'auto', 'onnx' or 'torch', got {prefer!r}")
    if isinstance(model, str) and model in GEOMETRIC:
        return GEOMETRIC[model](), f"{model} rule (numpy)", None
    path = default_model_path() if model in (None, "default") else Path(model)
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
                _CACHE[key] = LearnedEstimator.load(path, backend="onnx")
            est = _CACHE[key]
            return est, f"learned {est.doc.get('name', path.stem)!r}, onnxruntime", None
        if prefer == "onnx":
            raise BackendError(f"learned model {path.name} cannot run on ONNX Runtime: " + "; ".join(reasons))
    if module_available("torch") and module_available("safetensors"):
        key = ("model", "torch", str(path.resolve()), path.stat().st_mtime_ns)
        if key not in _CACHE:
            _CACHE[key] = LearnedEstimator.load(path, backend="torch")
        est = _CACHE[key]
        return est, f"learned {est.doc.get('name', path.stem)!r}, torch", ("; ".join(reasons) or None)
    reasons.append("torch/safetensors not installed")
    if prefer == "torch":
        raise BackendError(f"learned model {path.name} cannot run on torch: torch/safetensors not installed")
    return GEOMETRIC["sloth"](), "Sloth rule (numpy)", (
        f"learned model {path.name} not usable ({'; '.join(reasons)}): using the Sloth rule")


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
    pel = pelvis_of(pw)
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
