#!/usr/bin/env python3
"""Build the installable Blender extension: dist/deepx-<version>.zip.

    .venv/bin/python build.py                 # uses the blender_ext.py that ships inside the bpy wheel
    .venv/bin/python build.py --blender /path/to/blender   # or a real Blender's `--command extension`
    .venv/bin/python build.py --no-runtime    # small zip: no onnxruntime wheels, no ONNX files (tests)
    .venv/bin/python build.py --split-platforms            # one zip per platform (for a web listing)

The extension's package is deepx_addon/, so a staging folder is assembled first:
    <staging>/            deepx_addon's __init__.py and its core/, runtime/, blender/, data/ (SHIPPED_LAYERS;
                          no ml/ nor cli/: torch, training and the command line stay out)
    <staging>/blender_manifest.toml (+ the generated `wheels = [...]` list), LICENSE
    <staging>/presets/    the shipped limit and pose presets (repo presets/)
    <staging>/models/     the default learned model (models/deepx_default.json, .safetensors and its
                          .onnx, exported first if missing or older than the weights), if there is one,
                          and yolo11n-pose.onnx (scripts/export_onnx.py's cached export) + its notice
    <staging>/wheels/     onnxruntime wheels (Blender installs the one for its platform and Python)
and then Blender's own extension tool builds and validates the zip (the same code as
`blender --command extension build|validate`). deepx_addon/core/paths.py finds presets/ and models/
in both the repo and this layout.

The runtime (what the in-Blender distance preview needs without torch): onnxruntime ONNXRUNTIME_VERSION
(requirements.lock's pin) for CPython 3.11 (Blender 4.2-5.0) and 3.13 (newer and distribution
Blenders) on linux-x64, windows-x64 and macos-arm64 (onnxruntime publishes no macOS x86_64 wheel),
fetched once with `pip download` into runs/wheels/. numpy is Blender's own. Blender refuses to
install an extension whose wheels cover no wheel for its Python version, so both versions ship.
The wheels are 15-24 MB each: one all-platform zip is ~130 MB; --split-platforms gives ~30-50 MB
zips; --platforms / --python pick fewer.
"""
from __future__ import annotations

import argparse
import glob
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PACKAGE = ROOT / "deepx_addon"
MANIFEST = ROOT / "blender_manifest.toml"
SHIPPED_LAYERS = ("core", "runtime", "blender", "data")   # data: the human body mesh (data/SOURCES.md)
DEFAULT_MODEL = "deepx_default"
MODEL_SUFFIXES = (".json", ".safetensors", ".onnx")
MAX_MODEL_BYTES = 50 * 1024 * 1024   # keep the zip small: a larger "default model" is a mistake
POSE_ONNX_NAME = "yolo11n-pose.onnx"  # runtime/preview.py looks for this name in models/
WHEEL_CACHE = ROOT / "runs" / "wheels"
# Blender platform -> pip --platform tags accepted for it (pip takes the best match it finds)
WHEEL_PLATFORMS = {
    "linux-x64": ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"),
    "windows-x64": ("win_amd64",),
    "macos-arm64": ("macosx_14_0_arm64", "macosx_13_0_arm64", "macosx_12_0_arm64", "macosx_11_0_arm64"),
}
DEFAULT_PYTHONS = ("3.11", "3.13")


def _onnxruntime_version() -> str:
    lock = ROOT / "requirements.lock"
    found = re.search(r"^onnxruntime==([^\s;#]+)", lock.read_text(encoding="utf-8"), re.M) if lock.is_file() else None
    return found.group(1) if found else "1.31.1"


ONNXRUNTIME_VERSION = _onnxruntime_version()


class BuildError(Exception):
    pass


def read_manifest() -> dict:
    with open(MANIFEST, "rb") as fh:
        m = tomllib.load(fh)
    text = (PACKAGE / "__init__.py").read_text(encoding="utf-8")
    found = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', text, re.M)
    if not found or found.group(1) != m["version"]:
        raise BuildError(f"version mismatch: blender_manifest.toml says {m['version']!r}, "
                         f"deepx_addon/__init__.py says {found.group(1) if found else None!r}")
    return m


def blender_ext_tool() -> tuple[Path, Path | None]:
    """Blender's extension CLI (blender_ext.py) and its tags list: from the running Blender when bpy
    is already imported (inside Blender, or a test process), else from the installed bpy wheel
    (found without importing it)."""
    if "bpy" in sys.modules:
        scripts = sys.modules["bpy"].utils.system_resource('SCRIPTS')
        tools = [str(Path(scripts) / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py")]
        where = scripts
    else:
        spec = importlib.util.find_spec("bpy")
        if spec is None or not spec.submodule_search_locations:
            raise BuildError("no bpy module in this Python: run with the venv's Python (.venv/bin/python build.py) "
                             "or pass --blender /path/to/blender")
        where = Path(list(spec.submodule_search_locations)[0])
        tools = sorted(glob.glob(str(where / "*" / "scripts" / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py")))
    if not tools or not Path(tools[-1]).is_file():
        raise BuildError(f"Blender's extension tool blender_ext.py not found under {where}")
    tool = Path(tools[-1])
    tags = tool.parents[3] / "modules" / "_bpy_internal" / "extensions" / "tags.py"
    return tool, (tags if tags.is_file() else None)


def _wheel_platform(name: str) -> str | None:
    """Blender platform of a wheel file name (linux-x64, windows-x64, macos-arm64), else None."""
    tag = name[:-4].split("-")[-1]
    for plat, tags in WHEEL_PLATFORMS.items():
        if tag in tags or (plat == "linux-x64" and tag.startswith("manylinux") and tag.endswith("_x86_64")) or \
                (plat == "macos-arm64" and tag.startswith("macosx_") and tag.endswith(("_arm64", "_universal2"))):
            return plat
    return None


def fetch_wheels(platforms=tuple(WHEEL_PLATFORMS), pythons=DEFAULT_PYTHONS, cache: Path = WHEEL_CACHE,
                 version: str = ONNXRUNTIME_VERSION, quiet: bool = True) -> list[Path]:
    """onnxruntime wheels, one per (platform, Python): from ``cache``, else `pip download`ed into it."""
    unknown = sorted(set(platforms) - set(WHEEL_PLATFORMS))
    if unknown:
        raise BuildError(f"unknown platform(s) {unknown}; choose from {', '.join(WHEEL_PLATFORMS)}")
    cache.mkdir(parents=True, exist_ok=True)
    out = []
    for plat in platforms:
        for py in pythons:
            cp = "cp" + py.replace(".", "")

            def cached():
                return sorted(p for p in cache.glob(f"onnxruntime-{version}-{cp}-{cp}-*.whl")
                              if _wheel_platform(p.name) == plat)
            if not cached():
                cmd = [sys.executable, "-m", "pip", "download", f"onnxruntime=={version}", "--no-deps",
                       "--only-binary=:all:", "--implementation", "cp", "--python-version", py,
                       "-d", str(cache), "--disable-pip-version-check", "-q"]
                for tag in WHEEL_PLATFORMS[plat]:
                    cmd += ["--platform", tag]
                if not quiet:
                    print(f"downloading onnxruntime {version} for {plat}, Python {py} ...")
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode != 0 or not cached():
                    tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-3:])
                    raise BuildError(f"no onnxruntime {version} wheel for {plat} / Python {py} in {cache} and "
                                     f"`pip download` failed:\n{tail}\n(put the wheel there by hand, pick other "
                                     f"--platforms/--python, or build with --no-runtime)")
            out.append(cached()[-1])
    return out


def pose_onnx_file() -> Path:
    """yolo11n-pose.onnx: scripts/export_onnx.py's export (cached in runs/onnx/, made if missing)."""
    spec = importlib.util.spec_from_file_location("deepx_export_onnx", ROOT / "scripts" / "export_onnx.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    try:
        return Path(mod.export())
    except Exception as e:  # noqa: BLE001 - export needs torch + ultralytics + onnx
        raise BuildError(f"cannot export {POSE_ONNX_NAME} ({type(e).__name__}: {e}); run scripts/export_onnx.py "
                         f"where torch and ultralytics are installed, or build with --no-runtime") from None


def ensure_model_onnx(json_path: Path) -> tuple[Path | None, str]:
    """NAME.onnx next to NAME.json, exported with torch if missing or older than the weights."""
    onnx = json_path.with_suffix(".onnx")
    weights = json_path.with_suffix(".safetensors")
    fresh = onnx.is_file() and (not weights.is_file() or onnx.stat().st_mtime >= weights.stat().st_mtime)
    if fresh:
        return onnx, f"{onnx.name} up to date"
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:
        from deepx_addon.runtime.model import LearnedEstimator
        LearnedEstimator.load(json_path, backend="torch").export_onnx(onnx)
    except ImportError as e:
        if onnx.is_file():
            return onnx, f"{onnx.name} older than the weights and torch is missing to re-export it ({e})"
        return None, f"no {onnx.name} and torch is missing to export it ({e}): the preview will fall back"
    return onnx, f"exported {onnx.name}"


def _add_manifest_lists(manifest: Path, wheels: list[str], platforms: list[str] | None) -> None:
    """Put `wheels = [...]` (and `platforms = [...]`) into the staged manifest's top-level table."""
    text = manifest.read_text(encoding="utf-8")
    lines = ["# generated by build.py"]
    if platforms:
        lines.append("platforms = [" + ", ".join(f'"{p}"' for p in platforms) + "]")
    lines.append("wheels = [\n" + "".join(f'  "{w}",\n' for w in wheels) + "]")
    block = "\n".join(lines) + "\n\n"
    first_table = re.search(r"^\[", text, re.M)
    at = first_table.start() if first_table else len(text)
    manifest.write_text(text[:at] + block + text[at:], encoding="utf-8")


def stage(dest: Path, runtime: bool = False, platforms=tuple(WHEEL_PLATFORMS), pythons=DEFAULT_PYTHONS,
          split_platforms: bool = False, quiet: bool = True) -> list[str]:
    """Assemble the extension's files in dest; returns notes on what was included. ``runtime`` adds
    the onnxruntime wheels and the ONNX files (export/download as needed)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
    dest.mkdir(parents=True, exist_ok=True)
    for p in PACKAGE.iterdir():          # the layers Blender runs; ml/ (torch) and cli/ stay out
        if p.is_dir() and p.name in SHIPPED_LAYERS:
            shutil.copytree(p, dest / p.name, ignore=ignore)
        elif p.is_file() and p.suffix == ".py":
            shutil.copy2(p, dest / p.name)
    for clash in ("presets", "models", "blender_manifest.toml"):
        if (PACKAGE / clash).exists():
            raise BuildError(f"deepx_addon/{clash} exists: it would clash with the staged repo {clash}")
    shutil.copy2(MANIFEST, dest / "blender_manifest.toml")
    if (ROOT / "LICENSE").is_file():
        shutil.copy2(ROOT / "LICENSE", dest / "LICENSE")
    notes = []
    presets = ROOT / "presets"
    if presets.is_dir():
        shutil.copytree(presets, dest / "presets", ignore=ignore)
        n = sum(1 for _ in (dest / "presets").rglob("*.json"))
        notes.append(f"presets: {n} json files")
    (dest / "presets").mkdir(exist_ok=True)
    default_json = ROOT / "models" / f"{DEFAULT_MODEL}.json"
    if runtime and default_json.is_file():
        notes.append("model onnx: " + ensure_model_onnx(default_json)[1])
    models = sorted(p for p in (ROOT / "models").glob(f"{DEFAULT_MODEL}.*") if p.suffix in MODEL_SUFFIXES)
    if models:
        (dest / "models").mkdir()
        for p in models:
            if p.stat().st_size > MAX_MODEL_BYTES:
                raise BuildError(f"{p} is {p.stat().st_size / 1e6:.0f} MB (limit {MAX_MODEL_BYTES / 1e6:.0f} MB)")
            shutil.copy2(p, dest / "models" / p.name)
        notes.append("models: " + ", ".join(p.name for p in models))
    else:
        notes.append(f"models: none (no models/{DEFAULT_MODEL}.json yet)")
    if runtime:
        src = pose_onnx_file()
        (dest / "models").mkdir(exist_ok=True)
        shutil.copy2(src, dest / "models" / POSE_ONNX_NAME)
        (dest / "models" / "yolo11n-pose.NOTICE.txt").write_text(
            f"{POSE_ONNX_NAME}: Ultralytics YOLO11n-pose (AGPL-3.0, https://github.com/ultralytics/ultralytics),\n"
            f"exported to ONNX by DeepX's scripts/export_onnx.py from {src.name}\n"
            f"(static 1x3x640x640 input, opset 17, no NMS in the graph).\n", encoding="utf-8")
        notes.append(f"models: {POSE_ONNX_NAME} ({src.stat().st_size / 1e6:.1f} MB, from {src.name})")
        wheels = fetch_wheels(platforms, pythons, quiet=quiet)
        (dest / "wheels").mkdir()
        for w in wheels:
            shutil.copy2(w, dest / "wheels" / w.name)
        _add_manifest_lists(dest / "blender_manifest.toml", [f"./wheels/{w.name}" for w in wheels],
                            list(platforms) if split_platforms else None)
        notes.append("wheels: " + ", ".join(f"{w.name} ({w.stat().st_size / 1e6:.0f} MB)" for w in wheels))
    elif split_platforms:
        raise BuildError("--split-platforms needs the runtime wheels (drop --no-runtime)")
    return notes


def _run(cmd: list[str], what: str) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True)
    out = (r.stdout + r.stderr).strip()
    if r.returncode != 0 or "FATAL_ERROR" in out or "Error" in out:
        raise BuildError(f"{what} failed (exit {r.returncode}):\n{out}")
    return out


def build(out_dir=None, blender: str | None = None, validate: bool = True, quiet: bool = False,
          runtime: bool = True, platforms=tuple(WHEEL_PLATFORMS), pythons=DEFAULT_PYTHONS,
          split_platforms: bool = False):
    """Build (and validate) the extension zip; returns its path (a list of paths, one per platform,
    with split_platforms). runtime=False leaves out the onnxruntime wheels and the ONNX files."""
    manifest = read_manifest()
    if blender is None and "bpy" in sys.modules and sys.modules["bpy"].app.binary_path:
        blender = sys.modules["bpy"].app.binary_path      # inside a real Blender: use its own command
    out_dir = Path(out_dir) if out_dir else ROOT / "dist"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = (out_dir / f"{manifest['id']}-{manifest['version']}.zip").resolve()
    with tempfile.TemporaryDirectory(prefix="deepx-ext-") as tmp:
        staging = Path(tmp) / manifest["id"]
        notes = stage(staging, runtime, tuple(platforms), tuple(pythons), split_platforms, quiet)
        split = ["--split-platforms"] if split_platforms else []
        if blender:
            build_cmd = [blender, "--factory-startup", "--command", "extension", "build",
                         "--source-dir", str(staging), "--output-filepath", str(out), *split]
            validate_cmd = lambda z: [blender, "--factory-startup", "--command", "extension", "validate", str(z)]
        else:
            tool, tags = blender_ext_tool()
            tag_args = [f"--valid-tags={tags}"] if tags else ["--valid-tags="]
            build_cmd = [sys.executable, str(tool), "build", "--source-dir", str(staging),
                         "--output-filepath", str(out), *split, *tag_args]
            validate_cmd = lambda z: [sys.executable, str(tool), "validate", *tag_args, str(z)]
        outs = ([out.with_name(f"{out.stem}-{p.replace('-', '_')}{out.suffix}") for p in platforms]
                if split_platforms else [out])
        for o in outs:
            if o.exists():
                o.unlink()
        log = _run(build_cmd, "extension build")
        for o in outs:
            if not o.is_file():
                raise BuildError(f"the extension tool reported success but wrote no {o}")
            if validate:
                log += "\n" + _run(validate_cmd(o), f"extension validate {o.name}")
    if not quiet:
        print("\n".join(notes))
        print(log)
        for o in outs:
            print(f"built {o} ({o.stat().st_size / 1e6:.1f} MB)")
    return outs if split_platforms else out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out-dir", default=None, help="output folder (default: dist/)")
    p.add_argument("--blender", default=os.environ.get("BLENDER_EXECUTABLE"),
                   help="use this Blender executable's `--command extension` instead of the bpy wheel's tool")
    p.add_argument("--no-validate", action="store_true", help="skip `extension validate`")
    p.add_argument("--no-runtime", action="store_true",
                   help="leave out the onnxruntime wheels and the ONNX files (small zip; the preview then "
                        "needs torch in Blender's Python or falls back)")
    p.add_argument("--platforms", default=",".join(WHEEL_PLATFORMS),
                   help=f"platforms to bundle onnxruntime for (default: {','.join(WHEEL_PLATFORMS)})")
    p.add_argument("--python", default=",".join(DEFAULT_PYTHONS),
                   help=f"Python versions to bundle onnxruntime for (default: {','.join(DEFAULT_PYTHONS)})")
    p.add_argument("--split-platforms", action="store_true", help="one zip per platform")
    args = p.parse_args(argv)
    split = lambda v: tuple(x.strip() for x in v.split(",") if x.strip())
    try:
        build(args.out_dir, args.blender, validate=not args.no_validate, runtime=not args.no_runtime,
              platforms=split(args.platforms), pythons=split(args.python), split_platforms=args.split_platforms)
    except BuildError as e:
        print(f"build.py: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
