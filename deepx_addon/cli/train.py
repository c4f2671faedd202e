"""deepx train: fit the keypoints -> distance model on sampler chunks (npz) or keypoint JSONL."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

HELP = "train the learned distance model (writes NAME.json, NAME.safetensors, NAME_curve.png)"


def add_arguments(p):
    p.add_argument("--data", "-d", required=True, nargs="+", metavar="DIR_OR_FILE",
                   help="sampler .npz chunks, folders of them, or keypoint JSONL with distance_m "
                        "(JSONL rows are detector output: used without the noise model)")
    p.add_argument("--out", "-o", required=True, help="model path without extension, e.g. models/my_model")
    p.add_argument("--config", "-c", nargs="*", default=[], metavar="KEY=VALUE",
                   help="TrainConfig overrides, e.g. hidden=128 lr=3e-3 noise=false noise_model=noise.json")
    p.add_argument("--steps", type=int, help="training steps (same as --config steps=N)")
    p.add_argument("--stream", action="store_true",
                   help="read the sampler's part files a few at a time (a dataset larger than memory; "
                        "--config stream_buffer=ROWS sets the shuffle buffer); npz parts only")
    p.add_argument("--onnx", action="store_true", help="also write NAME.onnx for the torch-free runtime")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def run(args) -> int:
    from .errors import CliError
    from ..ml.train import TrainConfig, data_files, load_data, save_result, train, train_stream

    out = Path(args.out)
    if out.suffix in (".json", ".safetensors"):
        out = out.with_suffix("")
    from ..core.outputs import prepare_outputs
    prepare_outputs(list(args.data), [out.with_suffix(s) for s in (".json", ".safetensors")])
    cfg = TrainConfig()
    try:
        cfg.update(list(args.config) + ([f"steps={args.steps}"] if args.steps is not None else []))
        if cfg.noise_model and not Path(cfg.noise_model).is_file():
            raise ValueError(f"noise model file not found: {cfg.noise_model}")
        if args.stream:
            files = data_files(args.data)
        else:
            data = load_data(args.data)
    except ValueError as e:
        raise CliError(str(e)) from None
    what = f"{len(files)} part file(s), streamed" if args.stream else \
        f"{len(data)} samples from {len(data.sources)} file(s)"
    print(f"deepx train: {what}; {cfg.steps} steps of {cfg.batch_size}, {cfg.blocks}x{cfg.hidden} MLP",
          file=sys.stderr)
    try:
        result = train_stream(files, cfg, progress=not args.quiet) if args.stream else \
            train(data, cfg, progress=not args.quiet)
    except ValueError as e:
        raise CliError(str(e)) from None
    command = " ".join(shlex.quote(a) for a in ["deepx", *sys.argv[1:]]) if sys.argv else None
    json_path, st_path, curve = save_result(result, out, command)
    if args.onnx:
        from ..runtime.model import LearnedEstimator
        LearnedEstimator.load(json_path).export_onnx()
    m = result.metrics
    print(f"deepx train: {result.wall_s:.0f} s; validation (n={m['n']}): NLL {m['nll']:.3f}, median |rel. error| "
          f"{100 * m['median_rel']:.2f}%, mean {100 * m['mean_rel']:.2f}%, bias {100 * m['bias_rel']:+.2f}%, "
          f"coverage {100 * m['coverage']:.1f}%", file=sys.stderr)
    print(f"deepx train: wrote {json_path}, {st_path.name}, {curve.name}", file=sys.stderr)
    return 0
