"""One rendered sample: pose the mannequin, place a camera, render a PNG, return its exact label (bpy).

    ctx = RenderContext(settings, out_dir)          # builds scene + mannequin once
    label = render_sample(ctx, sample_seed)          # pose & camera from that seed
    label = render_sample(ctx, cam_seed, pose_seed=p)  # many cameras around one pose: the pose is
                                                      # only re-applied when pose_seed changes

The pose (body, joint rotations) comes from ``pose_seed`` alone; camera, lighting and occluders from
``sample_seed`` alone, so any sample can be re-made on its own (batch resume, shards). In a realistic
scene a person drawn with an umbrella (``outfit.umbrella`` left | right, SceneSettings.p_umbrella) has
that arm posed to hold it (core/body.py ``umbrella_grip``): the label's keypoints, read from the
posed mannequin, show it; the pose-table row of the same pose_seed keeps the sampled arm. The person
stands at the origin facing -Y (the pose-table frame); the camera orbits it at a random relative
yaw. The camera is drawn exactly as the no-render sampler draws it (core/cameras.sample_cameras with
a CounterRNG keyed by the sample seed), so the same pose and seed give the same camera in both paths.

Label (JSON-ready dict, every array a list):
  id, sample_seed, pose_seed, image (path relative to out_dir), image_size [W, H], K (3x3),
  camera {R, t (world -> OpenCV camera), position (world), hfov_deg, blender {lens_mm, ...}},
  keypoints_3d_world (17x3), keypoints_3d_camera (17x3, OpenCV camera frame),
  keypoints_2d (17 x [x, y, v]; continuous pixels, v COCO visibility 2 visible / 1 hidden / 0 out of
  frame; x, y are the true projection even when v < 2, NaN-free: behind-camera points get -1, -1),
  bbox [x, y, w, h] (the projected body mesh, clipped to the image), distance_m / depth_m (camera
  centre to pelvis = mid-point of the hips: Euclidean / camera Z), pelvis_world, pelvis_camera,
  height_m (stature), body {...}, pose {family, recipe, support, ...}, light {...},
  occluders [...], render {engine, samples, denoiser, blender}, views [...] (the downscaled copies: scale, sx,
  sy, image, image_size, K, keypoints_2d, bbox), depth_image / mask_image when those passes are on.

Downscaled copies (RenderSettings.downscale_levels < 1): the render resized with area (box)
resampling (numpy, core/image.py: no Pillow inside Blender) to integer sizes round(W*s) x
round(H*s); the exact factors sx = W'/W, sy = H'/H are recorded and applied to K (fx, cx by sx; fy, cy by sy) and to the keypoints, so each copy is exactly
the picture of the same scene by a lower-resolution camera: same distance, smaller person in pixels.

Depth pass: float32 OpenEXR, camera-frame Z in metres in R, G and B (background 1e10). Mask: 8-bit
PNG, 255 where the person is visible (object index pass; Cycles only). Both go through compositor
File Output nodes (Blender 4.2-4.5 compositor API).
"""
from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import bpy
import numpy as np

from ..core import poses, rig
from ..core.body import human_shape_for, sample_appearance, sample_outfit, umbrella_grip
from ..core.camera import project
from ..core.cameras import CounterRNG, camera_settings_for_kind, choose_camera_kind, sample_cameras
from ..core.keypoints import pelvis_of
from ..core.limits import JointLimits
from ..core.poses import sample_row
from ..core.settings import GeneratorSettings, SettingsError
from . import occlusion, scene as scn
from .clutter import clutter_pool, place_clutter
from .degrade import sample_degradation, write_views
from .humanbody import human_mesh_of, set_human_shape
from .mannequin import PROP_MARK, build_mannequin, remove_mannequin, set_appearance, set_outfit, update_body
from .posing import apply_pose, contact_radii, object_scale, pose_matrices, world_keypoints

SOURCE = "deepx-render"
MANNEQUIN_NAME = "DeepX_Render_Mannequin"   # not the panel's mannequin (DeepX_Mannequin)
PERSON_PASS_INDEX = 7


@dataclass
class PoseState:
    """What is applied to the mannequin now (one pose_seed)."""
    pose_seed: int
    body: object
    pose: object
    keypoints_world: np.ndarray      # (17, 3)
    pelvis_world: np.ndarray         # (3,) mid-point of the hips
    verts_world: np.ndarray          # (N, 3) evaluated body mesh (for the bounding box)
    info: dict                       # JSON-ready: body, pose


def _rng(seed: int, stream: int) -> np.random.Generator:
    """Independent generator per (seed, stream): camera, light and occluders never share draws."""
    return np.random.default_rng(np.random.SeedSequence([int(seed) & ((1 << 64) - 1), stream]))


STREAM_APPEARANCE, STREAM_LIGHT, STREAM_OCCLUDER = 1, 3, 4
STREAM_KIND, STREAM_SURROUNDINGS, STREAM_PEOPLE, STREAM_CLUTTER, STREAM_DEGRADE, STREAM_OUTFIT = 5, 6, 7, 8, 9, 10
STREAM_SHAPE = 11
EXTRA_NAME = "DeepX_Render_Extra_"      # the other people of a realistic scene


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        return float(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if hasattr(x, "to_dict"):
        return _jsonable(x.to_dict())
    if hasattr(x, "__dataclass_fields__"):
        from dataclasses import asdict
        return _jsonable(asdict(x))
    return x


class RenderContext:
    """Scene, mannequin, occluder pool and compositor passes for one generator configuration."""

    def __init__(self, settings: GeneratorSettings, out_dir, scene=None, threads: int | None = None,
                 quiet: bool = True, user_presets=None, presets: dict | None = None, limits=None):
        r = settings.render
        self.quiet = quiet
        check_render_settings(settings)
        if scene is not None and scene != bpy.context.scene:
            raise ValueError(f"render in the current scene: {scene.name!r} is not bpy.context.scene "
                             f"({bpy.context.scene.name!r}); posing evaluates the context's view layer")
        self.settings = settings
        self.out_dir = Path(out_dir).resolve()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.rig = scn.setup_scene(settings, scene)
        if threads:
            scn.configure_engine(self.rig.scene, r.engine, r.samples, threads=threads, denoise=r.denoise)
        self.scene = self.rig.scene
        self.denoiser = scn.cycles_denoiser(r.denoise, r.engine)     # recorded in every label
        # Cycles keeps its scene (BVH, shaders, images) between renders and re-syncs only what
        # changed: a new camera, light or occluder costs nothing measurable, a new pose one mesh
        # (scripts/bench_render.py: batch vs bare loop). Pixels are byte-identical to fresh renders
        # (a resumed run equals an uninterrupted one: tests/blender/test_render.py). close() restores.
        self._persistent_before = self.scene.render.use_persistent_data
        self.scene.render.use_persistent_data = True
        # small images: the people's subdivision capped at level 1 through Blender's Simplify
        # (RenderSettings.subdivision); level 2 is the modifiers' own, so Simplify is left alone
        # (the viewport cap, which the labels' evaluated meshes go through, stays >= their level 1)
        ro = self.scene.render
        self._simplify_before = (ro.use_simplify, ro.simplify_subdivision, ro.simplify_subdivision_render)
        self.subdivision = r.subdivision_level()
        if self.subdivision < 2:
            ro.use_simplify, ro.simplify_subdivision_render = True, self.subdivision
            ro.simplify_subdivision = max(ro.simplify_subdivision, 1)
        self.occluders = occlusion.occluder_pool(self.rig.collection)
        self._support = occlusion.occluder_pool(self.rig.collection, 1, prefix="DeepX_Seat_")[0]
        self.camera_settings = replace(settings.camera, image_size=tuple(int(v) for v in r.resolution))
        self.levels = sorted({float(s) for s in r.downscale_levels if float(s) < 1.0}, reverse=True)
        self.clutter = None
        if settings.scene.realistic:
            self.clutter = clutter_pool(self.rig.collection)
        self.extras: list = []            # other people's armatures (built on first need)
        self.surroundings = None          # (pose_seed, parameters) of the world and ground now set
        self.armature = None
        self.meshes = []
        self._hidden: list[str] = []
        self.state: PoseState | None = None
        self._presets = presets                 # name -> PosePreset (batch.preflight's), else loaded
        self._limits = limits
        self.user_presets = user_presets        # the user's preset folder (Blender's), or None
        self._passes = None
        self._setup_passes()

    # ---- the person ---------------------------------------------------------------------------
    def _pose_inputs(self):
        if self._presets is None:
            self._presets = poses.all_presets(self.user_presets)
        if self._limits is None:
            self._limits = JointLimits.load(self.settings.pose.limits_preset, self.user_presets)
        return self._presets, self._limits

    def set_pose(self, pose_seed: int) -> PoseState:
        """Body + pose of pose_seed (core/poses.sample_row: the pose-table row with that seed),
        plus a random appearance, applied to the mannequin; no-op if that pose is already on."""
        if self.state is not None and self.state.pose_seed == int(pose_seed):
            return self.state

        presets, limits = self._pose_inputs()
        body, sp = sample_row(int(pose_seed), self.settings, presets, limits)
        appearance = sample_appearance(_rng(pose_seed, STREAM_APPEARANCE))
        if self.armature is None:
            self.armature = _find_mannequin(self.scene, self.settings.body.mesh)
            if self.armature is None:
                self.armature = build_mannequin(body, MANNEQUIN_NAME, True, collection=self.rig.collection,
                                                body_mesh=self.settings.body.mesh)
            self._hide_other_people()
        update_body(self.armature, body)
        appearance, outfit = self._dress(self.armature, pose_seed, body, appearance, sp.family)
        self.meshes = [c for c in self.armature.children_recursive if c.type == "MESH"]
        for m in self.meshes:       # set only when it differs: any set, even to the same value,
            if m.pass_index != PERSON_PASS_INDEX:   # makes Cycles re-sync the object (~20 ms at 160x160)
                m.pass_index = PERSON_PASS_INDEX
        placed = apply_pose(self.armature, _held(sp.rotations, outfit), sp.support, float(sp.box_height_m),
                            location=(0.0, 0.0), yaw_deg=0.0)
        seat = float(placed.get("seat_height_m", 0.0)) if isinstance(placed, dict) else 0.0
        support_box = self._place_support(sp.support, seat)
        bpy.context.view_layer.update()
        kw = np.asarray(world_keypoints(self.armature), float).reshape(17, 3)
        pelvis = pelvis_of(kw)
        verts = _mesh_vertices(self.meshes)
        info = {"body": _jsonable(body), "height_m": float(body.stature_m),
                "pose": {"family": sp.family, "recipe": _jsonable(sp.recipe), "support": sp.support,
                         "box_height_m": float(sp.box_height_m), "seat_height_m": seat, "support_box": support_box},
                "appearance": _jsonable(appearance), "outfit": outfit}
        self.state = PoseState(int(pose_seed), body, sp, kw, pelvis, verts, info)
        return self.state

    def extra_person(self, j: int, pose_seed: int, location, yaw_deg: float):
        """Other person j (a second, third... mannequin) with the body, pose and appearance of
        pose_seed, standing at world ``location`` (x, y) turned by yaw_deg; seats are not made for
        them, so a pose needing one is replaced by the next seed's (up to 8 tries, deterministic)."""
        presets, limits = self._pose_inputs()
        for k in range(8):
            body, sp = sample_row(int(pose_seed) + k, self.settings, presets, limits)
            if sp.support == "ground":
                break
        else:
            return None
        while len(self.extras) <= j:
            arm = _reusable(bpy.data.objects.get(f"{EXTRA_NAME}{len(self.extras)}"), self.settings.body.mesh)
            if arm is None:
                arm = build_mannequin(body, f"{EXTRA_NAME}{len(self.extras)}", True, collection=self.rig.collection,
                                      body_mesh=self.settings.body.mesh)
            self.extras.append(arm)
        arm = self.extras[j]
        show_person(arm, True)
        update_body(arm, body)
        appearance, outfit = self._dress(arm, pose_seed, body, sample_appearance(_rng(pose_seed, STREAM_APPEARANCE)),
                                         sp.family)
        placed = apply_pose(arm, _held(sp.rotations, outfit), "ground", 0.0, location=tuple(location),
                            yaw_deg=float(yaw_deg))
        kw = np.asarray(world_keypoints(arm), float).reshape(17, 3)
        meshes = [c for c in arm.children_recursive if c.type == "MESH"]
        info = {"body": _jsonable(body), "height_m": float(body.stature_m),
                "pose": {"family": sp.family, "recipe": _jsonable(sp.recipe), "support": "ground",
                         "box_height_m": 0.0, "seat_height_m": 0.0, "support_box": None},
                "appearance": _jsonable(appearance), "outfit": outfit, "pose_seed": int(pose_seed) + k,
                "yaw_deg": float(yaw_deg)}
        return PoseState(int(pose_seed) + k, body, sp, kw, pelvis_of(kw),
                         _mesh_vertices(meshes), info), meshes, placed

    def _dress(self, arm, pose_seed: int, body, colours: dict, family: str = ""):
        """Colours and (realistic scenes) garment cut, hair style, accessory, coat and umbrella of
        one person (no umbrella with both hands up); returns (colours, outfit description or None)."""
        desc = None
        if self.settings.scene.realistic:
            sc = self.settings.scene
            outfit, colours, desc = sample_outfit(_rng(pose_seed, STREAM_OUTFIT), colours, sc.p_accessory,
                                                  child=body.stature_m < 1.5, p_skirt=sc.p_skirt, p_coat=sc.p_coat,
                                                  p_umbrella=0.0 if family == "hands_up" else sc.p_umbrella,
                                                  p_untucked=sc.p_untucked)
            set_outfit(arm, outfit)
        else:
            set_outfit(arm, {})
        set_appearance(arm, colours)
        human = human_mesh_of(arm)
        if human is not None:       # the human mesh: a shape drawn on its own stream (other draws unchanged)
            shape = human_shape_for(_rng(pose_seed, STREAM_SHAPE), body)
            set_human_shape(human, shape)
            if desc is not None:
                desc = {**desc, "human_shape": shape}
        return colours, desc

    def hide_extras(self, keep: int = 0) -> None:
        for arm in self.extras[keep:]:
            show_person(arm, False)

    def _hide_other_people(self) -> None:
        """Hide other DeepX mannequins in the scene (e.g. the panel's) from the render; close()
        puts them back. Ray-cast visibility sees through render-hidden objects."""
        ours = {self.armature.name, *(c.name for c in self.armature.children_recursive)}
        for i in range(8):      # a realistic scene's other people are ours too
            extra = bpy.data.objects.get(f"{EXTRA_NAME}{i}")
            if extra is not None:
                ours |= {extra.name, *(c.name for c in extra.children_recursive)}
        for obj in self.scene.objects:
            if obj.get(PROP_MARK) and obj.name not in ours:
                for o in (obj, *obj.children_recursive):
                    if o.name not in ours and not o.hide_render:
                        self._hidden.append(o.name)
                        o.hide_render = True

    def close(self) -> None:
        """Undo _hide_other_people and the persistent render data (the render mannequin itself
        stays; the caller may remove it)."""
        self.scene.render.use_persistent_data = self._persistent_before
        ro = self.scene.render
        ro.use_simplify, ro.simplify_subdivision, ro.simplify_subdivision_render = self._simplify_before
        for name in self._hidden:
            obj = bpy.data.objects.get(name)
            if obj is not None:
                obj.hide_render = False
        self._hidden = []

    def _place_support(self, support: str, seat_height: float):
        """Show the seat box under a sitting pose (support "box"), hide it otherwise."""
        obj = self._support
        if support != "box" or seat_height <= 0:
            occlusion._hide(obj, True)      # only when shown: hiding a hidden object again costs a re-sync
            return None
        bpy.context.view_layer.update()
        A, T = pose_matrices(self.armature)
        seat = rig.SEAT_CONTACTS
        pts = rig.points(A, T, rig.CONTACT_BONE[seat], rig.CONTACT_LOCAL[seat]) * object_scale(self.armature)
        M = np.array(self.armature.matrix_world)
        pts = pts @ (M[:3, :3] / object_scale(self.armature)).T + M[:3, 3]
        radii = np.asarray(contact_radii(self.armature))[seat]
        touching = (pts[:, 2] - radii) <= seat_height + 0.03
        p, r = (pts[touching], radii[touching]) if touching.any() else (pts, radii)
        lo = (p[:, :2] - r[:, None]).min(0) - 0.02
        hi = (p[:, :2] + r[:, None]).max(0) + 0.02
        lo[1] -= 0.0
        hi[1] += 0.08                      # a little seat behind the buttocks (the person faces -Y)
        size = np.maximum(hi - lo, 0.25)
        centre = 0.5 * (lo + hi)
        d = occlusion.place_occluder(obj, "seat", centre, (size[0], seat_height, size[1]), 0.0, (0.32, 0.24, 0.17))
        return d

    # ---- compositor passes --------------------------------------------------------------------
    def _setup_passes(self) -> None:
        r, sc = self.settings.render, self.scene
        vl = sc.view_layers[0]
        if not (r.depth_pass or r.mask_pass):
            sc.render.use_compositing = False
            return
        vl.use_pass_z = bool(r.depth_pass)
        vl.use_pass_object_index = bool(r.mask_pass)
        sc.use_nodes = True
        sc.render.use_compositing = True
        nt = sc.node_tree
        for n in list(nt.nodes):
            nt.nodes.remove(n)
        rl = nt.nodes.new("CompositorNodeRLayers")
        comp = nt.nodes.new("CompositorNodeComposite")
        nt.links.new(rl.outputs["Image"], comp.inputs["Image"])
        self._passes = {}
        if r.depth_pass:
            fo = nt.nodes.new("CompositorNodeOutputFile")
            fo.format.file_format = "OPEN_EXR"
            fo.format.color_depth = "32"
            fo.format.exr_codec = "ZIP"
            fo.base_path = str(self.out_dir / "depth") + os.sep
            nt.links.new(rl.outputs["Depth"], fo.inputs[0])
            self._passes["depth"] = (fo, ".exr")
        if r.mask_pass:
            idm = nt.nodes.new("CompositorNodeIDMask")
            idm.index = PERSON_PASS_INDEX
            idm.use_antialiasing = False
            nt.links.new(rl.outputs["IndexOB"], idm.inputs["ID value"])
            fo = nt.nodes.new("CompositorNodeOutputFile")
            fo.format.file_format = "PNG"
            fo.format.color_mode = "BW"
            fo.format.color_depth = "8"
            fo.base_path = str(self.out_dir / "masks") + os.sep
            nt.links.new(idm.outputs[0], fo.inputs[0])
            self._passes["mask"] = (fo, ".png")


def check_render_settings(settings: GeneratorSettings) -> None:
    """What this Blender cannot render, refused before anything is built or written."""
    r = settings.render
    if r.mask_pass and scn.engine_id(r.engine) != "CYCLES":
        raise SettingsError("RenderSettings.mask_pass needs the CYCLES engine (object index pass)")
    scn.cycles_denoiser(r.denoise, r.engine)       # "oidn" in a Blender without OpenImageDenoise
    if (r.depth_pass or r.mask_pass) and bpy.app.version >= (5, 0, 0):
        raise SettingsError("depth/mask passes use the Blender 4.2-4.5 compositor API; turn them off on 5.x")
    for level in r.downscale_levels:
        w, h = (int(round(v * float(level))) for v in r.resolution)
        if float(level) < 1.0 and min(w, h) < 1:
            raise SettingsError(f"RenderSettings.downscale_levels: {level:g} of {r.resolution[0]}x{r.resolution[1]} "
                                "leaves no pixel")


def _held(rotations, outfit) -> dict:
    """The pose's rotations, with the arm that holds an umbrella (outfit description) raised to
    hold it (core/body.py umbrella_grip); the label's keypoints are read after, so they agree."""
    return umbrella_grip(rotations, (outfit or {}).get("umbrella", "none"))


def _mesh_vertices(meshes) -> np.ndarray:
    """World coordinates of the evaluated vertices of ``meshes`` (for bounding boxes: the
    person's, so an umbrella over the head is left out, as COCO's annotators leave it out)."""
    dg = bpy.context.evaluated_depsgraph_get()
    out = []
    for m in meshes:
        if m.hide_render or str(m.get("deepx_part", "")).startswith("umbrella"):
            continue
        ev = m.evaluated_get(dg)
        me = ev.to_mesh()
        try:
            co = np.empty(len(me.vertices) * 3, np.float64)
            me.vertices.foreach_get("co", co)
        finally:
            ev.to_mesh_clear()
        M = np.array(ev.matrix_world)
        out.append(co.reshape(-1, 3) @ M[:3, :3].T + M[:3, 3])
    return np.concatenate(out) if out else np.zeros((0, 3))


def show_person(arm, shown: bool) -> None:
    """Show or hide a mannequin (armature and meshes) in renders and ray casts."""
    for o in (arm, *arm.children_recursive):
        if o.hide_render == shown:
            o.hide_render = not shown
        if o.hide_viewport == shown:
            o.hide_viewport = not shown


def _find_mannequin(scene, body_mesh: str):
    """The render mannequin of an earlier context in this scene, to reuse (never the panel's)."""
    obj = bpy.data.objects.get(MANNEQUIN_NAME)
    if obj is None or obj.type != "ARMATURE" or scene.objects.get(obj.name) is None:
        return None
    return _reusable(obj, body_mesh)


def _reusable(arm, body_mesh: str):
    """``arm`` if it wears ``body_mesh``; one with the other body (an earlier run with other
    settings) is removed, so the caller builds the right one under the same name."""
    if arm is None or (human_mesh_of(arm) is not None) == (body_mesh == "human"):
        return arm
    remove_mannequin(arm)
    return None


# ------------------------------------------------------------------------------------------------
# geometry helpers (pure numpy on top of core.camera)

def project_safe(points_cam, K) -> np.ndarray:
    """(N, 3) camera points -> (N, 2) pixels; points at/behind the camera get (-1, -1)."""
    p = np.asarray(points_cam, float)
    uv = np.full((len(p), 2), -1.0)
    front = p[:, 2] > 1e-9
    if front.any():
        uv[front] = project(p[front], K)
    return uv


def bbox_of(points_cam, K, width: int, height: int):
    """Tight [x, y, w, h] of the projected points in front of the camera, clipped to the image;
    None when nothing lands in the image."""
    p = np.asarray(points_cam, float)
    p = p[p[:, 2] > 1e-6]
    if len(p) == 0:
        return None
    uv = project(p, K)
    x0, y0 = np.clip(uv.min(0), 0, [width, height])
    x1, y1 = np.clip(uv.max(0), 0, [width, height])
    if x1 <= x0 or y1 <= y0:
        return None
    return [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]


def scaled_view(K, keypoints_2d, bbox, width: int, height: int, level: float, front=None) -> dict:
    """K, keypoints and bbox of the image resized to round(W*level) x round(H*level) (exact sx, sy).
    ``front``: (17,) bool, keypoints in front of the camera (the others keep their (-1, -1))."""
    w2, h2 = max(1, int(round(width * level))), max(1, int(round(height * level)))
    sx, sy = w2 / width, h2 / height
    K2 = np.asarray(K, float).copy()
    K2[0, 0] *= sx
    K2[0, 2] *= sx
    K2[1, 1] *= sy
    K2[1, 2] *= sy
    kp = np.asarray(keypoints_2d, float).copy()
    on = np.ones(len(kp), bool) if front is None else np.asarray(front, bool)
    kp[on, 0] *= sx
    kp[on, 1] *= sy
    bb = None if bbox is None else [bbox[0] * sx, bbox[1] * sy, bbox[2] * sx, bbox[3] * sy]
    return {"scale": float(level), "sx": sx, "sy": sy, "image_size": [w2, h2], "K": K2.tolist(),
            "keypoints_2d": kp.tolist(), "bbox": bb}


def read_png(path) -> np.ndarray:
    """A PNG (8-bit) as a (H, W, C) float array of its stored values 0..255, top row first, read
    with Blender's own image loader (no Pillow inside Blender)."""
    im = bpy.data.images.load(str(path), check_existing=False)
    try:
        w, h = im.size
        c = int(im.channels)
        px = np.empty(w * h * c, np.float32)
        im.pixels.foreach_get(px)
    finally:
        bpy.data.images.remove(im)
    return px.reshape(h, w, c)[::-1] * 255.0


def downscale_image(src, dst, size) -> None:
    """Area (box) resampling of the PNG ``src`` to integer ``size`` (w, h), written as RGB PNG to ``dst``."""
    from ..core.image import area_resize, to_uint8, write_png
    img = read_png(src)[..., :3]
    write_png(dst, to_uint8(area_resize(img, size)))


# ------------------------------------------------------------------------------------------------
# the sample

def render_sample(ctx: RenderContext, sample_seed: int, *, pose_seed: int | None = None,
                  sample_id: str | None = None, tmp_tag: str | None = None, render: bool = True) -> dict:
    """Render one sample into ctx.out_dir and return its label (see the module docstring).

    pose_seed defaults to sample_seed. Files are written under a temporary name and moved into
    place (os.replace), so an interrupted render never leaves a half image under the final name.
    render=False computes the label only (no image; "image" is None).
    """
    settings = ctx.settings
    sample_id = sample_id or f"s{int(sample_seed)}"
    tmp_tag = tmp_tag or f".tmp-{os.getpid()}"
    st = ctx.set_pose(sample_seed if pose_seed is None else pose_seed)

    sc = settings.scene
    # camera kind, world and ground go with the pose (all cameras of a pose share them): a world
    # change costs Cycles a ~1.5 s re-sync, so it is made once per pose, not per image
    kind = choose_camera_kind(_rng(st.pose_seed, STREAM_KIND), sc.camera_kinds) if sc.realistic else "any"
    cams = sample_cameras(CounterRNG(np.array([int(sample_seed)], np.int64)),
                          camera_settings_for_kind(ctx.camera_settings, kind),
                          st.pelvis_world.copy(), 1, facing_deg=0.0)
    K, R, t = (np.asarray(a, float)[0] for a in (cams.K, cams.R, cams.t))
    W, H = (int(v) for v in cams.image_size)
    position = -R.T @ t
    cam_params = {k: _jsonable(np.asarray(v)[0]) for k, v in cams.params().items() if k not in ("R", "t", "position")}
    light = scn.set_lighting(ctx.rig, _rng(sample_seed, STREAM_LIGHT), plain=not sc.realistic)
    orng = _rng(sample_seed, STREAM_OCCLUDER)
    target = st.keypoints_world[int(orng.integers(0, 17))] if orng.random() < 0.5 else st.pelvis_world
    reach = 0.55 * (st.info["height_m"] or 1.75)
    occluders = occlusion.sample_occluders(ctx.occluders, orng, settings.camera.p_occluder, position, target,
                                           st.pelvis_world, reach)
    others, clutter_desc, surroundings, degradation = [], [], None, None
    if sc.realistic:
        indoor = kind == "indoor"
        if ctx.surroundings is None or ctx.surroundings[0] != st.pose_seed:
            ctx.surroundings = (st.pose_seed, scn.set_surroundings(ctx.rig, _rng(st.pose_seed, STREAM_SURROUNDINGS),
                                                                   sc, indoor))
        surroundings = ctx.surroundings[1]
        if surroundings.get("hdri"):        # the HDRI lights the scene too: a weaker sun
            ctx.rig.sun.data.energy = light["sun_strength"] = min(light["sun_strength"], 3.0) * (0.3 if indoor else 0.8)
        hfov = float(np.degrees(2 * np.arctan(W / (2 * K[0, 0]))))
        cam_yaw = float(cams.yaw_deg[0])
        others = _place_others(ctx, sample_seed, st, position, cam_yaw, hfov)
        feet = [(st.pelvis_world, 0.45 * st.info["height_m"])] + [(o[0].pelvis_world, 0.45 * o[0].info["height_m"])
                                                                  for o in others]
        if st.info["pose"].get("support_box"):
            feet.append((st.pelvis_world, 0.6))
        main_d = float(np.linalg.norm(st.pelvis_world[:2] - position[:2]))
        clutter_desc = place_clutter(ctx.clutter, _rng(sample_seed, STREAM_CLUTTER), sc.clutter, position,
                                     cam_yaw, hfov, feet, main_d, indoor)
        degradation = sample_degradation(_rng(sample_seed, STREAM_DEGRADE), sc)
    else:
        ctx.hide_extras(0)
        if ctx.clutter:
            for objs in ctx.clutter.values():
                for o in objs:
                    occlusion._hide(o, True)
    blender_cam = scn.set_camera(ctx.rig.camera, K, R, t, W, H, ctx.scene)
    bpy.context.view_layer.update()

    main = _person_view(ctx, st, ctx.meshes, position, K, R, t, W, H)
    kp2d = np.asarray(main["keypoints_2d"], float)
    kc = np.asarray(main["keypoints_3d_camera"], float)
    bbox = main["bbox"]
    people_out = []
    for o_state, o_meshes, _placed in others:
        d = _person_view(ctx, o_state, o_meshes, position, K, R, t, W, H)
        d.update({k: v for k, v in o_state.info.items()})
        people_out.append(d)

    label = {
        "id": sample_id, "source": SOURCE, "sample_seed": int(sample_seed),
        "pose_seed": int(st.pose_seed), "image": None, "image_size": [W, H], "K": K.tolist(),
        "camera": {"R": R.tolist(), "t": t.tolist(), "position": position.tolist(), **cam_params,
                   "kind": kind, "blender": blender_cam},
        "keypoints_2d": main["keypoints_2d"], "keypoints_3d_world": st.keypoints_world.tolist(),
        "keypoints_3d_camera": main["keypoints_3d_camera"],
        "bbox": bbox, "bbox_full": main["bbox_full"], "person_height_px": main["person_height_px"],
        "occluded_by": main["occluded_by"], "truncated": main["truncated"],
        "person_yaw_deg": float(np.asarray(cams.person_yaw_deg)[0]) % 360.0,
        "distance_m": main["distance_m"], "depth_m": main["depth_m"],
        "pelvis_world": st.pelvis_world.tolist(), "pelvis_camera": main["pelvis_camera"],
        **st.info, "light": light, "occluders": occluders,
        "render": {"engine": ctx.rig.engine, "samples": int(settings.render.samples),
                   "subdivision": ctx.subdivision, "denoiser": ctx.denoiser, "blender": bpy.app.version_string},
        "views": [],
    }
    if sc.realistic:
        label.update(others=people_out, clutter=clutter_desc, surroundings=surroundings, degradation=degradation)
    if not render:
        return label

    img_dir = ctx.out_dir / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    final = img_dir / f"{sample_id}.png"
    tmp = img_dir / f".{sample_id}.png{tmp_tag}"
    pass_tmp = {}
    for kind, (node, ext) in (ctx._passes or {}).items():
        Path(node.base_path).mkdir(parents=True, exist_ok=True)
        node.file_slots[0].path = f".{sample_id}.{kind}{tmp_tag}."
        # File Output nodes append the frame number (and no extension: use_file_extension is off)
        pass_tmp[kind] = Path(node.base_path) / f".{sample_id}.{kind}{tmp_tag}.{ctx.scene.frame_current:04d}"
    ctx.scene.render.filepath = str(tmp)
    try:
        _render_files(ctx, label, tmp, final, img_dir, pass_tmp, K, kp2d, bbox, W, H, sample_id, tmp_tag,
                      kc[:, 2] > 1e-9)
        for person in label.get("others", []):      # the other people in the downscaled copies
            front = np.asarray(person["keypoints_3d_camera"], float)[:, 2] > 1e-9
            h = person["person_height_px"]           # None: part of the person behind the camera
            person["views"] = [{k: v[k] for k in ("scale", "keypoints_2d", "bbox")} | {
                "person_height_px": None if h is None else h * v["sy"]}
                for v in (scaled_view(K, person["keypoints_2d"], person["bbox"], W, H, lv["scale"], front)
                          for lv in label["views"])]
    except BaseException:
        for p in [tmp, *pass_tmp.values(), *img_dir.glob(f".{sample_id}-*{tmp_tag}")]:
            try:
                os.unlink(p)
            except OSError:
                pass
        raise
    return label


def _blocker_kind(ctx, name, own: set) -> str | None:
    """What hides a keypoint: self, umbrella (one's own or another's), person (another one),
    clutter, occluder, seat, ground, other."""
    if name is None:
        return None
    if "_umbrella_" in name:
        return "umbrella"
    if name in own:
        return "self"
    if name.startswith(EXTRA_NAME) or name.startswith(MANNEQUIN_NAME):
        return "person"
    if name.startswith("DeepX_Clutter_"):
        return "clutter"
    if name.startswith(occlusion.OCCLUDER_PREFIX):
        return "occluder"
    if name.startswith("DeepX_Seat_"):
        return "seat"
    if name == scn.GROUND:
        return "ground"
    return "other"


def _person_view(ctx, st: PoseState, meshes, position, K, R, t, W, H) -> dict:
    """One person seen by the camera: keypoints (with visibility and what hides each), boxes,
    distance. bbox: the projected mesh clipped to the image; bbox_full unclipped (its height is
    ``person_height_px``: the whole person's height in pixels, also when cut by the border)."""
    kw = st.keypoints_world
    kc = kw @ R.T + t
    uv = project_safe(kc, K)
    eps = occlusion.surface_eps(st.info["height_m"] or 1.75, _girth(st.body))
    hits: list = []
    vis = occlusion.keypoint_visibility(kw, position, uv, kc[:, 2], W, H, eps, ctx.scene, blockers=hits)
    own = {m.name for m in meshes}
    pelvis_c = R @ st.pelvis_world + t
    vc = st.verts_world @ R.T + t
    full = None
    if len(vc) and (vc[:, 2] > 1e-6).all():
        q = project(vc, K)
        full = [float(q[:, 0].min()), float(q[:, 1].min()), float(np.ptp(q[:, 0])), float(np.ptp(q[:, 1]))]
    bbox = bbox_of(vc, K, W, H)
    truncated = bool((vis == 0).any() or full is None or bbox is None
                     or abs(bbox[2] - full[2]) > 0.5 or abs(bbox[3] - full[3]) > 0.5)
    return {"keypoints_2d": np.concatenate([uv, vis[:, None].astype(float)], axis=1).tolist(),
            "keypoints_3d_camera": kc.tolist(), "keypoints_3d_world": kw.tolist(), "bbox": bbox, "bbox_full": full,
            "person_height_px": None if full is None else full[3],
            "occluded_by": [_blocker_kind(ctx, h, own) for h in hits], "truncated": truncated,
            "distance_m": float(np.linalg.norm(pelvis_c)), "depth_m": float(pelvis_c[2]),
            "pelvis_world": st.pelvis_world.tolist(), "pelvis_camera": pelvis_c.tolist()}


MIN_PERSON_GAP_M = 0.9       # pelvis to pelvis, on the ground


def _place_others(ctx, sample_seed: int, st: PoseState, cam_position, cam_yaw_deg: float, hfov_deg: float):
    """The other people of a realistic scene: SceneSettings.people[0..1] - 1 of them, each at a
    seeded place in the camera's view (some beyond the image border: cut people), nearer or farther
    than the main person, at least MIN_PERSON_GAP_M from everyone placed. Fixed draws per sample."""
    sc = ctx.settings.scene
    rng = _rng(sample_seed, STREAM_PEOPLE)
    lo, hi = int(sc.people[0]), int(sc.people[1])
    n = lo + int(rng.integers(0, hi - lo + 1)) - 1
    draws = rng.random((max(hi - 1, 0), 4))
    seeds = rng.integers(0, 2 ** 62, size=max(hi - 1, 0))
    cam = np.asarray(cam_position, float)
    d_main = float(np.linalg.norm(st.pelvis_world[:2] - cam[:2]))
    placed_xy = [st.pelvis_world[:2]]
    out = []
    for j in range(n):
        u_lat, u_dist, u_yaw, _ = draws[j]
        dist = float(np.clip(d_main * np.exp((u_dist - 0.5) * 1.6), 1.5, 120.0))
        ang = np.radians(cam_yaw_deg) + (u_lat - 0.5) * 1.2 * np.radians(hfov_deg)
        xy = cam[:2] + dist * np.array([np.cos(ang), np.sin(ang)])
        if min(np.linalg.norm(xy - p) for p in placed_xy) < MIN_PERSON_GAP_M:
            continue
        got = ctx.extra_person(len(out), int(seeds[j]), xy, float(u_yaw) * 360.0)
        if got is None:
            continue
        placed_xy.append(xy)
        out.append(got)
    ctx.hide_extras(len(out))
    for o_state, _m, _p in out:     # view angle as the camera sampler defines it (0 faces the camera)
        yaw = np.radians(o_state.info["yaw_deg"])
        f = np.array([np.sin(yaw), -np.cos(yaw)])
        tc = cam[:2] - o_state.pelvis_world[:2]
        o_state.info["person_yaw_deg"] = float(-np.degrees(np.arctan2(f[0] * tc[1] - f[1] * tc[0], f @ tc)) % 360.0)
    return out


@contextlib.contextmanager
def _quiet_stdout(enabled: bool = True):
    """Silence Blender's per-render "Fra:/Time:/Saved:" lines (printed by C code on fd 1)."""
    if not enabled:
        yield
        return
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            try:
                yield
            finally:
                os.dup2(saved, 1)
    finally:
        os.close(saved)


def _render_files(ctx, label, tmp, final, img_dir, pass_tmp, K, kp2d, bbox, W, H, sample_id, tmp_tag, front):
    with _quiet_stdout(ctx.quiet):
        bpy.ops.render.render(write_still=True, scene=ctx.scene.name)
    if not tmp.exists():
        raise RuntimeError(f"Blender did not write {tmp}")
    if label.get("degradation"):
        _degraded_views(ctx, label, tmp, img_dir, K, kp2d, bbox, W, H, sample_id, tmp_tag, front)
    for level in ctx.levels if not label.get("degradation") else ():
        v = scaled_view(K, kp2d, bbox, W, H, level, front)
        name = f"{sample_id}-{v['image_size'][0]}x{v['image_size'][1]}.png"
        if any(x["image"].endswith("/" + name) for x in label["views"]):
            continue
        vtmp = img_dir / f".{name}{tmp_tag}"
        downscale_image(tmp, vtmp, v["image_size"])
        os.replace(vtmp, img_dir / name)
        v["image"] = f"images/{name}"
        label["views"].append(v)
    for kind, p in pass_tmp.items():
        if not p.exists():
            raise RuntimeError(f"Blender did not write the {kind} pass {p}")
        dst = p.parent / f"{sample_id}{ctx._passes[kind][1]}"
        os.replace(p, dst)
        label[f"{kind}_image"] = f"{p.parent.name}/{dst.name}"
    os.replace(tmp, final)
    label["image"] = f"images/{final.name}"


def _degraded_views(ctx, label, tmp, img_dir, K, kp2d, bbox, W, H, sample_id, tmp_tag, front):
    """Blur, noise and JPEG (blender/degrade.py) on the render and on each downscaled copy."""
    outs, views = [(tmp, (W, H))], []
    for level in ctx.levels:
        v = scaled_view(K, kp2d, bbox, W, H, level, front)
        name = f"{sample_id}-{v['image_size'][0]}x{v['image_size'][1]}.png"
        if any(x[0].name == name for x in views):
            continue
        views.append((img_dir / name, img_dir / f".{name}{tmp_tag}", v))
        outs.append((views[-1][1], tuple(v["image_size"])))
    write_views(tmp, outs, label["degradation"], read=read_png)
    for dst, vtmp, v in views:
        os.replace(vtmp, dst)
        v["image"] = f"images/{dst.name}"
        v["person_height_px"] = None if label.get("person_height_px") is None else label["person_height_px"] * v["sy"]
        label["views"].append(v)


def _girth(body) -> float:
    v = getattr(body, "girth", None)
    try:
        return float(v) if v is not None else 1.0
    except (TypeError, ValueError):
        return 1.0
