"""The in-Blender "predicted vs true distance" preview (blender/preview.py + runtime/preview.py), headless:
a standing mannequin 6 m from a camera, one quick Cycles render, the detector on ONNX Runtime and on
torch, the distance model, the exact true distance; the operator's refusals; the overlay's geometry;
build.py's runtime bundling (with stand-in wheels, offline).
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from deepx_addon.runtime.detector import load_detector

pytestmark = pytest.mark.blender

ROOT = Path(__file__).resolve().parents[2]
DIST_M = 6.0
W0, H0 = 960, 720          # the scene's render size; the preview renders a crop around the person


@pytest.fixture(scope="module")
def pose_onnx():
    """The YOLO11n-pose ONNX file the runtime finds (exported once by scripts/export_onnx.py if needed)."""
    pytest.importorskip("onnxruntime")
    from deepx_addon.runtime.detector import find_pose_onnx
    if find_pose_onnx() is None:
        sys.path.insert(0, str(ROOT / "scripts"))
        try:
            import export_onnx
            export_onnx.export()
        except Exception as e:  # noqa: BLE001 - the export needs torch + ultralytics
            pytest.skip(f"no yolo11n-pose ONNX file and no way to export one: {e}")
        finally:
            sys.path.remove(str(ROOT / "scripts"))
    return find_pose_onnx()


def _build_scene(bpy):
    """Standing mannequin at the origin, the DeepX camera 6 m from its pelvis looking at it."""
    from deepx_addon.blender.posing import pelvis_world
    from deepx_addon.blender.scene import set_camera, setup_scene
    from deepx_addon.core.cameras import intrinsics_from_hfov, look_at
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    assert bpy.ops.deepx.create_mannequin() == {'FINISHED'}
    assert bpy.ops.deepx.apply_pose(preset="standing") == {'FINISHED'}
    rig = setup_scene()
    pel = pelvis_world(scene.deepx.mannequin)
    d = np.array([1.0, -6.0, 0.3])
    pos = pel + d / np.linalg.norm(d) * DIST_M
    R, t = look_at(pos, pel)
    set_camera(rig.camera, intrinsics_from_hfov(50.0, W0, H0), R, t, W0, H0)
    scene.render.engine = 'BLENDER_WORKBENCH'       # a user's settings the preview must leave alone
    scene.render.resolution_percentage = 100
    scene.cycles.samples = 77
    scene.render.filepath = "//user_out_"
    scene.render.image_settings.file_format = 'JPEG'
    return scene, pos, pel


def _render_settings(scene):
    r = scene.render
    return (r.engine, r.resolution_x, r.resolution_y, r.resolution_percentage, r.filepath,
            r.image_settings.file_format, scene.cycles.samples, scene.cycles.use_denoising, r.use_compositing)


@pytest.fixture(scope="module")
def previewed(addon, pose_onnx):
    """One preview (ONNX detector, default distance model) of the 6 m scene, with its render."""
    from deepx_addon.blender.preview import preview_distance
    bpy = addon
    scene, pos, pel = _build_scene(bpy)
    before = _render_settings(scene)
    res = preview_distance(bpy.context, detector="onnx", return_image=True)
    return scene, pos, pel, before, res


def test_preview_true_distance_detection_and_prediction(previewed, bpy_module):
    from deepx_addon.blender.scene import project_with_blender
    scene, pos, pel, before, res = previewed
    cam = scene.camera
    # the true distance is the geometry: camera centre -> pelvis (mid-hip)
    assert np.linalg.norm(np.array(cam.matrix_world.translation) - pel) == pytest.approx(DIST_M, abs=1e-4)
    assert abs(res["true_m"] - DIST_M) < 1e-3
    # the render is a crop around the person at the scene's size; K (of the crop), R, t reproduce
    # Blender's own projection shifted by the crop's corner
    x0, y0, x1, y1 = res["crop"]
    assert res["render_size"] == [W0, H0] and res["image"].shape == (y1 - y0, x1 - x0, 3)
    assert 0 <= x0 < x1 <= W0 and 0 <= y0 < y1 <= H0 and (x1 - x0) * (y1 - y0) < W0 * H0 / 2
    from deepx_addon.blender.posing import world_keypoints
    blender_px = project_with_blender(cam, world_keypoints(scene.deepx.mannequin)) - [x0, y0]
    assert np.abs(np.asarray(res["true_keypoints"])[:, :2] - blender_px).max() < 0.01
    # the detector found the mannequin, and the prediction is near the truth
    assert res["n_people"] >= 1 and res["score"] > 0.5 and res["oks"] > 0.1
    kp = np.asarray(res["keypoints"])
    assert kp.shape == (17, 3) and (kp[5:, 2] > 0.5).all()           # body keypoints (no face needed)
    assert res["ok"] and res["status"] in ("ok", "low_confidence")
    assert abs(res["predicted_m"] - DIST_M) / DIST_M < 0.25, res
    assert res["sigma_m"] > 0 and res["error_m"] == pytest.approx(res["predicted_m"] - res["true_m"], abs=1e-3)
    assert "onnxruntime" in res["detector"]
    assert res["model"].startswith(("learned", "Sloth"))
    # stored for the panel; the user's render settings are back
    pv = scene.deepx_preview
    assert pv.has_result and pv.ok and pv.status == res["status"]
    assert pv.predicted_m == pytest.approx(res["predicted_m"], rel=1e-6)
    assert pv.true_m == pytest.approx(res["true_m"], rel=1e-6)
    assert np.allclose(json.loads(pv.keypoints_json), kp)
    assert _render_settings(scene) == before
    # the Preview sub-panel draws the numbers (test_panel_ops' recording layout checks every name)
    import deepx_addon.blender as layer
    from test_panel_ops import draw_every_panel
    log = draw_every_panel(bpy_module, layer)
    assert ("operator", "deepx.preview_distance") in log and ("prop", "show_overlay") in log


def test_onnx_and_torch_backends_agree(previewed, tmp_path):
    """Same render: the ONNX and the torch detector give the same keypoints, hence the same distance;
    a learned model gives the same distance on ONNX Runtime and on torch."""
    pytest.importorskip("torch")
    pytest.importorskip("ultralytics")
    from deepx_addon.blender.posing import world_keypoints
    from deepx_addon.runtime import preview as rp
    scene, pos, pel, before, res = previewed
    kw = world_keypoints(scene.deepx.mannequin)
    args = (res["image"], res["K"], res["R"], res["t"], kw)
    est, _, _ = rp.load_distance_model("sloth")
    runs = {}
    for backend in ("onnx", "torch"):
        det, label = load_detector(backend)
        runs[backend] = rp.run(*args, det, est)
        assert runs[backend]["ok"], runs[backend]
    a, b = (np.asarray(runs[k]["keypoints"]) for k in ("onnx", "torch"))
    assert np.linalg.norm(a[:, :2] - b[:, :2], axis=1).max() < 1.5
    assert np.abs(a[:, 2] - b[:, 2]).max() < 0.02
    assert abs(runs["onnx"]["predicted_m"] / runs["torch"]["predicted_m"] - 1) < 0.01
    # the learned model on both backends (the shipped one, else a tiny one trained here)
    json_path = _learned_model(tmp_path)
    onnx, note = _build_module().ensure_model_onnx(json_path)
    assert onnx == json_path.with_suffix(".onnx") and onnx.is_file(), note
    assert _build_module().ensure_model_onnx(json_path)[1].endswith("up to date")
    det, _ = load_detector("onnx")
    preds = {}
    for backend in ("onnx", "torch"):
        est, label, note = rp.load_distance_model(str(json_path), backend)
        assert label.endswith(backend if backend == "torch" else "onnxruntime") and note is None
        preds[backend] = rp.run(*args, det, est)
        assert preds[backend]["ok"], preds[backend]
    assert abs(preds["onnx"]["predicted_m"] / preds["torch"]["predicted_m"] - 1) < 0.01
    assert abs(preds["onnx"]["sigma_m"] / preds["torch"]["sigma_m"] - 1) < 0.01


def _build_module():
    spec = importlib.util.spec_from_file_location("deepx_build_preview", ROOT / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _learned_model(tmp_path) -> Path:
    """A copy of the shipped model (json + safetensors), else a tiny model trained for a few steps."""
    import shutil
    from deepx_addon.ml.registry import default_model_path
    src = default_model_path()
    if src is not None and src.with_suffix(".safetensors").is_file():
        for suffix in (".json", ".safetensors"):   # same stem: the json names its weights file
            shutil.copy2(src.with_suffix(suffix), tmp_path / src.with_suffix(suffix).name)
        return tmp_path / src.name
    from deepx_addon.core.standin import standin_data
    from deepx_addon.ml.train import TrainConfig, TrainData, save_result, train
    d = standin_data(2000, seed=5)
    data = TrainData.from_arrays(d["keypoints_2d"], d["K"], d["distance_m"], d["depth_m"], d["family"])
    cfg = TrainConfig(hidden=32, blocks=1, steps=20, batch_size=256, lr=3e-3, eval_every=10,
                      val_fraction=0.1, seed=3, threads=1)
    json_path, _, _ = save_result(train(data, cfg, progress=False), tmp_path / "model", command="pytest")
    return json_path


def test_overlay_geometry_lands_on_the_detected_pixels(previewed):
    from deepx_addon.blender.preview import overlay_geometry
    from deepx_addon.runtime.preview import label
    scene, pos, pel, before, res = previewed
    geo = overlay_geometry(res)
    kp = np.asarray(res["keypoints"])
    keep = kp[:, 2] >= 0.3
    K, R, t = (np.asarray(res[k]) for k in ("K", "R", "t"))
    pc = geo["points"] @ R.T + t
    uv = pc[:, :2] / pc[:, 2:3] * [K[0, 0], K[1, 1]] + K[:2, 2]
    assert len(uv) == keep.sum() and np.abs(uv - kp[keep, :2]).max() < 1e-6
    assert np.allclose(pc[:, 2], res["true_depth_m"])
    assert len(geo["segments"]) >= 10 and geo["camera"] == scene.camera.name
    text = label(res)
    assert geo["label"] == text and text.startswith("pred ") and text.endswith(f"| true {DIST_M:.1f} m") and "±" in text
    assert label({"ok": False, "true_m": 8.1}) == "no estimate | true 8.1 m"


def test_operator_refuses_without_camera_or_mannequin_and_reports_missing_backends(addon, monkeypatch):
    from deepx_addon.blender import preview as bp
    from deepx_addon.runtime import detector as rdet
    from deepx_addon.runtime import preview as rp
    bpy = addon
    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert not bpy.ops.deepx.preview_distance.poll()
    with pytest.raises(RuntimeError, match="no active camera"):
        bpy.ops.deepx.preview_distance()
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    bpy.context.scene.collection.objects.link(cam)
    bpy.context.scene.camera = cam
    with pytest.raises(RuntimeError, match="No DeepX mannequin"):
        bpy.ops.deepx.preview_distance()
    with pytest.raises(bp.PreviewError, match="No DeepX mannequin"):
        bp.preview_distance(bpy.context)
    cam.data.type = 'ORTHO'
    assert "perspective camera" in bp.check_camera(bpy.context.scene)
    cam.data.type = 'PERSP'
    # with a mannequin but neither onnxruntime nor torch: a clear error, no render spent
    dx = bpy.context.scene.deepx
    dx.with_mesh = False
    assert bpy.ops.deepx.create_mannequin() == {'FINISHED'}
    assert bpy.ops.deepx.preview_distance.poll()
    for mod in (rp, rdet):      # the detector chooser and the model chooser
        monkeypatch.setattr(mod, "module_available", lambda name: False)
    with pytest.raises(RuntimeError, match="no pose detector"):     # headless, an ERROR report raises
        bpy.ops.deepx.preview_distance()
    pv = bpy.context.scene.deepx_preview
    assert pv.status == "error" and "no pose detector" in pv.message
    assert "onnxruntime is not installed" in pv.message and "torch and ultralytics not installed" in pv.message
    import deepx_addon.blender as layer
    from test_panel_ops import draw_every_panel
    draw_every_panel(bpy, layer)                              # the error state draws too
    with pytest.raises(rdet.BackendError, match="ONNX detector unavailable"):
        rdet.load_detector("onnx")
    est, label, note = rp.load_distance_model(None)          # no learned model usable: Sloth, said so
    assert label.startswith("Sloth") and "Sloth" in note


def test_render_size_caps_the_long_side(addon):
    from deepx_addon.blender.preview import render_size
    bpy = addon
    bpy.ops.wm.read_factory_settings(use_empty=True)
    r = bpy.context.scene.render
    r.resolution_x, r.resolution_y, r.resolution_percentage = 1920, 1080, 50
    assert render_size(bpy.context.scene, 640) == (640, 360)
    assert render_size(bpy.context.scene, 4096) == (960, 540)
    r.resolution_x, r.resolution_y, r.resolution_percentage = 300, 1000, 100
    assert render_size(bpy.context.scene, 640) == (192, 640)


def test_runtime_path_imports_no_torch(pose_onnx):
    """What Blender runs: ONNX detector + the default distance model, no torch, no cv2 imported."""
    code = ("import sys, numpy as np\n"
            "from deepx_addon.runtime import preview as rp\n"
            "from deepx_addon.runtime.detector import load_detector\n"
            "det, dl = load_detector('auto'); est, ml, note = rp.load_distance_model(None)\n"
            "kw = np.c_[np.zeros(17), np.zeros(17), np.linspace(0.1, 1.7, 17)]\n"
            "K = [[500, 0, 160], [0, 500, 120], [0, 0, 1]]; R = [[1, 0, 0], [0, 0, -1], [0, 1, 0]]\n"
            "r = rp.run(np.full((240, 320, 3), 128, np.uint8), K, R, [0, 1, 6], kw, det, est)\n"
            "print(r['status'], 'torch' in sys.modules, 'cv2' in sys.modules, dl)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    status, torch_loaded, cv2_loaded, *label = out.stdout.split()
    assert (status, torch_loaded, cv2_loaded) == ("no_person", "False", "False"), out.stdout + out.stderr
    assert "onnxruntime" in " ".join(label)


def test_build_bundles_wheels_and_onnx_files(tmp_path, monkeypatch, bpy_module):
    """build.py's runtime bundling with stand-in wheels and ONNX file (offline): the manifest lists the
    wheels, the files sit where the runtime looks, Blender's tool validates it; --split-platforms
    gives one zip per platform with only its wheels."""
    b = _build_module()
    cache = tmp_path / "wheels"
    cache.mkdir()
    names = [f"onnxruntime-{b.ONNXRUNTIME_VERSION}-cp311-cp311-{tag}.whl"
             for tag in ("manylinux_2_28_x86_64", "win_amd64", "macosx_14_0_arm64")]
    for n in names:
        with zipfile.ZipFile(cache / n, "w") as z:
            z.writestr("onnxruntime/__init__.py", "")
    fake_onnx = tmp_path / "yolo.onnx"
    fake_onnx.write_bytes(b"not really onnx")
    monkeypatch.setattr(b, "WHEEL_CACHE", cache)
    monkeypatch.setattr(b, "pose_onnx_file", lambda: fake_onnx)
    fetch = b.fetch_wheels
    monkeypatch.setattr(b, "fetch_wheels", lambda p, py, quiet=True: fetch(p, py, cache=cache))
    out = b.build(tmp_path / "dist", quiet=True, platforms=("linux-x64", "windows-x64", "macos-arm64"),
                  pythons=("3.11",))
    with zipfile.ZipFile(out) as z:
        files = set(z.namelist())
        manifest = z.read("blender_manifest.toml").decode()
    import tomllib
    m = tomllib.loads(manifest)
    assert sorted(m["wheels"]) == sorted(f"./wheels/{n}" for n in names)
    assert "platforms" not in m                       # one zip installs anywhere (no wheel: fallback)
    assert {f"wheels/{n}" for n in names} <= files
    assert {"models/yolo11n-pose.onnx", "models/yolo11n-pose.NOTICE.txt"} <= files
    outs = b.build(tmp_path / "split", quiet=True, platforms=("linux-x64", "windows-x64"), pythons=("3.11",),
                   split_platforms=True)
    assert [o.name for o in outs] == ["deepx-0.1.0-linux_x64.zip", "deepx-0.1.0-windows_x64.zip"]
    for o, tag in zip(outs, ("manylinux_2_28_x86_64", "win_amd64")):
        with zipfile.ZipFile(o) as z:
            whl = [n for n in z.namelist() if n.endswith(".whl")]
        assert whl == [f"wheels/onnxruntime-{b.ONNXRUNTIME_VERSION}-cp311-cp311-{tag}.whl"]
    # --no-runtime: neither wheels nor ONNX files
    small = b.build(tmp_path / "small", quiet=True, runtime=False)
    with zipfile.ZipFile(small) as z:
        assert not any(n.endswith((".whl", ".onnx")) and "deepx_default" not in n for n in z.namelist())
        assert "wheels" not in tomllib.loads(z.read("blender_manifest.toml").decode())
    # a wheel that is not in the cache and cannot be downloaded: a clear error naming it
    monkeypatch.setattr(b.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 1, "", "offline"))
    with pytest.raises(b.BuildError, match=r"no onnxruntime .* wheel for linux-x64 / Python 3.13"):
        fetch(("linux-x64",), ("3.13",), cache=cache)


@pytest.mark.parametrize("preset, dist", [("standing", 30.0), ("standing", 45.0), ("hands_up", 22.0)])
def test_preview_finds_far_people(addon, pose_onnx, preset, dist):
    """Issue 10 item 6: at 640 px of the whole frame nobody was found beyond ~15-20 m; the crop
    around the person keeps them many pixels tall."""
    from deepx_addon.blender.posing import pelvis_world
    from deepx_addon.blender.preview import preview_steps
    from deepx_addon.blender.scene import set_camera, setup_scene
    from deepx_addon.core.cameras import intrinsics_from_hfov, look_at
    bpy = addon
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    assert bpy.ops.deepx.create_mannequin() == {'FINISHED'}
    assert bpy.ops.deepx.apply_pose(preset=preset) == {'FINISHED'}
    rig = setup_scene()
    pel = pelvis_world(scene.deepx.mannequin)
    d = np.array([1.0, -6.0, 0.3])
    R, t = look_at(pel + d / np.linalg.norm(d) * dist, pel)
    set_camera(rig.camera, intrinsics_from_hfov(50.0, 1920, 1080), R, t, 1920, 1080)
    # the modal operator's stages: a status text before each slow step, then the result
    items = list(preview_steps(bpy.context, detector="onnx"))
    *stages, res = items
    assert [s.split()[0] for s in stages] == ["Loading", "Rendering", "Detecting"]
    assert res["n_people"] >= 1 and res["ok"], res["message"]
    assert abs(res["predicted_m"] / res["true_m"] - 1) < 0.35
