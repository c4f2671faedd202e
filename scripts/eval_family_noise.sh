#!/usr/bin/env bash
# The per-family noise experiment (issue 9, parts 5-6; README "Per-family detector noise"):
# 1. split render + real-detector pairs BY POSE (pose_index % 10 == 9 -> hold-out; never by row),
# 2. fit the plain and the per-family/view noise model on the fit side only,
# 3. fine-tune the shipped default with each (same samples, steps and seed),
# 4. score everything on the held-out poses, then (last, evaluation only) on KITTI.
# Usage: scripts/eval_family_noise.sh PAIRS.jsonl... (deepx detect output of realistic renders)
# Env: WORK (default runs/family), SAMPLES (default: runs/model/samples parts 0-9), STEPS (80).
set -euo pipefail
cd "$(dirname "$0")/.."
X=.venv/bin/deepx
W=${WORK:-runs/family}
mkdir -p "$W"
.venv/bin/python - "$W" "$@" <<'PY'
import json, sys
from pathlib import Path
out, n = Path(sys.argv[1]), {"fit": 0, "hold": 0, "torn": 0}
with open(out / "pairs_fit.jsonl", "w") as fit, open(out / "pairs_hold.jsonl", "w") as hold:
    for p in sys.argv[2:]:
        for line in open(p):
            try:
                r = json.loads(line)
            except json.JSONDecodeError:      # a torn last line of a shard still being written
                n["torn"] += 1
                continue
            side = "hold" if int(r["pose_index"]) % 10 == 9 else "fit"
            (hold if side == "hold" else fit).write(line if line.endswith("\n") else line + "\n")
            n[side] += 1
print("split by pose:", n)
PY
SAMPLES=${SAMPLES:-$(ls runs/model/samples/part-0000*.npz)}
$X fit-noise --pairs "$W/pairs_fit.jsonl" -o "$W/noise_family.json" --by-family
$X fit-noise --pairs "$W/pairs_fit.jsonl" -o "$W/noise_plain.json"
for kind in family plain; do
  [ -f "$W/model_$kind.json" ] || $X train --data $SAMPLES --out "$W/model_$kind" --quiet \
      --config init_model=models/deepx_default.json noise_model="$W/noise_$kind.json" min_conf=0.1 \
               steps=${STEPS:-80} lr=5e-4 warmup_frac=0.1 eval_every=20
done
$X evaluate -i "$W/pairs_hold.jsonl" -e all,"$W/model_family.json","$W/model_plain.json" --group-by family
$X evaluate -i examples/real/kitti_train.jsonl -e default,shoulder_hip,"$W/model_family.json","$W/model_plain.json"
