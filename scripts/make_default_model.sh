#!/usr/bin/env bash
# Rebuilds the base model models/deepx_base.{json,safetensors,onnx} (and, given DETECTOR_RUNS, the
# shipped default models/deepx_default.*, step 5) from nothing but the
# Blender mannequin and the real detector on its renders (no real-world data is read).
# Every step is resumable/cached in $WORK; `make model` runs this. ~35 min on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
X=.venv/bin/deepx
WORK=${WORK:-runs/model}
OUT=${OUT:-models/deepx_base}
mkdir -p "$WORK"

# 1. 40 000 posed people from the Blender mannequin (pose randomiser, default settings)
[ -f "$WORK/poses.npz" ] || $X poses -n 40000 --seed 1 -o "$WORK/poses.npz"
# 2. 32 random cameras around each: 1.28 M exactly labelled keypoint samples, no rendering
$X sample --pose-table "$WORK/poses.npz" --out "$WORK/samples" --cameras-per-pose 32 --seed 1 --quiet
# 3. the detector's errors: render 240 people (x4 sizes with the downscale trick), run YOLO11n-pose
$X generate --out "$WORK/renders_fit" --count 240 --seed 2 --resolution 640 --samples 4 \
    --cameras-per-pose 4 --distance 2 25 --downscale 0.5,0.25,0.125 --quiet
[ -f "$WORK/detections_fit.jsonl" ] || $X detect --labels "$WORK/renders_fit" -o "$WORK/detections_fit.jsonl" -q
$X fit-noise --pairs "$WORK/detections_fit.jsonl" -o "$WORK/noise.json" --plot docs/noise_fit.png
# 4. train with the fitted noise applied afresh to every batch
$X train --data "$WORK/samples" --out "$OUT" --onnx --quiet \
    --config noise_model="$WORK/noise.json" min_conf=0.1
cp "$WORK/noise.json" models/deepx_default_noise.json   # the noise model ships beside the models (demo, docs)
# 5. the default: the base fine-tuned on the real detector's reading of realistic renders beside their
#    exact keypoints (scripts/make_detector_model.sh). Its input, scripts/render_detect.py folders, takes
#    hours of rendering (README "The detector fine-tune"): name them in DETECTOR_RUNS.
if [ -n "${DETECTOR_RUNS:-}" ]; then
    BASE="$OUT.json" SAMPLES="$WORK/samples" WORK="$WORK/detector" scripts/make_detector_model.sh \
        models/deepx_default $DETECTOR_RUNS
else
    echo "models/deepx_default not rebuilt: set DETECTOR_RUNS to scripts/render_detect.py output folders"
fi
