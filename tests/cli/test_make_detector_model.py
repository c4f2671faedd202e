"""scripts/make_detector_model.sh end to end on a tiny run: split by pose, fine-tune with detector rows
and their exact twins, a model that loads and predicts (the shipped default's recipe, in seconds)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _pairs_rows(batch, shrink=0.95):
    """Render + detector pair rows as scripts/render_detect.py writes them, the 'detector' reading each
    person `shrink` times their true size about the keypoints' middle."""
    rows = []
    for i in range(len(batch.distance_m)):
        gt = batch.keypoints_2d[i].astype(float)
        vis = gt[:, 2] > 0
        if vis.sum() < 6:
            continue
        c = gt[vis, :2].mean(0)
        det = np.where(vis[:, None], np.c_[(gt[:, :2] - c) * shrink + c, np.full(17, 0.9)], 0.0)
        rows.append({"id": f"s{i}", "K": batch.K[i].tolist(), "image_size": [int(v) for v in batch.image_size],
                     "keypoints": det.tolist(), "gt_keypoints": gt.tolist(), "distance_m": float(batch.distance_m[i]),
                     "pose_index": int(batch.pose_index[i]), "pose_seed": int(batch.pose_index[i]) + 1000,
                     "detected": True, "family": "walking"})
    return rows


@pytest.mark.torch
def test_make_detector_model_fine_tunes_a_base_on_detector_rows(tmp_path):
    pytest.importorskip("torch")
    from deepx_addon.core import sampler as S
    from deepx_addon.core.settings import GeneratorSettings
    from deepx_addon.core.standin import stick_figure_table
    from deepx_addon.ml import train as tr
    from deepx_addon.runtime.model import LearnedEstimator

    table = stick_figure_table(60, seed=3)
    samples = tmp_path / "samples"
    S.generate(table, GeneratorSettings(cameras_per_pose=4, seed=1), samples, chunk_size=10, progress=False)
    assert len(list(samples.glob("part-0000[0-5].npz"))) == 6
    base = tr.train(tr.load_data([samples]), tr.TrainConfig(hidden=16, blocks=1, steps=5, batch_size=256,
                                                            threads=1, min_person_px=0), progress=False)
    base_json, _, _ = tr.save_result(base, tmp_path / "base")
    run = tmp_path / "run"
    (run / "pairs").mkdir(parents=True)
    batch = S.SampleBatch.load_npz(samples / "part-00000.npz")
    rows = _pairs_rows(batch)
    (run / "pairs" / "shard0of1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    env = {**os.environ, "PYTHON": sys.executable, "BASE": str(base_json), "SAMPLES": str(samples),
           "WORK": str(tmp_path / "work"), "PYTHONPATH": str(ROOT)}
    out = tmp_path / "tuned"
    p = subprocess.run(["bash", str(ROOT / "scripts" / "make_detector_model.sh"), str(out), str(run)],
                       env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "hold-out:" in p.stdout
    split = json.loads((tmp_path / "work" / "split" / "split.json").read_text())
    assert split["fit_detected"] + split["hold_detected"] == len(rows) and split["hold_detected"] > 0
    doc = json.loads(out.with_suffix(".json").read_text())
    cfg = doc["training"]["config"]
    assert cfg["detector_fraction"] == 0.3 and cfg["init_model"] == str(base_json) and cfg["steps"] == 120
    sources = [s["source"] for s in doc["training"]["data"]["sources"]]
    assert any(s.endswith("pairs_fit_det.jsonl") for s in sources) and any(s.endswith("fit_exact.jsonl") for s in sources)
    assert not any("pairs_hold" in s or "hold_exact" in s for s in sources)     # the hold-out is never read
    assert out.with_suffix(".onnx").exists()
    est = LearnedEstimator.load(out.with_suffix(".json"))
    kp = np.array(rows[0]["keypoints"])
    assert np.isfinite(est.predict_arrays(kp, np.array(rows[0]["K"]))["distance_m"]).all()
    # no arguments: the usage, exit 2
    p = subprocess.run(["bash", str(ROOT / "scripts" / "make_detector_model.sh")], env=env, capture_output=True, text=True)
    assert p.returncode == 2 and "make_detector_model.sh OUT RUN_DIR" in p.stdout
