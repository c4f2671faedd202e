"""Is a pose physically possible, and does it look like its family? (numpy only)

``pose_problems(rotations, family, support, body)`` returns the names of what is wrong (empty: the
pose is fine), from core/rig.py's forward kinematics on the body's proportions (reference-adult
units, so thresholds are fractions of the 1.715 m rig):

- ``arm_through_trunk`` / ``arm_through_head``: a point on an upper arm (away from the shoulder),
  forearm or hand lies inside the trunk's elliptical cross-section (semi-axes TRUNK_HALF_WIDTH x
  TRUNK_HALF_DEPTH of stature, times girth, shrunk by the limb radius) or inside the head;
- ``legs_cross``: the two thighs or calves come closer than LEGS_OVERLAP of their summed radii
  (one leg through the other); ``arm_through_leg``: a forearm or hand well inside a thigh;
- family checks (``FAMILY_CHECKS``, one named check per family): kneeling = a knee on the ground;
  sitting = buttocks on the seat (box) or on the ground; crouching = pelvis low, feet carrying;
  standing / walking / hands_up = feet carry the body and the pelvis is high (hands_up: both
  wrists above the shoulders); bending = trunk tilted forward >= 25 degrees.

``core/poses.sample_pose`` redraws a pose (same generator, so still deterministic) until it has no
problem, up to ``MAX_TRIES`` times, and records the tries and any problem left in its recipe.
"""
from __future__ import annotations

import numpy as np

from . import rig

H = rig.H
_I = rig.BONE_INDEX
TRUNK_HALF_WIDTH = 0.075     # x, of stature (the mannequin's torso rings: 0.087-0.10 at the skin)
TRUNK_HALF_DEPTH = 0.045     # forward/back (skin: 0.058-0.066)
LIMB_RADIUS = {"upperarm": 0.030, "lowerarm": 0.024, "hand": 0.016, "thigh": 0.045, "calf": 0.030}
HEAD_RADIUS_MIN = 0.045     # the head ellipsoid's smallest semi-axis (blender/mannequin.py HEAD_RADII)
LEGS_OVERLAP = 0.4           # leg centre lines closer than this share of their summed radii: crossed
GROUND_TOL = 0.035           # a contact "on the ground" is within this of the lowest one (of stature)
MAX_TRIES = 12
_SAMPLES = np.linspace(0.0, 1.0, 7)
_TRUNK_BONES = ("pelvis", "spine01", "spine02", "spine03")


def _segment_points(A, T, bone: str, start: float = 0.0) -> np.ndarray:
    """(7, 3) points along a bone from ``start`` (fraction of its length) to its tail."""
    i = _I[bone]
    L = rig.LENGTHS[i]
    local = np.zeros((len(_SAMPLES), 3))
    local[:, 1] = L * (start + (1 - start) * _SAMPLES)
    return local @ A[i].T + T[i]


def _inside_trunk(p, A, T, girth: float, r_limb: float) -> bool:
    """Does any point of p (N, 3) lie inside the trunk (an elliptic cylinder per spine bone)?"""
    for b in _TRUNK_BONES:
        i = _I[b]
        Ai = A[i]
        # bone-local coordinates: y along the bone, x across (left), z forward
        q = np.linalg.solve(Ai, (p - T[i]).T).T
        L = rig.LENGTHS[i]
        along = (q[:, 1] >= 0) & (q[:, 1] <= L)
        a = max(TRUNK_HALF_WIDTH * H * girth - r_limb, 0.01)
        c = max(TRUNK_HALF_DEPTH * H * girth - r_limb, 0.01)
        if np.any(along & ((q[:, 0] / a) ** 2 + (q[:, 2] / c) ** 2 < 1.0)):
            return True
    return False


def _min_dist(p, q) -> float:
    return float(np.sqrt(((p[:, None, :] - q[None, :, :]) ** 2).sum(-1)).min())


def placed(rotations, body=None, support: str = "ground", box_height_m: float = 0.0):
    """(A, T, contact bottoms z (M,), pelvis z) of the posed body on its support, armature units."""
    from .body import BodyParams
    body = body or BodyParams()
    s, sc = body.scales()
    A, T = rig.forward_kinematics(np.asarray(rotations, float), sc)
    radii = rig.contact_radii(sc, 1.0, body.girth)
    cz = rig.points(A, T, rig.CONTACT_BONE, rig.CONTACT_LOCAL)[:, 2]
    box = box_height_m / s if support == "box" else 0.0
    dz, _seat = rig.support_offset(cz, radii, support, box)
    kp = rig.keypoints_from_matrices(A, T)
    pelvis_z = float(0.5 * (kp[11, 2] + kp[12, 2]) + dz)
    return A, T, cz + dz - radii, pelvis_z, kp + np.array([0, 0, dz])


def _group_min(bottoms, group) -> float:
    return float(bottoms[rig.CONTACT_GROUP == group].min())


def _feet_carry(b) -> bool:
    return _group_min(b, "foot") <= b.min() + GROUND_TOL * H


def check_kneeling(b, pelvis_z, kp, A, T) -> bool:
    return _group_min(b, "knee") <= b.min() + GROUND_TOL * H and pelvis_z < 0.45 * H


def check_sitting(b, pelvis_z, kp, A, T, support="ground") -> bool:
    return support == "box" or _group_min(b, "seat") <= b.min() + GROUND_TOL * H


def check_crouching(b, pelvis_z, kp, A, T) -> bool:
    return _feet_carry(b) and pelvis_z < 0.44 * H


def check_upright(b, pelvis_z, kp, A, T) -> bool:
    return _feet_carry(b) and pelvis_z > 0.43 * H


def check_hands_up(b, pelvis_z, kp, A, T) -> bool:
    return check_upright(b, pelvis_z, kp, A, T) and kp[9, 2] > kp[5, 2] and kp[10, 2] > kp[6, 2]


def check_bending(b, pelvis_z, kp, A, T) -> bool:
    d = T[_I["neck"]] - T[_I["pelvis"]]
    tilt = np.degrees(np.arccos(np.clip(d[2] / np.linalg.norm(d), -1, 1)))
    return _feet_carry(b) and tilt >= 25.0


FAMILY_CHECKS = {"kneeling": check_kneeling, "sitting": check_sitting, "crouching": check_crouching,
                 "standing": check_upright, "walking": check_upright, "hands_up": check_hands_up,
                 "bending": check_bending}


def pose_problems(rotations, family: str | None = None, support: str = "ground", box_height_m: float = 0.0,
                  body=None) -> list[str]:
    """Names of what is wrong with a pose ((B, 3) degrees); [] = a valid pose of ``family``."""
    girth = 1.0 if body is None else float(body.girth)
    A, T, bottoms, pelvis_z, kp = placed(rotations, body, support, box_height_m)
    out = []
    head_c = rig.points(A, T, np.array([_I["head"]]), np.array([[0.0, 0.05 * H, 0.008 * H]]))[0]
    for side in "LR":
        pts = {b: _segment_points(A, T, f"{b}_{side}", 0.45 if b == "upperarm" else 0.0)
               for b in ("upperarm", "lowerarm", "hand")}
        if any(_inside_trunk(p, A, T, girth, LIMB_RADIUS[b] * H * girth) for b, p in pts.items()):
            out.append("arm_through_trunk")
        low = np.concatenate([pts["lowerarm"], pts["hand"]])
        if np.linalg.norm(low - head_c, axis=1).min() < 0.8 * (HEAD_RADIUS_MIN + LIMB_RADIUS["hand"]) * H:
            out.append("arm_through_head")
        for leg in "LR":
            thigh = _segment_points(A, T, f"thigh_{leg}", 0.15)
            if _min_dist(low, thigh) < (LIMB_RADIUS["thigh"] * girth + LIMB_RADIUS["hand"]) * H * 0.6:
                out.append("arm_through_leg")
    for b in ("thigh", "calf"):
        pl = _segment_points(A, T, f"{b}_L", 0.3)
        pr = _segment_points(A, T, f"{b}_R", 0.3)
        if _min_dist(pl, pr) < 2 * LIMB_RADIUS[b] * H * girth * LEGS_OVERLAP:
            out.append("legs_cross")
    if family is not None:
        check = FAMILY_CHECKS.get(family)
        ok = check(bottoms, pelvis_z, kp, A, T, support) if family == "sitting" else check(bottoms, pelvis_z, kp, A, T)
        if not ok:
            out.append(f"not_{family}")
    return sorted(set(out))
