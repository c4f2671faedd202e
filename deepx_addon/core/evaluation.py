"""Run estimators over a keypoint JSONL file and score them against its ground truth."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .estimators.base import INVALID_INPUT, Estimate, Estimator, estimate_record
from .metrics import ranging_metrics, stature_floor
from .records import iter_jsonl


@dataclass
class Prediction:
    row_id: str | None
    line: int
    estimate: Estimate
    true_distance_m: float | None = None
    true_depth_m: float | None = None
    true_height_m: float | None = None
    extra: dict = field(default_factory=dict)   # the row's extra fields (family, ...) for grouping


def predict_file(estimator: Estimator, path) -> list[Prediction]:
    """One Prediction per non-blank input line, in order; invalid rows get status invalid_input."""
    parsed = list(iter_jsonl(path))
    good = [p for p in parsed if p.record is not None]
    batch = getattr(estimator, "estimate_records", None)
    ests = batch([p.record for p in good]) if batch else [estimate_record(estimator, p.record) for p in good]
    by_line = {p.line: e for p, e in zip(good, ests)}
    out = []
    for p in parsed:
        if p.record is None:
            out.append(Prediction(p.row_id, p.line, Estimate.none(str(p.error), INVALID_INPUT)))
        else:
            out.append(Prediction(p.record.id, p.line, by_line[p.line], p.record.distance_m, p.record.depth_m,
                                  p.record.height_m, p.record.extra))
    return out


@dataclass
class Evaluation:
    estimator: str
    metrics: dict
    depth_metrics: dict
    statuses: dict
    skipped_no_truth: int
    predictions: list = field(repr=False, default_factory=list)


def _scores(preds: list[Prediction], mean_stature_m: float | None) -> tuple:
    """(pred, true, sigma, floor) arrays of scored predictions; floor None without mean_stature_m."""
    pred = [p.estimate.distance_m if p.estimate.has_value else np.nan for p in preds]
    sig = [p.estimate.sigma_m if p.estimate.has_value and p.estimate.sigma_m is not None else np.nan for p in preds]
    floor = None if mean_stature_m is None else stature_floor([p.true_height_m for p in preds], mean_stature_m)
    return np.array(pred, float), np.array([p.true_distance_m for p in preds], float), np.array(sig, float), floor


def group_metrics(preds: list[Prediction], key: str, mean_stature_m: float | None = None) -> dict[str, dict]:
    """ranging_metrics per value of an extra field (e.g. family); rows without it are '(none)'."""
    groups: dict[str, list[Prediction]] = {}
    for p in preds:
        if p.true_distance_m is not None:
            groups.setdefault(str(p.extra.get(key, "(none)")), []).append(p)
    out = {}
    for g in sorted(groups):
        out[g] = ranging_metrics(*_scores(groups[g], mean_stature_m))
    return out


def evaluate_predictions(name: str, preds: list[Prediction], mean_stature_m: float | None = None) -> Evaluation:
    """Scores against the file's truth; with mean_stature_m, rows with height_m also get the
    stature floor (metrics.stature_floor) and the ratio of the error to it."""
    scored = [p for p in preds if p.true_distance_m is not None]
    pred_d, true_d, sig_d, floor = _scores(scored, mean_stature_m)
    with_depth = [p for p in scored if p.true_depth_m is not None]
    pred_z = np.array([p.estimate.depth_m if p.estimate.has_value else np.nan for p in with_depth], float)
    true_z = np.array([p.true_depth_m for p in with_depth], float)
    return Evaluation(name, ranging_metrics(pred_d, true_d, sig_d, floor), ranging_metrics(pred_z, true_z),
                      dict(Counter(p.estimate.status for p in preds)), len(preds) - len(scored), preds)
