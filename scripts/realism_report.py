"""How the real detector sees rendered people: recall against person height, face and torso.

    .venv/bin/python scripts/realism_report.py PAIRS.jsonl [PAIRS2.jsonl ...] [--label NAME] [--json OUT]

Reads (truth, detection) pair rows (`deepx detect` output or scripts/render_detect.py's pairs) and
prints, per person-height bin (pixels; ``person_height_px`` when the row has it, else the height
of the clipped truth box ``bbox_xyxy``): rows, recall (detected / rows), and recall of people
that are neither cut by the border nor hidden (>= 15 of 17 keypoints visible). Then, on detected
people >= 64 px tall: the mean detector confidence of the face keypoints for people facing the
camera (|person_yaw_deg| <= 45 deg; rows without a yaw are left out) and the median ratio of the
detected torso length (mid-shoulder to mid-hip) to the true one, when all four are visible and
detected with confidence >= 0.5. Run it on the old and the new generator's pairs to compare.

Last, the detected people 16-600 px tall: how many person-images and how many distinct people. A person
is counted once however many cameras, scales and images show them: the rows' ``body`` and ``outfit``
(render rows) within one run folder (the folder above ``pairs/``) identify them; rows without a body
count once per (sample_id, person).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

BINS = (12, 16, 24, 32, 48, 64, 96, 128, 192, 300, 600, 10000)
FACE = {"nose": 0, "eyes": (1, 2), "ears": (3, 4)}


def _height(r) -> float:
    h = r.get("person_height_px")
    if h is None:
        b = r.get("bbox_xyxy") or [0, 0, 0, 0]
        h = b[3] - b[1]
    return float(h)


COUNT_PX = (16, 600)     # issue 9's size range for "detected people"


def load(paths) -> list[dict]:
    """Rows of every file; each gets ``_run``: the run folder (above pairs/) or the file itself."""
    rows = []
    for p in paths:
        p = Path(p).resolve()
        run = str(p.parent.parent if p.parent.name == "pairs" else p)
        with open(p) as f:
            for line in f:
                try:
                    r = json.loads(line)
                except json.JSONDecodeError:
                    continue            # a torn last line of a running job
                r["_run"] = run
                rows.append(r)
    return rows


def person_key(r: dict) -> tuple:
    """Who this row shows: the same person seen by another camera or at another scale gets the same key."""
    if r.get("body") is not None:
        return r.get("_run"), json.dumps(r["body"], sort_keys=True), json.dumps(r.get("outfit"), sort_keys=True)
    return r.get("_run"), r.get("sample_id", r.get("id")), r.get("person", 0)


def distinct_people(rows) -> tuple[int, int]:
    """(detected person-images COUNT_PX tall, distinct people among them)."""
    lo, hi = COUNT_PX
    hit = [r for r in rows if r.get("detected") and lo <= _height(r) <= hi]
    return len(hit), len({person_key(r) for r in hit})


def report(rows) -> dict:
    h = np.array([_height(r) for r in rows])
    det = np.array([bool(r.get("detected")) for r in rows])
    trunc = np.array([bool(r.get("truncated", False)) for r in rows])
    hidden = np.array([any(o in ("person", "clutter", "occluder", "umbrella") for o in (r.get("occluded_by") or []))
                       for r in rows])
    clear = ~trunc & ~hidden
    bins = []
    for lo, hi in zip(BINS[:-1], BINS[1:]):
        m = (h >= lo) & (h < hi)
        mc = m & clear
        bins.append({"px": [lo, hi], "rows": int(m.sum()), "recall": float(det[m].mean()) if m.any() else None,
                     "clear_rows": int(mc.sum()), "clear_recall": float(det[mc].mean()) if mc.any() else None})
    big = det & (h >= 64)
    face = {}
    fr = [r for r, b in zip(rows, big) if b and r.get("person_yaw_deg") is not None
          and min(r["person_yaw_deg"] % 360, 360 - r["person_yaw_deg"] % 360) <= 45]
    for name, idx in FACE.items():
        c = [np.mean(np.asarray(r["keypoints"])[np.atleast_1d(idx), 2]) for r in fr]
        face[name] = float(np.mean(c)) if c else None
    ratios = []
    for r, b in zip(rows, big):
        if not b:
            continue
        k, g = np.asarray(r["keypoints"], float), np.asarray(r["gt_keypoints"], float)
        v = np.asarray(r.get("visibility", [2] * 17))
        if (k[[5, 6, 11, 12], 2] >= 0.5).all() and (v[[5, 6, 11, 12]] == 2).all():
            t_det = np.linalg.norm((k[5, :2] + k[6, :2]) / 2 - (k[11, :2] + k[12, :2]) / 2)
            t_gt = np.linalg.norm((g[5, :2] + g[6, :2]) / 2 - (g[11, :2] + g[12, :2]) / 2)
            if t_gt > 1:
                ratios.append(t_det / t_gt)
    n_images, n_people = distinct_people(rows)
    return {"rows": len(rows), "detected": int(det.sum()), "recall": float(det.mean()) if len(det) else None,
            "detected_16_600px": n_images, "distinct_people_16_600px": n_people,
            "bins": bins, "face_conf_frontal": face, "n_frontal": len(fr),
            "torso_ratio_median": float(np.median(ratios)) if ratios else None, "n_torso": len(ratios)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("pairs", nargs="+")
    p.add_argument("--label", default="")
    p.add_argument("--json")
    a = p.parse_args(argv)
    rep = report(load(a.pairs))
    print(f"{a.label} rows {rep['rows']}, detected {rep['detected']} (recall {rep['recall']:.3f})")
    print(f"{'height px':>12} {'rows':>6} {'recall':>7} {'clear':>6} {'recall':>7}")
    for b in rep["bins"]:
        if b["rows"]:
            cr = "" if b["clear_recall"] is None else f"{b['clear_recall']:.3f}"
            print(f"{b['px'][0]:>5}-{b['px'][1]:<6} {b['rows']:>6} {b['recall']:>7.3f} {b['clear_rows']:>6} {cr:>7}")
    f = rep["face_conf_frontal"]
    fmt = lambda x: "n/a" if x is None else f"{x:.2f}"   # noqa: E731
    print(f"face keypoint confidence, detected frontal people >= 64 px (n={rep['n_frontal']}): "
          f"nose {fmt(f['nose'])}, eyes {fmt(f['eyes'])}, ears {fmt(f['ears'])}")
    print(f"detected / true torso length, median (n={rep['n_torso']}): {fmt(rep['torso_ratio_median'])}")
    print(f"detected people {COUNT_PX[0]}-{COUNT_PX[1]} px tall: {rep['detected_16_600px']} person-images of "
          f"{rep['distinct_people_16_600px']} distinct people")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rep, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
