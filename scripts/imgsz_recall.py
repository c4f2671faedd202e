"""Detector input size against recall: the same rendered people read at several input sizes.

    .venv/bin/python scripts/imgsz_recall.py RUN_DIR [--n 400] [--sizes 320,640,1280] [--out DIR] [--speed]

RUN_DIR is a scripts/render_detect.py folder. Its first N person-images of scale 1 (the full-size
renders) are detected again at each input size (`deepx estimate --imgsz`; ONNX Runtime's any-size
graph), and for each size it prints recall per person-height bin (pixels of the image), the
detections matched to nobody per image, and writes DIR/det<size>.jsonl (the `deepx detect` format:
`deepx evaluate -i` them, e.g. on the rows detected at two sizes). Reading a W-pixel render at W/2
is what the default 640 does to a 2W-pixel photo, so the two columns compare a big photo shrunk to
640 with the same photo read at its own size (`--imgsz auto`).
``--speed``: the detector's time on a 1920 x 1080 frame at 640 against ``auto`` (medians of 5).
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BINS = (12, 24, 32, 48, 64, 96, 128, 10000)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run")
    p.add_argument("--n", type=int, default=400)
    p.add_argument("--sizes", default="320,640,1280")
    p.add_argument("--out", default=None, help="folder for det<size>.jsonl (default: a temporary one, not kept)")
    p.add_argument("--speed", action="store_true")
    a = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from deepx_addon.cli.detect import detect_rows
    from deepx_addon.ml.api import default_detector
    from deepx_addon.runtime.detector import check_imgsz

    run = Path(a.run).resolve()
    rows = [json.loads(line) for f in sorted((run / "pairs").glob("*.jsonl")) for line in open(f)
            if line.strip().endswith("}")]
    rows = [r for r in rows if r["scale"] == 1.0][:a.n]
    if not rows:
        p.error(f"{run}: no person-images of scale 1 in pairs/*.jsonl")
    drop = ("keypoints", "gt_keypoints", "detected", "oks", "det_score", "det_bbox", "bbox", "n_detections")
    inp = [{**{k: v for k, v in r.items() if k not in drop}, "keypoints": r["gt_keypoints"]} for r in rows]
    sizes = [check_imgsz(s) for s in a.sizes.split(",")]
    out_dir = Path(a.out) if a.out else None
    res = {}
    for size in sizes:
        found = detect_rows(inp, [run] * len(inp), default_detector(conf=0.1, imgsz=size), 0.1)
        if out_dir:
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / f"det{size}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in found))
        hit, n, images = collections.Counter(), collections.Counter(), {}
        for r in found:
            b = next(i for i in range(len(BINS) - 1) if (r.get("person_height_px") or 0) < BINS[i + 1])
            n[b] += 1
            hit[b] += r["detected"]
            images[r["image"]] = r["n_detections"]
        res[size] = (hit, n, (sum(images.values()) - sum(hit.values())) / len(images))
    print(f"{len(rows)} person-images of {run.name}; recall by person height (px)")
    print("height".ljust(12) + "".join(f"{'imgsz ' + str(s):>18}" for s in sizes))
    for i in range(len(BINS) - 1):
        cells = "".join(f"{res[s][0][i]:>7}/{res[s][1][i]:<4} {100 * res[s][0][i] / max(res[s][1][i], 1):5.1f}%" for s in sizes)
        print(f"{BINS[i]}-{BINS[i + 1] if BINS[i + 1] < 10000 else ''}".ljust(12) + cells)
    print("unmatched/img".ljust(12) + "".join(f"{res[s][2]:>18.2f}" for s in sizes))
    if a.speed:
        from deepx_addon.ml.detector import read_image
        im = read_image(ROOT / "examples/real/images/S1_Directions_1.54138969_000001.jpg")
        frame = np.full((1080, 1920, 3), 118, np.uint8)
        frame[40:1040, 460:1460] = im[:1000, :1000]
        dets = {z: default_detector(imgsz=z) for z in (640, "auto")}
        t = {z: [] for z in dets}
        for _ in range(6):
            for z, d in dets.items():
                t0 = time.perf_counter()
                d.detect(frame)
                t[z].append(time.perf_counter() - t0)
        m = {z: float(np.median(v[1:])) for z, v in t.items()}
        print(f"1920 x 1080 frame: 640 {m[640] * 1000:.0f} ms, auto {m['auto'] * 1000:.0f} ms ({m['auto'] / m[640]:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
