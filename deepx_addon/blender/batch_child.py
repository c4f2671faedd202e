"""The panel's batch in a Blender process of its own (bpy).

Rendering a dataset builds a scene of its own (ground, sun, world, camera, occluders, a seat, its
own mannequin). Done inside the artist's file, that moved their camera, changed their world and
left objects behind; done in the UI process, every render froze the interface. So the Render
Dataset button starts ``blender -b --factory-startup`` on an empty file running
``batch.main(["--settings", FILE, "--out", DIR, "--shard", "i/N"])`` with the panel's settings
(limit preset resolved to its file; the user's pose presets are read from the same user folder),
and the operator only polls it: the artist's scene is never touched, Esc stops the child (the run
resumes where it stopped), the exit status says whether it worked.

Needs a real Blender (``bpy.app.binary_path``); Blender as a Python module has none, and there the
operator renders in-process as before.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import bpy

from ..core.records import atomic_write_text

PACKAGE_DIR = Path(__file__).resolve().parents[1]     # deepx_addon/ or the installed extension's folder
_PROGRESS = re.compile(r"^samples \[[#-]*\] (\d+)/(\d+)")     # core/progress.printer's lines


def available() -> bool:
    return bool(bpy.app.binary_path)


def child_command(settings_file, out_dir, shard: tuple[int, int], threads: int | None = None) -> list[str]:
    """The command line of the child Blender (importing this very package by its folder, so a source
    checkout and an installed extension both work; --factory-startup: no add-on of the user's runs)."""
    expr = ("import sys, importlib; sys.path.insert(0, {parent!r}); "
            "sys.exit(importlib.import_module({pkg!r} + '.blender.batch').main())").format(
                parent=str(PACKAGE_DIR.parent), pkg=PACKAGE_DIR.name)
    cmd = [bpy.app.binary_path, "-b", "--factory-startup", "--python-exit-code", "1", "--python-expr", expr,
           "--", "--settings", str(settings_file), "--out", str(out_dir), "--shard", f"{shard[0]}/{shard[1]}"]
    if threads:
        cmd += ["--threads", str(int(threads))]
    return cmd


class ChildBatch:
    """One shard rendered by a child Blender; poll() from a timer, cancel() on Esc."""

    def __init__(self, settings, out_dir, shard: tuple[int, int], total: int, threads: int | None = None):
        self.out_dir = Path(out_dir)
        self.total, self.done = int(total), 0
        self.lines: list[str] = []
        self._tmp = Path(tempfile.mkdtemp(prefix="deepx-batch-"))
        settings_file = self._tmp / "settings.json"
        atomic_write_text(settings_file, json.dumps(settings.to_dict(), indent=1) + "\n")
        self.command = child_command(settings_file, self.out_dir, shard, threads)
        self.proc = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True, bufsize=1)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            print(line, flush=True)                 # the child's progress lines reach the console too
            m = _PROGRESS.match(line)
            if m:
                self.done = int(m.group(1))
            self.lines = (self.lines + [line])[-40:]

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    def poll(self) -> int | None:
        """None while running, else the child's exit status (its output fully read)."""
        rc = self.proc.poll()
        if rc is not None:
            self._reader.join(timeout=5)
        return rc

    def wait(self) -> int:
        rc = self.proc.wait()
        self._reader.join(timeout=5)
        return rc

    def error_text(self) -> str:
        """The child's last error line (what the artist needs to read), or its last line."""
        for line in reversed(self.lines):
            if "error" in line.lower() or "Error" in line:
                return line.strip()
        return self.lines[-1].strip() if self.lines else f"exit status {self.proc.returncode}"

    def cancel(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=5)

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)
