"""Random cameras around a person, and the maths that makes a Blender camera reproduce them exactly.

numpy only (no bpy): the no-render sampler (core/sampler.py) and the render path (deepx_addon/blender)
share these functions, so a rendered image and a sampled label come from the same camera.

Conventions (see core/camera.py): the camera frame is OpenCV's (x right, y down, z forward) and a
camera is ``x_cam = R @ x_world + t``; the world is Blender's (metres, Z up, ground z = 0); a person
in the pose table faces -Y with the pelvis above the origin.

Camera orientation as angles (what the labels record):
- ``yaw_deg``: heading of the optical axis, counter-clockwise from world +X seen from above;
- ``pitch_deg``: elevation of the optical axis (positive looks up);
- ``roll_deg``: rotation about the optical axis; positive roll turns the image content clockwise
  (a point on the level horizon right of centre moves down). The camera's x axis is level at roll 0.
``R = roll(roll_deg) @ level(yaw_deg, pitch_deg)``; ``rotation_from_angles`` / ``angles_from_rotation``.

Seeding: ``sample_cameras`` draws its random numbers in a fixed order, exactly ``n`` values per draw and
no data-dependent rejection loops, so it is deterministic for a ``np.random.Generator`` and, with a
``CounterRNG`` (one 64-bit key per row), row i depends only on key i: the no-render sampler uses that
to make every sample reproducible from its own ``sample_seed``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .camera import CameraError
from .settings import CameraSettings, SettingsError

# The steepest camera elevation above/below the pelvis that sample_cameras produces. A straight-down
# view is a valid camera but not a useful one for ranging people, and it keeps the heading well defined.
MAX_ELEVATION_DEG = 80.0
_SIN_MAX_ELEV = math.sin(math.radians(MAX_ELEVATION_DEG))
# Largest |pitch| of the optical axis after putting the pelvis off-centre (beyond it the target is
# moved towards the image centre, see _solve_orientation).
_MAX_PITCH_DEG = 89.0

# numpy 1.26's arctan2 (and other SIMD transcendentals) can round the last bit of a strided input
# differently on the first call of a process than on later calls: every transcendental here gets
# contiguous inputs, so labels are bit-reproducible across processes and resumes.
def _c(a) -> np.ndarray:
    a = np.asarray(a)
    return a if a.flags.c_contiguous else a.copy()    # (np.ascontiguousarray would make 0-d arrays 1-d)


_U64 = np.uint64
_GOLDEN = _U64(0x9E3779B97F4A7C15)
_M1, _M2 = _U64(0xBF58476D1CE4E5B9), _U64(0x94D049BB133111EB)
_ROW, _CAM = _U64(0xD1B54A32D192ED03), _U64(0x8CB92BA72F3D8DD7)
_MASK64 = (1 << 64) - 1


def mix64(x) -> np.ndarray:
    """SplitMix64's finaliser on a uint64 array (a bijective 64-bit hash; wraps, never warns)."""
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = x ^ (x >> _U64(30))
        x = x * _M1
        x = x ^ (x >> _U64(27))
        x = x * _M2
        return x ^ (x >> _U64(31))


class CounterRNG:
    """Per-row counter-based random numbers with the subset of ``np.random.Generator`` that
    ``sample_cameras`` uses. Row i's k-th draw is ``mix64(key_i + k * golden)`` (SplitMix64 stream
    seeded by key_i), so row i's values depend only on its key and on the order of draws, never on
    the other rows or on how the rows were batched."""

    def __init__(self, keys):
        keys = np.asarray(keys)
        if keys.ndim != 1 or keys.dtype.kind not in "iu":
            raise ValueError(f"CounterRNG keys must be a 1-D integer array, got {keys.dtype} {keys.shape}")
        self.keys = keys.astype(np.int64, copy=False).view(np.uint64) if keys.dtype.kind == "i" else keys.astype(np.uint64)
        self.draws = 0

    def __len__(self) -> int:
        return len(self.keys)

    def _check(self, size):
        if size is not None and tuple(np.atleast_1d(size)) != (len(self.keys),):
            raise ValueError(f"CounterRNG draws one value per key ({len(self.keys)}), asked for size {size}")

    def bits(self, size=None) -> np.ndarray:
        self._check(size)
        self.draws += 1
        with np.errstate(over="ignore"):
            return mix64(self.keys + _U64(self.draws) * _GOLDEN)

    def random(self, size=None) -> np.ndarray:
        """Uniform [0, 1) doubles (53 bits)."""
        return (self.bits(size) >> _U64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)

    def uniform(self, low=0.0, high=1.0, size=None) -> np.ndarray:
        return low + (high - low) * self.random(size)

    def normal(self, loc=0.0, scale=1.0, size=None) -> np.ndarray:
        u1, u2 = self.random(size), self.random(size)          # Box-Muller: two draws per value
        return loc + scale * np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)


def derive_seeds(seed: int, rows, cameras) -> np.ndarray:
    """Counter-based per-sample seeds: a 63-bit int64 from (global seed, pose row, camera index).
    ``rows`` and ``cameras`` broadcast against each other."""
    rows = np.asarray(rows, dtype=np.int64).astype(np.uint64)
    cams = np.asarray(cameras, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        a = mix64(_U64(int(seed) & _MASK64) + _GOLDEN)
        b = mix64(a + (rows + _U64(1)) * _ROW)
        c = mix64(b + (cams + _U64(1)) * _CAM)
    return (c >> _U64(1)).astype(np.int64)


# ---- rotations ----------------------------------------------------------------------------------

def rotation_from_angles(yaw_deg, pitch_deg, roll_deg=0.0) -> np.ndarray:
    """World->camera rotation(s) (..., 3, 3) from heading, elevation and roll (see module doc)."""
    th, ph, ro = (np.radians(np.asarray(a, dtype=float)) for a in (yaw_deg, pitch_deg, roll_deg))
    th, ph, ro = (_c(a) for a in np.broadcast_arrays(th, ph, ro))
    st, ct, sp, cp, sr, cr = np.sin(th), np.cos(th), np.sin(ph), np.cos(ph), np.sin(ro), np.cos(ro)
    zero = np.zeros_like(st)
    x_l = np.stack([st, -ct, zero], -1)              # level right
    y_l = np.stack([sp * ct, sp * st, -cp], -1)      # level down (= forward x right)
    f = np.stack([cp * ct, cp * st, sp], -1)         # forward
    c, s = cr[..., None], sr[..., None]
    return np.stack([c * x_l - s * y_l, s * x_l + c * y_l, f], axis=-2)


def angles_from_rotation(R):
    """(yaw_deg, pitch_deg, roll_deg) of world->camera rotation(s) R (..., 3, 3)."""
    R = np.asarray(R, dtype=float)
    f = R[..., 2, :]
    pitch = np.arcsin(np.clip(f[..., 2], -1.0, 1.0))
    yaw = np.arctan2(_c(f[..., 1]), _c(f[..., 0]))
    R0 = rotation_from_angles(np.degrees(yaw), np.degrees(pitch), 0.0)
    c = (R[..., 0, :] * R0[..., 0, :]).sum(-1)
    s = -(R[..., 0, :] * R0[..., 1, :]).sum(-1)
    return np.degrees(yaw), np.degrees(pitch), np.degrees(np.arctan2(s, c))


def look_at(position, target, roll_deg=0.0):
    """Camera(s) at ``position`` whose optical axis passes through ``target``, with the given roll.
    Returns ``(R, t)``: world->camera rotation (..., 3, 3) and translation (..., 3)."""
    position = np.asarray(position, dtype=float)
    target = np.asarray(target, dtype=float)
    d = target - position
    norm = np.linalg.norm(d, axis=-1)
    if np.any(norm <= 0):
        raise CameraError("look_at: camera position equals the target")
    d = d / norm[..., None]
    R = rotation_from_angles(np.degrees(np.arctan2(_c(d[..., 1]), _c(d[..., 0]))),
                             np.degrees(np.arcsin(np.clip(d[..., 2], -1.0, 1.0))), roll_deg)
    t = -np.einsum("...ij,...j->...i", R, position)
    return R, t


def intrinsics_from_hfov(hfov_deg, width: int, height: int) -> np.ndarray:
    """K (..., 3, 3): square pixels, principal point at the image centre."""
    hfov = np.asarray(hfov_deg, dtype=float)
    f = width / (2.0 * np.tan(np.radians(hfov) / 2.0))
    K = np.zeros(hfov.shape + (3, 3))
    K[..., 0, 0] = K[..., 1, 1] = f
    K[..., 0, 2], K[..., 1, 2], K[..., 2, 2] = width / 2.0, height / 2.0, 1.0
    return K


# ---- sampling -----------------------------------------------------------------------------------

@dataclass
class CameraBatch:
    """n cameras. R, t: world->camera (OpenCV); position: camera centre in the world; K per camera.
    The remaining arrays are the sampled parameters, recorded in every label."""
    R: np.ndarray                    # (n, 3, 3)
    t: np.ndarray                    # (n, 3)
    position: np.ndarray             # (n, 3)
    K: np.ndarray                    # (n, 3, 3)
    image_size: tuple[int, int]      # (width, height)
    distance_m: np.ndarray           # camera centre -> pelvis
    height_m: np.ndarray             # camera centre above the ground (world z)
    hfov_deg: np.ndarray
    roll_deg: np.ndarray
    pitch_deg: np.ndarray            # elevation of the optical axis
    yaw_deg: np.ndarray              # heading of the optical axis (CCW from +X)
    person_yaw_deg: np.ndarray       # person's turn relative to facing the camera (0 = faces it, 90 = shows its right side)
    elevation_deg: np.ndarray        # camera above the pelvis as seen from the pelvis (asin(dz / distance))
    tilt_jitter_deg: np.ndarray      # sampled jitter of the aim (see sample_cameras)
    target_px: np.ndarray            # (n, 2) where the pelvis lands in the image
    extra: dict = field(default_factory=dict)

    PARAMS = ("distance_m", "height_m", "hfov_deg", "roll_deg", "pitch_deg", "yaw_deg", "person_yaw_deg",
              "elevation_deg", "tilt_jitter_deg")

    def __len__(self) -> int:
        return len(self.R)

    def params(self) -> dict:
        """The label arrays: R, t, position, target_px and the sampled scalars."""
        d = {"R": self.R, "t": self.t, "position": self.position, "target_px": self.target_px}
        d.update({k: getattr(self, k) for k in self.PARAMS})
        return d

    def take(self, idx) -> "CameraBatch":
        kw = {k: getattr(self, k)[idx] for k in ("R", "t", "position", "K", "target_px") + self.PARAMS}
        return CameraBatch(image_size=self.image_size, extra=dict(self.extra), **kw)

    def project(self, points_world) -> tuple[np.ndarray, np.ndarray]:
        """(n, m, 3) or (m, 3) world points -> (uv (n, m, 2), z (n, m)); uv is NaN where z <= 0."""
        p = np.asarray(points_world, dtype=float)
        if p.ndim == 2:
            p = np.broadcast_to(p, (len(self),) + p.shape)
        pc = np.einsum("nij,nmj->nmi", self.R, p) + self.t[:, None, :]
        z = pc[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            zz = np.where(z > 0, z, np.nan)
            u = self.K[:, None, 0, 0] * pc[..., 0] / zz + self.K[:, None, 0, 2]
            v = self.K[:, None, 1, 1] * pc[..., 1] / zz + self.K[:, None, 1, 2]
        return np.stack([u, v], -1), z


def check_camera_settings(s: CameraSettings) -> None:
    """The checks sample_cameras needs, raising SettingsError naming the field.

    (CameraSettings.validate() would also treat image_size as a (min, max) range and reject
    landscape sizes such as (640, 480), so it is not called here.)"""
    name = type(s).__name__
    for f in ("distance_m", "height_m", "roll_deg", "hfov_deg", "person_yaw_deg"):
        lo, hi = getattr(s, f)
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
            raise SettingsError(f"{name}.{f}: need finite min <= max, got {getattr(s, f)}")
    if s.distance_m[0] <= 0:
        raise SettingsError(f"{name}.distance_m must be > 0, got {s.distance_m}")
    if not (0 < s.hfov_deg[0] and s.hfov_deg[1] < 180):
        raise SettingsError(f"{name}.hfov_deg must be inside (0, 180), got {s.hfov_deg}")
    if s.distance_sampling not in ("log", "uniform"):
        raise SettingsError(f"{name}.distance_sampling must be 'log' or 'uniform', got {s.distance_sampling!r}")
    if not 0.0 <= float(s.off_centre) <= 1.0:
        raise SettingsError(f"{name}.off_centre must be in [0, 1], got {s.off_centre}")
    if not float(s.tilt_jitter_deg) >= 0:
        raise SettingsError(f"{name}.tilt_jitter_deg must be >= 0, got {s.tilt_jitter_deg}")
    size = tuple(s.image_size)
    if len(size) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in size):
        raise SettingsError(f"{name}.image_size must be (width, height) positive integers, got {s.image_size}")


def _fold(x, a):
    """Reflect x into [-a, a] (a triangle wave; identity inside). a = 0 gives 0."""
    a = np.asarray(a, dtype=float)
    if np.all(a <= 0):
        return np.zeros_like(x)
    y = np.mod(x + a, 4 * a)
    return np.where(y > 2 * a, 4 * a - y, y) - a


def _solve_orientation(w, d_cam, roll_rad):
    """Yaw, pitch (radians) of a camera with the given roll that sees world direction w (unit, n x 3)
    along camera-frame direction d_cam (unit, n x 3). ok = False where no level-horizon camera can."""
    c, s = np.cos(roll_rad), np.sin(roll_rad)
    # R = roll @ level  =>  the direction in the level (roll-free) camera frame is roll^T d_cam
    a = c * d_cam[:, 0] + s * d_cam[:, 1]
    b = -s * d_cam[:, 0] + c * d_cam[:, 1]
    f = _c(d_cam[:, 2])
    sin_beta = w[:, 2]
    rho = np.sqrt(b * b + f * f)
    ratio = sin_beta / rho
    ok = np.abs(ratio) < 1.0 - 1e-12
    delta = np.arctan2(b, f)
    pitch = delta + np.arcsin(np.clip(ratio, -1.0, 1.0))
    ok &= np.abs(pitch) < math.radians(_MAX_PITCH_DEG)
    h = b * np.sin(pitch) + f * np.cos(pitch)        # horizontal forward component (>= 0)
    yaw = np.arctan2(_c(w[:, 1]), _c(w[:, 0])) + np.arctan2(a, h)
    return yaw, pitch, ok


def sample_cameras(rng, s: CameraSettings, pelvis_world, n: int | None = None, *,
                   facing_deg: float = 0.0) -> CameraBatch:
    """n random cameras looking at a person whose pelvis is at ``pelvis_world`` ((3,) or (n, 3)).

    - distance camera->pelvis in ``s.distance_m`` (log-uniform or uniform, ``s.distance_sampling``),
      truncated below where the height range cannot be reached (|camera z - pelvis z| must stay
      within sin(MAX_ELEVATION_DEG) of the distance);
    - camera height uniform over the part of ``s.height_m`` compatible with that distance;
    - the person's yaw relative to the camera uniform in ``s.person_yaw_deg`` (0 = the person faces
      the camera, 90 = it shows its right side). The person is not moved: the camera orbits it.
      ``facing_deg`` is the person's own heading in the world (0 = faces -Y, the pose-table frame);
    - hfov uniform in ``s.hfov_deg`` -> K (square pixels, centred principal point) for ``s.image_size``;
    - roll uniform in ``s.roll_deg``;
    - aim: the pelvis lands at a uniform position within ``s.off_centre`` of the half-frame on both
      axes; ``s.tilt_jitter_deg`` (SD) then shifts the aim vertically, reflected back into the
      off-centre box, so off_centre stays a hard bound (with off_centre = 0 the pelvis is centred).
      Where a level-horizon camera cannot put the pelvis there (very steep views), the target is
      moved to the vertical centre line, then to the centre.

    Random numbers are drawn in a fixed order (9 draws of n values; CounterRNG-compatible).
    """
    pelvis = np.asarray(pelvis_world, dtype=float)
    if pelvis.ndim == 1:
        if n is None:
            raise ValueError("sample_cameras: give n when pelvis_world is a single point")
        pelvis = np.broadcast_to(pelvis, (n, 3))
    if pelvis.ndim != 2 or pelvis.shape[1] != 3:
        raise ValueError(f"pelvis_world must be (3,) or (n, 3), got {pelvis.shape}")
    n = len(pelvis) if n is None else int(n)
    if len(pelvis) != n:
        raise ValueError(f"pelvis_world has {len(pelvis)} rows, n = {n}")
    check_camera_settings(s)
    W, H = (int(v) for v in s.image_size)
    dmin, dmax = (float(v) for v in s.distance_m)
    hmin, hmax = (float(v) for v in s.height_m)
    oc = float(s.off_centre)

    # fixed draw order: do not reorder (it would change every sample of every dataset)
    u_dist = rng.random(size=n)
    u_height = rng.random(size=n)
    person_yaw = rng.uniform(s.person_yaw_deg[0], s.person_yaw_deg[1], size=n)
    hfov = rng.uniform(s.hfov_deg[0], s.hfov_deg[1], size=n)
    roll = rng.uniform(s.roll_deg[0], s.roll_deg[1], size=n)
    ox = rng.uniform(-oc, oc, size=n)
    oy = rng.uniform(-oc, oc, size=n)
    jitter = rng.normal(0.0, float(s.tilt_jitter_deg), size=n)    # two draws

    # distance, truncated below so that the height range is reachable
    pz = pelvis[:, 2]
    gap = np.maximum.reduce([hmin - pz, pz - hmax, np.zeros(n)])
    d_lo = np.maximum(dmin, gap / _SIN_MAX_ELEV * (1 + 1e-9))
    if np.any(d_lo > dmax):
        i = int(np.argmax(d_lo > dmax))
        raise CameraError(f"camera height {s.height_m} m cannot be reached within distance {s.distance_m} m "
                          f"of a pelvis at z = {pz[i]:.3f} m (row {i}); widen distance_m or height_m")
    if s.distance_sampling == "log":
        dist = np.exp(np.log(d_lo) + u_dist * (math.log(dmax) - np.log(d_lo)))
    else:
        dist = d_lo + u_dist * (dmax - d_lo)
    h_lo = np.maximum(hmin, pz - dist * _SIN_MAX_ELEV)
    h_hi = np.minimum(hmax, pz + dist * _SIN_MAX_ELEV)
    height = h_lo + u_height * np.maximum(h_hi - h_lo, 0.0)
    dz = height - pz
    dh = np.sqrt(np.maximum(dist * dist - dz * dz, 0.0))
    az = np.radians(facing_deg - person_yaw)
    position = pelvis + np.stack([dh * np.sin(az), -dh * np.cos(az), dz], -1)
    w = (pelvis - position) / dist[:, None]

    K = intrinsics_from_hfov(hfov, W, H)
    fx = K[:, 0, 0]
    oy = _fold(oy + fx * np.tan(np.radians(jitter)) / (H / 2.0), oc)
    roll_rad = np.radians(roll)
    yaw, pitch = np.empty(n), np.empty(n)
    idx = np.arange(n)                     # rows still without an orientation
    for attempt in range(3):               # the target as sampled, then on the vertical centre line, then centred
        if attempt >= 1:
            ox[idx] = 0.0
        if attempt == 2:
            oy[idx] = 0.0
        dx, dy = ox[idx] * (W / 2.0) / fx[idx], oy[idx] * (H / 2.0) / fx[idx]
        inv = 1.0 / np.sqrt(dx * dx + dy * dy + 1.0)
        y_, p_, ok = _solve_orientation(w[idx], np.stack([dx * inv, dy * inv, inv], -1), roll_rad[idx])
        yaw[idx[ok]], pitch[idx[ok]] = y_[ok], p_[ok]
        idx = idx[~ok]
        if not len(idx):
            break
    if len(idx):   # cannot happen with MAX_ELEVATION_DEG < _MAX_PITCH_DEG; keep the guard explicit
        raise CameraError(f"sample_cameras: no camera orientation for {len(idx)} rows")
    R = rotation_from_angles(np.degrees(yaw), np.degrees(pitch), roll)
    t = -np.matmul(R, position[:, :, None])[:, :, 0]
    target = np.stack([W / 2.0 + ox * W / 2.0, H / 2.0 + oy * H / 2.0], -1)
    return CameraBatch(R=R, t=t, position=position, K=K, image_size=(W, H), distance_m=dist, height_m=height,
                       hfov_deg=hfov, roll_deg=roll, pitch_deg=np.degrees(pitch), yaw_deg=np.degrees(yaw),
                       person_yaw_deg=person_yaw, elevation_deg=np.degrees(np.arcsin(np.clip(dz / dist, -1, 1))),
                       tilt_jitter_deg=jitter, target_px=target)


# ---- Blender camera maths (no bpy) --------------------------------------------------------------

_CV_TO_BLENDER = np.diag([1.0, -1.0, -1.0])   # OpenCV camera axes (x right, y down, z fwd) -> Blender's (x right, y up, -z fwd)


def blender_camera_params(K, width: int, height: int, sensor_width_mm: float = 36.0) -> dict:
    """Blender camera data settings that reproduce K on a ``width`` x ``height`` render.

    Uses ``sensor_fit = 'HORIZONTAL'``: the sensor width spans the image width, so
    ``fx = lens * width / sensor_width``, and the shifts are in units of the image *width*
    (Blender measures shift in units of the fitted dimension: the larger one only for 'AUTO').
    ``cx = width/2 - shift_x * width`` and ``cy = height/2 + shift_y * width`` (cy from the top; Blender's
    shift_y moves the view up). Set the render's pixel aspect to 1 and resolution to 100 %.
    """
    K = np.asarray(K, dtype=float)
    if K.shape != (3, 3):
        raise CameraError(f"K must be 3x3, got {K.shape}")
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    if fx <= 0 or fy <= 0 or abs(fx - fy) > 1e-6 * fx or abs(K[0, 1]) > 1e-9:
        raise CameraError(f"Blender cameras need square pixels without skew (fx = fy > 0), got fx={fx}, fy={fy}")
    return {"lens_mm": float(fx * sensor_width_mm / width), "sensor_width_mm": float(sensor_width_mm),
            "sensor_fit": "HORIZONTAL", "shift_x": float((width / 2.0 - cx) / width),
            "shift_y": float((cy - height / 2.0) / width)}


def opencv_to_blender_world_matrix(R, t) -> np.ndarray:
    """Blender camera object ``matrix_world`` ((..., 4, 4), no scale) for world->camera (R, t)."""
    R = np.asarray(R, dtype=float)
    t = np.asarray(t, dtype=float)
    Rt = np.swapaxes(R, -1, -2)
    M = np.zeros(R.shape[:-2] + (4, 4))
    M[..., :3, :3] = Rt @ _CV_TO_BLENDER
    M[..., :3, 3] = -np.einsum("...ij,...j->...i", Rt, t)
    M[..., 3, 3] = 1.0
    return M


def blender_to_opencv(world_matrix, lens, sensor_width, shift_x, shift_y, width: int, height: int, *,
                      sensor_fit: str = "HORIZONTAL", sensor_height: float | None = None):
    """(R, t, K) of a Blender perspective camera: the inverse of opencv_to_blender_world_matrix +
    blender_camera_params. Object scale in ``world_matrix`` is removed; pixel aspect 1 assumed.
    sensor_fit 'AUTO' fits the larger image dimension to sensor_width, 'VERTICAL' the height to
    sensor_height."""
    M = np.asarray(world_matrix, dtype=float)
    if M.shape != (4, 4):
        raise CameraError(f"world_matrix must be 4x4, got {M.shape}")
    A = M[:3, :3]
    scale = np.linalg.norm(A, axis=0)
    if np.any(scale <= 0):
        raise CameraError("camera world matrix has a zero scale axis")
    cam_to_world = A / scale                                   # Blender camera axes in the world
    R = (cam_to_world @ _CV_TO_BLENDER).T
    t = -R @ M[:3, 3]
    fit = sensor_fit.upper()
    if fit == "HORIZONTAL":
        viewfac, sensor = float(width), float(sensor_width)
    elif fit == "VERTICAL":
        if sensor_height is None:
            raise CameraError("sensor_fit VERTICAL needs sensor_height")
        viewfac, sensor = float(height), float(sensor_height)
    elif fit == "AUTO":
        viewfac, sensor = float(max(width, height)), float(sensor_width)
    else:
        raise CameraError(f"sensor_fit must be AUTO, HORIZONTAL or VERTICAL, got {sensor_fit!r}")
    f = float(lens) * viewfac / sensor
    K = np.array([[f, 0.0, width / 2.0 - float(shift_x) * viewfac],
                  [0.0, f, height / 2.0 + float(shift_y) * viewfac],
                  [0.0, 0.0, 1.0]])
    return R, t, K


# ---- camera kinds users have (SceneSettings.camera_kinds) -----------------------------------------

# Each kind overrides these CameraSettings fields; "any" keeps the settings as they are. Distances
# start where the person mostly fits the frame (no belly-only close-ups); CCTV looks down from
# 2.5-6 m, a dashcam sits at car height with a wide lens, indoor cameras are close and wide.
CAMERA_KINDS = {
    "any": {},
    "dashcam": {"height_m": (1.2, 1.8), "distance_m": (3.0, 45.0), "hfov_deg": (60.0, 100.0),
                "roll_deg": (-3.0, 3.0), "tilt_jitter_deg": 3.0, "off_centre": 0.6},
    "cctv": {"height_m": (2.5, 6.0), "distance_m": (3.5, 30.0), "hfov_deg": (50.0, 95.0),
             "roll_deg": (-4.0, 4.0), "off_centre": 0.6},
    "handheld": {"height_m": (1.3, 1.8), "distance_m": (2.5, 30.0), "hfov_deg": (45.0, 80.0),
                 "roll_deg": (-8.0, 8.0), "off_centre": 0.5},
    "indoor": {"height_m": (0.9, 2.6), "distance_m": (2.0, 9.0), "hfov_deg": (60.0, 100.0), "off_centre": 0.5},
}


def choose_camera_kind(rng: np.random.Generator, weights: dict) -> str:
    """One kind from ``weights`` (name -> relative weight; names from CAMERA_KINDS); one draw."""
    names = [k for k in CAMERA_KINDS if float(weights.get(k, 0.0)) > 0]
    if not names:
        raise SettingsError(f"camera kind weights {weights} select no kind of {tuple(CAMERA_KINDS)}")
    w = np.array([float(weights[k]) for k in names])
    u = float(rng.random())
    return names[min(int(np.searchsorted(np.cumsum(w) / w.sum(), u, side="right")), len(names) - 1)]


def camera_settings_for_kind(s: CameraSettings, kind: str) -> CameraSettings:
    """``s`` with the fields of camera kind ``kind`` replaced (image size and the rest kept)."""
    from dataclasses import replace
    if kind not in CAMERA_KINDS:
        raise SettingsError(f"unknown camera kind {kind!r}; known: {tuple(CAMERA_KINDS)}")
    return replace(s, **CAMERA_KINDS[kind])
