"""Shared fixtures. bpy can be imported only once per process, so Blender tests share one module
and reset the scene with read_factory_settings() instead of re-importing."""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Keep Blender from writing to the user's home folder (must be set before bpy is imported).
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="deepx-blender-user-"))
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The repo's own real evaluation set (examples/real, see PROVENANCE.md): always present."""
    d = ROOT / "examples" / "real"
    assert (d / "kitti_train.jsonl").is_file(), f"{d} is part of the repository and must exist"
    return d


@pytest.fixture(scope="session")
def bpy_module():
    bpy = pytest.importorskip("bpy")
    return bpy


@pytest.fixture
def clean_blender(bpy_module):
    """An empty Blender scene, reset after the test too."""
    bpy_module.ops.wm.read_factory_settings(use_empty=True)
    yield bpy_module
    bpy_module.ops.wm.read_factory_settings(use_empty=True)


def pytest_sessionfinish(session, exitstatus):
    session.config._deepx_exitstatus = int(exitstatus)


def pytest_unconfigure(config):
    """bpy (4.2, as a Python module) can crash during interpreter teardown once torch and
    onnxruntime are loaded in the same process: every test passed, then a segfault (exit 139).
    When bpy was imported, leave with pytest's own exit status after everything is reported."""
    if "bpy" in sys.modules and hasattr(config, "_deepx_exitstatus"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(config._deepx_exitstatus)
