"""The learned model as an Estimator: ``LearnedEstimator.load("models/NAME.json")``.

Features are computed in numpy (features.py); the network runs in torch (``backend="torch"``, ml/model.py) or,
without torch, in ONNX Runtime (``backend="onnx"``, the .onnx written by ``export_onnx`` next to
the JSON) - what the in-Blender preview uses. torch is imported only by the torch backend.

Statuses: ``no_estimate`` (with the reason) when fewer than 4 keypoints are present or no torso /
leg bone is visible even counting keypoints below the confidence threshold; ``low_confidence``
when only keypoints below the threshold made an estimate possible, or the present keypoints' mean
confidence is below the model's ``low_conf``. ``sigma_m`` is the Laplace SD of the predicted log
distance times the distance.
"""
from __future__ import annotations

import importlib
import json
import math
from pathlib import Path

import numpy as np

from ..core.camera import Intrinsics
from ..core.estimators.base import LOW_CONFIDENCE, NO_ESTIMATE, OK, Estimate, Estimator, as_inputs, finish_many
from . import features as feat
from .threads import ort_session_options

# backend name -> (module relative to the package root, runner class); imported on first use.
# The torch runner (ml/model.py) is optional: absent from the Blender extension.
RUNNERS = {"onnx": ("runtime.model", "OnnxRunner"), "torch": ("ml.model", "TorchRunner")}
OPTIONAL_TORCH_BACKENDS = ("ml.model",)   # the layer test allows exactly these upward names


def auto_backend(json_path, onnx_path=None) -> str:
    """"onnx" when NAME.onnx (or onnx_path) exists and onnxruntime is installed, else "torch": the
    ONNX runner starts in ~0.1 s where importing torch takes seconds, and agrees with torch to ~1e-7
    relative (float32 rounding: 3 of 331 KITTI rows differ by 1 in the 4th decimal of a metre).
    ml/model.save_model deletes a NAME.onnx it would make stale."""
    import importlib.util

    p = Path(onnx_path) if onnx_path else Path(json_path).with_suffix(".onnx")
    return "onnx" if p.is_file() and importlib.util.find_spec("onnxruntime") is not None else "torch"


def runner_class(backend: str) -> type:
    """The runner registered as ``backend`` (ImportError when its runtime is missing)."""
    if backend not in RUNNERS:
        raise ValueError(f"backend must be 'torch' or 'onnx', got {backend!r}")
    module, cls = RUNNERS[backend]
    return getattr(importlib.import_module(f"{__package__.rsplit('.', 1)[0]}.{module}"), cls)

MODEL_FORMAT = "deepx-distance-model"
MODEL_FORMAT_VERSION = 1


def read_model_json(json_path) -> dict:
    json_path = Path(json_path)
    try:
        doc = json.loads(json_path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ValueError(f"cannot read model file {json_path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{json_path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    if doc.get("format") != MODEL_FORMAT:
        raise ValueError(f"{json_path}: not a DeepX model (format {doc.get('format')!r}, want {MODEL_FORMAT!r})")
    if doc.get("format_version") != MODEL_FORMAT_VERSION:
        raise ValueError(f"{json_path}: model format version {doc.get('format_version')} is not supported "
                         f"(this DeepX reads {MODEL_FORMAT_VERSION})")
    f = doc.get("features", {})
    v = f.get("version")
    if v not in feat.FEATURE_VERSIONS:
        raise ValueError(f"{json_path}: feature version {v} is not supported "
                         f"(this DeepX computes versions {', '.join(map(str, feat.FEATURE_VERSIONS))})")
    if f.get("bones") is not None and f["bones"] != feat.bones_table():
        raise ValueError(f"{json_path}: its bone table differs from feature version {v}'s")
    if f.get("n_features") != feat.n_features(v):
        raise ValueError(f"{json_path}: expects {f.get('n_features')} features, version "
                         f"{v} has {feat.n_features(v)}")
    if v >= 2 and f.get("px_scale_clip", feat.PX_SCALE_CLIP) != feat.PX_SCALE_CLIP:
        raise ValueError(f"{json_path}: its px_scale_clip differs from feature version {v}'s")
    return doc


class OnnxRunner:
    """The network in ONNX Runtime (NAME.onnx next to the JSON, written by export_onnx)."""

    def __init__(self, json_path, onnx_path=None):
        import onnxruntime as ort
        self.doc = read_model_json(json_path)
        p = Path(onnx_path) if onnx_path else Path(json_path).with_suffix(".onnx")
        if not p.exists():
            raise ValueError(f"ONNX file {p} not found (write it with LearnedEstimator.export_onnx)")
        self.sess = ort.InferenceSession(str(p), ort_session_options(1), providers=["CPUExecutionProvider"])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.sess.run(None, {"features": np.ascontiguousarray(x, np.float32)})[0].astype(float)


class LearnedEstimator(Estimator):
    def __init__(self, runner, doc: dict, path: Path | None = None):
        self.runner, self.doc, self.path = runner, doc, path
        f = doc["features"]
        self.min_conf = float(f["min_conf"])
        self.use_conf = bool(f.get("use_conf", True))
        self.feature_version = int(f["version"])
        self.low_conf = float(doc.get("runtime", {}).get("low_conf", 0.3))
        self.name = f"learned:{doc.get('name', 'model')}"

    @classmethod
    def load(cls, json_path, backend: str = "torch", onnx_path=None) -> "LearnedEstimator":
        """Load NAME.json (+ NAME.safetensors, or NAME.onnx for backend='onnx'; backend='auto':
        ONNX when its file and onnxruntime are there, else torch)."""
        json_path = Path(json_path)
        if backend == "auto":
            backend = auto_backend(json_path, onnx_path)
        cls_ = runner_class(backend)
        runner = cls_(json_path, onnx_path) if backend == "onnx" else cls_(json_path)
        return cls(runner, runner.doc, json_path)

    # ---- batched core -----------------------------------------------------------------------------
    def predict_arrays(self, keypoints, K) -> dict:
        """Vectorised: keypoints (n, 17, 3), K (3, 3) or (n, 3, 3) -> arrays (NaN where no estimate):
        distance_m, depth_m, sigma_m, t, log_b, status (str), reason (object), weak (bool: only
        keypoints below min_conf made it possible), plus the Features used."""
        kp = np.asarray(keypoints, float)
        if kp.ndim == 2:
            kp = kp[None]
        n = len(kp)
        K = feat._broadcast_K(K, n)
        F = feat.extract(kp, K, self.min_conf, self.use_conf, self.feature_version)
        weak = np.zeros(n, bool)
        retry = np.flatnonzero(~F.valid)
        if len(retry):   # fall back to every keypoint with confidence > 0, flagged low_confidence
            F0 = feat.extract(kp[retry], K[retry], 0.0, self.use_conf, self.feature_version)
            ok = retry[F0.valid]
            if len(ok):
                sub = np.flatnonzero(F0.valid)
                for name in ("x", "mask", "valid", "reason", "scale", "centre", "centre_px", "ray_len",
                             "n_present", "mean_conf"):
                    getattr(F, name)[ok] = getattr(F0, name)[sub]
                weak[ok] = True
        out = np.full((n, 2), np.nan)
        v = np.flatnonzero(F.valid)
        if len(v):
            out[v] = self.runner(F.x[v])
        t, log_b = out[:, 0], out[:, 1]
        depth = F.depth_from_target(t)
        dist = depth * F.ray_len
        sigma = math.sqrt(2.0) * np.exp(log_b) * dist
        status = np.where(F.valid, np.where(weak | (F.mean_conf < self.low_conf), LOW_CONFIDENCE, OK), NO_ESTIMATE)
        reason = np.full(n, None, dtype=object)
        for i in range(n):
            if not F.valid[i]:
                reason[i] = F.reason_text(i, self.min_conf)
            elif weak[i]:
                reason[i] = f"keypoints below confidence {self.min_conf:g} used"
            elif F.mean_conf[i] < self.low_conf:
                reason[i] = f"mean keypoint confidence {F.mean_conf[i]:.2f} < {self.low_conf:g}"
        return {"distance_m": dist, "depth_m": depth, "sigma_m": sigma, "t": t, "log_b": log_b,
                "status": status, "reason": reason, "weak": weak, "features": F}

    def estimate_arrays(self, keypoints, Ks) -> dict:
        """finish_many over predict_arrays: what estimate_batch returns, as arrays (streaming path)."""
        kp = np.asarray(keypoints, float)
        if kp.ndim == 2:
            kp = kp[None]
        Ks = feat._broadcast_K(Ks, len(kp))
        r = self.predict_arrays(kp, Ks)
        F = r["features"]
        # place the pelvis on the ray of the centre the features used: give finish_many the present
        # keypoints only, so that base.reference_pixels picks the same centre
        used = kp.copy()
        used[..., 2] = np.where(F.mask, used[..., 2], 0.0)
        with np.errstate(all="ignore"):
            rel_sigma = math.sqrt(2.0) * np.exp(r["log_b"])
        return finish_many(np.where(F.valid, r["depth_m"], np.nan), used, Ks, rel_sigma, r["status"], r["reason"])

    def estimate_batch(self, keypoints, Ks) -> list[Estimate]:
        r = self.estimate_arrays(keypoints, Ks)
        f = lambda v: None if not np.isfinite(v) else float(v)   # noqa: E731
        return [Estimate(f(d), f(z), f(s), str(st), rs, None if not np.isfinite(d) else tuple(map(float, p)))
                for d, z, s, st, rs, p in zip(r["distance_m"], r["depth_m"], r["sigma_m"], r["status"], r["reason"],
                                              r["position_m"])]

    # ---- Estimator interface ----------------------------------------------------------------------
    def estimate(self, keypoints, K) -> Estimate:
        kp, intr = as_inputs(keypoints, K)
        return self.estimate_batch(kp[None], intr.K[None])[0]

    def estimate_many(self, items) -> list[Estimate]:
        items = list(items)
        if not items:
            return []
        checked = [as_inputs(k, K) for k, K in items]
        return self.estimate_batch(np.stack([k for k, _ in checked]), np.stack([i.K for _, i in checked]))

    def describe(self) -> str:
        d = self.doc
        tr = d.get("training", {})
        m = d.get("metrics", {}).get("validation", {})
        n = tr.get("data", {}).get("n_samples")
        med = m.get("median_rel")
        a = d.get("architecture", {})
        parts = [f"learned model {d.get('name')!r} (features v{d['features']['version']}, "
                 f"{a.get('blocks')}x{a.get('hidden')} residual MLP"]
        if n:
            parts.append(f", trained on {n} samples")
        if med is not None:
            parts.append(f", validation median |rel. error| {100 * med:.1f}%")
        return "".join(parts) + ")"

    def export_onnx(self, path=None) -> Path:
        """Write the network as ONNX (default: NAME.onnx next to the JSON); needs the torch backend."""
        if not hasattr(self.runner, "export_onnx"):
            raise ValueError("export_onnx needs a model loaded with backend='torch'")
        if path is None:
            if self.path is None:
                raise ValueError("export_onnx: give a path (this model was not loaded from a file)")
            path = self.path.with_suffix(".onnx")
        return self.runner.export_onnx(path)

    @classmethod
    def from_net(cls, net, doc: dict) -> "LearnedEstimator":
        """Wrap an in-memory network (e.g. right after training) with its metadata."""
        return cls(runner_class("torch").from_net(net, doc), doc, None)

