"""3D Viewport > Sidebar > DeepX: the generator's settings and tools.

Panels only draw Scene.deepx (props.py) and call deepx.* operators (operators.py); they compute
nothing themselves except the settings check shown at the top (props.check_scene).
"""
from __future__ import annotations

import bpy
from bpy.types import Panel, UIList

from ..core.settings import SettingsError
from ..core.paths import find_preset
from .preset_menu import DEEPX_MT_limit_presets
from .props import check_scene
from .state import user_presets_root


def _range_row(layout, pg, prop, label):
    """A (min, max) FloatVectorProperty as one row: label, min, max (red when min > max)."""
    split = layout.split(factor=0.34, align=True)
    split.label(text=label)
    row = split.row(align=True)
    lo, hi = getattr(pg, prop)
    row.alert = lo > hi
    row.prop(pg, prop, index=0, text="")
    row.prop(pg, prop, index=1, text="")


class _DeepXPanel:
    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = "DeepX"

    @classmethod
    def poll(cls, context):
        return getattr(context.scene, "deepx", None) is not None


class _SubPanel(_DeepXPanel):
    bl_parent_id = "VIEW3D_PT_deepx"
    bl_options = {'DEFAULT_CLOSED'}


class VIEW3D_PT_deepx(_DeepXPanel, Panel):
    bl_label = "DeepX"

    def draw(self, context):
        dx = context.scene.deepx
        layout = self.layout
        col = layout.column(align=True)
        col.prop(dx, "seed")
        col.prop(dx, "count")
        col.prop(dx, "cameras_per_pose")
        try:
            check_scene(context.scene)
        except SettingsError as e:
            box = layout.box()
            box.alert = True
            for i, line in enumerate(_wrap(str(e), 44)):
                box.label(text=line, icon='ERROR' if i == 0 else 'BLANK1')
        else:
            layout.label(text="Settings valid", icon='CHECKMARK')


def _wrap(text, width):
    import textwrap
    return textwrap.wrap(text, width) or [""]


class VIEW3D_PT_deepx_mannequin(_SubPanel, Panel):
    bl_label = "Mannequin"
    bl_options = set()

    def draw(self, context):
        dx = context.scene.deepx
        layout = self.layout
        col = layout.column(align=True)
        col.prop(dx, "mannequin", text="")
        col.prop(dx, "stature_preview_m")
        col.prop(dx, "with_mesh")
        label = "Rebuild Mannequin" if dx.mannequin else "Create Mannequin"
        layout.operator("deepx.create_mannequin", text=label, icon='ARMATURE_DATA')
        layout.separator()
        layout.label(text="Body population")
        b = dx.body
        _range_row(layout, b, "stature_m", "Stature")
        _range_row(layout, b, "girth", "Girth")
        col = layout.column(align=True)
        col.prop(b, "p_child", slider=True)
        col.prop(b, "proportion_sd")
        layout.prop(b, "mesh", text="Body")     # "Body Mesh" is cut at the sidebar's default width


class DEEPX_UL_joint_limits(UIList):
    """One row per bone: its name and the three (min, max) ranges in degrees."""

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):
        if self.layout_type in {'DEFAULT', 'COMPACT'}:
            split = layout.split(factor=0.3)
            split.label(text=item.name)
            ranges = []
            for ax in "xyz":
                lo, hi = getattr(item, f"{ax}_min"), getattr(item, f"{ax}_max")
                ranges.append("0" if lo == hi == 0 else f"{lo:.0f}:{hi:.0f}")
            sub = split.row()
            sub.alert = any(getattr(item, f"{ax}_min") > getattr(item, f"{ax}_max") for ax in "xyz")
            sub.label(text="  ".join(ranges))
        else:
            layout.label(text=item.name, icon='BONE_DATA')


class VIEW3D_PT_deepx_limits(_SubPanel, Panel):
    bl_label = "Joint Limits"

    def draw(self, context):
        dx = context.scene.deepx
        layout = self.layout
        row = layout.row(align=True)
        row.menu(DEEPX_MT_limit_presets.__name__, text=dx.pose.limits_preset or "Limit Presets", icon='PRESET')
        row.operator("deepx.limit_preset_add", text="", icon='ADD')
        row.operator("deepx.limit_preset_add", text="", icon='REMOVE').remove_active = True
        split = layout.split(factor=0.3)
        split.label(text="Bone")
        split.label(text="X  Y  Z range (°)")
        if not len(dx.limits):
            layout.label(text=f"Sampling from preset '{dx.pose.limits_preset}'", icon='INFO')
            try:
                path = str(find_preset("limits", dx.pose.limits_preset, user_presets_root(create=False)))
            except (FileNotFoundError, OSError) as e:
                layout.label(text=str(e)[:60], icon='ERROR')
            else:
                row = layout.row()
                row.operator_context = 'EXEC_DEFAULT'
                row.operator("deepx.load_limits", text="Show and Edit These Limits", icon='GREASEPENCIL').filepath = path
        row = layout.row()
        row.template_list("DEEPX_UL_joint_limits", "", dx, "limits", dx, "limits_index", rows=6)
        # the fields edit the bone selected on the mannequin (pose mode), else the list's active row
        arm = dx.mannequin
        active = arm.data.bones.active if arm is not None and arm.type == 'ARMATURE' else None
        i = dx.limits.find(active.name) if active is not None else -1
        selected = i >= 0
        i = i if selected else dx.limits_index
        if 0 <= i < len(dx.limits):
            item = dx.limits[i]
            col = layout.column(align=True)
            col.label(text=f"{item.name} (degrees{', selected bone' if selected else ''})")
            for ax in "xyz":
                r = col.row(align=True)
                r.alert = getattr(item, f"{ax}_min") > getattr(item, f"{ax}_max")
                r.prop(item, f"{ax}_min", text=f"{ax.upper()} Min")
                r.prop(item, f"{ax}_max", text="Max")
        row = layout.row(align=True)
        row.operator("deepx.reset_limits", icon='LOOP_BACK')
        row.operator("deepx.load_limits", text="", icon='FILEBROWSER')
        row.operator("deepx.save_limits", text="", icon='FILE_TICK')
        row = layout.row(align=True)
        row.operator("deepx.limit_constraints", text="Limit Posing by Hand", icon='CONSTRAINT_BONE')
        row.operator("deepx.limit_constraints", text="", icon='X').remove = True
        col = layout.column()
        col.use_property_split = True
        col.prop(dx.pose, "sampling")
        col.prop(dx.pose, "jitter_deg")


class DEEPX_UL_preset_weights(UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):
        row = layout.row(align=True)
        row.label(text=item.name)
        row.prop(item, "weight", text="", emboss=True)


class VIEW3D_PT_deepx_poses(_SubPanel, Panel):
    bl_label = "Pose Presets"

    def draw(self, context):
        dx = context.scene.deepx
        layout = self.layout
        row = layout.row(align=True)
        row.prop(dx, "preset_a", text="")
        row.operator("deepx.apply_pose", text="Apply", icon='POSE_HLT').preset = ""
        col = layout.column(align=True)
        col.prop(dx, "preset_b", text="")
        col.prop(dx, "blend_t", slider=True)
        col.operator("deepx.blend_presets", icon='ARROW_LEFTRIGHT')
        layout.prop(dx, "box_height_m")
        row = layout.row(align=True)
        row.prop(dx, "new_preset_name", text="")
        row.operator("deepx.save_pose_preset", text="Save", icon='FILE_TICK')
        layout.operator("deepx.reset_pose", icon='LOOP_BACK')
        layout.separator()
        row = layout.row()
        row.label(text="Sampling weights")
        row.operator("deepx.fill_preset_weights", text="", icon='FILE_REFRESH')
        layout.template_list("DEEPX_UL_preset_weights", "", dx.pose, "preset_weights", dx.pose,
                             "preset_weights_index", rows=3)


class VIEW3D_PT_deepx_walk(_SubPanel, Panel):
    bl_label = "Walk"

    def draw(self, context):
        dx = context.scene.deepx
        layout = self.layout
        if dx.mannequin is None:
            layout.label(text="Create the mannequin to preview", icon='INFO')
        col = layout.column(align=True)
        col.prop(dx, "walk_phase", slider=True)
        col.prop(dx.pose, "stride")
        col.prop(dx, "walk_both_legs")
        sub = col.column(align=True)
        sub.active = dx.walk_both_legs
        sub.prop(dx, "walk_phase_right", slider=True)


class VIEW3D_PT_deepx_randomise(_SubPanel, Panel):
    bl_label = "Randomise"

    def draw(self, context):
        p = context.scene.deepx.pose
        layout = self.layout
        col = layout.column(align=True)
        col.label(text="Legs")
        col.prop(p, "p_legs_preset", slider=True)
        col.prop(p, "p_walk", slider=True)
        col.prop(p, "p_both_legs_walk", slider=True)
        col.prop(p, "p_blend", slider=True)
        col = layout.column(align=True)
        col.label(text="Upper body")
        col.prop(p, "p_spine_turn", slider=True)
        col.prop(p, "p_hands_up", slider=True)
        col.prop(p, "p_head_turn", slider=True)
        col.prop(p, "p_random_arms", slider=True)
        layout.operator("deepx.randomize_pose", icon='MOD_NOISE')


class VIEW3D_PT_deepx_camera(_SubPanel, Panel):
    bl_label = "Camera"

    def draw(self, context):
        c = context.scene.deepx.camera
        layout = self.layout
        _range_row(layout, c, "distance_m", "Distance")
        layout.prop(c, "distance_sampling", text="")
        _range_row(layout, c, "height_m", "Height")
        _range_row(layout, c, "hfov_deg", "H. FOV °")
        _range_row(layout, c, "roll_deg", "Roll °")
        _range_row(layout, c, "person_yaw_deg", "Yaw °")
        col = layout.column(align=True)
        col.prop(c, "tilt_jitter_deg")
        col.prop(c, "off_centre", slider=True)
        col.prop(c, "p_occluder", slider=True)
        layout.label(text="Image size (no-render sampler, preview)")
        row = layout.row(align=True)
        row.prop(c, "image_size", index=0, text="W")
        row.prop(c, "image_size", index=1, text="H")
        layout.operator("deepx.randomize_camera", icon='CAMERA_DATA')


class VIEW3D_PT_deepx_distribution(_SubPanel, Panel):
    bl_label = "Distribution Preview"

    def draw(self, context):
        dx = context.scene.deepx
        layout = self.layout
        row = layout.row(align=True)
        row.prop(dx, "preview_n")
        row.operator("deepx.distribution_preview", text="Preview", icon='GRAPH')
        img = bpy.data.images.get(dx.preview_image) if dx.preview_image else None
        if img is not None:
            img.preview_ensure()
            col = layout.column(align=True)
            col.label(text="x: person height / image height (log)")
            col.label(text="ticks x2 from 1/256 to 2; bright = full frame")
            col.label(text="y: share of samples per bin (tallest = peak)")
            layout.template_icon(icon_value=img.preview.icon_id, scale=9.0)
        if dx.preview_report:
            box = layout.box()
            col = box.column(align=True)
            for line in dx.preview_report.split("\n"):
                col.label(text=line)


class VIEW3D_PT_deepx_batch(_SubPanel, Panel):
    bl_label = "Batch Render"

    def draw(self, context):
        dx = context.scene.deepx
        r = dx.render
        layout = self.layout
        col = layout.column(align=True)
        col.prop(r, "engine", text="")
        row = col.row(align=True)
        row.prop(r, "resolution", index=0, text="W")
        row.prop(r, "resolution", index=1, text="H")
        col.prop(r, "samples")
        col.prop(r, "denoise")
        col.prop(r, "subdivision")
        col.prop(r, "downscale_levels", text="Scales")
        row = col.row(align=True)
        row.prop(r, "depth_pass", toggle=True)
        row.prop(r, "mask_pass", toggle=True)
        sc = dx.scene
        col = layout.column(align=True)
        col.prop(sc, "realistic")
        if sc.realistic:
            col.prop(sc, "people")
            col.prop(sc, "clutter")
            row = col.row(align=True)
            row.prop(sc, "p_hdri")
            row.prop(sc, "p_textured_ground", text="Texture")
            col.label(text="Camera kinds (weights)")
            row = col.row(align=True)
            for k in ("any", "dashcam", "cctv", "handheld", "indoor"):
                row.prop(sc, f"kind_{k}", text=k[:4].title())
            row = col.row(align=True)
            row.prop(sc, "p_blur")
            row.prop(sc, "p_jpeg")
            col.prop(sc, "noise_sd")
            col.prop(sc, "p_accessory")
            row = col.row(align=True)
            row.prop(sc, "p_skirt", text="Skirt")
            row.prop(sc, "p_coat", text="Coat")
            row.prop(sc, "p_umbrella")
            col.prop(sc, "p_untucked")
        col = layout.column(align=True)
        col.prop(dx, "output_dir", text="")
        row = col.row(align=True)
        row.prop(dx, "shards")
        row.prop(dx, "shard_index", text="This")
        if dx.batch_running:
            layout.progress(factor=dx.batch_progress, text=dx.batch_status or "Rendering...")
            layout.label(text="Esc cancels; starting again resumes", icon='INFO')
        else:
            layout.operator("deepx.batch_render", icon='RENDER_ANIMATION')
            if dx.batch_status:
                layout.label(text=dx.batch_status)


class VIEW3D_PT_deepx_preview(_SubPanel, Panel):
    """Predicted vs true distance: the detector and the model on a quick render of this camera's view
    (blender/preview.py); the numbers of the last run, the backends it used."""
    bl_label = "Preview"

    def draw(self, context):
        import math
        layout = self.layout
        pv = getattr(context.scene, "deepx_preview", None)
        if pv is None:
            layout.label(text="Preview not registered", icon='ERROR')
            return
        if pv.running:
            layout.label(text=pv.progress_text or "Working ...", icon='SORTTIME')
            layout.label(text="Esc cancels")
        else:
            layout.operator("deepx.preview_distance", text="Predicted vs True Distance", icon='RENDER_STILL')
        row = layout.row(align=True)
        row.prop(pv, "samples")
        row.prop(pv, "max_size", text="Size")
        layout.prop(pv, "show_overlay")
        if not pv.has_result:
            return
        box = layout.box()
        col = box.column(align=True)
        if pv.status == "error":
            col.alert = True
            for i, line in enumerate(_wrap(pv.message, 44)):
                col.label(text=line, icon='ERROR' if i == 0 else 'BLANK1')
            return
        fmt = lambda v: "-" if math.isnan(v) else f"{v:.2f} m"
        if pv.ok:
            sigma = "" if math.isnan(pv.sigma_m) else f" ± {pv.sigma_m:.2f}"
            col.label(text=f"Predicted: {pv.predicted_m:.2f} m{sigma}", icon='CON_DISTLIMIT')
        else:
            col.label(text=f"Predicted: none ({pv.status})", icon='ERROR')
        col.label(text=f"True: {fmt(pv.true_m)}", icon='CHECKMARK')
        if pv.ok and not math.isnan(pv.true_m) and pv.true_m > 0:
            col.label(text=f"Error: {pv.error_m:+.2f} m ({100 * pv.error_m / pv.true_m:+.1f} %)")
        col = box.column(align=True)
        col.scale_y = 0.8
        for text in (f"Detector: {pv.detector}", f"Model: {pv.model}", f"Time: {pv.wall_s:.1f} s", pv.message):
            for line in _wrap(text, 40) if text else []:
                col.label(text=line)


classes = (
    DEEPX_UL_joint_limits,
    DEEPX_UL_preset_weights,
    VIEW3D_PT_deepx,
    VIEW3D_PT_deepx_mannequin,
    VIEW3D_PT_deepx_limits,
    VIEW3D_PT_deepx_poses,
    VIEW3D_PT_deepx_walk,
    VIEW3D_PT_deepx_randomise,
    VIEW3D_PT_deepx_camera,
    VIEW3D_PT_deepx_distribution,
    VIEW3D_PT_deepx_batch,
    VIEW3D_PT_deepx_preview,
)

register, unregister = bpy.utils.register_classes_factory(classes)
