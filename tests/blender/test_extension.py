"""The installable Blender extension: build.py's zip, installed into a clean Blender user folder
(BLENDER_USER_RESOURCES is a temp dir, see conftest.py) the way Edit > Preferences > Get Extensions >
Install from Disk does it, then enabled, exercised and unregistered.

No repository refresh is needed before package_install_files: it installs the zip into the
"user_default" repository, enables bl_ext.user_default.deepx and registers its classes at once.
"""
from __future__ import annotations

import importlib
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.blender

ROOT = Path(__file__).resolve().parents[2]
MODULE = "bl_ext.user_default.deepx"


def _build(load, out_dir) -> Path:
    return load("build.py").build(out_dir, quiet=True, runtime=False)   # no onnxruntime wheels / ONNX files: small and offline


@pytest.fixture(scope="module")
def zip_path(tmp_path_factory, repo_module):
    pytest.importorskip("bpy")          # the build uses the extension tool inside the bpy wheel
    return _build(repo_module, tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def installed(bpy_module, zip_path):
    """The extension installed and enabled; disabled and uninstalled afterwards."""
    import addon_utils
    from registration import release_source_tree_registration, require_temp_user_folder
    bpy = bpy_module
    require_temp_user_folder(bpy)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    release_source_tree_registration(bpy)
    assert bpy.ops.extensions.package_install_files(
        filepath=str(zip_path), repo="user_default", enable_on_install=True) == {'FINISHED'}
    # package_install_files reports FINISHED even when the archive is bad: check the outcome
    assert addon_utils.check(MODULE) == (True, True), "extension not enabled after install"
    yield bpy
    addon_utils.disable(MODULE, default_set=True)
    repo = next(i for i, r in enumerate(bpy.context.preferences.extensions.repos) if r.module == "user_default")
    bpy.ops.extensions.package_uninstall(repo_index=repo, pkg_id="deepx")
    bpy.ops.wm.read_factory_settings(use_empty=True)


def test_zip_layout_and_manifest(zip_path):
    import deepx_addon
    assert zip_path.name == f"deepx-{deepx_addon.__version__}.zip"
    with zipfile.ZipFile(zip_path) as z:
        names = set(z.namelist())
        manifest = tomllib.loads(z.read("blender_manifest.toml").decode())
    # deepx_addon's contents at the root, with the data it needs
    for n in ("__init__.py", "core/paths.py", "core/settings.py", "blender/panel.py", "blender/operators.py",
              "blender/preset_menu.py", "blender/humanbody.py", "data/human_body.npz", "data/SOURCES.md",
              "presets/limits/default.json", "presets/poses/standing.json", "LICENSE"):
        assert n in names, f"{n} missing from the zip"
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert not any(n.startswith("deepx_addon/") for n in names)
    # only the layers Blender runs: no torch code, training or command line
    assert "runtime/preview.py" in names and "runtime/pose_onnx.py" in names
    assert not any(n.startswith(("ml/", "cli/")) for n in names), sorted(n for n in names if n.startswith(("ml/", "cli/")))
    assert manifest["id"] == "deepx" and manifest["version"] == deepx_addon.__version__
    assert manifest["type"] == "add-on" and manifest["blender_version_min"] == "4.2.0"
    assert manifest["license"] == ["SPDX:AGPL-3.0-or-later"]
    assert len(manifest["tagline"]) <= 64 and not manifest["tagline"].endswith(".")
    assert "files" in manifest["permissions"] and "network" not in manifest["permissions"]


def test_build_refuses_a_version_mismatch(tmp_path, monkeypatch, repo_module):
    build = repo_module("build.py")
    fake = tmp_path / "blender_manifest.toml"
    fake.write_text((ROOT / "blender_manifest.toml").read_text().replace('\nversion = "', '\nversion = "9', 1))
    monkeypatch.setattr(build, "MANIFEST", fake)
    with pytest.raises(build.BuildError, match="version mismatch"):
        build.build(tmp_path / "out", quiet=True)


def _extension_classes():
    pkg = sys.modules[MODULE]
    mods = [importlib.import_module(f"{MODULE}.blender.{m}") for m in ("props", "preset_menu", "operators", "panel")]
    return pkg, [cls for m in mods for cls in m.classes]


def test_installed_extension_registers_everything(installed):
    bpy = installed
    pkg, classes = _extension_classes()
    user = Path(bpy.utils.user_resource('EXTENSIONS'))
    assert user in Path(pkg.__file__).parents            # the installed copy, not the source tree
    assert all(cls.is_registered for cls in classes)
    assert hasattr(bpy.types.Scene, "deepx")
    assert {c.__name__ for c in classes} >= {
        "VIEW3D_PT_deepx", "VIEW3D_PT_deepx_mannequin", "VIEW3D_PT_deepx_limits", "VIEW3D_PT_deepx_poses",
        "VIEW3D_PT_deepx_walk", "VIEW3D_PT_deepx_randomise", "VIEW3D_PT_deepx_camera",
        "VIEW3D_PT_deepx_distribution", "VIEW3D_PT_deepx_batch", "VIEW3D_PT_deepx_preview",
        "DEEPX_MT_limit_presets", "DEEPX_UL_joint_limits"}
    assert all(c.bl_category == "DeepX" for c in classes if c.__name__.startswith("VIEW3D_PT_"))
    # the zip layout finds its shipped data inside the extension folder
    paths = importlib.import_module(f"{MODULE}.core.paths")
    assert paths.presets_dir() == Path(pkg.__file__).parent / "presets"
    assert (paths.presets_dir("limits") / "default.json").is_file()


def test_installed_extension_runs_every_operator(installed, tmp_path):
    from test_panel_ops import draw_every_panel, exercise_operators
    bpy = installed
    bpy.ops.wm.read_homefile(use_empty=True)            # a clean scene; keeps the add-on enabled
    layer = sys.modules[f"{MODULE}.blender"]
    done = exercise_operators(bpy, tmp_path, layer)
    ops = importlib.import_module(f"{MODULE}.blender.operators")
    assert {c.bl_idname.split(".")[1] for c in ops.classes} <= set(done)
    draw_every_panel(bpy, layer)


def test_settings_round_trip_blend_file_with_extension(installed, tmp_path):
    from test_panel_ops import _custom_settings
    bpy = installed
    bpy.ops.wm.read_homefile(use_empty=True)
    props = importlib.import_module(f"{MODULE}.blender.props")
    settings_mod = importlib.import_module(f"{MODULE}.core.settings")
    s = settings_mod.GeneratorSettings.from_dict(_custom_settings().to_dict())
    props.from_settings(bpy.context.scene, s)
    path = tmp_path / "ext.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.read_homefile(use_empty=True)
    assert props.to_settings(bpy.context.scene) != s
    bpy.ops.wm.open_mainfile(filepath=str(path))
    assert props.to_settings(bpy.context.scene) == s
    bpy.context.scene.deepx.camera.hfov_deg = (90.0, 30.0)
    with pytest.raises(RuntimeError, match=r"CameraSettings.hfov_deg: min 90.0 > max 30.0"):
        bpy.ops.deepx.distribution_preview()


def test_disable_unregisters_and_enable_registers_again(installed):
    import addon_utils
    bpy = installed
    _, classes = _extension_classes()
    addon_utils.disable(MODULE)
    assert not hasattr(bpy.types.Scene, "deepx")
    assert not any(cls.is_registered for cls in classes)
    assert not hasattr(bpy.types, "VIEW3D_PT_deepx")
    addon_utils.enable(MODULE)
    _, classes = _extension_classes()
    assert all(cls.is_registered for cls in classes) and hasattr(bpy.types.Scene, "deepx")
