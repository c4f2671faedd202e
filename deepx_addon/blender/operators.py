"""deepx.* operators: what the sidebar's buttons do.

Every operator reads the panel through props.py (to_settings / limits_from_scene) and calls core
(numpy) or the Blender layer (mannequin, posing, scene, batch); nothing here duplicates their maths.
Errors the artist can fix (min > max, an empty output folder, no mannequin yet) are refused with a
report naming the field, never a traceback. Heavy imports happen inside execute().
"""
from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty
from bpy.types import Operator
from bpy_extras.io_utils import ExportHelper, ImportHelper

MANNEQUIN_NAME = "DeepX_Mannequin"


# --------------------------------------------------------------------------------------------------
# helpers shared by operators, props (update callbacks) and the panel

def _scene_props(context):
    return getattr(context.scene, "deepx", None) if context.scene else None


def get_mannequin(context):
    """The panel's armature, or None (a deleted object's pointer is cleared)."""
    dx = _scene_props(context)
    obj = dx.mannequin if dx else None
    if obj is not None and (obj.type != 'ARMATURE' or obj.name not in context.scene.objects):
        return None
    return obj


def _poll_mannequin(cls, context) -> bool:
    if _scene_props(context) is None:
        cls.poll_message_set("DeepX is not registered for this scene")
        return False
    if get_mannequin(context) is None:
        cls.poll_message_set("Create the mannequin first (DeepX > Mannequin)")
        return False
    return True


def _poll_scene(cls, context) -> bool:
    if _scene_props(context) is None:
        cls.poll_message_set("DeepX is not registered for this scene")
        return False
    return True


def user_preset_dir(kind: str) -> Path:
    from .preset_menu import user_preset_dir as _u
    return _u(kind)


def pose_presets() -> dict:
    from .preset_menu import pose_presets as _p
    return _p()


def pose_preset_names() -> list[str]:
    return sorted(pose_presets())


def presets_or_report(op):
    """pose_presets() with a report instead of an exception (a broken user preset file); None when refused."""
    from ..core.poses import PoseError
    try:
        return pose_presets()
    except (PoseError, OSError) as e:
        op.report({'ERROR'}, f"Pose presets: {e}")
        return None


def _apply(context, arm, rotations, support="ground", box_height_m=0.0):
    """Pose the mannequin where it stands: the pelvis keeps its x, y and the body its heading."""
    from .posing import apply_pose, pelvis_world
    pel = pelvis_world(arm)
    yaw = math.degrees(arm.rotation_euler.z) if arm.rotation_mode == 'XYZ' else 0.0
    apply_pose(arm, rotations, support, float(box_height_m), location=(pel[0], pel[1]), yaw_deg=yaw)


def walk_preview(context, quiet=False) -> str | None:
    """Pose the mannequin at the panel's walk phase (the Walk sub-panel's update callback).
    Returns an error text (None on success); never raises when quiet."""
    try:
        arm = get_mannequin(context)
        if arm is None:
            return "no mannequin"
        from ..core import poses
        dx = context.scene.deepx
        presets = pose_presets()
        rot = dict(presets["standing"].rotations) if "standing" in presets else {}
        pr = dx.walk_phase_right if dx.walk_both_legs else None
        rot.update(poses.walk_pose(dx.walk_phase, dx.pose.stride, pr))
        rot.update(poses.walk_arms(dx.walk_phase, dx.pose.stride, pr))
        _apply(context, arm, rot, "ground", 0.0)
        return None
    except Exception as e:   # an update callback must not raise into the UI
        if not quiet:
            raise
        print(f"DeepX walk preview: {e}")
        return str(e)


def blend_preview(context, quiet=False):
    """Pose the mannequin between Preset A and B at the Blend slider (its update callback and the
    Blend Presets operator). Returns the blended PosePreset; None (quiet) or raises on an error."""
    try:
        arm = get_mannequin(context)
        if arm is None:
            raise ValueError("no mannequin: create it first (DeepX > Mannequin)")
        from ..core.poses import blend
        dx = context.scene.deepx
        presets = pose_presets()
        missing = [n for n in (dx.preset_a, dx.preset_b) if n not in presets]
        if missing:
            raise ValueError(f"No pose preset {missing[0]!r}")
        p = blend(presets[dx.preset_a], presets[dx.preset_b], dx.blend_t)
        _apply(context, arm, p.rotations, p.support, p.box_height_m)
        return p
    except Exception as e:   # an update callback must not raise into the UI
        if not quiet:
            raise
        print(f"DeepX blend preview: {e}")
        return None


LIMIT_CONSTRAINT = "DeepX Limit"


def refresh_limit_constraints(context, bone: str | None = None, add: bool = False) -> int:
    """Make the mannequin's Limit Rotation constraints mirror the Joint Limits list (local space,
    the same Euler XYZ degrees the sampler uses), for one bone or all; only bones that already have
    one unless ``add``. Returns the number of constraints set. Never raises (update callback)."""
    try:
        arm = get_mannequin(context)
        dx = context.scene.deepx
        if arm is None or not len(dx.limits):
            return 0
        n = 0
        for item in ([dx.limits[bone]] if bone in dx.limits else []) if bone else dx.limits:
            pb = arm.pose.bones.get(item.name)
            if pb is None:
                continue
            c = pb.constraints.get(LIMIT_CONSTRAINT)
            if c is None:
                if not add:
                    continue
                c = pb.constraints.new('LIMIT_ROTATION')
                c.name = LIMIT_CONSTRAINT
            c.owner_space = 'LOCAL'
            for ax in "xyz":
                lo, hi = getattr(item, f"{ax}_min"), getattr(item, f"{ax}_max")
                setattr(c, f"use_limit_{ax}", True)
                setattr(c, f"min_{ax}", math.radians(min(lo, hi)))
                setattr(c, f"max_{ax}", math.radians(max(lo, hi)))
            n += 1
        return n
    except Exception as e:
        print(f"DeepX limit constraints: {e}")
        return 0


def check_output_dir(text: str) -> Path:
    """The batch output folder as an absolute, writable path, or ValueError saying what is wrong."""
    if not text or not text.strip():
        raise ValueError("Output folder is empty: choose a folder in Batch Render")
    if text.startswith("//") and not bpy.data.filepath:
        raise ValueError(f"Output folder {text!r} is relative to the .blend file, which is not saved yet: "
                         "save the file or choose an absolute folder")
    p = Path(bpy.path.abspath(text)).resolve()
    if p.exists() and not p.is_dir():
        raise ValueError(f"Output folder {p} is a file, not a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".deepx-write-test-", dir=p)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ValueError(f"Output folder {p} is not writable ({e.strerror or e})") from None
    return p


def settings_or_report(op, context):
    """props.to_settings with a report instead of an exception; None when refused."""
    from ..core.settings import SettingsError
    from .props import to_settings
    try:
        return to_settings(context.scene)
    except SettingsError as e:
        op.report({'ERROR'}, f"Invalid setting: {e}")
        return None


def limits_or_report(op, context):
    from ..core.limits import LimitsError
    from .props import limits_from_scene
    try:
        return limits_from_scene(context.scene)
    except LimitsError as e:
        op.report({'ERROR'}, f"Invalid joint limits: {e}")
        return None


# --------------------------------------------------------------------------------------------------
# mannequin and poses

class _PosesMannequin(Operator):
    """Base of the operators that change the DeepX mannequin's pose (undoable; need a mannequin)."""
    bl_options = {'REGISTER', 'UNDO'}

    @classmethod
    def poll(cls, context):
        return _poll_mannequin(cls, context)


class DEEPX_OT_create_mannequin(Operator):
    """Build the DeepX mannequin (armature and skin mesh), or rebuild it with the panel's stature"""
    bl_idname = "deepx.create_mannequin"
    bl_label = "Create Mannequin"
    bl_options = {'REGISTER', 'UNDO'}

    @classmethod
    def poll(cls, context):
        if context.mode != 'OBJECT':
            cls.poll_message_set("Switch to Object Mode")
            return False
        return _poll_scene(cls, context)

    def execute(self, context):
        from ..core.body import BodyParams
        from .mannequin import body_meshes, build_mannequin, get_body, remove_mannequin, update_body
        dx = context.scene.deepx
        arm = get_mannequin(context)
        try:
            # keep the proportions and girth of the current body; the panel sets the stature
            old = get_body(arm) if arm is not None else BodyParams()
            body = BodyParams(stature_m=dx.stature_preview_m, proportions=old.proportions, girth=old.girth)
        except ValueError as e:
            self.report({'ERROR'}, str(e))
            return {'CANCELLED'}
        if arm is not None and bool(body_meshes(arm)) == dx.with_mesh:
            from .posing import read_pose
            update_body(arm, body)
            _apply(context, arm, read_pose(arm), "ground", 0.0)     # back on the ground at the new size
            action = "Updated"
        else:
            if arm is not None:
                remove_mannequin(arm)
            arm = build_mannequin(body, MANNEQUIN_NAME, dx.with_mesh)
            dx.mannequin = arm
            action = "Built"
        context.view_layer.update()
        self.report({'INFO'}, f"{action} mannequin {arm.name} ({body.stature_m:.2f} m)")
        return {'FINISHED'}


class DEEPX_OT_apply_pose(_PosesMannequin):
    """Pose the mannequin with a pose preset (default: Preset A)"""
    bl_idname = "deepx.apply_pose"
    bl_label = "Apply Pose Preset"

    preset: StringProperty(name="Preset", description="Pose preset name (empty: the panel's Preset A)")

    def execute(self, context):
        dx = context.scene.deepx
        name = self.preset or dx.preset_a
        presets = presets_or_report(self)
        if presets is None:
            return {'CANCELLED'}
        if name not in presets:
            self.report({'ERROR'}, f"No pose preset {name!r}; available: {', '.join(sorted(presets))}")
            return {'CANCELLED'}
        p = presets[name]
        _apply(context, get_mannequin(context), p.rotations, p.support, p.box_height_m)
        self.report({'INFO'}, f"Pose {name} ({p.family})")
        return {'FINISHED'}


class DEEPX_OT_blend_presets(_PosesMannequin):
    """Pose the mannequin between Preset A and Preset B (the Blend slider)"""
    bl_idname = "deepx.blend_presets"
    bl_label = "Blend Presets"

    def execute(self, context):
        from ..core.poses import PoseError
        try:
            p = blend_preview(context)
        except (PoseError, OSError, ValueError) as e:
            self.report({'ERROR'}, f"Pose presets: {e}" if isinstance(e, (PoseError, OSError)) else str(e))
            return {'CANCELLED'}
        self.report({'INFO'}, f"Pose {p.name} ({p.family})")
        return {'FINISHED'}


def read_pose(arm) -> dict:
    """The armature's current pose as {bone: (x, y, z)} Euler degrees, bones at rest left out."""
    from . import posing
    out = {}
    for bone, rot in posing.read_pose(arm).items():
        deg = tuple(round(a, 3) + 0.0 for a in rot)
        if any(abs(a) > 1e-3 for a in deg):
            out[bone] = deg
    return out


class DEEPX_OT_save_pose_preset(Operator):
    """Save the mannequin's current pose as a pose preset in your user preset folder"""
    bl_idname = "deepx.save_pose_preset"
    bl_label = "Save Pose Preset"
    bl_options = {'REGISTER'}

    name: StringProperty(name="Name", description="Preset name (empty: the panel's name field)")
    family: EnumProperty(name="Family", items=[(f, f.replace("_", " ").capitalize(), "") for f in
                                               ("standing", "walking", "crouching", "kneeling", "sitting",
                                                "hands_up", "bending")])
    support: EnumProperty(name="Support", items=[("ground", "Ground", "Feet/knees/buttocks on the ground"),
                                                 ("box", "Box", "Sitting on a box of the panel's Support Height")])
    overwrite: BoolProperty(name="Overwrite", default=False)

    @classmethod
    def poll(cls, context):
        return _poll_mannequin(cls, context)

    def invoke(self, context, event):
        self.name = self.name or context.scene.deepx.new_preset_name
        return context.window_manager.invoke_props_dialog(self)

    def execute(self, context):
        from ..core.poses import PoseError, PosePreset
        from ..core.records import atomic_write_text
        import json
        dx = context.scene.deepx
        name = bpy.path.clean_name(self.name or dx.new_preset_name).strip("_")
        if not name:
            self.report({'ERROR'}, "Give the pose preset a name")
            return {'CANCELLED'}
        path = user_preset_dir("poses") / f"{name}.json"
        if path.exists() and not self.overwrite:
            self.report({'ERROR'}, f"A user pose preset {name!r} exists already ({path}); tick Overwrite")
            return {'CANCELLED'}
        try:
            p = PosePreset(name, self.family, read_pose(get_mannequin(context)), self.support,
                           dx.box_height_m if self.support == "box" else 0.0)
            atomic_write_text(path, json.dumps(p.to_dict(), indent=1) + "\n")
        except (PoseError, OSError) as e:
            self.report({'ERROR'}, f"Could not save pose preset: {e}")
            return {'CANCELLED'}
        self.report({'INFO'}, f"Saved pose preset {path}")
        return {'FINISHED'}


class DEEPX_OT_reset_pose(_PosesMannequin):
    """Put the mannequin back in its rest pose (standing, arms down)"""
    bl_idname = "deepx.reset_pose"
    bl_label = "Rest Pose"

    def execute(self, context):
        _apply(context, get_mannequin(context), {}, "ground", 0.0)
        return {'FINISHED'}


class DEEPX_OT_walk_pose(_PosesMannequin):
    """Pose the mannequin at the Walk panel's phase"""
    bl_idname = "deepx.walk_pose"
    bl_label = "Walk Pose"

    def execute(self, context):
        walk_preview(context, quiet=False)
        return {'FINISHED'}


class DEEPX_OT_fill_preset_weights(Operator):
    """List every pose preset in the sampling weights (keeping weights already set)"""
    bl_idname = "deepx.fill_preset_weights"
    bl_label = "List Pose Presets"
    bl_options = {'REGISTER', 'UNDO'}

    @classmethod
    def poll(cls, context):
        return _poll_scene(cls, context)

    def execute(self, context):
        pw = context.scene.deepx.pose.preset_weights
        have = {item.name for item in pw}
        for name in pose_preset_names():
            if name not in have:
                pw.add().name = name
        return {'FINISHED'}


# --------------------------------------------------------------------------------------------------
# joint limits

def _limits_default_path() -> Path:
    from ..core.paths import presets_dir
    return presets_dir("limits") / "default.json"


class DEEPX_OT_reset_limits(Operator):
    """Load the shipped default joint limits into the panel"""
    bl_idname = "deepx.reset_limits"
    bl_label = "Reset to Defaults"
    bl_options = {'REGISTER', 'UNDO'}

    @classmethod
    def poll(cls, context):
        return _poll_scene(cls, context)

    def execute(self, context):
        from ..core.limits import JointLimits, LimitsError
        from .props import limits_to_scene
        try:
            limits = JointLimits.load(_limits_default_path())
        except LimitsError as e:
            self.report({'ERROR'}, str(e))
            return {'CANCELLED'}
        limits_to_scene(context.scene, limits, "default")
        self.report({'INFO'}, "Joint limits reset to the shipped defaults")
        return {'FINISHED'}


class DEEPX_OT_load_limits(Operator, ImportHelper):
    """Load a joint-limit set (JSON) into the panel"""
    bl_idname = "deepx.load_limits"
    bl_label = "Load Joint Limits"
    bl_options = {'REGISTER', 'UNDO'}

    filename_ext = ".json"
    filter_glob: StringProperty(default="*.json", options={'HIDDEN'})

    @classmethod
    def poll(cls, context):
        return _poll_scene(cls, context)

    def execute(self, context):
        from ..core.limits import JointLimits, LimitsError
        from .props import limits_to_scene
        path = Path(bpy.path.abspath(self.filepath))
        try:
            limits = JointLimits.load(path)
        except LimitsError as e:
            self.report({'ERROR'}, str(e))
            return {'CANCELLED'}
        limits_to_scene(context.scene, limits, path.stem)
        self.report({'INFO'}, f"Loaded joint limits {path.name}")
        return {'FINISHED'}


class DEEPX_OT_save_limits(Operator, ExportHelper):
    """Save the panel's joint limits to a JSON file"""
    bl_idname = "deepx.save_limits"
    bl_label = "Save Joint Limits"
    bl_options = {'REGISTER'}

    filename_ext = ".json"
    filter_glob: StringProperty(default="*.json", options={'HIDDEN'})

    @classmethod
    def poll(cls, context):
        return _poll_scene(cls, context)

    def execute(self, context):
        from ..core.paths import presets_dir
        limits = limits_or_report(self, context)
        if limits is None:
            return {'CANCELLED'}
        path = Path(bpy.path.abspath(self.filepath))
        if path.suffix.lower() != ".json":
            path = path.with_suffix(".json")
        if presets_dir("limits").resolve() in path.resolve().parents:
            self.report({'ERROR'}, "Do not overwrite the shipped presets: save into your own folder "
                                   "(or use the + of the preset menu)")
            return {'CANCELLED'}
        try:
            limits.name = path.stem
            limits.save(path)
        except OSError as e:
            self.report({'ERROR'}, f"Could not write {path}: {e}")
            return {'CANCELLED'}
        self.report({'INFO'}, f"Saved joint limits {path}")
        return {'FINISHED'}


class DEEPX_OT_limit_constraints(_PosesMannequin):
    """Add Limit Rotation constraints to the mannequin that mirror the Joint Limits list (they follow
    later edits of the list), so posing by hand stays within the limits; or remove them"""
    bl_idname = "deepx.limit_constraints"
    bl_label = "Limit Rotation Constraints"

    remove: BoolProperty(name="Remove", default=False)

    def execute(self, context):
        arm = get_mannequin(context)
        if self.remove:
            n = 0
            for pb in arm.pose.bones:
                c = pb.constraints.get(LIMIT_CONSTRAINT)
                if c is not None:
                    pb.constraints.remove(c)
                    n += 1
            self.report({'INFO'}, f"Removed {n} limit constraints")
            return {'FINISHED'}
        if not len(context.scene.deepx.limits):
            bpy.ops.deepx.reset_limits()
        if limits_or_report(self, context) is None:
            return {'CANCELLED'}
        n = refresh_limit_constraints(context, add=True)
        self.report({'INFO'}, f"{n} bones limited by Limit Rotation constraints (the Joint Limits list)")
        return {'FINISHED'}


# --------------------------------------------------------------------------------------------------
# randomisers

def _seed(value: int) -> int:
    import numpy as np
    return int(value) if value >= 0 else int(np.random.SeedSequence().entropy % (2 ** 31))


class DEEPX_OT_randomize_pose(_PosesMannequin):
    """Pose the mannequin with one random pose from the panel's settings (presets, walk, randomisers, limits)"""
    bl_idname = "deepx.randomize_pose"
    bl_label = "Random Pose"

    seed: IntProperty(name="Seed", default=-1, min=-1, options={'SKIP_SAVE'},
                      description="-1: a new random seed each time (the seed used is shown here afterwards)")
    with_body: BoolProperty(name="Random Body", default=False,
                            description="Also draw a body (stature, proportions) from the body settings")

    def execute(self, context):
        import numpy as np
        from ..core.body import sample_body
        from ..core.poses import PoseError, sample_pose
        settings = settings_or_report(self, context)
        limits = limits_or_report(self, context) if settings else None
        presets = presets_or_report(self) if limits else None
        if presets is None:
            return {'CANCELLED'}
        seed = _seed(self.seed)
        self.seed = seed               # the redo panel shows (and re-runs) the seed actually used
        rng = np.random.default_rng(seed)
        arm = get_mannequin(context)
        try:
            body = sample_body(rng, settings.body) if self.with_body else None
            sp = sample_pose(rng, settings.pose, presets, limits)
        except (PoseError, ValueError) as e:
            self.report({'ERROR'}, f"Cannot sample a pose: {e}")
            return {'CANCELLED'}
        if body is not None:
            from .mannequin import update_body
            update_body(arm, body)
        _apply(context, arm, sp.rotations, sp.support, sp.box_height_m)
        extra = f", {body.stature_m:.2f} m" if body is not None else ""
        self.report({'INFO'}, f"Random pose: {sp.family} (seed {seed}{extra})")
        return {'FINISHED'}


class DEEPX_OT_randomize_camera(Operator):
    """Place the DeepX camera (position, aim, focal length, principal point) as the generator would"""
    bl_idname = "deepx.randomize_camera"
    bl_label = "Random Camera"
    bl_options = {'REGISTER', 'UNDO'}

    seed: IntProperty(name="Seed", default=-1, min=-1, options={'SKIP_SAVE'},
                      description="-1: a new random seed each time (the seed used is shown here afterwards)")

    @classmethod
    def poll(cls, context):
        return _poll_scene(cls, context)

    def execute(self, context):
        import numpy as np
        from dataclasses import replace
        from ..core.camera import CameraError
        from ..core.settings import SettingsError
        from ..core.cameras import sample_cameras
        from . import scene as scn
        settings = settings_or_report(self, context)
        if settings is None:
            return {'CANCELLED'}
        arm = get_mannequin(context)
        if arm is not None:
            from .posing import pelvis_world
            pelvis = np.asarray(pelvis_world(arm), float)
            facing = math.degrees(arm.matrix_world.to_euler('XYZ').z)
        else:
            pelvis, facing = np.array([0.0, 0.0, 0.53 * 1.715]), 0.0
        W, H = (int(v) for v in settings.render.resolution)
        cs = replace(settings.camera, image_size=(W, H))   # the render path renders at render.resolution
        seed = _seed(self.seed)
        self.seed = seed
        try:
            cams = sample_cameras(np.random.default_rng(seed), cs, pelvis, 1, facing_deg=facing)
            rig = scn.setup_scene(settings, context.scene)
            scn.set_camera(rig.camera, cams.K[0], cams.R[0], cams.t[0], W, H, context.scene)
        except (SettingsError, CameraError, ValueError) as e:
            self.report({'ERROR'}, f"Cannot place the camera: {e}")
            return {'CANCELLED'}
        self.report({'INFO'}, f"Camera {cams.distance_m[0]:.1f} m from the pelvis, {cams.height_m[0]:.2f} m high, "
                              f"hfov {cams.hfov_deg[0]:.0f}° (seed {seed})")
        return {'FINISHED'}


# --------------------------------------------------------------------------------------------------
# distribution preview (numpy only: no rendering, no armature)

def distribution_sample(settings, limits, presets, n: int, seed: int) -> dict:
    """n (body, pose, camera) draws with the generator's own functions, projected exactly.

    Returns families (n,), distance_m (n,), height_px (n,) (larger side of the keypoint box),
    frac (n,) = height_px / image height, in_frame (n,) bool (all 17 keypoints inside the image)."""
    import numpy as np
    from ..core import rig
    from ..core.body import sample_body
    from ..core.cameras import sample_cameras
    from ..core.noise import person_height_px
    from ..core.poses import sample_pose
    rng = np.random.default_rng(seed)
    fam, kps = [], []
    for _ in range(n):
        body = sample_body(rng, settings.body)
        sp = sample_pose(rng, settings.pose, presets, limits)
        scale, sc = body.scales()
        A, T = rig.forward_kinematics(sp.array(), sc)
        radii = rig.contact_radii(sc, scale, body.girth)
        kp, _, _ = rig.person_frame(A, T, scale, radii, sp.support, sp.box_height_m)
        fam.append(sp.family)
        kps.append(kp)
    kps = np.asarray(kps)                                          # (n, 17, 3) person frame
    pelvis = 0.5 * (kps[:, 11] + kps[:, 12])
    cams = sample_cameras(rng, settings.camera, pelvis, n)
    uv, z = cams.project(kps)                                      # (n, 17, 2), (n, 17)
    W, H = cams.image_size
    vis = np.isfinite(uv).all(-1) & (z > 0)
    inside = vis & (uv[..., 0] >= 0) & (uv[..., 0] <= W) & (uv[..., 1] >= 0) & (uv[..., 1] <= H)
    h = person_height_px(np.concatenate([np.nan_to_num(uv), vis[..., None]], -1))
    return {"families": np.asarray(fam), "distance_m": cams.distance_m, "height_px": h,
            "frac": h / float(H), "in_frame": inside.all(-1), "image_size": (W, H)}


def preview_report(d: dict) -> str:
    """A few short lines (the sidebar is narrow): family shares, distances, person sizes."""
    import numpy as np
    n = len(d["families"])
    names, counts = np.unique(d["families"], return_counts=True)
    order = np.argsort(-counts, kind="stable")
    shares = [f"{names[i]} {100 * counts[i] / n:.0f}%" for i in order]
    lines = [f"{n} samples, no rendering"]
    lines += [", ".join(shares[i:i + 2]) for i in range(0, len(shares), 2)]
    dist = np.percentile(d["distance_m"], [5, 50, 95])
    lines.append(f"Distance m: {dist[0]:.1f} / {dist[1]:.1f} / {dist[2]:.1f}")
    hp = np.percentile(d["height_px"], [5, 50, 95])
    lines.append(f"Person px: {hp[0]:.0f} / {hp[1]:.0f} / {hp[2]:.0f}")
    lines.append("(5% / median / 95%)")
    W, H = d["image_size"]
    lines.append(f"Under 32 px: {100 * np.mean(d['height_px'] < 32):.0f}% (image {W}x{H})")
    lines.append(f"Whole body in frame: {100 * np.mean(d['in_frame']):.0f}%")
    return "\n".join(lines)


def histogram_png(frac, path, bins: int = 18, size=(180, 180)):
    """A small bar chart of log2(person size / image height) from 1/256 to 2, written as PNG by
    Blender's image API (no matplotlib inside Blender). Bars: teal; axis ticks every octave."""
    import numpy as np
    W, H = size
    lo, hi = -8.0, 1.0
    x = np.log2(np.clip(np.asarray(frac, float), 2.0 ** lo, 2.0 ** hi))
    counts, _ = np.histogram(x, bins=bins, range=(lo, hi))
    img = np.ones((H, W, 4), np.float32)
    img[..., :3] = 0.12
    base, top = 14, H - 6
    peak = max(int(counts.max()), 1)
    bw = W / bins
    for i, c in enumerate(counts):
        h = int(round((top - base) * c / peak))
        x0, x1 = int(i * bw) + 1, int((i + 1) * bw) - 1
        img[base:base + h, x0:x1, :3] = (0.25, 0.7, 0.75)
    for octave in range(int(lo), int(hi) + 1):        # ticks; the full-frame tick (2^0) brighter
        xp = int((octave - lo) / (hi - lo) * (W - 1))
        img[4:base - 2, xp, :3] = 0.9 if octave == 0 else 0.5
    img[base - 1, :, :3] = 0.6
    name = Path(path).name
    im = bpy.data.images.get(name)
    if im is not None and tuple(im.size) != (W, H):
        bpy.data.images.remove(im)
        im = None
    if im is None:
        im = bpy.data.images.new(name, W, H, alpha=True)
    im.pixels.foreach_set(img.ravel())
    im.filepath_raw = str(path)
    im.file_format = 'PNG'
    im.save()
    im.update()
    if im.preview is not None:      # the panel draws the icon preview, cached until reloaded
        im.preview.reload()
    return im


class DEEPX_OT_distribution_preview(Operator):
    """Sample poses and cameras with the current settings (no rendering) and show the share of each pose
    family and how large people appear in the image"""
    bl_idname = "deepx.distribution_preview"
    bl_label = "Distribution Preview"
    bl_options = {'REGISTER'}

    seed: IntProperty(name="Seed", default=-1, min=-1, description="-1: the panel's seed")

    @classmethod
    def poll(cls, context):
        return _poll_scene(cls, context)

    def execute(self, context):
        from ..core.camera import CameraError
        from ..core.poses import PoseError
        from ..core.settings import SettingsError
        dx = context.scene.deepx
        settings = settings_or_report(self, context)
        limits = limits_or_report(self, context) if settings else None
        presets = presets_or_report(self) if limits else None
        if presets is None:
            return {'CANCELLED'}
        try:
            seed = self.seed if self.seed >= 0 else settings.seed
            d = distribution_sample(settings, limits, presets, int(dx.preview_n), seed)
        except (SettingsError, CameraError, PoseError, ValueError) as e:
            self.report({'ERROR'}, f"Preview failed: {e}")
            return {'CANCELLED'}
        dx.preview_report = preview_report(d)
        out = Path(tempfile.gettempdir()) / "deepx_preview"
        out.mkdir(parents=True, exist_ok=True)
        try:
            im = histogram_png(d["frac"], out / "deepx_preview_size.png")
            dx.preview_image = im.name
        except (OSError, RuntimeError) as e:   # the text report is there anyway
            self.report({'WARNING'}, f"Preview picture not written: {e}")
        for area in (context.screen.areas if context.screen else []):
            area.tag_redraw()
        self.report({'INFO'}, "Preview: " + "; ".join(dx.preview_report.split("\n")[1:3]))
        return {'FINISHED'}


# --------------------------------------------------------------------------------------------------
# batch rendering

def resolve_limits_setting(settings):
    """A user limit preset name -> its file path, so the batch (which reads shipped presets by name
    and files by path) uses exactly the set chosen in the panel."""
    from dataclasses import replace
    from .preset_menu import limits_file, shipped_limits_dir
    path = limits_file(settings.pose.limits_preset)
    if path.parent == shipped_limits_dir():      # a shipped name stays a name (same run as the CLI's)
        return settings
    return replace(settings, pose=replace(settings.pose, limits_preset=str(path)))


def check_limits_saved(context, settings) -> None:
    """Refuse a batch whose panel limits differ from the preset file it would read."""
    import numpy as np
    from ..core.limits import JointLimits
    from .props import limits_from_scene
    if not len(context.scene.deepx.limits):
        return
    panel = limits_from_scene(context.scene)
    name = settings.pose.limits_preset
    disk = JointLimits.load(name)
    if not np.allclose(panel.array, disk.array, atol=1e-3):
        raise ValueError(f"The joint limits in the panel differ from the limit preset {Path(name).stem!r}: "
                         "save them as a preset (Joint Limits > +) or reload the preset, then render")


def prepare_batch(op, context):
    """(settings, out_dir, shard) or None after reporting why not."""
    from ..core.limits import LimitsError
    from ..core.settings import SettingsError
    from .props import check_scene
    dx = context.scene.deepx
    try:
        settings = check_scene(context.scene)
    except SettingsError as e:
        op.report({'ERROR'}, f"Invalid setting: {e}")
        return None
    if not 0 <= dx.shard_index < dx.shards:
        op.report({'ERROR'}, f"Shard {dx.shard_index} does not exist: shards are 0..{dx.shards - 1}")
        return None
    try:
        out = check_output_dir(dx.output_dir)
        settings = resolve_limits_setting(settings)
        check_limits_saved(context, settings)
    except (ValueError, LimitsError) as e:
        op.report({'ERROR'}, str(e))
        return None
    return settings, out, (int(dx.shard_index), int(dx.shards))


class DEEPX_OT_batch_render(Operator):
    """Render the dataset (images + exact labels) into the output folder, in a Blender process of its
    own (your scene stays as it is); Esc cancels, starting again resumes where it stopped"""
    bl_idname = "deepx.batch_render"
    bl_label = "Render Dataset"
    bl_options = {'REGISTER'}

    _timer = None
    _job = None
    _child = None
    _hidden = ()

    @classmethod
    def poll(cls, context):
        if not _poll_scene(cls, context):
            return False
        if context.scene.deepx.batch_running:
            cls.poll_message_set("A batch is already running (Esc cancels it)")
            return False
        return True

    # -- the pieces shared by execute (scripts, background) and the modal run -----------------------
    def _start(self, context):
        from .batch import BatchError, BatchJob, preflight, shard_indices
        from . import batch_child
        prep = prepare_batch(self, context)
        if prep is None:
            return False
        settings, out, shard = prep
        dx = context.scene.deepx
        try:
            preflight(settings)          # every setting checked before anything starts
        except BatchError as e:
            self.report({'ERROR'}, f"Cannot start the batch: {e}")
            return False
        if batch_child.available():      # a real Blender: render in a child process, scene untouched
            try:
                self._child = batch_child.ChildBatch(settings, out, shard, len(shard_indices(settings.count, shard)))
            except OSError as e:
                self.report({'ERROR'}, f"Cannot start the batch: {e}")
                return False
            dx.batch_running = True
            dx.batch_progress = 0.0
            dx.batch_status = f"Rendering {self._child.total} samples in a background Blender"
            return True
        # Blender as a Python module (no executable to start): render here; the panel's own
        # mannequin must not appear in the dataset's renders
        arm = get_mannequin(context)
        self._hidden = [(o.name, o.hide_render) for o in ([arm, *arm.children_recursive] if arm else [])]
        for name, _ in self._hidden:
            bpy.data.objects[name].hide_render = True
        try:
            self._job = BatchJob(settings, out, shard, scene=context.scene)
        except (BatchError, ValueError, OSError) as e:
            self._restore()
            self.report({'ERROR'}, f"Cannot start the batch: {e}")
            return False
        dx.batch_running = True
        dx.batch_progress = self._job.progress().fraction
        dx.batch_status = f"{self._job.skipped} done before, {len(self._job.todo)} to render"
        return True

    def _restore(self):
        for name, hidden in self._hidden:
            obj = bpy.data.objects.get(name)
            if obj is not None:
                obj.hide_render = hidden
        self._hidden = ()

    def _remove_render_mannequin(self, context):
        """The batch builds its own mannequin at the origin; drop it so the panel's scene is as before."""
        extra = getattr(getattr(self._job, "ctx", None), "armature", None)
        if extra is not None and extra != get_mannequin(context) and extra.name in bpy.data.objects:
            from .mannequin import remove_mannequin
            remove_mannequin(extra)
            self._job.ctx = None

    def _step(self, context) -> bool:
        """Render one sample (in-process) or look at the child; False when the shard is finished.
        Raises RuntimeError with the child's error when it failed."""
        dx = context.scene.deepx
        if self._child is not None:
            rc = self._child.poll()
            dx.batch_progress = self._child.fraction
            dx.batch_status = f"{self._child.done}/{self._child.total} samples"
            if rc is None:
                return True
            if rc != 0:
                raise RuntimeError(f"the batch Blender failed (exit {rc}): {self._child.error_text()}")
            return False
        pr = self._job.step()
        dx.batch_progress = pr.fraction
        dx.batch_status = pr.text()
        return not pr.finished

    def _finish(self, context, cancelled: bool):
        dx = context.scene.deepx
        if self._child is not None:
            child, self._child = self._child, None
            if cancelled:
                child.cancel()
            child.close()
            dx.batch_running = False
            done = child.done if cancelled else child.total
            dx.batch_status = (f"Cancelled at {done}/{child.total}: start again to resume" if cancelled
                               else f"Done: {child.total}/{child.total} samples in {child.out_dir}")
            self.report({'WARNING' if cancelled else 'INFO'}, dx.batch_status)
            return None
        summary = None
        try:
            summary = self._job.finalize()
        except (OSError, ValueError) as e:
            self.report({'WARNING'}, f"Finalising the dataset failed: {e}")
        finally:
            self._restore()
            self._remove_render_mannequin(context)
            dx.batch_running = False
        pr = self._job.progress()
        dx.batch_status = (f"Cancelled at {pr.done}/{pr.total}: start again to resume" if cancelled
                           else f"Done: {pr.done}/{pr.total} samples in {self._job.out_dir}")
        self.report({'WARNING' if cancelled else 'INFO'}, dx.batch_status)
        return summary

    # -- entry points -------------------------------------------------------------------------------
    def execute(self, context):
        """Synchronous: renders the whole shard (scripts and `blender -b`)."""
        import time
        if not self._start(context):
            return {'CANCELLED'}
        try:
            while self._step(context):
                if self._child is not None:
                    time.sleep(0.2)
        except Exception as e:
            self._finish(context, cancelled=True)
            self.report({'ERROR'}, f"Batch stopped: {e}")
            return {'CANCELLED'}
        self._finish(context, cancelled=False)
        return {'FINISHED'}

    def invoke(self, context, event):
        if context.window is None or bpy.app.background:
            return self.execute(context)
        if not self._start(context):
            return {'CANCELLED'}
        wm = context.window_manager
        wm.progress_begin(0.0, 1.0)
        self._timer = wm.event_timer_add(0.25 if self._child is not None else 0.001, window=context.window)
        wm.modal_handler_add(self)
        return {'RUNNING_MODAL'}

    def modal(self, context, event):
        if event.type == 'ESC':
            return self._end_modal(context, cancelled=True)
        if event.type != 'TIMER':
            return {'PASS_THROUGH'}
        try:
            more = self._step(context)
        except Exception as e:
            self.report({'ERROR'}, f"Batch stopped: {e}")
            return self._end_modal(context, cancelled=True)
        context.window_manager.progress_update(context.scene.deepx.batch_progress)
        for area in context.screen.areas if context.screen else []:
            if area.type == 'VIEW_3D':
                area.tag_redraw()
        return {'RUNNING_MODAL'} if more else self._end_modal(context, cancelled=False)

    def _end_modal(self, context, cancelled: bool):
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        self._finish(context, cancelled)
        return {'CANCELLED'} if cancelled else {'FINISHED'}


classes = (
    DEEPX_OT_create_mannequin,
    DEEPX_OT_apply_pose,
    DEEPX_OT_blend_presets,
    DEEPX_OT_save_pose_preset,
    DEEPX_OT_reset_pose,
    DEEPX_OT_walk_pose,
    DEEPX_OT_fill_preset_weights,
    DEEPX_OT_reset_limits,
    DEEPX_OT_load_limits,
    DEEPX_OT_save_limits,
    DEEPX_OT_limit_constraints,
    DEEPX_OT_randomize_pose,
    DEEPX_OT_randomize_camera,
    DEEPX_OT_distribution_preview,
    DEEPX_OT_batch_render,
)

register, unregister = bpy.utils.register_classes_factory(classes)
