"""The Blender tests' own process (the Makefile runs tests/blender separately).

bpy (4.2, as a Python module) can crash during interpreter teardown once torch and onnxruntime
are loaded in the same process (test_preview.py compares the torch and ONNX backends): every test
passed, then a segfault (exit 139, measured again after the layer split). Leave with pytest's own
exit status after everything is reported."""
from __future__ import annotations

import os
import sys


def pytest_sessionfinish(session, exitstatus):
    session.config._deepx_exitstatus = int(exitstatus)


def pytest_unconfigure(config):
    if "bpy" in sys.modules and hasattr(config, "_deepx_exitstatus"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(config._deepx_exitstatus)
