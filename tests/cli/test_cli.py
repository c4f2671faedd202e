import json
from pathlib import Path

import pytest

from deepx_addon.cli import main
from deepx_addon.core.records import read_jsonl
from deepx_addon.core.settings import GeneratorSettings

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


def test_poses_numpy_backend_runs_without_bpy(tmp_path):
    """`deepx poses --backend numpy` needs no bpy (core/posebuild.py) and writes the table the
    in-process numpy route gives (same rows, same keypoints)."""
    import subprocess
    import sys

    import numpy as np

    from deepx_addon.core.posebuild import build_pose_table
    from deepx_addon.core.posetable import PoseTable
    out = tmp_path / "poses.npz"
    code = ("import sys; sys.modules['bpy'] = None  # import bpy fails, as without Blender\n"
            "from deepx_addon.cli import main\n"
            f"sys.exit(main(['poses', '-n', '12', '--seed', '7', '--backend', 'numpy', '--set', 'pose.p_walk=0.9', "
            f"'-o', {str(out)!r}]))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    t = PoseTable.load(out)
    ref = build_pose_table(GeneratorSettings().update(["pose.p_walk=0.9"]), n=12, seed=7)
    assert np.array_equal(t.keypoints, ref.keypoints) and list(t.family) == list(ref.family)
    assert t.meta["backend"] == "numpy" and t.meta["blender_version"] is None
    r = subprocess.run([sys.executable, "-c", code.replace("'numpy'", "'blender'")], capture_output=True, text=True)
    assert r.returncode == 2 and "bpy module is needed" in r.stderr and not Path(out).with_suffix(".tmp").exists()


def test_sample_and_generate_options_go_through_settings_update(tmp_path, capsys):
    """--set KEY=VALUE lands in the run's settings (GeneratorSettings.update), bad keys are one
    clear error, and generate's own options become the same overrides."""
    import argparse

    from deepx_addon.core.render_options import add_arguments, settings_from_args
    from deepx_addon.core.sampler import load_samples
    from deepx_addon.core.standin import stick_figure_table
    table = tmp_path / "t.npz"
    stick_figure_table(3, seed=1).save(table)
    out = tmp_path / "s"
    assert main(["sample", "--pose-table", str(table), "--out", str(out), "--cameras-per-pose", "2", "--quiet",
                 "--set", "camera.distance_m=5,5"]) == 0
    b = load_samples(out)
    assert len(b) == 6 and abs(b.distance_m - 5).max() < 1e-4
    assert main(["sample", "--pose-table", str(table), "--out", str(tmp_path / "x"), "--set", "camera.nope=1"]) == 2
    assert "unknown setting 'camera.nope'" in capsys.readouterr().err
    p = argparse.ArgumentParser()
    add_arguments(p)
    a = p.parse_args(["--out", "o", "--count", "3", "--resolution", "320x240", "--distance", "2", "9",
                      "--downscale", "0.5", "--set", "render.samples=2"])
    s = settings_from_args(a)
    assert (s.count, s.render.resolution, s.camera.image_size, s.camera.distance_m) == (3, (320, 240), (320, 240), (2.0, 9.0))
    assert s.render.downscale_levels == (1.0, 0.5) and s.render.samples == 2


def test_ray_tasks_rerun_the_same_command_line():
    """cluster.argv_of rebuilds a command's options from the parsed arguments (what every --ray task
    runs, with --shard i/N): parsed again it gives the same arguments, without the Ray options."""
    from deepx_addon.cli import cluster
    from deepx_addon.cli.main import build_parser

    p = build_parser()
    for argv in (["sample", "--pose-table", "t.npz", "--out", "o", "--image-size", "320", "240", "--set",
                  "camera.distance_m=2,40", "--set", "seed=4", "--ray", "--ray-num-cpus", "2"],
                 ["generate", "--out", "o", "--count", "7", "--depth", "--distance", "2", "9", "--ray", "h:6379",
                  "--ray-cpus-per-task", "2"],
                 ["detect", "--labels", "a", "b", "-o", "d.jsonl", "--conf", "0.2", "--ray"]):
        args = p.parse_args(argv)
        rebuilt = p.parse_args([argv[0], *cluster.argv_of(args._parser, args)])
        keep = lambda ns: {k: v for k, v in vars(ns).items() if not k.startswith(("ray", "_"))}
        assert keep(rebuilt) == keep(args) and rebuilt.ray is None
