"""Joint-limit presets as a Blender preset menu.

The menu lists the shipped limit sets (presets/limits/*.json, read-only) and the user's own
(<Blender user scripts>/presets/deepx/limits/*.json, the folder Blender's AddPresetBase uses).
Choosing one runs deepx.load_limits; "+" saves the panel's current limits as a new user preset;
"-" removes a user preset (shipped ones cannot be removed). Files are JSON in core/limits.py's
format (JointLimits.save/load), not the Python snippets Blender's own presets use, so batch mode
and the venv read the same files.
"""
from __future__ import annotations

import os
from pathlib import Path

import bpy
from bl_operators.presets import AddPresetBase
from bpy.types import Menu, Operator

from ..core.paths import presets_dir
from .props import limits_from_scene
from .state import user_preset_dir

PRESET_SUBDIR = "deepx/limits"


def user_limits_dir(create: bool = True) -> Path:
    """The user's limit-preset folder (created on demand)."""
    return user_preset_dir("limits", create)


def shipped_limits_dir() -> Path:
    return presets_dir("limits")


def _display(path: str) -> str:
    return bpy.path.display_name(os.path.basename(path), title_case=False)


class DEEPX_MT_limit_presets(Menu):
    bl_label = "Limit Presets"
    preset_subdir = PRESET_SUBDIR
    preset_operator = "deepx.load_limits"
    preset_add_operator = "deepx.limit_preset_add"
    preset_extensions = {".json"}

    def draw(self, context):
        # run the entries directly (as Blender's preset popovers do): no file browser for
        # deepx.load_limits, the "+" takes its name from the field under the list
        self.layout.operator_context = 'EXEC_DEFAULT'
        is_json = lambda ext: ext.lower() in self.preset_extensions   # noqa: E731
        shipped = shipped_limits_dir()
        if shipped.is_dir():   # read-only: no remove buttons
            self.path_menu([str(shipped)], self.preset_operator, filter_ext=is_json, display_name=_display)
            self.layout.separator()
        self.path_menu([str(user_limits_dir())], self.preset_operator, filter_ext=is_json,
                       add_operator=self.preset_add_operator, display_name=_display)


class DEEPX_OT_limit_preset_add(AddPresetBase, Operator):
    """Save the panel's joint limits as a user preset, or remove a user preset"""
    bl_idname = "deepx.limit_preset_add"
    bl_label = "Add Joint Limit Preset"
    preset_menu = "DEEPX_MT_limit_presets"
    preset_subdir = PRESET_SUBDIR

    @classmethod
    def poll(cls, context):
        if getattr(context.scene, "deepx", None) is None:
            cls.poll_message_set("DeepX is not registered for this scene")
            return False
        return True

    def _find_user(self, name: str) -> Path | None:
        d = user_limits_dir()
        for p in sorted(d.glob("*.json")):
            if p.stem == self.as_filename(name) or p.stem == name or _display(str(p)) == name:
                return p
        return None

    def execute(self, context):
        dx = context.scene.deepx
        if self.remove_name or self.remove_active:
            name = dx.pose.limits_preset if self.remove_active else self.name
            path = self._find_user(name)
            if path is None:
                shipped = (shipped_limits_dir() / f"{self.as_filename(name)}.json").is_file()
                self.report({'WARNING'}, f"'{name}' is a shipped preset and cannot be removed" if shipped
                            else f"no user limit preset named '{name}'")
                return {'CANCELLED'}
            path.unlink()
            self.report({'INFO'}, f"Removed limit preset {path.name}")
            return {'FINISHED'}

        name = self.as_filename(self.name.strip())
        if not name:
            self.report({'WARNING'}, "Give the preset a name")
            return {'CANCELLED'}
        path = user_limits_dir() / f"{name}.json"
        if path.exists() or (shipped_limits_dir() / f"{name}.json").exists():
            self.report({'WARNING'}, f"Cannot create preset '{name}': that name already exists")
            return {'CANCELLED'}
        try:
            limits = limits_from_scene(context.scene)
            limits.save(path)
        except (ValueError, OSError) as e:
            self.report({'ERROR'}, f"Could not save limit preset: {e}")
            return {'CANCELLED'}
        dx.pose.limits_preset = name
        wm = context.window_manager
        if getattr(wm, "preset_name", None) == self.name:
            wm.preset_name = "New Preset"
        self.report({'INFO'}, f"Saved limit preset {path}")
        return {'FINISHED'}


classes = (
    DEEPX_MT_limit_presets,
    DEEPX_OT_limit_preset_add,
)

register, unregister = bpy.utils.register_classes_factory(classes)
