"""deepx predict: one output row per input row (the project's stable acceptance interface)."""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

HELP = "estimate distance for every person in a keypoint JSONL file"


def add_arguments(p):
    p.add_argument("--input", "-i", required=True, help="keypoint JSONL (see README: data format)")
    p.add_argument("--output", "-o", required=True, help="output JSONL: id, distance_m, depth_m, sigma_m, status, reason")
    p.add_argument("--estimator", "-e", default="default", help="default | bbox | shoulder_hip | sloth | model .json")


def run(args) -> int:
    from ..core.evaluation import predict_file
    from ..core.records import RecordError, write_jsonl
    from ..ml import registry
    from .errors import CliError

    if Path(args.output).resolve() == Path(args.input).resolve():
        raise CliError("--output must differ from --input (the input would be overwritten)")
    try:
        est = registry.build(args.estimator)
        preds = predict_file(est, args.input)
    except (RecordError, ValueError) as e:
        raise CliError(str(e)) from None
    for p in preds:
        if p.estimate.status == "invalid_input":
            print(f"deepx predict: warning: {p.estimate.reason}", file=sys.stderr)
    write_jsonl(args.output, [p.estimate.row(p.row_id) for p in preds])
    counts = Counter(p.estimate.status for p in preds)
    print(f"deepx predict: {len(preds)} rows -> {args.output} ({', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))})",
          file=sys.stderr)
    return 0
