"""Joint limits of the mannequin: per bone, per local Euler axis, a (min, max) range in degrees.

Angles are the pose bone's Euler XYZ rotation relative to its rest orientation, in the bone's own
frame (core/rig.py documents each bone's axes). A preset is JSON under presets/limits/:

    {"_doc": {...}, "bones": {"thigh_L": {"x": [-45, 90], "y": [-60, 30], "z": [-17, 35]}, ...}}

Bones or axes left out are locked at 0. Internally the limits are a (B, 3, 2) array in
``rig.BONE_NAMES`` order so clamping and sampling are vectorised.
"""
from __future__ import annotations

import json

import numpy as np

from . import rig
from .paths import find_preset

AXES = ("x", "y", "z")

class LimitsError(ValueError):
    pass


class JointLimits:
    def __init__(self, bones: dict | None = None, name: str = "custom", doc: dict | None = None):
        self.name = name
        self.doc = dict(doc or {})
        self.array = np.zeros((len(rig.BONES), 3, 2))
        self.bones = {}
        for bone, axes in (bones or {}).items():
            self.bones[bone] = {a: tuple(float(v) for v in rng) for a, rng in axes.items()}
        self.validate()
        for bone, axes in self.bones.items():
            for a, (lo, hi) in axes.items():
                self.array[rig.BONE_INDEX[bone], AXES.index(a)] = (lo, hi)

    # --- I/O -------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: dict, name: str = "custom") -> "JointLimits":
        if not isinstance(d, dict) or not isinstance(d.get("bones"), dict):
            raise LimitsError(f"limits {name!r}: expected an object with a 'bones' object")
        unknown = set(d) - {"bones", "_doc", "name"}
        if unknown:
            raise LimitsError(f"limits {name!r}: unknown field(s) {sorted(unknown)}")
        return cls(d["bones"], name=d.get("name", name), doc=d.get("_doc"))

    def to_dict(self) -> dict:
        out = {"name": self.name}
        if self.doc:
            out["_doc"] = self.doc
        out["bones"] = {b: {a: list(r) for a, r in ax.items()} for b, ax in self.bones.items()}
        return out

    @classmethod
    def load(cls, path_or_name="default", user_dir=None) -> "JointLimits":
        """A JSON file, or the name of a limit preset (paths.find_preset: shipped, or the user's
        under ``user_dir``; a name never leaves the presets folders)."""
        p = None
        try:
            p = find_preset("limits", path_or_name, user_dir)
            d = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise LimitsError(f"limits: {e}") from None
        except ValueError as e:
            if p is None:   # find_preset: not a preset name
                raise LimitsError(f"limits preset: {e}") from None
            raise LimitsError(f"{p}: not valid JSON ({e})") from None
        except (OSError, RecursionError) as e:
            raise LimitsError(f"{p}: cannot read ({e})") from None
        try:
            return cls.from_dict(d, name=p.stem)
        except LimitsError as e:
            raise LimitsError(f"{p}: {e}") from None

    def save(self, path) -> None:
        from .records import atomic_write_text
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")

    def validate(self) -> None:
        for bone, axes in self.bones.items():
            if bone not in rig.BONE_INDEX:
                raise LimitsError(f"limits {self.name!r}: unknown bone {bone!r}; known: {', '.join(rig.BONE_NAMES)}")
            if not isinstance(axes, dict):
                raise LimitsError(f"limits {self.name!r}: bone {bone!r} must map axes to [min, max]")
            for a, r in axes.items():
                if a not in AXES:
                    raise LimitsError(f"limits {self.name!r}: bone {bone!r} has unknown axis {a!r} (use x, y, z)")
                if len(r) != 2 or not all(np.isfinite(r)):
                    raise LimitsError(f"limits {self.name!r}: {bone}.{a} must be [min, max] numbers, got {list(r)}")
                if r[0] > r[1]:
                    raise LimitsError(f"limits {self.name!r}: {bone}.{a} min {r[0]} > max {r[1]}")
                if r[0] < -180 or r[1] > 180:
                    raise LimitsError(f"limits {self.name!r}: {bone}.{a} range {list(r)} outside [-180, 180]")

    # --- use -------------------------------------------------------------------------------------
    def range(self, bone: str, axis: str) -> tuple[float, float]:
        return tuple(self.array[rig.BONE_INDEX[bone], AXES.index(axis)])

    def clamp_array(self, rot: np.ndarray) -> np.ndarray:
        """(…, B, 3) degrees clipped into the limits."""
        return np.minimum(np.maximum(rot, self.array[..., 0]), self.array[..., 1])

    def contains_array(self, rot: np.ndarray, tol: float = 1e-6) -> np.ndarray:
        rot = np.asarray(rot)
        ok = (rot >= self.array[..., 0] - tol) & (rot <= self.array[..., 1] + tol)
        return ok.all(axis=(-1, -2))

    def clamp(self, rotations: dict) -> dict:
        """{bone: (x, y, z)} clipped into the limits (bones without limits are locked at 0)."""
        return to_dict(self.clamp_array(to_array(rotations)), bones=rotations.keys())

    def contains(self, rotations: dict, tol: float = 1e-6) -> bool:
        return bool(self.contains_array(to_array(rotations), tol))

    def sample_array(self, rng: np.random.Generator, mode: str = "uniform", bones=None) -> np.ndarray:
        """(B, 3) random angles: "uniform" over each range, or "normal" centred in the range with
        SD = range / 6, clipped. Bones outside ``bones`` (when given) are 0."""
        lo, hi = self.array[..., 0], self.array[..., 1]
        if mode == "uniform":
            out = lo + rng.random(lo.shape) * (hi - lo)
        elif mode == "normal":
            out = np.clip((lo + hi) / 2 + rng.standard_normal(lo.shape) * (hi - lo) / 6, lo, hi)
        else:
            raise LimitsError(f"sampling mode must be 'uniform' or 'normal', got {mode!r}")
        if bones is not None:
            keep = np.zeros(len(rig.BONES), bool)
            keep[[_index(b) for b in bones]] = True
            out[~keep] = 0.0
        return out

    def sample_rows(self, rng: np.random.Generator, mode: str, idx) -> np.ndarray:
        """(len(idx), 3) random angles for the bones at ``idx`` (``rig.BONE_NAMES`` order), drawn as
        in ``sample_array``."""
        lo, hi = self.array[idx, :, 0], self.array[idx, :, 1]
        if mode == "uniform":
            return lo + rng.random(lo.shape) * (hi - lo)
        if mode == "normal":
            return np.minimum(np.maximum((lo + hi) / 2 + rng.standard_normal(lo.shape) * (hi - lo) / 6, lo), hi)
        raise LimitsError(f"sampling mode must be 'uniform' or 'normal', got {mode!r}")

    def sample(self, rng: np.random.Generator, mode: str = "uniform", bones=None) -> dict:
        """{bone: (x, y, z)} for ``bones`` (default: every bone) drawn as in ``sample_array``."""
        arr = self.sample_array(rng, mode, bones)
        return to_dict(arr, bones=bones if bones is not None else rig.BONE_NAMES)


def _index(bone: str) -> int:
    try:
        return rig.BONE_INDEX[bone]
    except KeyError:
        raise LimitsError(f"unknown bone {bone!r}; known: {', '.join(rig.BONE_NAMES)}") from None


def to_array(rotations: dict) -> np.ndarray:
    """{bone: (x, y, z)} degrees -> (B, 3) in ``rig.BONE_NAMES`` order (missing bones 0)."""
    out = np.zeros((len(rig.BONES), 3))
    if not isinstance(rotations, dict):
        raise LimitsError(f"rotations must be an object {{bone: [x, y, z]}}, got {type(rotations).__name__}")
    for bone, v in rotations.items():
        try:
            v = np.asarray(v, float)
        except (TypeError, ValueError):
            raise LimitsError(f"rotation of {bone!r} must be 3 numbers (x, y, z) in degrees, got {v!r}") from None
        if v.shape != (3,) or not np.all(np.isfinite(v)):
            raise LimitsError(f"rotation of {bone!r} must be 3 finite Euler angles (x, y, z), got {v.tolist()}")
        out[_index(bone)] = v
    return out


def to_dict(arr: np.ndarray, bones=None) -> dict:
    """(B, 3) -> {bone: (x, y, z)} as plain floats, for ``bones`` (default all)."""
    rows = np.asarray(arr, float).tolist()
    if bones is None:
        return dict(zip(rig.BONE_NAMES, map(tuple, rows)))
    return {b: tuple(rows[rig.BONE_INDEX[b]]) for b in bones}


