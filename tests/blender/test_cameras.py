"""Camera sampling and the Blender camera maths (core/cameras.py): known answers and round trips."""
from __future__ import annotations

import numpy as np
import pytest

from deepx_addon.core import cameras as C
from deepx_addon.core.camera import CameraError
from deepx_addon.core.settings import CameraSettings, SettingsError

PELVIS = np.array([0.0, 0.0, 0.95])


def _cams(n=4000, seed=0, **kw):
    s = CameraSettings(**kw)
    return s, C.sample_cameras(np.random.default_rng(seed), s, PELVIS, n)


def _cam_coords(cb, p):
    return np.einsum("nij,j->ni", cb.R, p) + cb.t


@pytest.mark.parametrize("size", [(640, 640), (640, 480), (480, 640)])
def test_sampled_cameras_put_the_pelvis_where_they_say(size):
    s, cb = _cams(image_size=size)
    W, H = size
    pc = _cam_coords(cb, PELVIS)
    assert np.all(pc[:, 2] > 0)
    uv = np.einsum("nij,nj->ni", cb.K, pc)[:, :2] / pc[:, 2:]
    np.testing.assert_allclose(uv, cb.target_px, atol=1e-6)
    uv2, z2 = cb.project(PELVIS[None])
    np.testing.assert_allclose(uv2[:, 0], uv, atol=1e-9)
    np.testing.assert_allclose(z2[:, 0], pc[:, 2])
    np.testing.assert_array_equal(cb.take([3, 1]).R, cb.R[[3, 1]])
    # inside the frame, within off_centre of the half-frame on both axes
    assert np.all(np.abs(uv[:, 0] - W / 2) <= s.off_centre * W / 2 + 1e-6)
    assert np.all(np.abs(uv[:, 1] - H / 2) <= s.off_centre * H / 2 + 1e-6)
    # ... and spread over it (people are not always centred)
    assert np.abs(uv[:, 0] - W / 2).max() > 0.75 * s.off_centre * W / 2
    assert np.abs(uv[:, 1] - H / 2).max() > 0.75 * s.off_centre * H / 2
    # distance label = geometry; camera centre = position; height = its z, within range
    np.testing.assert_allclose(np.linalg.norm(pc, axis=1), cb.distance_m, rtol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(cb.position - PELVIS, axis=1), cb.distance_m, rtol=1e-9)
    np.testing.assert_allclose(_cam_coords(cb, np.zeros(3)), cb.t)    # t = -R C consistent
    np.testing.assert_allclose(np.einsum("nij,nj->ni", cb.R, cb.position) + cb.t, 0, atol=1e-9)
    np.testing.assert_allclose(cb.position[:, 2], cb.height_m)
    assert np.all((cb.height_m >= s.height_m[0]) & (cb.height_m <= s.height_m[1]))
    assert np.all((cb.distance_m >= s.distance_m[0]) & (cb.distance_m <= s.distance_m[1]))
    # K matches the sampled horizontal field of view, square pixels, centred principal point
    np.testing.assert_allclose(np.degrees(2 * np.arctan(W / 2 / cb.K[:, 0, 0])), cb.hfov_deg)
    np.testing.assert_allclose(cb.K[:, 1, 1], cb.K[:, 0, 0])
    assert np.all(cb.K[:, 0, 2] == W / 2) and np.all(cb.K[:, 1, 2] == H / 2)
    assert np.all((cb.hfov_deg >= s.hfov_deg[0]) & (cb.hfov_deg <= s.hfov_deg[1]))
    # rotations are proper and the recorded angles describe them
    np.testing.assert_allclose(cb.R @ np.swapaxes(cb.R, 1, 2), np.broadcast_to(np.eye(3), cb.R.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(cb.R), 1.0)
    yaw, pitch, roll = C.angles_from_rotation(cb.R)
    np.testing.assert_allclose(roll, cb.roll_deg, atol=1e-9)
    np.testing.assert_allclose(pitch, cb.pitch_deg, atol=1e-9)
    np.testing.assert_allclose(np.cos(np.radians(yaw - cb.yaw_deg)), 1.0)
    assert np.all((cb.roll_deg >= s.roll_deg[0]) & (cb.roll_deg <= s.roll_deg[1]))
    np.testing.assert_allclose(np.sin(np.radians(cb.elevation_deg)) * cb.distance_m, cb.height_m - PELVIS[2])


def test_person_yaw_is_relative_to_the_camera():
    _, cb = _cams(n=200)
    d = cb.position - PELVIS
    az = np.arctan2(d[:, 1], d[:, 0])
    psi = np.radians(cb.person_yaw_deg)   # camera horizontal direction (-sin psi, -cos psi): 0 = in front (-Y)
    np.testing.assert_allclose(np.cos(az - np.arctan2(-np.cos(psi), -np.sin(psi))), 1.0, atol=1e-12)
    s = CameraSettings(person_yaw_deg=(90.0, 90.0), height_m=(0.95, 0.95), tilt_jitter_deg=0.0, off_centre=0.0)
    cb = C.sample_cameras(np.random.default_rng(0), s, PELVIS, 3)
    # a person turned 90 deg shows its right side (-X for a body facing -Y): the camera is on -X
    assert np.all(cb.position[:, 0] < -0.99 * cb.distance_m)
    cb = C.sample_cameras(np.random.default_rng(0), s, PELVIS, 3, facing_deg=90.0)   # the body faces +X
    assert np.all(cb.position[:, 1] < -0.99 * cb.distance_m)


def test_centred_without_jitter_and_level_without_roll():
    s = CameraSettings(off_centre=0.0, tilt_jitter_deg=5.0, roll_deg=(0.0, 0.0))
    cb = C.sample_cameras(np.random.default_rng(1), s, PELVIS, 500)
    pc = _cam_coords(cb, PELVIS)
    np.testing.assert_allclose(pc[:, :2], 0.0, atol=1e-9)        # optical axis through the pelvis
    np.testing.assert_allclose(cb.R[:, 0, 2], 0.0, atol=1e-12)   # image x axis level
    # jitter with off_centre > 0 stays inside the box
    s = CameraSettings(off_centre=0.3, tilt_jitter_deg=20.0)
    cb = C.sample_cameras(np.random.default_rng(1), s, PELVIS, 2000)
    assert np.all(np.abs(cb.target_px - 320) <= 0.3 * 320 + 1e-6)


def test_distance_sampling_log_and_uniform():
    _, cb = _cams(n=20000, distance_m=(1.0, 100.0), height_m=(0.95, 0.95))
    q = np.quantile(np.log10(cb.distance_m), [0.25, 0.5, 0.75])
    np.testing.assert_allclose(q, [0.5, 1.0, 1.5], atol=0.03)   # log-uniform over 2 decades
    _, cb = _cams(n=20000, distance_m=(1.0, 100.0), height_m=(0.95, 0.95), distance_sampling="uniform")
    np.testing.assert_allclose(np.quantile(cb.distance_m, [0.25, 0.5, 0.75]), [25.75, 50.5, 75.25], atol=1.5)


def test_impossible_height_distance_combinations_are_avoided():
    s, cb = _cams(n=3000, distance_m=(1.0, 80.0), height_m=(5.0, 8.0))
    dz = cb.height_m - PELVIS[2]
    assert np.all(np.abs(dz) <= np.sin(np.radians(C.MAX_ELEVATION_DEG)) * cb.distance_m + 1e-9)
    assert cb.distance_m.min() >= (5.0 - PELVIS[2]) / np.sin(np.radians(C.MAX_ELEVATION_DEG))
    assert np.all((cb.height_m >= 5.0) & (cb.height_m <= 8.0))
    with pytest.raises(CameraError, match="height"):
        C.sample_cameras(np.random.default_rng(0), CameraSettings(distance_m=(1.0, 5.0), height_m=(50.0, 60.0)), PELVIS, 3)


def test_settings_errors_name_the_field():
    for kw, field in [({"distance_m": (5.0, 1.0)}, "distance_m"), ({"off_centre": 1.5}, "off_centre"),
                      ({"hfov_deg": (10.0, 190.0)}, "hfov_deg"), ({"distance_sampling": "cubic"}, "distance_sampling")]:
        with pytest.raises(SettingsError, match=field):
            C.sample_cameras(np.random.default_rng(0), CameraSettings(**kw), PELVIS, 2)


def test_same_seed_same_cameras_and_counter_rows_are_independent():
    s = CameraSettings()
    a = C.sample_cameras(np.random.default_rng(7), s, PELVIS, 100)
    b = C.sample_cameras(np.random.default_rng(7), s, PELVIS, 100)
    c = C.sample_cameras(np.random.default_rng(8), s, PELVIS, 100)
    for k, v in a.params().items():
        np.testing.assert_array_equal(v, b.params()[k])
    assert not np.allclose(a.R, c.R)
    keys = C.derive_seeds(0, np.arange(20), 3)
    assert len(set(keys.tolist())) == 20 and keys.dtype == np.int64 and np.all(keys >= 0)
    full = C.sample_cameras(C.CounterRNG(keys), s, PELVIS, 20)
    part = C.sample_cameras(C.CounterRNG(keys[12:15]), s, PELVIS, 3)
    # same values whatever the batch (to the last bits: numpy's vector loops may round differently)
    np.testing.assert_allclose(full.R[12:15], part.R, rtol=0, atol=1e-14)
    np.testing.assert_allclose(full.distance_m[12:15], part.distance_m, rtol=1e-14)
    np.testing.assert_array_equal(full.person_yaw_deg[12:15], part.person_yaw_deg)


def test_counter_rng_distribution():
    r = C.CounterRNG(np.arange(200000))
    u = r.random(200000)
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.005
    z = r.normal(0, 2, 200000)
    assert abs(z.mean()) < 0.02 and abs(z.std() - 2) < 0.02
    with pytest.raises(ValueError):
        r.random(5)


def test_look_at():
    rng = np.random.default_rng(3)
    pos, tgt = rng.normal(0, 5, (50, 3)), rng.normal(0, 1, (50, 3))
    roll = rng.uniform(-30, 30, 50)
    R, t = C.look_at(pos, tgt, roll)
    pc = np.einsum("nij,nj->ni", R, tgt) + t
    np.testing.assert_allclose(pc[:, :2], 0, atol=1e-9)
    np.testing.assert_allclose(pc[:, 2], np.linalg.norm(tgt - pos, axis=1))
    np.testing.assert_allclose(C.angles_from_rotation(R)[2], roll, atol=1e-9)
    # a level camera looking along +Y: image right = +X, image down = -Z
    R, t = C.look_at([0, -5, 1], [0, 0, 1])
    np.testing.assert_allclose(R, [[1, 0, 0], [0, 0, -1], [0, 1, 0]], atol=1e-12)
    np.testing.assert_allclose(t, [0, 1, 5], atol=1e-12)
    # positive roll turns the image content clockwise: a point right of centre moves down
    R, t = C.look_at([0, -5, 1], [0, 0, 1], 10.0)
    p = R @ np.array([1.0, 0, 1]) + t
    assert p[0] > 0 and p[1] > 0
    with pytest.raises(CameraError):
        C.look_at([1, 2, 3], [1, 2, 3])


def test_rotation_angles_round_trip():
    rng = np.random.default_rng(4)
    yaw, pitch, roll = rng.uniform(-179, 179, 300), rng.uniform(-85, 85, 300), rng.uniform(-170, 170, 300)
    R = C.rotation_from_angles(yaw, pitch, roll)
    y2, p2, r2 = C.angles_from_rotation(R)
    np.testing.assert_allclose(y2, yaw, atol=1e-8)
    np.testing.assert_allclose(p2, pitch, atol=1e-8)
    np.testing.assert_allclose(r2, roll, atol=1e-8)


def _random_pose(rng):
    R, t = C.look_at(rng.normal(0, 4, 3) + [0, 0, 2], rng.normal(0, 0.3, 3) + [0, 0, 1], rng.uniform(-20, 20))
    return R, t


@pytest.mark.parametrize("size", [(640, 480), (480, 640), (320, 320)])
def test_blender_camera_round_trip(size):
    W, H = size
    rng = np.random.default_rng(5)
    for _ in range(20):
        f = rng.uniform(200, 2000)
        K = np.array([[f, 0, W / 2 + rng.uniform(-50, 50)], [0, f, H / 2 + rng.uniform(-50, 50)], [0, 0, 1]])
        R, t = _random_pose(rng)
        p = C.blender_camera_params(K, W, H)
        assert p["sensor_fit"] == "HORIZONTAL" and p["sensor_width_mm"] == 36.0
        np.testing.assert_allclose(p["lens_mm"], f * 36.0 / W)
        M = C.opencv_to_blender_world_matrix(R, t)
        R2, t2, K2 = C.blender_to_opencv(M, p["lens_mm"], p["sensor_width_mm"], p["shift_x"], p["shift_y"], W, H)
        np.testing.assert_allclose(R2, R, atol=1e-12)
        np.testing.assert_allclose(t2, t, atol=1e-9)
        np.testing.assert_allclose(K2, K, rtol=1e-12, atol=1e-9)
        # object scale is ignored, as Blender ignores it for the view
        Ms = M.copy()
        Ms[:3, :3] *= 2.5
        R3, t3, _ = C.blender_to_opencv(Ms, p["lens_mm"], 36.0, p["shift_x"], p["shift_y"], W, H)
        np.testing.assert_allclose(R3, R, atol=1e-12)
        np.testing.assert_allclose(t3, t, atol=1e-9)


def test_blender_world_matrix_axes():
    R, t = C.look_at([0, -5, 1.5], [0, 0, 1.5])                 # looking along +Y, level
    M = C.opencv_to_blender_world_matrix(R, t)
    np.testing.assert_allclose(M[:3, 3], [0, -5, 1.5])          # camera location
    np.testing.assert_allclose(M[:3, :3] @ [0, 0, -1], [0, 1, 0], atol=1e-12)   # Blender looks down local -Z
    np.testing.assert_allclose(M[:3, :3] @ [0, 1, 0], [0, 0, 1], atol=1e-12)    # local +Y is up
    np.testing.assert_allclose(M[3], [0, 0, 0, 1])
    # batched
    Rs, ts = C.look_at(np.array([[0, -5, 1.5], [3, 0, 2]]), np.array([[0, 0, 1.5], [0, 0, 1]]))
    Ms = C.opencv_to_blender_world_matrix(Rs, ts)
    assert Ms.shape == (2, 4, 4)
    np.testing.assert_allclose(Ms[0], M)


def test_blender_sensor_fits_and_errors():
    W, H = 400, 800
    K = np.array([[500.0, 0, 190], [0, 500.0, 410], [0, 0, 1]])
    M = np.eye(4)
    # AUTO fits the larger dimension (here the height) to the sensor width; shift in units of it
    lens, sw = 500.0 * 36 / H, 36.0
    sx, sy = (W / 2 - 190) / H, (410 - H / 2) / H
    _, _, K2 = C.blender_to_opencv(M, lens, sw, sx, sy, W, H, sensor_fit="AUTO")
    np.testing.assert_allclose(K2, K)
    _, _, K3 = C.blender_to_opencv(M, 500.0 * 24 / H, 36.0, sx, sy, W, H, sensor_fit="VERTICAL", sensor_height=24.0)
    np.testing.assert_allclose(K3, K)
    with pytest.raises(CameraError, match="square pixels"):
        C.blender_camera_params([[500, 0, 200], [0, 510, 400], [0, 0, 1]], W, H)
    with pytest.raises(CameraError):
        C.blender_to_opencv(M, lens, sw, 0, 0, W, H, sensor_fit="DIAGONAL")


@pytest.mark.blender
def test_blender_camera_reproduces_K_and_pose(clean_blender):
    """The maths above against real bpy: project points with world_to_camera_view."""
    bpy = clean_blender
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Matrix, Vector

    scene = bpy.context.scene
    rng = np.random.default_rng(6)
    for W, H in [(640, 480), (480, 640)]:
        s = CameraSettings(image_size=(W, H), distance_m=(2.0, 10.0))
        cb = C.sample_cameras(rng, s, PELVIS, 3)
        for i in range(3):
            K = cb.K[i].copy()
            K[0, 2] += rng.uniform(-30, 30)
            K[1, 2] += rng.uniform(-30, 30)
            p = C.blender_camera_params(K, W, H)
            cam = bpy.data.cameras.new("cam")
            ob = bpy.data.objects.new("cam", cam)
            scene.collection.objects.link(ob)
            cam.lens, cam.sensor_width, cam.sensor_fit = p["lens_mm"], p["sensor_width_mm"], p["sensor_fit"]
            cam.shift_x, cam.shift_y = p["shift_x"], p["shift_y"]
            ob.matrix_world = Matrix(C.opencv_to_blender_world_matrix(cb.R[i], cb.t[i]).tolist())
            r = scene.render
            r.resolution_x, r.resolution_y, r.resolution_percentage = W, H, 100
            r.pixel_aspect_x = r.pixel_aspect_y = 1.0
            bpy.context.view_layer.update()
            pts = rng.normal([0, 0, 1], [0.5, 0.5, 0.8], (10, 3))
            pc = pts @ cb.R[i].T + cb.t[i]
            uv = (pc @ K.T)[:, :2] / pc[:, 2:]
            ndc = np.array([list(world_to_camera_view(scene, ob, Vector(q))) for q in pts])
            np.testing.assert_allclose(np.stack([ndc[:, 0] * W, (1 - ndc[:, 1]) * H], 1), uv, atol=2e-3)
            np.testing.assert_allclose(ndc[:, 2], pc[:, 2], rtol=1e-5)
            R2, t2, K2 = C.blender_to_opencv(np.array(ob.matrix_world), cam.lens, cam.sensor_width, cam.shift_x,
                                             cam.shift_y, W, H)
            np.testing.assert_allclose(K2, K, rtol=1e-5)
            np.testing.assert_allclose(R2, cb.R[i], atol=1e-5)
            np.testing.assert_allclose(t2, cb.t[i], atol=1e-4)
