#!/usr/bin/env bash
# The per-family noise experiment (issue 9, parts 5-6; README "Per-family detector noise"):
# 1. split render + real-detector pairs BY POSE (pose_index % 10 == 9 -> hold-out; never by row),
# 2. fit the plain and the per-family/view noise model on the fit side only,
# 3. fine-tune the shipped default with each (same samples, steps and seed),
# 4. fine-tune it with the fit side's detected rows used directly (detrows A/B: 0.2 / 0.3 of each
#    batch, capped at 10 / 20 uses per row, camera turned N(0, 5 deg) per draw),
# 5. score everything on the held-out poses, then (last, evaluation only) on KITTI.
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
with open(out / "pairs_fit.jsonl", "w") as fit, open(out / "pairs_hold.jsonl", "w") as hold, \
        open(out / "pairs_fit_det.jsonl", "w") as fit_det:
    for p in sys.argv[2:]:
        for line in open(p):
            try:
                r = json.loads(line)
            except json.JSONDecodeError:      # a torn last line of a shard still being written
                n["torn"] += 1
                continue
            side = "hold" if int(r["pose_index"]) % 10 == 9 else "fit"
            line = line if line.endswith("\n") else line + "\n"
            (hold if side == "hold" else fit).write(line)
            if side == "fit" and r.get("detected"):    # training rows: the detector found the person
                fit_det.write(line)
            n[side] += 1
print("split by pose:", n)
PY
SAMPLES=${SAMPLES:-$(ls runs/model/samples/part-0000*.npz)}
$X fit-noise --pairs "$W/pairs_fit.jsonl" -o "$W/noise_family.json" --by-family
$X fit-noise --pairs "$W/pairs_fit.jsonl" -o "$W/noise_plain.json"
for kind in family plain; do
  [ -f "$W/model_$kind.json" ] || $X train --data $SAMPLES --out "$W/model_$kind" --quiet \
      --config init_model=models/deepx_base.json noise_model="$W/noise_$kind.json" min_conf=0.1 \
               steps=${STEPS:-80} lr=5e-4 warmup_frac=0.1 eval_every=20
done
for arm in "A 0.2 10" "B 0.3 20"; do
  set -- $arm
  [ -f "$W/model_detrows_$1.json" ] || $X train --data $SAMPLES "$W/pairs_fit_det.jsonl" --out "$W/model_detrows_$1" \
      --quiet --config init_model=models/deepx_base.json noise_model=models/deepx_default_noise.json \
      min_conf=0.1 detector_fraction=$2 detector_max_repeats=$3 detector_rotate_deg=5 batch_size=2048 \
      steps=${DET_STEPS:-120} lr=3e-4 warmup_frac=0.1 eval_every=20
done
M="$W/model_family.json,$W/model_plain.json,$W/model_detrows_A.json,$W/model_detrows_B.json"
$X evaluate -i "$W/pairs_hold.jsonl" -e all,$M --group-by family
$X evaluate -i examples/real/kitti_train.jsonl -e default,shoulder_hip,$M
