"""Registering the add-on from the source tree in the Blender tests' process (bpy)."""
from __future__ import annotations

import pytest


def require_temp_user_folder(bpy) -> None:
    """These tests write presets and install the extension into Blender's user folder: only do that
    in the throw-away folder conftest.py sets (BLENDER_USER_RESOURCES must be set before Blender
    starts: inside a desktop Blender, export it before launching it, see docs/extension.md)."""
    import os
    import sys
    want = os.environ.get("BLENDER_USER_RESOURCES")
    # Blender fixes the extension repositories' folders at start-up (bl_ext.user_default's path)
    repo = sys.modules.get("bl_ext.user_default")
    have = list(getattr(repo, "__path__", [])) or [bpy.utils.resource_path('USER')]
    if not want or not os.path.realpath(have[0]).startswith(os.path.realpath(want) + os.sep):
        pytest.skip(f"Blender's user folder ({have[0]}) is not a temporary one: start Blender with "
                    "BLENDER_USER_RESOURCES=<empty temp dir> to run these tests")


def release_source_tree_registration(bpy) -> None:
    """Undo a partial registration of the source tree's classes left by another test module (e.g.
    ``props.register()`` for ``deepx generate --blend``), so this module can register everything."""
    if any(m.startswith("bl_ext.") and m.endswith(".deepx") for m in bpy.context.preferences.addons.keys()):
        pytest.skip("the DeepX extension is enabled in this process")
    import deepx_addon.blender as layer
    if hasattr(bpy.types.Scene, "deepx"):
        del bpy.types.Scene.deepx
    for m in reversed(layer._modules()):
        for cls in reversed(getattr(m, "classes", ())):
            if cls.is_registered:
                bpy.utils.unregister_class(cls)
