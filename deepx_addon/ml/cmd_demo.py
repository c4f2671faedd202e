"""deepx demo: the main job: every estimator on the shared real people, as a comparison table."""
from __future__ import annotations

import os
from pathlib import Path

HELP = "run every estimator on the shared real data and print the comparison"


def real_data_dir() -> Path | None:
    env = os.environ.get("DEEPX_REAL_DATA")
    cands = [Path(env)] if env else []
    root = Path(__file__).resolve().parents[2]
    cands += [root.parent / "shared" / "data" / "real", Path.cwd().parent / "shared" / "data" / "real"]
    return next((c for c in cands if (c / "kitti_train.jsonl").exists()), None)


def add_arguments(p):
    p.add_argument("--data", help="folder with kitti_train.jsonl and h36m_3dhp_images.jsonl "
                                  "(default: ../shared/data/real or $DEEPX_REAL_DATA)")
    p.add_argument("--out", default="runs/demo", help="folder for the JSON metrics and plots")


def run(args) -> int:
    from . import registry
    from .cli import CliError
    from .cmd_evaluate import evaluate_files

    data = Path(args.data) if args.data else real_data_dir()
    if data is None or not (data / "kitti_train.jsonl").exists():
        raise CliError("shared real data not found; pass --data or set DEEPX_REAL_DATA")
    files = [str(data / f) for f in ("kitti_train.jsonl", "h36m_3dhp_images.jsonl") if (data / f).exists()]
    print("DeepX demo 1/2: every estimator on real people with measured distances (lower ALE is better)")
    evaluate_files(files, registry.names(), json_path=str(Path(args.out) / "metrics.json"),
                   plot=str(Path(args.out) / "error_vs_distance.png"))
    if (data / "h36m_3dhp_images.jsonl").exists():
        from .realphotos import evaluate_real_photos
        print("\nDeepX demo 2/2: real photos -> YOLO11n-pose -> distance (annotated photos in "
              f"{Path(args.out) / 'photos'})")
        evaluate_real_photos(data, ["default", "sloth", "shoulder_hip", "bbox"], annotate_dir=Path(args.out) / "photos")
    return 0
