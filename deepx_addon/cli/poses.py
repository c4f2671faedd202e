"""deepx poses: build a pose table with the Blender mannequin (bpy), or with the same rig in numpy
(--backend numpy: no bpy needed; core/posebuild.py is the one route for both)."""
from __future__ import annotations

import sys
import time

from ..core.progress import ProgressBar

HELP = "pose the Blender mannequin N times with the generator settings -> pose table (.npz)"


def add_arguments(p):
    p.add_argument("--out", "-o", required=True, help="pose table .npz to write (atomically)")
    p.add_argument("--count", "-n", type=int, required=True, help="number of posed people")
    p.add_argument("--seed", type=int, default=None, help="global seed (default: settings, 0)")
    p.add_argument("--settings", help="generator settings JSON (GeneratorSettings.to_dict(); missing keys = defaults)")
    p.add_argument("--backend", choices=("blender", "numpy"), default="blender",
                   help="blender: Blender's evaluated armature (default); numpy: the same rig's FK in numpy "
                        "(runs without bpy)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one generator setting, e.g. --set pose.p_walk=0.8 (repeatable)")


def run(args) -> int:
    from ..core.settings import GeneratorSettings, SettingsError
    from .errors import CliError

    try:
        settings = GeneratorSettings.from_file(args.settings) if args.settings else GeneratorSettings()
        settings = settings.update(args.set)
    except SettingsError as e:
        raise CliError(str(e)) from None
    if args.count < 1:
        raise CliError("--count must be >= 1")
    from ..core.outputs import prepare_outputs
    prepare_outputs([args.settings], [args.out])
    try:
        from ..blender.posetable_build import build_pose_table  # imports bpy
    except ImportError as e:
        if args.backend != "numpy":
            raise CliError(f"the bpy module is needed to pose the mannequin ({e}); --backend numpy runs "
                           "without it") from None
        build_pose_table = None

    bar = ProgressBar(args.count, "posing", every_s=5.0)

    def progress(done, n):
        bar.update(done)

    t0 = time.perf_counter()
    if build_pose_table is None:        # no bpy: the same rows and rig in numpy
        from ..core.posebuild import build_pose_table as numpy_pose_table
        table = numpy_pose_table(settings, n=args.count, seed=args.seed, progress=progress)
    else:
        table = build_pose_table(settings, n=args.count, seed=args.seed, progress=progress, backend=args.backend)
    bar.close()
    table.save(args.out)
    dt = time.perf_counter() - t0
    fam, counts = __import__("numpy").unique(table.family, return_counts=True)
    print(f"deepx poses: {len(table)} poses in {dt:.1f} s ({len(table) / dt:.0f}/s) -> {args.out}; families: "
          + ", ".join(f"{f} {c}" for f, c in zip(fam, counts)), file=sys.stderr)
    return 0
