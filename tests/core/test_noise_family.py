"""The per-family/view noise model: fit recovers a known noise incl. its correlation; sampling
reproduces per-family bias; seeded; sparse cells fall back to their parent."""
from __future__ import annotations

import numpy as np
import pytest

from deepx_addon.core.keypoints import NUM_KEYPOINTS
from deepx_addon.core.noise import DetectorNoiseModel, person_height_px
from deepx_addon.core.noise_family import (FamilyNoiseModel, NoiseCell, apply_noise, load_noise_model,
                                           view_of)
from deepx_addon.core.standin import standin_data

HIPS = (11, 12)


@pytest.fixture(scope="module")
def people():
    d = standin_data(24000, seed=5)
    gt = d["keypoints_2d"].astype(float)
    h = person_height_px(gt)
    keep = h >= 40
    rng = np.random.default_rng(0)
    fam = rng.choice(["standing", "crouching"], len(gt))
    view = view_of(rng.uniform(-180, 180, len(gt)))
    return gt[keep], h[keep], fam[keep], view[keep]


def _known(seed=2) -> FamilyNoiseModel:
    """Root: independent jitter. Crouching: hips pushed 4 % of size down, with a shared per-person
    hip offset (both hips move together: correlation 0.8 on each axis)."""
    base = DetectorNoiseModel.default()
    base.outlier_rate, base.floor_px = 0.0, 0.0
    sd = 0.02

    def cell(n, bias, hip_shared):
        L = np.zeros((2 * NUM_KEYPOINTS, 2))
        d = np.full(2 * NUM_KEYPOINTS, sd ** 2)
        if hip_shared:
            for ax in (0, 1):
                for k in HIPS:
                    L[2 * k + ax, ax] = sd * np.sqrt(0.8)
                    d[2 * k + ax] = sd ** 2 * 0.2
        return NoiseCell(n, bias, L, d, np.full(NUM_KEYPOINTS, 0.02), np.zeros(8))
    crouch_bias = np.zeros((NUM_KEYPOINTS, 2))
    crouch_bias[list(HIPS), 1] = 0.04
    cells = {"": cell(1, np.zeros((NUM_KEYPOINTS, 2)), False)}
    cells["crouching"] = cell(1, crouch_bias, True)
    return FamilyNoiseModel(base, cells, h0_px=0.0)


def _corr_hips(gt, det, h, sel):
    e = (det[sel, :, :2] - gt[sel, :, :2]) / h[sel, None, None]
    ok = (det[sel, 11, 2] > 0) & (det[sel, 12, 2] > 0) & (gt[sel, 11, 2] > 0) & (gt[sel, 12, 2] > 0)
    return np.corrcoef(e[ok, 11, 1], e[ok, 12, 1])[0, 1]


def test_sampling_is_seeded_and_follows_cells(people):
    gt, h, fam, view = people
    m = _known()
    a = m.apply(np.random.default_rng(7), gt, gt[..., 2] > 0, h, fam, view)
    b = m.apply(np.random.default_rng(7), gt, gt[..., 2] > 0, h, fam, view)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, m.apply(np.random.default_rng(8), gt, gt[..., 2] > 0, h, fam, view))
    assert (a[..., 2] > 0).sum() < (gt[..., 2] > 0).sum()          # misses; nothing unseen appears
    assert np.all(a[(gt[..., 2] == 0).all(1)] == 0)
    cr, st = fam == "crouching", fam == "standing"
    dy = (a[..., 11, 1] - gt[..., 11, 1]) / h
    ok = a[..., 11, 2] > 0
    assert np.median(dy[cr & ok]) == pytest.approx(0.04, abs=0.003)
    assert np.median(dy[st & ok]) == pytest.approx(0.0, abs=0.003)
    assert _corr_hips(gt, a, h, cr) == pytest.approx(0.8, abs=0.05)
    assert abs(_corr_hips(gt, a, h, st)) < 0.06
    # rows of an unknown family use the root cell
    assert m.cell_of(np.array([100.0]), ["kneeling"], ["side"]) == [""]


def test_fit_recovers_bias_and_correlation_and_sampling_reproduces_them(people, tmp_path):
    gt, h, fam, view = people
    det = _known().apply(np.random.default_rng(1), gt, gt[..., 2] > 0, h, fam, view)
    fit = FamilyNoiseModel.fit(gt, det, h, fam, view, shrink=20, min_cell=50)
    assert fit.fit_stats["n_people"] == len(gt)
    key = fit.cell_of(np.array([100.0]), ["crouching"], ["front"])[0]
    assert key.startswith("crouching/front")
    c = fit.cells[key]
    assert c.bias[11, 1] == pytest.approx(0.04, abs=0.004)
    assert c.bias[5, 1] == pytest.approx(0.0, abs=0.004)
    cov = c.covariance()
    r = cov[23, 25] / np.sqrt(cov[23, 23] * cov[25, 25])     # y of left hip vs y of right hip
    assert r == pytest.approx(0.8, abs=0.1)
    st = fit.cells[fit.cell_of(np.array([100.0]), ["standing"], ["side"])[0]].covariance()
    assert abs(st[23, 25] / np.sqrt(st[23, 23] * st[25, 25])) < 0.15
    assert np.sqrt(cov[10, 10]) == pytest.approx(0.02, rel=0.15)       # shoulder x jitter
    # sampling the fitted model reproduces the observed per-family bias
    path = tmp_path / "fam.json"
    fit.to_json(path)
    again = load_noise_model(path)
    assert isinstance(again, FamilyNoiseModel) and set(again.cells) == set(fit.cells)
    re = apply_noise(again, np.random.default_rng(3), gt, gt[..., 2] > 0, h, fam, view)
    for f in ("crouching", "standing"):
        sel = (fam == f) & (re[:, 11, 2] > 0) & (det[:, 11, 2] > 0)
        obs = np.median((det[sel, 11, 1] - gt[sel, 11, 1]) / h[sel])
        sim = np.median((re[sel, 11, 1] - gt[sel, 11, 1]) / h[sel])
        assert sim == pytest.approx(obs, abs=0.004)
    # a plain DetectorNoiseModel file still loads through the same door
    DetectorNoiseModel.default().to_json(tmp_path / "plain.json")
    assert isinstance(load_noise_model(tmp_path / "plain.json"), DetectorNoiseModel)


def test_sparse_cells_shrink_to_their_parent(people):
    gt, h, fam, view = people
    det = _known().apply(np.random.default_rng(1), gt, gt[..., 2] > 0, h, fam, view)
    # 30 crouching people among thousands standing: their cell is pulled towards its parent
    idx = np.r_[np.flatnonzero(fam == "standing"), np.flatnonzero(fam == "crouching")[:30]]
    few = FamilyNoiseModel.fit(gt[idx], det[idx], h[idx], fam[idx], np.full(len(idx), "front"),
                               shrink=200, min_cell=5)
    keys = [k for k in few.cells if k.startswith("crouching")]
    assert keys
    for k in keys:
        assert few.cells[k].bias[11, 1] < 0.5 * 0.04       # mostly the (unbiased) parent
    with pytest.raises(ValueError, match="one entry per person"):
        FamilyNoiseModel.fit(gt[:10], det[:10], h[:10], fam[:9], view[:10])


def test_view_of():
    assert view_of([0, 44, 46, 134, 136, -170, 200, np.nan]).tolist() == [
        "front", "front", "side", "side", "back", "back", "back", "unknown"]


def test_relative_yaw_from_3d_keypoints():
    """A person at the origin turned by yaw, seen by a level camera on the world -Y axis."""
    from deepx_addon.core.cameras import rotation_from_angles
    from deepx_addon.core.noise_family import relative_yaw_deg, view_of_row
    base = np.zeros((17, 3))
    base[[5, 11], 0], base[[6, 12], 0] = 0.15, -0.15      # facing -Y: the person's left is world +X
    base[[5, 6], 2], base[[11, 12], 2] = 1.4, 0.9
    R = rotation_from_angles(90.0, 0.0)                     # camera looks along +Y from (0, -5, 1)
    cam = np.array([0.0, -5.0, 1.0])
    out = []
    for yaw in (0.0, 60.0, 180.0, -90.0):
        c, s = np.cos(np.radians(yaw)), np.sin(np.radians(yaw))
        Rz = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
        k_cam = (R @ ((base @ Rz.T) - cam).T).T
        out.append(relative_yaw_deg(k_cam[None], R[None])[0])
    # turning the person counter-clockwise (seen from above) shows the camera its right side
    assert np.allclose(np.abs(out), [0, 60, 180, 90], atol=1e-6)
    assert out[1] > 0
    row = {"keypoints_3d_cam": k_cam.tolist(), "camera": {"R": R.tolist()}}
    assert view_of_row(row) == "side" and view_of_row({"view": "back"}) == "back"
    assert view_of_row({"camera": {"person_yaw_deg": 170}}) == "back"
