"""Python API: photos (and videos) in, distances out, in the style of Ultralytics' results.

    from deepx import DistanceEstimator
    est = DistanceEstimator()                       # YOLO11n-pose + the default distance estimator
    for r in est("photo.jpg", camera={"focal_px": 1450}):
        print(r.status, r.distance_m)               # one value per person (NaN = no estimate)
        cv2.imwrite("annotated.jpg", r.plot())

``camera``: an ``Intrinsics``; a dict with ``focal_px`` | ``focal_mm`` + ``sensor_mm`` | ``fov``
(horizontal, degrees) | ``K`` (optionally ``cx``, ``cy``); a 3x3 K; or None, in which case the
photo's EXIF is read (``FocalLengthIn35mmFilm`` etc., see ``Intrinsics.from_exif``). Without any
camera the people are still detected, but no distance is given (status ``no_camera``); DeepX
never guesses a focal length.

Statuses per image: ok | no_person | no_camera | unreadable | error (never an exception that
stops a batch). Per person: ok | low_confidence | truncated (box touches the border and key
joints are missing; a number is still given when the estimator can) | too_small (box shorter than
``min_box_px``; no number) | no_estimate.
"""
from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from ..core.anthropometry import STATURE_REL_SD
from ..core.camera import CameraError, Intrinsics, check_plausible
from ..core.estimators import Estimate, Estimator, SlothEstimator
from ..core.keypoints import SKELETON
from ..core import framing
from ..core.outputs import path_text
from ..runtime.detector import imgsz_of
from .detector import IMAGE_SUFFIXES, VIDEO_SUFFIXES, Detection, ImageError, PoseDetector, as_bgr, read_image_checked

OK, LOW_CONFIDENCE, TRUNCATED, TOO_SMALL, NO_ESTIMATE = "ok", "low_confidence", "truncated", "too_small", "no_estimate"
IMG_OK, NO_PERSON, NO_CAMERA, UNREADABLE, ERROR = "ok", "no_person", "no_camera", "unreadable", "error"
DAMAGED = "damaged"   # decoded, but the file is cut short or the video stopped early: results may be off

LOW_SCORE = 0.5               # detector confidence below this flags the person low_confidence


HOW_TO_GIVE_CAMERA = ("CLI: --focal-px, --focal-mm with --sensor-mm, or --fov; "
                      "API: camera={'focal_px': ...} | {'focal_mm': ..., 'sensor_mm': ...} | {'fov': ...} | K")


def _r(v, n=4):
    return None if v is None else round(float(v), n)


# ---- camera --------------------------------------------------------------------------------------
def read_exif_tags(path) -> dict:
    """EXIF tags of an image file by name (base IFD + Exif IFD), {} when there are none."""
    try:
        from PIL import ExifTags, Image
        with Image.open(path) as im:
            exif = im.getexif()
            tags = {ExifTags.TAGS.get(k, str(k)): v for k, v in exif.items()}
            try:
                tags.update({ExifTags.TAGS.get(k, str(k)): v for k, v in exif.get_ifd(0x8769).items()})
            except (KeyError, AttributeError, TypeError):
                pass
        return tags
    except Exception:  # noqa: BLE001 - a file PIL cannot parse simply has no EXIF for us
        return {}


def camera_from_spec(camera, width: int, height: int) -> Intrinsics:
    """An explicit camera (Intrinsics | dict | 3x3 K) for an image of width x height."""
    if isinstance(camera, Intrinsics):
        intr = camera
    elif isinstance(camera, dict):
        c = dict(camera)
        keys = set(c) - {"cx", "cy", "source"}
        if "K" in c:
            intr = Intrinsics.from_K(c["K"], (width, height), source=c.get("source", "K"))
        elif "focal_px" in c:
            intr = Intrinsics.from_focal_px(c["focal_px"], width, height, c.get("cx"), c.get("cy"))
        elif "focal_mm" in c:
            sensor = c.get("sensor_mm", c.get("sensor_width_mm"))
            if sensor is None:
                raise CameraError("camera focal_mm needs sensor_mm (sensor width in mm)")
            intr = Intrinsics.from_focal_mm(c["focal_mm"], sensor, width, height)
        elif "fov" in c or "hfov_deg" in c:
            intr = Intrinsics.from_fov(c.get("fov", c.get("hfov_deg")), width, height)
        else:
            raise CameraError(f"camera dict needs one of K, focal_px, focal_mm+sensor_mm, fov; got keys {sorted(keys)}")
    else:
        intr = Intrinsics.from_K(camera, (width, height))
    if intr.width is None or intr.height is None:
        return check_plausible(replace(intr, width=width, height=height))
    if (intr.width, intr.height) != (width, height):
        s = width / intr.width
        if abs(height / intr.height - s) > 0.01 * s:
            raise CameraError(f"camera is for a {intr.width}x{intr.height} image but the image is "
                              f"{width}x{height} (different aspect ratio)")
        intr = replace(intr.scaled(s), width=width, height=height, source=f"{intr.source}+scaled")
    return check_plausible(intr)


def resolve_camera(camera, width: int, height: int, path=None) -> tuple[Intrinsics | None, str | None]:
    """(intrinsics, note). Explicit camera first, else EXIF of ``path``; (None, why) if neither."""
    if camera is not None:
        return camera_from_spec(camera, width, height), None
    if path is None:
        return None, f"no camera given ({HOW_TO_GIVE_CAMERA})"
    tags = read_exif_tags(path)
    if not tags:
        return None, f"no camera given and the file has no EXIF ({HOW_TO_GIVE_CAMERA})"
    try:
        return check_plausible(Intrinsics.from_exif(tags, width, height)), None
    except CameraError as e:
        return None, str(e)


def camera_dict(intr: Intrinsics | None) -> dict | None:
    if intr is None:
        return None
    return {"fx": _r(intr.fx, 3), "fy": _r(intr.fy, 3), "cx": _r(intr.cx, 3), "cy": _r(intr.cy, 3),
            "width": intr.width, "height": intr.height, "source": intr.source}


# ---- results -------------------------------------------------------------------------------------
@dataclass
class PersonResult:
    bbox: np.ndarray
    score: float
    keypoints: np.ndarray
    distance_m: float | None = None
    depth_m: float | None = None
    sigma_m: float | None = None
    xyz: tuple[float, float, float] | None = None     # pelvis in the camera frame (x right, y down, z fwd)
    status: str = NO_ESTIMATE
    reason: str | None = None
    track_id: int | None = None

    @property
    def label(self) -> str:
        if self.distance_m is None:
            return self.status.replace("_", " ")
        s = f"{self.distance_m:.1f} m" + (f" \u00b1 {self.sigma_m:.1f}" if self.sigma_m is not None else "")
        return s + ("" if self.status == OK else " ?")

    def to_dict(self) -> dict:
        return {"distance_m": _r(self.distance_m), "depth_m": _r(self.depth_m), "sigma_m": _r(self.sigma_m),
                "xyz": None if self.xyz is None else [_r(v) for v in self.xyz],
                "status": self.status, "reason": self.reason, "score": _r(self.score),
                "bbox": [_r(v, 2) for v in self.bbox], "track_id": self.track_id,
                "keypoints": [[_r(x, 2), _r(y, 2), _r(c)] for x, y, c in self.keypoints]}


@dataclass
class DistanceResult:
    """Everything DeepX found in one image."""
    path: str | None
    status: str
    reason: str | None = None
    image_size: tuple[int, int] | None = None          # (width, height)
    camera: Intrinsics | None = None                  # camera.source says where it came from
    persons: list[PersonResult] = field(default_factory=list)
    estimator: str | None = None
    orig_img: np.ndarray | None = field(default=None, repr=False)

    def __len__(self):
        return len(self.persons)

    def _arr(self, name) -> np.ndarray:
        return np.array([np.nan if getattr(p, name) is None else getattr(p, name) for p in self.persons], float)

    @property
    def distance_m(self) -> np.ndarray:
        return self._arr("distance_m")

    @property
    def depth_m(self) -> np.ndarray:
        return self._arr("depth_m")

    @property
    def sigma_m(self) -> np.ndarray:
        return self._arr("sigma_m")

    @property
    def xyz(self) -> np.ndarray:
        return np.array([p.xyz if p.xyz is not None else (np.nan,) * 3 for p in self.persons], float).reshape(-1, 3)

    @property
    def scores(self) -> np.ndarray:
        return np.array([p.score for p in self.persons], float)

    @property
    def bboxes(self) -> np.ndarray:
        return np.array([p.bbox for p in self.persons], float).reshape(-1, 4)

    @property
    def keypoints(self) -> np.ndarray:
        return np.array([p.keypoints for p in self.persons], float).reshape(-1, 17, 3)

    @property
    def statuses(self) -> list[str]:
        return [p.status for p in self.persons]

    def plot(self, img=None) -> np.ndarray:
        """The image (BGR) with each person's skeleton, box and distance label drawn on a copy."""
        base = self.orig_img if img is None else img
        if base is None:
            raise ValueError(f"{self.path}: no image to draw on ({self.status})")
        return draw_persons(base, self.persons)

    def to_dict(self) -> dict:
        return {"path": self.path, "status": self.status, "reason": self.reason,
                "image_size": list(self.image_size) if self.image_size else None,
                "camera": camera_dict(self.camera), "estimator": self.estimator,
                "persons": [p.to_dict() for p in self.persons]}


# ---- drawing -------------------------------------------------------------------------------------
_STATUS_COLOR = {OK: (80, 200, 60), LOW_CONFIDENCE: (0, 200, 255), TRUNCATED: (0, 140, 255),
                 TOO_SMALL: (160, 160, 160), NO_ESTIMATE: (60, 60, 230)}


_PM = "\u00b1"


def _text_size(text: str, scale: float, thick: int):
    """cv2.getTextSize, counting '±' (which OpenCV's Hershey fonts lack) as a '+'."""
    import cv2
    return cv2.getTextSize(text.replace(_PM, "+"), cv2.FONT_HERSHEY_SIMPLEX, scale, thick)


def _put_text(img, text: str, org, scale: float, color, thick: int) -> None:
    """cv2.putText that draws '±' as '+' with a bar under it."""
    import cv2
    x, y = org
    for k, part in enumerate(text.split(_PM)):
        if k:
            (pw, ph), _ = _text_size("+", scale, thick)
            cv2.putText(img, "+", (x, y - max(1, ph // 5)), cv2.FONT_HERSHEY_SIMPLEX, scale, color, thick, cv2.LINE_AA)
            cv2.line(img, (x + pw // 6, y), (x + pw - pw // 6, y), color, thick, cv2.LINE_AA)
            x += pw
        cv2.putText(img, part, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, color, thick, cv2.LINE_AA)
        x += _text_size(part, scale, thick)[0][0]


def draw_persons(img: np.ndarray, persons, kp_min_conf: float = 0.3) -> np.ndarray:
    import cv2

    out = np.ascontiguousarray(img).copy()
    h, w = out.shape[:2]
    t = max(1, int(round(max(h, w) / 500)))
    font = max(0.4, max(h, w) / 1400)
    for p in persons:
        color = _STATUS_COLOR.get(p.status, (255, 255, 255))
        kp = p.keypoints
        for a, b in SKELETON:
            if kp[a, 2] >= kp_min_conf and kp[b, 2] >= kp_min_conf:
                cv2.line(out, (int(kp[a, 0]), int(kp[a, 1])), (int(kp[b, 0]), int(kp[b, 1])), (255, 200, 0), t,
                         cv2.LINE_AA)
        for x, y, c in kp:
            if c >= kp_min_conf:
                cv2.circle(out, (int(x), int(y)), t + 2, (0, 0, 255), -1, cv2.LINE_AA)
        x1, y1, x2, y2 = (int(round(v)) for v in p.bbox)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, t)
        label = (f"#{p.track_id} " if p.track_id is not None else "") + p.label
        (tw, th), base = _text_size(label, font, t)
        ty = y1 - 4 if y1 - th - base - 4 > 0 else min(h - 1, y2 + th + 4)
        cv2.rectangle(out, (x1, ty - th - base), (x1 + tw + 4, ty + base), color, -1)
        _put_text(out, label, (x1 + 2, ty), font, (0, 0, 0), t)
    return out


# ---- the estimator -------------------------------------------------------------------------------
def _join(*parts) -> str | None:
    return "; ".join(p for p in parts if p) or None


def person_result(det: Detection, est: Estimate | None, width: int, height: int, min_box_px: float,
                  no_estimate_reason: str | None = None) -> PersonResult:
    """Combine a detection and its estimate into a person with a status (see module docstring)."""
    p = PersonResult(np.asarray(det.bbox, float), float(det.score), np.asarray(det.keypoints, float),
                     track_id=det.track_id)
    small = framing.too_small(det.keypoints, det.bbox, min_box_px)
    if small:
        p.status, p.reason = TOO_SMALL, small
        return p
    if est is None:
        p.status, p.reason = NO_ESTIMATE, no_estimate_reason
        return p
    trunc = framing.truncation(det.keypoints, width, height, det.bbox)
    if not est.has_value:
        p.status, p.reason = NO_ESTIMATE, _join(est.reason, trunc)
        return p
    p.distance_m, p.depth_m, p.sigma_m, p.xyz = est.distance_m, est.depth_m, est.sigma_m, est.position_m
    weak_score = f"detector confidence {det.score:.2f}" if det.score < LOW_SCORE else None
    if trunc:
        p.status, p.reason = TRUNCATED, _join(trunc, est.reason, weak_score)
    elif est.status == LOW_CONFIDENCE or weak_score:
        p.status, p.reason = LOW_CONFIDENCE, _join(est.reason, weak_score)
    else:
        p.status, p.reason = OK, est.reason
    return p


def estimate_people(estimator: Estimator, dets: list[Detection], intr: Intrinsics) -> list[Estimate]:
    """One Estimate per detection (bbox-aware estimators get the detector box); never raises."""
    try:
        if getattr(estimator, "uses_bbox", False):
            return [estimator.estimate(d.keypoints, intr, bbox=d.bbox) for d in dets]
        return list(estimator.estimate_many([(d.keypoints, intr) for d in dets]))
    except Exception as e:  # noqa: BLE001 - one person's failure must not kill the batch
        out = []
        for d in dets:
            try:
                out.append(estimator.estimate(d.keypoints, intr))
            except Exception as e1:  # noqa: BLE001
                out.append(Estimate.none(f"estimator failed: {type(e1).__name__}: {e1 or e}"))
        return out


def iter_image_files(path) -> list[Path]:
    """Image files under a folder (recursive, sorted), or the path itself."""
    p = Path(path)
    if p.is_dir():
        return sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
    return [p]


@dataclass
class TrackSummary:
    """One person followed through a video."""
    track_id: int
    frames: list[int]
    distances_m: list[float | None]
    depths_m: list[float | None]
    statuses: list[str]
    distance_m: float | None = None        # temporal median of the per-frame distances
    depth_m: float | None = None
    sigma_m: float | None = None
    sloth_track_m: float | None = None     # Sloth's estimate_track (bone-length medians over frames)
    status: str = NO_ESTIMATE
    reason: str | None = None

    def to_dict(self) -> dict:
        return {"track_id": self.track_id, "n_frames": len(self.frames),
                "n_estimated": sum(d is not None for d in self.distances_m),
                "distance_m": _r(self.distance_m), "depth_m": _r(self.depth_m), "sigma_m": _r(self.sigma_m),
                "sloth_track_m": _r(self.sloth_track_m), "status": self.status, "reason": self.reason,
                "frames": self.frames, "per_frame_distance_m": [_r(d) for d in self.distances_m],
                "per_frame_depth_m": [_r(d) for d in self.depths_m], "per_frame_status": self.statuses}


@dataclass
class VideoResult:
    path: str
    status: str
    reason: str | None = None
    image_size: tuple[int, int] | None = None
    fps: float | None = None
    n_frames: int = 0
    camera: Intrinsics | None = None
    estimator: str | None = None
    frames: list[list[PersonResult]] = field(default_factory=list, repr=False)
    tracks: list[TrackSummary] = field(default_factory=list)

    def to_dict(self, per_frame: bool = False) -> dict:
        d = {"path": self.path, "kind": "video", "status": self.status, "reason": self.reason,
             "image_size": list(self.image_size) if self.image_size else None, "fps": _r(self.fps, 3),
             "n_frames": self.n_frames, "camera": camera_dict(self.camera), "estimator": self.estimator,
             "tracks": [t.to_dict() for t in self.tracks]}
        if per_frame:
            d["frames"] = [[p.to_dict() for p in ps] for ps in self.frames]
        return d


def summarize_track(tid: int, items: list[tuple[int, PersonResult]], intr: Intrinsics | None,
                    sloth: SlothEstimator) -> TrackSummary:
    frames = [f for f, _ in items]
    ps = [p for _, p in items]
    t = TrackSummary(tid, frames, [p.distance_m for p in ps], [p.depth_m for p in ps], [p.status for p in ps])
    good = [p for p in ps if p.distance_m is not None]
    if not good:
        t.reason = "no frame of the track gave an estimate" + (f" ({ps[-1].reason})" if ps[-1].reason else "")
        return t
    d = np.array([p.distance_m for p in good])
    t.distance_m = float(np.median(d))
    t.depth_m = float(np.median([p.depth_m for p in good]))
    # frame-to-frame noise averages out, the unknown body size does not (STATURE_REL_SD stays)
    n = len(d)
    mad = 1.4826 * float(np.median(np.abs(d - t.distance_m)))
    t.sigma_m = math.sqrt((mad * math.sqrt(math.pi / 2)) ** 2 / n + (STATURE_REL_SD * t.distance_m) ** 2)
    t.status = OK if any(p.status == OK for p in good) else good[-1].status
    t.reason = f"median of {n}/{len(ps)} frames"
    if intr is not None:
        usable = [(p.keypoints, intr) for p in ps if p.status != TOO_SMALL]
        if usable:
            e = sloth.estimate_track(usable, mode="bones")
            t.sloth_track_m = e.distance_m
    return t


def default_detector(weights=None, conf: float = 0.25, imgsz: int | str = 640, device: str = "cpu",
                     allow_pickle: bool = False):
    """YOLO11n-pose on ONNX Runtime when a dynamic-shape ONNX of the default weights is found
    (runtime/detector.find_pose_onnx(dynamic=True)) and nothing else was asked for: no torch or
    Ultralytics import, seconds less at start. It letterboxes like Ultralytics' torch predictor
    (minimum rectangle) and its detections agree with it to < 0.001 px (tests/runtime/test_onnx.py).
    Otherwise (other weights or device, no file, no onnxruntime) Ultralytics on torch."""
    from ..runtime.detector import find_pose_onnx, module_available
    from .detector import check_device

    device = check_device(device)
    if weights is None and device == "cpu" and module_available("onnxruntime"):
        path = find_pose_onnx(dynamic=True)
        if path is not None:
            from ..runtime.pose_onnx import OnnxPoseDetector
            return OnnxPoseDetector(path, conf=conf, imgsz=imgsz, rect=True)
    return PoseDetector(weights=weights, conf=conf, imgsz=imgsz, device=device, allow_pickle=allow_pickle)


class DistanceEstimator:
    """YOLO11n-pose + a keypoint-to-distance estimator: photos (and videos) in, distances out.

    Args:
        estimator: 'default' (the learned model when shipped), 'bbox', 'shoulder_hip', 'sloth', a
            model .json path, or an Estimator instance.
        weights: detector weights file (default: the verified YOLO11n-pose copy).
        conf: detector person-confidence threshold.
        imgsz: detector input size: pixels, or "auto" (each image's longer side, 640 to 1920: a big
            photo is not shrunk to 640, where far people get lost; more false detections, README).
        device: torch device of the detector: "cpu" (default), "cuda", "cuda:N" or "mps"; ValueError
            when this torch cannot use it (ml/detector.check_device).
        detector: a ready PoseDetector to share between instances (weights/conf/imgsz then unused).
        min_box_px: people with a shorter box get status too_small and no number.
        quiet: no message when the default model falls back to the Sloth rule.

    Returns (calling it): one DistanceResult per image (see ``__call__``).
    """

    def __init__(self, estimator="default", weights=None, conf: float = 0.25, imgsz: int | str = 640,
                 device: str = "cpu", detector: PoseDetector | None = None, min_box_px: float = 24.0,
                 quiet: bool = False, allow_pickle: bool = False):
        if isinstance(estimator, Estimator):
            self.estimator = estimator
        else:
            from . import registry
            self.estimator = registry.build(str(estimator), quiet=quiet)
        self.estimator_name = getattr(self.estimator, "name", type(self.estimator).__name__)
        self.detector = detector or default_detector(weights, conf, imgsz, device, allow_pickle)
        self._tracker = self.detector if hasattr(self.detector, "track_frame") else None
        self.min_box_px = min_box_px
        self._sloth = SlothEstimator()

    # -- images --------------------------------------------------------------------------------------
    def __call__(self, source, camera=None, rgb: bool = False, keep_images: bool = True,
                 on_result: Callable[[DistanceResult], None] | None = None) -> list[DistanceResult]:
        """Detect the people of every image and estimate their distances.

        Args:
            source: an image path, a folder (image files, recursive), an HxWx3 uint8 array (BGR
                unless rgb=True), or a list of these.
            camera: Intrinsics, a dict (focal_px | focal_mm + sensor_mm | fov | K), a 3x3 K, or None
                (read from EXIF; without a camera no distance is given, status no_camera).
            rgb: arrays are RGB.
            keep_images: keep each image on its result (for ``plot()``).
            on_result: called with each result as soon as it is ready.

        Returns:
            list[DistanceResult], one per image, in order (status ok | no_person | no_camera |
            unreadable | error; never raises for one bad image).
        """
        items = self._expand(source)
        results: list[DistanceResult] = []
        bs = max(1, int(getattr(self.detector, "batch", 1)))
        for i in range(0, len(items), bs):
            for r in self._run_batch(items[i:i + bs], camera, rgb, keep_images):
                results.append(r)
                if on_result is not None:
                    on_result(r)
        return results

    def predict(self, source, camera=None, **kw) -> list[DistanceResult]:
        return self(source, camera, **kw)

    @staticmethod
    def _expand(source) -> list:
        if isinstance(source, np.ndarray) and source.ndim in (2, 3):
            return [source]
        if isinstance(source, (str, os.PathLike)):
            return list(iter_image_files(source))
        out = []
        for s in source:
            out.extend(iter_image_files(s) if isinstance(s, (str, os.PathLike)) else [s])
        return out

    def _run_batch(self, items, camera, rgb, keep_images) -> list[DistanceResult]:
        slots: list[DistanceResult | None] = [None] * len(items)
        arrays, where, notes = [], [], {}
        for k, item in enumerate(items):
            path = str(item) if isinstance(item, (str, os.PathLike)) else None
            if path and Path(path).suffix.lower() in VIDEO_SUFFIXES:
                slots[k] = DistanceResult(path, UNREADABLE, f"{path}: a video; use DistanceEstimator.video()",
                                          estimator=self.estimator_name)
                continue
            try:
                if path:
                    img, notes[k] = read_image_checked(item)
                else:
                    img = as_bgr(item, rgb)
                arrays.append(img)
                where.append(k)
            except ImageError as e:
                slots[k] = DistanceResult(path, UNREADABLE, str(e), estimator=self.estimator_name)
            except Exception as e:  # noqa: BLE001 - e.g. an object that is not an image
                slots[k] = DistanceResult(path, ERROR, f"cannot use this input: {type(e).__name__}: {e}",
                                          estimator=self.estimator_name)
        dets_per = []
        if arrays:
            try:
                dets_per = self.detector.detect(arrays)
            except Exception:  # noqa: BLE001 - isolate the image that breaks the batch
                dets_per = []
                for a in arrays:
                    try:
                        dets_per.append(self.detector.detect([a])[0])
                    except Exception as e:  # noqa: BLE001
                        dets_per.append(e)
        for k, img, dets in zip(where, arrays, dets_per):
            path = str(items[k]) if isinstance(items[k], (str, os.PathLike)) else None
            if isinstance(dets, Exception):
                slots[k] = DistanceResult(path, ERROR, f"detector failed: {type(dets).__name__}: {dets}",
                                          (img.shape[1], img.shape[0]), estimator=self.estimator_name)
                continue
            try:
                slots[k] = r = self.result_for(img, dets, camera, path, keep_image=keep_images)
                if notes.get(k):
                    r.reason = _join(r.reason, notes[k])
                    r.status = DAMAGED if r.status == IMG_OK else r.status
            except Exception as e:  # noqa: BLE001 - never let one image stop the batch
                slots[k] = DistanceResult(path, ERROR, f"{type(e).__name__}: {e}", (img.shape[1], img.shape[0]),
                                          estimator=self.estimator_name)
        return slots

    def result_for(self, img: np.ndarray, dets: list[Detection], camera=None, path=None,
                   keep_image: bool = True, intr: Intrinsics | None = None,
                   cam_note: str | None = None) -> DistanceResult:
        """Build the DistanceResult of one image from its detections (used for images and frames)."""
        h, w = img.shape[:2]
        res = DistanceResult(path, IMG_OK, image_size=(w, h), estimator=self.estimator_name,
                             orig_img=img if keep_image else None)
        try:
            if intr is None and cam_note is None:
                intr, cam_note = resolve_camera(camera, w, h, path)
        except CameraError as e:
            intr, cam_note = None, f"camera: {e}"
        res.camera = intr
        if not dets:
            res.status, res.reason = NO_PERSON, _join("no person detected", cam_note if intr is None else None)
            return res
        ests = estimate_people(self.estimator, dets, intr) if intr is not None else [None] * len(dets)
        res.persons = [person_result(d, e, w, h, self.min_box_px, cam_note) for d, e in zip(dets, ests)]
        if intr is None:
            res.status, res.reason = NO_CAMERA, cam_note
        return res

    # -- video ---------------------------------------------------------------------------------------
    def video(self, path, camera=None, out_path=None, every: int = 1, max_frames: int | None = None,
              on_frame: Callable[[int, int], None] | None = None) -> VideoResult:
        """Track people through a video (OpenCV decoding, Ultralytics ByteTrack) and give each track
        the temporal median of its per-frame distances. ``out_path``: annotated video (mp4v).
        ``on_frame(i, n_total)`` is called after each processed frame (for progress bars)."""
        import cv2

        p = Path(path)
        vr = VideoResult(str(p), IMG_OK, estimator=self.estimator_name)
        if not p.is_file():
            vr.status, vr.reason = UNREADABLE, f"{p}: file not found"
            return vr
        if p.stat().st_size == 0:
            vr.status, vr.reason = UNREADABLE, f"{p}: empty file (0 bytes)"
            return vr
        try:
            str(p).encode("utf-8")
        except UnicodeEncodeError:   # OpenCV crashes (segfault) on such names
            vr.status, vr.reason = UNREADABLE, (f"{path_text(p)}: the file name is not valid UTF-8 and OpenCV "
                                                "cannot open it; rename the file")
            return vr
        cap = cv2.VideoCapture(str(p))
        if not cap.isOpened():
            vr.status, vr.reason = UNREADABLE, f"{p}: OpenCV cannot open this video"
            return vr
        fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        vr.fps = fps if fps > 0 else None
        writer = None
        # the annotated video is written under a temporary name and renamed when complete
        tmp_out = None if out_path is None else Path(out_path).with_name(f".{Path(out_path).stem}.partial{Path(out_path).suffix}")
        intr, cam_note = None, None
        per_track: dict[int, list[tuple[int, PersonResult]]] = {}

        if self._tracker is None:   # tracking is Ultralytics' (torch): loaded for the first video only
            self._tracker = PoseDetector(conf=self.detector.conf, imgsz=imgsz_of(self.detector))
        self._tracker.reset_tracks()
        try:
            i = -1
            while max_frames is None or vr.n_frames < max_frames:
                ok, frame = cap.read()
                if not ok:
                    break
                i += 1
                if i % every:
                    continue
                h, w = frame.shape[:2]
                if vr.image_size is None:
                    vr.image_size = (w, h)
                    try:
                        intr, cam_note = resolve_camera(camera, w, h, None)
                    except CameraError as e:
                        intr, cam_note = None, f"camera: {e}"
                    vr.camera = intr
                try:
                    dets = self._tracker.track_frame(frame)
                except Exception as e:  # noqa: BLE001 - a bad frame is skipped, the video goes on
                    print(f"deepx: {p} frame {i}: detector failed ({type(e).__name__}: {e})", file=sys.stderr)
                    dets = []
                r = self.result_for(frame, dets, path=None, keep_image=False, intr=intr,
                                    cam_note=cam_note if intr is None else None)
                vr.frames.append(r.persons)
                vr.n_frames += 1
                for person in r.persons:
                    if person.track_id is not None:
                        per_track.setdefault(person.track_id, []).append((i, person))
                if tmp_out is not None:
                    if writer is None:
                        tmp_out.parent.mkdir(parents=True, exist_ok=True)
                        writer = cv2.VideoWriter(str(tmp_out), cv2.VideoWriter_fourcc(*"mp4v"),
                                                 (fps or 25.0) / every, (w, h))
                    writer.write(draw_persons(frame, r.persons))
                if on_frame is not None:
                    on_frame(i, total)
            if writer is not None:
                writer.release()
                writer = None
                os.replace(tmp_out, out_path)
        finally:
            cap.release()
            if writer is not None:
                writer.release()
            if tmp_out is not None and tmp_out.exists():
                tmp_out.unlink()
        if vr.n_frames == 0:
            vr.status, vr.reason = UNREADABLE, f"{p}: no frame could be decoded"
            return vr
        vr.tracks = [summarize_track(tid, items, intr, self._sloth) for tid, items in sorted(per_track.items())]
        if intr is None:
            vr.status, vr.reason = NO_CAMERA, cam_note
        elif not vr.tracks:
            vr.status, vr.reason = NO_PERSON, "no person tracked in any frame"
        stopped_at = i + 1
        if (max_frames is None or vr.n_frames < max_frames) and total > 0 and stopped_at < total - 1:
            note = (f"decoding stopped at frame {stopped_at} of {total}: the video is damaged or cut short; "
                    "later frames are missing")
            vr.reason = _join(vr.reason, note)
            vr.status = DAMAGED if vr.status == IMG_OK else vr.status
        return vr

