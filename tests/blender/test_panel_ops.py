"""The DeepX sidebar: properties <-> settings translation, every deepx.* operator, the preset menu
and the panels' draw code, with the add-on registered from the source tree (bpy module, headless).

``exercise_operators`` runs every operator once with known answers; test_extension.py runs it
again against the installed extension zip.
"""
from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.blender


def _props():
    from deepx_addon.blender import props
    return props


def _custom_settings():
    from deepx_addon.core.settings import GeneratorSettings
    s = GeneratorSettings(seed=11, count=37, cameras_per_pose=3)
    s.body.stature_m, s.body.p_child, s.body.proportion_sd, s.body.girth = (1.2, 1.9), 0.25, 0.06, (0.9, 1.1)
    p = s.pose
    p.limits_preset, p.sampling, p.p_legs_preset, p.p_walk, p.p_both_legs_walk = "default", "normal", 0.7, 0.3, 0.2
    p.p_spine_turn, p.p_hands_up, p.p_head_turn, p.p_random_arms, p.p_blend = 0.1, 0.2, 0.4, 0.6, 0.15
    p.preset_weights, p.stride, p.jitter_deg = {"standing": 2.0, "sitting_box": 0.5}, 1.3, 3.5
    c = s.camera
    c.distance_m, c.distance_sampling, c.height_m, c.tilt_jitter_deg = (2.0, 30.0), "uniform", (0.5, 4.0), 2.0
    c.roll_deg, c.hfov_deg, c.image_size, c.person_yaw_deg = (-3.0, 3.0), (40.0, 70.0), (512, 512), (-90.0, 90.0)
    c.off_centre, c.p_occluder = 0.5, 0.25
    r = s.render
    r.engine, r.resolution, r.samples, r.downscale_levels = "BLENDER_WORKBENCH", (240, 320), 8, (1.0, 0.5, 0.25)
    r.depth_pass, r.mask_pass = True, True
    sc = s.scene
    sc.people, sc.clutter, sc.p_hdri, sc.noise_sd, sc.jpeg_quality = (2, 4), (0, 3), 0.5, (0.0, 0.01), (50, 90)
    sc.camera_kinds = {"any": 0.0, "dashcam": 2.0, "cctv": 1.0, "handheld": 0.5, "indoor": 0.0}
    s.validate()
    return s


# --------------------------------------------------------------------------------------------------
# properties <-> settings

def test_every_setting_has_a_property_and_defaults_match(bpy):
    from deepx_addon.core.settings import CAMERA_KIND_NAMES, GeneratorSettings
    props = _props()
    dx = bpy.context.scene.deepx
    for name, cls in props._GROUPS:
        group = getattr(dx, name)
        have = set(group.bl_rna.properties.keys())
        if {f"kind_{k}" for k in CAMERA_KIND_NAMES} <= have:      # SceneSettings.camera_kinds: one per kind
            have.add("camera_kinds")
        missing = [f.name for f in fields(cls) if f.name not in have]
        assert not missing, f"{cls.__name__} fields without a Scene.deepx.{name} property: {missing}"
    assert props.to_settings(bpy.context.scene) == GeneratorSettings()


def test_settings_round_trip_through_properties(bpy):
    props = _props()
    s = _custom_settings()
    props.from_settings(bpy.context.scene, s)
    assert props.to_settings(bpy.context.scene) == s


def test_landscape_resolution_and_two_downscale_levels_are_accepted(bpy):
    props = _props()
    scene = bpy.context.scene
    scene.deepx.render.resolution = (640, 480)
    scene.deepx.render.downscale_levels = "1, 0.5"
    s = props.to_settings(scene)
    assert s.render.resolution == (640, 480) and s.render.downscale_levels == (1.0, 0.5)


def test_bad_settings_are_refused_and_change_nothing(bpy):
    from deepx_addon.core.settings import SettingsError
    props = _props()
    scene = bpy.context.scene
    scene.deepx.camera.distance_m = (50.0, 5.0)
    with pytest.raises(SettingsError, match=r"CameraSettings.distance_m: min 50.0 > max 5.0"):
        props.to_settings(scene)
    scene.deepx.camera.distance_m = (5.0, 50.0)
    scene.deepx.render.downscale_levels = "1, half"
    with pytest.raises(SettingsError, match="downscale_levels"):
        props.to_settings(scene)
    scene.deepx.render.downscale_levels = "1"
    before = props.to_settings(scene)
    s = _custom_settings()
    s.camera.distance_m = (1.0, 5000.0)           # valid for core, beyond what the panel can hold
    with pytest.raises(SettingsError, match="distance_m"):
        props.from_settings(scene, s)
    assert props.to_settings(scene) == before      # nothing half-written


# --------------------------------------------------------------------------------------------------
# the panels' draw code, checked against the registered properties and operators

class FakeLayout:
    """Stands in for UILayout: records calls and checks every property/operator/menu name."""

    def __init__(self, log):
        self.log = log

    def __getattr__(self, name):            # alert, active, enabled, alignment, emboss, ...
        if name in ("row", "column", "box", "split", "column_flow", "grid_flow"):
            return lambda *a, **k: FakeLayout(self.log)
        return lambda *a, **k: None

    def __setattr__(self, name, value):
        object.__setattr__(self, name, value)

    def prop(self, data, name, **kw):
        assert name in data.bl_rna.properties, f"no property {name!r} on {data}"
        self.log.append(("prop", name))

    def operator(self, idname, **kw):
        import bpy
        mod, op = idname.split(".")
        getattr(getattr(bpy.ops, mod), op).get_rna_type()     # KeyError if not registered
        self.log.append(("operator", idname))
        return FakeProps()

    def menu(self, name, **kw):
        import bpy
        assert hasattr(bpy.types, name), f"menu {name} not registered"

    def template_list(self, listtype, list_id, data, prop, active_data, active_prop, **kw):
        import bpy
        assert hasattr(bpy.types, listtype)
        assert prop in data.bl_rna.properties and active_prop in active_data.bl_rna.properties

    def progress(self, **kw):
        assert 0.0 <= kw.get("factor", 0.0) <= 1.0


class FakeProps:
    def __setattr__(self, name, value):
        object.__setattr__(self, name, value)


class FakeSelf:
    def __init__(self, log, layout_type="DEFAULT"):
        self.layout = FakeLayout(log)
        self.layout_type = layout_type
        self.bl_idname = "FAKE"


def draw_every_panel(bpy, pkg) -> list:
    """Call draw() of every DeepX panel, UI list and the preset menu; returns the recorded calls."""
    log = []
    ctx = bpy.context
    pkg = _layer(pkg)
    for cls in pkg.panel.classes:
        if hasattr(cls, "draw_item"):
            data = ctx.scene.deepx if "joint" in cls.__name__ else ctx.scene.deepx.pose
            coll = data.limits if "joint" in cls.__name__ else data.preset_weights
            for item in list(coll)[:3]:
                for lt in ("DEFAULT", "GRID"):
                    cls.draw_item(FakeSelf(log, lt), ctx, FakeLayout(log), data, item, 0, data, "", 0)
        else:
            assert cls.poll(ctx)
            cls.draw(FakeSelf(log), ctx)
    menu = pkg.preset_menu.DEEPX_MT_limit_presets
    fake_menu = type("FakeMenu", (FakeSelf,), {
        "path_menu": bpy.types.Menu.path_menu,
        **{k: getattr(menu, k) for k in ("preset_operator", "preset_add_operator", "preset_extensions")}})
    menu.draw(fake_menu(log), ctx)
    return log


def test_panels_draw_with_real_properties(bpy):
    import deepx_addon.blender as pkg
    bpy.ops.deepx.reset_limits()
    bpy.ops.deepx.fill_preset_weights()
    bpy.ops.deepx.distribution_preview()
    log = draw_every_panel(bpy, pkg)
    ops = {name for kind, name in log if kind == "operator"}
    # every button of the sidebar is there (load_limits appears once per preset in the menu)
    assert {"deepx.create_mannequin", "deepx.apply_pose", "deepx.blend_presets", "deepx.save_pose_preset",
            "deepx.reset_pose", "deepx.reset_limits", "deepx.load_limits", "deepx.save_limits",
            "deepx.limit_preset_add", "deepx.randomize_pose", "deepx.randomize_camera",
            "deepx.distribution_preview", "deepx.batch_render", "deepx.fill_preset_weights"} <= ops
    # the settings check at the top shows the error instead of raising
    bpy.context.scene.deepx.body.stature_m = (2.0, 1.0)
    draw_every_panel(bpy, pkg)


# --------------------------------------------------------------------------------------------------
# every operator, with known answers (shared with test_extension.py)

def _rot(arm, bone):
    pb = arm.pose.bones[bone]
    return np.degrees(np.array(pb.rotation_euler))


def _layer(pkg):
    """The Blender layer's modules of a registration (source tree or installed extension)."""
    import importlib
    from types import SimpleNamespace
    return SimpleNamespace(**{m: importlib.import_module(f"{pkg.__name__}.{m}")
                              for m in ("props", "posing", "scene", "preset_menu", "operators", "panel")})


def exercise_operators(bpy, tmp_path: Path, pkg) -> dict:
    """Run every deepx.* operator headless in a fresh scene. ``pkg`` is the Blender layer package of
    whichever registration is active (source tree or installed extension)."""
    from deepx_addon.core import poses as core_poses
    pkg = _layer(pkg)
    scene = bpy.context.scene
    dx = scene.deepx
    done = {}

    # joint limits: reset, then the operators refuse an inverted range naming bone and axis
    assert bpy.ops.deepx.reset_limits() == {'FINISHED'}
    assert len(dx.limits) == len(pkg.props.limits_from_scene(scene).array)
    done["reset_limits"] = 1

    # mannequin (armature only: fast) and poses
    dx.with_mesh = False
    dx.stature_preview_m = 1.6
    assert bpy.ops.deepx.create_mannequin() == {'FINISHED'}
    arm = dx.mannequin
    assert arm is not None and arm.type == 'ARMATURE'
    kp = np.asarray(pkg.posing.world_keypoints(arm))
    assert kp[:, 2].min() > 0.0 and kp[:, 2].max() < 1.6          # standing, 1.6 m tall
    done["create_mannequin"] = 1
    assert bpy.ops.deepx.limit_constraints() == {'FINISHED'}
    assert "DeepX Limit" in arm.pose.bones["thigh_L"].constraints
    assert bpy.ops.deepx.limit_constraints(remove=True) == {'FINISHED'}
    assert not any(len(pb.constraints) for pb in arm.pose.bones)
    done["limit_constraints"] = 1

    presets = core_poses.load_presets()
    assert bpy.ops.deepx.apply_pose(preset="sitting_box") == {'FINISHED'}
    want = presets["sitting_box"].rotations["thigh_L"]
    assert np.allclose(_rot(arm, "thigh_L"), want, atol=1e-3)
    done["apply_pose"] = 1

    dx.preset_a, dx.preset_b, dx.blend_t = "standing", "sitting_box", 0.25
    assert bpy.ops.deepx.blend_presets() == {'FINISHED'}
    a = np.asarray(presets["standing"].rotations.get("thigh_L", (0, 0, 0)))
    assert np.allclose(_rot(arm, "thigh_L"), 0.75 * a + 0.25 * np.asarray(want), atol=1e-3)
    done["blend_presets"] = 1

    # the walk slider re-poses live (update callback) and the operator does the same
    dx.pose.stride = 1.0
    dx.walk_phase = 0.3
    legs = core_poses.walk_pose(0.3, 1.0)
    assert np.allclose(_rot(arm, "thigh_L"), legs["thigh_L"], atol=1e-3)
    assert np.allclose(_rot(arm, "calf_R"), legs["calf_R"], atol=1e-3)
    dx.walk_both_legs, dx.walk_phase_right = True, 0.9
    assert np.allclose(_rot(arm, "thigh_R"), core_poses.walk_pose(0.3, 1.0, 0.9)["thigh_R"], atol=1e-3)
    assert bpy.ops.deepx.walk_pose() == {'FINISHED'}
    done["walk_pose"] = 1

    # save the current pose as a user preset, apply it back after a reset
    assert bpy.ops.deepx.save_pose_preset(name="test walk", family="walking") == {'FINISHED'}
    user_file = pkg.preset_menu.user_preset_dir("poses") / "test_walk.json"
    assert user_file.is_file()
    from deepx_addon.core.paths import presets_dir
    assert not (presets_dir("poses") / "test_walk.json").exists()     # never into the shipped folder
    saved = json.loads(user_file.read_text())
    assert saved["family"] == "walking" and np.allclose(saved["rotations"]["thigh_R"], _rot(arm, "thigh_R"), atol=1e-2)
    with pytest.raises(RuntimeError, match="exists already"):
        bpy.ops.deepx.save_pose_preset(name="test walk", family="walking")
    done["save_pose_preset"] = 1
    assert bpy.ops.deepx.reset_pose() == {'FINISHED'}
    assert np.allclose(_rot(arm, "thigh_R"), 0.0)
    done["reset_pose"] = 1
    assert bpy.ops.deepx.apply_pose(preset="test_walk") == {'FINISHED'}
    assert np.allclose(_rot(arm, "thigh_R"), saved["rotations"]["thigh_R"], atol=1e-2)
    user_file.unlink()

    # the sampling-weight list gets every preset
    assert bpy.ops.deepx.fill_preset_weights() == {'FINISHED'}
    assert {i.name for i in dx.pose.preset_weights} >= set(presets)
    done["fill_preset_weights"] = 1

    # random pose: reproducible from its seed, within the panel's limits
    assert bpy.ops.deepx.randomize_pose(seed=5) == {'FINISHED'}
    r1 = {b.name: tuple(b.rotation_euler) for b in arm.pose.bones}
    bpy.ops.deepx.reset_pose()
    assert bpy.ops.deepx.randomize_pose(seed=5) == {'FINISHED'}
    assert r1 == {b.name: tuple(b.rotation_euler) for b in arm.pose.bones}
    limits = pkg.props.limits_from_scene(scene)
    assert limits.contains(pkg.posing.read_pose(arm), tol=1e-3)
    done["randomize_pose"] = 1

    # random camera: the pelvis lands inside the picture, K as sampled
    assert bpy.ops.deepx.randomize_camera(seed=3) == {'FINISHED'}
    cam = scene.camera
    assert cam is not None and cam.name == "DeepX_Camera"
    uv = pkg.scene.project_with_blender(cam, [pkg.posing.pelvis_world(arm)])[0]
    W, H = dx.render.resolution
    assert 0 <= uv[0] <= W and 0 <= uv[1] <= H
    done["randomize_camera"] = 1

    # distribution preview: all walking when only the walk branch can fire; fixed distance
    dx.preview_n = 60
    p = dx.pose
    p.p_legs_preset, p.p_walk, p.p_hands_up = 0.0, 1.0, 0.0
    dx.camera.distance_m = (10.0, 10.0)
    assert bpy.ops.deepx.distribution_preview() == {'FINISHED'}
    assert "walking 100%" in dx.preview_report and "Distance m: 10.0 / 10.0 / 10.0" in dx.preview_report
    img = bpy.data.images[dx.preview_image]
    assert tuple(img.size) == (180, 180) and Path(img.filepath_raw).is_file()
    p.p_legs_preset, p.p_walk, p.p_hands_up = 0.5, 0.5, 0.3
    dx.camera.distance_m = (1.0, 80.0)
    done["distribution_preview"] = 1

    # limit sets: save as a user preset (+), load back, remove (-); shipped ones stay
    dx.limits["thigh_L"].x_max = 33.0
    assert bpy.ops.deepx.limit_preset_add(name="Test Hips") == {'FINISHED'}
    user_limits = pkg.preset_menu.user_limits_dir() / "Test_Hips.json"
    assert user_limits.is_file() and dx.pose.limits_preset == "Test_Hips"
    assert bpy.ops.deepx.reset_limits() == {'FINISHED'}
    assert dx.limits["thigh_L"].x_max != 33.0
    assert bpy.ops.deepx.load_limits(filepath=str(user_limits)) == {'FINISHED'}
    assert dx.limits["thigh_L"].x_max == 33.0 and dx.pose.limits_preset == "Test_Hips"
    done["limit_preset_add"] = done["load_limits"] = 1
    out_json = tmp_path / "exported_limits.json"
    assert bpy.ops.deepx.save_limits(filepath=str(out_json)) == {'FINISHED'}
    assert json.loads(out_json.read_text())["bones"]["thigh_L"]["x"][1] == 33.0
    done["save_limits"] = 1

    # the batch with a user limit preset renders with exactly those limits, and resumes
    out = tmp_path / "batch"
    dx.output_dir = str(out)
    dx.count, dx.cameras_per_pose, dx.seed = 2, 2, 4
    r = dx.render
    r.engine, r.resolution, r.samples, r.downscale_levels = "CYCLES", (32, 32), 1, "1"
    assert bpy.ops.deepx.batch_render() == {'FINISHED'}
    labels = sorted((out / "labels").glob("*.json"))
    assert len(labels) == 2 and len(list((out / "images").glob("*.png"))) == 2
    run = json.loads((out / "settings.json").read_text())
    assert run["settings"]["pose"]["limits_preset"] == "Test_Hips"    # the user's preset, by name
    assert arm.hide_render is False and dx.batch_running is False
    assert [o for o in scene.objects if o.type == 'ARMATURE'] == [arm]     # the batch's own mannequin is gone
    labels[1].unlink()                                              # as if cancelled before the last sample
    assert bpy.ops.deepx.batch_render() == {'FINISHED'}
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["done_before"], summary["rendered"], summary["finished"]) == (1, 1, True)
    done["batch_render"] = 1

    assert bpy.ops.deepx.limit_preset_add(name="Test_Hips", remove_name=True) == {'FINISHED'}
    assert not user_limits.exists()
    assert bpy.ops.deepx.limit_preset_add(name="default", remove_name=True) == {'CANCELLED'}
    assert (presets_dir("limits") / "default.json").is_file()
    return done


def test_every_operator_runs_headless(bpy, tmp_path):
    import deepx_addon.blender as pkg
    from deepx_addon.blender import operators
    done = exercise_operators(bpy, tmp_path, pkg)
    ids = {cls.bl_idname.split(".")[1] for cls in operators.classes}
    ids.add("limit_preset_add")
    assert ids <= set(done), f"operators not exercised: {sorted(ids - set(done))}"


# --------------------------------------------------------------------------------------------------
# refusals: a report naming the problem, never a traceback

def test_bad_values_are_refused_with_a_report(bpy, tmp_path):
    scene = bpy.context.scene
    dx = scene.deepx
    for op in (bpy.ops.deepx.batch_render, bpy.ops.deepx.distribution_preview, bpy.ops.deepx.randomize_camera):
        dx.body.stature_m = (2.0, 1.5)
        with pytest.raises(RuntimeError, match=r"BodySettings.stature_m: min 2.0 > max 1.5"):
            op()
        dx.body.stature_m = (1.0, 2.0)
    dx.output_dir = ""
    with pytest.raises(RuntimeError, match="Output folder is empty"):
        bpy.ops.deepx.batch_render()
    dx.output_dir = "//renders/"
    with pytest.raises(RuntimeError, match="not saved yet"):
        bpy.ops.deepx.batch_render()
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    dx.output_dir = str(blocker / "sub")
    with pytest.raises(RuntimeError, match="not writable"):
        bpy.ops.deepx.batch_render()
    dx.output_dir = str(tmp_path / "ok")
    dx.shards, dx.shard_index = 2, 3
    with pytest.raises(RuntimeError, match="Shard 3 does not exist"):
        bpy.ops.deepx.batch_render()
    dx.shards, dx.shard_index = 1, 0
    # inverted joint limits in the panel, and panel edits not saved as a preset
    bpy.ops.deepx.reset_limits()
    dx.limits["neck"].y_min, dx.limits["neck"].y_max = 20.0, -20.0
    with pytest.raises(RuntimeError, match=r"neck.y min 20.0 > max -20.0"):
        bpy.ops.deepx.distribution_preview()
    dx.limits["neck"].y_min = -40.0
    with pytest.raises(RuntimeError, match="differ from the limit preset 'default'"):
        bpy.ops.deepx.batch_render()
    assert not (tmp_path / "ok" / "settings.json").exists()
    # operators that need the mannequin say so (poll message) instead of failing inside
    with pytest.raises(RuntimeError, match="Create the mannequin first"):
        bpy.ops.deepx.apply_pose(preset="standing")
    assert bpy.ops.deepx.limit_preset_add(name="nope", remove_name=True) == {'CANCELLED'}   # a warning
    bad = tmp_path / "bad_limits.json"
    bad.write_text(json.dumps({"bones": {"thigh_L": {"x": [10, -10]}}}))
    with pytest.raises(RuntimeError, match="thigh_L.x min 10.0 > max -10.0"):
        bpy.ops.deepx.load_limits(filepath=str(bad))


# --------------------------------------------------------------------------------------------------
# persistence: .blend files and limit presets

def test_settings_and_limits_survive_a_blend_file(bpy, tmp_path):
    props = _props()
    s = _custom_settings()
    scene = bpy.context.scene
    props.from_settings(scene, s)
    bpy.ops.deepx.reset_limits()
    scene.deepx.limits["head"].z_min = -12.5
    scene.deepx.output_dir = "//out/"
    scene.deepx.shards = 3
    limits = props.limits_from_scene(scene)
    path = tmp_path / "panel.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert props.to_settings(bpy.context.scene) != s
    bpy.ops.wm.open_mainfile(filepath=str(path))
    scene = bpy.context.scene
    assert props.to_settings(scene) == s
    assert np.array_equal(props.limits_from_scene(scene).array, limits.array)
    assert (scene.deepx.output_dir, scene.deepx.shards) == ("//out/", 3)


def test_limits_preset_round_trip(bpy):
    from deepx_addon.core.limits import JointLimits
    props = _props()
    scene = bpy.context.scene
    bpy.ops.deepx.reset_limits()
    default = JointLimits.load("default")
    assert np.array_equal(props.limits_from_scene(scene).array, default.array)
    scene.deepx.limits["calf_R"].x_min = -140.0
    assert bpy.ops.deepx.limit_preset_add(name="deep knees") == {'FINISHED'}
    from deepx_addon.blender.preset_menu import user_limits_dir
    path = user_limits_dir() / "deep_knees.json"
    loaded = JointLimits.load(path)
    assert loaded.range("calf_R", "x") == (-140.0, default.range("calf_R", "x")[1])
    assert np.array_equal(loaded.array, props.limits_from_scene(scene).array)
    scene.deepx.limits["calf_R"].x_min = -100.0
    assert bpy.ops.deepx.limit_preset_add(name="deep knees") == {'CANCELLED'}   # the name exists: no overwrite
    assert JointLimits.load(path).range("calf_R", "x")[0] == -140.0
    assert bpy.ops.deepx.limit_preset_add(name="deep_knees", remove_name=True) == {'FINISHED'}
    assert not path.exists()


def test_a_broken_user_pose_preset_neither_raises_nor_hides_the_others(bpy):
    """Issue 11: a malformed user preset raised out of the apply/blend operators, and one bad user
    file disabled every preset, shipped ones included. Now it is skipped with a warning."""
    from deepx_addon.blender import state
    dx = bpy.context.scene.deepx
    dx.with_mesh = False
    assert bpy.ops.deepx.create_mannequin() == {'FINISHED'}
    user = state.user_preset_dir("poses")
    broken = {"broken_list.json": "[1, 2]", "broken_rot.json": '{"name": "x", "family": "standing", "rotations": [1]}',
              "broken_bytes.json": "\udcff"}
    try:
        for name, text in broken.items():
            (user / name).write_bytes(text.encode("utf-8", "surrogateescape"))
        assert bpy.ops.deepx.apply_pose(preset="standing") == {'FINISHED'}
        dx.preset_a, dx.preset_b = "standing", "sitting_box"
        assert bpy.ops.deepx.blend_presets() == {'FINISHED'}
        assert "standing" in state.pose_preset_names()
    finally:
        for name in broken:
            (user / name).unlink()
