"""Ranging metrics: ALE, ALP, relative errors, per distance bin (numpy only)."""
from __future__ import annotations

import math

import numpy as np

BINS = ((0.0, 10.0), (10.0, 20.0), (20.0, 30.0), (30.0, math.inf))
ALP_THRESHOLDS = (0.5, 1.0, 2.0)


def _summary(pred: np.ndarray, true: np.ndarray, n_total: int, sigma=None, floor=None) -> dict:
    n = len(true)
    out = {"n": n_total, "n_estimated": n, "coverage": (n / n_total) if n_total else None}
    if n == 0:
        out.update({"ale_m": None, "mean_rel": None, "median_rel": None, "bias_rel": None, "median_signed_rel": None,
                    **{f"alp_{t:g}m": None for t in ALP_THRESHOLDS}})
        return out
    if sigma is not None and np.isfinite(sigma).any():
        s = np.isfinite(sigma)
        out["within_1sigma"] = float(np.mean(np.abs(pred[s] - true[s]) <= sigma[s]))
    if floor is not None and np.isfinite(floor).any():
        f = np.isfinite(floor)
        out["floor_median_rel"] = float(np.median(floor[f]))
        out["x_floor"] = float(np.median(np.abs(pred[f] / true[f] - 1)) / max(out["floor_median_rel"], 1e-12))
    err = pred - true
    rel = err / true
    out.update({
        "ale_m": float(np.mean(np.abs(err))),
        **{f"alp_{t:g}m": float(np.mean(np.abs(err) <= t)) for t in ALP_THRESHOLDS},
        "mean_rel": float(np.mean(np.abs(rel))),
        "median_rel": float(np.median(np.abs(rel))),
        "bias_rel": float(np.mean(rel)),
        # the typical signed error: a few far-off reads (a folded person read small) move the mean, not this
        "median_signed_rel": float(np.median(rel)),
    })
    return out


def ranging_metrics(pred, true, sigma=None, floor=None) -> dict:
    """pred may hold NaN (no estimate): those count against coverage, not the error averages.

    sigma (optional, NaN = none): each estimate's 1-sigma -> ``within_1sigma``. floor (optional,
    NaN = unknown): each person's stature floor (``stature_floor``) -> ``floor_median_rel`` and
    ``x_floor`` = median relative error / median floor, both on the estimated people."""
    pred, true = np.asarray(pred, float), np.asarray(true, float)
    sigma = None if sigma is None else np.asarray(sigma, float)
    floor = None if floor is None else np.asarray(floor, float)
    have = np.isfinite(pred)
    pick = lambda a, m: None if a is None else a[m]
    result = {"all": _summary(pred[have], true[have], len(true), pick(sigma, have), pick(floor, have)), "bins": {}}
    for lo, hi in BINS:
        sel = (true >= lo) & (true < hi)
        label = f"{lo:g}-{hi:g}m" if math.isfinite(hi) else f"{lo:g}m+"
        m = sel & have
        result["bins"][label] = _summary(pred[m], true[m], int(sel.sum()), pick(sigma, m), pick(floor, m))
    return result


def stature_floor(true_height_m, mean_stature_m: float) -> np.ndarray:
    """Per person |mean stature / true stature - 1|: the relative distance error of an oracle that
    knows everything about the person and the camera except the stature, and assumes the prior's
    mean (NaN where the height is unknown)."""
    h = np.asarray([np.nan if v is None else v for v in np.atleast_1d(true_height_m)], float)
    return np.abs(mean_stature_m / h - 1.0)


def _fmt(v, pct=False):
    if v is None:
        return "-"
    return f"{100 * v:.1f}%" if pct else f"{v:.2f}"


def format_table(results: dict[str, dict], title: str = "", groups: bool = False, group_label: str = "bin") -> str:
    """results: estimator name -> ranging_metrics() (or, with groups=True, name -> {group:
    ranging_metrics()}, one row per group). A plain-text (Markdown) table."""
    head = ["estimator", group_label, "n", "cover", "ALE m", "ALP<0.5", "ALP<1", "ALP<2", "mean rel", "median rel",
            "bias", "med signed"]
    items_of = lambda res: [(g, r["all"]) for g, r in res.items()] if groups else [("all", res["all"]), *res["bins"].items()]
    every = [m for res in results.values() for _, m in items_of(res)]
    # optional columns, shown when some row has them: share within 1 sigma, stature floor and the ratio to it
    extra = [(k, t) for k, t in (("within_1sigma", "in 1σ"), ("floor_median_rel", "floor"), ("x_floor", "÷floor"),
                                 ("bias_points", "of the bias"))
             if any(k in m for m in every)]
    head += [t for _, t in extra]
    rows = []
    for name, res in results.items():
        for label, m in items_of(res):
            if label != "all" and m["n"] == 0:
                continue
            rows.append([name, label, str(m["n"]), _fmt(m["coverage"], True), _fmt(m["ale_m"]),
                         _fmt(m["alp_0.5m"], True), _fmt(m["alp_1m"], True), _fmt(m["alp_2m"], True),
                         _fmt(m["mean_rel"], True), _fmt(m["median_rel"], True), _fmt(m["bias_rel"], True),
                         _fmt(m.get("median_signed_rel"), True)]
                        + [_fmt(m.get(k), k != "x_floor") + ("x" if k == "x_floor" and k in m else "")
                           for k, _ in extra])
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
    out = [f"{title}" if title else None, line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(x for x in out if x is not None)
