"""Benchmark of the no-render sampler: labelled keypoint samples per minute on this machine.

    .venv/bin/python scripts/bench_sampler.py [--poses 2000] [--cameras 500] [--workers 2]

A synthetic pose table (stick figures, core/standin.stick_figure_table) of POSES rows x CAMERAS
cameras each (default 1 M samples). Three figures: sampling in memory (one process), generate()
writing part files (one process), and generate() with --shard i/N in N processes (wall clock).
Target: >= 1 M labelled samples per minute on 2 cores.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deepx_addon.core import sampler as S  # noqa: E402
from deepx_addon.core.standin import stick_figure_table  # noqa: E402
from deepx_addon.core.settings import GeneratorSettings  # noqa: E402


def _shard(args):
    table, settings, out, i, n, chunk = args
    return S.generate(table, settings, out, shard=(i, n), chunk_size=chunk, progress=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--poses", type=int, default=2000)
    ap.add_argument("--cameras", type=int, default=500)
    ap.add_argument("--chunk", type=int, default=64, help="pose rows per part file")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    table = stick_figure_table(a.poses, seed=0)
    settings = GeneratorSettings(cameras_per_pose=a.cameras)
    n = a.poses * a.cameras
    print(f"{a.poses} poses x {a.cameras} cameras = {n:,} samples, chunks of {a.chunk} poses "
          f"({a.chunk * a.cameras:,} samples)")

    S.sample_from_table(table, settings, np.arange(2))        # warm-up
    t0 = time.perf_counter()
    for start in range(0, a.poses, a.chunk):
        S.sample_from_table(table, settings, np.arange(start, min(start + a.chunk, a.poses)))
    dt = time.perf_counter() - t0
    print(f"in memory, 1 process:            {n / dt * 60 / 1e6:6.2f} M samples/min ({dt:.2f} s)")

    tmp = Path(tempfile.mkdtemp(prefix="deepx-bench-sampler-"))
    try:
        t0 = time.perf_counter()
        S.generate(table, settings, tmp / "one", chunk_size=a.chunk, progress=False)
        dt = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in (tmp / "one").iterdir())
        print(f"generate() to .npz, 1 process:   {n / dt * 60 / 1e6:6.2f} M samples/min ({dt:.2f} s, "
              f"{size / n:.0f} bytes/sample)")
        if a.workers > 1:
            t0 = time.perf_counter()
            with mp.get_context("fork").Pool(a.workers) as pool:
                pool.map(_shard, [(table, settings, tmp / "sharded", i, a.workers, a.chunk) for i in range(a.workers)])
            dt = time.perf_counter() - t0
            print(f"generate() to .npz, {a.workers} shards:    {n / dt * 60 / 1e6:6.2f} M samples/min ({dt:.2f} s wall)")
            same = all((tmp / "one" / p.name).read_bytes() == p.read_bytes() for p in (tmp / "sharded").iterdir())
            print(f"sharded files identical to the 1-process run: {same}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
