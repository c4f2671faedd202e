"""Cold start of `deepx predict` (one row) and `deepx estimate` (one image) against bare floors, one run.

    .venv/bin/python scripts/bench_cold_start.py [--runs 5] [--image PHOTO]

Each command is a fresh process (what a user waits for), timed wall-clock; runs are interleaved and
the median is reported. Floors: ``python -c "import numpy, onnxruntime"`` for predict, and a bare
detector script (numpy + OpenCV + ONNX Runtime: read the image, letterbox, run YOLO11n-pose once)
for estimate. For reference the same commands on torch (the old default): predict with the model's
torch backend, estimate with ``--weights`` (Ultralytics). Goals: predict <= 0.8 s or <= 2x its
floor; estimate <= 3 s or <= 2x its floor. The ONNX files: models/deepx_default.onnx (shipped) and
the pose graph of ``scripts/export_onnx.py --dynamic``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BARE_DETECTOR = """
import sys, numpy as np, cv2, onnxruntime as ort
s = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
img = cv2.imread(sys.argv[2]); h, w = img.shape[:2]; r = 640 / max(h, w)
im = cv2.resize(img, (round(w * r), round(h * r)))
pad = np.full((-(-im.shape[0] // 32) * 32, -(-im.shape[1] // 32) * 32, 3), 114, np.uint8)
pad[:im.shape[0], :im.shape[1]] = im
y = s.run(None, {s.get_inputs()[0].name: pad[None, :, :, ::-1].transpose(0, 3, 1, 2).astype(np.float32) / 255})[0]
print((y[0, 4] > 0.25).sum())
"""


def _synthetic_row(path: Path) -> None:
    from deepx_addon.core.standin import standin_data
    d = standin_data(1, seed=1)
    kp = d["keypoints_2d"][0].astype(float)
    kp[:, 2] = (kp[:, 2] > 0).astype(float)
    path.write_text(json.dumps({"id": "bench", "K": d["K"][0].tolist(), "keypoints": kp.tolist()}) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--image", help="a photo (default: a synthetic 640x480 frame with a dark figure)")
    a = p.parse_args(argv)
    from deepx_addon.ml.detector import find_weights
    from deepx_addon.runtime.detector import find_pose_onnx

    onnx = find_pose_onnx(dynamic=True)
    if onnx is None:
        raise SystemExit("no dynamic pose ONNX: run scripts/export_onnx.py --dynamic first")
    py = sys.executable
    env = dict(os.environ, PYTHONPATH=str(ROOT), YOLO_OFFLINE="1")
    with tempfile.TemporaryDirectory(prefix="deepx-cold-") as tmp:
        tmp = Path(tmp)
        row = tmp / "row.jsonl"
        _synthetic_row(row)
        image = a.image
        if image is None:
            import cv2
            import numpy as np
            img = np.full((480, 640, 3), 128, np.uint8)
            img[100:420, 290:350] = 40
            image = str(tmp / "frame.png")
            cv2.imwrite(image, img)
        torch_predict = ("import sys; import deepx_addon.runtime.model as m; m.auto_backend = lambda *a, **k: 'torch'; "
                         "from deepx_addon.cli.main import main; sys.exit(main(sys.argv[1:]))")
        cmds = {
            "floor: python -c 'import numpy, onnxruntime'": [py, "-c", "import numpy, onnxruntime"],
            "deepx predict, 1 row": [py, "-m", "deepx_addon.cli", "predict", "-i", str(row), "-o", str(tmp / "o.jsonl")],
            "  (torch network, the old default)": [py, "-c", torch_predict, "predict", "-i", str(row), "-o", str(tmp / "o2.jsonl")],
            "floor: bare ONNX detector script": [py, "-c", BARE_DETECTOR, str(onnx), image],
            "deepx estimate, 1 image": [py, "-m", "deepx_addon.cli", "estimate", image, "--focal-px", "1000",
                                        "-o", str(tmp / "est")],
            "  (torch + Ultralytics, the old default)": [py, "-m", "deepx_addon.cli", "estimate", image, "--focal-px",
                                                         "1000", "-o", str(tmp / "est2"), "--weights", str(find_weights())],
        }
        times = {k: [] for k in cmds}
        for _ in range(a.runs):
            for k, c in cmds.items():
                t = time.perf_counter()
                subprocess.run(c, cwd=tmp, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                times[k].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    keys = list(cmds)
    print(f"cold start, median of {a.runs} fresh processes (load before start {os.getloadavg()[0]:.1f})")
    for i, k in enumerate(keys):
        floor = med[keys[0]] if i < 3 else med[keys[3]]
        print(f"{k:45s} {med[k]:6.2f} s  {med[k] / floor:5.2f}x floor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
