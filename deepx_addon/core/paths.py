"""Where the shipped data lives, in both layouts the code runs from (no bpy).

- repo layout:      <repo>/deepx_addon/core/paths.py, data in <repo>/presets, <repo>/models
- extension layout: <ext>/core/paths.py (deepx_addon's contents at the zip root), data in
                    <ext>/presets, <ext>/models (build.py copies them there)

Use presets_dir()/models_dir() instead of building paths from __file__ in other modules.
User presets (written by the panel, never into the shipped folder) live in Blender's user folder,
which Blender passes in as ``user_dir`` (blender/state.py). find_preset() / preset_dirs() are the one
look-up of presets and default_model_path() the one of the shipped model.
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]   # deepx_addon/ or the installed extension folder
PRESET_KINDS = ("limits", "poses")
DEFAULT_MODEL_NAME = "deepx_default"


def _data_dir(name: str) -> Path:
    """<package>/<name> (extension layout) if present, else <repo>/<name> (repo layout)."""
    inside = PACKAGE_DIR / name
    if inside.is_dir():
        return inside
    repo = PACKAGE_DIR.parent
    if (repo / name).is_dir() and (repo / "pyproject.toml").is_file():
        return repo / name
    return inside   # neither exists: name the extension path in the caller's error


def check_preset_name(name: str) -> str:
    """A preset name is a plain file stem: no folder separators, no '..', nothing hidden; so
    ``presets/limits/<name>.json`` never resolves outside its folder. ValueError otherwise."""
    if (not isinstance(name, str) or not name or name.startswith(".") or "/" in name or "\\" in name
            or "\0" in name or os.path.basename(name) != name):
        raise ValueError(f"{name!r} is not a preset name (a file stem without '/', '\\' or a leading '.')")
    return name


def presets_dir(kind: str | None = None) -> Path:
    """Shipped presets: presets_dir() or presets_dir("limits") / presets_dir("poses")."""
    d = _data_dir("presets")
    return d / kind if kind else d


def preset_dirs(kind: str, user_dir=None) -> list[Path]:
    """Where presets of one kind are looked up, in order: the shipped folder, then the user's
    (``<user_dir>/<kind>``: Blender passes its <user scripts>/presets/deepx; None outside Blender)."""
    if kind not in PRESET_KINDS:
        raise ValueError(f"unknown preset kind {kind!r}; expected one of {PRESET_KINDS}")
    return [presets_dir(kind)] + ([Path(user_dir) / kind] if user_dir is not None else [])


def find_preset(kind: str, name, user_dir=None) -> Path:
    """The file of a preset: ``name`` itself when it is a .json path, else NAME.json in
    ``preset_dirs`` (a user preset of the same name wins). FileNotFoundError names the folders."""
    p = Path(name)
    if p.suffix == ".json":
        if not p.is_file():
            raise FileNotFoundError(f"{kind} preset file {p} not found")
        return p
    check_preset_name(str(name))   # a name never leaves the presets folders
    found = [d / f"{name}.json" for d in preset_dirs(kind, user_dir) if (d / f"{name}.json").is_file()]
    if not found:
        raise FileNotFoundError(f"{kind} preset {name!r} not found (looked in "
                                f"{', '.join(map(str, preset_dirs(kind, user_dir)))})")
    return found[-1]


def data_dir() -> Path:
    """Shipped package data (deepx_addon/data in the repo and inside the extension: the human body
    mesh; see its SOURCES.md)."""
    return PACKAGE_DIR / "data"


def models_dir() -> Path:
    """Shipped model checkpoints (models/ in the repo, models/ inside the extension)."""
    env = os.environ.get("DEEPX_MODELS_DIR")
    return Path(env) if env else _data_dir("models")


def real_data_dir() -> Path:
    """The small real evaluation set the demo and tests use (examples/real in the repo; see its
    PROVENANCE.md), or $DEEPX_REAL_DATA. Not shipped in the extension."""
    env = os.environ.get("DEEPX_REAL_DATA")
    return Path(env) if env else PACKAGE_DIR.parent / "examples" / "real"


def default_model_path() -> Path | None:
    """The shipped learned model NAME.json: in <package>/models, <repo>/models, then
    $DEEPX_MODELS_DIR; None when there is none (callers fall back to a geometric rule)."""
    for d in (PACKAGE_DIR / "models", PACKAGE_DIR.parent / "models", models_dir()):
        p = d / f"{DEFAULT_MODEL_NAME}.json"
        if p.is_file():
            return p
    return None
