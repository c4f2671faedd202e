"""Figures for evaluation reports (matplotlib, headless)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def error_vs_distance(evaluations, path, title: str = "") -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for ev in evaluations:
        have = np.isfinite(ev.pred_distance)
        if not have.any():
            continue
        t, d = ev.true_distance[have], ev.pred_distance[have]
        rel = 100 * (d - t) / t
        ax1.scatter(t, rel, s=8, alpha=0.5, label=ev.estimator)
        edges = np.array([0, 5, 10, 15, 20, 30, 40, 60, 100])
        idx = np.digitize(t, edges) - 1
        centres, ale = [], []
        for b in range(len(edges) - 1):
            sel = idx == b
            if sel.sum() >= 3:
                centres.append(t[sel].mean())
                ale.append(np.abs(d[sel] - t[sel]).mean())
        ax2.plot(centres, ale, marker="o", label=ev.estimator)
    ax1.axhline(0, color="k", lw=0.5)
    ax1.set(xlabel="true distance (m)", ylabel="signed relative error (%)", title="per person")
    ax2.set(xlabel="true distance (m)", ylabel="mean absolute error (m)", title="binned ALE")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
