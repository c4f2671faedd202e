"""Shared fixtures. Tests sit in one folder per layer (core/, runtime/, ml/, cli/, blender/). bpy can
be imported only once per process, so the Blender tests (tests/blender/) run in a pytest process of
their own (see the Makefile's test target) and reset the scene with read_factory_settings()."""
from __future__ import annotations

import importlib.util
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
for _p in (ROOT, ROOT / "tests"):          # the package, and shared helpers (synthetic_people.py)
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The repo's own real evaluation set (examples/real, see PROVENANCE.md): always present."""
    d = ROOT / "examples" / "real"
    assert (d / "kitti_train.jsonl").is_file(), f"{d} is part of the repository and must exist"
    return d


@pytest.fixture(scope="session")
def repo_module():
    """Load a repository file that is not a package module (build.py, scripts/*.py) as a fresh module:
    ``repo_module("scripts/split_pairs.py")``."""
    def load(relpath: str):
        path = ROOT / relpath
        spec = importlib.util.spec_from_file_location(path.stem, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    return load


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
