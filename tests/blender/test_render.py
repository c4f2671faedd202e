"""The render path: camera exactness, label geometry, determinism, resume, downscaling, occlusion.

Small images (64-112 px) and few Cycles samples keep the whole file well under a minute on 2 cores.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deepx_addon.core.camera import project

pytestmark = pytest.mark.blender

ROOT = Path(__file__).resolve().parents[2]
W, H = 112, 80          # landscape: exercises Blender's sensor fit end to end


def _settings(count=4, cameras_per_pose=2, **render):
    from deepx_addon.core.settings import GeneratorSettings
    s = GeneratorSettings(seed=7, count=count, cameras_per_pose=cameras_per_pose)
    s.render.resolution = (W, H)
    s.camera.image_size = (W, H)
    s.render.samples = 2
    s.camera.distance_m = (2.5, 9.0)
    s.camera.p_occluder = 0.5
    s.scene.realistic = False       # one person per image: the exact-count tests below (realistic: at the end)
    for k, v in render.items():
        setattr(s.render, k, v)
    return s


def _look_at(position, target, roll_deg=0.0):
    from deepx_addon.core.cameras import look_at
    R, t = look_at(np.asarray(position, float), np.asarray(target, float), roll_deg=roll_deg)
    return np.asarray(R).reshape(3, 3), np.asarray(t).reshape(3)


def _read(path) -> np.ndarray:
    """RGB pixels read by Blender itself (a real Blender's Python has no Pillow)."""
    from deepx_addon.blender.render import read_png
    return np.rint(read_png(path)[..., :3]).astype(np.int16)


def _files(d: Path) -> dict:
    """Relative path -> bytes of every dataset file (summary.json and summaries/ hold timings: left out)."""
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*"))
            if p.is_file() and p.name != "summary.json" and p.parent.name != "summaries"}


# ---------------------------------------------------------------------------------------------------
# camera

def test_set_camera_reproduces_K_exactly(clean_blender):
    """world_to_camera_view on the Blender camera == core projection with K, any principal point."""
    from deepx_addon.blender.scene import project_with_blender, set_camera, setup_scene
    rig = setup_scene()
    rng = np.random.default_rng(3)
    for W, H in ((160, 120), (90, 160), (128, 128)):
        f = rng.uniform(0.6, 2.0) * W
        K = np.array([[f, 0, W * rng.uniform(0.3, 0.7)], [0, f, H * rng.uniform(0.3, 0.7)], [0, 0, 1.0]])
        R, t = _look_at(rng.uniform(-5, 5, 3) + [0, 0, 6], rng.uniform(-1, 1, 3), roll_deg=rng.uniform(-20, 20))
        pts_cam = np.c_[rng.uniform(-1.5, 1.5, (25, 2)), rng.uniform(2, 12, 25)]
        pts_world = (pts_cam - t) @ R                  # x_w = R^T (x_c - t)
        set_camera(rig.camera, K, R, t, W, H)
        err = np.abs(project_with_blender(rig.camera, pts_world) - project(pts_cam, K)).max()
        assert err < 0.5, (W, H, err)
        assert err < 1e-3                              # in fact exact up to float32


# ---------------------------------------------------------------------------------------------------
# one small dataset, rendered once for the module

@pytest.fixture(scope="module")
def dataset(bpy_module, tmp_path_factory):
    from deepx_addon.blender.batch import run_batch
    bpy_module.ops.wm.read_factory_settings(use_empty=True)
    out = tmp_path_factory.mktemp("render") / "ds"
    s = _settings(downscale_levels=(1.0, 0.5), depth_pass=True, mask_pass=True)
    summary = run_batch(s, out)
    return out, s, summary


def _labels(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((out / "labels").glob("*.json"))]


def test_batch_writes_complete_dataset(dataset):
    from deepx_addon.core.records import read_jsonl
    out, s, summary = dataset
    assert summary["finished"] and summary["rendered"] == 4 and summary["dataset"]["missing"] == 0
    labels = _labels(out)
    assert [lab["index"] for lab in labels] == [0, 1, 2, 3]
    assert [lab["id"] for lab in labels] == ["p000000-c000", "p000000-c001", "p000001-c000", "p000001-c001"]
    assert labels[0]["pose_seed"] == labels[1]["pose_seed"] != labels[2]["pose_seed"]
    assert labels[0]["keypoints_3d_world"] == labels[1]["keypoints_3d_world"]   # one pose, two cameras
    for lab in labels:
        assert (out / lab["image"]).is_file() and (out / lab["depth_image"]).is_file()
        assert (out / lab["mask_image"]).is_file()
        assert _read(out / lab["image"]).shape == (H, W, 3)
    recs = read_jsonl(out / "labels.jsonl")
    assert len(recs) == 8                               # each sample + its half-size copy
    coco = json.loads((out / "coco_keypoints.json").read_text())
    assert len(coco["images"]) == len(coco["annotations"]) == 8
    assert not [p for p in out.rglob(".*")]             # no temporary files left


def test_labels_match_geometry_and_blender(dataset, bpy_module):
    """2D labels = K-projection of the 3D camera keypoints = what Blender's own camera shows."""
    from deepx_addon.blender import scene as scn
    out, s, _ = dataset
    cam = bpy_module.data.objects[scn.CAMERA]
    for lab in _labels(out):
        K, R, t = (np.array(lab[k] if k == "K" else lab["camera"][k]) for k in ("K", "R", "t"))
        kw, kc = np.array(lab["keypoints_3d_world"]), np.array(lab["keypoints_3d_camera"])
        kp = np.array(lab["keypoints_2d"])
        np.testing.assert_allclose(kc, kw @ R.T + t, atol=1e-9)
        front = kc[:, 2] > 0
        np.testing.assert_allclose(kp[front, :2], project(kc[front], K), atol=1e-6)
        scn.set_camera(cam, K, R, t, *lab["image_size"])
        assert np.abs(scn.project_with_blender(cam, kw[front]) - kp[front, :2]).max() < 0.5
        pelvis = 0.5 * (kc[11] + kc[12])
        assert lab["distance_m"] == pytest.approx(np.linalg.norm(pelvis), abs=1e-9)
        assert lab["depth_m"] == pytest.approx(pelvis[2], abs=1e-9)
        assert lab["distance_m"] == pytest.approx(np.linalg.norm(np.array(lab["camera"]["position"])
                                                                 - np.array(lab["pelvis_world"])), abs=1e-6)
        assert 2.5 - 1e-6 <= lab["distance_m"] <= 9.0 + 1e-6
        W, H = lab["image_size"]
        inside = front & (kp[:, 0] >= 0) & (kp[:, 0] <= W) & (kp[:, 1] >= 0) & (kp[:, 1] <= H)
        assert np.array_equal(kp[:, 2] > 0, inside)       # v = 0 exactly outside the frame
        x, y, w, h = lab["bbox"]
        assert 0 <= x and 0 <= y and x + w <= W + 1e-9 and y + h <= H + 1e-9


def test_downscaled_copies_are_consistent(dataset):
    out, s, _ = dataset
    for lab in _labels(out):
        (v,) = lab["views"]
        W, H = lab["image_size"]
        w2, h2 = v["image_size"]
        assert (w2, h2) == (round(W * 0.5), round(H * 0.5)) and (v["sx"], v["sy"]) == (w2 / W, h2 / H)
        assert _read(out / v["image"]).shape == (h2, w2, 3)
        K2 = np.diag([v["sx"], v["sy"], 1.0]) @ np.array(lab["K"])
        np.testing.assert_allclose(v["K"], K2, atol=1e-12)
        kc = np.array(lab["keypoints_3d_camera"])
        kp2 = np.array(v["keypoints_2d"])
        on = kc[:, 2] > 0
        np.testing.assert_allclose(kp2[on, :2], project(kc[on], v["K"]), atol=1e-6)
        assert np.array_equal(kp2[:, 2], np.array(lab["keypoints_2d"])[:, 2])
        # the picture agrees: the half-size image is the full one averaged over 2x2 blocks
        full, half = _read(out / lab["image"]).astype(float), _read(out / v["image"]).astype(float)
        blocks = full.reshape(h2, 2, w2, 2, 3).mean(axis=(1, 3))
        assert np.abs(blocks - half).max() <= 1.0


def test_depth_and_mask_passes(dataset, bpy_module):
    out, s, _ = dataset
    for lab in _labels(out):
        img = bpy_module.data.images.load(str(out / lab["depth_image"]))
        W, H = lab["image_size"]
        a = np.empty(W * H * img.channels, np.float32)
        img.pixels.foreach_get(a)
        depth = a.reshape(H, W, img.channels)[::-1, :, 0]         # Blender rows run bottom-up
        bpy_module.data.images.remove(img)
        # every pixel whose ray meets the ground: depth <= the ground's (person/occluders are in front),
        # and most pixels are the ground itself
        K, R, t = np.array(lab["K"]), np.array(lab["camera"]["R"]), np.array(lab["camera"]["t"])
        C = np.array(lab["camera"]["position"])
        u, v = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
        rays_c = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1)
        dz_world = (rays_c @ R)[..., 2]                             # world z change per unit camera depth
        ground = dz_world < -1e-3
        z_ground = np.where(ground, -C[2] / np.where(ground, dz_world, -1), np.inf)
        g = ground & (z_ground < 200)
        assert g.sum() > 0.2 * W * H
        assert np.all(depth[g] <= z_ground[g] * 1.001 + 1e-4)
        assert np.mean(np.abs(depth[g] - z_ground[g]) <= 1e-3 * z_ground[g]) > 0.5
        mask = _read(out / lab["mask_image"])[..., 0] > 127
        if mask.any():
            ys, xs = np.nonzero(mask)
            x, y, w, h = lab["bbox"]
            assert xs.min() >= np.floor(x) - 1 and xs.max() <= np.ceil(x + w) + 1
            assert ys.min() >= np.floor(y) - 1 and ys.max() <= np.ceil(y + h) + 1
            # the person is nearer than the ground behind it
            assert np.median(depth[mask]) < lab["depth_m"] + 1.0


def test_same_seed_same_sample(bpy_module, tmp_path):
    from deepx_addon.blender.render import RenderContext, render_sample
    bpy_module.ops.wm.read_factory_settings(use_empty=True)
    ctx = RenderContext(_settings(), tmp_path)
    a = render_sample(ctx, 12345, sample_id="a")
    render_sample(ctx, 999, sample_id="other")              # another pose + camera in between
    b = render_sample(ctx, 12345, sample_id="b")
    strip = lambda lab: {k: v for k, v in lab.items() if k not in ("id", "image")}   # noqa: E731
    assert strip(a) == strip(b)
    assert np.array_equal(_read(tmp_path / a["image"]), _read(tmp_path / b["image"]))
    c = render_sample(ctx, 12346, sample_id="c")
    assert c["camera"]["R"] != a["camera"]["R"] and c["keypoints_3d_world"] != a["keypoints_3d_world"]


def test_kill_and_resume_gives_the_same_dataset(dataset, bpy_module, tmp_path):
    from deepx_addon.blender.batch import run_batch
    from deepx_addon.core.runfolder import RunFolderError
    ref, s, _ = dataset
    # a run killed mid-way: one label gone (its image may or may not exist), temp files left behind
    broken = tmp_path / "broken"
    shutil.copytree(ref, broken)
    (broken / "labels" / "p000001-c000.json").unlink()
    (broken / "labels" / "p000000-c001.json").unlink()
    (broken / "images" / "p000000-c001.png").unlink()
    (broken / "images" / ".p000001-c000.png.tmp-shard0of1").write_bytes(b"half a png")
    (broken / "labels" / ".p000001-c000.json.abc123.tmp").write_text("{")
    (broken / "labels.jsonl").unlink()
    bpy_module.ops.wm.read_factory_settings(use_empty=True)
    summary = run_batch(s, broken)
    assert summary["rendered"] == 2 and summary["done_before"] == 2 and summary["stray_temps_removed"] == 2
    assert _same_dataset(ref, broken)

    # stopped by the caller after 2 samples, then resumed; also as two shards
    stopped = tmp_path / "stopped"
    calls = []
    summary = run_batch(s, stopped, progress=calls.append, should_stop=lambda: len(calls) >= 2)
    assert not summary["finished"] and summary["dataset"]["missing"] == 2
    run_batch(s, stopped)
    assert _same_dataset(ref, stopped)

    sharded = tmp_path / "sharded"
    summary = run_batch(s, sharded, shard="1/2")
    # whole poses per shard (a pose change re-syncs Cycles' world and body)
    assert sorted(p.stem for p in (sharded / "labels").glob("*.json")) == ["p000001-c000", "p000001-c001"]
    # the shard that does not complete the run leaves the dataset files to the one that does
    assert summary["dataset"]["missing"] == 2 and "deferred" in summary["dataset"]
    assert not (sharded / "labels.jsonl").exists() and not (sharded / "coco_keypoints.json").exists()
    run_batch(s, sharded, shard=(0, 2))
    assert _same_dataset(ref, sharded)

    # another generator into the same folder is refused, naming what differs
    other = _settings(downscale_levels=(1.0, 0.5), depth_pass=True, mask_pass=True)
    other.camera.distance_m = (3.0, 9.0)
    with pytest.raises(RunFolderError, match="camera.distance_m"):
        run_batch(other, broken)


def _same_dataset(a: Path, b: Path) -> bool:
    """Same files, byte for byte (renders are deterministic and carry no time stamps)."""
    fa, fb = _files(a), _files(b)
    assert sorted(fa) == sorted(fb)
    for name in fa:
        assert fa[name] == fb[name], name
    return True


# ---------------------------------------------------------------------------------------------------
# occlusion

def test_visibility_wall_and_frame(bpy_module, tmp_path):
    from deepx_addon.blender import occlusion
    from deepx_addon.blender.render import RenderContext, project_safe
    bpy_module.ops.wm.read_factory_settings(use_empty=True)
    s = _settings()
    s.camera.p_occluder = 0.0
    from deepx_addon.blender.mannequin import build_mannequin, remove_mannequin
    from deepx_addon.blender.posing import apply_pose, world_keypoints
    from deepx_addon.core.poses import load_presets
    panel = build_mannequin()                             # the panel's own mannequin, 3 m in front
    panel.location = (0.0, -3.0, 0.0)
    ctx = RenderContext(s, tmp_path)
    ctx.set_pose(0)                                       # builds the render mannequin; then the standing preset
    assert ctx.armature != panel and panel.hide_render and all(c.hide_render for c in panel.children)
    apply_pose(ctx.armature, load_presets()["standing"].rotations)
    kw = world_keypoints(ctx.armature)
    pelvis = 0.5 * (kw[11] + kw[12])
    C = np.array([0.0, -6.0, 1.0]) + [pelvis[0], pelvis[1], 0]    # in front (the person faces -Y)
    R, t = _look_at(C, pelvis)
    w = h = 96
    K = np.array([[150.0, 0, 48], [0, 150.0, 48], [0, 0, 1]])                # wide enough for the whole body
    kc = kw @ R.T + t
    uv = project_safe(kc, K)

    def vis():
        occlusion.keypoint_visibility(kw, C, uv, kc[:, 2], w, h)         # warm-up, same result
        return occlusion.keypoint_visibility(kw, C, uv, kc[:, 2], w, h)

    occlusion.hide_occluders(ctx.occluders)
    free = vis()
    assert (free > 0).all()
    assert (free[[5, 6, 11, 12]] == 2).all()          # shoulders and hips face the camera
    ctx.close()                                       # the panel's mannequin is back in the render ...
    from deepx_addon.blender.mannequin import OUTFIT_PIECES
    outfit = {piece[0] for piece in OUTFIT_PIECES}              # hidden until set_outfit shows them
    assert not panel.hide_render and not any(c.hide_render for c in panel.children if c["deepx_part"] not in outfit)
    assert (vis()[[5, 6, 11, 12]] == 1).all()         # ... and now stands in the way
    remove_mannequin(panel)
    wall = occlusion.place_occluder(ctx.occluders[0], "wall", (C[0], C[1] + 3.0), (6.0, 3.0, 0.2), 0.0)
    assert wall["kind"] == "wall"
    assert (vis() == 1).all()                          # everything in the frame, nothing visible
    occlusion.hide_occluders(ctx.occluders)
    assert np.array_equal(vis(), free)
    # a narrow view of the head: the ankles fall outside the frame
    Kn = np.array([[900.0, 0, 48], [0, 900.0, 48], [0, 0, 1]])
    R2, t2 = _look_at(C, kw[0])
    kc2 = kw @ R2.T + t2
    v2 = occlusion.keypoint_visibility(kw, C, project_safe(kc2, Kn), kc2[:, 2], w, h)
    assert v2[0] > 0 and v2[15] == 0 and v2[16] == 0


def test_sampled_occluders_stay_between_camera_and_person(bpy_module):
    from deepx_addon.blender import occlusion, scene as scn
    bpy_module.ops.wm.read_factory_settings(use_empty=True)
    rig = scn.setup_scene()
    pool = occlusion.occluder_pool(rig.collection)
    rng = np.random.default_rng(0)
    placed = 0
    for _ in range(200):
        cam = np.r_[rng.uniform(-10, 10, 2), rng.uniform(0.3, 3)]
        person = np.r_[rng.uniform(-1, 1, 2), 1.0]
        target = person + np.r_[rng.uniform(-0.8, 0.8, 2), 0.5]        # e.g. a wrist
        occ = occlusion.sample_occluders(pool, rng, 0.7, cam, target, person, 0.9)
        shown = [o for o in pool if not o.hide_render]
        assert len(shown) == len(occ) <= 1
        for d in occ:
            placed += 1
            c, (w, h, dep), yaw = np.array(d["center"][:2]), d["size_whd"], np.radians(d["yaw_deg"])
            axes = np.array([[np.cos(yaw), np.sin(yaw)], [-np.sin(yaw), np.cos(yaw)]])
            for p, margin in ((cam[:2], 0.29), (person[:2], 0.89)):
                lx, ly = np.abs(axes @ (p - c))
                assert np.hypot(max(lx - w / 2, 0), max(ly - dep / 2, 0)) > margin     # clear of the footprint
    assert placed > 60


# ---------------------------------------------------------------------------------------------------
# command line

def test_cli_generate_and_errors(bpy_module, tmp_path, capsys):
    from deepx_addon.cli import main
    out = tmp_path / "cli"
    rc = main(["generate", "--out", str(out), "--count", "2", "--resolution", "64x48", "--samples", "1",
               "--cameras-per-pose", "2", "--distance", "3", "6", "--yolo", "-q"])
    assert rc == 0
    assert (out / "yolo" / "data.yaml").is_file()
    assert len(list((out / "yolo" / "labels").rglob("*.txt"))) == 2
    assert sorted(p.name for p in (out / "labels").glob("*.json")) == ["p000000-c000.json", "p000000-c001.json"]
    assert "2/2 samples" in capsys.readouterr().out
    (out / "labels.jsonl").unlink()
    assert main(["generate", "--out", str(out), "--finalize-only"]) == 0
    assert len((out / "labels.jsonl").read_text().splitlines()) == 2
    assert main(["generate", "--out", str(out), "--count", "2", "--shard", "2/2"]) == 2
    assert "shard 2/2" in capsys.readouterr().err
    assert main(["generate", "--out", str(out), "--count", "2", "--resolution", "64x48", "--samples", "3"]) == 2
    assert "render.samples" in capsys.readouterr().err       # settings differ from the folder's run
    assert (out / "labels.jsonl").is_file()                  # a refused run keeps the folder's files
    new = tmp_path / "new" / "run"
    assert main(["generate", "--out", str(new), "--count", "2", "--set", "pose.preset_weights.nosuch=1"]) == 2
    assert "nosuch" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()                   # and leaves no empty folder it created


def test_cli_generate_from_blend(bpy_module, tmp_path, capsys):
    from deepx_addon.blender import props
    from deepx_addon.cli import main
    bpy_module.ops.wm.read_factory_settings(use_empty=True)
    if not hasattr(bpy_module.types.Scene, "deepx"):
        props.register()
    dx = bpy_module.context.scene.deepx
    dx.count, dx.cameras_per_pose, dx.seed = 1, 1, 11
    dx.render.resolution = (64, 64)
    dx.camera.image_size = (64, 64)
    dx.render.samples = 1
    dx.camera.distance_m = (3.0, 6.0)
    bpy_module.ops.mesh.primitive_cube_add(size=3.0, location=(0, 0, 1.0))   # a user's object over the person
    blend = tmp_path / "scene.blend"
    bpy_module.ops.wm.save_as_mainfile(filepath=str(blend))
    rc = main(["generate", "--blend", str(blend), "--out", str(tmp_path / "o"), "-q"])
    assert rc == 0, capsys.readouterr().err
    saved = json.loads((tmp_path / "o" / "settings.json").read_text())["settings"]
    assert saved["seed"] == 11 and saved["count"] == 1 and saved["render"]["resolution"] == [64, 64]
    (lab,) = _labels(tmp_path / "o")
    assert 2 in [int(v) for *_, v in lab["keypoints_2d"]]        # a clean scene: the cube is not there
    rc = main(["generate", "--blend", str(blend), "--use-scene", "--out", str(tmp_path / "u"), "-q"])
    assert rc == 0, capsys.readouterr().err
    (lab,) = _labels(tmp_path / "u")
    assert {int(v) for *_, v in lab["keypoints_2d"]} <= {0, 1}     # the .blend's cube hides the person
    bpy_module.ops.wm.read_factory_settings(use_empty=True)


@pytest.mark.slow
def test_workbench_in_a_subprocess(tmp_path):
    """Workbench needs EGL and aborts the process without it: always exercise it in a child."""
    import bpy
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    args = ["--out", str(tmp_path / "wb"), "--count", "1", "--engine", "BLENDER_WORKBENCH", "--resolution", "64", "-q"]
    if bpy.app.binary_path:       # a real Blender: a child Blender runs the batch (its Python has no bpy module)
        cmd = [bpy.app.binary_path, "-b", "--factory-startup", "--python-exit-code", "1", "--python-expr",
               f"import sys; sys.path.insert(0, {str(ROOT)!r}); from deepx_addon.blender.batch import main; "
               "sys.exit(main())", "--", *args]
    else:
        cmd = [sys.executable, "-m", "deepx_addon.cli", "generate", *args]
    r = subprocess.run(cmd, cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=240)
    if r.returncode == 2 and "cannot render here" in r.stderr:
        pytest.skip(f"no OpenGL/EGL here: {r.stderr.strip()[-200:]}")
    assert r.returncode == 0, r.stderr[-2000:]
    lab = json.loads(next((tmp_path / "wb" / "labels").glob("*.json")).read_text())
    assert lab["render"]["engine"] == "BLENDER_WORKBENCH"
    assert _read(tmp_path / "wb" / lab["image"]).std() > 1.0     # not a blank image


# ---------------------------------------------------------------------------------------------------
# realistic scenes (SceneSettings.realistic, the default)

def test_denoise_modes(bpy_module, tmp_path):
    """render.denoise: the label records the denoiser used; where this Blender has OpenImageDenoise a
    denoised render is smoother than the raw samples and seeded like one; "oidn" without it is an error."""
    from deepx_addon.blender import scene as scn
    from deepx_addon.blender.render import RenderContext, render_sample
    from deepx_addon.core.settings import SettingsError
    assert scn.cycles_denoiser("off") is None and scn.cycles_denoiser("auto", "BLENDER_WORKBENCH") is None
    labels, images = {}, {}
    for mode in ("off", "auto"):
        bpy_module.ops.wm.read_factory_settings(use_empty=True)
        ctx = RenderContext(_settings(denoise=mode), tmp_path / mode)
        labels[mode] = [render_sample(ctx, 4242, sample_id=f"a{i}") for i in range(2)]
        images[mode] = [_read(tmp_path / mode / lab["image"]).astype(float) for lab in labels[mode]]
        assert np.array_equal(images[mode][0], images[mode][1])          # seeded: same bytes twice
    assert labels["off"][0]["render"]["denoiser"] is None
    if not scn.oidn_available():
        assert labels["auto"][0]["render"]["denoiser"] is None
        assert np.array_equal(images["auto"][0], images["off"][0])
        with pytest.raises(SettingsError, match="OpenImageDenoise"):
            scn.cycles_denoiser("oidn")
        from deepx_addon.blender.batch import BatchJob
        with pytest.raises(ValueError, match="OpenImageDenoise"):        # refused before anything is written
            BatchJob(_settings(denoise="oidn"), tmp_path / "oidn")
        assert not (tmp_path / "oidn").exists()
        return
    assert labels["auto"][0]["render"]["denoiser"] == "OPENIMAGEDENOISE"
    # grain: mean absolute difference between horizontally adjacent pixels
    grain = {m: np.abs(np.diff(images[m][0], axis=1)).mean() for m in images}
    assert grain["auto"] < 0.8 * grain["off"], grain


def test_small_images_render_people_at_subdivision_1(bpy_module, tmp_path):
    """render.subdivision "auto" caps the people's render subdivision at 1 on a small image (through
    Simplify, restored by close()); the labels - keypoints, boxes, visibility, all taken from the
    viewport evaluation - are the same as at level 2, only the silhouettes' pixels differ a little."""
    from deepx_addon.blender.render import RenderContext, render_sample
    labels, images = {}, {}
    for mode in ("auto", "2"):
        bpy_module.ops.wm.read_factory_settings(use_empty=True)
        r = bpy_module.context.scene.render
        assert not r.use_simplify
        ctx = RenderContext(_settings(subdivision=mode), tmp_path / mode)
        assert r.use_simplify == (mode == "auto") and (mode != "auto" or r.simplify_subdivision_render == 1)
        labels[mode] = render_sample(ctx, 4242, sample_id="a")
        images[mode] = _read(tmp_path / mode / labels[mode]["image"]).astype(float)
        ctx.close()
        assert not r.use_simplify
    assert labels["auto"]["render"]["subdivision"] == 1 and labels["2"]["render"]["subdivision"] == 2
    strip = lambda lab: {k: v for k, v in lab.items() if k not in ("render", "image")}   # noqa: E731
    assert strip(labels["auto"]) == strip(labels["2"])
    diff = np.abs(images["auto"] - images["2"]).max(axis=-1)
    assert 0 < np.count_nonzero(diff > 8) < 0.02 * diff.size         # a few edge pixels, nothing else


def test_realistic_scene_is_seeded_and_labelled(bpy_module, tmp_path):
    """Same seed -> identical scene (world, ground, clutter, other people, degradation, pixels);
    every person gets keypoints, what hides each of them, and its height in pixels."""
    from deepx_addon.blender.render import RenderContext, render_sample
    from deepx_addon.core.runfolder import label_to_records
    bpy_module.ops.wm.read_factory_settings(use_empty=True)
    s = _settings(downscale_levels=(1.0, 0.5))
    s.scene.realistic = True
    s.scene.people = (3, 3)
    s.scene.clutter = (4, 4)
    s.scene.p_hdri = 1.0
    ctx = RenderContext(s, tmp_path)
    a = render_sample(ctx, 4242, pose_seed=17, sample_id="a")
    render_sample(ctx, 77, pose_seed=18, sample_id="other")
    b = render_sample(ctx, 4242, pose_seed=17, sample_id="b")
    strip = lambda lab: {k: v for k, v in lab.items() if k not in ("id", "image", "views")}   # noqa: E731
    assert strip(a) == strip(b)
    assert np.array_equal(_read(tmp_path / a["image"]), _read(tmp_path / b["image"]))
    assert a["surroundings"]["hdri"] in ("city", "courtyard", "forest", "interior", "night", "studio",
                                         "sunrise", "sunset")
    assert a["camera"]["kind"] in ("any", "dashcam", "cctv", "handheld", "indoor")
    # a Python without Pillow (a real Blender's) skips the JPEG step and says so in the label
    assert set(a["degradation"]) - {"jpeg_skipped"} == {"blur_px", "noise_sd", "jpeg_quality", "noise_seed"}
    assert len(a["others"]) <= 2 and a["clutter"] is not None
    kinds = {None, "self", "umbrella", "person", "clutter", "occluder", "seat", "ground", "other"}
    for p in [a, *a["others"]]:
        kp = np.asarray(p["keypoints_2d"])
        assert kp.shape == (17, 3) and len(p["occluded_by"]) == 17 and set(p["occluded_by"]) <= kinds
        assert all((o is None) == (v != 1) for o, v in zip(p["occluded_by"], kp[:, 2]))
        assert p["person_height_px"] is None or p["person_height_px"] > 0
    rows = label_to_records(a)
    assert len(rows) == 2 * (1 + len(a["others"]))           # every person in the render and its copy
    people = [a, *a["others"]]
    assert all(r["outfit"] == people[r["person"]]["outfit"] and r["outfit"]["lower"] for r in rows)
    assert len({r["id"] for r in rows}) == len(rows)
    half = [r for r in rows if r["scale"] == 0.5]
    full = {r["person"]: r for r in rows if r["scale"] == 1.0}
    for r in half:
        if r["person_height_px"] is not None:
            assert r["person_height_px"] == pytest.approx(0.5 * full[r["person"]]["person_height_px"], rel=1e-6)
    c = render_sample(ctx, 4243, pose_seed=17, sample_id="c")          # another camera on the same pose
    assert c["camera"]["R"] != a["camera"]["R"] and c["surroundings"] == a["surroundings"]


def test_plain_scene_keeps_the_old_generator(bpy_module, tmp_path):
    from deepx_addon.blender.render import RenderContext, render_sample
    bpy_module.ops.wm.read_factory_settings(use_empty=True)
    s = _settings()
    s.scene.realistic = False
    lab = render_sample(RenderContext(s, tmp_path), 5, sample_id="p", render=False)
    assert "others" not in lab and "degradation" not in lab and lab["camera"]["kind"] == "any"


def test_skirts_coats_and_umbrellas_in_the_label(bpy_module, tmp_path):
    """With p_skirt = p_coat = p_umbrella = 1 every person wears a skirt or dress and a coat and
    holds an umbrella (none with both hands up): the label and its labels.jsonl rows say so, the
    holding arm is posed to hold it (core/body.py umbrella_grip) before the keypoints are read, and
    the person's bbox leaves the umbrella out."""
    from deepx_addon.blender.mannequin import body_meshes
    from deepx_addon.blender.posing import read_pose, world_keypoints
    from deepx_addon.blender.render import RenderContext, _mesh_vertices, render_sample
    from deepx_addon.core.body import umbrella_grip
    from deepx_addon.core.runfolder import label_to_records
    bpy_module.ops.wm.read_factory_settings(use_empty=True)
    s = _settings()
    s.scene.realistic = True
    s.scene.people = (2, 2)
    s.scene.p_skirt = s.scene.p_coat = s.scene.p_umbrella = 1.0
    ctx = RenderContext(s, tmp_path)
    families = set()
    for seed in (3, 4, 6):                      # hands up, walking, sitting
        lab = render_sample(ctx, 100 + seed, pose_seed=seed, sample_id=f"u{seed}", render=False)
        families.add(lab["pose"]["family"])
        for p in [lab, *lab["others"]]:
            o = p["outfit"]
            assert o["lower"] in ("skirt", "dress") and o["coat"] in ("open", "closed")
            assert o["umbrella"] == "none" if p["pose"]["family"] == "hands_up" else o["umbrella"] in ("left", "right")
        assert all(r["outfit"] == [lab, *lab["others"]][r["person"]]["outfit"] for r in label_to_records(lab))
        o = lab["outfit"]
        np.testing.assert_allclose(lab["keypoints_3d_world"], world_keypoints(ctx.armature), atol=1e-6)
        if o["umbrella"] == "none":
            continue
        held = umbrella_grip({}, o["umbrella"])
        got = read_pose(ctx.armature)
        for bone, rot in held.items():
            np.testing.assert_allclose(got[bone], rot, atol=1e-4)
        side = o["umbrella"][0].upper()
        shown = {m["deepx_part"]: m for m in body_meshes(ctx.armature) if not m.hide_render}
        assert {"skirt", "coat_sleeves", "umbrella_" + side} <= set(shown)
        assert len(_mesh_vertices([shown["umbrella_" + side]])) == 0              # not in the person's box
        ev = shown["umbrella_" + side].evaluated_get(bpy_module.context.evaluated_depsgraph_get())
        umb_top = max((ev.matrix_world @ v.co).z for v in ev.to_mesh().vertices)
        ev.to_mesh_clear()
        assert _mesh_vertices(ctx.meshes)[:, 2].max() < umb_top - 0.2
    assert families >= {"hands_up", "walking", "sitting"}


def test_an_umbrella_hides_the_person_from_a_cctv_camera(bpy_module, tmp_path):
    """Seen from a CCTV camera (2.5-6 m, looking down) an umbrella held over the head hides keypoints,
    and the label says so (occluded_by "umbrella", visibility 1)."""
    from deepx_addon.blender.render import RenderContext, render_sample
    bpy_module.ops.wm.read_factory_settings(use_empty=True)
    s = _settings()
    s.scene.realistic = True
    s.scene.people, s.scene.clutter = (1, 1), (0, 0)
    s.scene.p_umbrella = 1.0
    s.scene.camera_kinds = {"cctv": 1.0}
    ctx = RenderContext(s, tmp_path)
    hidden = []
    for seed in (2, 4):
        lab = render_sample(ctx, 200 + seed, pose_seed=seed, sample_id=f"c{seed}", render=False)
        assert lab["camera"]["kind"] == "cctv" and lab["outfit"]["umbrella"] != "none"
        hidden += [v for o, (_x, _y, v) in zip(lab["occluded_by"], lab["keypoints_2d"]) if o == "umbrella"]
    assert len(hidden) >= 10 and set(hidden) == {1}           # measured: 13 and 16 of 17 under the canopy
