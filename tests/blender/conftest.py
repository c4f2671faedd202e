"""The Blender tests' own process (the Makefile runs tests/blender separately), with the bpy module
(`make test`) or inside a real Blender (`make test-blender`: pytest-blender re-runs pytest in the
Blender of scripts/install_blender.sh). Tests that need a `blender` executable skip under the bpy
module; tests that need packages a distribution Blender's Python lacks (torch, onnxruntime,
matplotlib) skip inside it, with the reason.

bpy (4.2, as a Python module) can crash during interpreter teardown once torch and onnxruntime
are loaded in the same process (test_preview.py compares the torch and ONNX backends): every test
passed, then a segfault (exit 139, measured again after the layer split). Leave with pytest's own
exit status after everything is reported."""
from __future__ import annotations

import os
import sys

import pytest

from registration import release_source_tree_registration, require_temp_user_folder


def pytest_sessionfinish(session, exitstatus):
    session.config._deepx_exitstatus = int(exitstatus)


def pytest_unconfigure(config):
    if "bpy" in sys.modules and hasattr(config, "_deepx_exitstatus"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(config._deepx_exitstatus)


@pytest.fixture(scope="module")
def addon(bpy_module):
    """The add-on registered from the source tree for one test module, unregistered after it."""
    import deepx_addon
    require_temp_user_folder(bpy_module)
    release_source_tree_registration(bpy_module)
    deepx_addon.register()
    yield bpy_module
    deepx_addon.unregister()
    bpy_module.ops.wm.read_factory_settings(use_empty=True)


@pytest.fixture
def bpy(addon, clean_blender):
    """bpy with the add-on registered, in an empty scene (reset after the test too)."""
    return clean_blender


@pytest.fixture(scope="session")
def blender_exe(bpy_module) -> str:
    """The running Blender's own executable (a real Blender only)."""
    exe = bpy_module.app.binary_path
    if not exe:
        pytest.skip("needs a real Blender executable (bpy as a module has none): run `make test-blender`")
    return exe
