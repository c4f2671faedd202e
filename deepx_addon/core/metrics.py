"""Ranging metrics: ALE, ALP, relative errors, per distance bin (numpy only)."""
from __future__ import annotations

import math

import numpy as np

BINS = ((0.0, 10.0), (10.0, 20.0), (20.0, 30.0), (30.0, math.inf))
ALP_THRESHOLDS = (0.5, 1.0, 2.0)


def _summary(pred: np.ndarray, true: np.ndarray, n_total: int) -> dict:
    n = len(true)
    out = {"n": n_total, "n_estimated": n, "coverage": (n / n_total) if n_total else None}
    if n == 0:
        out.update({"ale_m": None, "mean_rel": None, "median_rel": None, "bias_rel": None,
                    **{f"alp_{t:g}m": None for t in ALP_THRESHOLDS}})
        return out
    err = pred - true
    rel = err / true
    out.update({
        "ale_m": float(np.mean(np.abs(err))),
        **{f"alp_{t:g}m": float(np.mean(np.abs(err) <= t)) for t in ALP_THRESHOLDS},
        "mean_rel": float(np.mean(np.abs(rel))),
        "median_rel": float(np.median(np.abs(rel))),
        "bias_rel": float(np.mean(rel)),
    })
    return out


def ranging_metrics(pred, true) -> dict:
    """pred may hold NaN (no estimate): those count against coverage, not the error averages."""
    pred, true = np.asarray(pred, float), np.asarray(true, float)
    have = np.isfinite(pred)
    result = {"all": _summary(pred[have], true[have], len(true)), "bins": {}}
    for lo, hi in BINS:
        sel = (true >= lo) & (true < hi)
        label = f"{lo:g}-{hi:g}m" if math.isfinite(hi) else f"{lo:g}m+"
        result["bins"][label] = _summary(pred[sel & have], true[sel & have], int(sel.sum()))
    return result


def _fmt(v, pct=False):
    if v is None:
        return "-"
    return f"{100 * v:.1f}%" if pct else f"{v:.2f}"


def format_table(results: dict[str, dict], title: str = "", groups: bool = False, group_label: str = "bin") -> str:
    """results: estimator name -> ranging_metrics() (or, with groups=True, name -> {group:
    ranging_metrics()}, one row per group). A plain-text (Markdown) table."""
    head = ["estimator", group_label, "n", "cover", "ALE m", "ALP<0.5", "ALP<1", "ALP<2", "mean rel", "median rel",
            "bias"]
    rows = []
    for name, res in results.items():
        items = [(g, r["all"]) for g, r in res.items()] if groups else [("all", res["all"]), *res["bins"].items()]
        for label, m in items:
            if label != "all" and m["n"] == 0:
                continue
            rows.append([name, label, str(m["n"]), _fmt(m["coverage"], True), _fmt(m["ale_m"]),
                         _fmt(m["alp_0.5m"], True), _fmt(m["alp_1m"], True), _fmt(m["alp_2m"], True),
                         _fmt(m["mean_rel"], True), _fmt(m["median_rel"], True), _fmt(m["bias_rel"], True)])
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
    out = [f"{title}" if title else None, line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(x for x in out if x is not None)
