"""The person-level size term (core/noise_scale.py): fit recovers a known per-family shrink on top
of a per-keypoint model, sampling applies it, files round-trip, fit-noise builds it."""
from __future__ import annotations

import json

import numpy as np
import pytest

from deepx_addon.cli import main
from deepx_addon.core.noise import DetectorNoiseModel, person_height_px
from deepx_addon.core.noise_family import apply_noise, load_noise_model, view_of
from deepx_addon.core.noise_scale import ScaledNoiseModel, size_log_ratio
from deepx_addon.core.standin import standin_data

SHRINK = {"crouching": 0.9, "standing": 1.0}


def _inner() -> DetectorNoiseModel:
    m = DetectorNoiseModel.default()
    m.outlier_rate = 0.0
    return m


def _scaled(gt, factor):
    """gt (n, 17, 3) scaled about the centroid of its visible keypoints by factor (n,)."""
    out = gt.copy()
    w = (gt[..., 2] > 0)[..., None].astype(float)
    c = (gt[..., :2] * w).sum(1) / w.sum(1)
    out[..., :2] = c[:, None] + (gt[..., :2] - c[:, None]) * factor[:, None, None]
    return out


@pytest.fixture(scope="module")
def pairs():
    """Rendered-like people read by a known detector: the inner model's noise on a skeleton shrunk
    to 0.9 for crouching people, kept for standing ones."""
    gt = standin_data(6000, seed=3)["keypoints_2d"].astype(float)
    h = person_height_px(gt)
    keep = h >= 60
    gt, h = gt[keep], h[keep]
    rng = np.random.default_rng(1)
    fam = rng.choice(list(SHRINK), len(gt))
    view = view_of(rng.uniform(-180, 180, len(gt)))
    factor = np.array([SHRINK[f] for f in fam])
    det = _inner().apply(np.random.default_rng(2), _scaled(gt, factor)[..., :2], gt[..., 2] > 0, h * factor,
                         dtype=np.float64)
    return gt, det, h, fam, view


def test_fit_recovers_a_known_shrink_per_family(pairs):
    gt, det, h, fam, view = pairs
    m = ScaledNoiseModel.fit(_inner(), gt, det, h, fam, view)
    for f, r in SHRINK.items():
        assert np.exp(m.cells[f][10]) == pytest.approx(r, abs=0.012), f            # the median ratio
    assert set(m.cells) >= {"", "crouching", "standing", "crouching/side"} and m.counts["crouching"] > 500
    # without the inner model's own share taken out, its jitter's spread is counted as growth
    plain = ScaledNoiseModel.fit(_inner(), gt, det, h, fam, view, relative_to_inner=False)
    assert plain.cells["standing"][10] > m.cells["standing"][10]


def test_upright_zero_keeps_only_what_a_family_adds_beyond_upright_people(pairs):
    """A detector that reads standing people 0.95x and crouching ones 0.90x: with upright_zero the
    standing cell's median is 1 (the renders' shrink of upright people is not learnt) and crouching
    keeps its extra 0.90 / 0.95; too few upright people is an error, not a silent zero."""
    gt, _det, h, fam, view = pairs
    factor = np.where(fam == "crouching", 0.90, 0.95)
    det = _inner().apply(np.random.default_rng(2), _scaled(gt, factor)[..., :2], gt[..., 2] > 0, h * factor,
                         dtype=np.float64)
    m = ScaledNoiseModel.fit(_inner(), gt, det, h, fam, view, upright_zero=True)
    assert np.exp(m.cells["standing"][10]) == pytest.approx(1.0, abs=0.006)
    assert np.exp(m.cells["crouching"][10]) == pytest.approx(0.90 / 0.95, abs=0.012)
    plain = ScaledNoiseModel.fit(_inner(), gt, det, h, fam, view)
    assert np.exp(plain.cells["standing"][10]) == pytest.approx(0.95, abs=0.012)
    crouch = fam == "crouching"
    with pytest.raises(ValueError, match="upright people"):
        ScaledNoiseModel.fit(_inner(), gt[crouch], det[crouch], h[crouch], fam[crouch], view[crouch],
                             upright_zero=True)


def test_sampling_shrinks_the_skeleton_and_is_seeded(pairs):
    gt, det, h, fam, view = pairs
    m = ScaledNoiseModel.fit(_inner(), gt, det, h, fam, view)
    a = apply_noise(m, np.random.default_rng(7), gt[..., :2], gt[..., 2] > 0, h, fam, view, dtype=np.float64)
    b = apply_noise(m, np.random.default_rng(7), gt[..., :2], gt[..., 2] > 0, h, fam, view, dtype=np.float64)
    assert np.array_equal(a, b)
    lr = size_log_ratio(gt, a)
    for f in SHRINK:        # the same shrink as the known detector's, measured the same way
        want = np.nanmedian(size_log_ratio(gt, det)[fam == f])
        assert np.nanmedian(lr[fam == f]) == pytest.approx(want, abs=0.012), f
    # an unknown family falls back to everyone
    assert m.cell_of("bending", "front") == "" and m.cell_of("crouching", "nowhere") == "crouching"


def test_files_round_trip_and_bad_cells_are_refused(pairs, tmp_path):
    gt, det, h, fam, view = pairs
    m = ScaledNoiseModel.fit(_inner(), gt, det, h, fam, view, note="test")
    path = tmp_path / "scaled.json"
    m.to_json(path)
    back = load_noise_model(path)
    assert isinstance(back, ScaledNoiseModel) and back.cells == m.cells and back.note == "test"
    x = [apply_noise(mm, np.random.default_rng(3), gt[:50, :, :2], gt[:50, :, 2] > 0, h[:50], fam[:50], view[:50])
         for mm in (m, back)]
    assert np.array_equal(x[0], x[1])
    d = json.loads(path.read_text())
    d["log_ratio_quantiles"]["crouching"] = d["log_ratio_quantiles"]["crouching"][::-1]
    with pytest.raises(ValueError, match="non-decreasing"):
        load_noise_model(json.dumps(d))
    del d["log_ratio_quantiles"][""]
    with pytest.raises(ValueError, match="all-people cell"):
        load_noise_model(json.dumps(d))


def test_fit_noise_person_scale(pairs, tmp_path, capsys):
    gt, det, h, fam, view = pairs
    src = tmp_path / "pairs.jsonl"
    with open(src, "w") as fh:
        for g, d, f in zip(gt[:1500], det[:1500], fam[:1500]):
            fh.write(json.dumps({"gt_keypoints": g.tolist(), "keypoints": d.tolist(), "detected": True,
                                 "family": f}) + "\n")
    inner = tmp_path / "inner.json"
    _inner().to_json(inner)
    out = tmp_path / "scaled.json"
    assert main(["fit-noise", "--pairs", str(src), "-o", str(out), "--person-scale", "--inner", str(inner)]) == 0
    m = load_noise_model(out)
    assert isinstance(m, ScaledNoiseModel) and isinstance(m.inner, DetectorNoiseModel)
    assert np.exp(m.cells["crouching"][10]) == pytest.approx(0.9, abs=0.02)
    assert "person scale" in capsys.readouterr().err
    assert main(["fit-noise", "--pairs", str(src), "-o", str(tmp_path / "x.json"), "--inner", str(inner)]) == 2
    assert "--person-scale" in capsys.readouterr().err and not (tmp_path / "x.json").exists()
    assert main(["fit-noise", "--pairs", str(src), "-o", str(tmp_path / "x.json"), "--hip-shift", "--upright-zero"]) == 2
    assert "--upright-zero goes with --person-scale" in capsys.readouterr().err
    before = inner.read_bytes()     # the model it wraps is an input: never the output
    assert main(["fit-noise", "--pairs", str(src), "-o", str(inner), "--person-scale", "--inner", str(inner)]) == 2
    assert inner.read_bytes() == before


# ---- where a flexed hip is read (hip_shift) ---------------------------------------------------------
def test_hip_frames_of_a_sitting_side_view():
    from deepx_addon.core.noise_scale import hip_frames
    kp = np.zeros((1, 17, 2))
    kp[0, [5, 6]] = [0.0, -10.0]            # shoulders straight above the hips (image y down)
    kp[0, [13, 14]] = [8.0, 0.0]            # thighs horizontal: 90 deg of flexion
    flex, up, perp, length = hip_frames(kp, np.ones((1, 17), bool))
    assert flex[0] == pytest.approx([90.0, 90.0]) and length[0] == pytest.approx([10.0, 10.0])
    assert up[0, 0] == pytest.approx([0.0, -1.0]) and perp[0, 0] == pytest.approx([1.0, 0.0])
    vis = np.ones((1, 17), bool)
    vis[0, 13] = False                      # no knee: no frame for that side
    flex, *_ = hip_frames(kp, vis)
    assert np.isnan(flex[0, 0]) and np.isfinite(flex[0, 1])


def _hips_up(gt, per_bin):
    """gt with each hip whose frame exists moved up the torso by per_bin x its flexion bin index
    (fractions of the 2D torso), written out here rather than through ScaledNoiseModel.shift_hips."""
    from deepx_addon.core.noise_scale import _flex_bin, hip_frames
    flex, up, _perp, length = hip_frames(gt, gt[..., 2] > 0)
    out = gt.copy()
    for j, hip in enumerate((11, 12)):
        ok = np.isfinite(flex[:, j])
        out[ok, hip, :2] += (per_bin * _flex_bin(flex[ok, j]))[:, None] * length[ok, j, None] * up[ok, j]
    return out


def test_hip_shift_is_fitted_and_applied(pairs, tmp_path):
    """Hips moved up the torso by 2 % of it per flexion bin index: the fit recovers it bin by bin,
    sampling reproduces it (through the inner model's jitter), and it survives a file round trip."""
    from deepx_addon.core.noise_scale import FLEX_EDGES_DEG, _flex_bin, fit_hip_shift, hip_frames
    gt, _det, h, fam, view = pairs
    flex, *_ = hip_frames(gt, gt[..., 2] > 0)
    det = _hips_up(gt, 0.02)
    got = np.asarray(fit_hip_shift(gt, det, h))
    counts = np.bincount(_flex_bin(flex[np.isfinite(flex)]), minlength=len(FLEX_EDGES_DEG) + 1)
    for b, n in enumerate(counts):
        want = [0.02 * b, 0.0] if n >= 30 else [0.0, 0.0]
        assert got[b] == pytest.approx(want, abs=1e-9), (b, n)
    assert (counts >= 30).sum() >= 3
    quiet = DetectorNoiseModel.default()
    quiet.outlier_rate, quiet.swap_rate = 0.0, np.zeros_like(quiet.swap_rate)
    m = ScaledNoiseModel.fit(quiet, gt, det, h, fam, view, size=False, hips=True)
    assert m.cells == {"": [0.0] * 21}
    m.to_json(tmp_path / "hips.json")
    back = load_noise_model(tmp_path / "hips.json")
    assert back.hip_shift == m.hip_shift
    drawn = back.sample(np.random.default_rng(4), gt[..., :2], gt[..., 2] > 0, h, fam, view, dtype=np.float64)
    again = np.asarray(fit_hip_shift(gt, drawn, h))
    assert again[counts >= 30, 0] == pytest.approx(got[counts >= 30, 0], abs=0.01)
    with pytest.raises(ValueError, match="hip_shift"):
        ScaledNoiseModel(quiet, {"": [0.0] * 21}, hip_shift=[[0.0, 0.0]]).validate()


def test_size_term_does_not_count_the_hip_shift_twice(pairs):
    """A detector that only moves flexed hips up the torso: fitted with both terms, the size term is
    ~1 (its reference draw moves the hips first); the hips alone would read as a shrink."""
    gt, _det, h, fam, view = pairs
    det = _inner().apply(np.random.default_rng(2), _hips_up(gt, 0.04)[..., :2], gt[..., 2] > 0, h, dtype=np.float64)
    both = ScaledNoiseModel.fit(_inner(), gt, det, h, fam, view, hips=True)
    size_only = ScaledNoiseModel.fit(_inner(), gt, det, h, fam, view)
    assert abs(both.cells[""][10]) < 0.004
    assert size_only.cells[""][10] < both.cells[""][10] - 0.004


def test_fit_noise_hip_shift_alone(pairs, tmp_path, capsys):
    gt, det, h, fam, view = pairs
    src = tmp_path / "pairs.jsonl"
    with open(src, "w") as fh:
        for g, d in zip(gt[:800], det[:800]):
            fh.write(json.dumps({"gt_keypoints": g.tolist(), "keypoints": d.tolist(), "detected": True}) + "\n")
    out = tmp_path / "hips.json"
    assert main(["fit-noise", "--pairs", str(src), "-o", str(out), "--hip-shift"]) == 0
    m = load_noise_model(out)
    assert isinstance(m, ScaledNoiseModel) and m.hip_shift is not None and m.cells == {"": [0.0] * 21}
    assert "hip shift" in capsys.readouterr().err
