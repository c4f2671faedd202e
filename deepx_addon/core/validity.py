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
  wrists above the shoulders); bending = trunk tilted forward >= 25 degrees;
- ``off_balance`` (families that hold still: standing, hands_up, bending, crouching, kneeling, on the
  ground and not mid-stride): the centre of mass (Dempster's segment masses on the keypoints) lies
  more than BALANCE_TOL of stature outside the support polygon, the convex hull of the contacts on
  the ground. Walking is a fall caught by the next step and a seated person rests on a seat, so
  neither is checked.

Before the check, ``flatten_feet`` sets a still person's planted soles flat (the jitter left them on
a heel or a toe) and ``lean_to_balance`` leans the trunk until the centre of mass is over the feet,
as a person would.

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
BALANCE_TOL = 0.03           # the centre of mass may overhang the support polygon by this (of stature)
BALANCED_FAMILIES = ("standing", "hands_up", "bending", "crouching", "kneeling")
MAX_TRIES = 12
_SAMPLES = np.linspace(0.0, 1.0, 7)
_TRUNK_BONES = ("pelvis", "spine01", "spine02", "spine03")
_TRUNK_IDX = [_I[b] for b in _TRUNK_BONES]


def _segment_points(A, T, bone: str, start: float = 0.0) -> np.ndarray:
    """(7, 3) points along a bone from ``start`` (fraction of its length) to its tail."""
    i = _I[bone]
    L = rig.LENGTHS[i]
    local = np.zeros((len(_SAMPLES), 3))
    local[:, 1] = L * (start + (1 - start) * _SAMPLES)
    return local @ A[i].T + T[i]


def _inside_trunk(p, A_inv, T, girth: float, r_limb: float) -> bool:
    """Does any point of p (N, 3) lie inside the trunk (an elliptic cylinder per spine bone)?
    A_inv: the inverses of the trunk bones' pose matrices (_TRUNK_IDX order)."""
    for k, i in enumerate(_TRUNK_IDX):
        # bone-local coordinates: y along the bone, x across (left), z forward
        q = (p - T[i]) @ A_inv[k].T
        L = rig.LENGTHS[i]
        along = (q[:, 1] >= 0) & (q[:, 1] <= L)
        a = max(TRUNK_HALF_WIDTH * H * girth - r_limb, 0.01)
        c = max(TRUNK_HALF_DEPTH * H * girth - r_limb, 0.01)
        if np.any(along & ((q[:, 0] / a) ** 2 + (q[:, 2] / c) ** 2 < 1.0)):
            return True
    return False


def _min_dist(p, q) -> float:
    return float(np.sqrt(((p[:, None, :] - q[None, :, :]) ** 2).sum(-1)).min())


def _body_scales(body):
    """(object scale, pose-bone scales, contact radii) of ``body`` (None: the reference adult)."""
    from .body import BodyParams
    body = body or BodyParams()
    s, sc = body.scales()
    return s, sc, rig.contact_radii(sc, 1.0, body.girth)


def placed(rotations, body=None, support: str = "ground", box_height_m: float = 0.0):
    """(A, T, contact bottoms z (M,), pelvis z) of the posed body on its support, armature units."""
    s, sc, radii = _body_scales(body)
    A, T = rig.forward_kinematics(np.asarray(rotations, float), sc)
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


# Dempster (1955) segment masses, share of the body, placed on the COCO keypoints: head at the face's
# middle (nose, ears), trunk at mid-shoulders/mid-hips, each limb segment at its middle, hands and
# feet at the wrist and ankle.
_SEGMENT_MASS = (("head", 0.081), ("trunk", 0.497), ("upperarm", 0.028), ("forearm", 0.016),
                 ("hand", 0.006), ("thigh", 0.100), ("shank", 0.0465), ("foot", 0.0145))


def _com_weights() -> np.ndarray:
    m = dict(_SEGMENT_MASS)
    w = np.zeros(17)
    w[[0, 3, 4]] += m["head"] / 3
    w[[5, 6, 11, 12]] += m["trunk"] / 4
    for sh, el, wr, hp, kn, an in ((5, 7, 9, 11, 13, 15), (6, 8, 10, 12, 14, 16)):
        w[[sh, el]] += m["upperarm"] / 2
        w[[el, wr]] += m["forearm"] / 2
        w[wr] += m["hand"]
        w[[hp, kn]] += m["thigh"] / 2
        w[[kn, an]] += m["shank"] / 2
        w[an] += m["foot"]
    return w / w.sum()


_COM_W = _com_weights()


def centre_of_mass(kp) -> np.ndarray:
    """(…, 3) the body's centre of mass from its (…, 17, 3) keypoints."""
    return np.einsum("k,...kj->...j", _COM_W, np.asarray(kp, float))


def outside_hull(p, pts) -> float:
    """How far the 2-D point p lies outside the convex hull of pts (N, 2); 0 inside or on it."""
    P = sorted(set(map(tuple, np.round(np.asarray(pts, float), 9))))
    p = np.asarray(p, float)
    if len(P) == 1:
        return float(np.linalg.norm(p - P[0]))

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
    lo, up = [], []                                   # Andrew's monotone chain
    for q in P:
        while len(lo) >= 2 and cross(lo[-2], lo[-1], q) <= 0:
            lo.pop()
        lo.append(q)
    for q in reversed(P):
        while len(up) >= 2 and cross(up[-2], up[-1], q) <= 0:
            up.pop()
        up.append(q)
    a = np.array(lo[:-1] + up[:-1])                   # counter-clockwise corners
    e = np.roll(a, -1, axis=0) - a
    r = p - a
    if len(a) >= 3 and np.all(e[:, 0] * r[:, 1] - e[:, 1] * r[:, 0] >= 0):
        return 0.0
    t = np.clip((r * e).sum(1) / np.maximum((e * e).sum(1), 1e-12), 0.0, 1.0)
    return float(np.sqrt(((r - t[:, None] * e) ** 2).sum(1)).min())


_FOOT_SIDE = [(rig.CONTACT_GROUP == "foot") & np.isin(rig.CONTACT_BONE, [_I[f"foot_{s}"], _I[f"toes_{s}"]])
              for s in "LR"]


def balance_overhang(b, kp, A, T) -> float:
    """How far (of stature) the centre of mass overhangs the support polygon: the convex hull of
    the contact points within GROUND_TOL of the lowest one, a foot counting whole (heel to toe)
    when any of it is that low (the ankle sets a foot flat that touches). 0 = balanced."""
    return _overhang(b, rig.points(A, T, rig.CONTACT_BONE, rig.CONTACT_LOCAL), kp)


def _overhang(b, pts, kp) -> float:
    on = b <= b.min() + GROUND_TOL * H
    for foot in _FOOT_SIDE:
        if on[foot].any():
            on = on | foot
    return outside_hull(centre_of_mass(kp)[:2], pts[on, :2]) / H


# per foot: (heel, mid-sole) contact indices, the foot bone's index
SOLE_CONTACTS = [(np.flatnonzero(rig.CONTACT_BONE == _I[f"foot_{s}"])[:2], _I[f"foot_{s}"]) for s in "LR"]


def _planted_soles(pts, b):
    """(foot bone index, sole pitch in degrees, + = toes up) of each planted foot: its heel or
    mid-sole within GROUND_TOL of the lowest contact; pts (M, 3) contact centres, b (M,) bottoms."""
    for (heel, mid), foot in SOLE_CONTACTS:
        if b[[heel, mid]].min() <= b.min() + GROUND_TOL * H:
            yield foot, float(np.degrees(np.arctan2(b[mid] - b[heel], np.linalg.norm(pts[mid, :2] - pts[heel, :2]))))


def sole_pitch_deg(pts, b) -> list[float]:
    """Pitch (degrees, + = toes up) of each planted foot's sole (heel to mid-sole bottoms); pts (M, 3)
    contact centres, b (M,) their bottoms. A foot is planted when either is within GROUND_TOL of the
    lowest contact."""
    return [pitch for _foot, pitch in _planted_soles(pts, b)]


FLAT_FEET_FAMILIES = ("standing", "hands_up", "bending", "crouching")


def flatten_feet(rotations, family: str, support: str = "ground", body=None, limits=None,
                 still: bool = True, rounds: int = 3) -> np.ndarray:
    """A person who stands still has the soles of the feet on the ground: each foot whose heel or
    mid-sole is within GROUND_TOL of the lowest contact is pitched (foot x, within ``limits``) until
    heel and mid-sole touch the ground together, instead of standing on a toe or a heel edge because
    of the random jitter. Only for FLAT_FEET_FAMILIES (kneeling rests on the toes), on the ground,
    ``still`` (not mid-stride); other poses come back unchanged."""
    rot = np.array(rotations, float)
    if not (still and support == "ground" and family in FLAT_FEET_FAMILIES):
        return rot
    _s, sc, radii = _body_scales(body)
    feet = [f for _h, f in SOLE_CONTACTS]
    for _ in range(rounds):          # a foot turned or rolled pitches a little less than its x: repeat
        A, T = rig.forward_kinematics(rot, sc)
        pts = rig.points(A, T, rig.CONTACT_BONE, rig.CONTACT_LOCAL)
        level = True
        for foot, pitch in _planted_soles(pts, pts[:, 2] - radii):    # a lifted foot stays as it is
            if abs(pitch) > 0.5:
                rot[foot, 0] -= pitch                        # toes up: pitch them down
                level = False
        if level:
            break
        if limits is not None:
            rot[feet] = limits.clamp_array(rot)[feet]
    return rot


def _checks_balance(family: str | None, support: str, still: bool) -> bool:
    return still and support == "ground" and family in BALANCED_FAMILIES


_LEANS = (0.0, 4.0, -4.0, 8.0, -8.0, 12.0, -12.0, 16.0, -16.0, 22.0, -22.0, 30.0, -30.0)
_SPINE = [_I[b] for b in ("spine01", "spine02", "spine03")]


def lean_to_balance(rotations, family: str, support: str = "ground", body=None, limits=None,
                    still: bool = True):
    """A person who holds still keeps the centre of mass over the feet by leaning the trunk: the
    smallest forward/backward lean in _LEANS (degrees, spread over spine01-03, clamped to
    ``limits``) that brings the centre of mass over the support polygon (BALANCE_TOL / 3 overhang
    at most). The legs and the contacts do not move. Returns ((B, 3) degrees, lean applied); the
    pose unchanged (lean 0) for families not in BALANCED_FAMILIES, off the ground, mid-stride
    (``still`` False: walking legs with hands up), or when no lean in _LEANS balances it (then
    ``pose_problems`` names it off_balance)."""
    rot = np.array(rotations, float)
    if not _checks_balance(family, support, still):
        return rot, 0.0
    _s, sc, radii = _body_scales(body)
    leans = np.asarray(_LEANS)
    cand = np.repeat(rot[None], len(leans), axis=0)
    cand[:, _SPINE, 0] += leans[:, None] / 3.0
    if limits is not None:
        cand[1:, _SPINE] = limits.clamp_array(cand[1:])[:, _SPINE]
    for lo, hi in ((0, 1), (1, len(leans))):     # most poses need no lean: try that one alone first
        A, T = rig.forward_kinematics(cand[lo:hi], sc)
        pts = rig.points(A, T, rig.CONTACT_BONE, rig.CONTACT_LOCAL)
        kp = rig.keypoints_from_matrices(A, T)
        for i in range(hi - lo):
            if _overhang(pts[i, :, 2] - radii, pts[i], kp[i]) <= BALANCE_TOL / 3.0:
                return cand[lo + i], float(leans[lo + i])
    return rot, 0.0


FAMILY_CHECKS = {"kneeling": check_kneeling, "sitting": check_sitting, "crouching": check_crouching,
                 "standing": check_upright, "walking": check_upright, "hands_up": check_hands_up,
                 "bending": check_bending}


def pose_problems(rotations, family: str | None = None, support: str = "ground", box_height_m: float = 0.0,
                  body=None, still: bool = True) -> list[str]:
    """Names of what is wrong with a pose ((B, 3) degrees); [] = a valid pose of ``family``.
    ``still`` False (legs mid-stride) skips the balance check."""
    girth = 1.0 if body is None else float(body.girth)
    A, T, bottoms, pelvis_z, kp = placed(rotations, body, support, box_height_m)
    out = []
    At = A[_TRUNK_IDX]        # rotation times column scales: the inverse is the transpose over the scales squared
    A_inv = np.swapaxes(At / (At ** 2).sum(-2, keepdims=True), -1, -2)
    head_c = rig.points(A, T, np.array([_I["head"]]), np.array([[0.0, 0.05 * H, 0.008 * H]]))[0]
    for side in "LR":
        pts = {b: _segment_points(A, T, f"{b}_{side}", 0.45 if b == "upperarm" else 0.0)
               for b in ("upperarm", "lowerarm", "hand")}
        if any(_inside_trunk(p, A_inv, T, girth, LIMB_RADIUS[b] * H * girth) for b, p in pts.items()):
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
        if _checks_balance(family, support, still) and balance_overhang(bottoms, kp, A, T) > BALANCE_TOL:
            out.append("off_balance")
    return sorted(set(out))
