"""The keypoints -> distance network (torch) and its file format (safetensors + JSON, no pickles).

``DistanceNet``: standardise the feature vector (constants stored as buffers), a linear stem,
``blocks`` pre-LayerNorm residual MLP blocks of width ``hidden``, and a head with two outputs per
person: ``t`` (see features.py: log(distance * s / ray_len)) and ``log_b``, the log scale of a
Laplace distribution over ``t``. Since ``t`` differs from log(distance) by a known offset, the
Laplace negative log-likelihood is one on log distance: a relative error.

A saved model is two files side by side: ``NAME.safetensors`` (weights and buffers) and
``NAME.json`` (architecture, feature spec, normalisation constants, training recipe, metrics).
"""
from __future__ import annotations

import hashlib
import json
import math
import warnings
from pathlib import Path

import torch
from torch import nn

from ..core.records import atomic_write_bytes
from ..runtime import features as feat
from ..runtime.model import MODEL_FORMAT, MODEL_FORMAT_VERSION, read_model_json

LOG_B_MIN, LOG_B_MAX = -7.0, 3.0


class Block(nn.Module):
    def __init__(self, width: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)
        self.drop = nn.Dropout(dropout)

    def forward(self, h):
        return h + self.fc2(self.drop(torch.relu(self.fc1(self.norm(h)))))


class DistanceNet(nn.Module):
    def __init__(self, n_in: int = feat.N_FEATURES, hidden: int = 256, blocks: int = 3, dropout: float = 0.0):
        super().__init__()
        self.arch = {"type": "DistanceNet", "n_in": int(n_in), "hidden": int(hidden), "blocks": int(blocks),
                     "dropout": float(dropout), "outputs": ["t", "log_b"]}
        self.register_buffer("x_mean", torch.zeros(n_in))
        self.register_buffer("x_std", torch.ones(n_in))
        self.register_buffer("t_mean", torch.zeros(()))
        self.register_buffer("t_std", torch.ones(()))
        self.stem = nn.Linear(n_in, hidden)
        self.blocks = nn.ModuleList([Block(hidden, dropout) for _ in range(blocks)])
        self.norm = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, 2)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def set_normalisation(self, x_mean, x_std, t_mean: float, t_std: float) -> None:
        x_std = torch.as_tensor(x_std, dtype=torch.float32)
        self.x_mean.copy_(torch.as_tensor(x_mean, dtype=torch.float32))
        self.x_std.copy_(torch.where(x_std > 1e-6, x_std, torch.ones_like(x_std)))
        self.t_mean.fill_(float(t_mean))
        self.t_std.fill_(max(float(t_std), 1e-6))

    def forward(self, x):
        """x (n, n_in) features -> (n, 2): t and log_b (both in units of t)."""
        h = self.stem((x - self.x_mean) / self.x_std)
        for blk in self.blocks:
            h = blk(h)
        o = self.head(torch.relu(self.norm(h)))
        t = o[:, 0] * self.t_std + self.t_mean
        log_b = torch.clamp(o[:, 1] + torch.log(self.t_std), LOG_B_MIN, LOG_B_MAX)
        return torch.stack([t, log_b], 1)


def laplace_nll(out, t_true):
    """Mean Laplace negative log-likelihood of t_true under out = (t, log_b)."""
    t, log_b = out[:, 0], out[:, 1]
    return (log_b + math.log(2.0) + torch.abs(t_true - t) * torch.exp(-log_b)).mean()


# ---- files ------------------------------------------------------------------------------------------


def model_paths(stem) -> tuple[Path, Path]:
    """models/NAME (with or without .json) -> (NAME.json, NAME.safetensors)."""
    stem = Path(stem)
    if stem.suffix in (".json", ".safetensors"):
        stem = stem.with_suffix("")
    return stem.with_name(stem.name + ".json"), stem.with_name(stem.name + ".safetensors")


def save_model(net: DistanceNet, stem, meta: dict) -> Path:
    """Write NAME.safetensors then NAME.json (each atomically); returns the JSON path. A NAME.onnx
    already there holds other weights: it is removed (the runtime would prefer it; export again)."""
    from safetensors.torch import save as st_save

    json_path, st_path = model_paths(stem)
    json_path.with_suffix(".onnx").unlink(missing_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
    blob = st_save(tensors, metadata={"format": MODEL_FORMAT, "json": json_path.name})
    atomic_write_bytes(st_path, blob)
    doc = {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION, "name": json_path.stem,
           "weights": st_path.name, "weights_sha256": hashlib.sha256(blob).hexdigest(),
           "architecture": net.arch,
           "normalisation": {"x_mean": net.x_mean.tolist(), "x_std": net.x_std.tolist(),
                             "t_mean": float(net.t_mean), "t_std": float(net.t_std)},
           **meta}
    from ..core.records import atomic_write_text
    atomic_write_text(json_path, json.dumps(doc, indent=1, allow_nan=False) + "\n")
    return json_path


def load_model(json_path) -> tuple[DistanceNet, dict]:
    """Rebuild the network from NAME.json + NAME.safetensors (checksum verified)."""
    from safetensors.torch import load as st_load

    json_path = Path(json_path)
    doc = read_model_json(json_path)
    st_path = json_path.with_name(doc.get("weights") or json_path.stem + ".safetensors")
    try:
        blob = st_path.read_bytes()
    except OSError as e:
        raise ValueError(f"model weights {st_path} (named by {json_path}): {e.strerror}") from None
    sha = doc.get("weights_sha256")
    if sha and hashlib.sha256(blob).hexdigest() != sha:
        raise ValueError(f"{st_path}: checksum differs from {json_path} (weights replaced or damaged)")
    a = doc["architecture"]
    if a.get("type") != "DistanceNet":
        raise ValueError(f"{json_path}: unknown architecture {a.get('type')!r}")
    net = DistanceNet(a["n_in"], a["hidden"], a["blocks"], a.get("dropout", 0.0))
    state = st_load(blob)
    missing = set(net.state_dict()) ^ set(state)
    if missing:
        raise ValueError(f"{st_path}: tensors do not match the architecture in {json_path}: {sorted(missing)[:5]}")
    net.load_state_dict(state)
    net.eval()
    return net, doc


def export_onnx(net: DistanceNet, path) -> Path:
    """The network alone (features -> t, log_b) as ONNX with a dynamic batch axis, atomically."""
    import io

    net = net.eval()
    buf = io.BytesIO()
    dummy = torch.zeros(2, net.arch["n_in"])
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # the legacy exporter: no onnxscript needed
        torch.onnx.export(net, (dummy,), buf, input_names=["features"], output_names=["t_logb"],
                          dynamic_axes={"features": {0: "n"}, "t_logb": {0: "n"}}, opset_version=17,
                          dynamo=False)
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path


class TorchRunner:
    """The network in torch: the ``torch`` runner of runtime/model.py's table."""

    def __init__(self, json_path):
        self.net, self.doc = load_model(json_path)

    @classmethod
    def from_net(cls, net, doc: dict) -> "TorchRunner":
        runner = cls.__new__(cls)
        runner.net, runner.doc = net.eval(), doc
        return runner

    def __call__(self, x):
        import numpy as np
        with torch.no_grad():
            return self.net(torch.from_numpy(np.ascontiguousarray(x, np.float32))).numpy().astype(float)

    def export_onnx(self, path) -> Path:
        return export_onnx(self.net, path)
