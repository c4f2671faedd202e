"""deepx.* operators: what the sidebar's buttons do.

Every operator reads the panel through props.py (to_settings / limits_from_scene) and calls core
(numpy) or the Blender layer (mannequin, posing, scene, batch); nothing here duplicates their maths.
Errors the artist can fix (min > max, an empty output folder, no mannequin yet) are refused with a
report naming the field, never a traceback. Everything they use is imported at module level: core is numpy only and the Blender layer
imports no torch.
"""
from __future__ import annotations

import json
import math
import tempfile
import time
from pathlib import Path

import bpy
import numpy as np
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty
from bpy.types import Operator
from bpy_extras.io_utils import ExportHelper, ImportHelper

from ..core.body import BodyParams, sample_body
from ..core.camera import CameraError
from ..core.cameras import sample_cameras
from ..core.distribution import distribution_sample, preview_report
from ..core.limits import JointLimits, LimitsError
from ..core.paths import presets_dir
from ..core.poses import PoseError, PosePreset, sample_pose
from ..core.records import atomic_write_text
from ..core.runfolder import RunFolderError, shard_indices
from ..core.settings import SettingsError
from . import batch_child, posing, scene, state
from .batch import BatchJob, preflight
from .histogram import histogram_png
from .humanbody import human_mesh_of
from .mannequin import body_meshes, build_mannequin, get_body, remove_mannequin, update_body
from .posing import pelvis_world
from .props import limits_to_scene
from .reports import limits_or_report, prepare_batch, presets_or_report, settings_or_report
from .state import MANNEQUIN_NAME, get_mannequin, poll_mannequin, poll_scene, pose_preset_names, user_preset_dir, walk_preview


# --------------------------------------------------------------------------------------------------
# mannequin and poses

class _PosesMannequin(Operator):
    """Base of the operators that change the DeepX mannequin's pose (undoable; need a mannequin)."""
    bl_options = {'REGISTER', 'UNDO'}

    @classmethod
    def poll(cls, context):
        return poll_mannequin(cls, context)


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
        return poll_scene(cls, context)

    def execute(self, context):
        dx = context.scene.deepx
        arm = get_mannequin(context)
        try:
            # keep the proportions and girth of the current body; the panel sets the stature
            old = get_body(arm) if arm is not None else BodyParams()
            body = BodyParams(stature_m=dx.stature_preview_m, proportions=old.proportions, girth=old.girth)
        except ValueError as e:
            self.report({'ERROR'}, str(e))
            return {'CANCELLED'}
        human = arm is not None and human_mesh_of(arm) is not None
        if arm is not None and bool(body_meshes(arm)) == dx.with_mesh and (not dx.with_mesh or human == (dx.body.mesh == "human")):
            update_body(arm, body)
            state.apply_in_place(context, arm, posing.read_pose(arm), "ground", 0.0)     # back on the ground at the new size
            action = "Updated"
        else:
            if arm is not None:
                remove_mannequin(arm)
            arm = build_mannequin(body, MANNEQUIN_NAME, dx.with_mesh, body_mesh=dx.body.mesh)
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
        state.apply_in_place(context, get_mannequin(context), p.rotations, p.support, p.box_height_m)
        self.report({'INFO'}, f"Pose {name} ({p.family})")
        return {'FINISHED'}


class DEEPX_OT_blend_presets(_PosesMannequin):
    """Pose the mannequin between Preset A and Preset B (the Blend slider)"""
    bl_idname = "deepx.blend_presets"
    bl_label = "Blend Presets"

    def execute(self, context):
        try:
            p = state.blend_preview(context)
        except (PoseError, OSError) as e:
            self.report({'ERROR'}, f"Pose presets: {e}")
            return {'CANCELLED'}
        except ValueError as e:
            self.report({'ERROR'}, str(e))
            return {'CANCELLED'}
        self.report({'INFO'}, f"Pose {p.name} ({p.family})")
        return {'FINISHED'}


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
        return poll_mannequin(cls, context)

    def invoke(self, context, event):
        self.name = self.name or context.scene.deepx.new_preset_name
        return context.window_manager.invoke_props_dialog(self)

    def execute(self, context):
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
            p = PosePreset(name, self.family, state.pose_degrees(get_mannequin(context)), self.support,
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
        state.apply_in_place(context, get_mannequin(context), {}, "ground", 0.0)
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
        return poll_scene(cls, context)

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
    return presets_dir("limits") / "default.json"


class DEEPX_OT_reset_limits(Operator):
    """Load the shipped default joint limits into the panel"""
    bl_idname = "deepx.reset_limits"
    bl_label = "Reset to Defaults"
    bl_options = {'REGISTER', 'UNDO'}

    @classmethod
    def poll(cls, context):
        return poll_scene(cls, context)

    def execute(self, context):
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
        return poll_scene(cls, context)

    def execute(self, context):
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
        return poll_scene(cls, context)

    def execute(self, context):
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
                c = pb.constraints.get(state.LIMIT_CONSTRAINT)
                if c is not None:
                    pb.constraints.remove(c)
                    n += 1
            self.report({'INFO'}, f"Removed {n} limit constraints")
            return {'FINISHED'}
        if not len(context.scene.deepx.limits):
            bpy.ops.deepx.reset_limits()
        if limits_or_report(self, context) is None:
            return {'CANCELLED'}
        n = state.refresh_limit_constraints(context, add=True)
        self.report({'INFO'}, f"{n} bones limited by Limit Rotation constraints (the Joint Limits list)")
        return {'FINISHED'}


# --------------------------------------------------------------------------------------------------
# randomisers

def _seed(value: int) -> int:
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
            update_body(arm, body)
        state.apply_in_place(context, arm, sp.rotations, sp.support, sp.box_height_m)
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
        return poll_scene(cls, context)

    def execute(self, context):
        from dataclasses import replace
        settings = settings_or_report(self, context)
        if settings is None:
            return {'CANCELLED'}
        arm = get_mannequin(context)
        if arm is not None:
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
            rig = scene.setup_scene(settings, context.scene)
            scene.set_camera(rig.camera, cams.K[0], cams.R[0], cams.t[0], W, H, context.scene)
        except (SettingsError, CameraError, ValueError) as e:
            self.report({'ERROR'}, f"Cannot place the camera: {e}")
            return {'CANCELLED'}
        self.report({'INFO'}, f"Camera {cams.distance_m[0]:.1f} m from the pelvis, {cams.height_m[0]:.2f} m high, "
                              f"hfov {cams.hfov_deg[0]:.0f}° (seed {seed})")
        return {'FINISHED'}


# --------------------------------------------------------------------------------------------------
# distribution preview (numpy only: no rendering, no armature)

class DEEPX_OT_distribution_preview(Operator):
    """Sample poses and cameras with the current settings (no rendering) and show the share of each pose
    family and how large people appear in the image"""
    bl_idname = "deepx.distribution_preview"
    bl_label = "Distribution Preview"
    bl_options = {'REGISTER'}

    seed: IntProperty(name="Seed", default=-1, min=-1, description="-1: the panel's seed")

    @classmethod
    def poll(cls, context):
        return poll_scene(cls, context)

    def execute(self, context):
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
        if not poll_scene(cls, context):
            return False
        if context.scene.deepx.batch_running:
            cls.poll_message_set("A batch is already running (Esc cancels it)")
            return False
        return True

    # -- the pieces shared by execute (scripts, background) and the modal run -----------------------
    def _start(self, context):
        prep = prepare_batch(self, context)
        if prep is None:
            return False
        settings, out, shard = prep
        dx = context.scene.deepx
        try:
            preflight(settings, state.user_presets_root(create=False))   # every setting, before anything starts
        except RunFolderError as e:
            self.report({'ERROR'}, f"Cannot start the batch: {e}")
            return False
        if batch_child.available():      # a real Blender: render in a child process, scene untouched
            try:
                total = len(shard_indices(settings.count, shard, settings.cameras_per_pose))
                self._child = batch_child.ChildBatch(settings, out, shard, total)
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
            self._job = BatchJob(settings, out, shard, scene=context.scene, user_presets=state.user_presets_root())
        except (RunFolderError, ValueError, OSError) as e:
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
        """The batch builds its own mannequin at the origin (and a realistic scene's other people);
        drop them so the panel's scene is as before."""
        ctx = getattr(self._job, "ctx", None)
        if ctx is None:
            return
        for extra in [ctx.armature, *getattr(ctx, "extras", [])]:
            if extra is not None and extra != get_mannequin(context) and extra.name in bpy.data.objects:
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
