"""deepx demo: the main job: every estimator on the repo's real people, as a comparison table."""
from __future__ import annotations

from pathlib import Path

HELP = "run every estimator on the real people in examples/real and print the comparison"


def synthetic_people(out: Path, n_poses: int = 300, seed: int = 2026) -> None:
    """Pose the Blender mannequin, view each pose from 4 random cameras, corrupt the keypoints with
    the shipped detector-noise model and score every estimator per pose family."""
    from ..blender.posetable_build import build_pose_table   # needs the bpy module
    from ..core.noise import DetectorNoiseModel
    from ..core.noise_family import load_noise_model
    from ..core.paths import models_dir
    from ..core.records import write_jsonl
    from ..core.settings import GeneratorSettings
    from ..ml import registry
    from .evaluate import evaluate_files
    from .holdout import noisy_people

    noise_file = models_dir() / "deepx_default_noise.json"
    noise = load_noise_model(noise_file) if noise_file.exists() else DetectorNoiseModel.default()
    print(f"\nDeepX demo 2/3: {n_poses} new poses of the Blender mannequin x 4 random cameras, keypoints with "
          f"{'the fitted YOLO11n-pose' if noise_file.exists() else 'the default'} noise, by pose family")
    table = build_pose_table(GeneratorSettings(), n=n_poses, seed=seed)
    rows, _, _ = noisy_people(table, noise, 4, seed, 10_000, 16.0, source="deepx demo")
    path = out / "synthetic_people.jsonl"
    write_jsonl(path, rows)
    evaluate_files([str(path)], registry.names(), json_path=str(out / "metrics_synthetic.json"), group_by="family")


def add_arguments(p):
    p.add_argument("--data", help="folder with kitti_train.jsonl and h36m_3dhp_images.jsonl "
                                  "(default: the repo's examples/real or $DEEPX_REAL_DATA)")
    p.add_argument("--out", default="runs/demo", help="folder for the JSON metrics and plots")


def run(args) -> int:
    from ..core.paths import real_data_dir
    from ..ml import registry
    from .errors import CliError
    from .evaluate import evaluate_files

    data = Path(args.data) if args.data else real_data_dir()
    if not (data / "kitti_train.jsonl").exists():
        raise CliError(f"real data not found: {data / 'kitti_train.jsonl'} is missing; "
                       "pass --data or set DEEPX_REAL_DATA")
    files = [str(data / f) for f in ("kitti_train.jsonl", "h36m_3dhp_images.jsonl") if (data / f).exists()]
    from ..core.outputs import prepare_outputs
    prepare_outputs([data], out_dirs=[args.out])   # the demo reads the data folder and writes only --out
    print("DeepX demo 1/3: every estimator on real people with measured distances (lower ALE is better)")
    evaluate_files(files, registry.names(), json_path=str(Path(args.out) / "metrics.json"),
                   plot=str(Path(args.out) / "error_vs_distance.png"))
    synthetic_people(Path(args.out))
    if (data / "h36m_3dhp_images.jsonl").exists():
        from ..ml.realphotos import evaluate_real_photos
        print("\nDeepX demo 3/3: real photos -> YOLO11n-pose -> distance (annotated photos in "
              f"{Path(args.out) / 'photos'})")
        evaluate_real_photos(data, ["default", "sloth", "shoulder_hip", "bbox"], annotate_dir=Path(args.out) / "photos")
    return 0
