"""Pinhole camera intrinsics, projection and back-projection (numpy only).

Conventions used everywhere in DeepX:
- camera frame is OpenCV's: x right, y down, z forward (along the optical axis);
- pixel coordinates are continuous, the image spans [0, W] x [0, H] with the top-left corner at
  (0, 0), so pixel centres sit at +0.5 and scaling an image by s scales every coordinate by s;
- **depth** is the Z of a point in the camera frame, **distance** its Euclidean norm.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

# Diagonal of a 36x24 mm "full-frame" sensor: the CIPA definition of 35 mm-equivalent focal length.
FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)


class CameraError(ValueError):
    """Intrinsics that cannot describe a real pinhole camera."""


def _finite_positive(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise CameraError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise CameraError(f"{name} must be finite and > 0, got {value!r}")
    return v


@dataclass(frozen=True)
class Intrinsics:
    fx: float
    fy: float
    cx: float
    cy: float
    width: int | None = None
    height: int | None = None
    source: str = "K"  # how it was obtained: K, focal_px, focal_mm, fov, exif:...

    def __post_init__(self):
        _finite_positive("fx", self.fx)
        _finite_positive("fy", self.fy)
        for name in ("cx", "cy"):
            if not math.isfinite(float(getattr(self, name))):
                raise CameraError(f"{name} must be finite, got {getattr(self, name)!r}")
        for name in ("width", "height"):
            v = getattr(self, name)
            if v is not None and (int(v) != v or v <= 0):
                raise CameraError(f"image {name} must be a positive integer, got {v!r}")

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def from_K(cls, K, image_size=None, source: str = "K") -> "Intrinsics":
        K = np.asarray(K, dtype=float)
        if K.shape != (3, 3):
            raise CameraError(f"K must be 3x3, got shape {K.shape}")
        # plain floats: this runs once or twice per input row (np.allclose alone cost ~0.3 ms)
        (fx, k01, cx), (k10, fy, cy), (k20, k21, k22) = K.tolist()
        if not all(math.isfinite(v) for v in (fx, k01, cx, k10, fy, cy, k20, k21, k22)):
            raise CameraError("K contains NaN or inf")
        # the last row as np.allclose(K[2], [0, 0, 1]) tests it: |a - b| <= 1e-8 + 1e-5 |b|
        if (abs(k01) > 1e-9 or abs(k10) > 1e-9 or abs(k20) > 1e-8 or abs(k21) > 1e-8
                or abs(k22 - 1.0) > 1e-8 + 1e-5):
            raise CameraError(f"K must be [[fx,0,cx],[0,fy,cy],[0,0,1]] (no skew), got {K.tolist()}")
        w, h = (None, None) if image_size is None else (int(image_size[0]), int(image_size[1]))
        return cls(fx, fy, cx, cy, w, h, source)

    @classmethod
    def from_focal_px(cls, focal_px: float, width: int, height: int, cx=None, cy=None,
                      source: str = "focal_px") -> "Intrinsics":
        f = _finite_positive("focal length (px)", focal_px)
        _finite_positive("image width", width)
        _finite_positive("image height", height)
        return cls(f, f, width / 2 if cx is None else float(cx), height / 2 if cy is None else float(cy),
                   int(width), int(height), source)

    @classmethod
    def from_focal_mm(cls, focal_mm: float, sensor_width_mm: float, width: int, height: int,
                      source: str = "focal_mm") -> "Intrinsics":
        f_mm = _finite_positive("focal length (mm)", focal_mm)
        s_mm = _finite_positive("sensor width (mm)", sensor_width_mm)
        return cls.from_focal_px(f_mm * width / s_mm, width, height, source=source)

    @classmethod
    def from_fov(cls, hfov_deg: float, width: int, height: int, source: str = "fov") -> "Intrinsics":
        fov = _finite_positive("horizontal field of view (deg)", hfov_deg)
        if not MIN_FOV_DEG <= fov <= MAX_FOV_DEG:
            raise CameraError(f"horizontal field of view must be within {MIN_FOV_DEG:g}..{MAX_FOV_DEG:g} deg "
                              f"(a pinhole camera), got {hfov_deg}")
        return cls.from_focal_px(width / (2 * math.tan(math.radians(fov) / 2)), width, height, source=source)

    @classmethod
    def from_exif(cls, tags: dict, width: int, height: int, sensor_width_mm: float | None = None) -> "Intrinsics":
        """Intrinsics from EXIF tags (names as in the EXIF standard, values numbers).

        Tried in order: FocalLength + FocalPlaneXResolution (exact sensor pixel pitch),
        FocalLength + a known sensor width, FocalLengthIn35mmFilm (CIPA: diagonal-equivalent).
        """
        f_mm = _num(tags.get("FocalLength"))
        xres, unit = _num(tags.get("FocalPlaneXResolution")), tags.get("FocalPlaneResolutionUnit")
        unit_mm = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}.get(_int(unit) or 2)
        # FocalPlaneXResolution is pixels per unit *in the original sensor resolution*; only trust
        # it when the image was not resized (we cannot know the original width otherwise).
        px_w = _num(tags.get("ExifImageWidth")) or _num(tags.get("PixelXDimension"))
        if f_mm and xres and unit_mm and (px_w is None or int(px_w) == int(width)):
            return cls.from_focal_px(f_mm * xres / unit_mm, width, height, source="exif:FocalPlaneXResolution")
        if f_mm and sensor_width_mm:
            return cls.from_focal_mm(f_mm, sensor_width_mm, width, height, source="exif:FocalLength+sensor")
        f35 = _num(tags.get("FocalLengthIn35mmFilm"))
        if f35:
            f_px = f35 * math.hypot(width, height) / FULL_FRAME_DIAGONAL_MM
            return cls.from_focal_px(f_px, width, height, source="exif:FocalLengthIn35mmFilm")
        raise CameraError("EXIF has no usable focal length (need FocalLengthIn35mmFilm, or FocalLength "
                          "with FocalPlaneXResolution or a sensor width); pass --focal-px, --focal-mm "
                          "with --sensor-mm, or --fov")

    # ---- views ---------------------------------------------------------------------------------
    @property
    def K(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def K_inv(self) -> np.ndarray:
        return np.array([[1 / self.fx, 0.0, -self.cx / self.fx], [0.0, 1 / self.fy, -self.cy / self.fy],
                         [0.0, 0.0, 1.0]])

    @property
    def hfov_deg(self) -> float:
        if self.width is None:
            raise CameraError("field of view needs the image width")
        return math.degrees(2 * math.atan(self.width / (2 * self.fx)))

    def scaled(self, s: float) -> "Intrinsics":
        """Intrinsics of the same camera after resizing the image by factor s (continuous coords)."""
        s = _finite_positive("scale", s)
        w = None if self.width is None else int(round(self.width * s))
        h = None if self.height is None else int(round(self.height * s))
        return replace(self, fx=self.fx * s, fy=self.fy * s, cx=self.cx * s, cy=self.cy * s, width=w, height=h)

    # ---- geometry ------------------------------------------------------------------------------
    def project(self, points_cam) -> np.ndarray:
        """(..., 3) camera-frame points -> (..., 2) pixels. Points must be in front (z > 0)."""
        return project(points_cam, self.K)

    def normalize(self, uv) -> np.ndarray:
        """(..., 2) pixels -> (..., 2) normalised image coordinates (K^-1 applied, z = 1)."""
        uv = np.asarray(uv, dtype=float)
        return np.stack([(uv[..., 0] - self.cx) / self.fx, (uv[..., 1] - self.cy) / self.fy], axis=-1)

    def backproject(self, uv, depth) -> np.ndarray:
        """(..., 2) pixels and (...) depths -> (..., 3) camera-frame points."""
        xy = self.normalize(uv)
        z = np.asarray(depth, dtype=float)
        return np.concatenate([xy * z[..., None], z[..., None]], axis=-1)

    def depth_to_distance(self, uv, depth) -> np.ndarray:
        """Euclidean distance of the point at pixel uv with the given depth."""
        xy = self.normalize(uv)
        return np.asarray(depth, dtype=float) * np.sqrt(1.0 + (xy ** 2).sum(-1))


# What a real pinhole camera can be: a 2000 mm lens on a full-frame sensor sees ~1 deg, fisheye
# lenses beyond ~160 deg do not follow the pinhole model at all; pixels are square to a few per cent
# (anamorphic lenses reach 2:1). Outside these the numbers are a typo or a unit mix-up.
MIN_FOV_DEG, MAX_FOV_DEG, MAX_PIXEL_ASPECT = 0.5, 160.0, 2.0


def camera_problem(intr: "Intrinsics") -> str | None:
    """Why these intrinsics cannot be a real camera's (None when plausible). The image size comes
    from the intrinsics, else twice the principal point (the usual centre)."""
    w = intr.width if intr.width else 2 * intr.cx
    h = intr.height if intr.height else 2 * intr.cy
    aspect = intr.fy / intr.fx
    if not (1 / MAX_PIXEL_ASPECT <= aspect <= MAX_PIXEL_ASPECT):
        return f"fy / fx = {aspect:.3g}: pixels this far from square are not a real camera (allowed " \
               f"{1 / MAX_PIXEL_ASPECT:g}..{MAX_PIXEL_ASPECT:g})"
    for name, size, f in (("horizontal", w, intr.fx), ("vertical", h, intr.fy)):
        if size > 0:
            fov = math.degrees(2 * math.atan(size / (2 * f)))
            if not (MIN_FOV_DEG <= fov <= MAX_FOV_DEG):
                return f"{name} field of view {fov:.4g} deg (focal length {f:.4g} px for {size:g} px) is outside " \
                       f"{MIN_FOV_DEG:g}..{MAX_FOV_DEG:g} deg: check the focal length and its unit"
    if intr.width and intr.height and not (-intr.width <= intr.cx <= 2 * intr.width
                                           and -intr.height <= intr.cy <= 2 * intr.height):
        return f"principal point ({intr.cx:g}, {intr.cy:g}) is far outside the {intr.width}x{intr.height} image"
    return None


def vector_camera_ok(fx, fy, cx, cy, w, h, sized) -> np.ndarray:
    """camera_problem(...) is None, for arrays of cameras (w, h: image size, or 2 cx, 2 cy when
    ``sized`` is False). Kept next to camera_problem: the two must agree."""
    with np.errstate(all="ignore"):
        aspect = fy / fx
        ok = (aspect >= 1 / MAX_PIXEL_ASPECT) & (aspect <= MAX_PIXEL_ASPECT)
        for size, f in ((w, fx), (h, fy)):
            fov = np.degrees(2 * np.arctan(size / (2 * f)))
            ok &= (size <= 0) | ((fov >= MIN_FOV_DEG) & (fov <= MAX_FOV_DEG))
        ok &= ~sized | ((cx >= -w) & (cx <= 2 * w) & (cy >= -h) & (cy <= 2 * h))
    return ok


def check_plausible(intr: "Intrinsics") -> "Intrinsics":
    """intr itself, or CameraError saying why it cannot be a real camera."""
    why = camera_problem(intr)
    if why:
        raise CameraError(why)
    return intr


def keypoints_problem(kp, width: float, height: float) -> str | None:
    """Why present keypoints (conf > 0) cannot belong to this image: farther outside it than its own
    size (a detector extrapolates a cut-off limb a little past the border, never kilometres)."""
    kp = np.asarray(kp, float)
    present = kp[:, 2] > 0
    if not present.any() or not (width > 0 and height > 0):
        return None
    x, y = kp[present, 0], kp[present, 1]
    far = (x < -width) | (x > 2 * width) | (y < -height) | (y > 2 * height)
    if far.any():
        i = int(np.flatnonzero(present)[np.argmax(far)])
        return f"keypoint {i} at ({kp[i, 0]:.6g}, {kp[i, 1]:.6g}) lies far outside the {width:g}x{height:g} image"
    return None


def project(points_cam, K) -> np.ndarray:
    p = np.asarray(points_cam, dtype=float)
    K = np.asarray(K, dtype=float)
    z = p[..., 2]
    if np.any(z <= 0):
        raise CameraError("cannot project points at or behind the camera (z <= 0)")
    u = K[0, 0] * p[..., 0] / z + K[0, 2]
    v = K[1, 1] * p[..., 1] / z + K[1, 2]
    return np.stack([u, v], axis=-1)


def _num(v):
    """EXIF rationals arrive as numbers, (num, den) pairs or strings; None when unusable."""
    if v is None:
        return None
    try:
        if isinstance(v, (tuple, list)) and len(v) == 2:
            v = float(v[0]) / float(v[1]) if float(v[1]) else None
        v = float(v)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return v if math.isfinite(v) and v > 0 else None


def _int(v):
    n = _num(v)
    return None if n is None else int(n)
