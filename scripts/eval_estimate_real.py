"""Real check of the whole pipeline (photo -> YOLO11n-pose -> estimator) on the shared real photos.

    .venv/bin/python scripts/eval_estimate_real.py [--data ../shared/data/real] [--json out.json]

For every row of h36m_3dhp_images.jsonl (image paths relative to that file) the photo goes through
the API with the row's K as the camera; the detection that matches the row's person (OKS) is
compared with the true distance. Printed: per image true vs predicted per estimator, then ALE /
mean relative error per estimator; for reference the same estimators on the rows' ground-truth
2D joints ("@gt-kp"). Evaluation only: nothing is fitted on these files.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("YOLO_OFFLINE", "1")

ESTIMATORS = ("bbox", "shoulder_hip", "sloth", "default")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "real"))
    p.add_argument("--estimators", default=",".join(ESTIMATORS))
    p.add_argument("--json", help="also write the per-image numbers and metrics here")
    a = p.parse_args(argv)

    import numpy as np

    from deepx_addon.core.camera import Intrinsics
    from deepx_addon.core.estimators.base import estimate_record
    from deepx_addon.core.metrics import format_table, ranging_metrics
    from deepx_addon.core.records import read_jsonl
    from deepx_addon.ml import registry
    from deepx_addon.ml.api import DistanceEstimator
    from deepx_addon.ml.detector import PoseDetector, match_detections, read_image

    src = Path(a.data) / "h36m_3dhp_images.jsonl"
    if not src.exists():
        print(f"no real photos: {src} not found (pass --data)", file=sys.stderr)
        return 2
    records = read_jsonl(src)
    names = [n.strip() for n in a.estimators.split(",") if n.strip()]
    detector = PoseDetector()
    apis = {n: DistanceEstimator(registry.build(n, quiet=True), detector=detector) for n in names}
    labels = {n: (f"default({apis[n].estimator_name})" if n == "default" else n) for n in names}

    rows, pred = [], {n: [] for n in names}
    gt_pred = {n: [] for n in names}
    for rec in records:
        img = read_image(src.parent / rec.image)
        dets = detector.detect(img)[0]
        m = match_detections(dets, [rec.keypoints])
        intr = Intrinsics.from_K(rec.K, rec.image_size)
        row = {"id": rec.id, "true_m": rec.distance_m, "n_det": len(dets), "oks": m[0].oks if m else None}
        for n in names:
            res = apis[n].result_for(img, dets, camera=intr, keep_image=False)
            person = res.persons[m[0].det] if m else None
            d = person.distance_m if person is not None else None
            row[n] = d
            row[n + "_status"] = person.status if person is not None else "no_match"
            pred[n].append(np.nan if d is None else d)
            e = estimate_record(apis[n].estimator, rec)  # the same estimator on ground-truth joints
            gt_pred[n].append(np.nan if e.distance_m is None else e.distance_m)
        rows.append(row)

    true = np.array([r.distance_m for r in records])
    w = max(len(r["id"]) for r in rows)
    print("Per image: true distance vs predicted (YOLO11n-pose keypoints, camera = the row's K)")
    print(f"{'id'.ljust(w)}  true_m  det  oks   " + "  ".join(labels[n].rjust(14) for n in names))
    for r in rows:
        vals = "  ".join((f"{r[n]:.2f}" if r[n] is not None else "-").rjust(14) for n in names)
        oks = f"{r['oks']:.2f}" if r["oks"] is not None else "-"
        print(f"{r['id'].ljust(w)}  {r['true_m']:6.2f}  {r['n_det']:3d}  {oks:4s}  {vals}")
    results = {labels[n]: ranging_metrics(pred[n], true) for n in names}
    results.update({labels[n] + "@gt-kp": ranging_metrics(gt_pred[n], true) for n in names})
    print()
    print(format_table({k: {"all": v["all"], "bins": {}} for k, v in results.items()},
                       "ALE / relative error on h36m_3dhp_images (8 people), detector keypoints vs @gt-kp"))
    if a.json:
        from deepx_addon.core.records import atomic_write_text
        atomic_write_text(a.json, json.dumps({"rows": rows, "metrics": results}, indent=1, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
