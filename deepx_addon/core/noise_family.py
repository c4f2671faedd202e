"""How a 2D keypoint detector errs per person size, pose family and view, with correlated keypoints.

``DetectorNoiseModel`` (core/noise.py) knows keypoint and size only; the real detector errs
differently on folded bodies (a crouching person's hips drift together) and when the person turns
away. ``FamilyNoiseModel`` keeps the global model for what barely depends on the pose (confidence,
outliers, the pixel floor) and adds, per cell of (size bin, family, view):

- ``bias`` (17, 2): the median displacement, as a fraction of the person's size ``h``;
- the covariance of the remaining displacements over all 34 coordinates, normalised by
  ``s = sqrt(h^2 + h0^2)`` (``h0`` turns the pixel floor into a size: small people are not
  quieter than the floor), stored as a low-rank part plus a diagonal
  (``cov = loadings @ loadings.T + diag(diag)``): a shifted hip moves both hips, a person read too
  short moves every keypoint below the head;
- ``miss`` (17,): the chance a keypoint the camera sees is missed; ``swap`` (8,): left/right swaps.

Cells are nested: "" (everyone) > "crouching" > "crouching/side" > "crouching/side/s2" (size bin 2).
A cell's miss rates hold at its people's mean size and follow the base model's slope in log size.
Fitting estimates each cell from its own people and shrinks it towards its parent with the weight
of ``shrink`` people (hierarchical shrinkage: a cell of 10 people is mostly its parent, one of 1,000
mostly itself); cells with fewer than ``min_cell`` people are not stored and sampling falls back to
the deepest stored ancestor. The view comes from the camera-relative yaw (``view_of``).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .keypoints import NUM_KEYPOINTS
from .noise import PAIRS, DetectorNoiseModel, _logit, _sigmoid, swap_pairs, undo_swaps

FORMAT = "deepx-detector-noise-cells"
FORMAT_VERSION = 1
VIEWS = ("front", "side", "back")
SIZE_EDGES_PX = (0.0, 32.0, 64.0, 128.0, 256.0, math.inf)
_D = 2 * NUM_KEYPOINTS


def view_of(person_yaw_deg) -> np.ndarray:
    """Camera-relative yaw (0 = the person faces the camera, 90 = shows its right side) -> 'front'
    (|yaw| <= 45), 'back' (|yaw| >= 135), 'side' otherwise; 'unknown' where NaN."""
    y = np.asarray(person_yaw_deg, float)
    a = np.abs((y + 180.0) % 360.0 - 180.0)
    out = np.where(a <= 45.0, "front", np.where(a >= 135.0, "back", "side")).astype(object)
    out[~np.isfinite(y)] = "unknown"
    return out.astype(str)


def relative_yaw_deg(keypoints_3d_cam, R) -> np.ndarray:
    """The person's yaw relative to the camera (0 = faces it, 90 = shows its right side) from its 3D
    keypoints in the camera frame (n, 17, 3) and the world->camera rotations (n, 3, 3) (world +Z up):
    the facing direction is the left-right axis of hips + shoulders crossed with up, compared with the
    direction from the pelvis to the camera, both on the ground plane. NaN where undefined."""
    k = np.asarray(keypoints_3d_cam, float)
    up = np.asarray(R, float)[..., :, 2]                           # world +Z in camera coordinates
    flat = lambda v: v - np.sum(v * up, -1, keepdims=True) * up
    lr = flat(k[:, 5] - k[:, 6] + k[:, 11] - k[:, 12])            # towards the person's left
    to_cam = flat(-(k[:, 11] + k[:, 12]) / 2)
    fwd = np.cross(lr, up)
    cos = np.sum(fwd * to_cam, -1)
    sin = np.sum(np.cross(to_cam, fwd) * up, -1)
    with np.errstate(invalid="ignore"):
        yaw = np.degrees(np.arctan2(sin, cos))
    bad = (np.linalg.norm(lr, axis=-1) < 1e-6) | (np.linalg.norm(to_cam, axis=-1) < 1e-6)
    return np.where(bad, np.nan, yaw)


def view_of_row(row: dict) -> str:
    """A label/detection row's view: from its 3D keypoints and camera R (``relative_yaw_deg``), else
    its camera's ``person_yaw_deg``, else its own ``view`` field, else 'unknown'."""
    cam = row.get("camera") or {}
    k3 = row.get("keypoints_3d_cam")
    if k3 is not None and cam.get("R") is not None:
        y = relative_yaw_deg(np.asarray(k3, float)[None], np.asarray(cam["R"], float)[None])[0]
    else:
        y = cam.get("person_yaw_deg", np.nan)
    v = str(view_of([np.nan if y is None else y])[0])
    return row["view"] if v == "unknown" and row.get("view") in VIEWS else v


def size_bin(heights, edges=SIZE_EDGES_PX) -> np.ndarray:
    return np.clip(np.searchsorted(np.asarray(edges[1:-1], float), np.asarray(heights, float), side="right"),
                   0, len(edges) - 2)


def cell_keys(sizes, family, view) -> list[tuple[str, ...]]:
    """Per row, its cell keys from the finest to "" (everyone)."""
    out = []
    for s, f, v in zip(np.asarray(sizes).tolist(), np.asarray(family, str).tolist(), np.asarray(view, str).tolist()):
        out.append((f"{f}/{v}/s{s}", f"{f}/{v}", f, ""))
    return out


@dataclass
class NoiseCell:
    n: int                       # people the cell was measured on (before shrinkage)
    bias: np.ndarray             # (17, 2) fraction of size
    loadings: np.ndarray         # (34, q) low-rank part of the normalised covariance
    diag: np.ndarray             # (34,) the rest of each coordinate's variance
    miss: np.ndarray             # (17,) miss probability of a seen keypoint, at the cell's mean size
    swap: np.ndarray             # (8,) left/right swap probability per pair
    log_size: float = 0.0        # mean log(h / base.height_ref_px) of the cell's people

    def __post_init__(self):
        self.n = int(self.n)
        self.log_size = float(self.log_size)
        self.bias = np.asarray(self.bias, float).reshape(NUM_KEYPOINTS, 2)
        self.loadings = np.asarray(self.loadings, float).reshape(_D, -1)
        self.diag = np.asarray(self.diag, float).reshape(_D)
        self.miss = np.asarray(self.miss, float).reshape(NUM_KEYPOINTS)
        self.swap = np.asarray(self.swap, float).reshape(len(PAIRS))
        for name in ("bias", "loadings", "diag", "miss", "swap"):
            if not np.all(np.isfinite(getattr(self, name))):
                raise ValueError(f"NoiseCell.{name} must be finite")
        if np.any(self.diag < 0) or np.any((self.miss < 0) | (self.miss > 1)) or np.any((self.swap < 0) | (self.swap > 1)):
            raise ValueError("NoiseCell: diag >= 0, miss and swap in [0, 1]")

    def covariance(self) -> np.ndarray:
        return self.loadings @ self.loadings.T + np.diag(self.diag)

    def to_dict(self) -> dict:
        r = lambda a: np.round(np.asarray(a, float), 6).tolist()
        return {"n": self.n, "bias": r(self.bias), "loadings": r(self.loadings), "diag": r(self.diag),
                "miss": r(self.miss), "swap": r(self.swap), "log_size": round(self.log_size, 6)}


@dataclass
class FamilyNoiseModel:
    base: DetectorNoiseModel     # confidence, outliers, pixel floor; the fallback for rows without a cell
    cells: dict                  # key -> NoiseCell ("" always present)
    h0_px: float                 # covariances are of displacement / sqrt(h^2 + h0^2)
    size_edges: tuple = SIZE_EDGES_PX
    shrink: float = 50.0         # prior weight of the parent cell, in people
    note: str = ""
    fit_stats: dict = field(default_factory=dict)

    def __post_init__(self):
        self.size_edges = tuple(float(e) for e in self.size_edges)
        self.h0_px = float(self.h0_px)
        if "" not in self.cells:
            raise ValueError("FamilyNoiseModel: the root cell '' is missing")
        if not (self.h0_px >= 0 and self.shrink >= 0) or list(self.size_edges) != sorted(self.size_edges):
            raise ValueError("FamilyNoiseModel: h0_px and shrink >= 0, size_edges increasing")

    # ---- sampling -------------------------------------------------------------------------------
    def cell_of(self, heights, family=None, view=None, codes: bool = False):
        """Per row, the key of the deepest stored cell that holds it (list of str); with codes=True
        (sorted distinct keys, (n,) index into them) instead."""
        n = len(np.atleast_1d(heights))
        family = np.full(n, "unknown") if family is None else family
        view = np.full(n, "unknown") if view is None else view
        sizes = size_bin(heights, self.size_edges).astype(str)
        combo = np.char.add(np.char.add(np.char.add(np.asarray(family, str), "|"), np.asarray(view, str)),
                            np.char.add("|", sizes))
        uniq, inv = np.unique(combo, return_inverse=True)       # resolve each distinct cell once
        parts = [u.split("|") for u in uniq.tolist()]
        keys = cell_keys([int(p[2]) for p in parts], [p[0] for p in parts], [p[1] for p in parts])
        found = [next(k for k in ks if k in self.cells) for ks in keys]
        if codes:
            names = sorted(set(found))
            return names, np.array([names.index(f) for f in found], int)[inv.reshape(-1)]
        return [found[i] for i in inv.reshape(-1).tolist()]

    def sample(self, rng, keypoints_2d, visibility, heights, family=None, view=None, dtype=np.float32,
               image_size=None) -> np.ndarray:
        """``apply`` under the signature every noise model shares (no phantoms: image_size unused)."""
        return self.apply(rng, keypoints_2d, visibility, heights, family, view, dtype=dtype)

    def apply(self, rng: np.random.Generator, keypoints_2d, visibility, heights, family=None, view=None,
              dtype=np.float32) -> np.ndarray:
        """Detector-like keypoints from clean ones (like DetectorNoiseModel.apply), drawn from each
        row's cell (family, view: (n,) names; None = unknown). Deterministic for a given rng state."""
        kp = np.asarray(keypoints_2d)
        vis = np.asarray(visibility) > 0
        h = np.maximum(np.asarray(heights, float), 1.0)
        if kp.ndim != 3 or kp.shape[1] != NUM_KEYPOINTS or kp.shape[2] not in (2, 3):
            raise ValueError(f"keypoints_2d must be (n, 17, 2|3), got {kp.shape}")
        if vis.shape != kp.shape[:2] or h.shape != kp.shape[:1]:
            raise ValueError(f"visibility {vis.shape} / heights {h.shape} do not match keypoints {kp.shape}")
        n = len(kp)
        kp = kp[..., :2].astype(float)
        vis = vis.copy()
        names, code = self.cell_of(h, family, view, codes=True)
        swap = np.zeros((n, len(PAIRS)))
        bias = np.zeros((n, NUM_KEYPOINTS, 2))
        p_miss = np.zeros((n, NUM_KEYPOINTS))
        err = np.zeros((n, _D))
        s = np.sqrt(h ** 2 + self.h0_px ** 2)
        for j, key in enumerate(names):
            r = np.flatnonzero(code == j)
            c = self.cells[key]
            swap[r], bias[r] = c.swap, c.bias
            # the cell's miss rate at its mean size, moved along the base model's slope in log size
            x = np.log(h[r] / self.base.height_ref_px) - c.log_size
            p_miss[r] = _sigmoid(_logit(c.miss) + self.base.miss_slope * x[:, None])
            z = rng.standard_normal((len(r), c.loadings.shape[1] + _D))
            err[r] = z[:, :c.loadings.shape[1]] @ c.loadings.T + z[:, c.loadings.shape[1]:] * np.sqrt(c.diag)
        swap_pairs(kp, vis, rng.random((n, len(PAIRS))) < swap)
        kp += bias * h[:, None, None] + err.reshape(n, NUM_KEYPOINTS, 2) * s[:, None, None]
        return self.base.finish(rng, kp, vis, h, p_miss).astype(dtype)

    # ---- fitting --------------------------------------------------------------------------------
    @classmethod
    def fit(cls, gt_kps, det_kps, heights, family, view, *, size_edges=SIZE_EDGES_PX, shrink: float = 50.0,
            rank: int = 6, min_cell: int = 20, miss_conf: float = 0.05, note: str = "") -> "FamilyNoiseModel":
        """Measure the model on (ground truth, detection) pairs of the same people.

        gt_kps (n, 17, 3) x, y, visibility; det_kps (n, 17, 3) x, y, conf (below miss_conf =
        missed); heights (n,) sizes in pixels (``person_height_px(gt_kps)``); family, view (n,)
        names. Displacements beyond 5 robust SD are left out of the covariances (the base model's
        outlier process covers them).
        """
        gt, det = np.asarray(gt_kps, float), np.asarray(det_kps, float)
        h = np.maximum(np.asarray(heights, float), 1.0)
        family, view = np.asarray(family, str), np.asarray(view, str)
        n = len(gt)
        if family.shape != (n,) or view.shape != (n,):
            raise ValueError(f"fit: family {family.shape} and view {view.shape} need one entry per person ({n})")
        base = DetectorNoiseModel.fit(gt, det, h, miss_conf=miss_conf, note=note)
        vis = gt[..., 2] > 0
        got = vis & (det[..., 2] >= miss_conf)
        # undo only the swaps of pairs far enough apart to tell: for close pairs (hips seen from the
        # side) the crossed assignment is often nearer by chance, and undoing it would scramble the
        # very correlation this model measures
        _, swapped, ident = undo_swaps(gt, det, got, h, base.jitter)
        det = det.copy()
        swap_pairs(det, got.copy(), swapped & ident)
        jit = float(np.median(base.jitter))
        h0 = base.floor_px / jit if jit > 0 else 0.0
        s = np.sqrt(h ** 2 + h0 ** 2)
        disp = (det[..., :2] - gt[..., :2])                                  # (n, 17, 2) pixels
        m_kp = got
        # robust per-keypoint scale of the normalised displacement, for the 5-SD inlier cut
        z = (disp - base.bias * h[:, None, None]) / s[:, None, None]
        sd_k = np.array([np.nanmedian(np.abs(z[m_kp[:, k], k])) * 1.4826 if m_kp[:, k].any() else 1.0
                         for k in range(NUM_KEYPOINTS)])
        inlier = m_kp & np.all(np.abs(z) <= 5.0 * np.maximum(sd_k, 1e-6)[None, :, None], axis=-1)

        sizes = size_bin(h, size_edges)
        keys = cell_keys(sizes, family, view)
        members: dict[str, list[int]] = {}
        for i, ks in enumerate(keys):
            for k in ks:
                members.setdefault(k, []).append(i)
        order = sorted(members, key=lambda k: (k.count("/") + (k != ""), k))   # parents before children
        full: dict[str, tuple] = {}
        cells: dict[str, NoiseCell] = {}
        for key in order:
            idx = np.asarray(members[key])
            parent = None if key == "" else full[key.rsplit("/", 1)[0] if "/" in key else ""]
            k_w = 0.0 if parent is None else shrink
            g, gi = m_kp[idx], inlier[idx]
            # bias: per coordinate median of displacement / h, shrunk by the keypoint's count
            b_raw = np.zeros((NUM_KEYPOINTS, 2))
            cnt = g.sum(0).astype(float)
            for k in range(NUM_KEYPOINTS):
                if cnt[k]:
                    b_raw[k] = np.median(disp[idx][g[:, k], k] / h[idx][g[:, k], None], axis=0)
            pb = parent[0] if parent else np.zeros_like(b_raw)
            bias = (cnt[:, None] * b_raw + k_w * pb) / np.maximum(cnt[:, None] + k_w, 1e-9)
            # covariance of the normalised rest, pairwise-complete, shrunk entry-wise by the pair counts
            x = ((disp[idx] - bias * h[idx, None, None]) / s[idx, None, None]).reshape(len(idx), _D)
            mi = np.repeat(gi, 2, axis=1).astype(float)
            x = np.where(mi > 0, x, 0.0)
            S, N = x.T @ x, mi.T @ mi
            pc = parent[1] if parent else np.zeros((_D, _D))
            cov = (S + k_w * pc) / np.maximum(N + k_w, 1.0)
            cov = _nearest_psd(cov)
            # misses and swaps: counts shrunk towards the parent's rates
            v_cnt, miss_cnt = vis[idx].sum(0), (vis[idx] & ~m_kp[idx]).sum(0)
            pm = parent[2] if parent else np.zeros(NUM_KEYPOINTS)
            miss = (miss_cnt + k_w * pm) / np.maximum(v_cnt + k_w, 1.0)
            id_cnt, sw_cnt = ident[idx].sum(0), (ident[idx] & swapped[idx]).sum(0)
            ps = parent[3] if parent else np.zeros(len(PAIRS))
            swap = (sw_cnt + k_w * ps) / np.maximum(id_cnt + k_w, 1.0)
            full[key] = (bias, cov, miss, swap)
            if key == "" or len(idx) >= min_cell:
                load, dg = _low_rank(cov, rank)
                cells[key] = NoiseCell(len(idx), bias, load, dg, miss, swap,
                                       float(np.mean(np.log(h[idx] / base.height_ref_px))))
        stats = {"n_people": int(n), "cells": len(cells), "rank": int(rank), "min_cell": int(min_cell),
                 "families": {str(f): int(c) for f, c in zip(*np.unique(family, return_counts=True))},
                 "views": {str(v): int(c) for v, c in zip(*np.unique(view, return_counts=True))},
                 "base_fit": base.fit_stats}
        return cls(base, cells, h0, tuple(size_edges), float(shrink),
                   note or f"fitted on {n} (ground truth, detection) pairs", stats)

    # ---- serialisation --------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "note": self.note,
                "size_edges": [e if math.isfinite(e) else "inf" for e in self.size_edges],
                "h0_px": self.h0_px, "shrink": self.shrink, "fit_stats": self.fit_stats,
                "base": self.base.to_dict(), "cells": {k: c.to_dict() for k, c in sorted(self.cells.items())}}

    @classmethod
    def from_dict(cls, d: dict) -> "FamilyNoiseModel":
        if d.get("format") != FORMAT or d.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"not a {FORMAT} v{FORMAT_VERSION} document")
        try:
            return cls(DetectorNoiseModel.from_dict(d["base"]), {k: NoiseCell(**c) for k, c in d["cells"].items()},
                       d["h0_px"], tuple(float(e) for e in d["size_edges"]), d.get("shrink", 50.0),
                       d.get("note", ""), d.get("fit_stats", {}))
        except (KeyError, TypeError) as e:
            raise ValueError(f"{FORMAT}: bad or missing field ({e})") from None

    def to_json(self, path=None) -> str:
        text = json.dumps(self.to_dict(), indent=None, separators=(",", ":"))
        if path is not None:
            from .records import atomic_write_text
            atomic_write_text(path, text + "\n")
        return text


def load_noise_model(path_or_text):
    """A DetectorNoiseModel, FamilyNoiseModel or ScaledNoiseModel from a JSON file (or its text), by
    its format."""
    s = str(path_or_text)
    try:
        d = json.loads(s if s.lstrip().startswith("{") else Path(s).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{s[:200]}: cannot read noise model: {e}") from None
    try:
        if isinstance(d, dict) and d.get("format") == FORMAT:
            return FamilyNoiseModel.from_dict(d)
        from .noise_scale import FORMAT as SCALED, ScaledNoiseModel
        if isinstance(d, dict) and d.get("format") == SCALED:
            if not isinstance(d.get("inner"), dict):
                raise ValueError(f"{SCALED}: no inner noise model")
            return ScaledNoiseModel.from_dict(d, load_noise_model(json.dumps(d["inner"])))
        return DetectorNoiseModel.from_dict(d)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{s[:200]}: {e}") from None


def apply_noise(noise, rng, keypoints_2d, visibility, heights, family=None, view=None, dtype=np.float32,
                image_size=None):
    """Any noise model's draw (its ``sample``); family and view reach only the models that use them,
    image_size (for phantom keypoints of joints outside the picture) only the plain model."""
    return noise.sample(rng, keypoints_2d, visibility, heights, family, view, dtype=dtype, image_size=image_size)


def _nearest_psd(c: np.ndarray) -> np.ndarray:
    c = 0.5 * (c + c.T)
    w, v = np.linalg.eigh(c)
    return (v * np.maximum(w, 1e-10)) @ v.T


def _low_rank(cov: np.ndarray, rank: int, iters: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """cov ~ L L^T + diag(d), exact on the diagonal (principal-axis factoring: the top eigenpairs of
    cov minus the current diagonal, repeated), so a shared offset of two keypoints keeps its full
    covariance even when the rest of the noise is uneven."""
    q = max(0, min(rank, len(cov) - 1))
    d = 0.5 * np.diag(cov)
    L = np.zeros((len(cov), q))
    for _ in range(iters if q else 0):
        w, v = np.linalg.eigh(cov - np.diag(d))
        w, v = w[::-1][:q], v[:, ::-1][:, :q]
        L = v * np.sqrt(np.maximum(w, 0.0))
        new = np.maximum(np.diag(cov) - np.sum(L ** 2, axis=1), 1e-10)
        if np.max(np.abs(new - d)) < 1e-12 + 1e-6 * np.max(np.diag(cov)):
            d = new
            break
        d = new
    return L, np.maximum(np.diag(cov) - np.sum(L ** 2, axis=1), 1e-10)
