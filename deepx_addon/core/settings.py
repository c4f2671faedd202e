"""Generator settings as plain dataclasses: the sidebar panel edits them (through Scene.deepx
properties), batch mode reads them, and every label records them. One code path for both.

Every dataclass has to_dict()/from_dict(); from_dict rejects unknown keys and validate() raises
SettingsError naming the field, so a bad preset or .blend never silently changes a run.
"""
from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass

# (width, height) pairs: two numbers, but not (min, max) ranges
SIZE_FIELDS = ("image_size", "resolution")


class SettingsError(ValueError):
    pass


def _real(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


# Lower bounds beyond "a finite number of the right type" (name -> smallest allowed, inclusive flag).
_MINIMUM = {"stature_m": (0.3, False), "proportion_sd": (0.0, True), "girth": (0.0, False), "stride": (0.0, True),
            "jitter_deg": (0.0, True), "distance_m": (0.0, False), "height_m": (0.0, False),
            "tilt_jitter_deg": (0.0, True), "off_centre": (0.0, True), "count": (1, True),
            "cameras_per_pose": (1, True), "samples": (1, True)}


class _Settings:
    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict):
        if not isinstance(d, dict):
            raise SettingsError(f"{cls.__name__}: expected an object of settings, got {type(d).__name__}")
        known = {f.name: f for f in fields(cls)}
        unknown = set(d) - set(known)
        if unknown:
            raise SettingsError(f"{cls.__name__}: unknown setting(s) {sorted(unknown)}")
        kw = {}
        for k, v in d.items():
            sub = _SUBSETTINGS.get((cls.__name__, k))
            kw[k] = sub.from_dict(v) if sub else (tuple(v) if isinstance(v, list) else v)
        obj = cls(**kw)
        obj.validate()
        return obj

    def validate(self) -> None:
        """Types from each field's default, then ranges; SettingsError names the field. NaN and
        infinity are refused everywhere (a NaN stride would silently poison every walking row)."""
        for f in fields(self):
            v = getattr(self, f.name)
            where = f"{type(self).__name__}.{f.name}"
            default = f.default if f.default is not MISSING else f.default_factory()
            if isinstance(default, _Settings):
                if not isinstance(v, type(default)):
                    raise SettingsError(f"{where}: expected {type(default).__name__} settings, got {v!r}")
                v.validate()
                continue
            if isinstance(default, bool):
                if not isinstance(v, bool):
                    raise SettingsError(f"{where}: must be true or false, got {v!r}")
            elif isinstance(default, int):
                if not _real(v) or not math.isfinite(v) or int(v) != v:
                    raise SettingsError(f"{where}: must be an integer, got {v!r}")
            elif isinstance(default, float):
                if not _real(v) or not math.isfinite(v):
                    raise SettingsError(f"{where}: must be a finite number, got {v!r}")
            elif isinstance(default, str):
                if not isinstance(v, str):
                    raise SettingsError(f"{where}: must be a string, got {v!r}")
            elif isinstance(default, dict):
                if not isinstance(v, dict):
                    raise SettingsError(f"{where}: must be an object, got {v!r}")
            elif isinstance(default, tuple):
                if not isinstance(v, tuple) or not all(_real(x) and math.isfinite(x) for x in v) \
                        or (f.name != "downscale_levels" and len(v) != 2) or not v:
                    kind = "a list of numbers" if f.name == "downscale_levels" else "[a, b] (two finite numbers)"
                    raise SettingsError(f"{where}: must be {kind}, got {v!r}")
            if f.name in SIZE_FIELDS:
                if any(int(x) != x or x < 1 for x in v):
                    raise SettingsError(f"{where}: must be (width, height) positive integers, got {v}")
            elif f.name == "downscale_levels":
                pass  # a list of scales (checked in RenderSettings.validate), not a range
            elif isinstance(v, tuple):
                if v[0] > v[1]:
                    raise SettingsError(f"{where}: min {v[0]} > max {v[1]}")
            elif f.name.startswith("p_") and not (0.0 <= v <= 1.0):
                raise SettingsError(f"{where}: probability {v} outside [0, 1]")
            if f.name in _MINIMUM:
                lo, inclusive = _MINIMUM[f.name]
                first = v[0] if isinstance(v, tuple) else v
                if first < lo or (first == lo and not inclusive):
                    raise SettingsError(f"{where}: must be {'>=' if inclusive else '>'} {lo}, got {v}")


BODY_MESHES = ("mannequin", "human")


@dataclass
class BodySettings(_Settings):
    """Population the mannequin's body is drawn from (see core/body.py for the distributions)."""
    stature_m: tuple[float, float] = (1.0, 2.05)   # hard limits
    p_child: float = 0.1                            # share of children (stature < 1.5 m)
    proportion_sd: float = 0.04                     # relative SD of limb/torso proportions
    girth: tuple[float, float] = (0.85, 1.25)       # radius multiplier
    mesh: str = "mannequin"                         # "mannequin" (procedural) | "human" (Anny, blender/humanbody.py)

    def validate(self) -> None:
        super().validate()
        if self.mesh not in BODY_MESHES:
            raise SettingsError(f"BodySettings.mesh: {self.mesh!r} is not one of {BODY_MESHES}")


@dataclass
class PoseSettings(_Settings):
    """Seed 001's hybrid randomiser; every probability is a setting."""
    limits_preset: str = "default"                  # presets/limits/<name>.json
    sampling: str = "uniform"                       # "uniform" | "normal" (centred in the range)
    p_legs_preset: float = 0.5                      # legs from a pose preset ...
    p_walk: float = 0.5                             # ... else walk (the rest of the mass)
    p_both_legs_walk: float = 0.1                   # within walk: both legs from independent phases
    p_spine_turn: float = 0.3
    p_hands_up: float = 0.3
    p_head_turn: float = 0.3
    p_random_arms: float = 0.5
    preset_weights: dict = field(default_factory=dict)  # preset name -> relative weight (missing = 1)
    p_blend: float = 0.3                            # interpolate two presets
    stride: float = 1.0                             # walk amplitude multiplier
    jitter_deg: float = 5.0                         # random tweak added to every joint (SD, degrees)

    def validate(self) -> None:
        super().validate()
        if self.sampling not in ("uniform", "normal"):
            raise SettingsError(f"PoseSettings.sampling must be 'uniform' or 'normal', got {self.sampling!r}")
        if any(not _real(w) or not math.isfinite(w) or w < 0 for w in self.preset_weights.values()):
            raise SettingsError("PoseSettings.preset_weights must be finite numbers >= 0")
        from .paths import check_preset_name
        try:
            check_preset_name(self.limits_preset)
        except ValueError as e:
            raise SettingsError(f"PoseSettings.limits_preset: {e}") from None


@dataclass
class CameraSettings(_Settings):
    distance_m: tuple[float, float] = (1.0, 80.0)   # camera centre to pelvis
    distance_sampling: str = "log"                  # "log" | "uniform"
    height_m: tuple[float, float] = (0.3, 8.0)      # camera above the ground
    tilt_jitter_deg: float = 5.0                    # look-at direction perturbation (SD)
    roll_deg: tuple[float, float] = (-5.0, 5.0)
    hfov_deg: tuple[float, float] = (30.0, 90.0)    # horizontal field of view
    image_size: tuple[int, int] = (640, 640)        # width, height
    person_yaw_deg: tuple[float, float] = (0.0, 360.0)
    off_centre: float = 0.8                         # how far from the image centre the pelvis may land (0 = centre, 1 = edge)
    p_occluder: float = 0.0                         # chance of a box/wall in front of the person

    def validate(self) -> None:
        super().validate()
        if self.distance_m[0] <= 0:
            raise SettingsError("CameraSettings.distance_m must be > 0")
        if not (0 < self.hfov_deg[0] and self.hfov_deg[1] < 180):
            raise SettingsError("CameraSettings.hfov_deg must be inside (0, 180)")
        if self.distance_sampling not in ("log", "uniform"):
            raise SettingsError("CameraSettings.distance_sampling must be 'log' or 'uniform'")


DENOISE_MODES = ("auto", "oidn", "off")
SUBDIVISION_MODES = ("auto", "1", "2")
SMALL_RENDER_PX = 320        # "auto" subdivision: images no larger than this render at level 1


@dataclass
class RenderSettings(_Settings):
    engine: str = "CYCLES"                          # CYCLES | BLENDER_WORKBENCH | EEVEE
    resolution: tuple[int, int] = (640, 640)
    samples: int = 4
    # Cycles: "auto" = OpenImageDenoise where this Blender has it (the bpy wheel does, Debian's 4.3 does
    # not: then none, and the label says so), "oidn" = required, "off" = the path tracer's raw samples
    denoise: str = "off"
    downscale_levels: tuple = (1.0,)                # extra images at these scales of the render
    # the people's render subdivision: "auto" = 1 for images <= SMALL_RENDER_PX on both sides (no
    # person there spans more pixels: level 2's finer silhouette is sub-pixel, and it costs
    # Cycles a re-sync of four times the faces for every re-posed person), else 2 (the modifiers' own)
    subdivision: str = "auto"
    depth_pass: bool = False
    mask_pass: bool = False

    def __post_init__(self):
        if isinstance(self.subdivision, int) and not isinstance(self.subdivision, bool):
            self.subdivision = str(self.subdivision)       # --set render.subdivision=1 parses as a number

    def subdivision_level(self) -> int:
        """The render subdivision level this setting gives at this resolution (see ``subdivision``)."""
        if self.subdivision != "auto":
            return int(self.subdivision)
        return 1 if max(int(v) for v in self.resolution) <= SMALL_RENDER_PX else 2

    def validate(self) -> None:
        super().validate()
        if self.engine not in ("CYCLES", "BLENDER_WORKBENCH", "EEVEE"):
            raise SettingsError(f"RenderSettings.engine {self.engine!r} not in CYCLES, BLENDER_WORKBENCH, EEVEE")
        if self.samples < 1:
            raise SettingsError("RenderSettings.samples must be >= 1")
        if self.denoise not in DENOISE_MODES:
            raise SettingsError(f"RenderSettings.denoise {self.denoise!r} not in {', '.join(DENOISE_MODES)}")
        if self.subdivision not in SUBDIVISION_MODES:
            raise SettingsError(f"RenderSettings.subdivision {self.subdivision!r} not in "
                                f"{', '.join(SUBDIVISION_MODES)}")
        if any(not (0 < s <= 1) for s in self.downscale_levels):
            raise SettingsError("RenderSettings.downscale_levels must be in (0, 1]")


# Camera kinds users have: each overrides some CameraSettings fields (core/cameras.py CAMERA_KINDS).
CAMERA_KIND_NAMES = ("any", "dashcam", "cctv", "handheld", "indoor")


@dataclass
class SceneSettings(_Settings):
    """What surrounds the person in a render and how the picture is degraded (blender/scene.py,
    blender/render.py). ``realistic=False`` gives the old plain scene (one person, sky colour,
    uniform ground, no clutter, clean pixels); the other fields then do nothing."""
    realistic: bool = True
    p_hdri: float = 0.85                            # world from one of Blender's bundled HDRIs (else a sky colour)
    p_textured_ground: float = 0.9                  # asphalt / paving / grass-like procedural ground
    clutter: tuple[int, int] = (2, 9)               # street objects per image: poles, boxes, cars, facades
    people: tuple[int, int] = (1, 5)                # people per image, the labelled main one included
    camera_kinds: dict = field(default_factory=lambda: {"any": 0.5, "dashcam": 1.0, "cctv": 1.0,
                                                        "handheld": 1.0, "indoor": 0.5})
    p_accessory: float = 0.35                       # backpack or shoulder bag
    p_skirt: float = 0.15                           # a skirt or dress instead of trousers (core/body.py sample_outfit)
    p_coat: float = 0.15                            # a long coat, open or closed
    p_umbrella: float = 0.05                        # an open umbrella held in one hand
    p_untucked: float = 0.0                         # the shirt worn over the waistband (hem 0.54 H, not 0.598 H):
                                                    # YOLO reads the waistline as a hip cue (README)
    p_blur: float = 0.3                             # Gaussian blur (defocus / motion)
    blur_px: tuple[float, float] = (0.4, 1.4)       # its sigma at the render's resolution
    noise_sd: tuple[float, float] = (0.0, 0.012)    # sensor noise SD (fraction of full scale) at the render's size
    p_jpeg: float = 0.5
    jpeg_quality: tuple[int, int] = (60, 95)

    def validate(self) -> None:
        super().validate()
        for f in ("clutter", "people"):
            lo, hi = getattr(self, f)
            if int(lo) != lo or int(hi) != hi or lo < 0:
                raise SettingsError(f"SceneSettings.{f}: need integers >= 0, got {getattr(self, f)}")
        if self.people[0] < 1:
            raise SettingsError("SceneSettings.people: at least 1 (the labelled person)")
        unknown = set(self.camera_kinds) - set(CAMERA_KIND_NAMES)
        if unknown:
            raise SettingsError(f"SceneSettings.camera_kinds: unknown kind(s) {sorted(unknown)}; known: {CAMERA_KIND_NAMES}")
        if any(float(w) < 0 for w in self.camera_kinds.values()) or not sum(map(float, self.camera_kinds.values())) > 0:
            raise SettingsError("SceneSettings.camera_kinds: weights must be >= 0 with a positive sum")
        if not (1 <= self.jpeg_quality[0] and self.jpeg_quality[1] <= 100):
            raise SettingsError("SceneSettings.jpeg_quality must be within [1, 100]")
        if self.blur_px[0] < 0 or self.noise_sd[0] < 0:
            raise SettingsError("SceneSettings.blur_px and noise_sd must be >= 0")


@dataclass
class GeneratorSettings(_Settings):
    seed: int = 0
    count: int = 100                                # poses (render path: images)
    cameras_per_pose: int = 16
    body: BodySettings = field(default_factory=BodySettings)
    pose: PoseSettings = field(default_factory=PoseSettings)
    camera: CameraSettings = field(default_factory=CameraSettings)
    render: RenderSettings = field(default_factory=RenderSettings)
    scene: SceneSettings = field(default_factory=SceneSettings)

    @classmethod
    def from_file(cls, path) -> "GeneratorSettings":
        """A GeneratorSettings JSON file, or a previous run's settings.json (its "settings" entry)."""
        import json
        from pathlib import Path
        p = Path(path)
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise SettingsError(f"--settings {p}: cannot read JSON ({e})") from None
        if isinstance(d, dict) and "settings" in d and "format" in d:
            d = d["settings"]
        try:
            return cls.from_dict(d)
        except (TypeError, ValueError) as e:
            raise SettingsError(f"--settings {p}: {e}") from None

    def update(self, overrides) -> "GeneratorSettings":
        """A copy with ``overrides`` applied: a dict, or 'key=value' strings; keys are dotted paths
        ("count", "render.engine", "camera.distance_m", "pose.preset_weights.squatting": a mapping
        setting takes new keys); list values for pairs ("2,10" in strings).
        Raises SettingsError naming the key (unknown key, bad value, failed validation)."""
        if not isinstance(overrides, dict):
            items = {}
            for item in overrides:
                key, sep, value = str(item).partition("=")
                if not sep:
                    raise SettingsError(f"{item!r}: expected key=value")
                items[key.strip().replace("-", "_")] = _parse_value(value)
            overrides = items
        d = self.to_dict()
        for key, value in overrides.items():
            *parents, leaf = key.split(".")
            node, obj = d, self
            for k in parents:
                if not isinstance(node.get(k), dict):
                    raise SettingsError(f"unknown setting {key!r}")
                node = node[k]
                obj = getattr(obj, k, None) if is_dataclass(obj) else None
            # a mapping setting (pose.preset_weights) takes new keys; nested settings do not
            mapping = isinstance(obj, dict)
            if (leaf not in node and not mapping) or isinstance(node.get(leaf), dict):
                raise SettingsError(f"unknown setting {key!r}")
            node[leaf] = list(value) if isinstance(value, tuple) else value
        return type(self).from_dict(d)


def _parse_value(text: str):
    """'3' -> 3, '0.5' -> 0.5, 'true' -> True, '2,10' -> [2, 10], anything else the text itself."""
    parts = [v.strip() for v in text.split(",")]
    out = []
    for v in parts:
        low = v.lower()
        if low in ("true", "false"):
            out.append(low == "true")
            continue
        try:
            out.append(int(v))
        except ValueError:
            try:
                out.append(float(v))
            except ValueError:
                out.append(v)
    return out if len(parts) > 1 else out[0]


_SUBSETTINGS = {("GeneratorSettings", "body"): BodySettings, ("GeneratorSettings", "pose"): PoseSettings,
                ("GeneratorSettings", "camera"): CameraSettings, ("GeneratorSettings", "render"): RenderSettings,
                ("GeneratorSettings", "scene"): SceneSettings}
