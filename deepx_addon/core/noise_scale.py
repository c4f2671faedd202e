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

The second person-level term, ``hip_shift``: a detector places a flexed hip further up the torso
than the rig's hip joint (COCO's hip is not the joint centre), so a sitting or kneeling person's
torso reads short. Per bin of the hip's 2D flexion (the angle between the image's torso-up and
thigh directions, 0 = straight) the median detected - true hip offset, in the frame (torso up, its
perpendicular towards the thigh) as a fraction of the 2D torso length, moves the clean hips before
the size term and the inner model.

``upright_zero``: the size term holds only what the detector does to a family *beyond* what it does to
upright people (standing, walking), whose size term then has median 0. Rendered upright people are read
small too, but real pedestrians are not (README, "A person-level size term ... refuted"): that part is
the renders', and a model must not learn it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FORMAT = "deepx-detector-noise-scaled"
FORMAT_VERSION = 1
N_QUANTILES = 21                        # 0, 5, ..., 100 %
FLEX_EDGES_DEG = (20.0, 45.0, 70.0, 95.0, 120.0)     # hip flexion bins: <20, 20-45, ..., >=120
HIPS = ((11, 5, 13), (12, 6, 14))                    # (hip, shoulder, knee) per side
UPRIGHT = ("standing", "walking")                    # the reference families of upright_zero


def hip_frames(kp, vis):
    """Per person and side: (flexion deg, torso-up unit (2,), perpendicular unit towards the thigh
    (2,), 2D torso length), NaN where hip, shoulder or knee is not visible or degenerate.
    kp (n, 17, 2+) pixels, vis (n, 17) bool. Shapes (n, 2), (n, 2, 2), (n, 2, 2), (n, 2)."""
    kp = np.asarray(kp, float)[..., :2]
    n = len(kp)
    flex, length = np.full((n, 2), np.nan), np.full((n, 2), np.nan)
    up, perp = np.full((n, 2, 2), np.nan), np.full((n, 2, 2), np.nan)
    for j, (h, sh, kn) in enumerate(HIPS):
        ok = vis[:, h] & vis[:, sh] & vis[:, kn]
        t = kp[:, sh] - kp[:, h]
        th = kp[:, kn] - kp[:, h]
        L = np.linalg.norm(t, axis=1)
        Lt = np.linalg.norm(th, axis=1)
        ok &= (L > 1e-6) & (Lt > 1e-6)
        with np.errstate(all="ignore"):
            u = t / L[:, None]
            cos = np.sum(u * th, 1) / Lt
            side = th - np.sum(th * u, 1)[:, None] * u
            sn = np.linalg.norm(side, axis=1)
            p = np.where(sn[:, None] > 1e-9, side / sn[:, None], np.stack([-u[:, 1], u[:, 0]], 1))
        flex[ok, j] = 180.0 - np.degrees(np.arccos(np.clip(-cos[ok], -1.0, 1.0)))
        up[ok, j], perp[ok, j], length[ok, j] = u[ok], p[ok], L[ok]
    return flex, up, perp, length


def _flex_bin(flex) -> np.ndarray:
    return np.searchsorted(FLEX_EDGES_DEG, np.nan_to_num(flex, nan=0.0), side="right")


def shift_hips(kp, vis, hip_shift) -> np.ndarray:
    """kp (n, 17, 2) with each visible hip moved by its flexion bin's [up, perp] offset of ``hip_shift``
    (fractions of the 2D torso; None: unchanged)."""
    kp = np.array(kp, float)
    if hip_shift is None:
        return kp
    a = np.asarray(hip_shift, float)
    flex, up, perp, length = hip_frames(kp, vis)
    for j, (h, _sh, _kn) in enumerate(HIPS):
        ok = np.isfinite(flex[:, j])
        off = a[_flex_bin(flex[ok, j])]
        kp[ok, h] += length[ok, j, None] * (off[:, :1] * up[ok, j] + off[:, 1:] * perp[ok, j])
    return kp


MIN_COMMON = 5      # keypoints a person's size ratio needs in both truth and detection


def size_log_ratio(gt, det, conf: float = 0.3, min_common: int = MIN_COMMON) -> np.ndarray:
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
    hip_shift: list | None = None                   # per flexion bin [up, perp] (fractions of the torso)

    def validate(self) -> None:
        if "" not in self.cells:
            raise ValueError("a scaled noise model needs the all-people cell ''")
        for k, q in self.cells.items():
            q = np.asarray(q, float)
            if q.shape != (N_QUANTILES,) or not np.all(np.isfinite(q)) or np.any(np.diff(q) < 0):
                raise ValueError(f"cell {k!r}: need {N_QUANTILES} finite, non-decreasing quantiles")
        if self.hip_shift is not None:
            a = np.asarray(self.hip_shift, float)
            if a.shape != (len(FLEX_EDGES_DEG) + 1, 2) or not np.all(np.isfinite(a)) or np.abs(a).max() > 0.5:
                raise ValueError(f"hip_shift: need {len(FLEX_EDGES_DEG) + 1} finite [up, perp] pairs within +-0.5")

    def shift_hips(self, kp, vis) -> np.ndarray:
        """The clean keypoints (n, 17, 2) with each visible hip moved by its flexion bin's offset."""
        return shift_hips(kp, vis, self.hip_shift)

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
        """Detector-like keypoints from clean ones: hips moved (hip_shift), the skeleton scaled per
        person (cells), then the inner model's draw."""
        vis = np.asarray(visibility) > 0
        kp = self.shift_hips(np.array(keypoints_2d, float)[..., :2], vis)
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
            relative_to_inner: bool = True, seed: int = 0, note: str = "", size: bool = True,
            hips: bool = False, upright_zero: bool = False) -> "ScaledNoiseModel":
        """The quantiles of size_log_ratio per cell, over detected people >= min_px tall; a cell
        ("family/view", "family") is kept with >= min_cell people; "" (everyone) always.
        relative_to_inner: each cell's quantiles shifted by minus the median ratio the inner model
        alone gives on the same people (one seeded draw on their exact keypoints, hips moved first when
        hips): what its per-keypoint biases (and the hip term) already shrink is not counted twice.
        upright_zero: every cell shifted once more so that upright people's (UPRIGHT) median is 0."""
        lr = size_log_ratio(gt, det, min_common=MIN_COMMON)
        ok = np.isfinite(lr) & (np.asarray(heights, float) >= min_px)
        if ok.sum() < min_cell:
            raise ValueError(f"only {int(ok.sum())} detected people >= {min_px:g} px with {MIN_COMMON}+ shared keypoints")
        hip = fit_hip_shift(gt, det, heights, min_px, min_cell) if hips else None
        if not size:            # the hip term alone: a size term that changes nothing
            cells, counts = {"": [0.0] * N_QUANTILES}, {"": int(ok.sum())}
        else:
            cells, counts = _size_cells(inner, gt, lr, ok, heights, family, view, min_cell, relative_to_inner, seed,
                                        hip, upright_zero)
        m = cls(inner, cells, counts, note, hip)
        m.validate()
        return m

    # ---- files ------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "note": self.note,
                "inner": self.inner.to_dict(), "log_ratio_quantiles": self.cells, "people": self.counts,
                "hip_shift": self.hip_shift, "hip_flexion_edges_deg": list(FLEX_EDGES_DEG)}

    @classmethod
    def from_dict(cls, d: dict, inner) -> "ScaledNoiseModel":
        """The model of document ``d`` around ``inner``, its "inner" document already loaded (by
        noise_family.load_noise_model, which reads every format)."""
        if d.get("format") != FORMAT or d.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"not a {FORMAT} v{FORMAT_VERSION} document")
        try:
            m = cls(inner, dict(d["log_ratio_quantiles"]), dict(d.get("people", {})), str(d.get("note", "")),
                    d.get("hip_shift"))
            if m.hip_shift is not None and list(d.get("hip_flexion_edges_deg", ())) != list(FLEX_EDGES_DEG):
                raise ValueError("hip_flexion_edges_deg differ from this DeepX's")
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


def _size_cells(inner, gt, lr, ok, heights, family, view, min_cell, relative_to_inner, seed, hip_shift=None,
                upright_zero=False):
    """The size term's quantile cells ("", family, family/view with >= min_cell people) and counts.
    hip_shift: the hip term, applied before the inner model's reference draw; upright_zero: every cell
    minus the upright people's median residual."""
    family, view = np.asarray(family, object), np.asarray(view, object)
    groups = {"": ok}
    for f in sorted(set(family[ok])):
        groups[str(f)] = ok & (family == f)
        for v in sorted(set(view[ok & (family == f)])):
            groups[f"{f}/{v}"] = ok & (family == f) & (view == v)
    lr_inner = np.zeros(len(lr))
    if relative_to_inner:
        g = np.asarray(gt, float)
        sim = inner.sample(np.random.default_rng(seed), shift_hips(g[..., :2], g[..., 2] > 0, hip_shift), g[..., 2] > 0,
                           np.asarray(heights, float), family, view, dtype=np.float64)
        lr_inner = size_log_ratio(g, sim, min_common=MIN_COMMON)
    base = 0.0
    if upright_zero:
        up = ok & np.isin(family, UPRIGHT)
        if up.sum() < min_cell:
            raise ValueError(f"upright_zero: only {int(up.sum())} upright people ({', '.join(UPRIGHT)}); need {min_cell}")
        base = float(np.median(lr[up]) - np.nanmedian(lr_inner[up]))
    pct = np.linspace(0, 100, N_QUANTILES)
    cells, counts = {}, {}
    for key, sel in groups.items():
        if key == "" or sel.sum() >= min_cell:
            shift = np.nanmedian(lr_inner[sel]) + base
            cells[key] = [float(x - shift) for x in np.percentile(lr[sel], pct)]
            counts[key] = int(sel.sum())
    return cells, counts


def fit_hip_shift(gt, det, heights, min_px: float = 48.0, min_count: int = 30, conf: float = 0.3) -> list:
    """Per flexion bin the median (up, perp) offset of detected hips from true ones, as fractions of
    the true 2D torso length, over people >= min_px whose hip, shoulder and knee are visible and
    whose detected hip has confidence > conf; a bin with fewer than min_count hips gets [0, 0]."""
    gt, det = np.asarray(gt, float), np.asarray(det, float)
    big = np.asarray(heights, float) >= min_px
    flex, up, perp, length = hip_frames(gt, gt[..., 2] > 0)
    rows = []
    for j, (h, _sh, _kn) in enumerate(HIPS):
        ok = np.isfinite(flex[:, j]) & big & (det[:, h, 2] > conf)
        d = det[ok, h, :2] - gt[ok, h, :2]
        rows.append(np.stack([_flex_bin(flex[ok, j]), np.sum(d * up[ok, j], 1) / length[ok, j],
                              np.sum(d * perp[ok, j], 1) / length[ok, j]], 1))
    r = np.concatenate(rows)
    out = []
    for b in range(len(FLEX_EDGES_DEG) + 1):
        sel = r[:, 0] == b
        out.append([float(np.median(r[sel, 1])), float(np.median(r[sel, 2]))] if sel.sum() >= min_count else [0.0, 0.0])
    return out
