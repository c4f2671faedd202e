"""Progress reporting of long jobs, one way: ``ProgressBar`` (training, the no-render sampler, pose
tables, photo/video estimates) and ``printer`` / ``print_summary`` for render runs (which report a
``runfolder.Progress``)."""
from __future__ import annotations

import sys
import time


class ProgressBar:
    """One progress line on ``stream`` (default stderr): redrawn in place on a terminal (at most every
    ``tty_every_s``), else a plain line at most every ``every_s`` seconds; always at the end.

    ``update(done, note)`` -> "LABEL [#####-----] done/total note 12.3/s 4s<10s" (rate and elapsed <
    remaining time when ``timing``); ``close()`` ends the terminal line."""

    def __init__(self, total: int, label: str, stream=None, *, every_s: float = 15.0, tty_every_s: float = 0.5,
                 enabled: bool = True, timing: bool = True):
        self.total, self.label, self.stream = int(total), label, stream or sys.stderr
        self.every_s, self.tty_every_s, self.enabled, self.timing = every_s, tty_every_s, enabled, timing
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0, self.last, self.open = time.time(), 0.0, False

    def update(self, done: int, note: str = "", force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.time()
        final = bool(self.total) and done >= self.total
        if not (force or final) and now - self.last < (self.tty_every_s if self.tty else self.every_s):
            return
        self.last = now
        frac = min(done / self.total, 1.0) if self.total else 0.0
        bar = "#" * int(24 * frac) + "-" * (24 - int(24 * frac))
        line = f"{self.label} [{bar}] {done}/{self.total or '?'}" + (f" {note}" if note else "")
        if self.timing:
            el = now - self.t0
            eta = f"<{el / done * (self.total - done):.0f}s" if done and self.total else ""
            line += f" {done / max(el, 1e-9):.1f}/s {el:.0f}s{eta}"
        if self.tty:
            self.stream.write("\r" + line[:150].ljust(150) + ("\n" if final else ""))
            self.open = not final
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.open:
            self.stream.write("\n")
            self.stream.flush()
            self.open = False


def printer(stream=None, every_s: float = 2.0):
    """A progress callback for render runs (``runfolder.Progress``): a ProgressBar on ``stream``
    (default stdout) at most every ``every_s`` seconds, and at the end."""
    bar = None

    def show(pr):
        nonlocal bar
        if bar is None:
            bar = ProgressBar(pr.total, "samples", stream or sys.stdout, every_s=every_s, tty_every_s=every_s,
                              timing=False)
        rate, left = pr.samples_per_s, pr.total - pr.done
        eta = f", ~{left / rate:.0f} s left" if rate > 0 and left else ""
        bar.update(pr.done, f"{rate:.2f} samples/s{eta}", force=pr.finished)
        if pr.finished:
            bar.close()
    return show


def print_summary(s: dict, stream=None) -> None:
    stream = stream or sys.stdout
    ds = s["dataset"]
    print(f"shard {s['shard']}: rendered {s['rendered']} samples ({s['images']} images) in {s['seconds']:.1f} s "
          f"= {s['images_per_s']:.2f} images/s; {s['done_before']} were done before"
          + ("" if s["finished"] else " (stopped early: rerun to resume)"), file=stream)
    if ds is None:          # a shard run with --no-finalize
        return
    if ds.get("deferred"):
        print(f"dataset {s['out_dir']}: {ds['samples']}/{s['count']} samples so far; {ds['deferred']}", file=stream)
        return
    print(f"dataset {s['out_dir']}: {ds['samples']}/{s['count']} samples, {ds['images']} images"
          + (f", {ds['missing']} still missing (other shards?)" if ds["missing"] else "")
          + f"; files: {', '.join(ds['files'].values())}", file=stream)
