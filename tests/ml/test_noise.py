"""The detector noise model: sampling is deterministic and matches its parameters; fit() recovers them."""
from __future__ import annotations

import json

import numpy as np
import pytest

from deepx_addon.core.noise import PAIRS, DetectorNoiseModel, person_height_px
from deepx_addon.core.standin import standin_data


@pytest.fixture(scope="module")
def people():
    d = standin_data(30000, seed=3)
    gt = d["keypoints_2d"].astype(float)
    return gt, person_height_px(gt)


def _known_model(seed=1) -> DetectorNoiseModel:
    rng = np.random.default_rng(seed)
    m = DetectorNoiseModel.default()
    m.jitter = m.jitter * rng.uniform(0.7, 1.3, 17)
    m.bias = rng.normal(0, 0.01, (17, 2))
    m.floor_px = 2.0
    m.miss_logit = m.miss_logit + rng.normal(0, 0.3, 17)
    m.miss_slope = -0.7
    m.swap_rate = rng.uniform(0.01, 0.05, len(PAIRS))
    m.conf_logit = rng.normal(1.5, 0.5, 17)
    m.conf_slope, m.conf_sd = 0.3, 0.6
    m.outlier_rate, m.outlier_scale = 0.03, 0.15
    return m


def test_person_height_px():
    kp = np.zeros((2, 17, 3))
    kp[0, :, 0] = np.linspace(10, 40, 17)
    kp[0, :, 1] = np.linspace(100, 300, 17)
    kp[0, :, 2] = 2
    kp[1, :2] = [[5, 5, 1], [50, 15, 1]]       # wider than tall: the larger side counts
    h = person_height_px(kp)
    assert h.tolist() == [200.0, 45.0]
    assert person_height_px(np.zeros((1, 17, 3))).tolist() == [1.0]   # nothing visible: the floor


def test_apply_is_deterministic_and_respects_visibility(people):
    gt, h = people
    gt, h = gt[:500], h[:500]
    m = DetectorNoiseModel.default()
    vis = gt[..., 2] > 0
    a = m.apply(np.random.default_rng(7), gt, vis, h)
    b = m.apply(np.random.default_rng(7), gt, vis, h)
    c = m.apply(np.random.default_rng(8), gt, vis, h)
    assert a.shape == (500, 17, 3) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    m.swap_rate[:] = 0                                              # (a swap moves a label onto an unseen slot)
    d = m.apply(np.random.default_rng(7), gt, vis, h)
    assert np.all(d[~vis] == 0)                                     # unseen keypoints stay missing
    kept = a[..., 2] > 0
    assert np.all(a[..., 2][kept] >= m.miss_conf) and np.all(a[..., 2] <= 1)
    assert np.all(np.isfinite(a))


def test_apply_matches_its_parameters():
    """Missing rate and jitter SD of the samples agree with the model's formulas."""
    m = DetectorNoiseModel.default()
    m.swap_rate[:] = 0
    m.outlier_rate = 0.0
    n = 40000
    gt = np.zeros((n, 17, 3))
    gt[..., 0] = np.arange(17) * 10.0
    gt[..., 1] = 500.0
    gt[..., 2] = 2
    h = np.full(n, 50.0)
    out = m.apply(np.random.default_rng(0), gt, gt[..., 2] > 0, h, dtype=np.float64)
    got = out[..., 2] > 0
    np.testing.assert_allclose(1 - got.mean(0), m.miss_prob(h[:1])[0], atol=0.01)
    err = out[..., :2] - gt[..., :2] - m.bias * 50.0
    sd = np.array([err[got[:, k], k].std() for k in range(17)])
    np.testing.assert_allclose(sd, m.expected_sd_px(h[:1])[0], rtol=0.03)


def test_json_round_trip(tmp_path):
    m = _known_model()
    p = tmp_path / "noise.json"
    m.to_json(p)
    back = DetectorNoiseModel.from_json(p)
    assert json.loads(back.to_json()) == json.loads(m.to_json())
    assert DetectorNoiseModel.from_json(m.to_json()).floor_px == m.floor_px
    d = m.to_dict()
    d["bogus"] = 1
    with pytest.raises(ValueError, match="bogus"):
        DetectorNoiseModel.from_dict(d)
    with pytest.raises(ValueError, match="not a deepx-detector-noise"):
        DetectorNoiseModel.from_dict({"format": "x"})
    with pytest.raises(ValueError, match="probabilities"):
        DetectorNoiseModel(**{**{k: v for k, v in m.__dict__.items()}, "outlier_rate": 2.0})


def test_fit_recovers_known_parameters(people):
    gt, h = people
    true = _known_model()
    det = true.apply(np.random.default_rng(2), gt, gt[..., 2] > 0, h, dtype=np.float64)
    fit = DetectorNoiseModel.fit(gt, det, h)
    # jitter + floor: the modelled SD in pixels over the range of sizes (a face keypoint's own
    # jitter hides under the floor for most sizes, so compare what the model predicts)
    sizes = np.array([15.0, 30, 60, 120, 250])
    np.testing.assert_allclose(fit.expected_sd_px(sizes), true.expected_sd_px(sizes), rtol=0.06)
    np.testing.assert_allclose(fit.jitter[5:], true.jitter[5:], rtol=0.06)    # body keypoints
    assert abs(fit.floor_px - true.floor_px) < 0.3
    np.testing.assert_allclose(fit.bias, true.bias, atol=0.003)
    assert abs(fit.outlier_rate - true.outlier_rate) < 0.006
    assert abs(fit.outlier_scale - true.outlier_scale) < 0.02
    np.testing.assert_allclose(fit.miss_logit, true.miss_logit, atol=0.15)
    assert abs(fit.miss_slope - true.miss_slope) < 0.05
    np.testing.assert_allclose(fit.conf_logit, true.conf_logit, atol=0.03)
    assert abs(fit.conf_slope - true.conf_slope) < 0.02 and abs(fit.conf_sd - true.conf_sd) < 0.02
    # swap rates: within 3 binomial standard errors of the pairs that can be told apart
    n_id = np.array(fit.fit_stats["swap_identifiable"])
    se = np.sqrt(true.swap_rate * (1 - true.swap_rate) / np.maximum(n_id, 1))
    assert np.all(np.abs(fit.swap_rate - true.swap_rate) <= 3 * se + 0.003), (fit.swap_rate, true.swap_rate)
    # and the fitted model reproduces the observation table
    t = fit.error_table(gt, det, h)
    ok = t["count"] >= 200
    assert np.nanmax(np.abs(t["obs_sd_px"][ok] / t["model_sd_px"][ok] - 1)) < 0.15


def test_fit_rejects_bad_input():
    with pytest.raises(ValueError, match="fit needs"):
        DetectorNoiseModel.fit(np.zeros((3, 17, 3)), np.zeros((3, 17, 2)), np.ones(3))
    bad = np.zeros((3, 17, 3))
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        DetectorNoiseModel.fit(bad, np.zeros((3, 17, 3)), np.ones(3))


def test_noise_plot(people, tmp_path):
    pytest.importorskip("matplotlib")
    from deepx_addon.ml.noise_plot import plot_noise_fit
    gt, h = people
    m = DetectorNoiseModel.default()
    det = m.apply(np.random.default_rng(0), gt[:3000], gt[:3000, :, 2] > 0, h[:3000], dtype=np.float64)
    p = plot_noise_fit(m, gt[:3000], det, h[:3000], tmp_path / "noise.png")
    assert p.stat().st_size > 10_000


def _cut_people(n=4000, seed=5, W=640, H=480):
    """Standing-ish people partly outside a W x H picture: their true projections, visibility 0 outside."""
    rng = np.random.default_rng(seed)
    d = standin_data(n, seed=seed)
    kp = d["keypoints_2d"].astype(float)
    h = person_height_px(kp)
    kp[..., 0] += rng.uniform(-0.4, 0.4, (n, 1)) * W            # push some people across the borders
    kp[..., 1] += rng.uniform(-0.4, 0.4, (n, 1)) * H
    inside = (kp[..., 0] >= 0) & (kp[..., 0] <= W - 1) & (kp[..., 1] >= 0) & (kp[..., 1] <= H - 1)
    vis = inside & (kp[..., 2] > 0)
    return kp, vis, h, np.tile([W, H], (n, 1)).astype(float)


def test_phantoms_off_leave_the_draws_unchanged():
    """Without phantoms (rate 0, every older model) or without image sizes the output is the old one."""
    kp, vis, h, wh = _cut_people(500)
    m = _known_model()
    a = m.apply(np.random.default_rng(0), kp, vis, h)
    b = m.apply(np.random.default_rng(0), kp, vis, h, image_size=wh)          # rate 0
    m.phantom_rate, m.phantom_inset = 0.5, 0.03
    c = m.apply(np.random.default_rng(0), kp, vis, h)                          # no sizes
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    old = {k: v for k, v in _known_model().to_dict().items() if not k.startswith("phantom_")}
    assert DetectorNoiseModel.from_dict(old).phantom_rate == 0.0               # older JSON files load


def test_phantoms_sit_inside_near_the_border_and_fit_recovers_them():
    kp, vis, h, wh = _cut_people()
    m = _known_model()
    m.phantom_rate, m.phantom_conf_logit, m.phantom_inset = 0.6, -0.5, 0.03
    m.swap_rate[:] = 0.0              # a swap moves a seen label onto an outside joint: keep slots fixed
    plain = m.apply(np.random.default_rng(1), kp, vis, h)
    out = m.apply(np.random.default_rng(1), kp, vis, h, image_size=wh)
    np.testing.assert_array_equal(out[vis], plain[vis])                        # seen joints untouched
    outside = ~vis
    ph = outside & (out[..., 2] > 0)
    assert outside.sum() > 5000 and abs(ph.sum() / outside.sum() - 0.6) < 0.03
    x, y = out[..., 0][ph], out[..., 1][ph]
    assert x.min() >= 0 and x.max() <= 639 and y.min() >= 0 and y.max() <= 479
    border = np.minimum(np.minimum(x, 639 - x), np.minimum(y, 479 - y))
    assert 0.02 * 640 < border.mean() < 0.04 * 640
    fit = DetectorNoiseModel.fit_phantoms(np.concatenate([kp[..., :2], vis[..., None]], -1), out, wh)
    assert fit["phantom_rate"] == pytest.approx(ph.sum() / (~vis).sum(), abs=1e-9)
    assert fit["phantom_inset"] == pytest.approx(0.03, abs=0.006)
    assert fit["phantom_conf_logit"] == pytest.approx(-0.5, abs=0.1)
