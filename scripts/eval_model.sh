#!/usr/bin/env bash
# The learned model's evaluation tables (README "Results"), from a fresh clone (~15 min on 2 cores):
# synthetic hold-out with modelled noise and with the real detector on renders, then real data.
set -euo pipefail
cd "$(dirname "$0")/.."
X=.venv/bin/deepx
W=${WORK:-runs/model}
mkdir -p "$W"
NOISE=models/deepx_default_noise.json
[ -f "$W/poses_holdout.npz" ] || $X poses -n 6000 --seed 3 -o "$W/poses_holdout.npz"
$X holdout --pose-table "$W/poses_holdout.npz" -o "$W/holdout_fitted.jsonl" --noise "$NOISE" --cameras-per-pose 4 --seed 3
$X evaluate -i "$W/holdout_fitted.jsonl" -e all,models/deepx_detmix.json --group-by family
$X generate --out "$W/renders_test" --count 200 --seed 4 --resolution 640 --samples 4 --cameras-per-pose 1 \
    --distance 2 40 --downscale 0.5,0.25 --quiet
[ -f "$W/detections_test.jsonl" ] || $X detect --labels "$W/renders_test" -o "$W/detections_test.jsonl" -q
$X evaluate -i "$W/detections_test.jsonl" -e all,models/deepx_detmix.json --group-by family
$X evaluate -i "$W/renders_test/labels.jsonl" -e all
$X evaluate -i examples/real/kitti_train.jsonl -i examples/real/h36m_3dhp_images.jsonl -e all,models/deepx_detmix.json
