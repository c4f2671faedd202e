import math

import numpy as np
import pytest

from deepx_addon.core.camera import CameraError, Intrinsics, project


def test_from_K_round_trip_and_projection():
    K = [[800.0, 0, 320.5], [0, 810.0, 240.25], [0, 0, 1]]
    cam = Intrinsics.from_K(K, (640, 480))
    assert np.allclose(cam.K, K)
    assert np.allclose(cam.K @ cam.K_inv, np.eye(3))
    pts = np.array([[0.3, -0.2, 5.0], [-1.0, 0.5, 12.0], [0.0, 0.0, 2.0]])
    uv = cam.project(pts)
    assert np.allclose(uv[2], [320.5, 240.25])
    assert np.allclose(cam.backproject(uv, pts[:, 2]), pts)
    assert np.allclose(cam.depth_to_distance(uv, pts[:, 2]), np.linalg.norm(pts, axis=1))


def test_focal_mm_fov_and_focal_px_agree():
    # 50 mm lens on a 36 mm wide sensor, 1920 px wide: f = 50 * 1920 / 36 px
    a = Intrinsics.from_focal_mm(50, 36, 1920, 1080)
    b = Intrinsics.from_focal_px(50 * 1920 / 36, 1920, 1080)
    c = Intrinsics.from_fov(2 * math.degrees(math.atan(18 / 50)), 1920, 1080)
    assert a.fx == pytest.approx(b.fx) == pytest.approx(c.fx)
    assert (a.cx, a.cy) == (960, 540)
    assert c.hfov_deg == pytest.approx(2 * math.degrees(math.atan(18 / 50)))


def test_scaled_intrinsics_match_scaled_pixels():
    cam = Intrinsics.from_K([[700, 0, 300], [0, 700, 200], [0, 0, 1]], (600, 400))
    pts = np.random.default_rng(0).uniform([-2, -1, 3], [2, 1, 30], (50, 3))
    for s in (0.5, 0.25, 0.1):
        assert np.allclose(cam.scaled(s).project(pts), s * cam.project(pts))
    assert cam.scaled(0.25).width == 150


def test_exif_sources():
    # 35 mm-equivalent (CIPA: diagonal) -> f_px = f35 * diag_px / 43.27 mm
    cam = Intrinsics.from_exif({"FocalLengthIn35mmFilm": 28}, 4000, 3000)
    assert cam.fx == pytest.approx(28 * 5000 / math.hypot(36, 24))
    assert cam.source == "exif:FocalLengthIn35mmFilm"
    # focal-plane resolution (pixels per inch of sensor) is exact when the image was not resized
    cam = Intrinsics.from_exif({"FocalLength": (41, 10), "FocalPlaneXResolution": 5000.0,
                                "FocalPlaneResolutionUnit": 2, "ExifImageWidth": 4000}, 4000, 3000)
    assert cam.fx == pytest.approx(4.1 * 5000 / 25.4)
    # a resized image ignores the focal-plane resolution and falls back to the 35 mm value
    cam = Intrinsics.from_exif({"FocalLength": 4.1, "FocalPlaneXResolution": 5000.0, "ExifImageWidth": 4000,
                                "FocalLengthIn35mmFilm": 26}, 1000, 750)
    assert cam.source == "exif:FocalLengthIn35mmFilm"
    cam = Intrinsics.from_exif({"FocalLength": 4.1}, 4000, 3000, sensor_width_mm=6.17)
    assert cam.fx == pytest.approx(4.1 * 4000 / 6.17)
    with pytest.raises(CameraError, match="no usable focal length"):
        Intrinsics.from_exif({"Make": "x"}, 100, 100)


@pytest.mark.parametrize("bad", [
    lambda: Intrinsics.from_K([[0, 0, 1], [0, 1, 1], [0, 0, 1]]),
    lambda: Intrinsics.from_K([[-5, 0, 1], [0, 1, 1], [0, 0, 1]]),
    lambda: Intrinsics.from_K([[float("nan"), 0, 1], [0, 1, 1], [0, 0, 1]]),
    lambda: Intrinsics.from_K([[1, 0], [0, 1]]),
    lambda: Intrinsics.from_K([[1, 0.5, 1], [0, 1, 1], [0, 0, 1]]),
    lambda: Intrinsics.from_fov(180, 100, 100),
    lambda: Intrinsics.from_focal_mm(50, 0, 100, 100),
])
def test_invalid_cameras_are_rejected(bad):
    with pytest.raises(CameraError):
        bad()


def test_project_refuses_points_behind_camera():
    with pytest.raises(CameraError, match="behind"):
        project([[0, 0, -1.0]], np.eye(3))
