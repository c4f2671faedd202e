"""Valid poses (core/validity.py): no limb through the body, families that look like their name,
people who hold still keep their balance."""
from __future__ import annotations

import numpy as np
import pytest

from deepx_addon.core import poses, rig, validity
from deepx_addon.core.limits import JointLimits
from deepx_addon.core.settings import GeneratorSettings

PRESETS = poses.load_presets()
LIMITS = JointLimits.load("default")


def test_no_limb_through_the_body_on_1000_random_poses():
    s = GeneratorSettings()
    problems, tries = {}, []
    for i in range(1000):
        body, sp = poses.sample_row(poses.pose_seed_for(3, i), s, PRESETS, LIMITS)
        still = sp.recipe["legs"] != "walk"
        left = validity.pose_problems(sp.array(), sp.family, sp.support, sp.box_height_m, body, still)
        assert left == sp.recipe.get("problems", [])       # the recipe tells the truth
        for p in left:
            problems[p] = problems.get(p, 0) + 1
        tries.append(sp.recipe["tries"])
    assert not problems, problems
    assert max(tries) <= validity.MAX_TRIES and np.mean(tries) < 2.0


def _walk_mean_pose() -> np.ndarray:
    """The walk cycle averaged over its phase, on the standing upper body."""
    base = PRESETS["standing"].array()
    arrs = []
    for ph in np.linspace(0, 1, 10, endpoint=False):
        a = base.copy()
        for k, v in {**poses.walk_pose(ph), **poses.walk_arms(ph)}.items():
            a[rig.BONE_INDEX[k]] = v
        arrs.append(a)
    return np.mean(arrs, axis=0)


@pytest.mark.parametrize("family", poses.FAMILIES)
def test_every_family_mean_pose_passes_its_named_check(family):
    """A family's mean poses are its presets (what the sampler randomises around; averaging two
    presets of different structure, e.g. one and two knees down, is itself not of the family)
    and, for walking, the walk cycle's mean."""
    assert family in validity.FAMILY_CHECKS
    members = [p for p in PRESETS.values() if p.family == family]
    if family == "walking":
        assert validity.pose_problems(_walk_mean_pose(), "walking") == []
    else:
        assert members
    for p in members:
        assert validity.pose_problems(p.array(), p.family, p.support, p.box_height_m) == [], p.name


def test_bad_poses_are_named():
    a = PRESETS["standing"].array()
    a[rig.BONE_INDEX["upperarm_L"]] = (0, 0, -35)        # upper arm swung across the chest
    a[rig.BONE_INDEX["lowerarm_L"]] = (0, 0, 0)
    assert "arm_through_trunk" in validity.pose_problems(a, "standing")
    # kneeling blended 70 % towards standing: the knee leaves the ground
    k = 0.3 * PRESETS["kneeling_one_knee"].array() + 0.7 * PRESETS["standing"].array()
    assert "not_kneeling" in validity.pose_problems(k, "kneeling")
    legs = PRESETS["standing"].array()
    legs[rig.BONE_INDEX["thigh_L"]] = (0, 0, -12)        # left thigh swung into the right one
    legs[rig.BONE_INDEX["thigh_R"]] = (0, 0, 12)
    assert "legs_cross" in validity.pose_problems(legs, "standing")


def test_sampled_kneeling_has_a_knee_on_the_ground():
    s = GeneratorSettings()
    s.pose.preset_weights = {n: (1.0 if p.family == "kneeling" else 0.0) for n, p in PRESETS.items()}
    s.pose.p_legs_preset, s.pose.p_walk = 1.0, 0.0
    for i in range(60):
        body, sp = poses.sample_row(poses.pose_seed_for(5, i), s, PRESETS, LIMITS)
        A, T, bottoms, pelvis_z, _kp = validity.placed(sp.array(), body, sp.support, sp.box_height_m)
        assert sp.family == "kneeling"
        knee = bottoms[rig.CONTACT_GROUP == "knee"].min()
        assert knee <= bottoms.min() + validity.GROUND_TOL * rig.H


def _overhang(a, support="ground", body=None):
    A, T, b, _pz, kp = validity.placed(a, body, support)
    return validity.balance_overhang(b, kp, A, T)


def test_outside_hull():
    sq = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5]])
    assert validity.outside_hull((0.5, 0.2), sq) == 0.0
    assert validity.outside_hull((1.5, 0.5), sq) == pytest.approx(0.5)
    assert validity.outside_hull((2.0, 2.0), sq) == pytest.approx(np.sqrt(2))
    assert validity.outside_hull((0.5, 1.0), [[0, 0], [2, 0]]) == pytest.approx(1.0)   # a line


def test_a_tipped_person_is_off_balance_and_presets_are_not():
    # the root pitched 25 degrees tips the whole body, feet too: it rocks onto its heels, the centre
    # of mass behind them
    a = PRESETS["standing"].array()
    a[rig.BONE_INDEX["pelvis"], 0] += 25
    assert _overhang(a) > validity.BALANCE_TOL and "off_balance" in validity.pose_problems(a, "standing")
    assert "off_balance" not in validity.pose_problems(a, "walking")
    assert "off_balance" not in validity.pose_problems(a, "standing", still=False)
    # the squat as it was until Dec 2026: pelvis behind the heels, a person sitting on nothing
    old = PRESETS["squatting"].array()
    for side in "LR":
        old[rig.BONE_INDEX[f"calf_{side}"], 0], old[rig.BONE_INDEX[f"foot_{side}"], 0] = -102, 12
    old[rig.BONE_INDEX["pelvis"], 0] = 0
    assert _overhang(old) > 0.05 and "off_balance" in validity.pose_problems(old, "crouching")
    for p in PRESETS.values():
        if p.family in validity.BALANCED_FAMILIES:
            assert _overhang(p.array()) <= validity.BALANCE_TOL / 3, p.name


def test_lean_to_balance_leans_the_trunk_only():
    a = PRESETS["standing"].array()
    spine = [rig.BONE_INDEX[b] for b in ("spine01", "spine02", "spine03")]
    a[spine, 0] = -18                              # leaning back 54 degrees: falls backwards
    assert "off_balance" in validity.pose_problems(a, "standing")
    b, lean = validity.lean_to_balance(a, "standing")
    assert lean > 0 and validity.pose_problems(b, "standing") == []
    changed = np.flatnonzero(np.any(b != a, axis=1))
    assert set(changed) <= set(spine)
    for fam, kw in (("walking", {}), ("sitting", {}), ("standing", {"still": False}), ("standing", {"support": "box"})):
        c, lean = validity.lean_to_balance(a, fam, limits=LIMITS, **kw)
        assert lean == 0 and np.array_equal(c, a), fam


def test_balance_does_not_starve_a_family(monkeypatch):
    """Redrawing off-balance poses must not change which families the settings ask for."""
    s = GeneratorSettings()

    def shares():
        fam = [poses.sample_row(poses.pose_seed_for(4, i), s, PRESETS, LIMITS)[1].family for i in range(600)]
        return {f: fam.count(f) / len(fam) for f in poses.FAMILIES}
    checked = shares()
    monkeypatch.setattr(validity, "BALANCED_FAMILIES", ())
    unchecked = shares()
    for f in validity.BALANCED_FAMILIES:
        assert checked[f] >= 0.75 * unchecked[f], (f, checked[f], unchecked[f])


def _soles(a):
    A, T = rig.forward_kinematics(a, None)
    pts = rig.points(A, T, rig.CONTACT_BONE, rig.CONTACT_LOCAL)
    return validity.sole_pitch_deg(pts, pts[:, 2] - rig.CONTACT_RADIUS)


def test_flatten_feet_puts_a_still_persons_soles_on_the_ground():
    a = PRESETS["standing"].array()
    assert max(abs(p) for p in _soles(a)) < 0.5
    a[rig.BONE_INDEX["foot_L"]] += (12, 0, 8)           # toes up and turned out: on the left heel
    a[rig.BONE_INDEX["foot_R"], 0] -= 9                  # on the right toes
    assert min(abs(p) for p in _soles(a)) > 5
    flat = validity.flatten_feet(a, "standing", limits=LIMITS)
    assert max(abs(p) for p in _soles(flat)) < 1.0
    changed = np.flatnonzero(np.any(flat != a, axis=1))
    assert set(changed) <= {rig.BONE_INDEX["foot_L"], rig.BONE_INDEX["foot_R"]}
    # kneeling rests on the toes, walking is mid-stride, a seat carries a sitter: left alone
    for fam, kw in (("kneeling", {}), ("walking", {}), ("standing", {"still": False}), ("sitting", {"support": "box"})):
        assert np.array_equal(validity.flatten_feet(a, fam, limits=LIMITS, **kw), a), fam


def test_sampled_still_people_stand_on_flat_feet():
    s = GeneratorSettings()
    tilted = []
    for i in range(300):
        body, sp = poses.sample_row(poses.pose_seed_for(6, i), s, PRESETS, LIMITS)
        if sp.family in ("standing", "hands_up", "bending") and sp.recipe["legs"] == "preset":
            tilted.append(max(abs(p) for p in _soles(sp.array())) > 5)
    assert len(tilted) > 30 and np.mean(tilted) < 0.1
