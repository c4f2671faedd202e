"""deepx evaluate: ALE / ALP / relative errors per distance bin against the file's ground truth."""
from __future__ import annotations

import json
import sys
from pathlib import Path

HELP = "score estimators on a keypoint JSONL file with ground-truth distances"


def add_arguments(p):
    p.add_argument("--input", "-i", required=True, action="append", help="keypoint JSONL with distance_m (repeatable)")
    p.add_argument("--estimator", "-e", default="all",
                   help="comma-separated names (default, bbox, shoulder_hip, sloth, model .json); 'all' = every shipped one")
    p.add_argument("--json", help="write the metrics here (default: runs/evaluate/<input>.json)")
    p.add_argument("--plot", help="save a plot of error vs distance (PNG)")
    p.add_argument("--group-by", metavar="FIELD", help="also tabulate per value of this row field (e.g. family), "
                   "or of a derived one: 'stature' (under / from 1.5 m: the generator's children / adults), "
                   "'oks_bin' (how well the detector read the keypoints); comma-separated keys combine "
                   "('stature,oks_bin'); the 'of the bias' column is each group's share of the overall bias")
    p.add_argument("--workers", type=int, help="processes reading large files (default: $DEEPX_WORKERS or up to 2)")
    p.add_argument("--stature-prior", default="mixed",
                   help="for the stature floor of rows with height_m: 'mixed' (default, the training population, "
                        "10 %% children), 'adults', or a mean stature in metres; 'none' = no floor columns")


def mean_stature(prior: str | None) -> float | None:
    """--stature-prior -> the mean stature the floor assumes (None = no floor)."""
    from ..core.body import STATURE_PRIORS, stature_prior_mean
    if prior is None or str(prior).lower() == "none":
        return None
    if prior in STATURE_PRIORS:
        return stature_prior_mean(prior)
    try:
        v = float(prior)
    except ValueError:
        raise ValueError(f"--stature-prior {prior!r}: expected {', '.join(STATURE_PRIORS)}, none or metres") from None
    if not 0.3 < v < 3.0:
        raise ValueError(f"--stature-prior {v}: a mean stature in metres must be in (0.3, 3.0)")
    return v


def evaluate_files(inputs, estimator_names, json_path=None, plot=None, out=None, group_by=None,
                   workers: int | None = None, stature_prior: str | None = "mixed") -> dict:
    out = out or sys.stdout
    mean_h = mean_stature(stature_prior)
    from ..core.evaluation import default_workers, evaluate_predictions, group_fields, group_metrics, iter_predictions
    from ..core.metrics import format_table
    from ..core.records import atomic_write_text
    from ..ml import registry

    from ..core.outputs import prepare_outputs

    keys = input_keys(inputs)
    prepare_outputs(inputs, [_per_input(json_path, k, len(inputs), Path("runs/evaluate") / f"{k}.json") for k in keys]
                    + [_per_input(plot, k, len(inputs), None) for k in keys])
    estimators = {n: registry.build(n, quiet=True, backend="auto") for n in estimator_names}
    report = {}
    for path, stem in zip(inputs, keys):
        keep = tuple(dict.fromkeys(group_fields(group_by) + (("height_m",) if mean_h is not None else ())))
        evals = [evaluate_predictions(n, iter_predictions(e, path, workers=workers or default_workers(), keep=keep),
                                      group_by, mean_h) for n, e in estimators.items()]
        skipped = max(ev.skipped_no_truth for ev in evals)
        print(format_table({ev.estimator: ev.metrics for ev in evals},
                           f"\n{path} - distance to the pelvis (n={evals[0].n_rows}"
                           + (f", {skipped} rows without distance_m not scored" if skipped else "") + ")"), file=out)
        if any("floor_median_rel" in ev.metrics["all"] for ev in evals):
            print(f"floor = median |{mean_h:.4f} m / true stature - 1| over the same people (stature prior "
                  f"{stature_prior}); ÷floor = median rel / floor", file=out)
        report[stem] = {"input": str(path), "estimators": {
            ev.estimator: {"distance": ev.metrics, "depth": ev.depth_metrics, "statuses": ev.statuses,
                           "rows_without_truth": ev.skipped_no_truth,
                           "model": getattr(estimators[ev.estimator], "describe", lambda: ev.estimator)()}
            for ev in evals}}
        if group_by:
            grouped = {ev.estimator: group_metrics(ev, group_by) for ev in evals}
            print(format_table(grouped, f"\n{path} - by {group_by}", groups=True, group_label=group_by), file=out)
            for name, g in grouped.items():
                report[stem]["estimators"][name][f"by_{group_by}"] = g
        jp = _per_input(json_path, stem, len(inputs), Path("runs/evaluate") / f"{stem}.json")
        atomic_write_text(jp, json.dumps(report[stem], indent=1))
        print(f"metrics written to {jp}", file=out)
        if plot:
            from ..ml.plots import error_vs_distance
            pp = _per_input(plot, stem, len(inputs), None)
            error_vs_distance(evals, pp, title=stem)
            print(f"plot written to {pp}", file=out)
    return report


def input_keys(inputs) -> list[str]:
    """One name per input for its report entry and per-input files: the file stem, made unique
    (a/test.jsonl and b/test.jsonl -> test, test_2) so one input's metrics never replace another's."""
    keys, seen = [], {}
    for path in inputs:
        stem = Path(path).stem
        seen[stem] = seen.get(stem, 0) + 1
        key = stem if seen[stem] == 1 else f"{stem}_{seen[stem]}"
        while key in keys:
            key += "_"
        keys.append(key)
    return keys


def _per_input(path, stem: str, n_inputs: int, default):
    """The user's path for one input; with several inputs, <name>_<input stem><suffix>."""
    if not path:
        return default
    p = Path(path)
    return p if n_inputs == 1 else p.with_name(f"{p.stem}_{stem}{p.suffix}")


def run(args) -> int:
    from ..core.records import RecordError
    from ..ml import registry
    from .errors import CliError

    names = []
    for n in (n.strip() for n in args.estimator.split(",")):   # 'all' expands in place: all,model.json
        names += registry.names() if n == "all" else ([n] if n else [])
    for path in args.input:
        if not Path(path).is_file():
            raise CliError(f"input file not found: {path}")
    try:
        evaluate_files(args.input, names, args.json, args.plot, group_by=args.group_by, workers=args.workers,
                       stature_prior=args.stature_prior)
    except (RecordError, ValueError) as e:
        raise CliError(str(e)) from None
    return 0
