"""Regression tests for a technical artist's first hour in a real Blender (issue 10, items 1-7):
each runs in a real Blender (`make test-blender`) and, where it can, with the bpy module too."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.blender


def _mannequin(bpy):
    dx = bpy.context.scene.deepx
    dx.with_mesh = False
    assert bpy.ops.deepx.create_mannequin() == {'FINISHED'}
    return dx.mannequin


def _rotations(arm) -> np.ndarray:
    return np.array([list(pb.rotation_euler) for pb in arm.pose.bones])


def _small_batch(dx, out, count=2, cameras=1):
    dx.output_dir = str(out)
    dx.count, dx.cameras_per_pose, dx.seed = count, cameras, 3
    r = dx.render
    r.engine, r.resolution, r.samples, r.downscale_levels = "CYCLES", (32, 32), 1, "1"


# ---- 1. Random Pose on a fresh scene; limit errors turn "Settings valid" off ------------------------

def test_random_pose_on_a_fresh_scene_samples_from_the_limit_preset(bpy):
    from deepx_addon.blender.props import limits_from_scene
    from deepx_addon.core.limits import JointLimits
    from deepx_addon.core.paths import presets_dir
    scene = bpy.context.scene
    assert len(scene.deepx.limits) == 0                       # a fresh file: the list was never filled
    assert np.array_equal(limits_from_scene(scene).array,
                          JointLimits.load(presets_dir("limits") / "default.json").array)
    arm = _mannequin(bpy)
    scene.deepx.pose.p_random_arms = 1.0                       # arms always drawn from the limits
    rest = _rotations(arm)
    moved = 0
    for seed in range(10):
        assert bpy.ops.deepx.randomize_pose(seed=seed) == {'FINISHED'}
        moved += not np.allclose(_rotations(arm), rest, atol=1e-4)
    assert moved == 10


def test_a_limit_with_min_above_max_makes_the_settings_invalid(bpy):
    from deepx_addon.blender.props import check_scene
    from deepx_addon.core.settings import SettingsError
    scene = bpy.context.scene
    check_scene(scene)
    assert bpy.ops.deepx.reset_limits() == {'FINISHED'}
    item = scene.deepx.limits["thigh_L"]
    item.x_min, item.x_max = 40.0, -10.0
    with pytest.raises(SettingsError, match="thigh_L"):
        check_scene(scene)
    _mannequin(bpy)
    with pytest.raises(RuntimeError, match="thigh_L"):         # the operators refuse it too
        bpy.ops.deepx.randomize_pose(seed=1)


# ---- 2. downscaled copies without Pillow; bad settings refused before the first render ------------

def test_downscaled_copies_need_no_pillow(bpy, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)              # as in a real Blender: no Pillow
    dx = bpy.context.scene.deepx
    _small_batch(dx, tmp_path / "out")
    dx.render.resolution = (40, 30)
    dx.render.downscale_levels = "1, 0.5"
    assert bpy.ops.deepx.batch_render() == {'FINISHED'}
    lab = json.loads(next((tmp_path / "out" / "labels").glob("*.json")).read_text())
    assert lab["views"][0]["image_size"] == [20, 15]
    from deepx_addon.blender.render import read_png
    small = read_png(tmp_path / "out" / lab["views"][0]["image"])
    big = read_png(tmp_path / "out" / lab["image"])
    assert small.shape[:2] == (15, 20)
    # the copy is the 2x2 box average of the render (to rounding)
    box = big[..., :3].reshape(15, 2, 20, 2, 3).mean((1, 3))
    assert np.abs(small[..., :3] - box).max() <= 1.0


@pytest.mark.parametrize("levels, why", [("0", "downscale_levels"), ("1, abc", "downscale_levels"),
                                          ("1, 0.001", "leaves no pixel")])
def test_bad_render_settings_are_refused_before_anything_is_written(bpy, tmp_path, levels, why):
    dx = bpy.context.scene.deepx
    out = tmp_path / "out"
    _small_batch(dx, out)
    dx.render.downscale_levels = levels
    with pytest.raises(RuntimeError, match=why):
        bpy.ops.deepx.batch_render()
    assert not (out / "settings.json").exists() and not (out / "images").exists()


# ---- 3. the user's own pose presets in the batch ---------------------------------------------------

def test_the_batch_uses_the_users_pose_preset(bpy, tmp_path):
    dx = bpy.context.scene.deepx
    arm = _mannequin(bpy)
    arm.pose.bones["thigh_L"].rotation_euler = (1.2, 0.0, 0.0)
    assert bpy.ops.deepx.save_pose_preset(name="artist_lunge", family="standing", overwrite=True) == {'FINISHED'}
    assert bpy.ops.deepx.fill_preset_weights() == {'FINISHED'}
    for item in dx.pose.preset_weights:
        item.weight = 1.0 if item.name == "artist_lunge" else 0.0
    p = dx.pose
    p.p_legs_preset, p.p_walk, p.p_blend = 1.0, 0.0, 0.0
    _small_batch(dx, tmp_path / "out", count=3)
    assert bpy.ops.deepx.batch_render() == {'FINISHED'}
    labels = [json.loads(f.read_text()) for f in sorted((tmp_path / "out" / "labels").glob("*.json"))]
    assert len(labels) == 3
    assert all("artist_lunge" in json.dumps(lab["pose"]["recipe"]) for lab in labels)


def test_an_unknown_pose_preset_is_refused_before_the_first_render(bpy, tmp_path):
    dx = bpy.context.scene.deepx
    dx.pose.preset_weights.add().name = "nobody_has_this"
    out = tmp_path / "out"
    _small_batch(dx, out)
    with pytest.raises(RuntimeError, match="nobody_has_this"):
        bpy.ops.deepx.batch_render()
    assert not (out / "settings.json").exists()


# ---- 5. the batch leaves the artist's scene as it was ---------------------------------------------

def _scene_state(bpy):
    scene = bpy.context.scene
    return {"objects": sorted((o.name, tuple(round(v, 6) for v in o.matrix_world.translation), o.hide_render)
                              for o in scene.objects),
            "camera": scene.camera.name if scene.camera else None,
            "world": scene.world.name if scene.world else None,
            "collections": sorted(c.name for c in scene.collection.children_recursive),
            "engine": scene.render.engine, "resolution": (scene.render.resolution_x, scene.render.resolution_y),
            "data_objects": len(bpy.data.objects), "scenes": len(bpy.data.scenes)}


def test_the_batch_leaves_the_artists_scene_untouched(bpy, blender_exe, tmp_path):
    scene = bpy.context.scene
    cam = bpy.data.objects.new("ArtistCam", bpy.data.cameras.new("ArtistCam"))
    scene.collection.objects.link(cam)
    cam.location = (3.0, -4.0, 1.5)
    scene.camera = cam
    scene.world = bpy.data.worlds.new("ArtistWorld")
    _mannequin(bpy)
    dx = scene.deepx
    dx.camera.p_occluder = 1.0                                 # occluders and a seat would be built
    _small_batch(dx, tmp_path / "out", count=2)
    before = _scene_state(bpy)
    assert bpy.ops.deepx.batch_render() == {'FINISHED'}
    assert len(list((tmp_path / "out" / "labels").glob("*.json"))) == 2
    assert _scene_state(bpy) == before


# ---- 7. Distribution Preview ----------------------------------------------------------------------

def test_distribution_preview_refreshes_its_histogram(bpy):
    dx = bpy.context.scene.deepx
    dx.preview_n = 200
    dx.camera.distance_m = (2.0, 4.0)
    assert bpy.ops.deepx.distribution_preview(seed=1) == {'FINISHED'}
    img = bpy.data.images[dx.preview_image]
    first = np.array(img.pixels[:])
    report = dx.preview_report
    dx.camera.distance_m = (40.0, 80.0)                        # people much smaller: the bars move
    assert bpy.ops.deepx.distribution_preview(seed=1) == {'FINISHED'}
    img2 = bpy.data.images[dx.preview_image]
    assert not np.array_equal(first, np.array(img2.pixels[:]))
    assert dx.preview_report != report
    assert "px" in dx.preview_report and " m" in dx.preview_report   # units on every number


def test_count_below_cameras_per_pose_is_reported(bpy, tmp_path):
    from deepx_addon.blender.props import check_scene
    from deepx_addon.core.settings import SettingsError
    dx = bpy.context.scene.deepx
    dx.count, dx.cameras_per_pose = 3, 4
    with pytest.raises(SettingsError, match="(?i)cameras per pose"):
        check_scene(bpy.context.scene)


# ---- 8. smaller points -----------------------------------------------------------------------------

def _rot(arm, bone):
    return np.degrees(np.array(arm.pose.bones[bone].rotation_euler))


def test_blend_slider_and_stride_are_live(bpy):
    from deepx_addon.core import poses
    dx = bpy.context.scene.deepx
    arm = _mannequin(bpy)
    presets = poses.load_presets()
    a = np.asarray(presets["standing"].rotations.get("thigh_L", (0, 0, 0)))
    b = np.asarray(presets["sitting_box"].rotations["thigh_L"])
    dx.preset_a, dx.preset_b = "standing", "sitting_box"
    dx.blend_t = 0.75                                          # no button: the slider poses
    assert np.allclose(_rot(arm, "thigh_L"), 0.25 * a + 0.75 * b, atol=1e-3)
    dx.walk_phase = 0.3
    dx.pose.stride = 1.7                                       # the walk follows the stride too
    assert np.allclose(_rot(arm, "thigh_L"), poses.walk_pose(0.3, 1.7)["thigh_L"], atol=1e-3)


def test_random_pose_reports_the_seed_it_used_and_a_new_press_draws_a_new_one(bpy, capfd):
    import re
    arm = _mannequin(bpy)
    # the seed is written back into the operator (the redo panel shows and re-runs it) and is not
    # remembered for the next press (SKIP_SAVE), which draws a new one
    assert bpy.ops.deepx.randomize_pose.get_rna_type().properties["seed"].is_skip_save
    capfd.readouterr()
    assert bpy.ops.deepx.randomize_pose() == {'FINISHED'}
    first = _rotations(arm)
    assert bpy.ops.deepx.randomize_pose() == {'FINISHED'}
    seeds = [int(v) for v in re.findall(r"\(seed (\d+)", capfd.readouterr().out)]
    assert len(seeds) == 2 and seeds[0] != seeds[1]
    assert bpy.ops.deepx.randomize_pose(seed=seeds[0]) == {'FINISHED'}     # the redo panel's re-run
    assert np.allclose(_rotations(arm), first)


def test_limit_rotation_constraints_mirror_the_list(bpy):
    import math
    dx = bpy.context.scene.deepx
    arm = _mannequin(bpy)
    assert bpy.ops.deepx.limit_constraints() == {'FINISHED'}
    c = arm.pose.bones["thigh_L"].constraints["DeepX Limit"]
    item = dx.limits["thigh_L"]
    assert c.owner_space == 'LOCAL' and math.isclose(math.degrees(c.max_x), item.x_max, abs_tol=1e-4)
    item.x_max = 12.0                                          # an edit of the list follows
    assert math.isclose(math.degrees(c.max_x), 12.0, abs_tol=1e-4)
    arm.pose.bones["thigh_L"].rotation_euler = (math.radians(80), 0, 0)   # posing by hand is held
    bpy.context.view_layer.update()
    m = arm.pose.bones["thigh_L"].matrix_basis                 # (unconstrained) vs evaluated pose:
    ev = arm.pose.bones["thigh_L"].matrix
    assert not np.allclose(np.array(m), np.array(ev))
    assert bpy.ops.deepx.limit_constraints(remove=True) == {'FINISHED'}
    assert "DeepX Limit" not in arm.pose.bones["thigh_L"].constraints


def test_summary_keeps_every_shards_numbers(bpy, tmp_path):
    dx = bpy.context.scene.deepx
    _small_batch(dx, tmp_path / "out", count=4)
    dx.shards = 2
    for i in (0, 1):
        dx.shard_index = i
        assert bpy.ops.deepx.batch_render() == {'FINISHED'}
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert set(s["shards"]) == {"0/2", "1/2"} and s["rendered_all_shards"] == 4


def test_a_cancelled_panel_batch_resumes(bpy, blender_exe, tmp_path):
    """What Esc does to the panel's batch: the child Blender stops; the next start renders the rest."""
    import time
    from deepx_addon.blender.batch_child import ChildBatch
    from deepx_addon.blender.props import to_settings
    dx = bpy.context.scene.deepx
    out = tmp_path / "out"
    _small_batch(dx, out, count=40)
    child = ChildBatch(to_settings(bpy.context.scene), out, (0, 1), 40)
    t0 = time.time()
    while not len(list((out / "labels").glob("*.json"))) and time.time() - t0 < 120:
        time.sleep(0.1)
    child.cancel()
    child.close()
    done = len(list((out / "labels").glob("*.json")))
    assert 1 <= done < 40 and child.proc.returncode != 0
    assert bpy.ops.deepx.batch_render() == {'FINISHED'}
    assert len(list((out / "labels").glob("*.json"))) == 40
    assert not [p for p in out.rglob(".*") if "tmp" in p.name]          # no half sample left
    s = json.loads((out / "summary.json").read_text())
    assert s["done_before"] == done and s["rendered"] == 40 - done
