"""deepx poses: build a pose table with the Blender mannequin (needs the bpy module)."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

HELP = "pose the Blender mannequin N times with the generator settings -> pose table (.npz)"


def add_arguments(p):
    p.add_argument("--out", "-o", required=True, help="pose table .npz to write (atomically)")
    p.add_argument("--count", "-n", type=int, required=True, help="number of posed people")
    p.add_argument("--seed", type=int, default=None, help="global seed (default: settings, 0)")
    p.add_argument("--settings", help="generator settings JSON (GeneratorSettings.to_dict(); missing keys = defaults)")
    p.add_argument("--backend", choices=("blender", "numpy"), default="blender",
                   help="blender: Blender's evaluated armature (default); numpy: the same rig's FK in numpy")


def run(args) -> int:
    from ..core.settings import GeneratorSettings, SettingsError
    from .cli import CliError

    try:
        settings = GeneratorSettings.from_dict(json.loads(Path(args.settings).read_text())) if args.settings \
            else GeneratorSettings()
    except (OSError, ValueError, SettingsError) as e:
        raise CliError(f"--settings {args.settings}: {e}") from None
    if args.count < 1:
        raise CliError("--count must be >= 1")
    from ..core.outputs import prepare_outputs
    prepare_outputs([args.settings], [args.out])
    try:
        from ..blender.posetable_build import build_pose_table  # imports bpy
    except ImportError as e:
        raise CliError(f"the bpy module is needed to pose the mannequin ({e})") from None

    def progress(done, n):
        print(f"\rposing {done}/{n}", end="", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    table = build_pose_table(settings, n=args.count, seed=args.seed, progress=progress, backend=args.backend)
    table.save(args.out)
    dt = time.perf_counter() - t0
    fam, counts = __import__("numpy").unique(table.family, return_counts=True)
    print(f"\ndeepx poses: {len(table)} poses in {dt:.1f} s ({len(table) / dt:.0f}/s) -> {args.out}; families: "
          + ", ".join(f"{f} {c}" for f, c in zip(fam, counts)), file=sys.stderr)
    return 0
