"""Faults and bad inputs (issue 11), without the detector: outputs never land on inputs, the atomic
writer and non-regular files, folder locks, unwritable outputs found before the work, damaged
JSONL, bad settings and presets, impossible cameras and keypoints, framing statuses in predict.
Each test failed before its fix. Fuzzing with hypothesis: the JSONL reader, settings, camera checks."""
from __future__ import annotations

import json
import math
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from deepx_addon.core import outputs
from deepx_addon.core.camera import CameraError, Intrinsics, camera_problem, vector_camera_ok
from deepx_addon.core.records import PersonRecord, RecordError, atomic_write_text, iter_chunks, iter_jsonl
from deepx_addon.core.sampler import sample_from_table
from deepx_addon.core.standin import stick_figure_table
from deepx_addon.core.settings import GeneratorSettings, SettingsError
from deepx_addon.cli import main

ROOT = Path(__file__).resolve().parents[2]
LEAN = ("id", "image_size", "K", "keypoints", "distance_m", "depth_m", "height_m", "family")


@pytest.fixture(scope="module")
def rows():
    """Valid keypoint rows of standing stand-in people, near enough to be whole in the frame."""
    table = stick_figure_table(8, seed=3)
    s = GeneratorSettings(cameras_per_pose=8)
    s.camera.distance_m = (4.0, 8.0)
    s.camera.off_centre = 0.0
    recs = sample_from_table(table, s, np.arange(8)).to_records(table)
    return [{k: r[k] for k in LEAN} for r in recs]


def _write(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# ---- data loss ------------------------------------------------------------------------------------
def test_evaluate_json_onto_its_input_is_refused_and_the_input_kept(rows, tmp_path, capsys):
    src = _write(tmp_path / "in.jsonl", rows[:5])
    before = src.read_bytes()
    assert main(["evaluate", "-i", str(src), "-e", "bbox", "--json", str(src)]) == 2
    assert "is the input" in capsys.readouterr().err and src.read_bytes() == before


def test_outputs_through_symlinks_and_hard_links_are_the_input(rows, tmp_path, capsys):
    src = _write(tmp_path / "in.jsonl", rows[:3])
    before = src.read_bytes()
    (tmp_path / "link.jsonl").symlink_to(src)
    os.link(src, tmp_path / "hard.jsonl")
    for out in ("link.jsonl", "hard.jsonl"):
        assert main(["predict", "-i", str(src), "-o", str(tmp_path / out), "-e", "bbox"]) == 2
        assert "is the input" in capsys.readouterr().err
    assert src.read_bytes() == before


def test_detect_never_writes_over_or_into_the_render_folder(tmp_path, capsys):
    render = tmp_path / "render"
    render.mkdir()
    labels = render / "labels.jsonl"
    labels.write_text('{"id": "s1", "image": "x.png", "keypoints": []}\n')
    before = labels.read_bytes()
    for out in (labels, render / "detections.jsonl"):
        assert main(["detect", "--labels", str(render), "-o", str(out)]) == 2
        assert "input" in capsys.readouterr().err
    assert labels.read_bytes() == before and sorted(p.name for p in render.iterdir()) == ["labels.jsonl"]


def test_estimate_refuses_inputs_inside_its_output_folder_and_the_reverse(tmp_path, capsys):
    out = tmp_path / "out"
    (out / "annotated").mkdir(parents=True)
    photo = out / "annotated" / "me.jpg"
    photo.write_bytes(b"\xff\xd8\xff original photo")
    assert main(["estimate", str(photo), "--fov", "60", "--out", str(out)]) == 2
    assert "inside the output folder" in capsys.readouterr().err
    assert photo.read_bytes() == b"\xff\xd8\xff original photo"
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.jpg").write_bytes(b"x")
    assert main(["estimate", str(photos), "--fov", "60", "--out", str(photos / "runs")]) == 2
    assert "inside the input folder" in capsys.readouterr().err and not (photos / "runs").exists()


def test_atomic_writer_refuses_devices_and_folders_and_writes_through_symlinks(tmp_path, rows, capsys):
    with pytest.raises(outputs.OutputError, match="not a regular file"):
        atomic_write_text("/dev/full", "x")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)          # still the device, not a file
    src = _write(tmp_path / "in.jsonl", rows[:2])
    assert main(["predict", "-i", str(src), "-o", "/dev/full", "-e", "bbox"]) == 2
    assert "not a regular file" in capsys.readouterr().err
    (tmp_path / "folder").mkdir()
    with pytest.raises(outputs.OutputError, match="is a folder"):
        atomic_write_text(tmp_path / "folder", "x")
    target = tmp_path / "real.txt"
    target.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    atomic_write_text(link, "new")
    assert link.is_symlink() and target.read_text() == "new"


def test_evaluate_inputs_with_the_same_stem_keep_their_own_metrics(rows, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = _write(tmp_path / "a" / "test.jsonl", rows[:4])
    b = _write(tmp_path / "b" / "test.jsonl", rows[4:20])
    assert main(["evaluate", "-i", str(a), "-i", str(b), "-e", "bbox", "--json", str(tmp_path / "m.json")]) == 0
    ma, mb = (json.loads((tmp_path / n).read_text()) for n in ("m_test.json", "m_test_2.json"))
    assert ma["input"] == str(a) and mb["input"] == str(b)
    assert ma["estimators"]["bbox"]["distance"]["all"]["n"] == 4 and mb["estimators"]["bbox"]["distance"]["all"]["n"] == 16


def _table_file(tmp_path) -> Path:
    p = tmp_path / "table.npz"
    stick_figure_table(40, seed=2).save(p)
    return p


def test_sample_into_a_folder_another_run_holds_is_refused(tmp_path, capsys):
    table = _table_file(tmp_path)
    out = tmp_path / "out"
    with outputs.folder_lock(out):
        assert main(["sample", "--pose-table", str(table), "--out", str(out), "--seed", "1", "--quiet"]) == 2
    assert "in use by another" in capsys.readouterr().err and not (out / "manifest.json").exists()
    assert main(["sample", "--pose-table", str(table), "--out", str(out), "--seed", "1", "--quiet"]) == 0


def test_two_concurrent_samples_never_mix_seeds_in_one_folder(tmp_path):
    table = _table_file(tmp_path)
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = lambda seed: [sys.executable, "-m", "deepx_addon.cli", "sample", "--pose-table", str(table),  # noqa: E731
                        "--out", str(out), "--seed", str(seed), "--chunk-size", "2", "--quiet"]
    for trial in range(3):
        shutil.rmtree(out, ignore_errors=True)
        procs = [subprocess.Popen(cmd(s), env=env, stderr=subprocess.PIPE, text=True) for s in (1, 2)]
        rcs = [p.wait(timeout=120) for p in procs]
        assert sorted(rcs) == [0, 2], (rcs, [p.stderr.read() for p in procs])
        from deepx_addon.core.sampler import load_samples, read_manifest
        seed = read_manifest(out)["settings"]["seed"]
        assert {b.meta["seed"] for b in [load_samples(out)]} == {seed}


def test_a_finished_part_of_another_run_is_not_skipped(tmp_path):
    from deepx_addon.core import sampler as S
    table = stick_figure_table(12, seed=2)
    a, b = GeneratorSettings(cameras_per_pose=2, seed=1), GeneratorSettings(cameras_per_pose=2, seed=2)
    S.generate(table, a, tmp_path / "a", chunk_size=4, progress=False)
    S.generate(table, b, tmp_path / "b", chunk_size=4, progress=False)
    shutil.copy(tmp_path / "b" / "part-00001.npz", tmp_path / "a" / "part-00001.npz")
    with pytest.raises(S.SamplerError, match="another run"):
        S.generate(table, a, tmp_path / "a", chunk_size=4, progress=False)


# ---- unwritable outputs: found before the work ---------------------------------------------------------
def test_output_under_a_file_or_a_folder_as_output_fail_before_the_work(rows, tmp_path, capsys):
    src = _write(tmp_path / "in.jsonl", rows[:2])
    (tmp_path / "afile").write_text("x")
    assert main(["predict", "-i", str(src), "-o", str(tmp_path / "afile" / "o.jsonl"), "-e", "bbox"]) == 2
    assert "cannot write" in capsys.readouterr().err
    (tmp_path / "adir").mkdir()
    assert main(["predict", "-i", str(src), "-o", str(tmp_path / "adir"), "-e", "bbox"]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_a_refused_command_leaves_no_folder_it_created_and_a_run_still_writes(rows, tmp_path, capsys):
    """The write probe creates the folders it needs and removes them again: a command refused after
    the probe (here: a bad camera) leaves nothing behind; folders that existed, or hold files, stay."""
    src = _write(tmp_path / "in.jsonl", rows[:2])
    img = tmp_path / "a.jpg"
    img.write_bytes(b"x")
    assert main(["estimate", str(img), "--fov", "179.9999", "--out", str(tmp_path / "new" / "deep" / "out")]) == 2
    assert "field of view" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
    outputs.prepare_outputs([src], [tmp_path / "x" / "y" / "o.json"], [tmp_path / "d1" / "d2"])
    assert not (tmp_path / "x").exists() and not (tmp_path / "d1").exists()
    (tmp_path / "kept" / "sub").mkdir(parents=True)
    (tmp_path / "kept" / "a.txt").write_text("mine")
    outputs.prepare_outputs([src], out_dirs=[tmp_path / "kept" / "sub" / "n1" / "n2"])
    assert sorted(p.name for p in (tmp_path / "kept").rglob("*")) == ["a.txt", "sub"]
    out = tmp_path / "p" / "q" / "pred.jsonl"       # the real run creates its folders when it writes
    assert main(["predict", "-i", str(src), "-o", str(out), "-e", "bbox"]) == 0
    assert len(out.read_text().splitlines()) == 2


@pytest.fixture
def tiny_mount(tmp_path):
    """A 64 KB tmpfs (root only; skipped elsewhere)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_full_disk_and_read_only_outputs_fail_before_the_work(rows, tmp_path, tiny_mount, capsys):
    src = _write(tmp_path / "in.jsonl", rows[:2])
    fd = os.open(tiny_mount / "fill", os.O_WRONLY | os.O_CREAT)      # fill the disk
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        os.close(fd)
    assert main(["predict", "-i", str(src), "-o", str(tiny_mount / "o.jsonl"), "-e", "bbox"]) == 2
    assert "No space left" in capsys.readouterr().err
    (tiny_mount / "fill").unlink()
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_mount)], check=True)
    assert main(["sample", "--pose-table", str(_table_file(tmp_path)), "--out", str(tiny_mount / "s"), "--quiet"]) == 2
    assert "Read-only" in capsys.readouterr().err


# ---- damaged JSONL -------------------------------------------------------------------------------------
def test_jsonl_bad_bytes_bom_and_deep_nesting_name_the_line_and_keep_the_rest(rows, tmp_path, capsys):
    good = [json.dumps(r).encode() for r in rows[:3]]
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\xef\xbb\xbf" + good[0] + b"\n" + b'{"id": "x\xff"}\n' + b"[" * 100000 + b"\n"
                    + good[1] + b"\n" + b"\xef\xbb\xbf" + good[2] + b"\n")
    parsed = list(iter_jsonl(src))
    assert [p.line for p in parsed] == [1, 2, 3, 4, 5]
    assert parsed[0].record is not None and parsed[3].record is not None
    assert f"{src}:2" in str(parsed[1].error) and "not UTF-8" in str(parsed[1].error)
    assert f"{src}:3" in str(parsed[2].error) and "nested too deeply" in str(parsed[2].error)
    assert f"{src}:5" in str(parsed[4].error)     # a BOM inside the file is not allowed
    out = tmp_path / "out.jsonl"
    assert main(["predict", "-i", str(src), "-o", str(out), "-e", "bbox"]) == 0
    statuses = [json.loads(line)["status"] for line in out.read_text().splitlines()]
    assert len(statuses) == 5 and statuses[1:3] == ["invalid_input"] * 2 and statuses[0] != "invalid_input"


_json_values = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
                            lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                            max_leaves=30)


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=st.lists(st.tuples(st.sampled_from(LEAN + ("bbox", "source")), _json_values), max_size=3),
       junk=st.binary(max_size=40))
def test_fuzzed_rows_never_crash_the_reader_and_never_lose_a_line(rows, tmp_path, mutations, junk):
    row = dict(rows[0])
    for k, v in mutations:
        row[k] = v
    try:
        text = json.dumps(row).encode()
    except (ValueError, TypeError):
        text = b"{}"
    src = tmp_path / "fuzz.jsonl"
    src.write_bytes(text + b"\n" + junk.replace(b"\n", b" ") + b"\n" + json.dumps(rows[1]).encode() + b"\n")
    per_line = list(iter_jsonl(src))
    chunked = list(iter_chunks(src, rows=2))
    valid = {int(n) for c in chunked for n in c.lines}
    invalid = {p.line for c in chunked for p in c.errors}
    assert valid | invalid == {p.line for p in per_line} and not valid & invalid
    assert valid == {p.line for p in per_line if p.record is not None}   # the fast path agrees with from_dict
    assert 3 in valid


# ---- settings and presets ------------------------------------------------------------------------------
@pytest.mark.parametrize("bad, match", [
    ({"pose": {"stride": float("nan")}}, "stride"), ({"camera": {"height_m": [-2.0, 1.0]}}, "height_m"),
    ({"camera": {"distance_m": None}}, "distance_m"), ({"camera": {"hfov_deg": [30, None]}}, "hfov_deg"),
    ({"cameras_per_pose": "16"}, "cameras_per_pose"), ({"body": {"p_child": "a lot"}}, "p_child"),
    ({"pose": {"limits_preset": "../../x"}}, "limits_preset"), ({"camera": 5}, "CameraSettings"),
    ({"render": {"samples": 2.5}}, "samples"), ({"pose": {"preset_weights": {"sit": float("inf")}}}, "preset_weights"),
])
def test_bad_settings_are_refused_with_the_field(bad, match, tmp_path, capsys):
    with pytest.raises(SettingsError, match=match):
        GeneratorSettings.from_dict(bad)
    f = tmp_path / "s.json"
    f.write_text(json.dumps(bad))
    assert main(["sample", "--pose-table", str(_table_file(tmp_path)), "--out", str(tmp_path / "o"),
                 "--settings", str(f), "--quiet"]) == 2
    assert match in capsys.readouterr().err


@hsettings(max_examples=200, deadline=None)
@given(section=st.sampled_from(["body", "pose", "camera", "render", None]), key=st.text(max_size=20),
       value=_json_values)
def test_fuzzed_settings_are_valid_or_a_settings_error(section, key, value):
    default = GeneratorSettings().to_dict()
    keys = list(default[section]) if section else [k for k in default if not isinstance(default[k], dict)]
    d = {section: {keys[hash(key) % len(keys)]: value}} if section else {keys[hash(key) % len(keys)]: value}
    try:
        s = GeneratorSettings.from_dict(d)
    except SettingsError:
        return
    json.dumps(s.to_dict(), allow_nan=False)          # whatever is accepted is finite and well typed


def test_limits_preset_name_cannot_leave_the_presets_folder(tmp_path):
    from deepx_addon.core.limits import JointLimits, LimitsError
    from deepx_addon.core.paths import find_preset
    for name in ("../../x", "../limits/default", "/etc/passwd", ".hidden"):
        with pytest.raises((LimitsError, ValueError)):
            JointLimits.load(name)
        with pytest.raises(ValueError):
            find_preset("limits", name)
    assert JointLimits.load("default").bones


def test_a_bad_user_pose_preset_is_skipped_not_fatal(tmp_path):
    from deepx_addon.core.paths import presets_dir
    from deepx_addon.core.poses import PoseError, load_presets, read_preset_file
    shutil.copy(presets_dir("poses") / "standing.json", tmp_path / "mine.json")
    bad = {"list.json": "[1, 2]", "rot.json": '{"name": "r", "family": "standing", "rotations": [1]}',
           "box.json": '{"name": "b", "family": "standing", "rotations": {}, "box_height_m": "high"}',
           "nan.json": '{"name": "n", "family": "standing", "rotations": {"spine": [NaN, 0, 0]}}',
           "bytes.json": b"\xff\xfe", "deep.json": "[" * 100000}
    for name, text in bad.items():
        (tmp_path / name).write_bytes(text if isinstance(text, bytes) else text.encode())
        with pytest.raises(PoseError, match=name):
            read_preset_file(tmp_path / name)
    skipped = []
    got = load_presets(tmp_path, reload=True, skipped=skipped)
    assert list(got) == ["standing"] and len(skipped) == len(bad)
    with pytest.raises(PoseError):
        load_presets(tmp_path, reload=True)          # strict (shipped folder, batch runs)


# ---- impossible cameras and keypoints --------------------------------------------------------------------
@pytest.mark.parametrize("K, size, match", [
    ([[1e-300, 0, 320], [0, 1e-300, 240], [0, 0, 1]], [640, 480], "field of view"),
    ([[1e300, 0, 320], [0, 1e300, 240], [0, 0, 1]], [640, 480], "field of view"),
    ([[500, 0, 320], [0, 5000, 240], [0, 0, 1]], [640, 480], "fy / fx"),
    ([[500, 0, 32000], [0, 500, 240], [0, 0, 1]], [640, 480], "principal point"),
])
def test_impossible_cameras_are_invalid_input_with_the_reason(rows, tmp_path, K, size, match):
    row = dict(rows[0], K=K, image_size=size)
    with pytest.raises(RecordError, match=match):
        PersonRecord.from_dict(row)
    out = tmp_path / "o.jsonl"
    assert main(["predict", "-i", str(_write(tmp_path / "i.jsonl", [row, rows[1]])), "-o", str(out)]) == 0
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert got[0]["status"] == "invalid_input" and match in got[0]["reason"] and got[0]["distance_m"] is None
    assert got[1]["distance_m"] is not None


def test_keypoints_far_outside_the_image_are_invalid_input(rows, tmp_path):
    row = json.loads(json.dumps(rows[0]))
    row["keypoints"][5][:2] = [98000.0, 3.0]
    with pytest.raises(RecordError, match="far outside"):
        PersonRecord.from_dict(row)


def test_cli_fov_and_conf_out_of_range_are_refused_before_loading_anything(tmp_path, capsys):
    img = tmp_path / "a.jpg"
    img.write_bytes(b"x")
    assert main(["estimate", str(img), "--fov", "179.9999", "--out", str(tmp_path / "o")]) == 2
    assert "field of view" in capsys.readouterr().err
    assert main(["estimate", str(img), "--conf", "5", "--fov", "60", "--out", str(tmp_path / "o")]) == 2
    assert "--conf" in capsys.readouterr().err


@hsettings(max_examples=300, deadline=None)
@given(fx=st.floats(1e-6, 1e9), ratio=st.floats(0.1, 10), cx=st.floats(-5e3, 5e3), cy=st.floats(-5e3, 5e3),
       w=st.integers(1, 8000), h=st.integers(1, 8000), sized=st.booleans())
def test_fuzzed_camera_checks_agree_and_what_passes_gives_finite_rays(fx, ratio, cx, cy, w, h, sized):
    intr = Intrinsics(fx, fx * ratio, cx, cy, w if sized else None, h if sized else None)
    problem = camera_problem(intr)
    ww, hh = (w, h) if sized else (2 * cx, 2 * cy)
    vec = bool(vector_camera_ok(np.array([fx]), np.array([fx * ratio]), np.array([cx]), np.array([cy]),
                                np.array([ww], float), np.array([hh], float), np.array([sized]))[0])
    assert vec == (problem is None)
    if problem is None and sized:
        ray = intr.normalize(np.array([[0.0, 0.0], [w, h]]))
        assert np.all(np.isfinite(ray)) and np.abs(ray).max() < 1e3
    with pytest.raises(CameraError):
        Intrinsics.from_fov(179.9999, 640, 480)


# ---- framing statuses in predict, as in estimate ---------------------------------------------------------
def test_predict_flags_cut_off_and_tiny_people_like_estimate(rows, tmp_path):
    from deepx_addon.core import framing
    whole = rows[0]
    kp = np.array(whole["keypoints"])
    W, H = whole["image_size"]
    cut = json.loads(json.dumps(whole))
    shift = H - kp[[11, 12], 1].mean() - 5                      # hips 5 px above the bottom edge ...
    kp2 = kp.copy()
    kp2[:, 1] += shift
    kp2[13:, 2] = 0                                             # ... knees and ankles below the frame
    cut["keypoints"] = kp2.tolist()
    tiny = json.loads(json.dumps(whole))
    kp3 = kp.copy()
    kp3[:, :2] = (kp3[:, :2] - kp3[:, :2].mean(0)) * 0.05 + [W / 2, H / 2]
    tiny["keypoints"] = kp3.tolist()
    out = tmp_path / "o.jsonl"
    assert main(["predict", "-i", str(_write(tmp_path / "i.jsonl", [whole, cut, tiny])), "-o", str(out)]) == 0
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert got[0]["status"] == "ok"
    assert got[1]["status"] == "truncated" and "bottom" in got[1]["reason"] and got[1]["distance_m"] is not None
    assert got[2]["status"] == "too_small" and got[2]["distance_m"] is None
    # the rule deepx estimate applies to a detector box says the same
    assert framing.truncation(kp2, W, H, bbox=[kp2[:, 0].min(), kp2[:, 1].min(), kp2[:, 0].max(), H]) is not None
    assert framing.too_small(kp3, bbox=[0, 0, 10, 10]) is not None


def test_a_person_without_keypoints_is_judged_without_warnings(rows):
    """A row whose keypoints all have confidence 0 (a detection that lost every joint) gets no
    framing status and prints no numpy warning (an all-NaN extent)."""
    import warnings

    from deepx_addon.core import framing
    kp = np.array(rows[0]["keypoints"], float)
    empty = kp.copy()
    empty[:, 2] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        small, cut = framing.judge_many(np.stack([kp, empty]), [rows[0]["image_size"]] * 2)
    assert small[1] is None and cut[1] is None


def test_predict_states_the_stature_assumption(rows, tmp_path, capsys):
    assert main(["predict", "-i", str(_write(tmp_path / "i.jsonl", rows[:2])), "-o", str(tmp_path / "o.jsonl")]) == 0
    assert "adult-sized person" in capsys.readouterr().err


def test_predict_streams_with_flat_memory(tmp_path):
    """Peak RSS of deepx predict on 10k and 40k rows (bbox estimator, fresh processes) differs by
    little: rows are read, estimated and written in chunks."""
    big = [json.dumps(dict(r, id=f"{r['id']}-{i}")) for i in range(200) for r in _many_rows()]
    peaks = []
    for n in (10000, 40000):       # both above one chunk (4096 rows)
        src = tmp_path / f"in_{n}.jsonl"
        src.write_text("\n".join(big[:n]) + "\n")
        # VmHWM: this process's peak (ru_maxrss would include the forking pytest process's)
        code = ("import sys; from deepx_addon.cli import main; "
                f"rc = main(['predict', '-i', {str(src)!r}, '-o', {str(tmp_path / f'o_{n}.jsonl')!r}, '-e', 'bbox']); "
                "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]); sys.exit(rc)")
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=600)
        assert p.returncode == 0, p.stderr
        peaks.append(int(p.stdout.split()[-1]) / 1024)
    assert peaks[1] - peaks[0] < 25, peaks      # MB; whole-file reading grew ~6 KB per row (240 MB here)


def _many_rows():
    table = stick_figure_table(13, seed=4)
    recs = sample_from_table(table, GeneratorSettings(cameras_per_pose=16), np.arange(13)).to_records(table)
    return [{k: r[k] for k in LEAN} for r in recs]


def test_parallel_reading_gives_the_same_rows_in_the_same_order(tmp_path, monkeypatch):
    """Worker processes decode and validate large files: same predictions, same order, invalid rows
    kept in place (PARALLEL_MIN_BYTES lowered so a small file takes that path)."""
    from deepx_addon.core import records
    from deepx_addon.core.evaluation import iter_predictions
    from deepx_addon.ml import registry
    rows = [json.dumps(dict(r, id=f"{r['id']}-{i}")) for i in range(20) for r in _many_rows()]
    rows[7] = '{"id": "broken", "keypoints": [1, 2]}'
    rows[300] = "not json"
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(rows) + "\n")
    monkeypatch.setattr(records, "PARALLEL_MIN_BYTES", 0)
    est = registry.build("bbox")
    one = [(p.row_id, p.line, p.estimate.status, p.estimate.distance_m, p.estimate.reason)
           for p in iter_predictions(est, src, framing_checks=True, chunk_rows=500, workers=1)]
    two = [(p.row_id, p.line, p.estimate.status, p.estimate.distance_m, p.estimate.reason)
           for p in iter_predictions(est, src, framing_checks=True, chunk_rows=500, workers=2, keep=())]
    assert one == two and len(one) == len(rows) and one[7][2] == one[300][2] == "invalid_input"
