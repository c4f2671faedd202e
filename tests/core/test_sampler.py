"""The no-render sampler (core/sampler.py): labels equal the geometry, seeding, files, resume, shards, CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deepx_addon.core import sampler as S
from deepx_addon.core.standin import stick_figure_table
from deepx_addon.core.keypoints import NUM_KEYPOINTS
from deepx_addon.core.posetable import PoseTable
from deepx_addon.core.records import PersonRecord, read_jsonl
from deepx_addon.core.runfolder import RunFolderError
from deepx_addon.core.settings import CameraSettings, GeneratorSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def table():
    return stick_figure_table(40, seed=1)


def _settings(**kw):
    cam = kw.pop("camera", {})
    return GeneratorSettings(cameras_per_pose=kw.pop("cameras_per_pose", 8), camera=CameraSettings(**cam), **kw)


def test_labels_equal_the_geometry(table):
    s = _settings(camera={"distance_m": (1.0, 30.0)})
    b = S.sample_from_table(table, s, np.arange(len(table)))
    n = len(table) * 8
    assert len(b) == n and b.keypoints_2d.shape == (n, NUM_KEYPOINTS, 3) and b.keypoints_3d_cam.shape == (n, 17, 3)
    R, t = b.camera["R"].astype(float), b.camera["t"].astype(float)
    world = table.keypoints[b.pose_index].astype(float)
    np.testing.assert_allclose(b.keypoints_3d_cam, np.einsum("nij,nkj->nki", R, world) + t[:, None], atol=2e-5)
    pel = 0.5 * (b.keypoints_3d_cam[:, 11].astype(float) + b.keypoints_3d_cam[:, 12])
    np.testing.assert_allclose(b.distance_m, np.linalg.norm(pel, axis=1), rtol=2e-6)
    np.testing.assert_allclose(b.depth_m, pel[:, 2], rtol=2e-6)
    assert np.all(b.depth_m > 0) and np.all((b.distance_m >= 1.0 - 1e-5) & (b.distance_m <= 30.0 + 1e-4))
    # the camera's own distance label (to the table's pelvis) agrees
    np.testing.assert_allclose(np.linalg.norm(b.camera["position"] - S.pelvis_of(world), axis=1), b.distance_m, rtol=1e-5)
    # pixels = K projection of the camera-frame points; visibility = in the frame
    K = b.K.astype(float)
    p = b.keypoints_3d_cam.astype(float)
    uv = np.stack([K[:, None, 0, 0] * p[..., 0] / p[..., 2] + K[:, None, 0, 2],
                   K[:, None, 1, 1] * p[..., 1] / p[..., 2] + K[:, None, 1, 2]], -1)
    vis = b.keypoints_2d[..., 2]
    assert set(np.unique(vis)) <= {0.0, 2.0}
    inside = (p[..., 2] > 0) & (uv[..., 0] >= 0) & (uv[..., 0] <= 640) & (uv[..., 1] >= 0) & (uv[..., 1] <= 640)
    np.testing.assert_array_equal(vis == 2, inside)
    np.testing.assert_allclose(b.keypoints_2d[..., :2][inside], uv[inside], atol=0.02)
    assert 0 < inside.mean() < 1                          # some keypoints leave the frame at 1 m
    np.testing.assert_array_equal(b.num_visible, inside.sum(1))
    # bbox of the visible keypoints
    j = int(np.argmax((b.num_visible > 3) & (b.num_visible < 17)))
    m = inside[j]
    np.testing.assert_allclose(b.bbox[j], [uv[j, m, 0].min(), uv[j, m, 1].min(), uv[j, m, 0].max(), uv[j, m, 1].max()],
                               atol=0.02)
    # the pelvis lands where the camera aimed, inside the off-centre box
    pel_uv = np.stack([K[:, 0, 0] * pel[:, 0] / pel[:, 2] + K[:, 0, 2], K[:, 1, 1] * pel[:, 1] / pel[:, 2] + K[:, 1, 2]], -1)
    np.testing.assert_allclose(pel_uv, b.camera["target_px"], atol=0.02)
    assert np.all(np.abs(pel_uv - 320) <= 0.8 * 320 + 0.02)
    # per-pose metadata
    np.testing.assert_array_equal(b.pose_index, np.repeat(np.arange(len(table)), 8))
    np.testing.assert_array_equal(b.camera_index, np.tile(np.arange(8), len(table)))
    np.testing.assert_allclose(b.stature_m, table.stature_m[b.pose_index], rtol=1e-6)
    np.testing.assert_array_equal(b.pose_seed, table.pose_seed[b.pose_index])
    assert list(b.image_size) == [640, 640] and set(b.family) == {"standing"}


def test_keypoints_behind_the_camera_are_missing():
    # a pose with keypoints 40 m out in every horizontal direction: whatever the camera, some are behind it
    kp = stick_figure_table(1, seed=2).keypoints.copy()
    kp[0, 0] = [40, 0, 1]
    kp[0, 1] = [-40, 0, 1]
    kp[0, 2] = [0, 40, 1]
    kp[0, 3] = [0, -40, 1]
    t = PoseTable(kp, [1.7], ["standing"], ["{}"], [0])
    b = S.sample_from_table(t, _settings(cameras_per_pose=50, camera={"distance_m": (2.0, 3.0), "height_m": (0.5, 2.0)}),
                            [0])
    behind = b.keypoints_3d_cam[..., 2] <= 0
    assert behind[:, :4].any(axis=1).all()
    assert np.all(b.keypoints_2d[behind] == 0)


def test_same_seed_same_samples_and_any_sample_regenerates_from_its_seed(table):
    s = _settings()
    a = S.sample_from_table(table, s, np.arange(10))
    b = S.sample_from_table(table, s, np.arange(10))
    for k, v in a.arrays().items():
        np.testing.assert_array_equal(v, b.arrays()[k], err_msg=k)
    c = S.sample_from_table(table, _settings(seed=1), np.arange(10))
    assert not np.allclose(a.distance_m, c.distance_m)
    # independent of which rows are batched together
    part = S.sample_from_table(table, s, np.arange(4, 7))
    for k, v in part.arrays().items():
        ref = a.arrays()[k] if k == "image_size" else a.arrays()[k][32:56]
        if v.dtype.kind == "f":
            np.testing.assert_allclose(v, ref, rtol=1e-6, atol=1e-6, err_msg=k)
        else:
            np.testing.assert_array_equal(v, ref, err_msg=k)
    # one sample from (pose row, its sample_seed)
    i = 37
    one = S.sample_from_table(table, _settings(cameras_per_pose=1), [a.pose_index[i]], a.sample_seed[i:i + 1])
    np.testing.assert_allclose(one.keypoints_2d[0], a.keypoints_2d[i], rtol=1e-6)
    np.testing.assert_allclose(one.distance_m[0], a.distance_m[i], rtol=1e-6)
    # a Generator gives per-sample seeds too, deterministic in the generator
    g1 = S.sample_from_table(table, s, np.arange(3), np.random.default_rng(5))
    g2 = S.sample_from_table(table, s, np.arange(3), np.random.default_rng(5))
    np.testing.assert_array_equal(g1.sample_seed, g2.sample_seed)
    with pytest.raises(S.SamplerError, match="seeds"):
        S.sample_from_table(table, s, np.arange(3), np.arange(5))
    with pytest.raises(S.SamplerError, match="out of range"):
        S.sample_from_table(table, s, [len(table)])


def test_npz_round_trip_is_exact_deterministic_and_pickle_free(table, tmp_path):
    b = S.sample_from_table(table, _settings(), np.arange(6))
    b.save_npz(tmp_path / "a.npz")
    b.save_npz(tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    with np.load(tmp_path / "a.npz", allow_pickle=False) as z:
        assert "keypoints_2d" in z.files and "camera__R" in z.files
    c = S.SampleBatch.load_npz(tmp_path / "a.npz")
    for k, v in b.arrays().items():
        np.testing.assert_array_equal(v, c.arrays()[k], err_msg=k)
        assert v.dtype == c.arrays()[k].dtype
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(S.SamplerError, match="bad.npz"):
        S.SampleBatch.load_npz(tmp_path / "bad.npz")


def test_records_are_valid_person_records_and_deepx_predict_reads_them(table, tmp_path):
    b = S.sample_from_table(table, _settings(cameras_per_pose=3), np.arange(5))
    path = tmp_path / "s.jsonl"
    assert S.write_records_jsonl(path, [b], table) == 15
    recs = read_jsonl(path)
    assert len(recs) == 15 and len({r.id for r in recs}) == 15
    r = recs[4]
    assert isinstance(r, PersonRecord) and r.reference == "pelvis"
    np.testing.assert_allclose(r.distance_m, b.distance_m[4], rtol=1e-5)
    np.testing.assert_allclose(r.height_m, table.stature_m[b.pose_index[4]], rtol=1e-4)
    vis = np.array(r.extra["visibility"])
    np.testing.assert_array_equal(r.keypoints[:, 2], (vis > 0).astype(float))
    assert np.all(r.keypoints[vis == 0] == 0)
    for k in ("family", "sample_seed", "pose_seed", "keypoints_3d_cam", "camera", "recipe", "body", "bbox_xyxy"):
        assert k in r.extra, k
    assert r.extra["sample_seed"] == int(b.sample_seed[4])
    from deepx_addon.cli import main
    out = tmp_path / "pred.jsonl"
    assert main(["predict", "-i", str(path), "-o", str(out), "-e", "shoulder_hip"]) == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 15 and all(r["status"] != "invalid_input" for r in rows)


def _files(d: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_generate_resume_is_byte_identical_and_shards_cover_every_chunk(table, tmp_path):
    s = _settings(cameras_per_pose=4)
    clean = tmp_path / "clean"
    summ = S.generate(table, s, clean, chunk_size=6, progress=False)
    assert summ["chunks_written"] == 7 and summ["complete"] and summ["samples_written"] == 160
    files = _files(clean)
    assert sorted(files) == ["manifest.json"] + [f"part-{c:05d}.npz" for c in range(7)]
    m = json.loads(files["manifest.json"])
    assert m["n_samples"] == 160 and m["chunks"][6]["rows"] == [36, 40] and m["settings"]["seed"] == 0

    # killed after 3 parts, with a half-written temp file of the next one left behind
    resumed = tmp_path / "resumed"
    assert S.generate(table, s, resumed, chunk_size=6, progress=False, max_chunks=3)["chunks_written"] == 3
    (resumed / ".part-00003.npz.abc123.tmp").write_bytes(b"partial")
    again = S.generate(table, s, resumed, chunk_size=6, progress=False)
    assert again["chunks_skipped"] == 3 and again["chunks_written"] == 4 and again["complete"]
    assert _files(resumed) == files
    assert S.generate(table, s, resumed, chunk_size=6, progress=False)["chunks_written"] == 0

    # shards 0/3, 1/3, 2/3 write every chunk exactly once, same bytes
    sharded = tmp_path / "sharded"
    written = []
    for i in range(3):
        summ = S.generate(table, s, sharded, shard=f"{i}/3", chunk_size=6, progress=False)
        written += S.shard_chunks(7, (i, 3))
        assert summ["chunks_written"] == len(S.shard_chunks(7, (i, 3)))
    assert sorted(written) == list(range(7))
    assert _files(sharded) == files
    loaded = S.load_samples(sharded)
    np.testing.assert_array_equal(loaded.sample_seed, S.sample_from_table(table, s, np.arange(40)).sample_seed)

    # an output folder of another run is refused
    with pytest.raises(S.SamplerError, match="settings"):
        S.generate(table, _settings(cameras_per_pose=4, seed=3), clean, chunk_size=6, progress=False)
    with pytest.raises(S.SamplerError, match="chunk_size"):
        S.generate(table, s, clean, chunk_size=5, progress=False)
    with pytest.raises(RunFolderError, match="i/N"):
        S.generate(table, s, clean, shard="1of3", chunk_size=6, progress=False)
    with pytest.raises(RunFolderError, match="0 <= i < N"):
        S.parse_shard("3/3")


def test_cli_sample_in_a_fresh_process_matches_and_resumes(table, tmp_path):
    """A fresh interpreter (nothing computed before) writes the same bytes as this process."""
    tpath = tmp_path / "table.npz"
    table.save(tpath)
    loaded = PoseTable.load(tpath)
    S.generate(loaded, _settings(cameras_per_pose=4, seed=11), tmp_path / "here", chunk_size=16, progress=False)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-c", "import sys; from deepx_addon.cli import main; sys.exit(main())", "sample", "--pose-table", str(tpath), "--out",
           str(tmp_path / "cli"), "--cameras-per-pose", "4", "--seed", "11", "--chunk-size", "16",
           "--jsonl", str(tmp_path / "cli.jsonl")]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "160 samples" in p.stderr and "3 chunks written" in p.stderr
    assert _files(tmp_path / "cli") == _files(tmp_path / "here")
    assert len(read_jsonl(tmp_path / "cli.jsonl")) == 160
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert p.returncode == 0 and "0 chunks written, 3 already done" in p.stderr
    p = subprocess.run(cmd[:-2] + ["--seed", "12"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert p.returncode == 2 and "different run" in p.stderr
    p = subprocess.run(cmd[:4] + ["--pose-table", str(tmp_path / "nope.npz"), "--out", str(tmp_path / "x")],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert p.returncode == 2 and "no such file" in p.stderr
