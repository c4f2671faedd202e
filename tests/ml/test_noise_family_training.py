"""fit-noise --by-family on pairs rows, then training and the holdout with the fitted file."""
import json

import numpy as np
import pytest

from deepx_addon.cli import main
from deepx_addon.core.noise import DetectorNoiseModel, person_height_px
from deepx_addon.core.sampler import sample_from_table
from deepx_addon.core.standin import stick_figure_table
from deepx_addon.core.settings import GeneratorSettings


def test_fit_noise_by_family_then_train_with_it(tmp_path):
    """fit-noise --by-family reads family and view (3D keypoints + camera R) from the rows; the
    fitted file trains a model and drives the holdout's noise."""
    from deepx_addon.core.noise_family import FamilyNoiseModel, load_noise_model
    from deepx_addon.ml import train as tr
    table = stick_figure_table(300, seed=1)
    batch = sample_from_table(table, GeneratorSettings(seed=2, cameras_per_pose=8), np.arange(len(table)))
    vis = batch.keypoints_2d[..., 2] > 0
    keep = np.flatnonzero(vis.sum(1) >= 10)
    batch = batch.take(keep)
    rows = batch.to_records(table)
    fam = np.where(np.arange(len(rows)) % 2 == 0, "crouching", "standing")
    gt = batch.keypoints_2d.astype(float)
    vis = gt[..., 2] > 0
    det = DetectorNoiseModel.default().apply(np.random.default_rng(0), gt, vis, person_height_px(gt, vis),
                                             dtype=np.float64)
    det[fam == "crouching", 11:13, 1] += 0.05 * person_height_px(gt, vis)[fam == "crouching", None]
    pairs = tmp_path / "pairs.jsonl"
    with open(pairs, "w") as fh:
        for r, g, v, d, f in zip(rows, gt, vis, det, fam):
            fh.write(json.dumps({"gt_keypoints": np.c_[g[:, :2], v].tolist(), "keypoints": d.tolist(),
                                 "detected": True, "family": str(f), "camera": {"R": r["camera"]["R"]},
                                 "keypoints_3d_cam": r["keypoints_3d_cam"]}) + "\n")
    out = tmp_path / "noise.json"
    assert main(["fit-noise", "--pairs", str(pairs), "-o", str(out), "--by-family", "--min-cell", "10"]) == 0
    m = load_noise_model(out)
    assert isinstance(m, FamilyNoiseModel)
    assert set(m.fit_stats["views"]) <= {"front", "side", "back"} and len(m.fit_stats["views"]) >= 2
    cr = m.cells[m.cell_of(np.array([100.0]), ["crouching"], ["front"])[0]]
    st = m.cells[m.cell_of(np.array([100.0]), ["standing"], ["front"])[0]]
    assert cr.bias[11, 1] - st.bias[11, 1] == pytest.approx(0.05, abs=0.01)
    d = batch.keypoints_2d
    data = tr.TrainData.from_arrays(d, batch.K, batch.distance_m, batch.depth_m, fam)
    res = tr.train(data, tr.TrainConfig(hidden=16, blocks=1, steps=3, batch_size=256, threads=1, min_person_px=0,
                                        noise_model=str(out)), progress=False)
    assert res.noise_model["format"] == "deepx-detector-noise-cells"
