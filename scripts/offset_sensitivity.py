"""How far do estimates move if the detector placed the hips or shoulders elsewhere? (no real data)

    .venv/bin/python scripts/offset_sensitivity.py DET.jsonl [-e default,models/deepx_base.json,shoulder_hip]
        [--hip-drop 0.022] [--shoulder-width 1.232]

DET.jsonl: render + detector rows (scripts/render_detect.py, split_pairs.py). For the upright people whose
shoulders and hips the detector read (confidence > 0.5) and who are not cut by the border, the detector's
keypoints are moved and every estimator predicts again:

- ``--hip-drop F``: both hips move F x the person's height (px) down the torso (mid-shoulder -> mid-hip);
- ``--shoulder-width R``: the shoulders move apart R times about their midpoint.

The defaults are the renders' own offsets against COCO's convention (README, "How much of YOLO's offset is
COCO's convention": hips 2.2 % of the height above it, shoulders 0.755x against 0.93x wide), so the table
says how differently a model would read a person whom the detector reads by the convention. Printed per
estimator: the median signed error as read and moved, and the median change of the distance.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deepx_addon.core.keypoints import L_HIP, L_SHOULDER as L_SH, R_HIP, R_SHOULDER as R_SH, drop_hips  # noqa: E402

MIN_CONF = 0.5


def readable(row: dict) -> bool:
    """Detected, whole (not truncated), both shoulders and hips read with confidence > MIN_CONF."""
    if not row.get("detected") or row.get("truncated"):
        return False
    k = row.get("keypoints") or []
    return len(k) == 17 and all(k[j][2] > MIN_CONF for j in (L_SH, R_SH, L_HIP, R_HIP))


def moved_keypoints(row: dict, hip_drop: float = 0.0, shoulder_width: float = 1.0) -> np.ndarray:
    """The row's detector keypoints (17, 3) with the hips moved hip_drop x person_height_px down the
    torso and the shoulders spread shoulder_width times about their midpoint (which keeps the torso's
    direction)."""
    k = np.array(row["keypoints"], float)
    ms = (k[L_SH, :2] + k[R_SH, :2]) / 2
    for j in (L_SH, R_SH):
        k[j, :2] = ms + (k[j, :2] - ms) * shoulder_width
    return drop_hips(k, hip_drop, float(row["person_height_px"]))


def sensitivity(rows: list[dict], estimators: list[str], hip_drop: float, shoulder_width: float) -> dict:
    """estimator -> variant -> (median signed relative error, median relative change against as read)."""
    from deepx_addon.core.evaluation import predict_file
    from deepx_addon.ml import registry

    variants = {"as read": (0.0, 1.0), "shoulders moved": (0.0, shoulder_width), "hips moved": (hip_drop, 1.0),
                "both": (hip_drop, shoulder_width)}
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for name, (hd, sw) in variants.items():
            files[name] = Path(tmp) / f"{name.replace(' ', '_')}.jsonl"
            files[name].write_text("".join(
                json.dumps({**r, "keypoints": moved_keypoints(r, hd, sw).tolist()}) + "\n" for r in rows))
        for e in estimators:
            est = registry.build(e, quiet=True)
            res, base = {}, None
            for name, f in files.items():
                preds = predict_file(est, f)
                d = np.array([np.nan if p.estimate.distance_m is None else p.estimate.distance_m for p in preds])
                t = np.array([p.true_distance_m for p in preds], float)
                base = d if base is None else base
                res[name] = (float(np.nanmedian(d / t - 1)), float(np.nanmedian(d / base - 1)))
            out[e] = res
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("pairs")
    p.add_argument("-e", "--estimators", default="default,models/deepx_base.json,shoulder_hip")
    p.add_argument("--hip-drop", type=float, default=0.022, help="fraction of the person's height (default 0.022)")
    p.add_argument("--shoulder-width", type=float, default=0.93 / 0.755, help="factor (default 0.93/0.755)")
    a = p.parse_args(argv)
    rows = []
    for i, line in enumerate(Path(a.pairs).read_text().splitlines(), 1):
        if line.strip():
            try:
                r = json.loads(line)
            except json.JSONDecodeError as exc:
                p.error(f"{a.pairs}:{i}: not JSON ({exc})")
            if readable(r):
                rows.append(r)
    if not rows:
        p.error(f"{a.pairs}: no detected, whole person with both shoulders and hips read")
    print(f"{len(rows)} people with shoulders and hips read; hips {a.hip_drop:+.3f} x height down the torso, "
          f"shoulders x{a.shoulder_width:.3f} apart")
    print(f"{'estimator':30s} {'variant':16s} {'median signed':>14s} {'distance change':>16s}")
    for e, res in sensitivity(rows, a.estimators.split(","), a.hip_drop, a.shoulder_width).items():
        for name, (signed, change) in res.items():
            print(f"{e:30s} {name:16s} {100 * signed:+13.1f}% {100 * change:+15.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
