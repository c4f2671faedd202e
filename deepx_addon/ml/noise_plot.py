"""Figure: a detector noise model against observed (ground truth, detection) pairs (matplotlib)."""
from __future__ import annotations

from pathlib import Path

from ..core.keypoints import COCO_KEYPOINTS


def plot_noise_fit(model, gt_kps, det_kps, heights, path, title: str = "",
                   edges=(0, 25, 50, 100, 200, 400, 1e9)) -> Path:
    """Per keypoint: robust position error SD (relative to size), miss rate and median confidence
    against person size in pixels; observed (dots) vs modelled (lines). Writes a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = model.error_table(gt_kps, det_kps, heights, edges)
    c = t["centres"]
    fig, axes = plt.subplots(1, 3, figsize=(16, 5))
    cmap = plt.get_cmap("tab20")
    for k, name in enumerate(COCO_KEYPOINTS):
        col = cmap(k % 20)
        axes[0].plot(c, t["obs_sd_px"][k] / c, "o", color=col, ms=4)
        axes[0].plot(c, t["model_sd_px"][k] / c, "-", color=col, lw=1, label=name)
        axes[1].plot(c, t["obs_miss"][k], "o", color=col, ms=4)
        axes[1].plot(c, t["model_miss"][k], "-", color=col, lw=1)
        axes[2].plot(c, t["obs_conf"][k], "o", color=col, ms=4)
        axes[2].plot(c, t["model_conf"][k], "-", color=col, lw=1)
    axes[0].set(ylabel="per-axis error SD / person size", title="position error (dots observed, lines model)")
    axes[1].set(ylabel="miss rate", title="missed keypoints")
    axes[2].set(ylabel="median confidence", title="confidence of kept keypoints")
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter
    for a in axes:
        a.set_xscale("log")
        a.xaxis.set_major_locator(FixedLocator([10, 20, 50, 100, 200, 500, 1000]))
        a.xaxis.set_major_formatter(ScalarFormatter())
        a.xaxis.set_minor_locator(NullLocator())
        a.set_xlabel("person size (px)")
        a.grid(alpha=0.3)
    axes[0].legend(fontsize=6, ncol=2)
    fig.suptitle(title or model.note[:120])
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return path
