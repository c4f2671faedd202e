"""YOLO11n-pose through ONNX Runtime with numpy only: the detector of the in-Blender preview.

Blender's bundled Python has numpy but neither torch nor OpenCV, so everything Ultralytics does
around the network is re-done here in numpy, step for step:

1. letterbox: scale the image by r = min(S/h, S/w) (sides rounded), bilinear resize emulating
   OpenCV's fixed-point INTER_LINEAR, pad to S x S with grey 114, centred;
2. BGR -> RGB, /255, NCHW float32, run the graph (exported by scripts/export_onnx.py: output
   (1, 56, N) = cx, cy, w, h, person score, 17 x (x, y, conf), scores and keypoint confidences
   already sigmoid-ed);
3. keep score > conf, greedy NMS (IoU > iou suppresses, numpy; ``nms="cv2"`` uses
   cv2.dnn.NMSBoxes where OpenCV exists), at most max_det people;
4. undo the letterbox (subtract pad, divide by the per-axis gain) and clip to the image.

Detections equal Ultralytics' own to ~0.01 px and 1e-4 confidence on the shared photos
(tests/test_onnx.py checks < 1.5 px and 0.02).
Images: HxWx3 uint8 arrays, BGR unless ``rgb=True`` (float arrays in [0, 1] are accepted and
rounded to uint8, e.g. render pixels); paths are read with OpenCV or Pillow when either exists.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .detections import Detection
from .detector import PoseBackend, check_imgsz, input_size
from .threads import ort_session_options

PAD_VALUE = 114


# ---- preprocessing --------------------------------------------------------------------------------
def _linear_coefs(n_out: int, n_in: int):
    """Source indices and 11-bit fixed-point weights of OpenCV's INTER_LINEAR along one axis."""
    scale = 1.0 / (n_out / n_in)
    f = ((np.arange(n_out) + 0.5) * scale - 0.5).astype(np.float32)
    i0 = np.floor(f).astype(np.int64)
    f = (f - i0).astype(np.float32)
    lo = i0 < 0
    i0[lo], f[lo] = 0, 0.0
    hi = i0 >= n_in - 1
    i0[hi], f[hi] = n_in - 1, 0.0
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, np.rint((1 - f) * 2048).astype(np.int32), np.rint(f * 2048).astype(np.int32)


def resize_bilinear(img: np.ndarray, new_w: int, new_h: int) -> np.ndarray:
    """cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR) in numpy (uint8 HxWxC).

    Emulates OpenCV's fixed-point path: sampling at src = (dst + 0.5) * scale - 0.5 clamped at the
    edges, 11-bit weights, and its vectorised rounding of the vertical pass. Bit-exact with
    opencv-python 4.11 on the images tested (rare +-1 grey levels on odd sizes): this matters, a
    1-level difference moved YOLO keypoints by up to 2 px."""
    h, w = img.shape[:2]
    if (w, h) == (new_w, new_h):
        return img.copy()
    x0, x1, a0, a1 = _linear_coefs(new_w, w)
    y0, y1, b0, b1 = _linear_coefs(new_h, h)
    src = img if img.ndim == 3 else img[:, :, None]
    r0, r1 = np.take(src, y0, axis=0), np.take(src, y1, axis=0)  # gather on uint8 first
    col = lambda r, idx: np.take(r, idx, axis=1).astype(np.int32)
    hor0 = col(r0, x0) * a0[None, :, None] + col(r0, x1) * a1[None, :, None]
    hor1 = col(r1, x0) * a0[None, :, None] + col(r1, x1) * a1[None, :, None]
    B0, B1 = b0[:, None, None], b1[:, None, None]
    hor0 >>= 4
    hor0 *= B0
    hor0 >>= 16
    hor1 >>= 4
    hor1 *= B1
    hor1 >>= 16
    hor0 += hor1
    hor0 += 2
    hor0 >>= 2
    out = np.clip(hor0, 0, 255).astype(np.uint8)
    return out if img.ndim == 3 else out[:, :, 0]


def letterbox(img: np.ndarray, size: int | tuple[int, int] = 640, stride: int | None = None) -> tuple[np.ndarray, dict]:
    """Ultralytics' LetterBox(auto=False, center=True): (S_h x S_w x 3 image, params to undo it).
    With ``stride``, LetterBox(auto=True): the minimum rectangle, each side padded only up to a
    multiple of the stride (Ultralytics' torch predictor on one image; needs a dynamic-shape graph)."""
    sh, sw = (size, size) if isinstance(size, int) else size
    h, w = img.shape[:2]
    r = min(sh / h, sw / w)
    new_w, new_h = max(round(w * r), 1), max(round(h * r), 1)
    dw, dh = sw - new_w, sh - new_h
    if stride:
        dw, dh = dw % stride, dh % stride
    dw, dh = dw / 2, dh / 2
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    resized = resize_bilinear(img, new_w, new_h) if (new_w, new_h) != (w, h) else img
    out = np.full((new_h + top + bottom, new_w + left + right, 3), PAD_VALUE, dtype=np.uint8)
    out[top:top + new_h, left:left + new_w] = resized
    return out, {"gain_x": new_w / w, "gain_y": new_h / h, "pad_x": left, "pad_y": top, "width": w, "height": h}


# ---- postprocessing -------------------------------------------------------------------------------
def nms_numpy(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS (torchvision semantics): indices kept, highest score first."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = (boxes[order, k] for k in range(4))
    area = (x2 - x1) * (y2 - y1)
    remaining = np.arange(len(order))
    keep = []
    while remaining.size:
        i, rest = remaining[0], remaining[1:]
        keep.append(i)
        if not rest.size:
            break
        iw = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        ih = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = iw * ih
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = inter / (area[i] + area[rest] - inter)
        remaining = rest[~(iou > iou_threshold)]
    return order[np.array(keep, dtype=np.int64)]


def nms_cv2(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    import cv2

    xywh = np.column_stack([boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]])
    idx = cv2.dnn.NMSBoxes(xywh.tolist(), scores.astype(float).tolist(), 0.0, float(iou_threshold))
    idx = np.asarray(idx, dtype=np.int64).reshape(-1)
    return idx[np.argsort(-scores[idx], kind="stable")]


def decode(output: np.ndarray, params: dict, conf: float = 0.25, iou: float = 0.7, max_det: int = 300,
           nms: str = "numpy", n_kpt: int = 17) -> list[Detection]:
    """(56, N) raw graph output of one image -> detections in original-image pixels."""
    pred = np.asarray(output, dtype=np.float32)
    if pred.ndim == 3:
        pred = pred[0]
    pred = pred.T                                    # (N, 4 + 1 + 3K)
    scores = pred[:, 4]
    sel = scores > conf
    pred, scores = pred[sel], scores[sel]
    if not len(pred):
        return []
    cx, cy, bw, bh = pred[:, 0], pred[:, 1], pred[:, 2], pred[:, 3]
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
    keep = (nms_cv2 if nms == "cv2" else nms_numpy)(boxes, scores, iou)[:max_det]
    boxes, scores = boxes[keep].astype(np.float64), scores[keep].astype(np.float64)
    kps = pred[keep, 5:5 + 3 * n_kpt].reshape(-1, n_kpt, 3).astype(np.float64)
    gx, gy, px, py, w, h = (params[k] for k in ("gain_x", "gain_y", "pad_x", "pad_y", "width", "height"))
    boxes[:, [0, 2]] = np.clip((boxes[:, [0, 2]] - px) / gx, 0, w)
    boxes[:, [1, 3]] = np.clip((boxes[:, [1, 3]] - py) / gy, 0, h)
    kps[..., 0] = np.clip((kps[..., 0] - px) / gx, 0, w)
    kps[..., 1] = np.clip((kps[..., 1] - py) / gy, 0, h)
    return [Detection(boxes[i], float(scores[i]), kps[i]) for i in range(len(boxes))]


# ---- images ---------------------------------------------------------------------------------------
def _read_image(path) -> np.ndarray:
    p = Path(path)
    if not p.is_file() or p.stat().st_size == 0:
        raise ValueError(f"{p}: missing or empty image file")
    try:
        import cv2
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"{p}: not a readable image")
        return img
    except ImportError:
        pass
    try:
        from PIL import Image, ImageOps
    except ImportError:
        raise ValueError(f"{p}: reading image files needs OpenCV or Pillow; pass an array instead") from None
    with Image.open(p) as im:
        rgb = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    return np.ascontiguousarray(rgb[:, :, ::-1])


def to_bgr_uint8(image, rgb: bool = False) -> np.ndarray:
    if isinstance(image, (str, os.PathLike)):
        return _read_image(image)
    a = np.asarray(image)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"image must be HxWx3 (or HxWx4), got shape {a.shape}")
    if a.dtype != np.uint8:
        if not np.issubdtype(a.dtype, np.floating):
            raise ValueError(f"image must be uint8, or float in [0, 1]; got {a.dtype}")
        a = np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8)
    a = a[:, :, :3]
    return np.ascontiguousarray(a[:, :, ::-1] if rgb else a)


class OnnxPoseDetector(PoseBackend):
    """YOLO pose ONNX model on ONNX Runtime (CPU). Same ``detect`` contract as ml.detector.PoseDetector:
    images (one or a list; paths or HxWx3 arrays, BGR unless rgb=True) -> list of list[Detection]."""

    def __init__(self, onnx_path, conf: float = 0.25, iou: float = 0.7, max_det: int = 300, nms: str = "numpy",
                 threads: int | None = None, imgsz: int = 640, rect: bool | None = None):
        import onnxruntime as ort

        p = Path(onnx_path)
        if not p.is_file():
            raise FileNotFoundError(f"ONNX model not found: {p} (make one with scripts/export_onnx.py)")
        self.session = ort.InferenceSession(str(p), ort_session_options(threads), providers=["CPUExecutionProvider"])
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        shape = inp.shape  # [1, 3, H, W] (static export) or symbolic H, W (scripts/export_onnx.py --dynamic)
        dynamic = not (isinstance(shape[2], int) and isinstance(shape[3], int))
        # rect: Ultralytics' "minimum rectangle" letterbox, what its torch predictor does for one image
        # (a 640 x 480 photo stays 640 x 480); only a dynamic graph takes it. Default: rect when possible.
        self.rect = dynamic if rect is None else bool(rect)
        if self.rect and not dynamic:
            raise ValueError(f"{p}: rect letterboxing needs a dynamic-shape graph (scripts/export_onnx.py --dynamic)")
        imgsz = check_imgsz(imgsz)
        if imgsz == "auto" and not dynamic:
            raise ValueError(f"{p}: imgsz 'auto' needs a dynamic-shape graph (scripts/export_onnx.py --dynamic)")
        # "auto": per image (runtime/detector.input_size); else (height, width) of the input
        self.imgsz = imgsz if imgsz == "auto" else (imgsz, imgsz) if dynamic else (int(shape[2]), int(shape[3]))
        meta = self.session.get_modelmeta().custom_metadata_map     # Ultralytics writes its stride there
        self.stride = int(meta.get("stride", 32)) if self.rect else None
        out = self.session.get_outputs()[0].shape
        self.n_kpt = (int(out[1]) - 5) // 3 if isinstance(out[1], int) else 17
        if nms not in ("numpy", "cv2"):
            raise ValueError(f"nms must be 'numpy' or 'cv2', got {nms!r}")
        self.path, self.conf, self.iou, self.max_det, self.nms = p, conf, iou, max_det, nms

    def preprocess(self, img_bgr: np.ndarray) -> tuple[np.ndarray, dict]:
        size = self.imgsz if self.imgsz != "auto" else input_size("auto", *img_bgr.shape[:2])
        lb, params = letterbox(img_bgr, size, self.stride)
        x = lb[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
        return np.ascontiguousarray(x), params

    def raw(self, img_bgr: np.ndarray) -> tuple[np.ndarray, dict]:
        x, params = self.preprocess(img_bgr)
        return self.session.run(None, {self.input_name: x})[0], params

    def detect(self, images, rgb: bool = False) -> list[list[Detection]]:
        single = isinstance(images, (str, os.PathLike)) or (isinstance(images, np.ndarray) and images.ndim == 3)
        out = []
        for im in ([images] if single else list(images)):
            y, params = self.raw(to_bgr_uint8(im, rgb))
            out.append(decode(y, params, self.conf, self.iou, self.max_det, self.nms, self.n_kpt))
        return out
