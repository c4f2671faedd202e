"""Helpers of the real-Blender tier (imported by its conftest and tests)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_blender(exe: str, *args, timeout: int = 300, env=None) -> subprocess.CompletedProcess:
    """Start another Blender (same executable, same temporary user folder as this one)."""
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout, cwd=str(ROOT), env=e)
