"""Benchmark: train the default model on 1 M stand-in samples; print wall time and validation error.

    .venv/bin/python scripts/bench_train.py [--n 1000000] [--config key=value ...] [--out runs/bench_train/model]
                                            [--modes prefetch,no-prefetch,before]

Stand-in data (deepx_addon/core/standin.py: stick figures through random cameras) until the sampler's
chunks exist; pass --data to train on those instead. The target on 2 CPU cores: <= 3 minutes of
training for >= 1 M samples. Also scores the result on examples/real/kitti_train.jsonl when
present (for information only: stick figures are not people). Prints the loop's ratio to its
compute floor (the matmul FLOPs at torch.mm's rate, measured between the training steps of the
same run, so that load changes hit both; goal <= 1.6x).

``--modes prefetch,no-prefetch,all-threads,before`` trains once per mode on the same data and seed,
one after the other, checks that the weights and metrics are identical, and prints each loop's
ratio to its own floor: ``prefetch`` (the batches prepared in a thread, one thread between the
matmuls (ml/step_threads.py), foreach AdamW: the default), ``no-prefetch`` (each batch prepared in
the loop), ``all-threads`` (prefetch, but every op at cfg.threads and AdamW's for-loop: the default
of 2 Dec 04:31), ``before`` (all-threads, no prefetch and torch's NaN fill of new tensors, as before
2 Dec 2026).
"""
from __future__ import annotations

import argparse
import functools
import itertools
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class FloorSampler:
    """The compute floor, sampled in the training thread: every ``every`` steps ``reps`` products
    torch.mm(x (batch, hidden), w (hidden, hidden)) are timed, and that time is taken out of the
    loop's. floor(steps) = the steps' matmul FLOPs (forward + 2x backward) at the mean rate."""

    def __init__(self, cfg, every: int = 10, reps: int = 3):
        import torch

        from deepx_addon.runtime import features as feat
        b, h, f = cfg.batch_size, cfg.hidden, feat.N_FEATURES
        self.flop_step = 3 * 2 * b * (f * h + 2 * cfg.blocks * h * h + 2 * h)
        self.flop_mm = 2 * b * h * h
        self.x, self.w = torch.randn(b, h), torch.randn(h, h)
        self.every, self.reps, self.seconds, self.n_mm = every, reps, 0.0, 0
        torch.mm(self.x, self.w)

    def wrap(self, items):
        """Yield ``items``, timing the products before every ``every``-th is taken: at the end of a
        step, when a prefetch thread has its batches ready and waits (not competing for the cores)."""
        import torch
        it = iter(items)
        for i in itertools.count():
            if i % self.every == 0:
                t = time.perf_counter()
                for _ in range(self.reps):
                    torch.mm(self.x, self.w)
                self.seconds += time.perf_counter() - t
                self.n_mm += self.reps
            try:
                item = next(it)
            except StopIteration:
                return
            yield item

    def floor(self, steps: int) -> tuple[float, float]:
        """(seconds, GFLOP/s)"""
        rate = self.n_mm * self.flop_mm / self.seconds
        return steps * self.flop_step / rate, rate / 1e9


def run_mode(mode: str, data, cfg):
    """Train with the loop of ``mode``; (result, floor sampler)."""
    import torch

    from deepx_addon.ml import train as train_module
    real = train_module.prefetch, train_module.set_seed, train_module.StepThreads, train_module.FOREACH
    real_prefetch, real_seed = real[:2]
    sampler = FloorSampler(cfg)
    if mode in ("prefetch", "all-threads"):
        train_module.prefetch = lambda gen, depth=2: sampler.wrap(real_prefetch(gen, depth))
    else:
        train_module.prefetch = lambda gen, depth=2: sampler.wrap(gen)
    if mode in ("all-threads", "before"):     # every op at cfg.threads, AdamW's for-loop
        train_module.StepThreads = functools.partial(real[2], between=cfg.threads)
        train_module.FOREACH = False
    if mode == "before":
        def set_seed(seed):
            real_seed(seed)
            torch.utils.deterministic.fill_uninitialized_memory = True
        train_module.set_seed = set_seed
    try:
        res = train_module.train(data, cfg)
    finally:
        train_module.prefetch, train_module.set_seed, train_module.StepThreads, train_module.FOREACH = real
        torch.utils.deterministic.fill_uninitialized_memory = False
    res.loop_s -= sampler.seconds
    return res, sampler


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1_000_000, help="stand-in samples (ignored with --data)")
    p.add_argument("--data", nargs="*", help="sampler npz chunks / folders instead of stand-in data")
    p.add_argument("--config", nargs="*", default=[], help="TrainConfig overrides key=value")
    p.add_argument("--out", default=str(ROOT / "runs" / "bench_train" / "model"))
    p.add_argument("--modes", default="prefetch",
                   help="comma-separated loops to time one after the other: prefetch, no-prefetch, all-threads, before")
    args = p.parse_args(argv)
    modes = args.modes.split(",")
    known = {"prefetch", "no-prefetch", "all-threads", "before"}
    if set(modes) - known:
        p.error(f"--modes: unknown {sorted(set(modes) - known)}")

    import torch

    from deepx_addon.core.standin import standin_data
    from deepx_addon.ml.train import TrainConfig, TrainData, load_data, save_result

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
    runs = []          # (mode, result, floor s) in run order: a mode may repeat (interleaved runs)
    for mode in modes:
        res, sampler = run_mode(mode, data, TrainConfig().update(args.config))
        floor_s, gflops = sampler.floor(len(res.history["step"]))
        runs.append((mode, res, floor_s))
        print(f"{mode}: training loop {res.loop_s:.1f} s = {res.loop_s / floor_s:.2f}x its compute floor {floor_s:.1f} s "
              f"(the steps' matmul FLOPs at {gflops:.1f} GFLOP/s: torch.mm of the same shapes timed every "
              f"{sampler.every} steps in the loop, {cfg.threads} threads); load average {os.getloadavg()[0]:.2f}"
              + (f"; threads between the matmuls (step: count) {', '.join(f'{s}: {n}' for s, n in res.threads_between)}"
                 if res.threads_between else ""), flush=True)
    res = runs[0][1]
    for i, (mode, other, _) in enumerate(runs[1:], 2):
        same = (other.metrics == res.metrics and other.history["train_nll"] == res.history["train_nll"]
                and all(torch.equal(a, b) for a, b in zip(res.net.state_dict().values(), other.net.state_dict().values())))
        print(f"run {i} ({mode}) vs run 1 ({modes[0]}): weights, training losses and validation metrics "
              f"{'identical' if same else 'DIFFERENT'}")
    if len(set(modes)) < len(modes):      # repeated modes: their loops added up
        print("in all: " + ", ".join(f"{m} {sum(r.loop_s for k, r, _ in runs if k == m):.1f} s "
                                     f"= {sum(r.loop_s for k, r, _ in runs if k == m) / sum(f for k, _, f in runs if k == m):.2f}x "
                                     f"(x{modes.count(m)})" for m in dict.fromkeys(modes)))
    json_path, _, curve = save_result(res, args.out, command="scripts/bench_train.py " + " ".join(argv or sys.argv[1:]))
    m = res.metrics
    print(f"train wall time ({modes[0]}): {res.wall_s:.1f} s for {cfg.steps} steps x {cfg.batch_size} "
          f"({cfg.blocks}x{cfg.hidden} MLP, {res.data_recipe['epochs']:.2f} epochs)")
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
