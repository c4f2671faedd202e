"""A person-level size error on top of a per-keypoint detector-noise model.

The per-keypoint models (core/noise.py, core/noise_family.py) move each keypoint on its own; a
detector also misjudges the whole skeleton's size: YOLO11n-pose reads folded rendered people as a
smaller skeleton (bending, crouching, sitting), which moves every keypoint towards the body's middle
by an amount no per-keypoint image offset can express (it points a different way for every joint and
every view). ``ScaledNoiseModel`` first scales the clean keypoints about the centroid of the visible
ones by a factor ``r`` drawn per person, then applies the inner model.

``log r`` is drawn from the empirical quantiles of the detector's own (detected / exact) size ratio
of its cell - "family/view", else "family", else "" (everyone) - where the size is the RMS distance
of the keypoints both have to their centroid. Fitted on (truth, detection) pairs of people big enough
for the per-keypoint jitter not to inflate that ratio (``min_px``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FORMAT = "deepx-detector-noise-scaled"
FORMAT_VERSION = 1
N_QUANTILES = 21                        # 0, 5, ..., 100 %


def size_log_ratio(gt, det, conf: float = 0.3, min_common: int = 5) -> np.ndarray:
    """Per person log(RMS spread of the detected keypoints / that of the true ones) over the keypoints
    present in both (truth visibility > 0, detection confidence > conf), each about its own centroid;
    NaN with fewer than ``min_common`` such keypoints."""
    gt, det = np.asarray(gt, float), np.asarray(det, float)
    m = (gt[..., 2] > 0) & (det[..., 2] > conf)
    n = m.sum(1)
    out = np.full(len(gt), np.nan)
    for i in np.flatnonzero(n >= min_common):
        a, b = gt[i, m[i], :2], det[i, m[i], :2]
        sa = np.sqrt(np.mean(np.sum((a - a.mean(0)) ** 2, 1)))
        sb = np.sqrt(np.mean(np.sum((b - b.mean(0)) ** 2, 1)))
        if sa > 0 and sb > 0:
            out[i] = np.log(sb / sa)
    return out


@dataclass
class ScaledNoiseModel:
    inner: object                                   # DetectorNoiseModel or FamilyNoiseModel
    cells: dict = field(default_factory=dict)       # cell -> N_QUANTILES quantiles of log r
    counts: dict = field(default_factory=dict)      # cell -> people it was fitted on
    note: str = ""

    def validate(self) -> None:
        if "" not in self.cells:
            raise ValueError("a scaled noise model needs the all-people cell ''")
        for k, q in self.cells.items():
            q = np.asarray(q, float)
            if q.shape != (N_QUANTILES,) or not np.all(np.isfinite(q)) or np.any(np.diff(q) < 0):
                raise ValueError(f"cell {k!r}: need {N_QUANTILES} finite, non-decreasing quantiles")

    # ---- sampling ---------------------------------------------------------------------------------
    def cell_of(self, family, view) -> str:
        for key in (f"{family}/{view}", str(family)):
            if key in self.cells:
                return key
        return ""

    def draw_log_ratio(self, rng: np.random.Generator, family, view) -> np.ndarray:
        """One log r per person from its cell's quantiles (inverse CDF, linear between quantiles)."""
        n = len(family)
        u = rng.random(n) * (N_QUANTILES - 1)
        out = np.empty(n)
        keys = np.array([self.cell_of(f, v) for f, v in zip(family, view)], dtype=object)
        for key in set(keys):
            sel = keys == key
            q = np.asarray(self.cells[key], float)
            out[sel] = np.interp(u[sel], np.arange(N_QUANTILES), q)
        return out

    def sample(self, rng, keypoints_2d, visibility, heights, family=None, view=None, dtype=np.float32,
               image_size=None) -> np.ndarray:
        """Detector-like keypoints from clean ones: scaled per person, then the inner model's draw."""
        kp = np.array(keypoints_2d, float)[..., :2]
        vis = np.asarray(visibility) > 0
        n = len(kp)
        family = np.full(n, "", object) if family is None else np.asarray(family, object)
        view = np.full(n, "", object) if view is None else np.asarray(view, object)
        r = np.exp(self.draw_log_ratio(rng, family, view))
        w = vis[..., None].astype(float)
        c = (kp * w).sum(1) / np.maximum(w.sum(1), 1.0)
        kp = c[:, None, :] + (kp - c[:, None, :]) * r[:, None, None]
        return self.inner.sample(rng, kp, vis, np.asarray(heights, float) * r, family, view, dtype=dtype,
                                 image_size=image_size)

    # ---- fitting ----------------------------------------------------------------------------------
    @classmethod
    def fit(cls, inner, gt, det, heights, family, view, *, min_px: float = 48.0, min_cell: int = 30,
            relative_to_inner: bool = True, seed: int = 0, note: str = "") -> "ScaledNoiseModel":
        """The quantiles of size_log_ratio per cell, over detected people >= min_px tall; a cell
        ("family/view", "family") is kept with >= min_cell people; "" (everyone) always.
        relative_to_inner: each cell's quantiles shifted by minus the median ratio the inner model
        alone gives on the same people (one seeded draw on their exact keypoints): what its
        per-keypoint biases already shrink is not counted twice."""
        lr = size_log_ratio(gt, det)
        ok = np.isfinite(lr) & (np.asarray(heights, float) >= min_px)
        family, view = np.asarray(family, object), np.asarray(view, object)
        groups = {"": ok}
        for f in sorted(set(family[ok])):
            groups[str(f)] = ok & (family == f)
            for v in sorted(set(view[ok & (family == f)])):
                groups[f"{f}/{v}"] = ok & (family == f) & (view == v)
        if ok.sum() < min_cell:
            raise ValueError(f"only {int(ok.sum())} detected people >= {min_px:g} px with {5}+ shared keypoints")
        if relative_to_inner:
            g = np.asarray(gt, float)
            sim = inner.sample(np.random.default_rng(seed), g[..., :2], g[..., 2] > 0,
                               np.asarray(heights, float), family, view, dtype=np.float64)
            lr_inner = size_log_ratio(g, sim)
        pct = np.linspace(0, 100, N_QUANTILES)
        cells, counts = {}, {}
        for key, sel in groups.items():
            if key == "" or sel.sum() >= min_cell:
                shift = np.nanmedian(lr_inner[sel]) if relative_to_inner else 0.0
                cells[key] = [float(x - shift) for x in np.percentile(lr[sel], pct)]
                counts[key] = int(sel.sum())
        m = cls(inner, cells, counts, note)
        m.validate()
        return m

    # ---- files ------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "note": self.note,
                "inner": self.inner.to_dict(), "log_ratio_quantiles": self.cells, "people": self.counts}

    @classmethod
    def from_dict(cls, d: dict, inner) -> "ScaledNoiseModel":
        """The model of document ``d`` around ``inner``, its "inner" document already loaded (by
        noise_family.load_noise_model, which reads every format)."""
        if d.get("format") != FORMAT or d.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"not a {FORMAT} v{FORMAT_VERSION} document")
        try:
            m = cls(inner, dict(d["log_ratio_quantiles"]), dict(d.get("people", {})), str(d.get("note", "")))
        except (KeyError, TypeError) as e:
            raise ValueError(f"{FORMAT}: bad or missing field ({e})") from None
        m.validate()
        return m

    def to_json(self, path=None) -> str:
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            from .records import atomic_write_text
            atomic_write_text(Path(path), text + "\n")
        return text
