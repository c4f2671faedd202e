"""Real check of the whole pipeline (photo -> YOLO11n-pose -> estimator) on the real photos in examples/real.

    .venv/bin/python scripts/eval_estimate_real.py [--data examples/real] [--json out.json]

See deepx_addon/ml/realphotos.py. Evaluation only: nothing is fitted on these files.
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


def main(argv=None) -> int:
    from deepx_addon.ml.realphotos import ESTIMATORS, evaluate_real_photos

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(ROOT / "examples" / "real"))
    p.add_argument("--estimators", default=",".join(ESTIMATORS))
    p.add_argument("--json", help="also write the per-image numbers and metrics here")
    a = p.parse_args(argv)
    try:
        rep = evaluate_real_photos(a.data, [n.strip() for n in a.estimators.split(",") if n.strip()])
    except FileNotFoundError as e:
        print(e, file=sys.stderr)
        return 2
    if a.json:
        from deepx_addon.core.records import atomic_write_text
        atomic_write_text(a.json, json.dumps(rep, indent=1, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
