"""Run estimators over a keypoint JSONL file and score them against its ground truth."""
from __future__ import annotations

import bisect
import os
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Iterator

import numpy as np

from . import framing
from .estimators.base import INVALID_INPUT, Estimate, Estimator, estimate_record
from .metrics import ranging_metrics, stature_floor
from .records import iter_chunks


@dataclass
class Prediction:
    row_id: str | None
    line: int
    estimate: Estimate
    true_distance_m: float | None = None
    true_depth_m: float | None = None
    extra: dict = field(default_factory=dict)   # the row (its extra fields: family, ...) for grouping


# Groups derived from row fields for `deepx evaluate --group-by` (besides any field as it is, e.g.
# family): the generator draws children 1.0-1.5 m and adults >= 1.0 m (about 1 adult in 120 is under
# 1.5 m), so "stature" splits children from adults; "oks_bin" splits people by how well the detector
# read their keypoints (rows of scripts/render_detect.py carry oks). Keys combine: "stature,oks_bin".
CHILD_BELOW_M = 1.5
OKS_EDGES = (0.3, 0.5, 0.8)


def _number(v):
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) else None


def _stature_group(extra: dict) -> str:
    h = _number(extra.get("height_m"))
    return "(none)" if h is None else f"<{CHILD_BELOW_M:g}m" if h < CHILD_BELOW_M else f">={CHILD_BELOW_M:g}m"


OKS_LABELS = tuple(f"oks {lo:g}-{hi:g}" for lo, hi in zip((0.0, *OKS_EDGES), OKS_EDGES)) + (f"oks>={OKS_EDGES[-1]:g}",)


def _oks_group(extra: dict) -> str:
    o = _number(extra.get("oks"))
    return "(none)" if o is None else OKS_LABELS[bisect.bisect_right(OKS_EDGES, o)]


DERIVED_GROUPS = {"stature": ("height_m", _stature_group), "oks_bin": ("oks", _oks_group)}


def group_keys(group_by: str | None) -> tuple[str, ...]:
    """The keys of a --group-by value (comma-separated, derived or plain)."""
    return tuple(k.strip() for k in (group_by or "").split(",") if k.strip())


def group_fields(group_by: str | None) -> tuple[str, ...]:
    """The row fields a --group-by value needs kept."""
    return tuple(DERIVED_GROUPS[k][0] if k in DERIVED_GROUPS else k for k in group_keys(group_by))


def group_value(extra: dict, keys: tuple[str, ...]) -> str:
    """A row's group: each key's value ('(none)' where the row lacks it), joined by ' / '."""
    return " / ".join(DERIVED_GROUPS[k][1](extra) if k in DERIVED_GROUPS else str(extra.get(k, "(none)"))
                      for k in keys)


CHUNK_ROWS = 4096   # rows estimated together: memory stays flat whatever the file size


def _chunk_estimates(estimator: Estimator, chunk) -> list[Estimate]:
    """One Estimate per valid row of a RecordChunk: vectorised when the estimator has
    estimate_arrays (the learned model), else row by row."""
    arrays = getattr(estimator, "estimate_arrays", None)
    if arrays is None or not len(chunk.ids):
        return [estimate_record(estimator, chunk.record(i)) for i in range(len(chunk.ids))]
    r = arrays(chunk.keypoints, chunk.K)
    f = lambda v: None if not np.isfinite(v) else float(v)   # noqa: E731
    sig = r["sigma_m"] if r["sigma_m"] is not None else np.full(len(chunk.ids), np.nan)
    return [Estimate(f(d), f(z), f(sg), str(st), rs) for d, z, sg, st, rs in
            zip(r["distance_m"].tolist(), r["depth_m"].tolist(), sig.tolist(), r["status"], r["reason"])]


def _framed(ests: list[Estimate], chunk) -> list[Estimate]:
    """The framing statuses `deepx estimate` gives (core/framing.py): too_small (no number) and
    truncated (the number, with the reason), from the row's image_size, keypoints and bbox."""
    bbox = np.full((len(chunk.ids), 4), np.nan)
    for i, row in enumerate(chunk.rows):
        b = row.get("bbox")
        if isinstance(b, (list, tuple)) and len(b) == 4 and all(isinstance(v, (int, float)) for v in b):
            bbox[i] = b
    small, trunc = framing.judge_many(chunk.keypoints, chunk.image_size, bbox)
    out = []
    for e, sm, tr in zip(ests, small, trunc):
        if sm:
            e = Estimate.none(sm, framing.TOO_SMALL)
        elif tr and e.has_value:
            e = replace(e, status=framing.TRUNCATED, reason="; ".join(x for x in (tr, e.reason) if x))
        out.append(e)
    return out


def default_workers() -> int:
    """Processes that read large files ($DEEPX_WORKERS, else up to 2 cores)."""
    env = os.environ.get("DEEPX_WORKERS")
    return max(1, int(env)) if env and env.isdigit() else min(2, os.cpu_count() or 1)


def iter_predictions(estimator: Estimator, path, framing_checks: bool = False, chunk_rows: int = CHUNK_ROWS,
                     workers: int = 1, keep=None) -> Iterator[Prediction]:
    """One Prediction per non-blank input line, in order, streamed in chunks (flat memory); invalid
    rows get status invalid_input. framing_checks: also flag truncated / too-small people, as
    `deepx estimate` does (deepx predict). workers, keep: see records.iter_chunks (Prediction.extra
    then holds only the kept fields)."""
    if keep is not None and framing_checks:
        keep = tuple(keep) + ("bbox",)
    for chunk in iter_chunks(path, chunk_rows, workers, keep):
        ests = _chunk_estimates(estimator, chunk)
        if framing_checks:
            ests = _framed(ests, chunk)
        valid = [Prediction(chunk.ids[i], int(chunk.lines[i]), e,
                            None if np.isnan(chunk.distance_m[i]) else float(chunk.distance_m[i]),
                            None if np.isnan(chunk.depth_m[i]) else float(chunk.depth_m[i]), chunk.rows[i])
                 for i, e in enumerate(ests)]
        bad = [Prediction(p.row_id, p.line, Estimate.none(str(p.error), INVALID_INPUT)) for p in chunk.errors]
        yield from (valid if not bad else sorted(valid + bad, key=lambda p: p.line))


def predict_file(estimator: Estimator, path, framing_checks: bool = False) -> list[Prediction]:
    """All of iter_predictions as a list."""
    return list(iter_predictions(estimator, path, framing_checks))


@dataclass
class Evaluation:
    estimator: str
    metrics: dict
    depth_metrics: dict
    statuses: dict
    skipped_no_truth: int
    n_rows: int = 0
    # per scored row (ground truth present), NaN where no estimate: a few numbers per row, not the rows
    true_distance: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    pred_distance: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    groups: dict = field(repr=False, default_factory=dict)   # group_by field -> (scored rows,) str values
    sigma_distance: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))  # NaN: no sigma
    floor: np.ndarray | None = field(repr=False, default=None)   # stature floor per scored row (NaN: no height)


def evaluate_predictions(name: str, preds, group_by: str | None = None,
                         mean_stature_m: float | None = None) -> Evaluation:
    """Score an iterable of Predictions (streamed: only a few floats per row are kept). With
    mean_stature_m, rows with height_m (in Prediction.extra) also get the stature floor
    (metrics.stature_floor) and the ratio of the error to it; sigmas give the share within 1 sigma."""
    from array import array
    td, pd, tz, pz, sg, hh = array("d"), array("d"), array("d"), array("d"), array("d"), array("d")
    statuses: Counter = Counter()
    groups: list = []
    keys = group_keys(group_by)
    n = 0
    for p in preds:
        n += 1
        statuses[p.estimate.status] += 1
        if p.true_distance_m is None:
            continue
        has = p.estimate.has_value
        td.append(p.true_distance_m)
        pd.append(p.estimate.distance_m if has else np.nan)
        sg.append(p.estimate.sigma_m if has and p.estimate.sigma_m is not None else np.nan)
        h = p.extra.get("height_m") if p.extra else None
        hh.append(float(h) if isinstance(h, (int, float)) and h > 0 else np.nan)
        if p.true_depth_m is not None:
            tz.append(p.true_depth_m)
            pz.append(p.estimate.depth_m if has else np.nan)
        if group_by:
            groups.append(group_value(p.extra or {}, keys))
    td, pd, tz, pz, sg, hh = (np.frombuffer(a, float) if len(a) else np.zeros(0) for a in (td, pd, tz, pz, sg, hh))
    floor = None if mean_stature_m is None else stature_floor(hh, mean_stature_m)
    return Evaluation(name, ranging_metrics(pd, td, sg, floor), ranging_metrics(pz, tz), dict(statuses), n - len(td),
                      n, td, pd, {group_by: np.array(groups, dtype=object)} if group_by else {}, sg, floor)


def group_metrics(ev: Evaluation, key: str) -> dict[str, dict]:
    """ranging_metrics per value of a row field (e.g. family; evaluate_predictions(group_by=key)
    collected it); rows without it are '(none)'."""
    values = ev.groups[key]
    pick = lambda a, m: None if a is None or not len(a) else a[m]   # noqa: E731
    rel = ev.pred_distance / ev.true_distance - 1.0
    n_est = int(np.isfinite(rel).sum())
    out = {}
    for g in sorted(set(values.tolist())):
        m = values == g
        out[g] = ranging_metrics(ev.pred_distance[m], ev.true_distance[m], pick(ev.sigma_distance, m), pick(ev.floor, m))
        # the group's share of the overall bias (mean signed relative error over every estimated
        # row): the shares add up to the bias, so they say which people carry it
        out[g]["all"]["bias_points"] = float(np.nansum(rel[m]) / n_est) if n_est else None
    return out
