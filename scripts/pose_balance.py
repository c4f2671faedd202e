"""Do sampled people who hold still keep their balance? Per pose family (prints numbers, no assertions).

    .venv/bin/python scripts/pose_balance.py [--n 1000] [--seed 3] [--unchecked] [--sample-with DIR]

Draws N pose-table rows (``core/poses.sample_row``, default settings) and prints per family: its
share of the rows, the mean draws per row (``recipe["tries"]``), the share with a trunk lean added
(``recipe["balance_lean_deg"]``) and the share whose centre of mass overhangs the support polygon by
more than ``validity.BALANCE_TOL`` (``validity.balance_overhang``), with the 95th percentile of the
overhang, and the share of rows standing on a heel or a toe: a planted foot's sole pitched more than
5 degrees (``validity.sole_pitch_deg``). Walking legs are moving (a fall caught by the next step)
and seated people rest on a seat: they are measured but not held to it ("held" column).

``--unchecked`` samples without the lean and the balance check (what the presets and the jitter alone
give). ``--sample-with DIR`` samples with another checkout's code (DIR/deepx_addon, e.g. a
``git worktree`` of an older commit) in a subprocess and measures its rows with this one's
``core/validity.py``: the same measurement of the sampler before and after a change.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# run in the sampling checkout: rows -> npz (rotations, family, support, box, tries, lean, body)
_SAMPLE = r"""
import json, sys, numpy as np
sys.path.insert(0, sys.argv[1])
from deepx_addon.core import poses
from deepx_addon.core.limits import JointLimits
from deepx_addon.core.settings import GeneratorSettings
n, seed, out, unchecked = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5] == "1"
if unchecked:
    from deepx_addon.core import validity
    validity.BALANCED_FAMILIES = ()
P = poses.load_presets(); L = JointLimits.load("default"); s = GeneratorSettings()
rows = []
for i in range(n):
    body, sp = poses.sample_row(poses.pose_seed_for(seed, i), s, P, L)
    rows.append({"rot": sp.array().tolist(), "family": sp.family, "support": sp.support,
                 "box": sp.box_height_m, "legs": sp.recipe.get("legs"), "tries": sp.recipe.get("tries", 1),
                 "lean": sp.recipe.get("balance_lean_deg", 0.0), "stature": body.stature_m,
                 "proportions": body.proportions, "girth": body.girth})
json.dump(rows, open(out, "w"))
"""


def sample(code: Path, n: int, seed: int, unchecked: bool) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rows.json"
        subprocess.run([sys.executable, "-c", _SAMPLE, str(code), str(n), str(seed), str(out),
                        "1" if unchecked else "0"], check=True)
        return json.loads(out.read_text())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--unchecked", action="store_true", help="no trunk lean, no balance check")
    ap.add_argument("--sample-with", type=Path, default=ROOT, metavar="DIR",
                    help="checkout whose deepx_addon samples the rows (default: this one)")
    a = ap.parse_args(argv)
    if not (a.sample_with / "deepx_addon" / "core" / "poses.py").is_file():
        ap.error(f"--sample-with {a.sample_with}: no deepx_addon/core/poses.py there")
    sys.path.insert(0, str(ROOT))
    from deepx_addon.core import rig, validity
    from deepx_addon.core.body import BodyParams

    rows = sample(a.sample_with, a.n, a.seed, a.unchecked)
    by = defaultdict(list)
    for r in rows:
        body = BodyParams(stature_m=r["stature"], proportions=r["proportions"], girth=r["girth"])
        A, T, b, _pz, kp = validity.placed(np.asarray(r["rot"]), body, r["support"], r["box"])
        over = validity.balance_overhang(b, kp, A, T) if r["support"] == "ground" else float("nan")
        held = r["legs"] != "walk" and r["support"] == "ground" and r["family"] in validity.BALANCED_FAMILIES
        pts = rig.points(A, T, rig.CONTACT_BONE, rig.CONTACT_LOCAL)
        tilted = r["support"] == "ground" and any(abs(p) > 5 for p in validity.sole_pitch_deg(pts, b))
        by[r["family"]].append((over, r["tries"], r["lean"] != 0, held, tilted))
    print(f"{a.n} rows, seed {a.seed}, sampled with {a.sample_with}{' (unchecked)' if a.unchecked else ''}; "
          f"off balance = centre of mass > {validity.BALANCE_TOL} of stature outside the support polygon")
    print(f"{'family':10s} {'share':>6s} {'draws':>6s} {'leaned':>7s} {'held':>5s} {'off balance':>12s} "
          f"{'p95 overhang':>13s} {'sole > 5 deg':>13s}")
    for fam in sorted(by):
        v = by[fam]
        over = np.array([x[0] for x in v])
        ok = ~np.isnan(over)
        print(f"{fam:10s} {len(v) / len(rows):6.1%} {np.mean([x[1] for x in v]):6.2f} "
              f"{np.mean([x[2] for x in v]):7.1%} {np.mean([x[3] for x in v]):5.0%} "
              f"{np.mean(over[ok] > validity.BALANCE_TOL) if ok.any() else float('nan'):12.1%} "
              f"{np.percentile(over[ok], 95) if ok.any() else float('nan'):11.3f} H "
              f"{np.mean([x[4] for x in v]):13.1%}")
    print(f"all        draws per row {np.mean([r['tries'] for r in rows]):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
