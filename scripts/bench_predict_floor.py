"""`deepx predict` against a floor script that only parses, runs the features and network, and writes.

    .venv/bin/python scripts/bench_predict_floor.py [--rows 200000] [--rounds 2]

Writes ``--rows`` synthetic rows (stand-in people through random cameras, some keypoints missing)
to a temporary JSONL, then times, alternately in this one process: (a) ``deepx predict`` (the CLI's
main(), default learned model) and (b) the floor: json.loads per line, keypoints and K to arrays,
runtime/features.extract + the same ONNX network, depth -> distance, json.dumps per row, write.
Reports rows/s and the ratio a / b by wall time and by CPU time (process_time; on a machine shared
with other work CPU time is the steadier figure). Goal: <= 1.3x.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))


def write_rows(path: Path, n: int) -> None:
    import numpy as np

    from deepx_addon.core.standin import standin_data
    d = standin_data(n, seed=5)
    kp = d["keypoints_2d"].astype(float)
    kp[..., 2] = (kp[..., 2] > 0) * np.random.default_rng(1).uniform(0.2, 1.0, kp.shape[:2])
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": f"r{i}", "K": d["K"][i].tolist(), "keypoints": np.round(kp[i], 3).tolist(),
                                 "distance_m": float(d["distance_m"][i])}) + "\n")


def floor(src: Path, dst: Path, est) -> None:
    import numpy as np

    from deepx_addon.runtime import features as feat
    rows = [json.loads(line) for line in open(src, encoding="utf-8")]
    kp = np.array([r["keypoints"] for r in rows], float)
    K = np.array([r["K"] for r in rows], float)
    F = feat.extract(kp, K, est.min_conf, est.use_conf)
    out = np.full((len(rows), 2), np.nan)
    v = np.flatnonzero(F.valid)
    out[v] = est.runner(F.x[v])
    depth = F.depth_from_target(out[:, 0])
    dist = depth * F.ray_len
    sigma = math.sqrt(2.0) * np.exp(out[:, 1]) * dist
    r4 = lambda x: None if not math.isfinite(x) else round(x, 4)   # noqa: E731
    with open(dst, "w", encoding="utf-8") as fh:
        for r, a, b, c in zip(rows, dist.tolist(), depth.tolist(), sigma.tolist()):
            fh.write(json.dumps({"id": r["id"], "distance_m": r4(a), "depth_m": r4(b), "sigma_m": r4(c),
                                 "status": "ok", "reason": None}) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--rounds", type=int, default=2)
    a = p.parse_args(argv)
    import contextlib
    import io

    from deepx_addon.cli.main import main as deepx
    from deepx_addon.ml import registry
    est = registry.build("default")
    tot = {"deepx predict": [0.0, 0.0], "floor": [0.0, 0.0]}
    with tempfile.TemporaryDirectory(prefix="deepx-predict-") as tmp:
        src = Path(tmp) / "rows.jsonl"
        write_rows(src, a.rows)
        jobs = {"deepx predict": lambda: deepx(["predict", "-i", str(src), "-o", str(Path(tmp) / "a.jsonl")]),
                "floor": lambda: floor(src, Path(tmp) / "b.jsonl", est)}
        for _ in range(a.rounds):
            for name, fn in jobs.items():
                w, c = time.perf_counter(), time.process_time()
                with contextlib.redirect_stderr(io.StringIO()):
                    fn()
                tot[name][0] += time.perf_counter() - w
                tot[name][1] += time.process_time() - c
    n = a.rows * a.rounds
    for name, (w, c) in tot.items():
        print(f"{name:14s} {n / w:9.0f} rows/s wall, {n / c:9.0f} rows/s CPU")
    (wa, ca), (wb, cb) = tot["deepx predict"], tot["floor"]
    print(f"deepx predict / floor: {wa / wb:.2f}x wall, {ca / cb:.2f}x CPU ({a.rows} rows x {a.rounds} rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
