"""Benchmark `deepx predict` / `deepx evaluate` at scale: peak memory (RSS) and rows per second.

Makes N keypoint rows (the no-render sampler on the stand-in stick-figure pose table, the
documented row fields only: id, image_size, K, keypoints, ground truth, family), then runs each command in a fresh process and polls its peak RSS (VmHWM) from /proc. Flat memory =
the same peak at 1e5 and 1e6 rows. --workers 1 2 compares reading in this process with 2 reader
processes (the last column adds their memory).

    python scripts/bench_predict.py --rows 100000 1000000 --work /tmp/deepx-bench [--estimator default] [--workers 1 2]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


LEAN = ("id", "image_size", "K", "keypoints", "distance_m", "depth_m", "height_m", "family")


def make_rows(path: Path, n: int) -> None:
    """n rows of the documented keypoint format (plus family), from the no-render sampler."""
    import json

    import numpy as np

    from deepx_addon.core.records import atomic_open
    from deepx_addon.core.sampler import sample_from_table
    from deepx_addon.core.standin import stick_figure_table
    from deepx_addon.core.settings import GeneratorSettings

    if path.exists():
        return
    cams = 16
    table = stick_figure_table(-(-n // cams), seed=1)
    s = GeneratorSettings(cameras_per_pose=cams)
    left = n
    with atomic_open(path, "w") as fh:
        for a in range(0, len(table), 512):
            b = sample_from_table(table, s, np.arange(a, min(a + 512, len(table))))
            for r in b.to_records(table)[:left]:
                fh.write(json.dumps({k: r[k] for k in LEAN}) + "\n")
            left -= min(left, len(b))
            if left == 0:
                break


def _status(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next((int(line.split()[1]) for line in fh if line.startswith(key)), 0)
    except OSError:
        return 0


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def run(cmd: list[str]) -> tuple[float, float, float]:
    """(seconds, peak RSS of the command's process in MB (its VmHWM), peak RSS of the process and
    its reader workers together in MB (sampled every 0.2 s)). getrusage's ru_maxrss is not used: it
    would carry this process's own peak over the fork."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    peak = total = 0
    while p.poll() is None:
        peak = max(peak, _status(p.pid, "VmHWM"))
        total = max(total, _status(p.pid, "VmRSS") + sum(_status(c, "VmRSS") for c in _children(p.pid)))
        time.sleep(0.2)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr.read()[-2000:]}")
    return dt, peak / 1024, max(total, peak) / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--work", default="/tmp/deepx-bench")
    ap.add_argument("--estimator", default="default")
    ap.add_argument("--commands", nargs="+", default=["predict", "evaluate"], choices=["predict", "evaluate"])
    ap.add_argument("--workers", type=int, nargs="+", default=[2], help="reader processes to compare (1 = serial)")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cli = [sys.executable, "-m", "deepx_addon.cli"]
    print(f"| command | rows | wall s | rows/s | peak RSS MB | with reader workers MB |\n|---|---|---|---|---|---|")
    for n in sorted(args.rows):
        data = work / f"rows_{n}.jsonl"
        make_rows(data, n)
        for c in args.commands:
            for w in args.workers:
                if c == "predict":
                    cmd = cli + ["predict", "-i", str(data), "-o", str(work / f"out_{n}.jsonl"), "-e", args.estimator]
                else:
                    cmd = cli + ["evaluate", "-i", str(data), "-e", args.estimator, "--json", str(work / f"eval_{n}.json")]
                dt, rss, tot = run(cmd + ["--workers", str(w)])
                print(f"| {c} -e {args.estimator} --workers {w} | {n:,} | {dt:.1f} | {n / dt:,.0f} | {rss:.0f} "
                      f"| {tot:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
