"""The Blender-side tier: these tests run with the bpy module (`make test`) AND inside a real Blender
(`make test-blender`: pytest-blender re-runs pytest in the Blender of scripts/install_blender.sh).
Tests that need a `blender` executable skip under the bpy module; tests that need packages a
distribution Blender's Python lacks (torch, Pillow, Ultralytics) skip inside it, with the reason."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from blender_tier import ROOT


@pytest.fixture(scope="session")
def blender_exe(bpy_module) -> str:
    """The running Blender's own executable (a real Blender only)."""
    exe = bpy_module.app.binary_path
    if not exe:
        pytest.skip("needs a real Blender executable (bpy as a module has none): run `make test-blender`")
    return exe


@pytest.fixture(scope="module")
def addon(bpy_module):
    """The add-on registered from the source tree (the tests/ helpers check the user folder is a
    temporary one and release a partial registration left by another module)."""
    sys.path.insert(0, str(ROOT / "tests"))
    import deepx_addon
    from test_panel_ops import release_source_tree_registration, require_temp_user_folder
    require_temp_user_folder(bpy_module)
    release_source_tree_registration(bpy_module)
    deepx_addon.register()
    yield bpy_module
    deepx_addon.unregister()


@pytest.fixture
def bpy(addon, clean_blender):
    return clean_blender
