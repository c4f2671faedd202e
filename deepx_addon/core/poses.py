"""Pose presets, blending, a walk cycle and seed 001's random pose mixture (numpy only).

A pose is {bone: (x, y, z)}: each pose bone's Euler XYZ rotation in degrees relative to its rest
orientation, in the bone's own frame (axes: core/rig.py; ranges: core/limits.py). Bones left out
are at rest. A pose also says what carries the body: ``support`` "ground" (lowest foot, knee, shin
or buttock on z = 0) or "box" (buttocks on a box of ``box_height_m``, e.g. a chair).

Presets are JSON files under presets/poses/ (one pose each)::

    {"name": "sitting_box", "family": "sitting", "support": "box", "box_height_m": 0.45,
     "rotations": {"thigh_L": [82, 0, -3], ...}}
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import rig
from .limits import JointLimits, to_array, to_dict
from .paths import preset_dirs
from .settings import PoseSettings

FAMILIES = ("standing", "walking", "crouching", "kneeling", "sitting", "hands_up", "bending")
# What the same seed and settings give: raise it whenever a change makes them give other poses, so a
# render folder begun by an older sampler is not finished by this one (core/runfolder.py). 2 (Dec
# 2026): balanced still poses, flat feet, new crouch and bending presets, same-family redraws.
POSE_SAMPLER_VERSION = 2
SUPPORTS = ("ground", "box")

LEG_BONES = tuple(f"{b}_{s}" for s in "LR" for b in ("thigh", "calf", "foot", "toes"))
ARM_BONES = tuple(f"{b}_{s}" for s in "LR" for b in ("clavicle", "upperarm", "lowerarm", "hand"))
SPINE_BONES = ("spine01", "spine02", "spine03")
HEAD_BONES = ("neck", "head")
_I = rig.BONE_INDEX


class PoseError(ValueError):
    pass


@dataclass
class PosePreset:
    name: str
    family: str
    rotations: dict = field(default_factory=dict)
    support: str = "ground"
    box_height_m: float = 0.0

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise PoseError(f"pose {self.name!r}: family {self.family!r} not in {FAMILIES}")
        if self.support not in SUPPORTS:
            raise PoseError(f"pose {self.name!r}: support {self.support!r} not in {SUPPORTS}")
        if self.box_height_m < 0 or (self.support == "box" and self.box_height_m <= 0):
            raise PoseError(f"pose {self.name!r}: box_height_m must be > 0 for support 'box', >= 0 otherwise")
        try:
            self._array = to_array(self.rotations)
        except ValueError as e:
            raise PoseError(f"pose {self.name!r}: {e}") from None
        self.rotations = to_dict(self._array, bones=self.rotations.keys())

    def array(self) -> np.ndarray:
        """(B, 3) degrees in ``rig.BONE_NAMES`` order (a copy)."""
        return self._array.copy()

    def to_dict(self) -> dict:
        return {"name": self.name, "family": self.family, "support": self.support,
                "box_height_m": self.box_height_m, "rotations": {b: list(v) for b, v in self.rotations.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> "PosePreset":
        if not isinstance(d, dict):
            raise PoseError(f"a pose preset must be a JSON object, got {type(d).__name__}")
        known = {"name", "family", "support", "box_height_m", "rotations", "_doc"}
        unknown = set(d) - known
        if unknown:
            raise PoseError(f"pose {d.get('name')!r}: unknown field(s) {sorted(unknown)}")
        for req in ("name", "family", "rotations"):
            if req not in d:
                raise PoseError(f"pose {d.get('name')!r}: missing field {req!r}")
        if not isinstance(d["name"], str) or not d["name"]:
            raise PoseError(f"pose name must be a non-empty string, got {d['name']!r}")
        if not isinstance(d["rotations"], dict):
            raise PoseError(f"pose {d['name']!r}: rotations must be an object {{bone: [x, y, z]}}")
        box = d.get("box_height_m", 0.0)
        if isinstance(box, bool) or not isinstance(box, (int, float)) or not math.isfinite(box):
            raise PoseError(f"pose {d['name']!r}: box_height_m must be a finite number, got {box!r}")
        return cls(d["name"], d["family"], dict(d["rotations"]), d.get("support", "ground"), float(box))


_CACHE: dict = {}   # (folder, strict) -> (presets, errors)


def read_preset_file(f: Path) -> PosePreset:
    """One preset file; any problem (bytes, JSON, fields, values) is a PoseError naming the file."""
    try:
        return PosePreset.from_dict(json.loads(f.read_text(encoding="utf-8")))
    except PoseError as e:
        raise PoseError(f"{f}: {e}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError, TypeError, ValueError) as e:
        raise PoseError(f"{f}: not a pose preset ({type(e).__name__}: {e})") from None


def load_presets(dir=None, reload: bool = False, skipped: list | None = None) -> dict[str, PosePreset]:
    """All presets in ``dir`` (default presets/poses/), name -> PosePreset. Read from disk once per
    directory and cached; keep the returned dict and pass it to ``sample_pose``.

    skipped: None (strict: the first bad file raises PoseError, for the shipped folder and batch
    runs) or a list that collects the PoseErrors of bad files, which are left out (the user's own
    folder in the panel: one broken file must not take every preset away)."""
    d = Path(dir) if dir is not None else preset_dirs("poses")[0]
    key = (d.resolve(), skipped is None)
    if reload or key not in _CACHE:
        out, bad = {}, []
        files = sorted(f for f in d.glob("*.json") if not f.name.startswith("."))
        if not files and skipped is None:
            raise PoseError(f"no pose presets (*.json) in {d}")
        for f in files:
            try:
                p = read_preset_file(f)
                if p.name in out:
                    raise PoseError(f"{f}: duplicate pose name {p.name!r}")
            except PoseError as e:
                if skipped is None:
                    raise
                bad.append(e)
                continue
            out[p.name] = p
        _CACHE[key] = (out, bad)
    out, bad = _CACHE[key]
    if skipped is not None:
        skipped.extend(bad)
    return dict(out)


def all_presets(user_dir=None, skipped: list | None = None) -> dict[str, PosePreset]:
    """The shipped pose presets plus the user's (``<user_dir>/poses``, re-read every call: the panel
    writes there); a user preset of the same name wins. skipped: see load_presets (for the user's
    folders only; the shipped folder is always strict)."""
    shipped, *user = preset_dirs("poses", user_dir)
    out = load_presets(shipped)
    for d in user:
        if any(d.glob("*.json")):
            out.update(load_presets(d, reload=True, skipped=skipped))
    return out


def blend(a, b, t: float):
    """Interpolate two poses: per-angle linear interpolation of the Euler angles, (1 - t) a + t b.

    Why per-angle lerp and not quaternion slerp: our joint limits are boxes in exactly these Euler
    angles, and a box is convex, so a lerp of two poses within the limits stays within them (a
    slerp's Euler decomposition need not); preset angles are well inside (-180, 180), so no
    wrap-around; and the result is what the presets' authors wrote when t is 0 or 1.

    ``a``/``b``: {bone: (x, y, z)} (returns a dict over the union of bones) or PosePreset (returns
    a PosePreset: family, support and name from the dominant one, box height interpolated when both
    sit on a box).
    """
    t = float(t)
    if isinstance(a, PosePreset) and isinstance(b, PosePreset):
        rot = blend(a.rotations, b.rotations, t)
        dom = a if t < 0.5 else b
        box = (1 - t) * a.box_height_m + t * b.box_height_m if a.support == b.support == "box" else dom.box_height_m
        return PosePreset(f"{a.name}~{b.name}@{t:.3f}", dom.family, rot, dom.support,
                          box if dom.support == "box" else 0.0)
    bones = list(dict.fromkeys(list(a) + list(b)))
    if t == 0.0:
        return {k: tuple(float(x) for x in a.get(k, (0.0, 0.0, 0.0))) for k in bones}
    if t == 1.0:
        return {k: tuple(float(x) for x in b.get(k, (0.0, 0.0, 0.0))) for k in bones}
    arr = (1 - t) * to_array(a) + t * to_array(b)
    return to_dict(arr, bones=bones)


# --- walking ---------------------------------------------------------------------------------------
# Sagittal joint angles over one gait cycle (phase 0 = heel strike of that leg), after Winter's
# normal-cadence walking data: hip flexion, knee flexion, ankle dorsiflexion in degrees, sampled at
# phases 0, 0.1, ..., 0.9 and interpolated with a periodic Catmull-Rom spline.
_GAIT_HIP = (25.0, 22.0, 15.0, 6.0, -3.0, -10.0, -5.0, 10.0, 22.0, 27.0)
_GAIT_KNEE = (3.0, 15.0, 17.0, 10.0, 5.0, 8.0, 35.0, 60.0, 45.0, 12.0)
_GAIT_ANKLE = (0.0, -6.0, 2.0, 7.0, 10.0, 5.0, -15.0, -8.0, 0.0, 1.0)
_WALK_ADDUCT = 3.0   # thighs slightly in, feet under the body


def _periodic_spline(keys, phase: float) -> float:
    n = len(keys)
    x = (float(phase) % 1.0) * n
    fx = math.floor(x)
    i, u = int(fx) % n, x - fx
    p0, p1, p2, p3 = keys[(i - 1) % n], keys[i], keys[(i + 1) % n], keys[(i + 2) % n]
    return 0.5 * ((2 * p1) + (-p0 + p2) * u + (2 * p0 - 5 * p1 + 4 * p2 - p3) * u ** 2
                  + (-p0 + 3 * p1 - 3 * p2 + p3) * u ** 3)


def gait_angles(phase: float, stride: float = 1.0) -> tuple[float, float, float]:
    """(hip flexion, knee flexion, ankle dorsiflexion) in degrees at ``phase`` of one leg's cycle."""
    return (stride * _periodic_spline(_GAIT_HIP, phase),
            max(0.0, stride * _periodic_spline(_GAIT_KNEE, phase)),
            stride * _periodic_spline(_GAIT_ANKLE, phase))


def walk_pose(phase: float, stride: float = 1.0, phase_right: float | None = None) -> dict:
    """Leg rotations (thigh, calf, foot of both sides) at ``phase`` in [0, 1) of the gait cycle.

    The right leg runs half a cycle behind the left (``phase + 0.5``) unless ``phase_right`` is
    given (the both-legs variant: the two legs from independent phases). ``stride`` scales the
    joint excursions (0 = standing still, 1 = normal walking). Periodic: phase 0 == phase 1.
    """
    out = {}
    pr = phase + 0.5 if phase_right is None else phase_right
    for side, ph, sign in (("L", phase, 1.0), ("R", pr, -1.0)):
        hip, knee, ankle = gait_angles(ph, stride)
        out[f"thigh_{side}"] = (hip, 0.0, -sign * _WALK_ADDUCT)
        out[f"calf_{side}"] = (-knee, 0.0, 0.0)
        out[f"foot_{side}"] = (ankle, sign * _WALK_ADDUCT, 0.0)
    return out


def walk_arms(phase: float, stride: float = 1.0, phase_right: float | None = None) -> dict:
    """Arm swing matching ``walk_pose``: each arm swings with the opposite leg."""
    pr = phase + 0.5 if phase_right is None else phase_right
    out = {}
    for side, ph_other, sign in (("L", pr, 1.0), ("R", phase, -1.0)):
        hip_other = stride * _periodic_spline(_GAIT_HIP, ph_other)
        swing = 0.7 * (hip_other - 7.5)
        out[f"upperarm_{side}"] = (swing, 0.0, sign * 8.0)
        out[f"lowerarm_{side}"] = (15.0 + 0.5 * max(swing, 0.0), 0.0, 0.0)
    return out


# --- the random mixture ------------------------------------------------------------------------------
class SampledPose:
    """A sampled pose: ``rotations`` {bone: (x, y, z)} degrees for every bone (within the limits),
    ``family``, ``recipe`` (JSON-serialisable: how it was made), ``support`` and ``box_height_m``.
    Kept as a (B, 3) array inside; the dict is built on first use."""

    __slots__ = ("_rotations", "_array", "family", "recipe", "support", "box_height_m")

    def __init__(self, rotations: dict | None = None, family: str = "standing", recipe: dict | None = None,
                 support: str = "ground", box_height_m: float = 0.0, array: np.ndarray | None = None):
        if rotations is None and array is None:
            raise PoseError("SampledPose needs rotations or an array")
        self._rotations, self._array = rotations, array
        self.family, self.recipe = family, dict(recipe or {})
        self.support, self.box_height_m = support, float(box_height_m)

    @property
    def rotations(self) -> dict:
        if self._rotations is None:
            self._rotations = to_dict(self._array)
        return self._rotations

    def array(self) -> np.ndarray:
        """(B, 3) degrees in ``rig.BONE_NAMES`` order (a copy)."""
        if self._array is None:
            self._array = to_array(self._rotations)
        return self._array.copy()

    def __repr__(self) -> str:
        return f"SampledPose(family={self.family!r}, support={self.support!r}, recipe={self.recipe!r})"


_SPINE_IDX = np.array([_I[b] for b in SPINE_BONES])
_HEAD_IDX = np.array([_I[b] for b in HEAD_BONES])
_ARM_IDX = np.array([_I[b] for b in ARM_BONES])


def _hands_up(rng: np.random.Generator, rot: np.ndarray) -> str:
    """Both arms raised: overhead (a V) or 'surrender' (upper arms out, forearms up)."""
    style = "overhead" if rng.random() < 0.5 else "surrender"
    for side, sign in (("L", 1.0), ("R", -1.0)):
        if style == "overhead":
            ua = (rng.uniform(-10, 30), rng.uniform(-20, 20), rng.uniform(120, 165))
            la = (rng.uniform(0, 40), 0.0, 0.0)
        else:
            ua = (rng.uniform(-10, 20), rng.uniform(-80, -55), rng.uniform(70, 100))
            la = (rng.uniform(60, 110), 0.0, 0.0)
        rot[_I[f"upperarm_{side}"]] = np.array(ua) * np.array([1.0, sign, sign])
        rot[_I[f"lowerarm_{side}"]] = la
        rot[_I[f"clavicle_{side}"]] = (0.0, 0.0, sign * rng.uniform(0, 20))
    return style


_CUM_CACHE: dict = {}


def _weighted_choice(rng, names: tuple, weights: dict, exclude=None):
    key = (names, tuple(sorted((k, float(v)) for k, v in weights.items())), exclude)
    cum = _CUM_CACHE.get(key)
    if cum is None:
        unknown = set(weights) - set(names)
        if unknown:
            raise PoseError(f"PoseSettings.preset_weights names unknown preset(s) {sorted(unknown)}; "
                            f"known: {', '.join(names)}")
        w = np.array([0.0 if n == exclude else max(float(weights.get(n, 1.0)), 0.0) for n in names])
        cum = _CUM_CACHE[key] = np.cumsum(w)
        if len(_CUM_CACHE) > 256:
            _CUM_CACHE.clear()
    if cum[-1] <= 0:
        return None
    return names[min(int(np.searchsorted(cum, rng.random() * cum[-1], side="right")), len(names) - 1)]


_MAX_REDRAWS = 200      # draws to find one more of a family: one drawn 3 % of the time is missed 0.2 % of the time


def sample_pose(rng: np.random.Generator, s: PoseSettings | None, presets: dict[str, PosePreset],
                limits: JointLimits, body=None) -> SampledPose:
    """A valid pose: ``draw_pose`` is repeated with the same generator until core/validity.py finds
    no problem (no limb through the body, the family looks like its name, a person who holds still
    keeps the balance), at most ``validity.MAX_TRIES`` times, each redraw of the first draw's family
    and kind of legs (walk or preset), so that the checks leave the family mixture as the settings
    ask. Before the check, a person who holds still puts the soles flat on the ground
    (``validity.flatten_feet``) and leans the trunk until the centre of mass is over the feet
    (``validity.lean_to_balance``; ``recipe["balance_lean_deg"]`` records a lean that was needed).
    ``recipe["tries"]`` counts the draws and ``recipe["problems"]`` lists what is still wrong when
    every try failed (then the last draw is kept). ``body`` (BodyParams, default the reference adult)
    gives the proportions and girth the checks use."""
    from .validity import MAX_TRIES, flatten_feet, lean_to_balance, pose_problems
    kind = None
    for k in range(MAX_TRIES):
        for _ in range(_MAX_REDRAWS):        # a redraw keeps the first draw's family and legs, so
            sp = draw_pose(rng, s, presets, limits)     # the checks do not shift the mixture
            if kind is None or (sp.family, sp.recipe.get("legs")) == kind:
                break
        kind = (sp.family, sp.recipe.get("legs"))
        still = sp.recipe.get("legs") != "walk"
        flat = flatten_feet(sp.array(), sp.family, sp.support, body, limits, still)
        arr, lean = lean_to_balance(flat, sp.family, sp.support, body, limits, still)
        if lean or not np.array_equal(arr, sp.array()):
            recipe = {**sp.recipe, "balance_lean_deg": lean} if lean else sp.recipe
            sp = SampledPose(family=sp.family, recipe=recipe, support=sp.support,
                             box_height_m=sp.box_height_m, array=arr)
        problems = pose_problems(sp.array(), sp.family, sp.support, sp.box_height_m, body, still)
        if not problems:
            break
    sp.recipe["tries"] = k + 1
    if problems:
        sp.recipe["problems"] = problems
    return sp


def draw_pose(rng: np.random.Generator, s: PoseSettings | None, presets: dict[str, PosePreset],
              limits: JointLimits) -> SampledPose:
    """One random pose from seed 001's mixture; every probability is a field of PoseSettings.

    1. Legs (and with them the whole body): with weight ``p_legs_preset`` a preset drawn by
       ``preset_weights`` (missing = 1), with chance ``p_blend`` blended (``blend``, t ~ U(0, 1))
       with a second, different preset; with weight ``p_walk`` a walk: ``walk_pose`` at a random
       phase (``stride``), the upper body from the "standing" preset plus arm swing, and with chance
       ``p_both_legs_walk`` the two legs from independent phases. (The two weights are normalised.)
    2. Randomisers, each fired independently in this order: ``p_spine_turn`` (spine01-03 twist drawn
       from the limits), ``p_head_turn`` (neck and head, all axes, from the limits), ``p_random_arms``
       (both arms, every axis, from the limits), ``p_hands_up`` (both arms raised, overhead or
       'surrender'; overrides random arms).
    3. Gaussian jitter of SD ``jitter_deg`` on every joint axis (with preset legs not the pelvis's
       pitch and roll, which tip the whole body over), then clamped to ``limits``.
    Limit draws use ``s.sampling`` ("uniform" or "normal"). Family: that of the (dominant) preset or
    "walking"; "hands_up" replaces "standing"/"walking" when the hands-up randomiser fired.
    Same generator state -> same pose, family and recipe.
    """
    s = s or PoseSettings()
    names = tuple(sorted(presets))
    recipe: dict = {"sampling": s.sampling, "limits": limits.name}
    total = s.p_legs_preset + s.p_walk
    p_pre = s.p_legs_preset / total if total > 0 else 1.0
    support, box = "ground", 0.0
    if names and rng.random() < p_pre:
        a = _weighted_choice(rng, names, s.preset_weights)
        if a is None:
            raise PoseError("PoseSettings.preset_weights gives every preset weight 0")
        pa = presets[a]
        recipe["legs"] = "preset"
        recipe["preset"] = a
        rot = pa.array()
        family, support, box = pa.family, pa.support, pa.box_height_m
        if rng.random() < s.p_blend:
            b = _weighted_choice(rng, names, s.preset_weights, exclude=a)
            if b is not None:       # the same maths as blend(pa, pb, t), without the checks
                t = float(rng.random())
                pb = presets[b]
                rot = (1.0 - t) * rot + t * pb._array
                dom = pa if t < 0.5 else pb
                family, support = dom.family, dom.support
                box = ((1 - t) * pa.box_height_m + t * pb.box_height_m if pa.support == pb.support == "box"
                       else dom.box_height_m) if support == "box" else 0.0
                recipe["blend"] = {"with": b, "t": t}
    else:
        phase = float(rng.random())
        phase_r = float(rng.random()) if rng.random() < s.p_both_legs_walk else None
        base = presets.get("standing")
        rot = base.array() if base is not None else np.zeros((len(rig.BONES), 3))
        legs = walk_pose(phase, s.stride, phase_r)
        legs.update(walk_arms(phase, s.stride, phase_r))
        for k, v in legs.items():
            rot[_I[k]] = v
        family = "walking"
        recipe.update({"legs": "walk", "phase": phase, "phase_right": phase_r, "stride": s.stride})

    fired = {}
    if rng.random() < s.p_spine_turn:
        twist = limits.sample_rows(rng, s.sampling, _SPINE_IDX)[:, 1]
        rot[_SPINE_IDX, 1] = twist
        fired["spine_turn"] = float(twist.sum())
    if rng.random() < s.p_head_turn:
        rot[_HEAD_IDX] = limits.sample_rows(rng, s.sampling, _HEAD_IDX)
        fired["head_turn"] = True
    if rng.random() < s.p_random_arms:
        rot[_ARM_IDX] = limits.sample_rows(rng, s.sampling, _ARM_IDX)
        fired["random_arms"] = True
    if rng.random() < s.p_hands_up:
        fired["hands_up"] = _hands_up(rng, rot)
        if family in ("standing", "walking"):
            family = "hands_up"
    recipe["randomisers"] = fired
    if s.jitter_deg > 0:
        noise = rng.normal(0.0, s.jitter_deg, rot.shape)
        if recipe["legs"] == "preset":
            # the root's pitch and roll tilt the whole body, feet too: a person who holds still would
            # fall over (core/validity.py off_balance), so a still pose keeps its preset's tilt
            noise[_I["pelvis"], [0, 2]] = 0.0
        rot = rot + noise
        recipe["jitter_deg"] = float(s.jitter_deg)
    rot = limits.clamp_array(rot)
    recipe["family"] = family
    recipe["support"] = support
    if support == "box":
        recipe["box_height_m"] = float(box)
    return SampledPose(None, family, recipe, support, float(box), array=rot)


# --- one row of a pose table -------------------------------------------------------------------------
def pose_seed_for(seed: int, index: int) -> int:
    """Row ``index``'s seed in a table generated with ``seed``: ``seed * 2**32 + index`` (int64).
    ``pose_rng(pose_seed)`` = ``default_rng(SeedSequence([seed, index]))`` reproduces the row alone."""
    seed, index = int(seed), int(index)
    if not (0 <= seed < 2 ** 31 and 0 <= index < 2 ** 32):
        raise PoseError(f"seed must be in [0, 2**31) and row index in [0, 2**32), got seed={seed}, index={index}")
    return (seed << 32) | index


def pose_rng(pose_seed: int) -> np.random.Generator:
    """The generator of one pose-table row: ``default_rng(SeedSequence([seed, index]))``."""
    pose_seed = int(pose_seed)
    return np.random.default_rng(np.random.SeedSequence([pose_seed >> 32, pose_seed & 0xFFFFFFFF]))


def sample_row(pose_seed: int, settings, presets: dict[str, PosePreset], limits: JointLimits):
    """(BodyParams, SampledPose) of one pose-table row: the body first, then the pose, from
    ``pose_rng(pose_seed)``. ``settings`` is a GeneratorSettings."""
    from .body import sample_body
    rng = pose_rng(pose_seed)
    body = sample_body(rng, settings.body)
    return body, sample_pose(rng, settings.pose, presets, limits, body)
