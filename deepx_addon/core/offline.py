"""Keep third-party libraries offline and out of the user's home folder (stdlib only).

Ultralytics, imported as-is, looks up DNS names at import, POSTs usage events with a persistent
uuid when it can, and writes ~/.config/Ultralytics/settings.json; matplotlib writes a font cache
under ~/.cache; Blender as a module writes ~/.config/blender and thumbnails under ~/.cache. ``keep_offline()`` sets, before any of
them is imported, the variables that stop all of this and point their files at DeepX's own cache
folder. Variables the user set keep their values (setdefault), so asking for another place works.

Cache folder: $DEEPX_CACHE_DIR, else <temp>/deepx-cache-<uid> (never the home folder).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def cache_dir() -> Path:
    env = os.environ.get("DEEPX_CACHE_DIR")
    uid = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    d = Path(env) if env else Path(tempfile.gettempdir()) / f"deepx-cache-{uid}"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


def keep_offline(blender: bool = True) -> Path:
    """Set the offline / cache-location variables (only those not set). Call before importing
    ultralytics, matplotlib or bpy. blender=False when running inside the user's own Blender, whose
    config folder is theirs. Returns the cache folder."""
    d = cache_dir()
    env = {
        "YOLO_OFFLINE": "1",                         # no DNS probe, no downloads, no usage events
        "YOLO_AUTOINSTALL": "False",                 # a library never pip-installs at run time
        "YOLO_CONFIG_DIR": str(d / "ultralytics"),   # settings.json (with its uuid) lives here
        "MPLCONFIGDIR": str(d / "matplotlib"),       # matplotlib's font cache
    }
    if blender:   # the CLI's own process (bpy as a module), never inside the user's Blender
        env["BLENDER_USER_RESOURCES"] = str(d / "blender")   # config, scripts, extensions of bpy
        env["XDG_CACHE_HOME"] = str(d / "xdg-cache")          # bpy writes image thumbnails there
    for k, v in env.items():
        os.environ.setdefault(k, v)
    return d
