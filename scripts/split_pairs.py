"""Split render + detector pairs (scripts/render_detect.py) into a fit side and a hold-out, by pose.

    .venv/bin/python scripts/split_pairs.py --out DIR RUN_DIR [RUN_DIR ...]

A pose is on the hold-out side when ``pose_index % 10 == 9``: every camera, size and copy of that
person stays on one side, so nothing on the hold-out was seen by a noise fit or a training run that
reads the fit side. Writes into DIR:

- ``pairs_fit_det.jsonl``: fit side, detected people only (what a noise fit or a detector-row
  training run reads);
- ``pairs_hold.jsonl``: hold-out, every person-image (undetected ones score as "no estimate");
- ``hold_exact.jsonl``: the same hold-out people with their exact keypoints (a perfect detector:
  in-frame truth at confidence 1), to separate the detector's share of an error from the model's;
- ``fit_exact.jsonl``: the exact-keypoint twin of every row of ``pairs_fit_det.jsonl``. Training on
  both shows the network each rendered person once as the detector read them and once exactly, so it
  learns to correct what the detector does without moving estimates made from clean keypoints;
- ``split.json``: counts (rows, detected, distinct people per side, torn lines skipped).

Torn last lines of a pair file being written are skipped. Image paths become absolute.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HOLD_MOD, HOLD_REST = 10, 9


def is_holdout(row: dict) -> bool:
    return int(row["pose_index"]) % HOLD_MOD == HOLD_REST


def exact_row(row: dict) -> dict:
    """The row as a perfect detector would give it: truth positions, confidence 1 where in frame."""
    kp = [[x, y, 1.0] if v > 0 else [0.0, 0.0, 0.0] for x, y, v in row["gt_keypoints"]]
    return {**row, "keypoints": kp, "detected": True, "source": "exact keypoints"}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="folder for the split files (must not be a run folder)")
    p.add_argument("runs", nargs="+", help="render_detect output folders (each has pairs/*.jsonl)")
    a = p.parse_args(argv)
    out = Path(a.out).resolve()
    runs = [Path(r).resolve() for r in a.runs]
    if any(out == r or r in out.parents for r in runs):
        p.error(f"--out {out} lies inside a run folder it reads")
    out.mkdir(parents=True, exist_ok=True)
    n = {"fit_rows": 0, "fit_detected": 0, "hold_rows": 0, "hold_detected": 0, "torn_lines": 0}
    people = {"fit": set(), "hold": set()}
    tmp = {k: out / f".{k}.jsonl.part" for k in ("pairs_fit_det", "fit_exact", "pairs_hold", "hold_exact")}
    with open(tmp["pairs_fit_det"], "w") as f_fit, open(tmp["pairs_hold"], "w") as f_hold, \
            open(tmp["hold_exact"], "w") as f_exact, open(tmp["fit_exact"], "w") as f_fit_exact:
        for run in runs:
            files = sorted((run / "pairs").glob("*.jsonl"))
            if not files:
                p.error(f"{run}: no pairs/*.jsonl (not a render_detect folder?)")
            for path in files:
                for line in path.open():
                    try:
                        r = json.loads(line)
                    except json.JSONDecodeError:
                        n["torn_lines"] += 1
                        continue
                    if r.get("image"):
                        r["image"] = str(run / r["image"])
                    side = "hold" if is_holdout(r) else "fit"
                    n[side + "_rows"] += 1
                    if r.get("detected"):
                        n[side + "_detected"] += 1
                        people[side].add((str(run), r["pose_seed"]))
                    if side == "hold":
                        f_hold.write(json.dumps(r) + "\n")
                        f_exact.write(json.dumps(exact_row(r)) + "\n")
                    elif r.get("detected"):
                        f_fit.write(json.dumps(r) + "\n")
                        f_fit_exact.write(json.dumps(exact_row(r)) + "\n")
    for k, t in tmp.items():
        t.replace(out / f"{k}.jsonl")
    n["fit_people"], n["hold_people"] = len(people["fit"]), len(people["hold"])
    n["runs"] = [str(r) for r in runs]
    (out / "split.json").write_text(json.dumps(n, indent=1) + "\n")
    print(json.dumps(n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
