"""Photos and a video through `DistanceEstimator` on each device, in one process, interleaved:
images/s and frames/s per device, the ratio to the first device, and the largest distance difference
to it (the same people must get the same numbers on every device).

    .venv/bin/python scripts/bench_device.py --devices cpu,cuda --repeat 8

Input: the repository's real photos (examples/real/images), each read once and passed as arrays
(decoding is not timed), and a video made of them (every photo held for 4 frames, mp4v) written to a
temporary folder. Rounds alternate the devices so a busy machine slows both alike; the median round
is printed. Warm-up (weights load, CUDA kernels) is run once per device and not timed.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_video(images, path: Path, hold: int = 4) -> int:
    import cv2

    h = min(i.shape[0] for i in images) // 2 * 2
    w = min(i.shape[1] for i in images) // 2 * 2
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (w, h))
    n = 0
    for img in images:
        for _ in range(hold):
            vw.write(cv2.resize(img, (w, h)))
            n += 1
    vw.release()
    return n


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--devices", default="cpu,cuda")
    p.add_argument("--repeat", type=int, default=8, help="each photo this many times a round (batched)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--imgsz", default="640")
    p.add_argument("--estimator", default="default")
    a = p.parse_args(argv)

    from deepx_addon.ml.api import DistanceEstimator
    from deepx_addon.ml.detector import read_image
    from deepx_addon.runtime.detector import check_imgsz

    photos = sorted((ROOT / "examples" / "real" / "images").glob("*.jpg"))
    images = [read_image(f) for f in photos]
    batch = images * a.repeat
    camera = {"fov": 60.0}
    devices = a.devices.split(",")
    est = {d: DistanceEstimator(a.estimator, device=d, imgsz=check_imgsz(a.imgsz), quiet=True) for d in devices}
    with tempfile.TemporaryDirectory(prefix="deepx-bench-device-") as tmp:
        video = Path(tmp) / "walk.mp4"
        n_frames = make_video(images, video)
        dist, t_img, t_vid = {}, {d: [] for d in devices}, {d: [] for d in devices}
        for d in devices:               # warm-up: weights, CUDA context and kernels
            r = est[d](images, camera=camera, keep_images=False)
            dist[d] = [x for res in r for x in res.distance_m.tolist()]
            est[d].video(video, camera=camera, max_frames=8)
        for _ in range(a.rounds):
            for d in devices:
                t0 = time.perf_counter()
                est[d](batch, camera=camera, keep_images=False)
                t_img[d].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                est[d].video(video, camera=camera)
                t_vid[d].append(time.perf_counter() - t0)
    ref = devices[0]
    print(f"{len(batch)} photos a round ({len(images)} real photos x {a.repeat}), a {n_frames}-frame video; "
          f"median of {a.rounds} interleaved rounds; imgsz {a.imgsz}")
    print("| device | photos/s | × " + ref + " | video frames/s | × " + ref + " | max |Δ distance| vs " + ref + " |")
    print("|---|---|---|---|---|---|")
    for d in devices:
        ti, tv = statistics.median(t_img[d]), statistics.median(t_vid[d])
        ri, rv = statistics.median(t_img[ref]), statistics.median(t_vid[ref])
        diff = max((abs(x / y - 1) for x, y in zip(dist[d], dist[ref]) if x == x and y == y), default=float("nan"))
        print(f"| {d} | {len(batch) / ti:.1f} | {ri / ti:.2f} | {n_frames / tv:.1f} | {rv / tv:.2f} | {100 * diff:.3f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
