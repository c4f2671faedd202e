"""Does the pose detector read a person shorter when the same picture is made smaller?

    .venv/bin/python scripts/scale_consistency.py --group real examples/real/images/*.jpg \
        --group render RUN/images/p0000*-c000.png [--out OUT.json] [--min-px 120]

Self-consistency, no ground truth: YOLO11n-pose (imgsz 640, conf 0.1, as scripts/render_detect.py)
reads every whole person at least ``--min-px`` tall in each image (box off the border; nose,
shoulders, hips, knees, ankles at confidence >= 0.5), then reads area-downscaled copies of the whole
image in which that person is 160, 128, 96, 64, 48 and 32 px tall (PIL BOX, like a sensor
integrating light), matched by box IoU >= 0.4. For each size it prints the median ratio of the small
reading to the full one (lengths mapped back to full-size pixels): shoulder to ankle, nose to ankle,
torso, leg, thigh, shin, box height, shoulder width. Ratios below 1 mean the detector reads the
person shorter when fewer pixels show it. Run on real photos and on renders alike, the two groups
tell whether rendered people read short at small sizes because of the detector's own behaviour on
small people (both groups shrink) or because of how small people are rendered (neither shrinks
here, where small people are downscaled copies of big ones).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGETS = (160, 128, 96, 64, 48, 32)
WHOLE = (0, 5, 6, 11, 12, 13, 14, 15, 16)       # nose, shoulders, hips, knees, ankles
METRICS = ("sh_ankle", "nose_ankle", "torso", "leg", "thigh", "shin", "box_h", "sh_width")


def _mid(k, a, b):
    return (k[a, :2] + k[b, :2]) / 2


def lengths(k: np.ndarray) -> dict[str, float]:
    """Lengths (pixels) of a (17, 3) COCO keypoint array."""
    sh, hip, knee, ank = _mid(k, 5, 6), _mid(k, 11, 12), _mid(k, 13, 14), _mid(k, 15, 16)
    d = lambda a, b: float(np.linalg.norm(a - b))        # noqa: E731
    return {"sh_ankle": d(sh, ank), "nose_ankle": d(k[0, :2], ank), "torso": d(sh, hip), "leg": d(hip, ank),
            "thigh": d(hip, knee), "shin": d(knee, ank), "sh_width": d(k[5, :2], k[6, :2])}


def iou(a, b) -> float:
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def whole_people(dets, size, min_px: float):
    """Detections that show a whole person at least min_px tall, off the image border."""
    w, h = size
    out = []
    for d in dets:
        b, k = np.asarray(d.bbox, float), np.asarray(d.keypoints, float)
        if b[3] - b[1] < min_px or b[0] < 2 or b[1] < 2 or b[2] > w - 2 or b[3] > h - 2:
            continue
        if np.all(k[list(WHOLE), 2] >= 0.5):
            out.append(d)
    return out


def read_person_at_sizes(detect, image, person, targets=TARGETS) -> dict[int, dict | None]:
    """Ratios small / full of one person's lengths, per target height in pixels (None: not found)."""
    from PIL import Image
    W, H = image.size
    b, k0 = np.asarray(person.bbox, float), np.asarray(person.keypoints, float)
    h, full = b[3] - b[1], lengths(k0)
    out = {}
    for t in targets:
        f = t / h
        if f >= 0.95:
            continue
        small = image.resize((max(1, round(W * f)), max(1, round(H * f))), Image.BOX)
        fx, fy = small.size[0] / W, small.size[1] / H
        want = b * [fx, fy, fx, fy]
        dets = detect(np.asarray(small))
        overlap, best = max(((iou(np.asarray(e.bbox, float), want), e) for e in dets), key=lambda p: p[0],
                            default=(0.0, None))
        if overlap < 0.4:
            out[t] = None
            continue
        k = np.asarray(best.keypoints, float).copy()
        k[:, 0] /= fx
        k[:, 1] /= fy
        got = lengths(k)
        r = {m: got[m] / full[m] for m in full if full[m] > 1.0}
        r["box_h"] = float((best.bbox[3] - best.bbox[1]) / fy / h)
        out[t] = r
    return out


def run_group(detect, paths, min_px: float, targets=TARGETS, log=None) -> list[dict]:
    from PIL import Image
    rows = []
    for path in paths:
        image = Image.open(path).convert("RGB")
        for person in whole_people(detect(np.asarray(image)), image.size, min_px):
            sizes = read_person_at_sizes(detect, image, person, targets)
            rows.append({"image": str(path), "height_px": float(person.bbox[3] - person.bbox[1]),
                         "sizes": {str(t): v for t, v in sizes.items()}})
            if log:
                print(f"  {Path(path).name} {rows[-1]['height_px']:.0f} px: shoulder-ankle "
                      + " ".join(f"{t}:{'-' if v is None else format(v['sh_ankle'], '.3f')}" for t, v in sizes.items()),
                      file=log, flush=True)
    return rows


def table(name: str, rows: list[dict], targets=TARGETS) -> str:
    lines = [f"{name}: {len(rows)} whole people; median small / full reading per person height",
             "  height  found     " + "  ".join(f"{m:>10s}" for m in METRICS)]
    for t in targets:
        vals = [r["sizes"][str(t)] for r in rows if str(t) in r["sizes"]]
        ok = [v for v in vals if v]
        if not vals:
            continue
        med = [np.median([v[m] for v in ok if m in v]) if any(m in v for v in ok) else float("nan") for m in METRICS]
        lines.append(f"  {t:4d}px  {len(ok):3d}/{len(vals):<3d}  " + "  ".join(f"{x:10.3f}" for x in med))
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--group", nargs="+", action="append", required=True, metavar=("NAME", "IMAGE"),
                   help="a name, then its images (repeat for each group)")
    p.add_argument("--min-px", type=float, default=120.0, help="smallest full-size person read (box height)")
    p.add_argument("--out", help="write every person's ratios here as JSON")
    a = p.parse_args(argv)
    for g in a.group:
        if len(g) < 2:
            p.error(f"--group {g[0]}: no images")
    if a.out and any(Path(a.out).resolve() == Path(x).resolve() for g in a.group for x in g[1:]):
        p.error(f"--out {a.out} is one of the input images")
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from deepx_addon.ml.detector import PoseDetector
    det = PoseDetector(conf=0.1, threads=1)
    detect = lambda arr: det.detect([arr], rgb=True)[0]       # noqa: E731
    result = {}
    for name, *paths in a.group:
        print(f"{name}: {len(paths)} images", file=sys.stderr)
        result[name] = run_group(detect, paths, a.min_px, log=sys.stderr)
    for name, rows in result.items():
        print(table(name, rows))
    if a.out:
        from deepx_addon.core.records import atomic_write_text
        atomic_write_text(a.out, json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
