"""Valid poses (core/validity.py): no limb through the body, families that look like their name."""
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
        left = validity.pose_problems(sp.array(), sp.family, sp.support, sp.box_height_m, body)
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
