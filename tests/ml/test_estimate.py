"""deepx estimate and the Python API: statuses, cameras (given, EXIF, none), a real photo, a video."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")

from deepx_addon.core.camera import CameraError, Intrinsics  # noqa: E402
from deepx_addon.core.estimators import Estimate  # noqa: E402
from deepx_addon.ml import api  # noqa: E402
from deepx_addon.cli import main as cli_main  # noqa: E402
from deepx_addon.runtime.detections import Detection  # noqa: E402


# ---- cameras (no detector needed) -----------------------------------------------------------------
def test_camera_specs_give_the_expected_focal_length():
    assert api.camera_from_spec({"focal_px": 1000}, 800, 600).fx == 1000
    assert api.camera_from_spec({"focal_mm": 50, "sensor_mm": 36}, 3600, 2400).fx == pytest.approx(5000)
    assert api.camera_from_spec({"fov": 90}, 800, 600).fx == pytest.approx(400)
    K = [[500, 0, 320], [0, 500, 240], [0, 0, 1]]
    c = api.camera_from_spec({"K": K}, 640, 480)
    assert (c.fx, c.cx, c.width) == (500, 320, 640)
    # K of the full-size image applied to a half-size copy is scaled; another aspect ratio is refused
    half = api.camera_from_spec(Intrinsics.from_K(K, (640, 480)), 320, 240)
    assert (half.fx, half.cx, half.source) == (250, 160, "K+scaled")
    with pytest.raises(CameraError, match="aspect"):
        api.camera_from_spec(Intrinsics.from_K(K, (640, 480)), 640, 640)
    with pytest.raises(CameraError, match="sensor_mm"):
        api.camera_from_spec({"focal_mm": 50}, 640, 480)
    with pytest.raises(CameraError, match="needs one of"):
        api.camera_from_spec({"zoom": 2}, 640, 480)


def _write_jpeg_with_exif(path, img_bgr, f35=None):
    from PIL import Image

    im = Image.fromarray(np.ascontiguousarray(img_bgr[:, :, ::-1]))
    exif = Image.Exif()
    exif[0x010F] = "DeepX test camera"              # Make
    if f35 is not None:
        exif.get_ifd(0x8769)[0xA405] = f35          # FocalLengthIn35mmFilm (Exif IFD)
    im.save(path, "JPEG", exif=exif.tobytes(), quality=92)


def test_exif_focal_length_in_35mm_film_is_read(tmp_path):
    img = np.full((300, 400, 3), 90, np.uint8)
    p = tmp_path / "exif.jpg"
    _write_jpeg_with_exif(p, img, f35=28)
    tags = api.read_exif_tags(p)
    assert tags["FocalLengthIn35mmFilm"] == 28
    intr, note = api.resolve_camera(None, 400, 300, p)
    assert note is None and intr.source == "exif:FocalLengthIn35mmFilm"
    assert intr.fx == pytest.approx(28 * math.hypot(400, 300) / math.hypot(36, 24))
    # an explicit camera wins over EXIF; no EXIF focal length -> no camera, with the reason
    assert api.resolve_camera({"focal_px": 123}, 400, 300, p)[0].fx == 123
    q = tmp_path / "noexif.jpg"
    _write_jpeg_with_exif(q, img)
    intr, note = api.resolve_camera(None, 400, 300, q)
    assert intr is None and "focal" in note


# ---- per-person statuses (no detector needed) -------------------------------------------------------
def _det(bbox, score=0.9, conf=0.9):
    x1, y1, x2, y2 = bbox
    kp = np.column_stack([np.linspace(x1 + 1, x2 - 1, 17), np.linspace(y1 + 1, y2 - 1, 17), np.full(17, conf)])
    return Detection(np.array(bbox, float), score, kp)


def test_person_statuses():
    good = Estimate(5.0, 4.9, 0.3, "ok", None, (0.1, 0.2, 4.9))
    W, H = 640, 480
    p = api.person_result(_det([100, 100, 160, 300]), good, W, H, 24)
    assert (p.status, p.distance_m, p.label) == ("ok", 5.0, "5.0 m \u00b1 0.3")
    p = api.person_result(_det([100, 100, 110, 120]), good, W, H, 24)
    assert p.status == "too_small" and p.distance_m is None and "20 px" in p.reason
    d = _det([100, 300, 160, 480])
    d.keypoints[[13, 14, 15, 16], 2] = 0.05  # knees and ankles below the bottom edge
    p = api.person_result(d, good, W, H, 24)
    assert p.status == "truncated" and p.distance_m == 5.0
    assert "bottom" in p.reason and "left_ankle" in p.reason
    p = api.person_result(_det([100, 100, 160, 300], score=0.3), good, W, H, 24)
    assert p.status == "low_confidence" and "0.30" in p.reason
    p = api.person_result(_det([100, 100, 160, 300]), Estimate.none("needs a hip"), W, H, 24)
    assert p.status == "no_estimate" and p.reason == "needs a hip"
    p = api.person_result(_det([100, 100, 160, 300]), None, W, H, 24, "no camera given")
    assert p.status == "no_estimate" and p.reason == "no camera given"


# ---- with the detector ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def estimator():
    return api.DistanceEstimator("default", quiet=True)


@pytest.fixture(scope="module")
def h36m(real_data):
    rows = [json.loads(line) for line in open(real_data / "h36m_3dhp_images.jsonl", encoding="utf-8")]
    return rows[0], real_data / rows[0]["image"]


@pytest.mark.slow
def test_api_distance_within_25_percent_of_ground_truth(estimator, h36m):
    row, path = h36m
    res = estimator(path, camera=Intrinsics.from_K(row["K"], row["image_size"]))
    assert len(res) == 1
    r = res[0]
    assert r.status == "ok" and r.camera.source == "K" and len(r) == 1
    p = r.persons[0]
    assert p.status in ("ok", "low_confidence") and p.sigma_m > 0
    assert abs(p.distance_m - row["distance_m"]) / row["distance_m"] < 0.25
    assert np.linalg.norm(p.xyz) == pytest.approx(p.distance_m, rel=1e-6) and p.xyz[2] == pytest.approx(p.depth_m)
    assert r.distance_m.shape == (1,) and r.xyz.shape == (1, 3) and r.keypoints.shape == (1, 17, 3)
    d = r.to_dict()
    assert d["camera"]["source"] == "K" and d["persons"][0]["distance_m"] == pytest.approx(p.distance_m, abs=1e-4)
    json.dumps(d, allow_nan=False)
    drawn = r.plot()
    assert drawn.shape == r.orig_img.shape and not np.array_equal(drawn, r.orig_img)


@pytest.mark.slow
def test_api_batch_never_raises_and_reports_each_image(estimator, h36m, tmp_path):
    row, path = h36m
    img = cv2.imread(str(path))
    exif_jpg = tmp_path / "with_exif.jpg"
    _write_jpeg_with_exif(exif_jpg, img, f35=35)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    blank = np.full((240, 320, 3), 200, np.uint8)
    res = estimator([path, exif_jpg, empty, blank])
    assert [r.status for r in res] == ["no_camera", "ok", "unreadable", "no_person"]
    assert res[0].persons[0].distance_m is None and "no camera" in res[0].reason.lower()
    assert res[1].camera.source == "exif:FocalLengthIn35mmFilm" and res[1].persons[0].distance_m > 0
    assert "empty file" in res[2].reason
    assert res[3].persons == [] and res[3].image_size == (320, 240)


@pytest.mark.slow
def test_video_gives_one_track_with_a_temporal_median(estimator, h36m, tmp_path):
    row, path = h36m
    img = cv2.resize(cv2.imread(str(path)), (480, 480))
    video = tmp_path / "clip.mp4"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (480, 480))
    for k in range(6):
        w.write(np.roll(img, 2 * k, axis=1))  # the person drifts slightly
    w.release()
    K = Intrinsics.from_K(row["K"], row["image_size"])
    out = tmp_path / "annotated.mp4"
    vr = estimator.video(video, camera=K, out_path=out)
    assert vr.status == "ok" and vr.n_frames == 6 and vr.image_size == (480, 480)
    assert vr.camera.source == "K+scaled" and vr.camera.fx == pytest.approx(K.fx * 0.48)
    assert len(vr.tracks) == 1
    t = vr.tracks[0]
    assert len(t.frames) == 6 and all(d is not None for d in t.distances_m)
    assert t.distance_m == pytest.approx(float(np.median(t.distances_m)))
    assert abs(t.distance_m - row["distance_m"]) / row["distance_m"] < 0.25
    assert t.sloth_track_m is not None and t.sigma_m > 0
    assert out.exists() and out.stat().st_size > 0
    json.dumps(vr.to_dict(per_frame=True), allow_nan=False)


@pytest.mark.slow
def test_cli_on_a_folder_with_bad_files(h36m, tmp_path, capsys):
    row, path = h36m
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "person.jpg").write_bytes(path.read_bytes())
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff not a jpeg at all" * 20)
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image: ignored in folders")
    out = tmp_path / "out"
    rc = cli_main(["estimate", str(folder), "--focal-px", str(row["K"][0][0]), "--out", str(out)])
    assert rc == 0
    doc = json.loads((out / "results.json").read_text())
    by_name = {f["path"].split("/")[-1]: f for f in doc["files"]}
    assert sorted(by_name) == ["corrupt.jpg", "empty.png", "person.jpg"]
    ok = by_name["person.jpg"]
    assert ok["status"] == "ok" and ok["camera"]["source"] == "focal_px" and len(ok["persons"]) == 1
    assert abs(ok["persons"][0]["distance_m"] - row["distance_m"]) / row["distance_m"] < 0.25
    assert (out / "annotated" / "person.jpg").exists() and ok["annotated"].endswith("person.jpg")
    assert by_name["corrupt.jpg"]["status"] == "unreadable" and "not a readable image" in by_name["corrupt.jpg"]["reason"]
    assert by_name["empty.png"]["status"] == "unreadable" and "empty file" in by_name["empty.png"]["reason"]
    assert doc["summary"] == {"ok": 1, "unreadable": 2}
    assert "person.jpg: ok" in capsys.readouterr().out


@pytest.mark.slow
def test_cli_fails_clearly_when_nothing_can_be_processed(tmp_path, capsys):
    (tmp_path / "empty.jpg").write_bytes(b"")
    rc = cli_main(["estimate", str(tmp_path / "empty.jpg"), str(tmp_path / "missing.jpg"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "none of the 2 input file(s) could be processed" in err
    assert json.loads((tmp_path / "o" / "results.json").read_text())["summary"] == {"unreadable": 2}
    assert cli_main(["estimate", str(tmp_path), "--focal-mm", "50", "--out", str(tmp_path / "o")]) == 2
    assert "--sensor-mm" in capsys.readouterr().err
    assert cli_main(["estimate", str(tmp_path), "--imgsz", "1000", "--out", str(tmp_path / "o2")]) == 2
    assert "--imgsz" in (err := capsys.readouterr().err) and "multiple of 32" in err and not (tmp_path / "o2").exists()
