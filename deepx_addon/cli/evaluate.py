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
    p.add_argument("--group-by", metavar="FIELD", help="also tabulate per value of this row field (e.g. family)")


def evaluate_files(inputs, estimator_names, json_path=None, plot=None, out=None, group_by=None) -> dict:
    out = out or sys.stdout
    from ..core.evaluation import evaluate_predictions, group_metrics, predict_file
    from ..core.metrics import format_table
    from ..core.records import atomic_write_text
    from ..ml import registry

    estimators = {n: registry.build(n, quiet=True) for n in estimator_names}
    report = {}
    for path in inputs:
        evals = [evaluate_predictions(n, predict_file(e, path)) for n, e in estimators.items()]
        stem = Path(path).stem
        skipped = max(ev.skipped_no_truth for ev in evals)
        print(format_table({ev.estimator: ev.metrics for ev in evals},
                           f"\n{path} - distance to the pelvis (n={len(evals[0].predictions)}"
                           + (f", {skipped} rows without distance_m not scored" if skipped else "") + ")"), file=out)
        report[stem] = {"input": str(path), "estimators": {
            ev.estimator: {"distance": ev.metrics, "depth": ev.depth_metrics, "statuses": ev.statuses,
                           "rows_without_truth": ev.skipped_no_truth,
                           "model": getattr(estimators[ev.estimator], "describe", lambda: ev.estimator)()}
            for ev in evals}}
        if group_by:
            grouped = {ev.estimator: group_metrics(ev.predictions, group_by) for ev in evals}
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
        evaluate_files(args.input, names, args.json, args.plot, group_by=args.group_by)
    except (RecordError, ValueError) as e:
        raise CliError(str(e)) from None
    return 0
