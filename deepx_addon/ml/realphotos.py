"""The whole pipeline on real photos with ground truth: photo -> YOLO11n-pose -> each estimator.

For every row of h36m_3dhp_images.jsonl (image paths relative to that file) the photo goes through
the API with the row's K as the camera; the detection that matches the row's person (OKS) is
compared with the true distance; for reference the same estimators also run on the rows'
ground-truth 2D joints ("@gt-kp"). Evaluation only: nothing is fitted on these files.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ESTIMATORS = ("bbox", "shoulder_hip", "sloth", "default")


def evaluate_real_photos(data_dir, names=ESTIMATORS, out=None, annotate_dir=None) -> dict:
    """Prints per-image and summary tables to ``out``; returns {"rows": [...], "metrics": {...}}.
    annotate_dir: also save each photo annotated with the first estimator's result there."""
    from ..core.camera import Intrinsics
    from ..core.estimators.base import estimate_record
    from ..core.metrics import format_table, ranging_metrics
    from ..core.records import read_jsonl
    from . import registry
    from .api import DistanceEstimator, default_detector
    from ..runtime.detections import match_detections
    from .detector import read_image

    out = out or sys.stdout
    src = Path(data_dir) / "h36m_3dhp_images.jsonl"
    if not src.exists():
        raise FileNotFoundError(f"no real photos: {src} not found")
    records = read_jsonl(src)
    names = list(names)
    detector = default_detector()      # what `deepx estimate` uses (ONNX Runtime when exported)
    apis = {n: DistanceEstimator(registry.build(n, quiet=True), detector=detector) for n in names}
    labels = {n: (f"default({apis[n].estimator_name})" if n == "default" else n) for n in names}

    rows, pred, gt_pred = [], {n: [] for n in names}, {n: [] for n in names}
    for rec in records:
        img = read_image(src.parent / rec.image)
        dets = detector.detect(img)[0]
        m = match_detections(dets, [rec.keypoints])
        intr = Intrinsics.from_K(rec.K, rec.image_size)
        row = {"id": rec.id, "true_m": rec.distance_m, "n_det": len(dets), "oks": m[0].oks if m else None}
        for j, n in enumerate(names):
            res = apis[n].result_for(img, dets, camera=intr, keep_image=annotate_dir is not None and j == 0)
            person = res.persons[m[0].det] if m else None
            d = person.distance_m if person is not None else None
            row[n], row[n + "_status"] = d, (person.status if person is not None else "no_match")
            pred[n].append(np.nan if d is None else d)
            e = estimate_record(apis[n].estimator, rec)   # the same estimator on ground-truth joints
            gt_pred[n].append(np.nan if e.distance_m is None else e.distance_m)
            if annotate_dir is not None and j == 0:
                import cv2
                Path(annotate_dir).mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(Path(annotate_dir) / f"{rec.id}.jpg"), res.plot())
        rows.append(row)

    true = np.array([r.distance_m for r in records])
    w = max(len(r["id"]) for r in rows)
    print("Per image: true distance vs predicted (YOLO11n-pose keypoints, camera = the row's K)", file=out)
    print(f"{'id'.ljust(w)}  true_m  det  oks   " + "  ".join(labels[n].rjust(14) for n in names), file=out)
    for r in rows:
        vals = "  ".join((f"{r[n]:.2f}" if r[n] is not None else "-").rjust(14) for n in names)
        oks = f"{r['oks']:.2f}" if r["oks"] is not None else "-"
        print(f"{r['id'].ljust(w)}  {r['true_m']:6.2f}  {r['n_det']:3d}  {oks:4s}  {vals}", file=out)
    results = {labels[n]: ranging_metrics(pred[n], true) for n in names}
    results.update({labels[n] + "@gt-kp": ranging_metrics(gt_pred[n], true) for n in names})
    print(file=out)
    print(format_table({k: {"all": v["all"], "bins": {}} for k, v in results.items()},
                       f"ALE / relative error on {src.name} ({len(rows)} people), detector keypoints vs @gt-kp"),
          file=out)
    return {"rows": rows, "metrics": results}
