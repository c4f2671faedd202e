"""deepx fit-noise --phantoms: joints outside the picture that the detector still reports, fitted from pairs."""
from __future__ import annotations

import json

import numpy as np
import pytest

from deepx_addon.cli import main
from deepx_addon.core.noise import DetectorNoiseModel, person_height_px
from deepx_addon.core.standin import standin_data


def _pairs(tmp_path, with_size=True, n=1500):
    rng = np.random.default_rng(2)
    kp = standin_data(n, seed=4)["keypoints_2d"].astype(float)
    h = person_height_px(kp)
    kp[..., 0] += rng.uniform(-0.4, 0.4, (n, 1)) * 640
    inside = (kp[..., 0] >= 0) & (kp[..., 0] <= 639) & (kp[..., 1] >= 0) & (kp[..., 1] <= 479)
    vis = inside & (kp[..., 2] > 0)
    truth = DetectorNoiseModel.default()
    truth.phantom_rate, truth.phantom_conf_logit, truth.phantom_inset = 0.5, -0.3, 0.02
    det = truth.apply(np.random.default_rng(0), kp, vis, h, dtype=np.float64, image_size=[640, 480])
    path = tmp_path / "pairs.jsonl"
    with open(path, "w") as fh:
        for g, v, d in zip(kp, vis, det):
            row = {"gt_keypoints": np.c_[g[:, :2], v].tolist(), "keypoints": d.tolist(), "detected": True}
            if with_size:
                row["image_size"] = [640, 480]
            fh.write(json.dumps(row) + "\n")
    return path


def test_fit_noise_phantoms(tmp_path):
    out = tmp_path / "noise.json"
    assert main(["fit-noise", "--pairs", str(_pairs(tmp_path)), "-o", str(out), "--phantoms"]) == 0
    m = DetectorNoiseModel.from_json(out)
    assert m.phantom_rate == pytest.approx(0.5, abs=0.05)
    assert m.phantom_inset == pytest.approx(0.02, abs=0.005)
    plain = tmp_path / "plain.json"
    assert main(["fit-noise", "--pairs", str(tmp_path / "pairs.jsonl"), "-o", str(plain)]) == 0
    assert DetectorNoiseModel.from_json(plain).phantom_rate == 0.0           # only when asked


def test_fit_noise_phantoms_needs_image_sizes(tmp_path, capsys):
    out = tmp_path / "noise.json"
    assert main(["fit-noise", "--pairs", str(_pairs(tmp_path, with_size=False)), "-o", str(out), "--phantoms"]) == 2
    assert "image_size" in capsys.readouterr().err
    assert not out.exists()
