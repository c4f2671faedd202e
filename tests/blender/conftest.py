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


# the add-on registered from the source tree once per module (test_panel_ops checks that the user
# folder is a temporary one and releases a partial registration left by another module), and a
# clean scene per test
sys.path.insert(0, str(ROOT / "tests"))
from test_panel_ops import addon, bpy  # noqa: E402,F401
