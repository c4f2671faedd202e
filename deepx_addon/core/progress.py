"""Progress lines and run summaries printed by long jobs (render runs, pose tables, estimates)."""
from __future__ import annotations

import sys
import time


def printer(stream=None, every_s: float = 2.0):
    """A progress callback printing one line at most every ``every_s`` seconds (and at the end)."""
    stream = stream or sys.stdout
    last = [0.0]

    def show(pr):
        now = time.perf_counter()
        if pr.finished or now - last[0] >= every_s:
            last[0] = now
            rate = pr.samples_per_s
            left = pr.total - pr.done
            eta = f", ~{left / rate:.0f} s left" if rate > 0 and left else ""
            print(f"  {pr.done}/{pr.total} samples, {rate:.2f} samples/s{eta}", file=stream, flush=True)
    return show


def print_summary(s: dict, stream=None) -> None:
    stream = stream or sys.stdout
    ds = s["dataset"]
    print(f"shard {s['shard']}: rendered {s['rendered']} samples ({s['images']} images) in {s['seconds']:.1f} s "
          f"= {s['images_per_s']:.2f} images/s; {s['done_before']} were done before"
          + ("" if s["finished"] else " (stopped early: rerun to resume)"), file=stream)
    print(f"dataset {s['out_dir']}: {ds['samples']}/{s['count']} samples, {ds['images']} images"
          + (f", {ds['missing']} still missing (other shards?)" if ds["missing"] else "")
          + f"; files: {', '.join(ds['files'].values())}", file=stream)
