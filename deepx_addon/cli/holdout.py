"""deepx holdout: a synthetic test set with modelled detector noise, as keypoint JSONL.

Samples cameras around a pose table (use one the model never trained on), corrupts the exact
keypoints with a detector-noise model and writes rows that `deepx evaluate --group-by family`
scores, so every estimator is compared on the same noisy people.
"""
from __future__ import annotations

import sys

import numpy as np

HELP = "synthetic test people with modelled detector noise (pose table + noise model -> JSONL)"


def add_arguments(p):
    p.add_argument("--pose-table", required=True, help="pose table .npz (not the training one)")
    p.add_argument("--out", "-o", required=True, help="output keypoint JSONL")
    p.add_argument("--noise", help="detector-noise model JSON, plain, --by-family or --person-scale "
                                   "(default: the documented default guess)")
    p.add_argument("--cameras-per-pose", type=int, default=4)
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--max", type=int, default=20000, help="at most this many people (after dropping unseen ones)")
    p.add_argument("--min-px", type=float, default=16.0,
                   help="leave out people smaller than this in the image (YOLO11n-pose finds 1 in 3 of them)")


def noisy_people(table, noise, cameras_per_pose: int, seed: int, max_people: int, min_px: float,
                 source: str = "deepx-holdout"):
    """Record dicts of people seen by random cameras, keypoints corrupted by ``noise``; also the
    family names and counts. People with < 6 keypoints in frame or under min_px are left out."""
    from ..core.noise import person_height_px
    from ..core.noise_family import apply_noise, relative_yaw_deg, view_of
    from ..core.sampler import sample_from_table
    from ..core.settings import GeneratorSettings

    batch = sample_from_table(table, GeneratorSettings(seed=seed, cameras_per_pose=cameras_per_pose),
                              np.arange(len(table)))
    vis = batch.keypoints_2d[..., 2] > 0
    size = person_height_px(batch.keypoints_2d, vis)
    keep = np.flatnonzero((vis.sum(1) >= 6) & (size >= min_px))   # in the picture, big enough to detect
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.permutation(keep)[:max_people])
    batch = batch.take(keep)
    vis = batch.keypoints_2d[..., 2] > 0
    kp = batch.keypoints_2d.astype(float)
    noisy = apply_noise(noise, rng, kp, vis, person_height_px(kp, vis), batch.family,
                        view_of(relative_yaw_deg(batch.keypoints_3d_cam, batch.camera["R"])), dtype=np.float64)
    rows = batch.to_records(table, source=source)
    for r, k in zip(rows, noisy):
        r["keypoints"] = np.round(k, 3).tolist()
    fam, cnt = np.unique(batch.family, return_counts=True)
    return rows, fam, cnt


def run(args) -> int:
    from ..core.noise import DetectorNoiseModel
    from ..core.noise_family import load_noise_model
    from ..core.posetable import PoseTable
    from ..core.records import write_jsonl
    from .errors import CliError

    from ..core.outputs import prepare_outputs
    prepare_outputs([args.pose_table, args.noise], [args.out])
    try:
        table = PoseTable.load(args.pose_table)
        noise = load_noise_model(args.noise) if args.noise else DetectorNoiseModel.default()
    except (OSError, ValueError) as e:
        raise CliError(str(e)) from None
    rows, fam, cnt = noisy_people(table, noise, args.cameras_per_pose, args.seed, args.max, args.min_px,
                                  source=f"deepx-holdout ({'fitted' if args.noise else 'default'} noise)")
    write_jsonl(args.out, rows)
    print(f"deepx holdout: {len(rows)} people -> {args.out} ({', '.join(f'{f} {c}' for f, c in zip(fam, cnt))})",
          file=sys.stderr)
    return 0
