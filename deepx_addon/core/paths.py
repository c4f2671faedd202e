"""Where the shipped data lives, in both layouts the code runs from (no bpy).

- repo layout:      <repo>/deepx_addon/core/paths.py, data in <repo>/presets, <repo>/models
- extension layout: <ext>/core/paths.py (deepx_addon's contents at the zip root), data in
                    <ext>/presets, <ext>/models (build.py copies them there)

Use presets_dir()/models_dir() instead of building paths from __file__ in other modules.
User presets (written by the panel, never into the shipped folder) live in a separate user folder:
Blender passes its own (bpy.utils.user_resource('SCRIPTS', path="presets/deepx/<kind>")); outside
Blender $DEEPX_USER_PRESETS/<kind> is used when set.
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]   # deepx_addon/ or the installed extension folder
PRESET_KINDS = ("limits", "poses")


def _data_dir(name: str) -> Path:
    """<package>/<name> (extension layout) if present, else <repo>/<name> (repo layout)."""
    inside = PACKAGE_DIR / name
    if inside.is_dir():
        return inside
    repo = PACKAGE_DIR.parent
    if (repo / name).is_dir() and (repo / "pyproject.toml").is_file():
        return repo / name
    return inside   # neither exists: name the extension path in the caller's error


def presets_dir(kind: str | None = None) -> Path:
    """Shipped presets: presets_dir() or presets_dir("limits") / presets_dir("poses")."""
    d = _data_dir("presets")
    return d / kind if kind else d


def models_dir() -> Path:
    """Shipped model checkpoints (models/ in the repo, models/ inside the extension)."""
    env = os.environ.get("DEEPX_MODELS_DIR")
    return Path(env) if env else _data_dir("models")


def real_data_dir() -> Path:
    """The small real evaluation set the demo and tests use (examples/real in the repo; see its
    PROVENANCE.md), or $DEEPX_REAL_DATA. Not shipped in the extension."""
    env = os.environ.get("DEEPX_REAL_DATA")
    return Path(env) if env else PACKAGE_DIR.parent / "examples" / "real"


def user_presets_dir(kind: str, user_dir=None, create: bool = False) -> Path | None:
    """The writable folder for the user's own presets of one kind, or None if there is none."""
    if kind not in PRESET_KINDS:
        raise ValueError(f"unknown preset kind {kind!r}; expected one of {PRESET_KINDS}")
    if user_dir is not None:
        d = Path(user_dir)
    elif os.environ.get("DEEPX_USER_PRESETS"):
        d = Path(os.environ["DEEPX_USER_PRESETS"]) / kind
    else:
        return None
    if create:
        d.mkdir(parents=True, exist_ok=True)
    return d


def list_presets(kind: str, user_dir=None, ext: str = ".json") -> dict[str, Path]:
    """Preset name -> file, shipped ones first; a user preset of the same name wins."""
    out: dict[str, Path] = {}
    for d in (presets_dir(kind), user_presets_dir(kind, user_dir)):
        if d is not None and d.is_dir():
            for p in sorted(d.glob(f"*{ext}")):
                if not p.name.startswith("."):
                    out[p.stem] = p
    return out


def find_preset(kind: str, name: str, user_dir=None, ext: str = ".json") -> Path:
    """A preset by name (or an existing file path). FileNotFoundError names the folders searched."""
    p = Path(name)
    if p.suffix == ext and p.is_file():
        return p
    found = list_presets(kind, user_dir, ext).get(name)
    if found is None:
        searched = [str(d) for d in (presets_dir(kind), user_presets_dir(kind, user_dir)) if d is not None]
        raise FileNotFoundError(f"no {kind} preset {name!r} in {', '.join(searched)}")
    return found
