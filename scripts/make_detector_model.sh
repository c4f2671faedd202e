#!/usr/bin/env bash
# Fine-tunes a keypoint model on the real detector's reading of rendered people, beside the same
# people's exact keypoints (synthetic data only: nothing real is read).
#
#   scripts/make_detector_model.sh OUT RUN_DIR [RUN_DIR ...]
#
# RUN_DIRs are scripts/render_detect.py folders (realistic renders + YOLO11n-pose pairs; hours of
# rendering, resumable). Their pairs are split by pose (scripts/split_pairs.py: pose_index % 10 == 9
# is the hold-out and is never read here); the fit side's detected rows and their exact-keypoint twins
# make 30 % of every batch (each row used at most 10 times, the camera turned by N(0, 5 deg)), the rest
# are no-render samples with the modelled noise. Environment: BASE (the model fine-tuned, default
# models/deepx_base.json), NOISE (its noise model), SAMPLES (no-render sample parts, from
# scripts/make_default_model.sh), WORK (split files, default runs/detector_model), PYTHON (the
# interpreter, default .venv/bin/python), TRAIN_CONFIG (KEY=VALUE ... after the recipe's, which they
# override: e.g. TRAIN_CONFIG="steps=360 detector_max_repeats=30" for a variant of the recipe).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n 2,15p "$0"; exit 2; }
OUT=$1; shift
PY=${PYTHON:-.venv/bin/python}
X="$PY -m deepx_addon.cli"
BASE=${BASE:-models/deepx_base.json}
NOISE=${NOISE:-models/deepx_default_noise.json}
SAMPLES=${SAMPLES:-runs/model/samples}
WORK=${WORK:-runs/detector_model}
parts=("$SAMPLES"/part-0000[0-5].npz)
[ -f "${parts[0]}" ] || { echo "no sample parts in $SAMPLES (run scripts/make_default_model.sh first)" >&2; exit 1; }
$PY scripts/split_pairs.py --out "$WORK/split" "$@"
$X train --data "${parts[@]}" "$WORK/split/pairs_fit_det.jsonl" "$WORK/split/fit_exact.jsonl" \
    --out "$OUT" --onnx --quiet --config init_model="$BASE" noise_model="$NOISE" min_conf=0.1 \
    detector_fraction=0.3 detector_max_repeats=10 detector_rotate_deg=5 batch_size=2048 steps=120 \
    lr=3e-4 warmup_frac=0.1 ${TRAIN_CONFIG:-}
echo "hold-out: .venv/bin/deepx evaluate -i $WORK/split/pairs_hold.jsonl -e default,$OUT.json --group-by family"
