"""Detector per image on a quiet machine vs beside busy processes, spinning vs passive worker threads.

    .venv/bin/python scripts/bench_busy.py [--n 12] [--hogs 2] [--backends torch,onnx] [--image PHOTO]

One run, side by side: a worker process per (backend, wait policy) loads YOLO11n-pose and times
``detect`` on one 640x480 image; every worker is timed on the quiet machine, then again while
``--hogs`` CPU-bound processes (``while True: pass``) run beside it. Policies:
- ``spin``: the old behaviour (torch imported before DeepX could set OMP_WAIT_POLICY; ONNX Runtime's
  default session, spinning on);
- ``passive``: what DeepX does now (runtime/threads.py: OMP_WAIT_POLICY=PASSIVE, ORT spinning off).
Prints median ms per image and busy / quiet per worker (goal: passive <= 1.3x). ``onnx`` needs the
file of scripts/export_onnx.py. "Quiet" means no hog of ours: other load on the machine stays.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOG = "while True: pass"


def worker(backend: str, policy: str, image: str | None, n: int) -> None:
    """Load the detector, then answer each 'run' line on stdin with the median ms of n detections.
    policy: spin | passive, optionally with "-<threads>" (intra-op threads; default all cores)."""
    policy, _, threads = policy.partition("-")
    threads = int(threads) if threads else None
    os.environ.pop("OMP_WAIT_POLICY", None)
    if policy == "spin":
        import torch  # noqa: F401 - loaded before DeepX: libgomp keeps its default (spinning) policy
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("YOLO_OFFLINE", "1")
    import numpy as np

    import deepx_addon.ml  # noqa: F401 - sets the passive policy when torch is not loaded yet
    from deepx_addon.runtime import detector as rdet
    if image:
        import cv2
        img = cv2.imread(image)
    else:   # a grey frame with a dark upright figure: detector time hardly depends on content
        img = np.full((480, 640, 3), 128, np.uint8)
        img[100:420, 290:350] = 40
    if backend == "onnx":
        from deepx_addon.runtime import pose_onnx
        if policy == "spin":
            import onnxruntime as ort
            pose_onnx.ort_session_options = lambda threads=None: ort.SessionOptions()
        det = pose_onnx.OnnxPoseDetector(rdet.find_pose_onnx(), threads=threads)
    else:
        from deepx_addon.ml.detector import PoseDetector
        det = PoseDetector(batch=1, threads=threads)
    for _ in range(3):
        det.detect(img)
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "run":
            break
        ts = []
        for _ in range(n):
            t = time.perf_counter()
            det.detect(img)
            ts.append((time.perf_counter() - t) * 1000)
        print(json.dumps({"median_ms": statistics.median(ts)}), flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=12, help="detections per timing")
    p.add_argument("--hogs", type=int, default=2, help="CPU-bound processes beside the detector")
    p.add_argument("--backends", default="torch,onnx")
    p.add_argument("--image", help="a photo (default: a synthetic 640x480 frame)")
    p.add_argument("--rounds", type=int, default=2, help="quiet/busy alternations (medians over rounds)")
    p.add_argument("--policies", default="spin,passive",
                   help="worker variants: spin, passive, each optionally -N for N intra-op threads (passive-1)")
    p.add_argument("--worker", nargs=2, metavar=("BACKEND", "POLICY"), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        worker(a.worker[0], a.worker[1], a.image, a.n)
        return 0
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    procs = {}
    for b in a.backends.split(","):
        for pol in a.policies.split(","):
            cmd = [sys.executable, __file__, "--worker", b, pol, "--n", str(a.n)] + (["--image", a.image] if a.image else [])
            w = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
            if w.stdout.readline().strip() != "ready":
                raise SystemExit(f"worker {b}/{pol} failed to start")
            procs[(b, pol)] = w
    res = {k: {"quiet": [], "busy": []} for k in procs}

    def time_all(phase):
        for k, w in procs.items():
            w.stdin.write("run\n")
            w.stdin.flush()
            res[k][phase].append(json.loads(w.stdout.readline())["median_ms"])

    try:
        for _ in range(a.rounds):
            time_all("quiet")
            hogs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(a.hogs)]
            try:
                time.sleep(1.0)
                time_all("busy")
            finally:
                for h in hogs:
                    h.kill()
                    h.wait()
            time.sleep(1.0)
    finally:
        for w in procs.values():
            w.stdin.close()
            w.wait()
    print(f"YOLO11n-pose, one 640x480 image, median ms per image; busy = {a.hogs} CPU-bound processes beside it "
          f"(load before start: {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs)")
    print(f"{'backend':8} {'threads':10} {'quiet ms':>9} {'busy ms':>9} {'busy/quiet':>10}")
    for (b, pol), r in res.items():
        q, bz = statistics.median(r["quiet"]), statistics.median(r["busy"])
        print(f"{b:8} {pol:10} {q:9.0f} {bz:9.0f} {bz / q:9.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
