"""The mannequin's skeleton as data, and its forward kinematics in numpy (no bpy).

One definition serves both sides: ``blender/mannequin.py`` builds the Blender armature from
``BONES`` and ``blender/posing.py`` reads Blender's evaluated pose matrices, while
``forward_kinematics`` reproduces exactly what Blender computes (tests compare the two), so
keypoints, ground contact and body scaling use one set of formulas either way.

Rest pose: the reference adult (``REF_STATURE_M`` = 1.715 m, all proportions 1) standing upright
in Blender's world axes (metres, Z up, ground z = 0, facing -Y, the person's left = +X), arms
hanging straight down. Joint heights and segment lengths are Drillis & Contini's fractions of
stature (core/anthropometry.py): hip joints 0.530, knees 0.285, ankles 0.039, shoulders 0.818,
elbows 0.632, wrists 0.486, top of the head 1.0; hip joint centres 0.105 apart and shoulder joint
centres 0.20 apart (anthropometry.SEGMENT "hip_joints"/"shoulder_joints": joint centres, narrower
than the body breadths; the detector's keypoints on our renders agreed).

Bone frames (Blender convention: local Y runs head -> tail; the roll puts local Z on ``zaxis``):
- trunk (pelvis, spine01-03, neck, head): Y up, Z forward (-Y world), X = person's left.
  Euler X > 0 bends forward, Y > 0 turns to the person's left, Z > 0 leans to the person's right.
- legs and arms (thigh, calf, upperarm, lowerarm, hand), both sides: Y down, Z forward,
  X = person's right (-X world). X > 0 swings the limb forward (hip/shoulder flexion; the knee
  bends with X < 0, the elbow with X > 0); for _L, Z > 0 swings it out to the side (abduction) and
  Y > 0 turns its front inwards (internal rotation); for _R the Y and Z signs are mirrored.
- clavicles: Y outwards, Z forward; X > 0 moves the shoulder forward; Z > 0 raises the left
  shoulder and lowers the right one.
- feet and toes: Y forward along the foot, Z up; X > 0 lifts the toes (dorsiflexion).
A pose mirrored left <-> right maps (x, y, z) of a bone to (x, -y, -z) of its mirror bone.

Body variation (core/body.py ``BodyParams``) is applied the way Blender can do it without edit
mode: a uniform object scale for stature plus per-bone pose scale channels for proportions, with
every bone's ``inherit_scale`` = 'NONE' (a child's head follows its parent's scaled tail, its
orientation ignores the parent's scale). ``body_scales`` returns both.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .keypoints import COCO_KEYPOINTS, pelvis_of
from .anthropometry import SEGMENT

REF_STATURE_M = 1.715
H = REF_STATURE_M

_FWD = (0.0, -1.0, 0.0)
_UP = (0.0, 0.0, 1.0)

# Trunk and left side, positions as fractions of stature (x = left, y = back, z = up).
_TRUNK = [
    # name, parent, connected, head, tail, zaxis
    ("pelvis", None, False, (0, 0, 0.530), (0, 0, 0.600), _FWD),
    ("spine01", "pelvis", True, (0, 0, 0.600), (0, 0, 0.670), _FWD),
    ("spine02", "spine01", True, (0, 0, 0.670), (0, 0, 0.745), _FWD),
    ("spine03", "spine02", True, (0, 0, 0.745), (0, 0, 0.818), _FWD),
    ("neck", "spine03", True, (0, 0, 0.818), (0, 0, 0.885), _FWD),
    ("head", "neck", True, (0, 0, 0.885), (0, 0, 1.000), _FWD),
]
SHOULDER_X = SEGMENT["shoulder_joints"] / 2   # shoulder joint half-spacing (joint centres, not breadth)
HIP_X = SEGMENT["hip_joints"] / 2        # hip joint half-spacing
_LEFT = [
    ("clavicle_L", "spine03", False, (0.020, 0, 0.805), (SHOULDER_X, 0, 0.818), _FWD),
    ("upperarm_L", "clavicle_L", True, (SHOULDER_X, 0, 0.818), (SHOULDER_X, 0, 0.632), _FWD),
    ("lowerarm_L", "upperarm_L", True, (SHOULDER_X, 0, 0.632), (SHOULDER_X, 0, 0.486), _FWD),
    ("hand_L", "lowerarm_L", True, (SHOULDER_X, 0, 0.486), (SHOULDER_X, 0, 0.378), _FWD),
    ("thigh_L", "pelvis", False, (HIP_X, 0, 0.530), (HIP_X, 0, 0.285), _FWD),
    ("calf_L", "thigh_L", True, (HIP_X, 0, 0.285), (HIP_X, 0, 0.039), _FWD),
    ("foot_L", "calf_L", True, (HIP_X, 0, 0.039), (HIP_X, -0.095, 0.012), _UP),
    ("toes_L", "foot_L", True, (HIP_X, -0.095, 0.012), (HIP_X, -0.127, 0.010), _UP),
]


def _mirror(spec):
    name, parent, conn, head, tail, z = spec
    m = lambda p: (-p[0], p[1], p[2])  # noqa: E731
    return (name[:-2] + "_R", parent[:-2] + "_R" if parent.endswith("_L") else parent, conn,
            m(head), m(tail), z)


# Blender lists bones depth-first in creation order; keep that order here (trunk, arms, legs) so
# foreach_get/foreach_set on pose bones line up with BONE_NAMES.
_ARM_L, _LEG_L = _LEFT[:4], _LEFT[4:]
_SPECS = _TRUNK + _ARM_L + [_mirror(s) for s in _ARM_L] + _LEG_L + [_mirror(s) for s in _LEG_L]


@dataclass(frozen=True)
class Bone:
    name: str
    parent: str | None
    connected: bool
    head: np.ndarray      # rest head, metres (reference adult)
    tail: np.ndarray
    zaxis: np.ndarray     # roll hint: local Z as close as possible to this


BONES: tuple[Bone, ...] = tuple(
    Bone(n, p, c, np.array(h, float) * H, np.array(t, float) * H, np.array(z, float)) for n, p, c, h, t, z in _SPECS)
BONE_NAMES: tuple[str, ...] = tuple(b.name for b in BONES)
BONE_INDEX = {n: i for i, n in enumerate(BONE_NAMES)}
PARENT_INDEX = np.array([-1 if b.parent is None else BONE_INDEX[b.parent] for b in BONES])
MIRROR = {n: (n[:-2] + ("_R" if n.endswith("_L") else "_L")) if n[-2:] in ("_L", "_R") else n for n in BONE_NAMES}
MIRROR_SIGN = np.array([1.0, -1.0, -1.0])   # (x, y, z) -> (x, -y, -z) on the mirror bone
LENGTHS = np.array([np.linalg.norm(b.tail - b.head) for b in BONES])


def rest_matrix(head, tail, zaxis) -> np.ndarray:
    """3x3 rest orientation (columns = local X, Y, Z in armature space), Blender's align_roll."""
    y = np.asarray(tail, float) - np.asarray(head, float)
    y = y / np.linalg.norm(y)
    z = np.asarray(zaxis, float) - np.dot(zaxis, y) * y
    z = z / np.linalg.norm(z)
    return np.stack([np.cross(y, z), y, z], axis=1)


REST_R = np.stack([rest_matrix(b.head, b.tail, b.zaxis) for b in BONES])     # (B, 3, 3)
REST_HEAD = np.stack([b.head for b in BONES])                                  # (B, 3)


def to_local(bone: str, point_world) -> np.ndarray:
    """A rest-pose armature-space point in ``bone``'s local frame (origin at its head)."""
    i = BONE_INDEX[bone]
    return REST_R[i].T @ (np.asarray(point_world, float) - REST_HEAD[i])


# --- keypoints --------------------------------------------------------------------------------
# COCO keypoint -> (bone, "head" | "tail", offset in that bone's local frame, metres of the
# reference adult). Joints sit on bone heads; the face is offset from the head bone's head (the
# skull joint at 0.885 H): local x = left, y = up, z = forward.
KEYPOINT_ANCHORS: dict[str, tuple[str, str, tuple[float, float, float]]] = {
    "nose": ("head", "head", (0.0, 0.020 * H, 0.070 * H)),
    "left_eye": ("head", "head", (0.0184 * H, 0.051 * H, 0.053 * H)),
    "right_eye": ("head", "head", (-0.0184 * H, 0.051 * H, 0.053 * H)),
    "left_ear": ("head", "head", (0.045 * H, 0.040 * H, -0.005 * H)),
    "right_ear": ("head", "head", (-0.045 * H, 0.040 * H, -0.005 * H)),
    "left_shoulder": ("upperarm_L", "head", (0.0, 0.0, 0.0)),
    "right_shoulder": ("upperarm_R", "head", (0.0, 0.0, 0.0)),
    "left_elbow": ("lowerarm_L", "head", (0.0, 0.0, 0.0)),
    "right_elbow": ("lowerarm_R", "head", (0.0, 0.0, 0.0)),
    "left_wrist": ("hand_L", "head", (0.0, 0.0, 0.0)),
    "right_wrist": ("hand_R", "head", (0.0, 0.0, 0.0)),
    "left_hip": ("thigh_L", "head", (0.0, 0.0, 0.0)),
    "right_hip": ("thigh_R", "head", (0.0, 0.0, 0.0)),
    "left_knee": ("calf_L", "head", (0.0, 0.0, 0.0)),
    "right_knee": ("calf_R", "head", (0.0, 0.0, 0.0)),
    "left_ankle": ("foot_L", "head", (0.0, 0.0, 0.0)),
    "right_ankle": ("foot_R", "head", (0.0, 0.0, 0.0)),
}
assert tuple(KEYPOINT_ANCHORS) == COCO_KEYPOINTS


def _anchor_local(bone: str, end: str, offset) -> np.ndarray:
    y = LENGTHS[BONE_INDEX[bone]] if end == "tail" else 0.0
    return np.array([0.0, y, 0.0]) + np.asarray(offset, float)


ANCHOR_BONE = np.array([BONE_INDEX[KEYPOINT_ANCHORS[k][0]] for k in COCO_KEYPOINTS])
ANCHOR_LOCAL = np.stack([_anchor_local(*KEYPOINT_ANCHORS[k]) for k in COCO_KEYPOINTS])

# --- ground / seat contact spheres --------------------------------------------------------------
# (bone, rest position as fractions of stature, radius as a fraction of stature, group). They follow
# the mannequin's mesh: the lowest sphere surface is what touches the ground or the seat.
# group "foot" scales with leg_length (the foot is scaled uniformly), "hand" not at all, the others
# with girth. Hands count so that a hand never goes through the floor (it then carries the body).
_CONTACTS_L = [
    ("foot_L", (HIP_X, 0.012, 0.015), 0.015, "foot"),     # heel
    ("foot_L", (HIP_X, -0.060, 0.014), 0.014, "foot"),    # mid-sole
    ("toes_L", (HIP_X, -0.095, 0.013), 0.013, "foot"),    # ball
    ("toes_L", (HIP_X, -0.122, 0.009), 0.009, "foot"),    # toe tip
    ("calf_L", (HIP_X, -0.012, 0.285), 0.030, "knee"),    # kneecap
    ("calf_L", (HIP_X, -0.004, 0.200), 0.029, "shin"),
    ("calf_L", (HIP_X, -0.002, 0.120), 0.024, "shin"),
    ("calf_L", (HIP_X, 0.000, 0.060), 0.019, "shin"),
    ("thigh_L", (HIP_X, 0.005, 0.460), 0.047, "thigh"),
    ("thigh_L", (HIP_X, 0.005, 0.380), 0.041, "thigh"),
    ("pelvis", (0.050, 0.020, 0.505), 0.030, "seat"),    # buttock (ischial tuberosity)
    ("hand_L", (SHOULDER_X, 0.0, 0.486), 0.016, "hand"),        # wrist
    ("hand_L", (SHOULDER_X, -0.002, 0.395), 0.013, "hand"),     # fingers
]
_CONTACTS = _CONTACTS_L + [(MIRROR[b], (-p[0], p[1], p[2]), r, g) for b, p, r, g in _CONTACTS_L]
CONTACT_BONE = np.array([BONE_INDEX[c[0]] for c in _CONTACTS])
CONTACT_LOCAL = np.stack([to_local(c[0], np.array(c[1]) * H) for c in _CONTACTS])
CONTACT_RADIUS = np.array([c[2] * H for c in _CONTACTS])
CONTACT_GROUP = np.array([c[3] for c in _CONTACTS])
SEAT_CONTACTS = np.isin(CONTACT_GROUP, ("seat", "thigh"))
FEET_CONTACTS = ~SEAT_CONTACTS          # feet, knees, shins, hands: never below the ground

# --- body -> scales ----------------------------------------------------------------------------
# Which proportion multiplier scales which bone (local x, y, z). Y runs along the bone.
_SCALE_RULES = {
    "pelvis": ("hip_width", "torso_length", None),
    "spine01": (None, "torso_length", None),
    "spine02": (None, "torso_length", None),
    "spine03": ("shoulder_width", "torso_length", None),
    "neck": (None, None, None),
    "head": ("head_size", "head_size", "head_size"),
    "clavicle": (None, "shoulder_width", None),
    "upperarm": (None, "arm_length", None),
    "lowerarm": (None, "arm_length", None),
    "hand": (None, "arm_length", None),
    "thigh": (None, "leg_length", None),
    "calf": (None, "leg_length", None),
    "foot": ("leg_length", "leg_length", "leg_length"),
    "toes": ("leg_length", "leg_length", "leg_length"),
}
PROPORTIONS = ("leg_length", "arm_length", "torso_length", "shoulder_width", "hip_width", "head_size")


def _scale_masks():
    masks = {k: np.zeros((len(BONES), 3), bool) for k in PROPORTIONS}
    for i, name in enumerate(BONE_NAMES):
        for ax, key in enumerate(_SCALE_RULES[name if name in _SCALE_RULES else name[:-2]]):
            if key is not None:
                masks[key][i, ax] = True
    return masks


_SCALE_MASKS = _scale_masks()


def proportion_scales(proportions: dict | None = None) -> np.ndarray:
    """(B, 3) pose-scale channels for the given proportion multipliers (missing = 1)."""
    p = proportions or {}
    if not set(p) <= _SCALE_MASKS.keys():
        raise ValueError(f"unknown body proportion(s) {sorted(set(p) - set(PROPORTIONS))}; known: {PROPORTIONS}")
    out = np.ones((len(BONES), 3))
    for k, v in p.items():
        out[_SCALE_MASKS[k]] = v
    return out


def standing_height(scales: np.ndarray) -> np.ndarray:
    """Height (top of the head above the soles) of the rest pose under (…, B, 3) scales, at object
    scale 1: the stature before the uniform stature scale is applied."""
    scales = np.asarray(scales, float)
    A, T = forward_kinematics(np.zeros(scales.shape), scales)
    i = BONE_INDEX["head"]
    top = (A[..., i, :, :] @ np.array([0.0, LENGTHS[i], 0.0]) + T[..., i, :])[..., 2]
    pts = points(A, T, CONTACT_BONE, CONTACT_LOCAL)
    r = contact_radii(scales, 1.0, 1.0)
    return top - (pts[..., 2] - r).min(axis=-1)


_HEIGHT_COEF = None


def standing_height_from_proportions(proportions: dict | None = None) -> float:
    """``standing_height(proportion_scales(p))`` without forward kinematics: in the rest pose each
    vertical offset is scaled by exactly one proportion and the soles stay level (the foot scales
    uniformly), so the height is affine in the proportions; its coefficients are measured once."""
    global _HEIGHT_COEF
    if _HEIGHT_COEF is None:
        probes = [proportion_scales()] + [proportion_scales({k: 1.1}) for k in PROPORTIONS]
        h = standing_height(np.stack(probes))
        _HEIGHT_COEF = (float(h[0]), (h[1:] - h[0]) / 0.1)
    h0, coef = _HEIGHT_COEF
    p = proportions or {}
    return h0 + float(sum(c * (float(p.get(k, 1.0)) - 1.0) for k, c in zip(PROPORTIONS, coef)))


def body_scales(stature_m: float, proportions: dict | None = None) -> tuple[float, np.ndarray]:
    """(object scale, (B, 3) pose scales) that give a standing stature of ``stature_m``."""
    sc = proportion_scales(proportions)
    return float(stature_m) / standing_height_from_proportions(proportions), sc


def contact_radii(scales, object_scale, girth) -> np.ndarray:
    """Contact sphere radii in world metres for (…, B, 3) scales, object scale(s) and girth(s)."""
    scales = np.asarray(scales, float)
    foot = scales[..., BONE_INDEX["foot_L"], 1:2]          # uniform foot scale (leg_length)
    g = np.asarray(girth, float)[..., None]
    mult = np.where(CONTACT_GROUP == "foot", foot, np.where(CONTACT_GROUP == "hand", 1.0, g))
    return CONTACT_RADIUS * mult * np.asarray(object_scale, float)[..., None]


# --- forward kinematics ----------------------------------------------------------------------------
def euler_xyz_matrix(deg) -> np.ndarray:
    """(…, 3) Euler angles in degrees, Blender's 'XYZ' mode (X applied first) -> (…, 3, 3)."""
    a = np.deg2rad(np.asarray(deg, float))
    cx, cy, cz = np.cos(a[..., 0]), np.cos(a[..., 1]), np.cos(a[..., 2])
    sx, sy, sz = np.sin(a[..., 0]), np.sin(a[..., 1]), np.sin(a[..., 2])
    # Rz @ Ry @ Rx
    m = np.empty(a.shape[:-1] + (3, 3))
    m[..., 0, 0] = cz * cy
    m[..., 0, 1] = cz * sy * sx - sz * cx
    m[..., 0, 2] = cz * sy * cx + sz * sx
    m[..., 1, 0] = sz * cy
    m[..., 1, 1] = sz * sy * sx + cz * cx
    m[..., 1, 2] = sz * sy * cx - cz * sx
    m[..., 2, 0] = -sy
    m[..., 2, 1] = cy * sx
    m[..., 2, 2] = cy * cx
    return m


_PARENTS = [int(p) for p in PARENT_INDEX]
_LOCAL_R = np.stack([REST_R[i] if p < 0 else REST_R[p].T @ REST_R[i] for i, p in enumerate(PARENT_INDEX)])
_OFFSET = np.stack([REST_HEAD[i] if p < 0 else REST_R[p].T @ (REST_HEAD[i] - REST_HEAD[p])
                    for i, p in enumerate(PARENT_INDEX)])


def forward_kinematics(rotations_deg, scales=None) -> tuple[np.ndarray, np.ndarray]:
    """Pose matrices in armature space, as Blender's ``PoseBone.matrix``.

    rotations_deg: (…, B, 3) Euler XYZ degrees per bone in ``BONE_NAMES`` order; scales: (…, B, 3)
    pose scale channels (None = 1). Returns A (…, B, 3, 3) (rotation times scale; a bone-local point
    p maps to A @ p + T) and T (…, B, 3) (pose head positions). Bones inherit no scale: a child's
    head follows its parent's scaled frame, its orientation only the parent's rotation.
    """
    M = _LOCAL_R @ euler_xyz_matrix(rotations_deg)       # rest-relative orientation of each bone
    batch = M.shape[:-3]
    sc = None if scales is None else np.broadcast_to(scales, batch + (len(BONES), 3))
    Ms = [M[..., i, :, :] for i in range(len(BONES))]
    Ss = [None] * len(BONES) if sc is None else [sc[..., i, None, :] for i in range(len(BONES))]
    Q, A, T = [], [], []   # per bone: orientation without scale, with scale, head
    for i, p in enumerate(_PARENTS):
        if p < 0:
            q, t = Ms[i], np.broadcast_to(_OFFSET[i], batch + (3,))
        else:
            q, t = Q[p] @ Ms[i], T[p] + A[p] @ _OFFSET[i]
        Q.append(q)
        A.append(q if Ss[i] is None else q * Ss[i])
        T.append(t)
    return np.stack(A, axis=-3), np.stack(T, axis=-2)


def points(A, T, bone_idx, local) -> np.ndarray:
    """Armature-space positions (…, M, 3) of bone-local points ``local`` (M, 3) on bones ``bone_idx``."""
    return np.einsum("...mij,mj->...mi", A[..., bone_idx, :, :], local) + T[..., bone_idx, :]


def keypoints_from_matrices(A, T) -> np.ndarray:
    """(…, 17, 3) COCO keypoints in armature space."""
    return points(A, T, ANCHOR_BONE, ANCHOR_LOCAL)


# --- placing the posed body ------------------------------------------------------------------------
def support_offset(contacts_z, radii, support: str = "ground", box_height_m: float = 0.0):
    """Vertical shift that puts a posed body on its support, and the seat height used.

    contacts_z, radii: (…, M) world z of the contact sphere centres and their radii (``CONTACT_*``
    order) before the shift. "ground": the lowest foot/knee/shin/thigh/buttock/hand surface goes to
    z = 0. "box": the lowest buttock/thigh surface goes to ``box_height_m``; where that would push a
    foot, knee, shin or hand below the ground the body is raised until it touches (a taller seat),
    so nothing ever goes under z = 0. Returns (dz, seat_height) where seat_height is 0 for "ground".
    """
    bottom = np.asarray(contacts_z, float) - np.asarray(radii, float)
    if support == "ground":
        dz = -bottom.min(axis=-1)
        return dz, np.zeros_like(dz)
    if support != "box":
        raise ValueError(f"support must be 'ground' or 'box', got {support!r}")
    dz = box_height_m - bottom[..., SEAT_CONTACTS].min(axis=-1)
    dz = np.maximum(dz, -bottom[..., FEET_CONTACTS].min(axis=-1))
    return dz, dz + bottom[..., SEAT_CONTACTS].min(axis=-1)


def person_frame(A, T, object_scale, radii, support="ground", box_height_m=0.0):
    """Keypoints (…, 17, 3) in the person frame (pelvis at x = y = 0, support applied, facing -Y)
    from armature-space pose matrices, plus the shift (dx, dy, dz) (…, 3) and seat height.

    The armature object is assumed unrotated with uniform ``object_scale``.
    """
    s = np.asarray(object_scale, float)[..., None, None]
    kp = keypoints_from_matrices(A, T) * s
    cz = points(A, T, CONTACT_BONE, CONTACT_LOCAL)[..., 2] * s[..., 0]
    dz, seat = support_offset(cz, radii, support, box_height_m)
    pelvis = pelvis_of(kp)
    shift = np.stack([-pelvis[..., 0], -pelvis[..., 1], dz], axis=-1)
    return kp + shift[..., None, :], shift, seat
