"""Where the real detector puts a rendered person's joints, against the truth.

    .venv/bin/python scripts/detector_vs_truth.py PAIRS.jsonl [PAIRS2.jsonl ...] [--decompose]

Reads (truth, detection) pair rows (scripts/render_detect.py, `deepx detect`) and prints, over
detected people who are not cut by the border:

1. **segment lengths**: median detected / true length of torso (mid-shoulder to mid-hip), thigh,
   shin, upper arm, shoulder width, hip width and nose to mid-shoulder, with every end point visible
   (visibility 2) and detected with confidence >= 0.3, true length >= 6 px;
2. **offsets** of single joints for upright people (standing, walking, hands up): median vertical
   offset (detected - true, + = down) as a share of the person's height, and for people seen from
   the front or back (yaw within 40 deg) the sideways offset (+ = away from the body's middle);
3. with ``--by-size``: the segment ratios again per bin of the person's height in pixels (does the
   detector read small people shorter than big ones?);
4. with ``--decompose``: the default model's median signed error with the detected keypoints, then
   with one group (face, shoulders, arms, hips, knees, ankles, all) replaced by the truth — how much
   of the detector-induced bias each group carries. It runs ``deepx predict`` in this interpreter.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

SEGMENTS = {"torso": ((5, 6), (11, 12)), "thigh": ((11, 12), (13, 14)), "shin": ((13, 14), (15, 16)),
            "upper arm": ((5, 6), (7, 8)), "shoulder width": ((5,), (6,)), "hip width": ((11,), (12,)),
            "nose-shoulders": ((0,), (5, 6))}
GROUPS = {"face": [0, 1, 2, 3, 4], "shoulders": [5, 6], "arms": [7, 8, 9, 10], "hips": [11, 12],
          "knees": [13, 14], "ankles": [15, 16], "all": list(range(17))}
SIZE_EDGES = (16, 32, 64, 128, 256, 100000)
JOINTS = {"nose": 0, "left shoulder": 5, "right shoulder": 6, "left hip": 11, "right hip": 12,
          "left knee": 13, "right knee": 14, "left ankle": 15, "right ankle": 16}


def read_rows(paths) -> list[dict]:
    rows = []
    for p in paths:
        for line in open(p):
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            if r.get("detected") and not r.get("truncated"):
                rows.append(r)
    return rows


def _mid(k, idx):
    return np.mean([k[i][:2] for i in idx], axis=0)


def segment_ratios(rows) -> dict[str, tuple[int, float]]:
    out = {}
    for name, (a, b) in SEGMENTS.items():
        rat = []
        for r in rows:
            d, g, vis = np.array(r["keypoints"]), np.array(r["gt_keypoints"]), r.get("visibility")
            if any(d[i][2] < 0.3 for i in a + b) or (vis and any(vis[i] != 2 for i in a + b)):
                continue
            lg = np.linalg.norm(_mid(g, a) - _mid(g, b))
            if lg >= 6:
                rat.append(np.linalg.norm(_mid(d, a) - _mid(d, b)) / lg)
        out[name] = (len(rat), float(np.median(rat)) if rat else float("nan"))
    return out


def joint_offsets(rows) -> dict[str, tuple[int, float, int, float]]:
    up = [r for r in rows if r.get("family") in ("standing", "walking", "hands_up")]
    out = {}
    for name, j in JOINTS.items():
        dy, dx = [], []
        for r in up:
            d, g, h = r["keypoints"], r["gt_keypoints"], r.get("person_height_px") or 0
            if h <= 0 or d[j][2] < 0.3 or r["visibility"][j] != 2:
                continue
            dy.append((d[j][1] - g[j][1]) / h)
            yaw = r.get("person_yaw_deg")
            yaw = 90.0 if yaw is None else yaw % 360    # no yaw: not counted as front/back
            if min(yaw, abs(yaw - 180), 360 - yaw) < 40:
                cx = (g[5][0] + g[6][0] + g[11][0] + g[12][0]) / 4
                dx.append(np.sign(g[j][0] - cx) * (d[j][0] - g[j][0]) / h)
        out[name] = (len(dy), float(np.median(dy)) if dy else float("nan"),
                     len(dx), float(np.median(dx)) if dx else float("nan"))
    return out


def decompose(rows, estimator="default") -> dict[str, tuple[int, float]]:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for g, idx in {"none": [], **GROUPS}.items():
            src, dst = Path(tmp) / f"{g}.jsonl", Path(tmp) / f"{g}.out.jsonl"
            with open(src, "w") as f:
                for r in rows:
                    kp = [list(k) for k in r["keypoints"]]
                    for i in idx:
                        x, y, v = r["gt_keypoints"][i]
                        kp[i] = [x, y, 0.9] if v > 0 else [0.0, 0.0, 0.0]
                    f.write(json.dumps({**r, "keypoints": kp}) + "\n")
            subprocess.run([sys.executable, "-m", "deepx_addon.cli", "predict", "-i", str(src), "-o", str(dst),
                            "--estimator", estimator], check=True, capture_output=True)
            rel = [p["distance_m"] / r["distance_m"] - 1 for p, r in
                   zip(map(json.loads, open(dst)), rows) if p.get("distance_m")]
            out[g] = (len(rel), float(np.median(rel)) if rel else float("nan"))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("pairs", nargs="+")
    p.add_argument("--decompose", action="store_true", help="also split the default model's bias by joint group")
    p.add_argument("--by-size", action="store_true", help="segment ratios per person height (px) bin too")
    p.add_argument("--estimator", default="default")
    a = p.parse_args(argv)
    rows = read_rows(a.pairs)
    print(f"{len(rows)} detected people, not cut by the border")
    print("segment            n     detected / true (median)")
    for name, (n, m) in segment_ratios(rows).items():
        print(f"  {name:15s} {n:5d}  {m:.3f}")
    if a.by_size:
        h = np.array([r.get("person_height_px") or 0 for r in rows], float)
        bins = [b for b in zip(SIZE_EDGES[:-1], SIZE_EDGES[1:]) if ((h >= b[0]) & (h < b[1])).any()]
        by = [segment_ratios([r for r, hh in zip(rows, h) if lo <= hh < hi]) for lo, hi in bins]
        print("segment ratio by person height (px): " + "  ".join(f"{lo:g}-{hi:g}" for lo, hi in bins))
        for name in SEGMENTS:
            print(f"  {name:15s} " + "  ".join(f"{m:.3f} (n={n})" if n else "-" for n, m in (b[name] for b in by)))
    print("joint (upright)    n   vertical offset (+down, % of height)    n   sideways (+outward, front/back views)")
    for name, (n, dy, m, dx) in joint_offsets(rows).items():
        print(f"  {name:15s} {n:5d}  {dy * 100:+.2f} %                          {m:5d}  {dx * 100:+.2f} %")
    if a.decompose:
        print(f"{a.estimator}: median signed error with the detected keypoints, and with one group taken from the truth")
        for g, (n, m) in decompose(rows, a.estimator).items():
            print(f"  truth for {g:9s} n={n:5d}  {m * 100:+.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
