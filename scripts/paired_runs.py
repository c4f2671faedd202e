"""Pair two render + detector runs made with the same seed and shards (scripts/render_detect.py):
the person-images both have finished, for a like-for-like comparison of what differs between them
(e.g. ``--body-mesh human`` against ``--body-mesh mannequin``: same poses, cameras and scenes).

    .venv/bin/python scripts/paired_runs.py --out DIR RUN_A RUN_B

Writes DIR/a.jsonl and DIR/b.jsonl: the rows (one per person per image) whose ``id`` is in both
runs, in the same order, and DIR/paired.json with the counts. Torn last lines of pair files still
being written are skipped. Then e.g. ``deepx evaluate -i DIR/a.jsonl -e ...`` and the same on b,
``scripts/realism_report.py DIR/a.jsonl`` for recall by height. ``--detected-in-both`` keeps only
the person-images detected in both runs, so estimators are scored on the same people.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def read_rows(run: Path) -> dict:
    rows = {}
    for f in sorted((run / "pairs").glob("*.jsonl")):
        for line in f.read_text().splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue        # a torn line of a shard still being written
            rows[r["id"]] = r
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("run_a")
    p.add_argument("run_b")
    p.add_argument("--detected-in-both", action="store_true",
                   help="keep only the person-images the detector found in both runs (like for like on estimates)")
    a = p.parse_args(argv)
    runs = [Path(a.run_a).resolve(), Path(a.run_b).resolve()]
    out = Path(a.out).resolve()
    if any(out == r or r in out.parents for r in runs):
        p.error(f"--out {out} lies inside a run folder it reads")
    sa, sb = (json.loads((r / "settings.json").read_text()).get("settings", {}) for r in runs)
    if sa.get("seed") != sb.get("seed"):
        p.error(f"the runs have different seeds ({sa.get('seed')} vs {sb.get('seed')}): nothing to pair")
    differ = sorted(k for k in set(sa) | set(sb) if sa.get(k) != sb.get(k))
    ra, rb = read_rows(runs[0]), read_rows(runs[1])
    common = [k for k in ra if k in rb]
    paired = len(common)
    if a.detected_in_both:
        common = [k for k in common if ra[k].get("detected") and rb[k].get("detected")]
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("a", ra), ("b", rb)):
        tmp = out / f"{name}.jsonl.part"
        tmp.write_text("".join(json.dumps(rows[k]) + "\n" for k in common))
        tmp.replace(out / f"{name}.jsonl")
    info = {"a": str(runs[0]), "b": str(runs[1]), "settings_that_differ": differ, "rows_a": len(ra), "rows_b": len(rb), "common": paired, "kept": len(common),
            "detected_a": sum(bool(ra[k].get("detected")) for k in common),
            "detected_b": sum(bool(rb[k].get("detected")) for k in common)}
    (out / "paired.json").write_text(json.dumps(info, indent=1))
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
