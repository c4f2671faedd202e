"""deepx sample: labelled 2D keypoints from a pose table and random cameras, no rendering."""
from __future__ import annotations

import json
import sys
from dataclasses import replace
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
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    from ..core.posetable import PoseTable
    from ..core.sampler import (DEFAULT_CHUNK_SIZE, SamplerError, generate, iter_parts, read_manifest, shard_chunks,
                                write_records_jsonl)
    from ..core.settings import GeneratorSettings, SettingsError
    from .cli import CliError

    from ..core.outputs import prepare_outputs
    prepare_outputs([args.pose_table, args.settings], [args.jsonl], [args.out])
    try:
        table = PoseTable.load(args.pose_table)
    except FileNotFoundError:
        raise CliError(f"--pose-table {args.pose_table}: no such file") from None
    except (OSError, ValueError, KeyError) as e:
        raise CliError(f"--pose-table {args.pose_table}: not a pose table ({e})") from None
    try:
        settings = GeneratorSettings()
        if args.settings:
            try:
                d = json.loads(Path(args.settings).read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as e:
                raise CliError(f"--settings {args.settings}: cannot read JSON ({e})") from None
            settings = GeneratorSettings.from_dict(d)
        if args.cameras_per_pose is not None:
            if args.cameras_per_pose < 1:
                raise CliError("--cameras-per-pose must be >= 1")
            settings.cameras_per_pose = args.cameras_per_pose
        if args.seed is not None:
            settings.seed = args.seed
        if args.image_size is not None:
            settings.camera = replace(settings.camera, image_size=tuple(args.image_size))
        summary = generate(table, settings, args.out, shard=args.shard,
                           chunk_size=args.chunk_size or DEFAULT_CHUNK_SIZE, progress=not args.quiet)
        if args.jsonl:
            if not summary["complete"]:
                raise CliError("not writing --jsonl: this shard is not complete")
            mine = shard_chunks(read_manifest(args.out)["n_chunks"], args.shard)
            n = write_records_jsonl(args.jsonl, (b for _, b in iter_parts(args.out, chunks=mine, require_complete=True)),
                                    table)
            print(f"deepx sample: {n:,} rows -> {args.jsonl}", file=sys.stderr)
    except (SamplerError, SettingsError) as e:
        raise CliError(str(e)) from None
    return 0
