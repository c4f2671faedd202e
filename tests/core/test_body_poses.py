"""Body sampling, joint limits, pose presets, the walk cycle and the pose mixture (no bpy)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from deepx_addon.core import rig
from deepx_addon.core.anthropometry import LANDMARK_HEIGHT, SEGMENT
from deepx_addon.core.body import BodyParams, child_proportions, sample_appearance, sample_body, segment_lengths
from deepx_addon.core.limits import JointLimits, LimitsError, to_array
from deepx_addon.core.poses import (FAMILIES, PoseError, PosePreset, blend, gait_angles, load_presets,
                                    sample_pose, walk_pose)
from deepx_addon.core.settings import BodySettings, PoseSettings

REQUIRED_PRESETS = {"standing", "squatting", "deep_squat", "kneeling_one_knee", "kneeling_both",
                    "sitting_ground", "sitting_box", "hands_up", "bending_forward"}


@pytest.fixture(scope="module")
def limits():
    return JointLimits.load("default")


@pytest.fixture(scope="module")
def presets():
    return load_presets()


# --- limits ----------------------------------------------------------------------------------------
def test_default_limits_load_and_match_seed(limits):
    assert limits.range("thigh_L", "x") == (-45, 90)
    assert limits.range("thigh_L", "y") == (-60, 30)
    assert limits.range("thigh_L", "z") == (-17, 35)
    assert limits.range("calf_L", "x") == (-130, 0)
    # right side mirrors the Y/Z signs
    assert limits.range("thigh_R", "y") == (-30, 60) and limits.range("thigh_R", "z") == (-35, 17)
    assert set(limits.bones) == set(rig.BONE_NAMES)
    assert "_doc" in limits.to_dict()


def test_limits_are_mirror_symmetric(limits):
    for b in rig.BONE_NAMES:
        if b.endswith("_L"):
            lo, hi = limits.array[rig.BONE_INDEX[b]].T
            mlo, mhi = limits.array[rig.BONE_INDEX[rig.MIRROR[b]]].T
            np.testing.assert_allclose(mlo, np.where(rig.MIRROR_SIGN > 0, lo, -hi))
            np.testing.assert_allclose(mhi, np.where(rig.MIRROR_SIGN > 0, hi, -lo))


def test_limits_validate_errors(tmp_path):
    with pytest.raises(LimitsError, match="unknown bone 'tail'"):
        JointLimits({"tail": {"x": [0, 1]}})
    with pytest.raises(LimitsError, match="min 10.0 > max 5.0"):
        JointLimits({"calf_L": {"x": [10, 5]}})
    with pytest.raises(LimitsError, match="unknown axis 'w'"):
        JointLimits({"calf_L": {"w": [0, 5]}})
    p = tmp_path / "bad.json"
    p.write_text("{not json")
    with pytest.raises(LimitsError, match="bad.json"):
        JointLimits.load(p)
    with pytest.raises(LimitsError, match="not found"):
        JointLimits.load("no_such_preset")


def test_limits_save_load_roundtrip(tmp_path, limits):
    p = tmp_path / "lim.json"
    limits.save(p)
    back = JointLimits.load(p)
    np.testing.assert_array_equal(back.array, limits.array)


def test_clamp(limits):
    out = limits.clamp({"calf_L": (20, 50, -7), "thigh_L": (100, -100, 10)})
    assert out["calf_L"] == (0.0, 10.0, 0.0)          # z is locked at 0 for the knee
    assert out["thigh_L"] == (90.0, -60.0, 10.0)
    assert limits.contains(out) and not limits.contains({"calf_L": (20, 0, 0)})


@pytest.mark.parametrize("mode", ["uniform", "normal"])
def test_sampled_rotations_within_limits(limits, mode):
    rng = np.random.default_rng(1)
    draws = np.stack([limits.sample_array(rng, mode) for _ in range(2000)])
    assert limits.contains_array(draws).all()
    lo, hi = limits.array[..., 0], limits.array[..., 1]
    mean = draws.mean(axis=0)
    width = hi - lo
    free = width > 0
    np.testing.assert_allclose(mean[free], ((lo + hi) / 2)[free], atol=0.05 * width.max())
    if mode == "normal":   # SD = range / 6 (slightly less after clipping)
        sd = draws.std(axis=0)[free] / width[free]
        assert np.all((sd > 0.14) & (sd < 0.175))
    sub = limits.sample(rng, mode, bones=["calf_L", "thigh_R"])
    assert set(sub) == {"calf_L", "thigh_R"} and limits.contains(sub)


# --- presets ---------------------------------------------------------------------------------------
def test_presets_load_and_respect_limits(presets, limits):
    assert REQUIRED_PRESETS <= set(presets)
    for name, p in presets.items():
        assert p.family in FAMILIES
        assert limits.contains(p.rotations), name
    assert presets["sitting_box"].support == "box" and 0.4 <= presets["sitting_box"].box_height_m <= 0.5
    assert presets["standing"].support == "ground"


def test_presets_are_cached(presets):
    assert load_presets()["standing"] is presets["standing"]


def test_preset_errors(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"name": "x", "family": "dancing", "rotations": {}}))
    with pytest.raises(PoseError, match="x.json.*family 'dancing'"):
        load_presets(tmp_path)
    with pytest.raises(PoseError, match="unknown bone"):
        PosePreset("y", "standing", {"wing_L": (0, 0, 0)})
    with pytest.raises(PoseError, match="box_height_m"):
        PosePreset("z", "sitting", {}, support="box", box_height_m=0.0)
    s = PoseSettings(p_legs_preset=1.0, p_walk=0.0, preset_weights={"moonwalk": 2.0})
    with pytest.raises(PoseError, match="unknown preset.*moonwalk"):
        sample_pose(np.random.default_rng(0), s, load_presets(), JointLimits.load())


def _preset_geometry(p):
    s, sc = rig.body_scales(rig.REF_STATURE_M)
    A, T = rig.forward_kinematics(p.array(), sc)
    r = rig.contact_radii(sc, s, 1.0)
    kp, shift, seat = rig.person_frame(A, T, s, r, p.support, p.box_height_m)
    bottom = rig.points(A, T, rig.CONTACT_BONE, rig.CONTACT_LOCAL)[:, 2] * s + shift[2] - r
    return kp, bottom, seat


def test_preset_geometry_is_plausible(presets):
    kp, bottom, _ = _preset_geometry(presets["standing"])
    assert bottom.min() == pytest.approx(0, abs=1e-9)
    assert kp[11, 2] == pytest.approx(0.530 * rig.H, abs=0.005)       # hips at Drillis height
    kp, bottom, seat = _preset_geometry(presets["sitting_box"])
    assert seat == pytest.approx(0.45) and bottom[rig.SEAT_CONTACTS].min() == pytest.approx(0.45)
    assert bottom.min() >= -1e-9
    kp, bottom, _ = _preset_geometry(presets["kneeling_both"])
    assert bottom[rig.CONTACT_GROUP == "knee"].max() < 0.01             # both knees on the ground
    kp, _, _ = _preset_geometry(presets["deep_squat"])
    assert kp[11, 2] < kp[13, 2]                                          # hips below knees
    kp, _, _ = _preset_geometry(presets["hands_up"])
    assert kp[9, 2] > kp[0, 2] and kp[10, 2] > kp[0, 2]                   # wrists above the nose
    kp, _, _ = _preset_geometry(presets["bending_forward"])
    assert kp[0, 2] < kp[5, 2] + 0.1 and kp[0, 1] < -0.3                 # head down and forward (-Y)


# --- blend & walk ----------------------------------------------------------------------------------
def test_blend_endpoints_and_midpoint(presets):
    a, b = presets["standing"], presets["deep_squat"]
    at0 = blend(a.rotations, b.rotations, 0.0)
    assert at0 == {k: a.rotations.get(k, (0.0, 0.0, 0.0)) for k in at0}
    np.testing.assert_allclose(to_array(blend(a.rotations, b.rotations, 0.0)), a.array())
    np.testing.assert_allclose(to_array(blend(a.rotations, b.rotations, 1.0)), b.array())
    np.testing.assert_allclose(to_array(blend(a.rotations, b.rotations, 0.25)), 0.75 * a.array() + 0.25 * b.array())
    p = blend(presets["sitting_box"], presets["standing"], 0.3)
    assert p.family == "sitting" and p.support == "box" and p.box_height_m == pytest.approx(0.45)
    assert blend(presets["sitting_box"], presets["standing"], 0.7).support == "ground"


def test_walk_is_periodic_and_antiphase():
    w0, w1 = walk_pose(0.0), walk_pose(1.0)
    for k in w0:
        np.testing.assert_allclose(w0[k], w1[k], atol=1e-12)
    w = walk_pose(0.2)
    w_half = walk_pose(0.7)
    np.testing.assert_allclose(w["thigh_L"][0], w_half["thigh_R"][0])   # legs half a cycle apart
    both = walk_pose(0.2, phase_right=0.9)
    assert both["thigh_R"][0] == pytest.approx(gait_angles(0.9)[0])
    hips = [gait_angles(p)[0] for p in np.linspace(0, 1, 101)]
    assert max(hips) > 20 and min(hips) < -5                               # flexion and extension
    assert all(gait_angles(p)[1] >= 0 for p in np.linspace(0, 1, 101))     # knees never hyperextend
    assert walk_pose(0.3, stride=0.0)["thigh_L"][0] == 0.0


# --- the pose mixture --------------------------------------------------------------------------------
def test_sample_pose_deterministic_and_serialisable(presets, limits):
    s = PoseSettings()
    a = sample_pose(np.random.default_rng(42), s, presets, limits)
    b = sample_pose(np.random.default_rng(42), s, presets, limits)
    assert a.rotations == b.rotations and a.recipe == b.recipe and a.family == b.family
    json.dumps(a.recipe)
    c = sample_pose(np.random.default_rng(43), s, presets, limits)
    assert c.rotations != a.rotations


@pytest.mark.parametrize("mode", ["uniform", "normal"])
def test_sampled_poses_within_limits_with_families(presets, limits, mode):
    s = PoseSettings(sampling=mode, jitter_deg=10.0)
    rng = np.random.default_rng(7)
    fams = []
    for _ in range(600):
        p = sample_pose(rng, s, presets, limits)
        assert limits.contains(p.rotations)
        assert set(p.rotations) == set(rig.BONE_NAMES)
        assert p.family in FAMILIES
        fams.append(p.family)
        r = p.recipe
        if r["legs"] == "walk":
            assert p.family in ("walking", "hands_up")
        if "hands_up" in r["randomisers"] and p.family not in ("hands_up",):
            assert presets[r["preset"]].family not in ("standing", "walking") or "blend" in r
    assert {"walking", "hands_up", "sitting", "kneeling", "crouching", "standing", "bending"} <= set(fams)


def test_mixture_probabilities_follow_settings(presets, limits):
    rng = np.random.default_rng(3)
    s = PoseSettings(p_legs_preset=1.0, p_walk=0.0, p_blend=0.0, p_hands_up=0.0, p_spine_turn=0.0,
                     p_head_turn=0.0, p_random_arms=0.0, jitter_deg=0.0, preset_weights={"sitting_box": 1.0, **{
                         n: 0.0 for n in presets if n != "sitting_box"}})
    for _ in range(20):
        p = sample_pose(rng, s, presets, limits)
        assert p.recipe["preset"] == "sitting_box" and p.family == "sitting" and p.support == "box"
        np.testing.assert_allclose(p.array(), presets["sitting_box"].array())
    s = PoseSettings(p_legs_preset=0.0, p_walk=1.0, p_both_legs_walk=1.0, p_hands_up=1.0, jitter_deg=0.0)
    p = sample_pose(rng, s, presets, limits)
    assert p.family == "hands_up" and p.recipe["legs"] == "walk" and p.recipe["phase_right"] is not None
    assert p.recipe["randomisers"]["hands_up"] in ("overhead", "surrender")
    s = PoseSettings(p_legs_preset=1.0, p_walk=1.0, p_blend=0.0, p_hands_up=0.0)
    legs = [sample_pose(rng, s, presets, limits).recipe["legs"] for _ in range(400)]
    assert 0.4 < legs.count("walk") / len(legs) < 0.6


# --- bodies ----------------------------------------------------------------------------------------
def test_segment_lengths_match_drillis():
    L = segment_lengths(BodyParams())
    H = rig.REF_STATURE_M
    assert L["thigh_L"] == pytest.approx(SEGMENT["thigh"] * H, rel=1e-6)
    assert L["calf_R"] == pytest.approx(SEGMENT["shank"] * H, rel=1e-6)
    assert L["upperarm_L"] == pytest.approx(SEGMENT["upper_arm"] * H, rel=0.01)
    assert L["lowerarm_L"] == pytest.approx(SEGMENT["forearm"] * H, rel=1e-6)
    assert L["hip_width"] == pytest.approx(SEGMENT["hip_joints"] * H, rel=1e-6)
    assert L["shoulder_width"] == pytest.approx(SEGMENT["shoulder_joints"] * H, rel=1e-6)
    assert L["torso"] == pytest.approx(SEGMENT["torso"] * H, rel=1e-6)
    # standing rest pose: landmark heights of anthropometry.py (joints)
    s, sc = rig.body_scales(H)
    A, T = rig.forward_kinematics(np.zeros((len(rig.BONES), 3)), sc)
    kp = rig.keypoints_from_matrices(A, T) * s
    np.testing.assert_allclose(kp[5:, 2] / H, LANDMARK_HEIGHT[5:], atol=0.003)
    np.testing.assert_allclose(kp[:5, 2] / H, LANDMARK_HEIGHT[:5], atol=0.012)


def test_stature_is_exact_for_any_proportions():
    rng = np.random.default_rng(0)
    for _ in range(20):
        b = sample_body(rng, BodySettings(p_child=0.5, proportion_sd=0.08))
        s, sc = b.scales()
        assert float(rig.standing_height(sc)) * s == pytest.approx(b.stature_m, rel=1e-9)
    long_legs = BodyParams(1.8, {"leg_length": 1.1})
    assert segment_lengths(long_legs)["thigh_L"] > segment_lengths(BodyParams(1.8))["thigh_L"]


def test_body_sampling_distribution():
    rng = np.random.default_rng(5)
    s = BodySettings(p_child=0.0, stature_m=(1.0, 2.05))
    st = np.array([sample_body(rng, s).stature_m for _ in range(4000)])
    assert st.mean() == pytest.approx(1.715, abs=0.01)
    assert st.std() == pytest.approx(np.sqrt(0.07 ** 2 + 0.065 ** 2), abs=0.01)
    s = BodySettings(p_child=0.3, stature_m=(1.2, 1.9), girth=(0.9, 1.1), proportion_sd=0.0)
    bodies = [sample_body(rng, s) for _ in range(2000)]
    st = np.array([b.stature_m for b in bodies])
    assert st.min() >= 1.2 and st.max() <= 1.9
    kids = [b for b in bodies if b.proportions["head_size"] > 1.0]
    assert 0.2 < len(kids) / len(bodies) < 0.4
    assert all(b.stature_m <= 1.5 for b in kids)
    assert all(0.9 <= b.girth <= 1.1 for b in bodies)
    assert child_proportions(1.0)["head_size"] > child_proportions(1.5)["head_size"] > 1.0
    assert child_proportions(1.0)["leg_length"] < 1.0


def test_body_roundtrip_and_determinism():
    b = sample_body(np.random.default_rng(9))
    assert BodyParams.from_dict(json.loads(json.dumps(b.to_dict()))) == b
    assert sample_body(np.random.default_rng(9)) == b
    with pytest.raises(ValueError, match="unknown proportion"):
        BodyParams(1.7, {"tail_length": 1.0})
    app = sample_appearance(np.random.default_rng(1))
    assert set(app) == {"skin", "top", "bottom", "sleeve_low", "leg_low", "shoes", "hair", "pack"}
    assert all(0 <= c <= 1 for v in app.values() for c in v)
    assert app["sleeve_low"] == app["top"] and app["leg_low"] == app["bottom"]   # long sleeves and legs
    from deepx_addon.core.body import sample_outfit
    outfits = [sample_outfit(np.random.default_rng(i), app, 0.5) for i in range(200)]
    assert {o["hair_style"] for o, _c, _d in outfits} == {"short", "long", "bald"}
    assert {o["accessory"] for o, _c, _d in outfits} == {"none", "backpack", "bag"}
    short = [c for _o, c, d in outfits if d["sleeves"] == "short"]
    assert short and all(c["sleeve_low"] == c["skin"] for c in short)          # forearms show the skin


def test_fk_mirror_rule(presets):
    """A pose mirrored with (x, -y, -z) gives mirrored keypoints."""
    rng = np.random.default_rng(11)
    lim = JointLimits.load("default")
    rot = lim.sample_array(rng)
    mir = np.empty_like(rot)
    for b, i in rig.BONE_INDEX.items():
        mir[rig.BONE_INDEX[rig.MIRROR[b]]] = rot[i] * rig.MIRROR_SIGN
    from deepx_addon.core.keypoints import FLIP_INDEX
    kp = rig.keypoints_from_matrices(*rig.forward_kinematics(rot))
    kpm = rig.keypoints_from_matrices(*rig.forward_kinematics(mir))
    np.testing.assert_allclose(kpm[list(FLIP_INDEX)] * [-1, 1, 1], kp, atol=1e-9)


def test_one_preset_look_up_sees_the_users_folder(tmp_path):
    """core/paths.find_preset is the one look-up: shipped presets by name, a user folder passed in
    (Blender's) wins for its names, a .json path is taken as is; limits and poses go through it."""
    import json

    from deepx_addon.core import poses
    from deepx_addon.core.paths import find_preset, preset_dirs
    shipped = preset_dirs("limits")[0]
    assert find_preset("limits", "default") == shipped / "default.json"
    (tmp_path / "limits").mkdir()
    mine = JointLimits.load("default").to_dict()
    (tmp_path / "limits" / "mine.json").write_text(json.dumps(mine))
    assert find_preset("limits", "mine", tmp_path) == tmp_path / "limits" / "mine.json"
    assert np.array_equal(JointLimits.load("mine", tmp_path).array, JointLimits.load("default").array)
    with pytest.raises(LimitsError, match="not found"):
        JointLimits.load("mine")                         # without the user folder it is not seen
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        find_preset("poses", "nope", tmp_path)
    (tmp_path / "poses").mkdir()
    stand = poses.load_presets()["standing"].to_dict()
    (tmp_path / "poses" / "my_pose.json").write_text(json.dumps({**stand, "name": "my_pose"}))
    assert "my_pose" in poses.all_presets(tmp_path) and "my_pose" not in poses.all_presets()
    assert set(poses.all_presets()) == set(poses.load_presets())


def test_string_column_is_a_compact_str_array():
    """PoseTable.recipe: UTF-8 buffer + offsets (core/posetable.StringColumn), used like a str array."""
    from deepx_addon.core.posetable import StringColumn
    strings = ['{"a": 1}', "", "é" * 300, '{"b": [1, 2]}']
    col = StringColumn(np.array(strings))
    assert len(col) == 4 and col.tolist() == strings and col[-1] == strings[-1] and col[2] == strings[2]
    assert col[[3, 0, 3]].tolist() == [strings[3], strings[0], strings[3]] and col.take([1, 1]) == ["", ""]
    assert col[np.array([True, False, True, False])].tolist() == [strings[0], strings[2]]
    np.testing.assert_array_equal(np.asarray(col), np.array(strings))
    assert col.nbytes < np.array(strings).nbytes / 3
    with pytest.raises(IndexError):
        col[4]


def test_outfit_draws_are_seeded_and_follow_their_probabilities():
    """sample_outfit: same seed -> same outfit; skirts, coats and umbrellas at the asked rates; the
    colours they imply (a skirt's own colour and the legs under it, a coat's own colour and sleeves)."""
    from deepx_addon.core.body import sample_outfit
    app = sample_appearance(np.random.default_rng(1))
    draw = lambda i, **kw: sample_outfit(np.random.default_rng(i), app, 0.35, **kw)   # noqa: E731
    assert draw(5) == draw(5) and draw(5, p_umbrella=1.0) == draw(5, p_umbrella=1.0)
    n = 4000
    outs = [draw(i, p_skirt=0.15, p_coat=0.15, p_umbrella=0.05) for i in range(n)]
    share = lambda f: sum(map(f, outs)) / n                                               # noqa: E731
    assert share(lambda o: o[0]["lower"] in ("skirt", "dress")) == pytest.approx(0.15, abs=0.02)
    assert share(lambda o: o[0]["coat"] != "none") == pytest.approx(0.15, abs=0.02)
    assert share(lambda o: o[0]["umbrella"] != "none") == pytest.approx(0.05, abs=0.012)
    assert share(lambda o: o[0]["lower"] == "dress") == pytest.approx(0.15 * 0.4, abs=0.015)
    assert share(lambda o: o[0]["lower"] == "loose_trousers") > 0.08
    assert {o["coat"] for o, _c, _d in outs} == {"none", "open", "closed"}
    assert {o["umbrella"] for o, _c, _d in outs} == {"none", "left", "right"}
    none = [draw(i, p_skirt=0.0, p_coat=0.0, p_umbrella=0.0)[0] for i in range(300)]
    assert all(o["lower"] not in ("skirt", "dress") and o["coat"] == o["umbrella"] == "none" for o in none)
    # the hem comes from the one spare draw: asking for untucked shirts changes no other piece or colour
    tucked = [draw(i) for i in range(300)]
    untucked = [draw(i, p_untucked=1.0) for i in range(300)]
    assert all(o["hem"] == "waist" for o, _c, _d in tucked) and all(o["hem"] == "hip" for o, _c, _d in untucked)
    for (o0, c0, d0), (o1, c1, d1) in zip(tucked, untucked):
        assert {**o0, "hem": "hip"} == o1 and c0 == c1 and {**d0, "hem": "hip"} == d1
    half = [draw(i, p_untucked=0.5)[0]["hem"] == "hip" for i in range(n)]
    assert sum(half) / n == pytest.approx(0.5, abs=0.03)
    for outfit, colours, desc in outs[:400]:
        assert set(desc) == set(outfit) | {"sleeves", "legs"} and all(desc[k] == v for k, v in outfit.items())
        if outfit["lower"] == "dress":
            assert colours["skirt"] == colours["top"] and colours["bottom"] == colours["leg_low"]
        if outfit["lower"] == "skirt":
            assert colours["skirt"] == app["bottom"] and colours["bottom"] == colours["leg_low"]
            assert (desc["legs"] == "short") == (colours["leg_low"] == app["skin"])
        if outfit["coat"] != "none":
            assert "coat" in colours and desc["sleeves"] == "long" and colours["sleeve_low"] == app["top"]
        if outfit["umbrella"] != "none":
            assert "umbrella" in colours


def test_umbrella_grip_is_a_valid_pose_holding_the_shaft_up():
    """The arm that holds an umbrella: within the joint limits, no arm through the trunk or head,
    the fist at chest height in front of its shoulder, the shaft (the hand's local Z) near vertical
    with its top over the head; the left grip is the mirror of the right; other bones untouched."""
    from deepx_addon.core.body import UMBRELLA_GRIP_R, umbrella_grip
    from deepx_addon.core.limits import to_array
    from deepx_addon.core.validity import pose_problems
    lim = JointLimits.load("default")
    from deepx_addon.core.poses import walk_arms, walk_pose
    walk = {**walk_pose(0.3), **walk_arms(0.3)}
    for side in ("left", "right"):
        rot = umbrella_grip(walk, side)
        assert lim.contains(rot) and pose_problems(to_array(rot), body=BodyParams(girth=1.25)) == []
        held = {b if side == "right" else rig.MIRROR[b] for b in UMBRELLA_GRIP_R}
        assert all(rot[b] == tuple(v) for b, v in walk.items() if b not in held)
        A, T = rig.forward_kinematics(to_array(rot))
        hand = rig.BONE_INDEX["hand_" + side[0].upper()]
        z = A[hand][:, 2]
        top = T[hand] + 0.45 * rig.H * z
        assert z[2] > np.cos(np.radians(20))                              # the shaft within 20 deg of vertical
        assert 0.62 * rig.H < T[hand][2] < 0.75 * rig.H                   # the wrist at chest height
        assert np.hypot(*top[:2]) < 0.05 * rig.H and top[2] > 1.1 * rig.H  # the shaft's top over the head
    left, right = umbrella_grip({}, "left"), umbrella_grip({}, "right")
    for b, v in UMBRELLA_GRIP_R.items():
        assert left[rig.MIRROR[b]] == pytest.approx(tuple(np.asarray(v) * rig.MIRROR_SIGN)) and right[b] == v
    assert umbrella_grip(walk, "none") == {b: tuple(v) for b, v in walk.items()}
    with pytest.raises(ValueError, match="umbrella side"):
        umbrella_grip({}, "up")
