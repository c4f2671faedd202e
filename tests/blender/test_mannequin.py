"""The Blender mannequin: bones, posing, keypoints, ground contact, pose tables (bpy)."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = pytest.mark.blender

from deepx_addon.core import rig  # noqa: E402
from deepx_addon.core.body import BodyParams  # noqa: E402
from deepx_addon.core.keypoints import L_ANKLE, L_HIP, L_KNEE, NOSE, R_ANKLE, R_HIP  # noqa: E402
from deepx_addon.core.limits import JointLimits  # noqa: E402
from deepx_addon.core.poses import load_presets, pose_seed_for, sample_row  # noqa: E402
from deepx_addon.core.settings import GeneratorSettings  # noqa: E402

MB_LAB = {"pelvis", "spine01", "spine02", "spine03", "neck", "head"} | {
    f"{b}_{s}" for s in "LR" for b in ("clavicle", "upperarm", "lowerarm", "hand", "thigh", "calf", "foot", "toes")}


@pytest.fixture
def arm(clean_blender):
    from deepx_addon.blender.mannequin import build_mannequin
    return build_mannequin(with_mesh=False)


def _mesh_world_z(bpy, arm):
    from deepx_addon.blender.mannequin import body_meshes
    dg = bpy.context.evaluated_depsgraph_get()
    zs = []
    for o in body_meshes(arm):
        if o.hide_render:           # outfit pieces not worn (not evaluated while hidden)
            continue
        ev = o.evaluated_get(dg)
        me = ev.to_mesh()
        co = np.empty(len(me.vertices) * 3)
        me.vertices.foreach_get("co", co)
        M = np.array(ev.matrix_world)
        zs.append((co.reshape(-1, 3) @ M[:3, :3].T + M[:3, 3])[:, 2])
        ev.to_mesh_clear()
    return np.concatenate(zs)


def test_build_with_mesh_and_bone_names(clean_blender):
    from deepx_addon.blender.mannequin import KEYPOINT_ANCHORS, body_meshes, build_mannequin
    bpy = clean_blender
    arm = build_mannequin(BodyParams(1.8), name="M")
    assert arm.type == "ARMATURE" and set(arm.data.bones.keys()) == MB_LAB
    assert tuple(pb.name for pb in arm.pose.bones) == rig.BONE_NAMES
    assert all(pb.rotation_mode == "XYZ" for pb in arm.pose.bones)
    for b in arm.data.bones:       # Blender's rest frames are core/rig.py's
        np.testing.assert_allclose(np.array(b.matrix_local)[:3, :3], rig.REST_R[rig.BONE_INDEX[b.name]], atol=1e-5)
    parts = {o["deepx_part"] for o in body_meshes(arm)}
    pieces = {"backpack", "bag", "hair_long", "skirt", "coat", "coat_open", "coat_sleeves", "umbrella_L", "umbrella_R"}
    assert parts == {"top", "sleeve_low", "bottom", "leg_low", "skin", "shoes", "torso", "head"} | pieces
    hidden = {o["deepx_part"] for o in body_meshes(arm) if o.hide_render}
    assert hidden == pieces                                       # outfit pieces: off until set_outfit
    assert all(o.modifiers[0].type == "ARMATURE" and o.modifiers[0].object == arm for o in body_meshes(arm))
    assert set(KEYPOINT_ANCHORS) >= {"nose", "left_eye", "left_ear", "left_hip"}
    # standing: feet on the ground, the top of the head at the stature
    from deepx_addon.blender.posing import apply_pose
    apply_pose(arm, load_presets()["standing"].rotations)
    z = _mesh_world_z(bpy, arm)
    assert z.min() == pytest.approx(0.0, abs=0.01)
    assert z.max() == pytest.approx(1.8, abs=0.03)
    # with a mesh the placement comes from core FK; a hand-edited rig falls back to Blender's matrices
    from deepx_addon.blender.posing import pelvis_world
    arm.pose.bones["pelvis"].location = (0.0, 0.3, 0.1)
    apply_pose(arm, load_presets()["standing"].rotations, location=(1.0, 1.0))
    np.testing.assert_allclose(pelvis_world(arm)[:2], (1.0, 1.0), atol=1e-5)
    assert _mesh_world_z(bpy, arm).min() == pytest.approx(0.0, abs=0.01)


def test_preset_rotations_land_on_pose_bones(arm):
    from deepx_addon.blender.posing import apply_pose, read_pose
    p = load_presets()["deep_squat"]
    apply_pose(arm, p.rotations)
    got = read_pose(arm)
    for bone in rig.BONE_NAMES:
        np.testing.assert_allclose(got[bone], p.rotations.get(bone, (0, 0, 0)), atol=1e-4)
    assert tuple(np.rad2deg(arm.pose.bones["calf_L"].rotation_euler)) == pytest.approx(p.rotations["calf_L"], abs=1e-4)


def test_keypoints_follow_the_pose(arm):
    from deepx_addon.blender.posing import apply_pose, world_keypoints
    apply_pose(arm, {})
    rest = world_keypoints(arm)
    np.testing.assert_allclose(rest[L_HIP, 2], 0.530 * rig.H, atol=0.002)
    np.testing.assert_allclose(rest[L_ANKLE, 2], 0.039 * rig.H, atol=0.002)
    apply_pose(arm, {"calf_L": (-90, 0, 0)}, location=(0, 0))
    bent = world_keypoints(arm)
    np.testing.assert_allclose(bent[L_HIP], rest[L_HIP], atol=1e-5)         # hip and knee stay
    np.testing.assert_allclose(bent[L_KNEE], rest[L_KNEE], atol=1e-5)
    shank = rig.LENGTHS[rig.BONE_INDEX["calf_L"]]
    np.testing.assert_allclose(bent[L_ANKLE], rest[L_KNEE] + [0, shank, 0], atol=1e-5)   # ankle goes back (+Y)
    np.testing.assert_allclose(bent[R_ANKLE], rest[R_ANKLE], atol=1e-5)


def test_apply_pose_places_pelvis_and_ground(arm):
    from deepx_addon.blender.posing import apply_pose, pelvis_world, world_keypoints
    lim = JointLimits.load("default")
    presets = load_presets()
    info = apply_pose(arm, presets["standing"].rotations, location=(2.0, -3.0), yaw_deg=90)
    kp = world_keypoints(arm)
    np.testing.assert_allclose(pelvis_world(arm), 0.5 * (kp[L_HIP] + kp[R_HIP]))
    np.testing.assert_allclose(pelvis_world(arm)[:2], (2.0, -3.0), atol=1e-5)
    np.testing.assert_allclose(info["pelvis"], pelvis_world(arm), atol=1e-5)
    assert kp[NOSE, 0] > 2.05            # turned 90 deg: facing -Y -> facing +X
    assert 0.0 < kp[:, 2].min() < 0.08   # ankles just above the floor
    rng = np.random.default_rng(0)
    for _ in range(5):
        rot = lim.sample_array(rng)
        apply_pose(arm, rot)
        A, T = rig.forward_kinematics(rot)
        np.testing.assert_allclose(world_keypoints(arm), rig.person_frame(A, T, 1.0, rig.contact_radii(
            np.ones((len(rig.BONES), 3)), 1.0, 1.0))[0], atol=1e-5)
    info = apply_pose(arm, presets["sitting_box"].rotations, "box", 0.45)
    assert info["seat_height_m"] == pytest.approx(0.45, abs=1e-6)


def test_blender_matches_numpy_fk_with_body(arm):
    """Proportions through pose-bone scales + stature through object scale == core FK."""
    from deepx_addon.blender.mannequin import update_body
    from deepx_addon.blender.posing import apply_pose, pose_matrices, world_keypoints
    body = BodyParams(1.3, {"leg_length": 0.9, "head_size": 1.3, "hip_width": 0.95, "shoulder_width": 0.9,
                            "arm_length": 1.05, "torso_length": 1.04}, girth=1.1)
    update_body(arm, body)
    rot = JointLimits.load("default").sample_array(np.random.default_rng(4))
    apply_pose(arm, rot)
    s, sc = body.scales()
    A, T = rig.forward_kinematics(rot, sc)
    A2, T2 = pose_matrices(arm)
    np.testing.assert_allclose(A2, A, atol=1e-5)
    np.testing.assert_allclose(T2, T, atol=1e-5)
    kp = world_keypoints(arm)
    ref = rig.person_frame(A, T, s, rig.contact_radii(sc, s, body.girth))[0]
    np.testing.assert_allclose(kp, ref, atol=1e-5)
    apply_pose(arm, {})
    assert world_keypoints(arm)[:, 2].max() < 1.3


def test_update_body_changes_mesh(clean_blender):
    from deepx_addon.blender.mannequin import build_mannequin, get_body, update_body
    from deepx_addon.blender.posing import apply_pose
    bpy = clean_blender
    arm = build_mannequin(BodyParams(1.7), name="M")
    apply_pose(arm, {})
    z1 = _mesh_world_z(bpy, arm).max()
    update_body(arm, BodyParams(1.2, {"head_size": 1.4}))
    apply_pose(arm, {})
    z2 = _mesh_world_z(bpy, arm).max()
    assert z1 == pytest.approx(1.7, abs=0.03) and z2 == pytest.approx(1.2, abs=0.03)
    assert get_body(arm).proportions["head_size"] == pytest.approx(1.4)
    # appearance: each mannequin has its own materials, even with a clashing name
    from deepx_addon.blender.mannequin import body_meshes, set_appearance
    other = build_mannequin(name="M", with_mesh=True)
    set_appearance(arm, {"top": (1.0, 0.0, 0.0), "skin": (0.5, 0.4, 0.3)})
    torso = {o["deepx_part"]: o for o in body_meshes(arm)}["torso"]
    torso2 = {o["deepx_part"]: o for o in body_meshes(other)}["torso"]
    assert tuple(torso.data.materials[0].diffuse_color)[:3] == pytest.approx((1.0, 0.0, 0.0))
    assert tuple(torso2.data.materials[0].diffuse_color)[:3] != pytest.approx((1.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="unknown key"):
        set_appearance(arm, {"cape": (0, 0, 0)})


def test_build_pose_table_deterministic_and_within_limits(clean_blender):
    from deepx_addon.blender.posetable_build import build_pose_table
    g = GeneratorSettings(seed=11)
    calls = []
    a = build_pose_table(g, 300, progress=lambda i, n: calls.append((i, n)))
    b = build_pose_table(g, 300)
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    np.testing.assert_array_equal(a.recipe, b.recipe)
    assert calls[-1] == (300, 300) and (256, 300) in calls
    assert len(clean_blender.data.objects) == 0          # the temporary armature is gone
    # row i alone from its pose_seed; limits respected; person frame
    presets, lim = load_presets(), JointLimits.load(g.pose.limits_preset)
    for i in (0, 17, 299):
        assert a.pose_seed[i] == pose_seed_for(11, i)
        body, pose = sample_row(int(a.pose_seed[i]), g, presets, lim)
        assert lim.contains(pose.rotations)
        assert json.loads(a.recipe[i])["family"] == pose.family == a.family[i]
        assert a.stature_m[i] == pytest.approx(body.stature_m, rel=1e-6)
    pel = 0.5 * (a.keypoints[:, L_HIP] + a.keypoints[:, R_HIP])
    np.testing.assert_allclose(pel[:, :2], 0, atol=1e-5)
    assert a.keypoints[:, :, 2].min() > -0.01
    assert set(a.body) >= {"stature_m", "girth", "leg_length", "head_size"}
    assert a.meta["blender_version"] and a.meta["settings"]["seed"] == 11
    # the numpy backend gives the same table
    c = build_pose_table(g, 300, backend="numpy")
    np.testing.assert_allclose(c.keypoints, a.keypoints, atol=1e-5)
    # ground poses touch the ground: the lowest contact sphere of each row is at z = 0
    for i in range(40):
        body, pose = sample_row(int(a.pose_seed[i]), g, presets, lim)
        s, sc = body.scales()
        A, T = rig.forward_kinematics(pose.array(), sc)
        dz = a.keypoints[i, L_HIP, 2] - rig.keypoints_from_matrices(A, T)[L_HIP, 2] * s
        bottom = rig.points(A, T, rig.CONTACT_BONE, rig.CONTACT_LOCAL)[:, 2] * s + dz - rig.contact_radii(
            sc, s, body.girth)
        if pose.support == "ground":
            assert bottom.min() == pytest.approx(0.0, abs=1e-5)
        else:
            assert bottom[rig.SEAT_CONTACTS].min() >= pose.box_height_m - 1e-5 and bottom.min() >= -1e-5
    other = build_pose_table(GeneratorSettings(seed=12), 5)
    assert not np.allclose(other.keypoints, a.keypoints[:5])


def test_outfit_pieces_show_hide_and_follow_the_body(clean_blender):
    from deepx_addon.blender.mannequin import body_meshes, build_mannequin, set_outfit, update_body
    arm = build_mannequin(BodyParams(1.7), name="O")
    parts = {o["deepx_part"]: o for o in body_meshes(arm)}
    set_outfit(arm, {"hair_style": "long", "accessory": "backpack"})
    assert not parts["backpack"].hide_render and not parts["hair_long"].hide_render and parts["bag"].hide_render
    y0 = np.array([v.co.y for v in parts["backpack"].data.vertices]).max()
    update_body(arm, BodyParams(1.7, girth=1.2))              # a stouter body: the pack sits further back
    y1 = np.array([v.co.y for v in parts["backpack"].data.vertices]).max()
    assert y1 == pytest.approx(1.2 * y0, rel=1e-5)
    set_outfit(arm, {"accessory": "bag"})
    assert parts["backpack"].hide_render and parts["hair_long"].hide_render and not parts["bag"].hide_render
    with pytest.raises(ValueError, match="unknown key"):
        set_outfit(arm, {"hat": "yes"})
    with pytest.raises(ValueError, match="coat='long'"):
        set_outfit(arm, {"coat": "long"})
    # each new piece shows for its value only
    cases = [({"lower": "skirt"}, {"skirt"}), ({"lower": "dress"}, {"skirt"}), ({"lower": "shorts"}, set()),
             ({"coat": "closed"}, {"coat", "coat_sleeves"}), ({"coat": "open"}, {"coat_open", "coat_sleeves"}),
             ({"umbrella": "left"}, {"umbrella_L"}), ({"umbrella": "right"}, {"umbrella_R"}),
             ({"lower": "skirt", "coat": "open", "umbrella": "right", "accessory": "backpack"},
              {"skirt", "coat_open", "coat_sleeves", "umbrella_R", "backpack"})]
    garments = {"skirt", "coat", "coat_open", "coat_sleeves", "umbrella_L", "umbrella_R", "backpack", "bag",
                "hair_long"}
    for outfit, shown in cases:
        set_outfit(arm, outfit)
        assert {p for p in garments if not parts[p].hide_render} == shown, outfit
    set_outfit(arm, {})
    assert all(parts[p].hide_render for p in garments)


def test_an_untucked_shirt_moves_the_waistline_down_to_the_hips(clean_blender):
    """hem = hip: the trunk's faces between 0.540 and 0.598 H wear the shirt, not the trousers; back to
    waist restores every face's material (the neckline's skin untouched)."""
    from deepx_addon.blender.mannequin import HEM_Z, TROUSER_TOP_Z, body_meshes, build_mannequin, set_outfit
    from deepx_addon.core.rig import H
    arm = build_mannequin(BodyParams(1.7), name="Hem")
    torso = next(o for o in body_meshes(arm) if o["deepx_part"] == "torso")
    before = [p.material_index for p in torso.data.polygons]
    z = np.array([p.center.z for p in torso.data.polygons]) / H
    band = (z >= HEM_Z["hip"]) & (z < TROUSER_TOP_Z)
    assert band.sum() >= 24 and all(before[i] == 1 for i in np.flatnonzero(band))
    set_outfit(arm, {"hem": "hip"})
    after = [p.material_index for p in torso.data.polygons]
    assert all(after[i] == 0 for i in np.flatnonzero(band))                    # the shirt
    assert all(a == b for a, b, inb in zip(after, before, band) if not inb)    # nothing else moved
    assert sum(a == 2 for a in after) == sum(b == 2 for b in before) > 0        # the neckline kept
    set_outfit(arm, {"hem": "waist"})
    assert [p.material_index for p in torso.data.polygons] == before
    with pytest.raises(ValueError, match="hem='knee'"):
        set_outfit(arm, {"hem": "knee"})


def _inside_body(bpy, arm, points) -> np.ndarray:
    """For each world point: is it inside the union of the worn body meshes (nearest-surface normal test)?"""
    from mathutils import Vector
    from mathutils.bvhtree import BVHTree

    from deepx_addon.blender.mannequin import body_meshes
    dg = bpy.context.evaluated_depsgraph_get()
    trees = []
    for o in body_meshes(arm):
        if o.hide_render:
            continue
        ev = o.evaluated_get(dg)
        me = ev.to_mesh()
        M = ev.matrix_world
        trees.append(BVHTree.FromPolygons([M @ v.co for v in me.vertices], [tuple(p.vertices) for p in me.polygons]))
        ev.to_mesh_clear()
    inside = []
    for p in points:
        p = Vector(p)
        inside.append(any((lambda hit: hit[0] is not None and (hit[0] - p).dot(hit[1]) > 0)(t.find_nearest(p))
                          for t in trees))
    return np.array(inside)


@pytest.mark.parametrize("rotations", [
    {},                                                                      # rest
    {"thigh_L": (-70, 0, 0), "calf_L": (-100, 0, 0), "thigh_R": (30, 0, 0), "calf_R": (-40, 0, 0),
     "upperarm_L": (-60, 0, 30), "lowerarm_L": (-110, 0, 0), "upperarm_R": (40, 0, -20), "lowerarm_R": (-90, 0, 0)},
])
def test_limb_keypoints_lie_inside_the_mesh(clean_blender, rotations):
    """The limb tubes run along their bones: each shoulder, elbow, wrist, hip, knee and ankle keypoint is
    inside the body the detector sees, also with bent joints (a tube off its bone swings about a pivot
    outside it: the legs were 7 cm off their joints and bent knees opened a gap)."""
    from deepx_addon.blender.mannequin import build_mannequin
    from deepx_addon.blender.posing import apply_pose, world_keypoints
    bpy = clean_blender
    arm = build_mannequin(BodyParams(1.75))
    apply_pose(arm, rotations, location=(0, 0))
    bpy.context.view_layer.update()
    kp = world_keypoints(arm)
    limbs = list(range(5, 17))
    inside = _inside_body(bpy, arm, kp[limbs])
    assert inside.all(), [rig.COCO_KEYPOINTS[k] for k, ok in zip(limbs, inside) if not ok]


def _evaluated(bpy, obj) -> np.ndarray:
    dg = bpy.context.evaluated_depsgraph_get()
    ev = obj.evaluated_get(dg)
    me = ev.to_mesh()
    co = np.empty(len(me.vertices) * 3)
    me.vertices.foreach_get("co", co)
    M = np.array(ev.matrix_world)
    ev.to_mesh_clear()
    return co.reshape(-1, 3) @ M[:3, :3].T + M[:3, 3]


def _inside(bpy, obj, points) -> np.ndarray:
    """Is each world point inside ``obj``'s evaluated surface (nearest-surface normal test)?"""
    from mathutils import Vector
    from mathutils.bvhtree import BVHTree
    dg = bpy.context.evaluated_depsgraph_get()
    tree = BVHTree.FromObject(obj, dg)
    M = obj.matrix_world
    Mi = M.inverted()
    out = []
    for p in points:
        q = Mi @ Vector(p)
        hit, n, _i, _d = tree.find_nearest(q)
        out.append(hit is not None and (hit - q).dot(n) > 0)
    return np.array(out)


def _bone_points(bpy, arm, bone: str, fractions) -> np.ndarray:
    """World points along a posed bone, at fractions of its length from its head."""
    pb = arm.pose.bones[bone]
    M = arm.matrix_world
    return np.array([M @ (pb.head + float(f) * (pb.tail - pb.head)) for f in fractions])


SITTING = {"thigh_L": (85, 0, -4), "thigh_R": (85, 0, 4), "calf_L": (-85, 0, 0), "calf_R": (-85, 0, 0)}


@pytest.mark.parametrize("pose", ["standing", "walking", "sitting", "crouching"])
def test_skirt_and_coat_follow_the_legs(clean_blender, pose):
    """A skirt and a long coat stay on a walking, sitting or crouching person: both thighs (down to
    70 % of their length) and the lower spine are inside them, and no cloth reaches past a knee along
    its thigh (the knees read through the hem; standing or walking, nothing hangs below the knees)."""
    from deepx_addon.blender.mannequin import body_meshes, build_mannequin, set_outfit
    from deepx_addon.blender.posing import apply_pose, world_keypoints
    from deepx_addon.core.poses import walk_pose
    bpy = clean_blender
    arm = build_mannequin(BodyParams(1.7, girth=0.85))        # the slimmest body: the tightest fit
    rot = {"standing": load_presets()["standing"].rotations, "walking": walk_pose(0.25, 1.2),
           "sitting": SITTING, "crouching": load_presets()["deep_squat"].rotations}[pose]
    apply_pose(arm, rot, location=(0, 0))
    parts = {o["deepx_part"]: o for o in body_meshes(arm)}
    for outfit, part in (({"lower": "skirt"}, "skirt"), ({"coat": "closed"}, "coat")):
        set_outfit(arm, outfit)
        bpy.context.view_layer.update()
        kp = world_keypoints(arm)
        thighs = np.concatenate([_bone_points(bpy, arm, f"thigh_{s}", np.linspace(0.05, 0.7, 8)) for s in "LR"])
        spine = _bone_points(bpy, arm, "pelvis", [0.3]) if part == "skirt" else \
            np.concatenate([_bone_points(bpy, arm, b, [0.5]) for b in ("pelvis", "spine01", "spine02")])
        inside = _inside(bpy, parts[part], np.concatenate([thighs, spine]))
        assert inside.all(), (part, pose, np.flatnonzero(~inside))
        v = _evaluated(bpy, parts[part])
        for hip, knee in ((L_HIP, L_KNEE), (R_HIP, L_KNEE + 1)):       # no cloth beyond the knees along the thighs
            axis = (kp[knee] - kp[hip]) / np.linalg.norm(kp[knee] - kp[hip])
            reach = (v - kp[hip]) @ axis
            assert reach.max() < np.linalg.norm(kp[knee] - kp[hip]), (part, pose)
        if pose in ("standing", "walking"):
            assert v[:, 2].min() > kp[[L_KNEE, L_KNEE + 1], 2].min(), (part, pose)   # nothing below the knees


def test_umbrella_is_held_in_the_hand(clean_blender):
    """The umbrella moves with its hand (the handle stays at the wrist in random poses); held with
    core/body.py umbrella_grip, its canopy is over the head, above the head's top, and it hides the
    head from a camera high above."""
    from deepx_addon.blender.mannequin import body_meshes, build_mannequin, set_outfit
    from deepx_addon.blender.posing import apply_pose, world_keypoints
    from deepx_addon.core.body import umbrella_grip
    from deepx_addon.core.keypoints import L_WRIST, R_WRIST
    from deepx_addon.core.poses import walk_arms, walk_pose
    bpy = clean_blender
    arm = build_mannequin(BodyParams(1.65))
    parts = {o["deepx_part"]: o for o in body_meshes(arm)}
    lim = JointLimits.load("default")
    for side, wrist in (("left", L_WRIST), ("right", R_WRIST)):
        umb = parts["umbrella_" + side[0].upper()]
        set_outfit(arm, {"umbrella": side})
        for seed in range(3):                         # rigid on the hand, whatever the pose
            apply_pose(arm, lim.sample_array(np.random.default_rng(seed)))
            bpy.context.view_layer.update()
            v = _evaluated(bpy, umb)
            assert np.linalg.norm(v[:16].mean(0) - world_keypoints(arm)[wrist]) < 0.12
        apply_pose(arm, umbrella_grip({**walk_pose(0.3), **walk_arms(0.3)}, side), location=(0, 0))
        bpy.context.view_layer.update()
        v, head = _evaluated(bpy, umb), _evaluated(bpy, parts["head"])
        canopy = v[32:]                               # after the handle and shaft tubes (2 x 16 vertices)
        assert canopy[:, 2].min() > head[:, 2].max() + 0.02
        assert np.linalg.norm(canopy[0, :2] - head[:, :2].mean(0)) < 0.1      # the tip over the head
        assert np.ptp(canopy[:, 0]) > 0.8                                      # about a metre across
        hit = bpy.context.scene.ray_cast(bpy.context.evaluated_depsgraph_get(), (*head[:, :2].mean(0), 6.0),
                                         (0.0, 0.0, -1.0))
        assert hit[0] and hit[4].original == umb
    set_outfit(arm, {})
    assert parts["umbrella_L"].hide_render and parts["umbrella_R"].hide_render


def test_loose_trousers_widen_the_legs(clean_blender):
    """Loose trousers: the trouser legs get wider from the thigh down (twice at the hem), with the
    girth applied too; back to trousers, the radii are the plain ones again."""
    from deepx_addon.blender.mannequin import body_meshes, build_mannequin, set_outfit, update_body
    from deepx_addon.blender.posing import apply_pose
    bpy = clean_blender
    arm = build_mannequin(BodyParams(1.7))
    apply_pose(arm, {})
    legs = {o["deepx_part"]: o for o in body_meshes(arm)}["leg_low"]

    def hem_width():
        bpy.context.view_layer.update()
        v = _evaluated(bpy, legs)
        low = v[(v[:, 2] > 0.10) & (v[:, 2] < 0.20) & (v[:, 0] > 0)]      # the left shin, above the shoe
        return np.ptp(low[:, 0])
    plain = hem_width()
    set_outfit(arm, {"lower": "loose_trousers"})
    loose = hem_width()
    assert loose > 1.6 * plain                              # 7 cm -> 13 cm wide (measured)
    update_body(arm, BodyParams(1.7, girth=1.2))           # girth and the cut together
    assert hem_width() > loose
    set_outfit(arm, {"lower": "trousers"})
    update_body(arm, BodyParams(1.7))
    assert hem_width() == pytest.approx(plain, rel=1e-4)
