"""How a 2D keypoint detector errs, as a function of the person's size in pixels (numpy only).

Training on exact projected joints teaches a model a world without detector error; this model
turns clean keypoints into detector-like ones. Per person of pixel size ``h`` (see
``person_height_px``) and per COCO keypoint ``k``:

1. **left/right swap** - each left/right pair (eyes, ears, shoulders, ... ankles) swaps its labels
   with probability ``swap_rate[pair]``;
2. **bias** - the detector's keypoint sits ``bias[k] * h`` (dx, dy) away from the labelled point
   (e.g. a COCO hip is not the hip joint centre);
3. **jitter** - Gaussian, per axis SD ``sqrt((jitter[k] * h)^2 + floor_px^2)``: proportional to
   the person's size, with a floor in pixels for tiny people (quantisation, blur);
4. **outliers** - with probability ``outlier_rate`` a keypoint is displaced by an extra Gaussian
   of per-axis SD ``outlier_scale * h`` (a limb put in the wrong place);
5. **miss** - a keypoint the camera sees is still missed (conf 0) with probability
   ``sigmoid(miss_logit[k] + miss_slope * log(h / height_ref_px))``: more often for small people
   (``miss_slope`` < 0) and for face keypoints (larger ``miss_logit``);
6. **confidence** of a kept keypoint is logit-normal:
   ``sigmoid(conf_logit[k] + conf_slope * log(h / height_ref_px) + conf_sd * N(0, 1))``, clipped to
   ``[miss_conf, 1]``. Confidence is drawn independently of the position error (a
   simplification: real detectors are less sure where they err more).

Keypoints invisible in the ground truth (visibility 0) come out missing: x = y = conf = 0.

``DetectorNoiseModel.default()`` is a documented initial guess (see ``_DEFAULT_NOTE``);
``DetectorNoiseModel.fit`` measures every parameter from (ground truth, detection) pairs, e.g.
the real detector run on rendered people, and ``error_table`` compares model and observation per
keypoint and pixel-size bin (plotted by ``deepx_addon.ml.noise_plot``).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from .keypoints import COCO_KEYPOINTS, FLIP_INDEX, NUM_KEYPOINTS

FORMAT = "deepx-detector-noise"
FORMAT_VERSION = 1

# Left/right keypoint pairs (left index, right index), in COCO order.
PAIRS: tuple[tuple[int, int], ...] = tuple((i, FLIP_INDEX[i]) for i in range(NUM_KEYPOINTS) if FLIP_INDEX[i] > i)
PAIR_NAMES: tuple[str, ...] = tuple(COCO_KEYPOINTS[a].replace("left_", "") for a, _ in PAIRS)

# Per-axis jitter of the default model as a fraction of the person's pixel size: a quarter of the
# COCO keypoint sigmas (0.026 nose ... 0.107 hips; human annotators' spread relative to sqrt(area)).
_COCO_SIGMAS = np.array([0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062,
                         0.107, 0.107, 0.087, 0.087, 0.089, 0.089])
_DEFAULT_NOTE = (
    "default initial guess, not fitted: jitter = 0.25 x COCO keypoint sigmas (fraction of the "
    "person's pixel size), floor 1.5 px, no bias, 2 % outliers of SD 0.1 x size, misses 2 % for "
    "body / 12 % for face keypoints at 100 px rising for small people, median confidence 0.88 body / "
    "0.73 face at 100 px (logit SD 0.8), 1-2 % left/right swaps. Refit with DetectorNoiseModel.fit on the real "
    "detector's outputs on rendered people.")

_FACE = np.zeros(NUM_KEYPOINTS, bool)
_FACE[:5] = True


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p):
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def person_height_px(keypoints_2d, visibility=None, min_px: float = 1.0) -> np.ndarray:
    """A person's size in pixels: the larger side of the box around its visible keypoints.

    keypoints_2d (..., 17, 2 or 3); visibility (..., 17) (default: keypoints_2d[..., 2] > 0).
    The larger side keeps the size meaningful for lying or crouching people; at least ``min_px``.
    """
    kp = np.asarray(keypoints_2d, dtype=float)
    vis = (kp[..., 2] > 0) if visibility is None else (np.asarray(visibility) > 0)
    # per axis on (..., 17) arrays: numpy reduces a middle axis of (..., 17, 2) slowly
    ext = [np.where(vis, kp[..., j], -np.inf).max(axis=-1) - np.where(vis, kp[..., j], np.inf).min(axis=-1)
           for j in (0, 1)]
    size = np.maximum(ext[0], ext[1])
    return np.maximum(np.where(np.isfinite(size), size, 0.0), min_px)


@dataclass
class DetectorNoiseModel:
    jitter: np.ndarray                       # (17,) per-axis SD, fraction of person size
    floor_px: float                          # per-axis SD floor in pixels
    bias: np.ndarray                         # (17, 2) dx, dy as fractions of person size
    outlier_rate: float                      # probability a kept keypoint is grossly misplaced
    outlier_scale: float                     # per-axis SD of that displacement, fraction of size
    conf_logit: np.ndarray                   # (17,) mean of logit(confidence) at height_ref_px
    conf_slope: float                        # d mean logit(conf) / d log(size)
    conf_sd: float                           # SD of logit(confidence)
    miss_logit: np.ndarray                   # (17,) logit of the miss probability at height_ref_px
    miss_slope: float                        # d logit(miss) / d log(size); < 0: small people missed more
    swap_rate: np.ndarray                    # (8,) per left/right pair (PAIRS order)
    height_ref_px: float = 100.0
    miss_conf: float = 0.05                  # fit(): a detection below this confidence counts as a miss
    # joints outside the picture that the detector still reports, inside it near the border
    # ("phantoms": a cut person's skeleton squeezed into the frame); 0 = never (all older models)
    phantom_rate: float = 0.0                # chance an out-of-frame joint is reported anyway
    phantom_conf_logit: float = 0.0          # mean logit(confidence) of a phantom (SD conf_sd)
    phantom_inset: float = 0.0               # mean distance from the border, fraction of the longer image side
    note: str = ""                           # provenance: default guess / fitted on what
    fit_stats: dict = field(default_factory=dict)

    def __post_init__(self):
        self.jitter = np.asarray(self.jitter, float).reshape(NUM_KEYPOINTS)
        self.bias = np.asarray(self.bias, float).reshape(NUM_KEYPOINTS, 2)
        self.conf_logit = np.asarray(self.conf_logit, float).reshape(NUM_KEYPOINTS)
        self.miss_logit = np.asarray(self.miss_logit, float).reshape(NUM_KEYPOINTS)
        self.swap_rate = np.asarray(self.swap_rate, float).reshape(len(PAIRS))
        for name in ("floor_px", "outlier_rate", "outlier_scale", "conf_slope", "conf_sd", "miss_slope",
                     "height_ref_px", "miss_conf", "phantom_rate", "phantom_conf_logit", "phantom_inset"):
            setattr(self, name, float(getattr(self, name)))
        self.validate()

    def validate(self) -> None:
        def bad(name, msg):
            raise ValueError(f"DetectorNoiseModel.{name}: {msg}")
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, (float, np.ndarray)) and not np.all(np.isfinite(v)):
                bad(f.name, "must be finite")
        if np.any(self.jitter < 0) or self.floor_px < 0 or self.outlier_scale < 0:
            bad("jitter/floor_px/outlier_scale", "must be >= 0")
        if np.any((self.swap_rate < 0) | (self.swap_rate > 1)) or not 0 <= self.outlier_rate <= 1:
            bad("swap_rate/outlier_rate", "probabilities must be in [0, 1]")
        if not 0 <= self.phantom_rate <= 1 or self.phantom_inset < 0:
            bad("phantom_rate/phantom_inset", "phantom_rate in [0, 1], phantom_inset >= 0")
        if self.conf_sd < 0 or self.height_ref_px <= 0 or not 0 <= self.miss_conf < 1:
            bad("conf_sd/height_ref_px/miss_conf", "conf_sd >= 0, height_ref_px > 0 and 0 <= miss_conf < 1")

    # ---- construction / serialisation -----------------------------------------------------------
    @classmethod
    def default(cls) -> "DetectorNoiseModel":
        return cls(jitter=0.25 * _COCO_SIGMAS, floor_px=1.5, bias=np.zeros((NUM_KEYPOINTS, 2)),
                   outlier_rate=0.02, outlier_scale=0.10,
                   conf_logit=np.where(_FACE, 1.0, 2.0), conf_slope=0.5, conf_sd=0.8,
                   miss_logit=np.where(_FACE, -2.0, -4.0), miss_slope=-1.0,
                   swap_rate=[0.02 if a < 5 else 0.01 for a, _ in PAIRS], note=_DEFAULT_NOTE)

    def to_dict(self) -> dict:
        d = {"format": FORMAT, "format_version": FORMAT_VERSION, "keypoints": list(COCO_KEYPOINTS),
             "pairs": list(PAIR_NAMES)}
        for f in fields(self):
            v = getattr(self, f.name)
            d[f.name] = v.tolist() if isinstance(v, np.ndarray) else v
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "DetectorNoiseModel":
        if d.get("format") != FORMAT or d.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"not a {FORMAT} v{FORMAT_VERSION} document "
                             f"(format={d.get('format')!r}, version={d.get('format_version')!r})")
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names - {"format", "format_version", "keypoints", "pairs"}
        if unknown:
            raise ValueError(f"unknown noise model field(s) {sorted(unknown)}")
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_json(self, path=None) -> str:
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            from .records import atomic_write_text
            atomic_write_text(path, text + "\n")
        return text

    @classmethod
    def from_json(cls, path_or_text) -> "DetectorNoiseModel":
        """A path to a JSON file, or the JSON text itself."""
        s = str(path_or_text)
        if s.lstrip().startswith("{"):
            return cls.from_dict(json.loads(s))
        try:
            d = json.loads(Path(s).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"{s}: cannot read noise model: {e}") from None
        try:
            return cls.from_dict(d)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{s}: {e}") from None

    # ---- the model's predictions ----------------------------------------------------------------
    def expected_sd_px(self, heights) -> np.ndarray:
        """(n,) sizes -> (n, 17) per-axis jitter SD in pixels (without outliers)."""
        h = np.asarray(heights, float)[..., None]
        return np.sqrt((self.jitter * h) ** 2 + self.floor_px ** 2)

    def miss_prob(self, heights) -> np.ndarray:
        x = np.log(np.maximum(np.asarray(heights, float), 1e-3) / self.height_ref_px)[..., None]
        return _sigmoid(self.miss_logit + self.miss_slope * x)

    def conf_logit_mean(self, heights) -> np.ndarray:
        """(n,) sizes -> (n, 17) mean logit of the confidence (its median is the sigmoid of it)."""
        x = np.log(np.maximum(np.asarray(heights, float), 1e-3) / self.height_ref_px)[..., None]
        return self.conf_logit + self.conf_slope * x

    # ---- sampling -------------------------------------------------------------------------------
    CHUNK = 65536  # rows per internal chunk: bounds memory; fixed, so draws do not depend on n

    def apply(self, rng: np.random.Generator, keypoints_2d, visibility, heights,
              dtype=np.float32, image_size=None) -> np.ndarray:
        """Detector-like keypoints from clean ones.

        keypoints_2d (n, 17, 2 or 3) pixels; visibility (n, 17) (> 0 = seen by the camera);
        heights (n,) person sizes in pixels. Returns (n, 17, 3) x, y, conf; missing = (0, 0, 0).
        image_size (n, 2) width, height: with it and ``phantom_rate`` > 0, joints outside the
        picture (visibility 0, their true projection given) may come back as phantoms near the
        border (step 7); without it they are missing as before. Deterministic for a given rng
        state; vectorised (chunks of CHUNK rows); draws without phantoms are those of older versions.
        """
        kp = np.asarray(keypoints_2d)
        vis = np.asarray(visibility)
        h = np.asarray(heights, float)
        if kp.ndim != 3 or kp.shape[1] != NUM_KEYPOINTS or kp.shape[2] not in (2, 3):
            raise ValueError(f"keypoints_2d must be (n, 17, 2|3), got {kp.shape}")
        if vis.shape != kp.shape[:2] or h.shape != kp.shape[:1]:
            raise ValueError(f"visibility {vis.shape} / heights {h.shape} do not match keypoints {kp.shape}")
        wh = None
        if image_size is not None and self.phantom_rate > 0:
            wh = np.broadcast_to(np.asarray(image_size, float), (len(kp), 2))
        out = np.zeros(kp.shape[:2] + (3,), dtype)
        for s in range(0, len(kp), self.CHUNK):
            e = min(s + self.CHUNK, len(kp))
            out[s:e] = self._apply_chunk(rng, kp[s:e, :, :2].astype(float), vis[s:e] > 0, h[s:e],
                                         None if wh is None else wh[s:e])
        return out

    def sample(self, rng, keypoints_2d, visibility, heights, family=None, view=None, dtype=np.float32,
               image_size=None) -> np.ndarray:
        """``apply`` under the signature every noise model shares (family and view unused here)."""
        return self.apply(rng, keypoints_2d, visibility, heights, dtype=dtype, image_size=image_size)

    def _apply_chunk(self, rng, kp, vis, h, wh=None):
        n = len(kp)
        h = np.maximum(h, 1.0)
        # kp and vis are fresh copies (apply() made them), so they may be changed in place
        # 1. left/right swaps: exchange the labels of both keypoints of a pair
        swap_pairs(kp, vis, rng.random((n, len(PAIRS))) < self.swap_rate)
        # 2-3. bias + jitter
        err = rng.standard_normal((n, NUM_KEYPOINTS, 2))
        err *= self.expected_sd_px(h)[..., None]
        err += self.bias * h[:, None, None]
        kp += err
        if wh is None:
            return self.finish(rng, kp, vis, h, self.miss_prob(h))
        raw = kp.copy()
        out = self.finish(rng, kp, vis, h, self.miss_prob(h))
        return self.add_phantoms(rng, out, raw, vis, wh)

    def add_phantoms(self, rng, out, raw, vis, wh):
        """Step 7: each joint outside the picture (not vis) is reported with probability
        phantom_rate at its projection clamped into the picture and moved a further exponential
        distance (mean phantom_inset x the longer side) inwards from the border it crossed, with a
        logit-normal confidence. out (n, 17, 3) is changed in place and returned."""
        n = len(out)
        W, H = wh[:, 0:1], wh[:, 1:2]
        u = rng.random((n, NUM_KEYPOINTS))
        inset = rng.exponential(1.0, (n, NUM_KEYPOINTS)) * self.phantom_inset * np.maximum(W, H)
        z = self.phantom_conf_logit + self.conf_sd * rng.standard_normal((n, NUM_KEYPOINTS))
        ph = ~vis & (u < self.phantom_rate)
        x, y = raw[..., 0], raw[..., 1]
        px = np.where(x < 0, inset, np.where(x > W - 1, W - 1 - inset, x))
        py = np.where(y < 0, inset, np.where(y > H - 1, H - 1 - inset, y))
        px, py = np.clip(px, 0, W - 1), np.clip(py, 0, H - 1)
        out[ph, 0], out[ph, 1] = px[ph], py[ph]
        out[ph, 2] = np.clip(_sigmoid(z[ph]), self.miss_conf, 1.0)
        return out

    @staticmethod
    def fit_phantoms(gt_kps, det_kps, image_sizes, miss_conf: float = 0.05) -> dict:
        """phantom_rate, phantom_conf_logit, phantom_inset from (truth, detection) pairs of
        detected people: over joints outside the picture (truth visibility 0), the share reported
        with confidence >= miss_conf, the mean logit of their confidence and their mean distance
        to the nearest border (fraction of the longer side). Empty dict when no joint was outside."""
        gt = np.asarray(gt_kps, float)
        det = np.asarray(det_kps, float)
        wh = np.asarray(image_sizes, float).reshape(len(gt), 2)
        out_of_frame = gt[..., 2] <= 0
        if not out_of_frame.any():
            return {}
        W, H = wh[:, 0:1], wh[:, 1:2]
        rep = out_of_frame & (det[..., 2] >= miss_conf)
        d = np.minimum(np.minimum(det[..., 0], W - 1 - det[..., 0]), np.minimum(det[..., 1], H - 1 - det[..., 1]))
        d = np.maximum(d, 0.0) / np.maximum(W, H)
        return {"phantom_rate": float(rep.sum() / out_of_frame.sum()),
                "phantom_conf_logit": float(np.mean(_logit(det[..., 2][rep]))) if rep.any() else 0.0,
                "phantom_inset": float(np.mean(d[rep])) if rep.any() else 0.0}

    def finish(self, rng, kp, vis, h, p_miss):
        """Steps 4-6 on displaced keypoints (changed in place): outliers, misses with probability
        p_miss (n, 17), confidences. Returns (n, 17, 3) x, y, conf."""
        n = len(kp)
        oi, ok = np.nonzero(rng.random((n, NUM_KEYPOINTS)) < self.outlier_rate)
        kp[oi, ok] += rng.standard_normal((len(oi), 2)) * (self.outlier_scale * h[oi])[:, None]
        missed = rng.random((n, NUM_KEYPOINTS)) < p_miss
        z = self.conf_logit_mean(h) + self.conf_sd * rng.standard_normal((n, NUM_KEYPOINTS))
        conf = np.clip(_sigmoid(z), self.miss_conf, 1.0)
        drop = ~vis | missed
        kp[drop] = 0.0
        conf[drop] = 0.0
        return np.concatenate([kp, conf[..., None]], axis=-1)

    # ---- fitting --------------------------------------------------------------------------------
    @classmethod
    def fit(cls, gt_kps, det_kps, heights, *, miss_conf: float = 0.05, height_ref_px: float = 100.0,
            n_bins: int = 10, note: str = "") -> "DetectorNoiseModel":
        """Measure every parameter from pairs of ground truth and detections of the same people.

        gt_kps (n, 17, 3): x, y, visibility (> 0 = seen); det_kps (n, 17, 3): x, y, conf (a
        detection below ``miss_conf`` counts as missed); heights (n,) person sizes in pixels (use
        ``person_height_px(gt_kps)``). Order: swaps (pairs far enough apart to tell), bias
        (median), jitter and floor (robust SD per size bin, least squares), outliers (beyond
        5 SD), misses (logistic regression), confidence (least squares on its logit).
        """
        gt = np.asarray(gt_kps, float)
        det = np.asarray(det_kps, float)
        h = np.maximum(np.asarray(heights, float), 1.0)
        if gt.shape != det.shape or gt.ndim != 3 or gt.shape[1:] != (NUM_KEYPOINTS, 3) or h.shape != gt.shape[:1]:
            raise ValueError(f"fit needs gt (n,17,3), det (n,17,3), heights (n,); got {gt.shape}, {det.shape}, {h.shape}")
        if not (np.all(np.isfinite(gt)) and np.all(np.isfinite(det)) and np.all(np.isfinite(h))):
            raise ValueError("fit: inputs contain NaN or inf")
        n = len(gt)
        vis = gt[..., 2] > 0
        got = vis & (det[..., 2] >= miss_conf)
        x = np.log(h / height_ref_px)
        stats = {"n_people": int(n), "n_visible": int(vis.sum()), "n_detected": int(got.sum())}

        # pass 1: robust per-keypoint scale of the direct errors (size-proportional part only)
        e = det[..., :2] - gt[..., :2]
        sd1 = np.array([_mad_sd(e[got[:, k], k] / h[got[:, k], None]) for k in range(NUM_KEYPOINTS)])
        sd1 = np.where(np.isfinite(sd1), sd1, 0.05)

        det, swapped, ident = undo_swaps(gt, det, got, h, sd1)
        n_ident = ident.sum(0)
        swap_rate = (swapped & ident).sum(0) / np.maximum(n_ident, 1)
        stats["swap_identifiable"] = n_ident.tolist()
        e = det[..., :2] - gt[..., :2]

        # bias: median error in units of size
        bias = np.zeros((NUM_KEYPOINTS, 2))
        for k in range(NUM_KEYPOINTS):
            if got[:, k].any():
                bias[k] = np.median(e[got[:, k], k] / h[got[:, k], None], axis=0)
        r = e - bias * h[:, None, None]

        # jitter + floor: robust per-axis SD in size bins, then sd^2 = (a_k h)^2 + f^2 by least squares
        rows, rhs, wts, table = [], [], [], []
        for k in range(NUM_KEYPOINTS):
            sel = np.flatnonzero(got[:, k])
            if len(sel) < 20:
                continue
            for part in _quantile_bins(x[sel], n_bins, min_count=20):
                i = sel[part]
                sd = _mad_sd(r[i, k])
                h2 = float(np.mean(h[i] ** 2))
                row = np.zeros(NUM_KEYPOINTS + 1)
                row[k], row[-1] = h2, 1.0
                rows.append(row)
                rhs.append(sd ** 2)
                wts.append(math.sqrt(len(i)) / max(sd ** 2, 1e-9))
        jitter = np.full(NUM_KEYPOINTS, np.nan)
        floor = 0.0
        if rows:
            A, y, w = np.array(rows), np.array(rhs), np.array(wts)
            sol = _nnls_small(A * w[:, None], y * w)
            fitted = np.flatnonzero(np.abs(A[:, :NUM_KEYPOINTS]).sum(0) > 0)
            jitter[fitted] = np.sqrt(sol[fitted])
            floor = float(math.sqrt(sol[-1]))
        stats["jitter_unfitted"] = [COCO_KEYPOINTS[k] for k in range(NUM_KEYPOINTS) if not np.isfinite(jitter[k])]
        jitter = np.where(np.isfinite(jitter), jitter, np.nanmedian(jitter) if np.isfinite(jitter).any() else 0.02)

        # outliers: beyond 5 SD (a Gaussian gets there with probability 4e-6); the excess of a
        # Gaussian tail over a threshold is memoryless, which gives the outliers' own scale
        sdpx = np.sqrt((jitter * h[:, None]) ** 2 + floor ** 2)
        z2 = _sq(r) / sdpx ** 2
        T = 25.0
        flag = got & (z2 > T)
        if flag.sum() >= 5:
            hh2 = (h[:, None] ** 2 * np.ones(NUM_KEYPOINTS))[flag]
            excess = (_sq(r)[flag] - T * sdpx[flag] ** 2) / hh2
            o2 = max(float(np.mean(excess)) / 2.0 - float(np.mean(sdpx[flag] ** 2 / hh2)), 1e-8)
            s_tot2 = o2 * h[:, None] ** 2 + sdpx ** 2
            p_flag = np.exp(-T * sdpx ** 2 / (2 * s_tot2))[got]
            outlier_rate = float(min(flag.sum() / max(p_flag.sum(), 1e-9), 1.0))
            outlier_scale = math.sqrt(o2)
        else:
            outlier_rate, outlier_scale = float(flag.sum()) / max(int(got.sum()), 1), 0.1
        stats["outliers_flagged"] = int(flag.sum())

        # misses: logistic regression, one intercept per keypoint and a shared slope in log size
        kk = np.broadcast_to(np.arange(NUM_KEYPOINTS), vis.shape)[vis]
        xx = np.broadcast_to(x[:, None], vis.shape)[vis]
        yy = (~got)[vis].astype(float)
        miss_logit, miss_slope = _logistic_intercepts_slope(kk, xx, yy, NUM_KEYPOINTS)

        # confidence: logit(conf) = a[k] + slope * log(size) + N(0, sd^2), least squares
        kk = np.broadcast_to(np.arange(NUM_KEYPOINTS), got.shape)[got]
        xx = np.broadcast_to(x[:, None], got.shape)[got]
        yy = _logit(det[..., 2][got])
        conf_logit, conf_slope, conf_sd = np.full(NUM_KEYPOINTS, 2.0), 0.0, 0.8
        if len(yy) >= 2:
            cnt = np.maximum(np.bincount(kk, minlength=NUM_KEYPOINTS), 1)
            xm, ym = np.bincount(kk, xx, NUM_KEYPOINTS) / cnt, np.bincount(kk, yy, NUM_KEYPOINTS) / cnt
            dx, dy = xx - xm[kk], yy - ym[kk]
            conf_slope = float(np.sum(dx * dy) / np.sum(dx * dx)) if np.sum(dx * dx) > 0 else 0.0
            seen = np.bincount(kk, minlength=NUM_KEYPOINTS) > 0
            conf_logit[seen] = (ym - conf_slope * xm)[seen]
            conf_sd = float(np.sqrt(np.mean((dy - conf_slope * dx) ** 2)))

        return cls(jitter=jitter, floor_px=floor, bias=bias, outlier_rate=outlier_rate,
                   outlier_scale=outlier_scale, conf_logit=conf_logit, conf_slope=conf_slope,
                   conf_sd=conf_sd, miss_logit=miss_logit, miss_slope=miss_slope, swap_rate=swap_rate,
                   height_ref_px=height_ref_px, miss_conf=miss_conf,
                   note=note or f"fitted on {n} (ground truth, detection) pairs", fit_stats=stats)

    # ---- model vs observation -------------------------------------------------------------------
    def error_table(self, gt_kps, det_kps, heights, edges=(0, 25, 50, 100, 200, 400, 1e9)) -> dict:
        """Observed and modelled statistics per keypoint (rows) and size bin (columns).

        Returns arrays (17, n_bins): count, observed/modelled per-axis robust SD in pixels
        (after the model's bias, swaps not undone), miss rate and median confidence; and
        ``centres`` (n_bins,) the mean size per bin (NaN where empty).
        """
        gt, det = np.asarray(gt_kps, float), np.asarray(det_kps, float)
        h = np.maximum(np.asarray(heights, float), 1.0)
        vis = gt[..., 2] > 0
        got = vis & (det[..., 2] >= self.miss_conf)
        nb = len(edges) - 1
        keys = ("count", "obs_sd_px", "model_sd_px", "obs_miss", "model_miss", "obs_conf", "model_conf")
        t = {k: np.full((NUM_KEYPOINTS, nb), np.nan) for k in keys}
        t["centres"] = np.full(nb, np.nan)
        b = np.digitize(h, edges) - 1
        r = det[..., :2] - gt[..., :2] - self.bias * h[:, None, None]
        msd, mmiss, mconf = self.expected_sd_px(h), self.miss_prob(h), _sigmoid(self.conf_logit_mean(h))
        for j in range(nb):
            inb = b == j
            if inb.any():
                t["centres"][j] = float(h[inb].mean())
            for k in range(NUM_KEYPOINTS):
                v, g = inb & vis[:, k], inb & got[:, k]
                t["count"][k, j] = g.sum()
                if v.any():
                    t["obs_miss"][k, j] = 1.0 - g.sum() / v.sum()
                    t["model_miss"][k, j] = mmiss[v, k].mean()
                if g.sum() >= 5:
                    t["obs_sd_px"][k, j] = _mad_sd(r[g, k])
                    t["model_sd_px"][k, j] = float(np.sqrt(np.mean(msd[g, k] ** 2)))
                    t["obs_conf"][k, j] = np.median(det[g, k, 2])
                    t["model_conf"][k, j] = np.median(mconf[g, k])
        t["edges"] = np.asarray(edges, float)
        return t


def swap_pairs(kp, vis, swap) -> None:
    """Exchange the labels of both keypoints of each left/right pair where swap (n, 8) is set (in place)."""
    for p, (a, b) in enumerate(PAIRS):
        r = np.flatnonzero(swap[:, p])
        kp[r, a], kp[r, b] = kp[r, b], kp[r, a].copy()
        vis[r, a], vis[r, b] = vis[r, b], vis[r, a].copy()


def undo_swaps(gt, det, got, h, sd):
    """Find and undo left/right swaps of detections.

    gt, det (n, 17, >=2); got (n, 17) detected keypoints; h (n,) sizes; sd (17,) rough per-axis
    error SD as a fraction of size. A pair counts as swapped when the crossed assignment is closer;
    only pairs whose two points lie far apart compared with the jitter can be told, so the rate is
    measured on those. Every apparent swap is undone, so swaps of close pairs do not pass for
    outliers. Returns (det with swaps undone, swapped (n, 8) bool, identifiable (n, 8) bool).
    """
    n = len(gt)
    swapped = np.zeros((n, len(PAIRS)), bool)
    ident = np.zeros((n, len(PAIRS)), bool)
    det = np.array(det, float, copy=True)
    for p, (a, b) in enumerate(PAIRS):
        both = got[:, a] & got[:, b]
        sep = np.linalg.norm(gt[:, a, :2] - gt[:, b, :2], axis=1)
        ident[:, p] = both & (sep > 6.0 * math.hypot(sd[a], sd[b]) * h + 6.0)
        d_dir = _sq(det[:, a, :2] - gt[:, a, :2]) + _sq(det[:, b, :2] - gt[:, b, :2])
        d_swp = _sq(det[:, a, :2] - gt[:, b, :2]) + _sq(det[:, b, :2] - gt[:, a, :2])
        swapped[:, p] = both & (d_swp < d_dir)
    for p, (a, b) in enumerate(PAIRS):
        s = swapped[:, p]
        det[s, a, :2], det[s, b, :2] = det[s, b, :2].copy(), det[s, a, :2].copy()
    return det, swapped, ident


# ---- numerical helpers ----------------------------------------------------------------------------
def _sq(v):
    return np.sum(np.asarray(v) ** 2, axis=-1)


def _mad_sd(v) -> float:
    """Robust per-axis SD of zero-centred errors (n, 2) or (n,): 1.4826 x median |v|."""
    v = np.abs(np.asarray(v, float)).ravel()
    return float(1.4826 * np.median(v)) if v.size else float("nan")


def _quantile_bins(x, n_bins: int, min_count: int):
    """Index arrays (into x) splitting it into up to n_bins equal-count bins of >= min_count."""
    n_bins = max(1, min(n_bins, len(x) // min_count))
    order = np.argsort(x, kind="stable")
    return [p for p in np.array_split(order, n_bins) if len(p)]


def _nnls_small(A, y, iters: int = 50) -> np.ndarray:
    """Least squares with x >= 0 for a handful of unknowns (active set: drop negatives, re-solve)."""
    free = np.abs(A).sum(0) > 0
    x = np.zeros(A.shape[1])
    for _ in range(iters):
        sol = np.linalg.lstsq(A[:, free], y, rcond=None)[0]
        x[:] = 0
        x[free] = sol
        if np.all(sol >= 0):
            break
        free[np.flatnonzero(free)[sol < 0]] = False
    return x


def _logistic_intercepts_slope(k, x, y, n_groups: int, iters: int = 30):
    """Maximum-likelihood logit(p) = a[k] + c x by Newton's method (sums by group, O(n))."""
    a, c = np.zeros(n_groups), 0.0
    present = np.bincount(k, minlength=n_groups) > 0
    for _ in range(iters):
        p = _sigmoid(a[k] + c * x)
        w = np.maximum(p * (1 - p), 1e-9)
        ga = np.bincount(k, y - p, n_groups)
        gc = float(np.sum((y - p) * x))
        haa = np.bincount(k, w, n_groups) + 1e-6      # tiny ridge keeps empty or all-0/1 groups finite
        hac = np.bincount(k, w * x, n_groups)
        hcc = float(np.sum(w * x * x)) + 1e-6
        # Schur complement: solve the arrow-shaped Hessian exactly
        dc = (gc - np.sum(hac * ga / haa)) / (hcc - np.sum(hac ** 2 / haa))
        da = (ga - hac * dc) / haa
        a, c = np.clip(a + da, -15, 15), c + dc
        if max(np.max(np.abs(da)), abs(dc)) < 1e-8:
            break
    a[~present] = -15.0
    return a, float(c)
