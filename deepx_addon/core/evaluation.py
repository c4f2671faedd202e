"""Run estimators over a keypoint JSONL file and score them against its ground truth."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .estimators.base import INVALID_INPUT, Estimate, Estimator, estimate_record
from .metrics import ranging_metrics
from .records import iter_jsonl


@dataclass
class Prediction:
    row_id: str | None
    line: int
    estimate: Estimate
    true_distance_m: float | None = None
    true_depth_m: float | None = None
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
                                  p.record.extra))
    return out


@dataclass
class Evaluation:
    estimator: str
    metrics: dict
    depth_metrics: dict
    statuses: dict
    skipped_no_truth: int
    predictions: list = field(repr=False, default_factory=list)


def group_metrics(preds: list[Prediction], key: str) -> dict[str, dict]:
    """ranging_metrics per value of an extra field (e.g. family); rows without it are '(none)'."""
    groups: dict[str, list[Prediction]] = {}
    for p in preds:
        if p.true_distance_m is not None:
            groups.setdefault(str(p.extra.get(key, "(none)")), []).append(p)
    out = {}
    for g in sorted(groups):
        ps = groups[g]
        out[g] = ranging_metrics([p.estimate.distance_m if p.estimate.has_value else np.nan for p in ps],
                                 [p.true_distance_m for p in ps])
    return out


def evaluate_predictions(name: str, preds: list[Prediction]) -> Evaluation:
    scored = [p for p in preds if p.true_distance_m is not None]
    pred_d = np.array([p.estimate.distance_m if p.estimate.has_value else np.nan for p in scored], float)
    true_d = np.array([p.true_distance_m for p in scored], float)
    with_depth = [p for p in scored if p.true_depth_m is not None]
    pred_z = np.array([p.estimate.depth_m if p.estimate.has_value else np.nan for p in with_depth], float)
    true_z = np.array([p.true_depth_m for p in with_depth], float)
    return Evaluation(name, ranging_metrics(pred_d, true_d), ranging_metrics(pred_z, true_z),
                      dict(Counter(p.estimate.status for p in preds)), len(preds) - len(scored), preds)
