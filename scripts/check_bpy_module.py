"""The extension against another Blender version, as a Python module (e.g. the newest bpy on PyPI):
build + validate the zip with that wheel's own extension tool, install and enable it, one headless
batch (2 samples + downscaled copies), Random Pose and the Distribution Preview. In a throw-away venv:

    python3.11 -m venv /tmp/bpy5 && /tmp/bpy5/bin/pip install bpy==5.0.1 "numpy>=1.26,<2"
    /tmp/bpy5/bin/python scripts/check_bpy_module.py .

Checked: bpy 5.0.1 (all steps pass; see blender_manifest.toml for the range)."""
import importlib.util
import os
import sys
import tempfile
import time

repo = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="deepx-bpycheck-user-")   # not the home folder
import bpy  # noqa: E402
import addon_utils  # noqa: E402

print("bpy", bpy.app.version_string, flush=True)
spec = importlib.util.spec_from_file_location("deepx_build", os.path.join(repo, "build.py"))
build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build)
zip_path = build.build(tempfile.mkdtemp(prefix="deepx-bpycheck-dist-"), quiet=True, runtime=False)
print("built and validated", zip_path, os.path.getsize(zip_path), "bytes", flush=True)
assert bpy.ops.extensions.package_install_files(filepath=str(zip_path), repo="user_default",
                                                enable_on_install=True) == {'FINISHED'}
assert addon_utils.check("bl_ext.user_default.deepx") == (True, True), "not enabled after install"
print("installed and enabled", flush=True)
dx = bpy.context.scene.deepx
out = tempfile.mkdtemp(prefix="deepx-bpycheck-out-")
dx.output_dir, dx.count, dx.cameras_per_pose = out, 2, 1
dx.render.resolution, dx.render.samples, dx.render.downscale_levels = (48, 48), 1, "1, 0.5"
t = time.time()
assert bpy.ops.deepx.batch_render() == {'FINISHED'}
images = sorted(os.listdir(os.path.join(out, "images")))
assert len(os.listdir(os.path.join(out, "labels"))) == 2 and len(images) == 4, images
print(f"batch: 2 samples, {len(images)} images in {time.time() - t:.1f} s", flush=True)
for op in (bpy.ops.deepx.create_mannequin, bpy.ops.deepx.randomize_pose, bpy.ops.deepx.distribution_preview):
    assert op() == {'FINISHED'}, op
print("mannequin, random pose, distribution preview: ok", flush=True)
sys.stdout.flush()
os._exit(0)     # bpy as a module can crash at interpreter teardown; everything is checked
