import json

import pytest

from deepx_addon.ml.cli import main
from deepx_addon.core.records import read_jsonl

ESTIMATORS = ["bbox", "shoulder_hip", "sloth", "default"]


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_predict_one_row_per_input_row_on_real_files(real_data, tmp_path, estimator):
    for name in ("kitti_train.jsonl", "h36m_3dhp_images.jsonl"):
        src = real_data / name
        out = tmp_path / f"{estimator}_{name}"
        assert main(["predict", "--input", str(src), "--output", str(out), "--estimator", estimator]) == 0
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        ids = [r.id for r in read_jsonl(src)]
        assert [r["id"] for r in rows] == ids
        for r in rows:
            assert set(r) == {"id", "distance_m", "depth_m", "sigma_m", "status", "reason"}
            if r["distance_m"] is None:
                assert r["reason"]
            else:
                assert r["distance_m"] >= r["depth_m"] > 0


def test_predict_keeps_invalid_rows_with_a_reason(real_data, tmp_path, capsys):
    lines = (real_data / "h36m_3dhp_images.jsonl").read_text().splitlines()[:2]
    bad = json.loads(lines[1])
    bad["keypoints"] = bad["keypoints"][:15]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join([lines[0], json.dumps(bad), "{oops"]) + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["predict", "-i", str(src), "-o", str(out), "-e", "sloth"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 3
    assert rows[0]["status"] == "ok" and rows[0]["distance_m"] > 0
    assert rows[1]["id"] == bad["id"] and rows[1]["status"] == "invalid_input"
    assert "keypoints" in rows[1]["reason"] and "expected 17" in rows[1]["reason"]
    assert rows[2]["id"] is None and "not valid JSON" in rows[2]["reason"]
    assert "in.jsonl:2" in capsys.readouterr().err


def test_predict_user_errors_exit_2(tmp_path, capsys):
    assert main(["predict", "-i", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "o.jsonl")]) == 2
    assert "cannot read file" in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()
    f = tmp_path / "same.jsonl"
    f.write_text("")
    assert main(["predict", "-i", str(f), "-o", str(f)]) == 2
    assert main(["predict", "-i", str(f), "-o", str(tmp_path / "o.jsonl"), "-e", "nope"]) == 2
    assert "unknown estimator" in capsys.readouterr().err


def test_evaluate_prints_table_writes_json_and_plot(real_data, tmp_path, capsys):
    js, png = tmp_path / "m.json", tmp_path / "p.png"
    assert main(["evaluate", "-i", str(real_data / "kitti_train.jsonl"), "-e", "shoulder_hip,sloth",
                 "--json", str(js), "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "shoulder_hip" in out and "10-20m" in out
    rep = json.loads(js.read_text())
    sh = rep["estimators"]["shoulder_hip"]["distance"]["all"]
    # the sanity anchor of examples/real/PROVENANCE.md: 1.34 m ALE, 8.1 % mean relative error
    assert sh["ale_m"] == pytest.approx(1.34, abs=0.01) and sh["mean_rel"] == pytest.approx(0.081, abs=0.001)
    assert png.stat().st_size > 10_000
