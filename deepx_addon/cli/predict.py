"""deepx predict: one output row per input row (the project's stable acceptance interface).

Streamed: rows are read, estimated and written in chunks (core/evaluation.iter_predictions), so
memory does not grow with the file; the output appears atomically when the last row is written."""
from __future__ import annotations

import json
import sys
from collections import Counter

HELP = "estimate distance for every person in a keypoint JSONL file"
MAX_WARNINGS = 20   # invalid rows named one by one on stderr; the rest are counted


def add_arguments(p):
    p.add_argument("--input", "-i", required=True, help="keypoint JSONL (see README: data format)")
    p.add_argument("--output", "-o", required=True, help="output JSONL: id, distance_m, depth_m, sigma_m, status, reason")
    p.add_argument("--estimator", "-e", default="default", help="default | bbox | shoulder_hip | sloth | model .json")
    p.add_argument("--workers", type=int, help="processes reading large files (default: $DEEPX_WORKERS or up to 2)")


def run(args) -> int:
    from ..core.estimators.base import ASSUMPTIONS, INVALID_INPUT
    from ..core.evaluation import default_workers, iter_predictions
    from ..core.outputs import prepare_outputs
    from ..core.records import RecordError, atomic_open
    from ..ml import registry
    from .errors import CliError

    prepare_outputs([args.input], [args.output])
    counts: Counter = Counter()
    try:
        est = registry.build(args.estimator, backend="auto")
        with atomic_open(args.output, "w") as fh:
            for p in iter_predictions(est, args.input, framing_checks=True, keep=(),
                                      workers=args.workers or default_workers()):
                e = p.estimate
                counts[e.status] += 1
                if e.status == INVALID_INPUT and counts[INVALID_INPUT] <= MAX_WARNINGS:
                    print(f"deepx predict: warning: {e.reason}", file=sys.stderr)
                fh.write(json.dumps(e.row(p.row_id), allow_nan=False) + "\n")
    except (RecordError, ValueError) as e:
        raise CliError(str(e)) from None
    if counts[INVALID_INPUT] > MAX_WARNINGS:
        print(f"deepx predict: warning: {counts[INVALID_INPUT] - MAX_WARNINGS} more invalid rows "
              f"(status invalid_input, reason in the output)", file=sys.stderr)
    n = sum(counts.values())
    print(f"deepx predict: {n} rows -> {args.output} ({', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))})",
          file=sys.stderr)
    print(f"deepx predict: note: {ASSUMPTIONS['stature']}", file=sys.stderr)
    return 0
