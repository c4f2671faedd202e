"""deepx sample: labelled 2D keypoints from a pose table and random cameras, no rendering."""
from __future__ import annotations

import sys
from pathlib import Path

HELP = "sample random cameras around every pose of a pose table (no rendering) -> labelled keypoints"


def add_arguments(p):
    p.add_argument("--pose-table", required=True, help="pose table .npz (built by the Blender mannequin)")
    p.add_argument("--out", required=True, help="output folder: manifest.json + part-XXXXX.npz (resumable)")
    p.add_argument("--settings", help="generator settings JSON (GeneratorSettings.to_dict(); missing keys = defaults)")
    p.add_argument("--cameras-per-pose", type=int, help="cameras per pose (default: settings, 16)")
    p.add_argument("--seed", type=int, help="global seed (default: settings, 0)")
    p.add_argument("--image-size", type=int, nargs=2, metavar=("W", "H"), help="image size in pixels (default 640 640)")
    p.add_argument("--shard", default="0/1", help="i/N: write chunks i, i+N, ... (run N processes for N cores)")
    p.add_argument("--chunk-size", type=int, default=None, help="pose rows per part file (default 1024)")
    p.add_argument("--jsonl", help="also write this shard's samples as keypoint JSONL (deepx predict/evaluate input)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one generator setting, e.g. --set camera.distance_m=2,40 (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    from . import cluster
    cluster.add_arguments(p)


def run(args) -> int:
    from ..core.posetable import PoseTable
    from ..core.runfolder import RunFolderError
    from ..core.sampler import DEFAULT_CHUNK_SIZE, generate, iter_parts, read_manifest, shard_chunks, write_records_jsonl
    from ..core.settings import GeneratorSettings, SettingsError
    from .errors import CliError

    from ..core.outputs import prepare_outputs
    prepare_outputs([args.pose_table, args.settings], [args.jsonl], [args.out])
    try:
        table = PoseTable.load(args.pose_table)
    except FileNotFoundError:
        raise CliError(f"--pose-table {args.pose_table}: no such file") from None
    except (OSError, ValueError, KeyError) as e:
        raise CliError(f"--pose-table {args.pose_table}: not a pose table ({e})") from None
    try:
        if args.cameras_per_pose is not None and args.cameras_per_pose < 1:
            raise CliError("--cameras-per-pose must be >= 1")
        settings = GeneratorSettings.from_file(args.settings) if args.settings else GeneratorSettings()
        options = {"cameras_per_pose": args.cameras_per_pose, "seed": args.seed,
                   "camera.image_size": list(args.image_size) if args.image_size else None}
        settings = settings.update({k: v for k, v in options.items() if v is not None}).update(args.set)
        if args.ray:
            mine = _run_ray(args, table, settings)
        else:
            summary = generate(table, settings, args.out, shard=args.shard,
                               chunk_size=args.chunk_size or DEFAULT_CHUNK_SIZE, progress=not args.quiet)
            if args.jsonl and not summary["complete"]:
                raise CliError("not writing --jsonl: this shard is not complete")
            mine = shard_chunks(read_manifest(args.out)["n_chunks"], args.shard)
        if args.jsonl:
            n = write_records_jsonl(args.jsonl, (b for _, b in iter_parts(args.out, chunks=mine, require_complete=True)),
                                    table)
            print(f"deepx sample: {n:,} rows -> {args.jsonl}", file=sys.stderr)
    except (RunFolderError, SettingsError) as e:        # SamplerError is a RunFolderError
        raise CliError(str(e)) from None
    return 0


def _run_ray(args, table, settings) -> list[int]:
    """Every shard a Ray task running `deepx sample --shard i/N`; returns all chunk ids."""
    from ..core.sampler import DEFAULT_CHUNK_SIZE, generate, read_manifest
    from . import cluster
    from .errors import CliError

    if args.shard != "0/1":
        raise CliError("--ray runs every shard itself: leave out --shard")
    cluster.absolute_paths(args, "pose_table", "out", "settings", "jsonl")
    # the manifest first (refuses a folder holding another run before any task starts)
    generate(table, settings, args.out, chunk_size=args.chunk_size or DEFAULT_CHUNK_SIZE, progress=False, max_chunks=0)
    m = read_manifest(args.out)
    base = cluster.argv_of(args._parser, args, drop=("shard", "jsonl", "quiet"))
    files = {c["file"] for c in m["chunks"]}
    t = cluster.run_tasks(args, lambda n: cluster.shard_argvs("sample", base, n), m["n_chunks"],
                          lambda: sum(1 for f in files if (Path(args.out) / f).exists()), m["n_chunks"], "chunks")
    missing = [c for c in m["chunks"] if not (Path(args.out) / c["file"]).exists()]
    if missing:
        raise CliError(f"{len(missing)} chunks missing after the Ray job (first {missing[0]['file']}); rerun to resume")
    print(f"deepx sample: {m['n_samples']:,} samples in {m['n_chunks']} chunks by {t['tasks']} Ray tasks on "
          f"{len(t['nodes'])} node(s) in {t['seconds']:.1f} s (tasks' CPU {t['task_cpu_s']:.1f} s) -> {args.out}", file=sys.stderr)
    return list(range(m["n_chunks"]))
