"""Benchmark: train the default model on 1 M stand-in samples; print wall time and validation error.

    .venv/bin/python scripts/bench_train.py [--n 1000000] [--config key=value ...] [--out runs/bench_train/model]

Stand-in data (deepx_addon/core/standin.py: stick figures through random cameras) until the sampler's
chunks exist; pass --data to train on those instead. The target on 2 CPU cores: <= 3 minutes of
training for >= 1 M samples. Also scores the result on examples/real/kitti_train.jsonl when
present (for information only: stick figures are not people). Prints the loop's ratio to its
compute floor (the matmul FLOPs at torch.mm's measured rate, same run; goal <= 1.6x).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def compute_floor(cfg, steps: int) -> tuple[float, float]:
    """(seconds, GFLOP/s): the training steps' matrix products (forward + 2x backward) at the rate
    torch.mm reaches on the network's own shapes, measured now, in this process."""
    import torch

    from deepx_addon.runtime import features as feat
    b, h, f = cfg.batch_size, cfg.hidden, feat.N_FEATURES
    flop_step = 3 * 2 * b * (f * h + 2 * cfg.blocks * h * h + 2 * h)
    torch.set_num_threads(cfg.threads)
    x, w = torch.randn(b, h), torch.randn(h, h)
    for _ in range(5):
        torch.mm(x, w)
    reps, t = 200, time.perf_counter()
    for _ in range(reps):
        torch.mm(x, w)
    rate = reps * 2 * b * h * h / (time.perf_counter() - t)
    return steps * flop_step / rate, rate / 1e9


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1_000_000, help="stand-in samples (ignored with --data)")
    p.add_argument("--data", nargs="*", help="sampler npz chunks / folders instead of stand-in data")
    p.add_argument("--config", nargs="*", default=[], help="TrainConfig overrides key=value")
    p.add_argument("--out", default=str(ROOT / "runs" / "bench_train" / "model"))
    p.add_argument("--no-prefetch", action="store_true", help="prepare each batch in the loop (before 2 Dec 2026)")
    args = p.parse_args(argv)

    import torch

    from deepx_addon.core.standin import standin_data
    from deepx_addon.ml import train as train_module
    from deepx_addon.ml.train import TrainConfig, TrainData, load_data, save_result, train
    if args.no_prefetch:
        train_module.prefetch = lambda gen, depth=2: gen

    t0 = time.time()
    if args.data:
        data = load_data(args.data)
    else:
        d = standin_data(args.n, seed=0)
        data = TrainData.from_arrays(d["keypoints_2d"], d["K"], d["distance_m"], d["depth_m"], d["family"],
                                     source=f"standin_data({args.n}, seed=0)")
        del d
    t_data = time.time() - t0
    cfg = TrainConfig().update(args.config)
    print(f"data: {len(data)} samples in {t_data:.1f} s; torch {torch.__version__}, threads {cfg.threads}, "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    res = train(data, cfg)
    floor_s, gflops = compute_floor(cfg, len(res.history["step"]))
    json_path, _, curve = save_result(res, args.out, command="scripts/bench_train.py " + " ".join(argv or sys.argv[1:]))
    m = res.metrics
    print(f"train wall time: {res.wall_s:.1f} s for {cfg.steps} steps x {cfg.batch_size} "
          f"({cfg.blocks}x{cfg.hidden} MLP, {res.data_recipe['epochs']:.2f} epochs)")
    print(f"compute floor: {floor_s:.1f} s (the steps' matmul FLOPs at {gflops:.1f} GFLOP/s, torch.mm of the same "
          f"shapes measured right after, {cfg.threads} threads); training loop {res.loop_s:.1f} s = {res.loop_s / floor_s:.2f}x the floor")
    print(f"validation: n={m['n']} median |rel err| {100 * m['median_rel']:.2f}%  mean {100 * m['mean_rel']:.2f}%  "
          f"p90 {100 * m['p90_rel']:.2f}%  bias {100 * m['bias_rel']:+.2f}%  NLL {m['nll']:.3f} "
          f"(start {m['initial_val_nll']:.3f})  within 1 sigma {100 * m['within_1sigma']:.1f}% (Laplace: 75.7%)")
    print("validation median |rel err| by family: " +
          ", ".join(f"{k} {100 * v:.1f}%" for k, v in m["median_rel_by_family"].items()))
    print("curve (step: val median |rel err|): " + ", ".join(
        f"{s}: {100 * v:.1f}%" for s, v in zip(res.history["val_step"], res.history["val_median_rel"])))
    print(f"load average after: {os.getloadavg()[0]:.2f}; wrote {json_path} and {curve}")
    kitti = ROOT / "examples" / "real" / "kitti_train.jsonl"
    if kitti.exists():
        from deepx_addon.core.evaluation import evaluate_predictions, predict_file
        from deepx_addon.runtime.model import LearnedEstimator
        ev = evaluate_predictions("bench", predict_file(LearnedEstimator.load(json_path), kitti))
        a = ev.metrics["all"]
        print(f"kitti_train (info only): n={a['n']} coverage {100 * a['coverage']:.0f}% ALE {a['ale_m']:.2f} m "
              f"mean rel {100 * a['mean_rel']:.1f}% median rel {100 * a['median_rel']:.1f}% "
              f"bias {100 * a['bias_rel']:+.1f}%  statuses {ev.statuses}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
