"""deepx fit-noise: fit the detector-noise model on (truth, detection) pairs from `deepx detect`."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HELP = "fit the detector-noise model (core/noise.py) on deepx detect output; writes JSON + a plot"


def add_arguments(p):
    p.add_argument("--pairs", required=True, nargs="+", help="JSONL written by deepx detect")
    p.add_argument("--out", "-o", required=True, help="noise model JSON")
    p.add_argument("--plot", help="PNG: observed vs modelled error, misses and confidence per keypoint and size")
    p.add_argument("--by-family", action="store_true",
                   help="fit per size, pose family and view with correlated keypoints (core/noise_family.py)")
    p.add_argument("--shrink", type=float, default=50.0,
                   help="--by-family: weight of a cell's parent, in people (hierarchical shrinkage)")
    p.add_argument("--min-cell", type=int, default=20, help="--by-family: store cells of at least this many people")
    p.add_argument("--person-scale", action="store_true",
                   help="add a person-level size error (core/noise_scale.py): the detected / exact skeleton size "
                        "per pose family and view, applied before the per-keypoint noise")
    p.add_argument("--hip-shift", action="store_true",
                   help="add where the detector puts a flexed hip along the torso (core/noise_scale.py); "
                        "alone, or with --person-scale")
    p.add_argument("--upright-zero", action="store_true",
                   help="--person-scale: hold only what the detector does to each pose family beyond upright people "
                        "(standing, walking), whose size term then has median 0")
    p.add_argument("--inner", metavar="NOISE_JSON",
                   help="--person-scale / --hip-shift: wrap this noise model instead of the one fitted here "
                        "(e.g. models/deepx_default_noise.json, to add only those terms)")
    p.add_argument("--phantoms", action="store_true",
                   help="also fit phantom keypoints: joints outside the picture the detector still reports near the "
                        "border (needs image_size in the rows; render_detect pairs have it)")


def load_pairs(paths, meta: list | None = None):
    """(gt (n,17,3) with visibility 0/1, det (n,17,3), detected (n,) bool) from deepx detect files;
    with ``meta`` (a list), also appends (family, view) per row to it."""
    from ..core.noise_family import view_of_row
    gt, det, found = [], [], []
    for path in paths:
        for n, line in enumerate(Path(path).read_text().splitlines(), 1):
            if not line.strip():
                continue
            r = json.loads(line)
            if "gt_keypoints" not in r:
                raise ValueError(f"{path}:{n}: no gt_keypoints (not written by deepx detect)")
            gt.append(r["gt_keypoints"])
            det.append(r["keypoints"])
            found.append(bool(r.get("detected")))
            if meta is not None:
                meta.append((str(r.get("family") or "unknown"), view_of_row(r), r.get("image_size")))
    return np.asarray(gt, float), np.asarray(det, float), np.asarray(found)


def run(args) -> int:
    from ..core.noise import DetectorNoiseModel, person_height_px
    from ..core.records import atomic_write_text
    from .errors import CliError

    if args.inner and not (args.person_scale or args.hip_shift):
        raise CliError("--inner goes with --person-scale or --hip-shift")
    if args.upright_zero and not args.person_scale:
        raise CliError("--upright-zero goes with --person-scale")
    from ..core.outputs import prepare_outputs
    prepare_outputs(list(args.pairs) + ([args.inner] if args.inner else []), [args.out, args.plot])
    meta = []
    try:
        gt, det, found = load_pairs(args.pairs, meta)
    except (OSError, ValueError) as e:
        raise CliError(str(e)) from None
    if found.sum() < 50:
        raise CliError(f"only {int(found.sum())} detected people: too few to fit a noise model")
    h = person_height_px(gt)
    note = f"fitted on {int(found.sum())} YOLO11n-pose detections of rendered people ({', '.join(map(str, args.pairs))})"
    if args.by_family:
        from ..core.noise_family import FamilyNoiseModel
        family = np.array([m[0] for m in meta])
        view = np.array([m[1] for m in meta])
        fam_model = FamilyNoiseModel.fit(gt[found], det[found], h[found], family[found], view[found],
                                         shrink=args.shrink, min_cell=args.min_cell, note=note)
        model = fam_model.base
    else:
        fam_model = None
        model = DetectorNoiseModel.fit(gt[found], det[found], h[found], note=note)
    # whole-person detection rate by size: people the detector never finds get no estimate at all
    edges = [0, 16, 32, 64, 128, 256, 1e9]
    rate = {f"{lo:g}-{hi:g}px": (float(found[(h >= lo) & (h < hi)].mean()) if ((h >= lo) & (h < hi)).any() else None)
            for lo, hi in zip(edges[:-1], edges[1:])}
    model.fit_stats["person_detection_rate_by_size"] = rate
    if args.phantoms:
        sizes = [m[2] for m, f in zip(meta, found) if f]
        if any(sz is None for sz in sizes):
            raise CliError("--phantoms needs image_size in every detected row (scripts/render_detect.py pairs have it)")
        ph = DetectorNoiseModel.fit_phantoms(gt[found], det[found], np.asarray(sizes, float), model.miss_conf)
        for k, v in ph.items():
            setattr(model, k, v)
        model.validate()
        print(f"deepx fit-noise: phantoms {ph or 'none (no joint outside the picture)'}", file=sys.stderr)
    final = fam_model or model
    if args.person_scale or args.hip_shift:
        from ..core.noise_family import load_noise_model
        from ..core.noise_scale import ScaledNoiseModel
        family = np.array([m[0] for m in meta])
        view = np.array([m[1] for m in meta])
        try:
            inner = load_noise_model(args.inner) if args.inner else final
            final = ScaledNoiseModel.fit(inner, gt[found], det[found], h[found], family[found], view[found],
                                         note=note + (f"; inner model {args.inner}" if args.inner else ""),
                                         size=args.person_scale, hips=args.hip_shift,
                                         upright_zero=args.upright_zero)
        except ValueError as e:
            raise CliError(str(e)) from None
        if args.person_scale:
            med = {k: round(100 * (np.exp(q[len(q) // 2]) - 1), 1) for k, q in final.cells.items() if "/" not in k}
            print(f"deepx fit-noise: person scale, median detected/exact size - 1 (%) per family: {med}",
                  file=sys.stderr)
        if args.hip_shift:
            print("deepx fit-noise: hip shift (up, perp; % of the torso) per flexion bin <20/20-45/45-70/70-95/95-120/"
                  ">=120 deg: " + ", ".join(f"{100 * u:+.1f}/{100 * v:+.1f}" for u, v in final.hip_shift), file=sys.stderr)
    atomic_write_text(args.out, final.to_json())
    if fam_model is not None:
        st = fam_model.fit_stats
        print(f"deepx fit-noise: {st['cells']} cells; families {st['families']}; views {st['views']}", file=sys.stderr)
    print(f"deepx fit-noise: {int(found.sum())}/{len(found)} people detected; rate by size {rate}", file=sys.stderr)
    from ..core.keypoints import COCO_KEYPOINTS
    print("deepx fit-noise: per keypoint jitter SD (% of size) / bias dx,dy (% of size):", file=sys.stderr)
    print("  " + ", ".join(f"{n} {100 * j:.1f}/{100 * b[0]:+.1f},{100 * b[1]:+.1f}"
                           for n, j, b in zip(COCO_KEYPOINTS, model.jitter, model.bias)), file=sys.stderr)
    if args.plot:
        from ..ml.noise_plot import plot_noise_fit
        plot_noise_fit(model, gt[found], det[found], h[found], args.plot, title="YOLO11n-pose on DeepX renders")
        print(f"deepx fit-noise: plot -> {args.plot}", file=sys.stderr)
    print(f"deepx fit-noise: model -> {args.out}", file=sys.stderr)
    return 0
