"""Batch mode as Blender users run it, against the extension zip installed into a throw-away user
folder of a real Blender: `blender --command deepx generate ...` and the `blender -b scene.blend
--python-expr ...` one-liner; both print progress and exit non-zero on any error. Plus the venv's
`deepx generate --blend` (bpy module) exiting 0, not 139."""
from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from blender_tier import ROOT, run_blender

pytestmark = pytest.mark.blender

ONE_LINER = ("import sys; from bl_ext.user_default.deepx.blender.batch import main; sys.exit(main())")


@pytest.fixture(scope="module")
def scene_blend(addon, tmp_path_factory):
    """A .blend whose DeepX panel asks for tiny, fast renders."""
    bpy = addon
    bpy.ops.wm.read_factory_settings(use_empty=True)
    dx = bpy.context.scene.deepx
    dx.count, dx.cameras_per_pose, dx.seed = 2, 1, 5
    r = dx.render
    r.engine, r.resolution, r.samples, r.downscale_levels = "CYCLES", (32, 32), 1, "1, 0.5"
    path = tmp_path_factory.mktemp("blend") / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return path


@pytest.fixture(scope="module")
def installed(blender_exe, tmp_path_factory):
    """The built zip installed and enabled in a fresh user folder (env for the Blenders to start)."""
    spec = importlib.util.spec_from_file_location("deepx_build", ROOT / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    zip_path = build.build(tmp_path_factory.mktemp("dist"), blender=blender_exe, quiet=True, runtime=False)
    env = {"BLENDER_USER_RESOURCES": str(tmp_path_factory.mktemp("user"))}
    r = run_blender(blender_exe, "--command", "extension", "install-file", "-r", "user_default", "-e",
                    str(zip_path), env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    return env


def test_blender_command_generate(blender_exe, installed, scene_blend, tmp_path):
    out = tmp_path / "out"
    r = run_blender(blender_exe, "--command", "deepx", "generate", "--blend", str(scene_blend), "--out", str(out),
                    env=installed)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert re.search(r"^samples \[#+\] 2/2", r.stdout, re.M)           # progress lines
    labels = sorted((out / "labels").glob("*.json"))
    assert len(labels) == 2
    assert len(list((out / "images").glob("*-16x16.png"))) == 2       # the .blend's settings were used
    assert json.loads((out / "summary.json").read_text())["finished"] is True


@pytest.mark.parametrize("args, why", [(["--count", "0"], "count"), (["--blend", "no_such.blend"], "not found"),
                                       (["--engine", "NOPE"], "invalid choice"), ([], "required")])
def test_blender_command_fails_loudly(blender_exe, installed, tmp_path, args, why):
    out_args = [] if not args else ["--out", str(tmp_path / "out")]
    r = run_blender(blender_exe, "--command", "deepx", "generate", *out_args, *args, env=installed)
    assert r.returncode != 0
    assert why in r.stdout + r.stderr


def test_python_expr_one_liner(blender_exe, installed, scene_blend, tmp_path):
    out = tmp_path / "out"
    r = run_blender(blender_exe, "-b", str(scene_blend), "--python-exit-code", "1", "--python-expr", ONE_LINER,
                    "--", "--out", str(out), "--count", "3", env=installed)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert re.search(r"^samples \[#+\] 3/3", r.stdout, re.M)
    assert len(list((out / "labels").glob("*.json"))) == 3


def test_python_expr_errors_exit_non_zero(blender_exe, installed, scene_blend, tmp_path):
    # main() with a bad value: non-zero even when the user forgot --python-exit-code
    r = run_blender(blender_exe, "-b", str(scene_blend), "--python-expr", ONE_LINER.replace("sys.exit(main())", "main()"),
                    "--", "--out", str(tmp_path / "o"), "--count", "0", env=installed)
    assert r.returncode == 2 and "count" in r.stderr
    # the operator: an error report becomes an exception, --python-exit-code turns it into the status
    expr = "import bpy; bpy.context.scene.deepx.output_dir = ''; bpy.ops.deepx.batch_render()"
    r = run_blender(blender_exe, "-b", str(scene_blend), "--python-exit-code", "1", "--python-expr", expr, env=installed)
    assert r.returncode == 1 and "Output folder is empty" in r.stdout + r.stderr


def test_deepx_generate_blend_exits_zero(bpy_module, scene_blend, tmp_path):
    """The venv's console command with --blend (bpy as a module): rc 0, not a crash at exit (139)."""
    if bpy_module.app.binary_path:
        pytest.skip("runs the venv's `deepx` CLI, which needs the bpy module in sys.executable's Python "
                    "(a distribution Blender's Python has no bpy module)")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "deepx_addon.cli", "generate", "--blend", str(scene_blend),
                        "--out", str(out), "--quiet"], capture_output=True, text=True, timeout=300, cwd=str(ROOT))
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(list((Path(out) / "labels").glob("*.json"))) == 2
