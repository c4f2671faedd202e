"""Training the keypoints -> distance model: config, data, one readable loop, curve, saving.

    data = load_data(["runs/samples/"])                 # or TrainData.from_arrays(...)
    result = train(data, TrainConfig(steps=3000))
    save_result(result, "models/my_model")              # my_model.json/.safetensors/_curve.png

Each step draws a batch of clean projected keypoints, mirrors half of them (a mirrored world is
as real as the original), passes them through the detector noise model (core/noise.py), turns them
into features (features.py, numpy) and takes an AdamW step on the Laplace NLL of
t = log(distance * s / ray_len). Fresh noise every step means the network never sees the same
corrupted person twice. A fixed validation split (noise drawn once) gives the curve. Deterministic
on CPU for a given seed, data and thread count.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import random
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from ..core.keypoints import FLIP_INDEX, NUM_KEYPOINTS, drop_hips
from ..core.noise import DetectorNoiseModel, person_height_px
from ..core.noise_family import apply_noise, load_noise_model, relative_yaw_deg, view_of, view_of_row
from ..core.progress import ProgressBar
from ..runtime import features as feat
from .model import DistanceNet, laplace_nll, model_paths, save_model
from .step_threads import StepThreads

FOREACH = True    # AdamW and gradient clipping through torch's foreach ops (False: the loop of 2 Dec 04:31)


@dataclass
class TrainConfig:
    hidden: int = 256               # width of the residual MLP
    blocks: int = 3                 # residual blocks
    dropout: float = 0.0
    lr: float = 2e-3                # AdamW peak learning rate
    weight_decay: float = 1e-4
    steps: int = 400                # ~3 min on 2 free CPU cores at the default size (3.3 M samples seen)
    batch_size: int = 8192
    warmup_frac: float = 0.03       # linear warm-up, then cosine decay to lr * min_lr_frac
    min_lr_frac: float = 0.02
    grad_clip: float = 1.0
    val_fraction: float = 0.02
    val_max: int = 50_000
    eval_every: int = 25
    seed: int = 0
    threads: int = 2                # torch.set_num_threads (results depend on it; ops between the
                                    # matmuls run on 1 thread when faster: ml/step_threads.py)
    noise: bool = True              # corrupt clean keypoints with the detector noise model
    noise_model: str = ""           # noise model JSON (any load_noise_model reads); "" = the default guess
    flip: bool = True               # mirror half of each batch (left/right swapped, x mirrored)
    feature_version: int = feat.FEATURE_VERSION
    min_conf: float = feat.DEFAULT_MIN_CONF
    use_conf: bool = False          # feed confidences (True) or only the keypoint mask (see features.extract)
    min_person_px: float = 16.0     # drop clean samples smaller than this: the detector finds 1 in 3 of them
    detector_fraction: float = 0.0  # share of each batch drawn from detector-output rows (each used once per pass)
    detector_max_repeats: float = 0.0   # > 0: use each detector row at most this many times (lowers the share)
    detector_rotate_deg: float = 0.0    # > 0: turn the camera about its centre by N(0, this) deg per axis for
                                        # every detector row drawn (same distance, new keypoints: no row repeats)
    hip_drop: float = 0.0           # > 0: move both hips this share of the keypoints' box down the torso in
                                    # every training input (after the noise model): train for a detector that
                                    # reads hips lower than YOLO reads rendered ones (COCO's convention, README)
    low_conf: float = 0.3           # runtime: mean confidence below this -> status low_confidence
    init_model: str = ""            # start from this model's weights and normalisation (fine-tuning);
                                    # its architecture replaces hidden/blocks/dropout, its feature_version too
    probe_rows: int = 100_000       # training rows that set the input normalisation
    stream_buffer: int = 1_000_000  # train_stream: rows held at once (the shuffle buffer)

    def validate(self) -> None:
        if self.feature_version not in feat.FEATURE_VERSIONS:
            raise ValueError(f"TrainConfig.feature_version {self.feature_version} unsupported "
                             f"(have {', '.join(map(str, feat.FEATURE_VERSIONS))})")
        for name in ("hidden", "blocks", "steps", "batch_size", "eval_every", "threads", "probe_rows", "stream_buffer"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"TrainConfig.val_fraction must be in (0, 1), got {self.val_fraction}")
        if not 0 <= self.detector_fraction < 1:
            raise ValueError(f"TrainConfig.detector_fraction must be in [0, 1), got {self.detector_fraction}")
        if self.detector_max_repeats < 0 or self.detector_rotate_deg < 0:
            raise ValueError("TrainConfig.detector_max_repeats and detector_rotate_deg must be >= 0")
        if not -0.1 <= self.hip_drop <= 0.1:
            raise ValueError(f"TrainConfig.hip_drop is a share of the person's size in [-0.1, 0.1], got {self.hip_drop}")
        if self.lr <= 0 or self.weight_decay < 0 or not 0 <= self.dropout < 1:
            raise ValueError("TrainConfig: need lr > 0, weight_decay >= 0, 0 <= dropout < 1")

    def update(self, items: list[str]) -> "TrainConfig":
        """Apply 'key=value' strings (types follow the defaults); raises ValueError naming the key."""
        known = {f.name: f for f in fields(self)}
        for item in items:
            key, sep, value = item.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or key not in known:
                raise ValueError(f"--config {item!r}: expected key=value with key one of {', '.join(known)}")
            cur = getattr(self, key)
            try:
                if isinstance(cur, bool):
                    if value.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                        raise ValueError
                    new = value.lower() in ("1", "true", "yes", "on")
                elif isinstance(cur, int):
                    new = int(float(value)) if float(value).is_integer() else int(value)
                elif isinstance(cur, float):
                    new = float(value)
                else:
                    new = value
            except ValueError:
                raise ValueError(f"--config {item!r}: {key} needs a {type(cur).__name__}") from None
            setattr(self, key, new)
        self.validate()
        return self


def set_seed(seed: int) -> None:
    """Seed python, numpy's legacy global RNG and torch (CPU); make torch deterministic."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    # deterministic mode also fills every new tensor with NaN (to expose reads of uninitialised
    # memory); no kernel here reads one, the weights are bit-identical without it, and the fill
    # was 7 % of a training step (torch profiler: aten::fill_ under aten::empty)
    torch.utils.deterministic.fill_uninitialized_memory = False


# ---- data ---------------------------------------------------------------------------------------------
@dataclass
class TrainData:
    """Arrays for training. ``clean`` rows are exact projections (keypoints_2d[..., 2] = visibility,
    > 0 = seen) that the noise model corrupts; other rows are detector output (conf) used as is."""
    keypoints_2d: np.ndarray      # (n, 17, 3) float32
    K: np.ndarray                 # (n, 3, 3)
    distance_m: np.ndarray        # (n,)
    depth_m: np.ndarray           # (n,) NaN where unknown
    family: np.ndarray            # (n,) str
    clean: np.ndarray             # (n,) bool
    view: np.ndarray              # (n,) str: front / side / back / unknown (noise_family.view_of)
    sources: list = field(default_factory=list)   # recipe: one dict per input file

    def __len__(self) -> int:
        return len(self.distance_m)

    @classmethod
    def from_arrays(cls, keypoints_2d, K, distance_m, depth_m=None, family=None, clean=True,
                    source: str = "arrays", view=None) -> "TrainData":
        kp = np.asarray(keypoints_2d, np.float32)
        n = len(kp)

        def fail(name, msg):
            raise ValueError(f"{source}: field '{name}': {msg}")
        if kp.shape != (n, NUM_KEYPOINTS, 3):
            fail("keypoints_2d", f"must be (n, 17, 3), got {kp.shape}")
        K = np.asarray(K, float)
        if K.shape == (3, 3):
            K = np.broadcast_to(K, (n, 3, 3))
        if K.shape != (n, 3, 3):
            fail("K", f"must be (n, 3, 3) or (3, 3), got {K.shape}")
        dist = np.asarray(distance_m, float).reshape(-1)
        if dist.shape != (n,):
            fail("distance_m", f"must have {n} rows, got {dist.shape}")
        for name, arr in (("keypoints_2d", kp), ("K", K), ("distance_m", dist)):
            bad = np.argwhere(~np.isfinite(arr))
            if len(bad):
                fail(name, f"row {bad[0][0]} is not finite")
        if np.any(dist <= 0):
            fail("distance_m", f"row {int(np.argmax(dist <= 0))} is <= 0")
        if np.any(K[:, 0, 0] <= 0) or np.any(K[:, 1, 1] <= 0):
            fail("K", "fx and fy must be > 0")
        depth = np.full(n, np.nan) if depth_m is None else np.asarray(depth_m, float).reshape(n)
        fam = np.full(n, "unknown") if family is None else np.asarray(family, dtype=str).reshape(n)
        clean = np.broadcast_to(np.asarray(clean, bool), (n,)).copy()
        view = np.full(n, "unknown") if view is None else np.asarray(view, dtype=str).reshape(n)
        return cls(kp, np.ascontiguousarray(K), dist, depth, fam, clean, view,
                   [{"source": source, "n": n, "clean": bool(clean.all()) if n else True}])

    @staticmethod
    def concat(parts: list["TrainData"]) -> "TrainData":
        if not parts:
            raise ValueError("no training data")
        return TrainData(*(np.concatenate([getattr(p, k) for p in parts]) for k in
                           ("keypoints_2d", "K", "distance_m", "depth_m", "family", "clean", "view")),
                         sources=[s for p in parts for s in p.sources])

    def subset(self, idx) -> "TrainData":
        return TrainData(self.keypoints_2d[idx], self.K[idx], self.distance_m[idx], self.depth_m[idx],
                         self.family[idx], self.clean[idx], self.view[idx], list(self.sources))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_npz(path, recipe: bool = True) -> TrainData:
    """A sampler chunk (SampleBatch npz: keypoints_2d, K, distance_m, depth_m, family, ...);
    ``recipe=False`` skips the file's hash and meta (streaming re-reads every part each epoch)."""
    path = Path(path)
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: cannot read as .npz ({e})") from None
    with z:
        for key in ("keypoints_2d", "K", "distance_m"):
            if key not in z.files:
                raise ValueError(f"{path}: missing array '{key}' (has {', '.join(z.files)})")
        d = TrainData.from_arrays(z["keypoints_2d"], z["K"], z["distance_m"],
                                  z["depth_m"] if "depth_m" in z.files else None,
                                  z["family"] if "family" in z.files else None, True, str(path),
                                  _npz_view(z))
        meta = None
        if not recipe:
            return d
        if "meta" in z.files:
            try:
                meta = json.loads(str(z["meta"]))
            except (ValueError, TypeError):
                meta = str(z["meta"])[:2000]
    d.sources[0].update({"sha256": _sha256(path), "meta": meta})
    return d


def _npz_view(z):
    """Views of a sampler chunk's people (noise_family.relative_yaw_deg), None if it lacks the arrays."""
    if "keypoints_3d_cam" in z.files and "camera__R" in z.files:
        return view_of(relative_yaw_deg(z["keypoints_3d_cam"], z["camera__R"]))
    return None


def load_jsonl(path) -> TrainData:
    """Detector keypoints with ground truth (the evaluation JSONL format); used without noise."""
    from ..core.records import read_jsonl
    recs = read_jsonl(path)
    recs = [r for r in recs if r.distance_m is not None]
    if not recs:
        raise ValueError(f"{path}: no row with distance_m")
    d = TrainData.from_arrays(np.stack([r.keypoints for r in recs]), np.stack([r.K for r in recs]),
                              [r.distance_m for r in recs],
                              [np.nan if r.depth_m is None else r.depth_m for r in recs],
                              [r.extra.get("family") or r.source or "jsonl" for r in recs], False, str(path),
                              [view_of_row(r.extra) for r in recs])
    d.sources[0]["sha256"] = _sha256(Path(path))
    return d


def data_files(paths) -> list[Path]:
    """npz chunks, folders of them (sorted), or keypoint JSONL files, in order."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.glob("*.npz")) or sorted(p.rglob("*.npz"))
            if not found:
                raise ValueError(f"{p}: folder has no .npz files")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise ValueError(f"{p}: no such file or folder")
    return files


def load_data(paths) -> TrainData:
    """npz chunks, folders of them (sorted), or keypoint JSONL files with distance_m."""
    return TrainData.concat([load_jsonl(f) if f.suffix == ".jsonl" else load_npz(f) for f in data_files(paths)])


# ---- batches ------------------------------------------------------------------------------------------
def mirror(kp: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Mirror keypoints about the principal point's vertical line (x_n -> -x_n), swapping L/R."""
    out = kp[:, list(FLIP_INDEX)].copy()
    out[..., 0] = np.where(out[..., 2] > 0, 2 * K[:, 0, 2, None] - out[..., 0], 0.0)
    return out


def rotate_camera(kp: np.ndarray, K: np.ndarray, angles_deg: np.ndarray) -> np.ndarray:
    """Keypoints (n, 17, 3) as seen after turning each camera about its own centre by (pan, tilt,
    roll) degrees (n, 3): x -> K R K^-1 x. The camera does not move, so the distance to every point
    stays the same; the person moves in the frame and is seen under a new angle. Missing keypoints
    (conf 0) stay missing."""
    a = np.radians(angles_deg)
    c, s = np.cos(a), np.sin(a)
    one, zero = np.ones(len(a)), np.zeros(len(a))
    Ry = np.stack([c[:, 0], zero, s[:, 0], zero, one, zero, -s[:, 0], zero, c[:, 0]], -1).reshape(-1, 3, 3)
    Rx = np.stack([one, zero, zero, zero, c[:, 1], -s[:, 1], zero, s[:, 1], c[:, 1]], -1).reshape(-1, 3, 3)
    Rz = np.stack([c[:, 2], -s[:, 2], zero, s[:, 2], c[:, 2], zero, zero, zero, one], -1).reshape(-1, 3, 3)
    H = K @ Rz @ Rx @ Ry @ np.linalg.inv(K)
    x = np.concatenate([kp[..., :2], np.ones(kp.shape[:2] + (1,))], -1) @ np.swapaxes(H, 1, 2)
    out = kp.copy()
    seen = kp[..., 2] > 0
    out[..., :2] = np.where(seen[..., None], x[..., :2] / x[..., 2:3], 0.0)
    return out


def prepare(data: TrainData, idx, rng: np.random.Generator, cfg: TrainConfig,
            noise, flip: bool):
    """Rows idx -> (features (m, F) float32, targets (m,), kept row indices into idx)."""
    kp = data.keypoints_2d[idx].astype(float)
    K = data.K[idx]
    if cfg.detector_rotate_deg > 0 and not data.clean[idx].all():
        d = ~data.clean[idx]
        kp[d] = rotate_camera(kp[d], K[d], rng.normal(0.0, cfg.detector_rotate_deg, (int(d.sum()), 3)))
    if flip:
        f = rng.random(len(idx)) < 0.5
        kp[f] = mirror(kp[f], K[f])
    clean = data.clean[idx]
    if clean.any():
        c = kp[clean]
        vis = c[..., 2] > 0
        if noise is not None:
            # the no-render cameras have their principal point at the image centre: size = 2 (cx, cy)
            kp[clean] = apply_noise(noise, rng, c, vis, person_height_px(c, vis), data.family[idx][clean],
                                    data.view[idx][clean], dtype=np.float64, image_size=2.0 * K[clean][:, :2, 2])
        else:
            kp[clean, :, 2] = vis.astype(float)
    if cfg.hip_drop:
        kp = drop_hips(kp, cfg.hip_drop, person_height_px(kp))
    F = feat.extract(kp, K, cfg.min_conf, cfg.use_conf, cfg.feature_version)
    keep = np.flatnonzero(F.valid)
    return F.x[keep], F.target(data.distance_m[idx])[keep].astype(np.float32), keep


# ---- training -----------------------------------------------------------------------------------------
@dataclass
class TrainResult:
    net: DistanceNet
    config: TrainConfig
    history: dict
    metrics: dict
    data_recipe: dict
    wall_s: float
    noise_model: dict | None
    loop_s: float = 0.0          # the training steps alone (wall_s also holds data preparation)
    threads_between: list = field(default_factory=list)   # (step, threads between the matmuls) per probe


def evaluate(net: DistanceNet, x: np.ndarray, t: np.ndarray, families=None, chunk: int = 65536) -> dict:
    """NLL and relative distance errors of predictions on prepared features."""
    net.eval()
    outs = []
    with torch.no_grad():
        for s in range(0, len(x), chunk):
            outs.append(net(torch.from_numpy(x[s:s + chunk])).numpy())
    out = np.concatenate(outs) if outs else np.zeros((0, 2), np.float32)
    dt = out[:, 0].astype(float) - t
    b = np.exp(out[:, 1].astype(float))
    rel = np.expm1(dt)
    m = {"n": int(len(t)),
         "nll": float(np.mean(np.log(2 * b) + np.abs(dt) / b)) if len(t) else None,
         "median_rel": float(np.median(np.abs(rel))) if len(t) else None,
         "mean_rel": float(np.mean(np.abs(rel))) if len(t) else None,
         "p90_rel": float(np.percentile(np.abs(rel), 90)) if len(t) else None,
         "bias_rel": float(np.mean(rel)) if len(t) else None,
         # Laplace: |error| <= sigma = sqrt(2) b holds with probability 1 - exp(-sqrt(2)) = 0.757
         "within_1sigma": float(np.mean(np.abs(dt) <= math.sqrt(2) * b)) if len(t) else None,
         "median_sigma_rel": float(np.median(math.sqrt(2) * b)) if len(t) else None}
    if families is not None and len(t):
        m["median_rel_by_family"] = {str(f): float(np.median(np.abs(rel[families == f])))
                                     for f in sorted(set(families.tolist()))}
    return m


def prefetch(gen, depth: int = 2):
    """Iterate ``gen`` in a background thread, up to ``depth`` items ahead (numpy and torch release
    the GIL in their kernels, so preparing the next batch overlaps training on this one). An
    exception in ``gen`` is raised here; leaving the loop early stops the thread."""
    import queue

    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work():
        _lower_thread_priority()
        try:
            for item in gen:
                if not put(item):
                    return
            put(done)
        except BaseException as e:   # noqa: BLE001 - handed to the consumer
            put(e)

    t = threading.Thread(target=work, name="deepx-prefetch", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        t.join(timeout=5)


def _lower_thread_priority(nice: int = 10) -> None:
    """Give the calling thread a lower priority (Linux: nice is per thread). The prefetch thread then
    runs mostly when a core would idle (the gaps between torch's parallel regions) instead of
    taking a core from torch's threads, whose every parallel region waits for the slowest one."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0) + nice)
    except (AttributeError, OSError):     # not Linux, or not allowed: run at the same priority
        pass


def _lr_lambda(cfg: TrainConfig):
    warm = max(1, int(cfg.warmup_frac * cfg.steps))

    def f(step):
        if step < warm:
            return (step + 1) / warm
        p = (step - warm) / max(1, cfg.steps - warm)
        return cfg.min_lr_frac + (1 - cfg.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * min(p, 1.0)))
    return f


def _start(cfg: TrainConfig | None, log):
    """Validated config, log stream, the four RNGs (split, normalisation, validation, training) and
    the noise model; seeds everything."""
    cfg = cfg or TrainConfig()
    cfg.validate()
    if cfg.init_model:      # a fine-tune computes the features of the model it starts from
        from ..runtime.model import read_model_json
        cfg.feature_version = int(read_model_json(cfg.init_model)["features"]["version"])
    torch.set_num_threads(cfg.threads)
    set_seed(cfg.seed)
    ss = np.random.SeedSequence(cfg.seed)
    rngs = tuple(np.random.default_rng(s) for s in ss.spawn(4))
    noise = None
    if cfg.noise:
        noise = load_noise_model(cfg.noise_model) if cfg.noise_model else DetectorNoiseModel.default()
    return cfg, log or sys.stderr, rngs, noise


def _drop_small(data: TrainData, cfg: TrainConfig, log) -> TrainData:
    """Leave out clean samples under cfg.min_person_px (the detector finds 1 in 3 of them)."""
    small = _small_mask(data, cfg)
    if small.any():
        print(f"train: {int(small.sum())} of {len(data)} samples under {cfg.min_person_px:g} px left out", file=log)
        data = data.subset(np.flatnonzero(~small))
    return data


def _memory_batches(data: TrainData, train_idx, cfg: TrainConfig, rng, log):
    """Endless (data, rows, epoch) batches of an in-memory dataset: shuffled epochs; detector-output
    rows (real detections of rendered people, used as they are) are few next to the noise-model
    samples, so detector_fraction mixes a fixed share of them into every batch."""
    det_train = train_idx[~data.clean[train_idx]]
    n_det = int(round(cfg.detector_fraction * cfg.batch_size)) if len(det_train) else 0
    if n_det and cfg.detector_max_repeats > 0:
        n_det = min(n_det, int(cfg.detector_max_repeats * len(det_train) / cfg.steps))
        print(f"train: {n_det} detector rows per batch ({len(det_train)} rows, each used <= "
              f"{cfg.detector_max_repeats:g} times)", file=log)
    pool = train_idx[data.clean[train_idx]] if n_det else train_idx
    det_order, det_pos = np.empty(0, np.int64), 0
    order, pos, epoch = np.empty(0, np.int64), 0, 0
    while True:
        if pos + cfg.batch_size - n_det > len(order):
            order, pos, epoch = rng.permutation(pool), 0, epoch + 1
        idx = order[pos:pos + cfg.batch_size - n_det]
        pos += cfg.batch_size - n_det
        if n_det:
            if det_pos + n_det > len(det_order):       # every detector row once per pass
                det_order, det_pos = np.concatenate([det_order[det_pos:], rng.permutation(det_train)]), 0
            idx = np.concatenate([idx, det_order[det_pos:det_pos + n_det]])
            det_pos += n_det
        yield data, np.sort(idx), epoch


def _fit(cfg, log, progress, noise, rng_train, x_val, t_val, x_p, t_p, batches):
    """The training loop shared by train and train_stream: (net, history, seconds of the loop,
    the thread counts between the matmuls that StepThreads chose)."""
    if cfg.init_model:
        from .model import load_model
        net, _ = load_model(cfg.init_model)
        cfg.hidden, cfg.blocks, cfg.dropout = net.arch["hidden"], net.arch["blocks"], net.arch["dropout"]
    else:
        net = DistanceNet(feat.n_features(cfg.feature_version), cfg.hidden, cfg.blocks, cfg.dropout)
        net.set_normalisation(x_p.mean(0), x_p.std(0), float(t_p.mean()), float(t_p.std()))
    # foreach: the same per-tensor arithmetic as the for-loop AdamW (identical weights), fewer calls
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=FOREACH)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg))
    hist = {"step": [], "train_nll": [], "val_step": [], "val_nll": [], "val_median_rel": [], "lr": []}
    bar = ProgressBar(cfg.steps, "train", log) if progress else None

    def prepared():
        """(step, epoch, features, targets) in step order; the only user of rng_train."""
        for step in range(1, cfg.steps + 1):
            data, idx, epoch = next(batches)
            xb, tb, _ = prepare(data, idx, rng_train, cfg, noise, flip=cfg.flip)
            yield step, epoch, xb, tb

    ema = None
    t_loop = time.time()
    # the next batches are prepared (numpy: noise, features) in a thread while torch trains on this
    # one; one producer in step order draws the same random numbers: results are unchanged
    with StepThreads(net, cfg.threads) as threads:
        for step, epoch, xb, tb in prefetch(prepared(), depth=2):
            if len(tb) == 0:
                continue
            net.train()
            with threads.step(timed=True):   # one thread between the matmuls if faster (step_threads.py)
                out = net(torch.from_numpy(xb))
                with threads.all_threads():   # the mean is a sum: split per thread over > 32k rows
                    loss = laplace_nll(out, torch.from_numpy(tb))
                opt.zero_grad(set_to_none=True)
                loss.backward()
            with threads.step():
                if cfg.grad_clip > 0:    # clip_grad_norm_ in two: the norm (a sum) on all threads
                    with threads.all_threads():
                        norm = torch.nn.utils.get_total_norm(
                            [p.grad for p in net.parameters() if p.grad is not None], foreach=FOREACH)
                    torch.nn.utils.clip_grads_with_norm_(net.parameters(), cfg.grad_clip, norm, foreach=FOREACH)
                opt.step()
            sched.step()
            li = float(loss.detach())
            ema = li if ema is None else 0.95 * ema + 0.05 * li
            hist["step"].append(step)
            hist["train_nll"].append(li)
            hist["lr"].append(float(opt.param_groups[0]["lr"]))
            if step % cfg.eval_every == 0 or step == cfg.steps or step == 1:
                with threads.step():
                    vm = evaluate(net, x_val, t_val)
                hist["val_step"].append(step)
                hist["val_nll"].append(vm["nll"])
                hist["val_median_rel"].append(vm["median_rel"])
            if bar:
                v = f" val {hist['val_nll'][-1]:.3f} ({100 * hist['val_median_rel'][-1]:.1f}%)" if hist["val_nll"] else ""
                bar.update(step, f"loss {ema:.3f}{v} ep {epoch}")
    if bar:
        bar.close()
    return net, hist, time.time() - t_loop, threads.choices


def _metrics(net, x_val, t_val, fam_val, n_val_rows, hist) -> dict:
    metrics = evaluate(net, x_val, t_val, fam_val)
    metrics["coverage"] = float(len(t_val) / max(n_val_rows, 1))
    metrics["initial_val_nll"] = hist["val_nll"][0] if hist["val_nll"] else None
    net.eval()
    return metrics


def train(data: TrainData, cfg: TrainConfig | None = None, log=None, progress: bool = True) -> TrainResult:
    """Train a DistanceNet on data with cfg; returns the network, curve and validation metrics."""
    t0 = time.time()
    cfg, log, (rng_split, rng_norm, rng_val, rng_train), noise = _start(cfg, log)
    data = _drop_small(data, cfg, log)
    n = len(data)
    n_val = int(min(cfg.val_max, max(1, round(cfg.val_fraction * n))))
    if n - n_val < 1:
        raise ValueError(f"need more than {n_val} samples to train (got {n})")
    perm = rng_split.permutation(n)
    val_idx, train_idx = np.sort(perm[:n_val]), perm[n_val:]

    x_val, t_val, keep = prepare(data, val_idx, rng_val, cfg, noise, flip=False)
    fam_val = data.family[val_idx][keep]
    probe = np.sort(rng_norm.choice(train_idx, min(len(train_idx), cfg.probe_rows), replace=False))
    x_p, t_p, _ = prepare(data, probe, rng_norm, cfg, noise, flip=cfg.flip)
    if len(t_p) < 2:
        raise ValueError("fewer than two usable training samples (too few keypoints everywhere?)")
    usable = len(t_p) / len(probe)
    net, hist, loop_s, between = _fit(cfg, log, progress, noise, rng_train, x_val, t_val, x_p, t_p,
                             _memory_batches(data, train_idx, cfg, rng_train, log))
    metrics = _metrics(net, x_val, t_val, fam_val, len(val_idx), hist)
    recipe = {"n_samples": int(n), "n_train": int(len(train_idx)), "n_val": int(n_val),
              "usable_fraction": float(usable), "epochs": round(cfg.steps * cfg.batch_size / max(len(train_idx), 1), 3),
              "families": {str(k): int(v) for k, v in zip(*np.unique(data.family, return_counts=True))},
              "sources": data.sources}
    return TrainResult(net, cfg, hist, metrics, recipe, time.time() - t0, noise.to_dict() if noise else None,
                       loop_s, between)


# ---- streaming: a dataset larger than memory -------------------------------------------------------------
class PartStream:
    """The sampler's part files (.npz) read a few at a time, never all at once.

    Every row gets two fixed uniform numbers from ``default_rng([seed, file number])``: ``u_val <
    p_val`` puts it in the validation set (p_val = val_fraction, capped so that about val_max rows
    are chosen), ``u_probe`` picks the ~probe_rows rows that set the input normalisation. An epoch
    visits the files in a fresh random order, fills a shuffle buffer of ``cfg.stream_buffer`` rows,
    and yields shuffled batches from it (the remainder carries over). ``max_rows`` records the most
    rows held at once."""

    def __init__(self, files, cfg: TrainConfig, log=None):
        self.files = [Path(f) for f in files]
        bad = [f for f in self.files if f.suffix != ".npz"]
        if bad:
            raise ValueError(f"streaming reads sampler part files (.npz) only, got {bad[0]}")
        if cfg.detector_fraction:
            raise ValueError("detector_fraction needs detector rows in memory: train without streaming")
        self.cfg, self.log = cfg, log
        self.sizes = []
        for f in self.files:
            try:
                with np.load(f, allow_pickle=False) as z:
                    self.sizes.append(len(z["distance_m"]))
            except (OSError, ValueError, KeyError) as e:
                raise ValueError(f"{f}: not a sampler part file ({e})") from None
        self.n = int(sum(self.sizes))
        self.p_val = min(cfg.val_fraction, cfg.val_max / max(self.n, 1))
        self.max_rows = 0

    def _load(self, i: int):
        """File i -> (data after the small-person filter, is-validation mask, probe mask)."""
        d = load_npz(self.files[i], recipe=False)
        u = np.random.default_rng([self.cfg.seed, i]).random((2, len(d)))
        keep = np.flatnonzero(~_small_mask(d, self.cfg))
        return d.subset(keep), u[0][keep] < self.p_val, u[1][keep]

    def validation_and_probe(self):
        """One pass: the validation rows and the normalisation probe rows (both bounded; the
        probe takes a fraction of the rows, about cfg.probe_rows of them)."""
        p = min(1.0, self.cfg.probe_rows / max(self.n, 1))
        val, probe, n_train, held = [], [], 0, 0
        for i in range(len(self.files)):
            d, is_val, u_probe = self._load(i)
            val.append(d.subset(np.flatnonzero(is_val)))
            probe.append(d.subset(np.flatnonzero(~is_val & (u_probe < p))))
            n_train += int((~is_val).sum())
            held += len(val[-1]) + len(probe[-1])
            self.max_rows = max(self.max_rows, held + len(d))
        return TrainData.concat(val), TrainData.concat(probe), n_train

    def batches(self, rng):
        """Endless (data, rows, epoch) batches: the buffer filled file by file, emptied in shuffled
        batches when it holds cfg.stream_buffer rows and at the end of every epoch (what is left,
        under one batch, carries over)."""
        bs, epoch, buf = self.cfg.batch_size, 0, None
        while True:
            epoch += 1
            for k, i in enumerate(rng.permutation(len(self.files))):
                d, is_val, _ = self._load(int(i))
                d = d.subset(np.flatnonzero(~is_val))
                buf = d if buf is None else TrainData.concat([buf, d])
                self.max_rows = max(self.max_rows, len(buf))
                if len(buf) < max(self.cfg.stream_buffer, bs) and k < len(self.files) - 1:
                    continue
                order = rng.permutation(len(buf))
                while len(order) >= bs:
                    yield buf, np.sort(order[:bs]), epoch
                    order = order[bs:]
                buf = buf.subset(np.sort(order))


def _small_mask(data: TrainData, cfg: TrainConfig) -> np.ndarray:
    if cfg.min_person_px <= 0 or not data.clean.any():
        return np.zeros(len(data), bool)
    kp = data.keypoints_2d
    return data.clean & (person_height_px(kp, kp[..., 2] > 0) < cfg.min_person_px)


def train_stream(files, cfg: TrainConfig | None = None, log=None, progress: bool = True) -> TrainResult:
    """train() for sampler part files that need not fit in memory (PartStream). The same loop,
    model and outputs; the validation split, probe and batch order are drawn differently, so the
    numbers differ from train() on the same data (equal in distribution, not bit for bit)."""
    t0 = time.time()
    cfg, log, (_, rng_norm, rng_val, rng_train), noise = _start(cfg, log)
    stream = PartStream(files, cfg, log)
    val, probe_data, n_train = stream.validation_and_probe()
    if len(val) < 1 or n_train < cfg.batch_size:
        raise ValueError(f"need a validation row and at least batch_size={cfg.batch_size} training rows "
                         f"(got {len(val)} and {n_train})")
    x_val, t_val, keep = prepare(val, np.arange(len(val)), rng_val, cfg, noise, flip=False)
    fam_val = val.family[keep]
    x_p, t_p, _ = prepare(probe_data, np.arange(len(probe_data)), rng_norm, cfg, noise, flip=cfg.flip)
    if len(t_p) < 2:
        raise ValueError("fewer than two usable training samples (too few keypoints everywhere?)")
    net, hist, loop_s, between = _fit(cfg, log, progress, noise, rng_train, x_val, t_val, x_p, t_p,
                                      stream.batches(rng_train))
    metrics = _metrics(net, x_val, t_val, fam_val, len(val), hist)
    recipe = {"n_samples": stream.n, "n_train": int(n_train), "n_val": len(val),
              "usable_fraction": float(len(t_p) / max(len(probe_data), 1)),
              "epochs": round(cfg.steps * cfg.batch_size / max(n_train, 1), 3), "streamed": True,
              "max_rows_in_memory": int(stream.max_rows),
              "sources": [{"source": str(f), "n": n, "clean": True} for f, n in zip(stream.files, stream.sizes)]}
    return TrainResult(net, cfg, hist, metrics, recipe, time.time() - t0, noise.to_dict() if noise else None,
                       loop_s, between)


# ---- outputs ------------------------------------------------------------------------------------------
def plot_curve(history: dict, path, title: str = "") -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    s, tr = np.asarray(history["step"]), np.asarray(history["train_nll"])
    if len(tr):
        k = max(1, len(tr) // 50)
        sm = np.convolve(tr, np.ones(k) / k, mode="valid")
        a1.plot(s[k - 1:], sm, label="train (smoothed)", alpha=0.8)
    a1.plot(history["val_step"], history["val_nll"], marker=".", label="validation")
    a1.set(xlabel="step", ylabel="Laplace NLL of log distance", title="loss")
    a2.plot(history["val_step"], 100 * np.asarray(history["val_median_rel"], float), marker=".", color="C1")
    a2.set(xlabel="step", ylabel="median |relative error| (%)", title="validation distance error")
    for a in (a1, a2):
        a.grid(alpha=0.3)
    a1.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return path


def save_result(result: TrainResult, out_stem, command: str | None = None) -> tuple[Path, Path, Path]:
    """NAME.json + NAME.safetensors + NAME_curve.png; returns their paths."""
    json_path, st_path = model_paths(out_stem)
    curve = json_path.with_name(json_path.stem + "_curve.png")
    plot_curve(result.history, curve, title=f"{json_path.stem}: {result.data_recipe['n_samples']} samples")
    meta = {
        "features": feat.spec(result.config.min_conf, result.config.use_conf, result.config.feature_version),
        "runtime": {"low_conf": result.config.low_conf,
                    "sigma": "sigma_m = sqrt(2) * exp(log_b) * distance_m (Laplace SD of log distance)"},
        "training": {"config": asdict(result.config), "data": result.data_recipe, "command": command,
                     "noise_model": result.noise_model, "wall_s": round(result.wall_s, 1),
                     "torch": torch.__version__, "numpy": np.__version__,
                     "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
        "metrics": {"validation": result.metrics},
        "curve": curve.name,
    }
    json_path = save_model(result.net, json_path, meta)
    return json_path, st_path, curve
