"""No network, nothing in the home folder, no pickles from user paths; and the image faults of
`deepx estimate` (non-UTF-8 names, decompression bombs, truncated files) on the real detector.
Each test failed before its fix (issue 11)."""
from __future__ import annotations

import json
import os
import pickle
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
pytest.importorskip("ultralytics")

ROOT = Path(__file__).resolve().parents[2]


def _photo(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    img = (rng.random((240, 320, 3)) * 255).astype(np.uint8)
    ok, buf = cv2.imencode(path.suffix or ".jpg", img)
    path.write_bytes(buf.tobytes())
    return path


def _clean_env(home: Path) -> dict:
    """The user's environment as DeepX would meet it: no offline or cache variables preset."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("YOLO_", "MPL", "BLENDER_USER", "DEEPX_CACHE", "XDG_"))}
    env.update(HOME=str(home), PYTHONPATH=str(ROOT))
    return env


# Runs `deepx estimate` with every socket call recorded and refused, before anything is imported.
_NO_NET = """
import socket, sys, json
tried = []
def refuse(name):
    def f(*a, **k):
        tried.append([name, repr(a)[:120]])
        raise OSError("network blocked by the test")
    return f
socket.getaddrinfo = refuse("getaddrinfo")
socket.gethostbyname = refuse("gethostbyname")
socket.create_connection = refuse("create_connection")
socket.socket.connect = refuse("connect")
socket.socket.connect_ex = refuse("connect_ex")
from deepx_addon.cli import main
rc = main(sys.argv[1:])
print("TRIED=" + json.dumps(tried))
sys.exit(rc)
"""


@pytest.mark.slow
def test_estimate_makes_no_network_call_and_writes_nothing_in_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "in").mkdir()
    photo = _photo(tmp_path / "in" / "a.jpg")
    p = subprocess.run([sys.executable, "-c", _NO_NET, "estimate", str(photo), "--fov", "60", "--out",
                        str(tmp_path / "out")], capture_output=True, text=True, env=_clean_env(home), cwd=tmp_path,
                       timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    tried = json.loads(p.stdout.split("TRIED=")[-1])
    assert tried == [], tried
    assert list(home.rglob("*")) == [], list(home.rglob("*"))
    assert json.loads((tmp_path / "out" / "results.json").read_text())["complete"] is True


@pytest.mark.slow
def test_plots_and_ultralytics_settings_stay_out_of_home(tmp_path):
    from deepx_addon.core.sampler import sample_from_table
    from deepx_addon.core.standin import stick_figure_table
    from deepx_addon.core.settings import GeneratorSettings
    home = tmp_path / "home"
    home.mkdir()
    table = stick_figure_table(4, seed=1)
    rows = sample_from_table(table, GeneratorSettings(cameras_per_pose=4), np.arange(4)).to_records(table)
    src = tmp_path / "rows.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code = ("import sys; from deepx_addon.cli import main; "
            "from deepx_addon.ml.detector import load_yolo, find_weights; load_yolo(find_weights()); "
            "sys.exit(main(sys.argv[1:]))")
    p = subprocess.run([sys.executable, "-c", code, "evaluate", "-i", str(src), "-e", "bbox", "--json",
                        str(tmp_path / "m.json"), "--plot", str(tmp_path / "p.png")],
                       capture_output=True, text=True, env=_clean_env(home), cwd=tmp_path, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    assert (tmp_path / "p.png").stat().st_size > 0
    assert list(home.rglob("*")) == [], list(home.rglob("*"))


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['DEEPX_TEST_MARKER']}",))


def test_a_pickled_weights_file_from_a_user_path_is_refused_unloaded(tmp_path, monkeypatch, capsys):
    from deepx_addon.cli import main
    marker = tmp_path / "pwned"
    monkeypatch.setenv("DEEPX_TEST_MARKER", str(marker))
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(_Evil()))
    photo = _photo(tmp_path / "a.jpg")
    for cmd in (["estimate", str(photo), "--fov", "60", "--out", str(tmp_path / "o")],
                ["detect", "--labels", str(tmp_path / "labels.jsonl"), "-o", str(tmp_path / "d.jsonl")]):
        if cmd[0] == "detect":
            (tmp_path / "labels.jsonl").write_text('{"id": "s", "image": "a.jpg", "keypoints": []}\n')
        assert main(cmd + ["--weights", str(evil)]) == 2
        assert "pickle" in capsys.readouterr().err
    assert not marker.exists()
    # a copy of the known weights under another name is fine (checked by its sha256)
    from deepx_addon.ml.detector import find_weights
    known = find_weights()
    copy = tmp_path / "copy.pt"
    copy.write_bytes(known.read_bytes())
    assert find_weights(copy) == copy


def _png_header_only(path: Path, w: int, h: int) -> Path:
    """A PNG whose header claims w x h pixels (a decompression bomb's header; a few bytes of data)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    data = zlib.compress(b"\0" * 1000)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


def test_huge_and_bomb_images_are_refused_before_decoding(tmp_path):
    from deepx_addon.ml.detector import ImageError, read_image_checked
    for w in (20000, 40000):
        p = _png_header_only(tmp_path / f"bomb{w}.png", w, w)
        with pytest.raises(ImageError, match="image too large"):
            read_image_checked(p)


def test_truncated_images_are_read_with_a_damage_note(tmp_path):
    from deepx_addon.ml.detector import ImageError, read_image_checked
    whole = _photo(tmp_path / "a.jpg")
    half = tmp_path / "half.jpg"
    half.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    img, note = read_image_checked(whole)
    assert note is None
    img, note = read_image_checked(half)
    assert img.shape == (240, 320, 3) and "truncated" in note
    png = _photo(tmp_path / "b.png")
    cut = tmp_path / "cut.png"
    cut.write_bytes(png.read_bytes()[:-12])          # the IEND chunk is gone: OpenCV refuses it, named
    with pytest.raises(ImageError, match="cut.png: not a readable image"):
        read_image_checked(cut)


@pytest.mark.slow
def test_estimate_survives_non_utf8_names_bombs_and_damage_in_one_folder(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _photo(folder / "ok.jpg")
    _photo(Path(os.fsdecode(bytes(folder) + b"/caf\xe9.jpg")))          # Latin-1 name: not UTF-8
    _png_header_only(folder / "bomb.png", 20000, 20000)
    whole = _photo(tmp_path / "w.jpg", seed=2)
    (folder / "half.jpg").write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    p = subprocess.run([sys.executable, "-m", "deepx_addon.cli", "estimate", str(folder), "--fov", "60",
                        "--out", str(tmp_path / "out")], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=tmp_path, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    doc = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    by = {f["path"].rsplit("/", 1)[-1]: f for f in doc["files"]}
    assert sorted(by) == ["bomb.png", "caf\\xe9.jpg", "half.jpg", "ok.jpg"]
    assert by["bomb.png"]["status"] == "unreadable" and "too large" in by["bomb.png"]["reason"]
    assert by["caf\\xe9.jpg"]["status"] in ("ok", "no_person")
    assert "truncated" in by["half.jpg"]["reason"]
    assert by["half.jpg"]["status"] in ("damaged", "no_person") and doc["assumptions"]["stature"]


@pytest.mark.slow
def test_a_video_cut_short_is_damaged_not_ok(tmp_path):
    from deepx_addon.ml.api import DistanceEstimator
    w = cv2.VideoWriter(str(tmp_path / "v.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for i in range(30):
        w.write(np.full((120, 160, 3), i * 8, np.uint8))
    w.release()
    data = (tmp_path / "v.avi").read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: len(data) // 2])      # the header still says 30 frames
    est = DistanceEstimator("sloth")
    whole = est.video(tmp_path / "v.avi", camera={"fov": 60})
    cut = est.video(tmp_path / "cut.avi", camera={"fov": 60})
    assert whole.status != "damaged" and "decoding stopped" not in (whole.reason or "")
    assert "decoding stopped at frame" in cut.reason and "of 30" in cut.reason


@pytest.mark.slow
def test_generate_keeps_blenders_config_out_of_home(tmp_path):
    import importlib.util
    if importlib.util.find_spec("bpy") is None:
        pytest.skip("bpy not installed")
    home = tmp_path / "home"
    home.mkdir()
    p = subprocess.run([sys.executable, "-m", "deepx_addon.cli", "generate", "--out", str(tmp_path / "r"), "--count", "1",
                        "--resolution", "64", "--samples", "1", "--quiet"],
                       capture_output=True, text=True, env=_clean_env(home), cwd=tmp_path, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    assert list((tmp_path / "r").rglob("*.png")) and list(home.rglob("*")) == [], list(home.rglob("*"))


@pytest.mark.slow
def test_a_run_killed_halfway_keeps_the_results_so_far(tmp_path, monkeypatch):
    """results.json is written as files finish (complete: false), not only at the end."""
    from deepx_addon.cli import main
    from deepx_addon.ml import api
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(6):
        _photo(folder / f"{i}.jpg", seed=i)
    real, calls = api.DistanceEstimator.result_for, []

    def dies_in_the_second_batch(self, *a, **k):     # the detector takes 4 images at a time
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt    # as if killed
        return real(self, *a, **k)

    monkeypatch.setattr(api.DistanceEstimator, "result_for", dies_in_the_second_batch)
    assert main(["estimate", str(folder), "--fov", "60", "--out", str(tmp_path / "out")]) == 130
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    names = [f["path"].rsplit("/", 1)[-1] for f in doc["files"]]
    assert doc["complete"] is False and 1 <= len(names) <= 4 and names == [f"{i}.jpg" for i in range(len(names))]
