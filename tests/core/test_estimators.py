import numpy as np
import pytest

from deepx_addon.core.estimators import (BBoxHeightEstimator, ShoulderHipEstimator, SlothEstimator,
                                         LOW_CONFIDENCE, NO_ESTIMATE, OK)
from deepx_addon.core.keypoints import L_HIP, L_SHOULDER, R_HIP, R_SHOULDER
from synthetic_people import pelvis, standing_person_cam, to_keypoints

K = np.array([[1000.0, 0, 640], [0, 1000.0, 360], [0, 0, 1]])
TORSO_STATURE = 0.48 / 0.288  # the body whose shoulder-hip length is exactly 0.48 m


@pytest.mark.parametrize("depth", [3.0, 10.0, 40.0])
@pytest.mark.parametrize("x", [0.0, 2.5])
def test_each_estimator_recovers_a_known_person(depth, x):
    cases = [(ShoulderHipEstimator(), TORSO_STATURE, 0.01), (SlothEstimator(), TORSO_STATURE, 0.02),
             (BBoxHeightEstimator(stature_m=1.7), 1.7, 0.01)]
    for est, stature, tol in cases:
        P = standing_person_cam(stature, x, depth)
        e = est.estimate(to_keypoints(P, K), K)
        assert e.status == OK, (est.name, e.reason)
        true = pelvis(P)
        assert e.depth_m == pytest.approx(true[2], rel=tol), est.name
        assert e.distance_m == pytest.approx(np.linalg.norm(true), rel=tol), est.name
        # the pelvis is placed on its own viewing ray
        assert np.allclose(np.array(e.position_m) / e.depth_m, true / true[2], atol=1e-9)
        assert e.sigma_m is not None and 0 < e.sigma_m < 0.2 * e.distance_m


def test_answers_do_not_depend_on_resolution():
    P = standing_person_cam(1.75, 1.0, 12.0)
    kp = to_keypoints(P, K)
    K2 = K.copy()
    K2[:2] *= 0.5
    kp2 = kp.copy()
    kp2[:, :2] *= 0.5
    for est in (ShoulderHipEstimator(), SlothEstimator(), BBoxHeightEstimator()):
        assert est.estimate(kp, K).distance_m == pytest.approx(est.estimate(kp2, K2).distance_m, rel=1e-9)


def test_missing_keypoints_degrade_or_refuse_with_reason():
    kp = to_keypoints(standing_person_cam(1.7, 0, 8.0), K)
    no_torso = kp.copy()
    no_torso[[L_SHOULDER, R_SHOULDER], 2] = 0
    e = ShoulderHipEstimator().estimate(no_torso, K)
    assert e.status == NO_ESTIMATE and e.distance_m is None and "left_shoulder" in e.reason
    # Sloth still reads the legs and hips
    e = SlothEstimator().estimate(no_torso, K)
    assert e.status == OK and e.distance_m == pytest.approx(np.linalg.norm(pelvis(standing_person_cam(1.7, 0, 8.0))), rel=0.06)
    weak = kp.copy()
    weak[:, 2] = 0.03
    for est in (ShoulderHipEstimator(), SlothEstimator(), BBoxHeightEstimator()):
        e = est.estimate(weak, K)
        assert e.status == LOW_CONFIDENCE and e.distance_m is not None and e.reason
    empty = kp.copy()
    empty[:, 2] = 0
    for est in (ShoulderHipEstimator(), SlothEstimator(), BBoxHeightEstimator()):
        e = est.estimate(empty, K)
        assert e.status == NO_ESTIMATE and e.distance_m is None and e.reason


def test_one_hip_only_says_how_the_ray_was_placed():
    kp = to_keypoints(standing_person_cam(1.7, 0, 8.0), K)
    kp[R_HIP, 2] = 0
    e = SlothEstimator().estimate(kp, K)
    assert e.has_value and "one hip" in e.reason


def test_bbox_rule_with_detector_box_uses_full_stature():
    P = standing_person_cam(1.7, 0, 10.0)
    top = K[1, 1] * (1.0 - 1.7) / 10.0 + K[1, 2]      # head top and sole in pixels (person at depth 10)
    bottom = K[1, 1] * 1.0 / 10.0 + K[1, 2]
    e = BBoxHeightEstimator().estimate(to_keypoints(P, K), K, bbox=[600, top, 680, bottom])
    assert e.depth_m == pytest.approx(10.0, rel=1e-6)


def test_sloth_track_median_beats_single_noisy_frames():
    rng = np.random.default_rng(1)
    P = standing_person_cam(TORSO_STATURE, 0.5, 20.0)
    truth = np.linalg.norm(pelvis(P))
    frames = []
    for _ in range(15):
        kp = to_keypoints(P, K)
        kp[:, :2] += rng.normal(0, 1.5, (17, 2))
        frames.append((kp, K))
    sloth = SlothEstimator()
    single = np.array([abs(sloth.estimate(*f).distance_m - truth) for f in frames])
    for mode in ("depth", "bones"):
        e = sloth.estimate_track(frames, mode=mode)
        assert e.status == OK
        assert abs(e.distance_m - truth) < np.median(single)
    with pytest.raises(ValueError):
        sloth.estimate_track(frames, mode="mean")
    assert sloth.estimate_track([]).status == NO_ESTIMATE

