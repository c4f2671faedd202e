#!/usr/bin/env bash
# Screenshot of the real Blender UI (scripts/blender, installed by scripts/install_blender.sh --ui)
# with the DeepX sidebar open: the docs' panel.png, preview.png and panel_body.png.
#   scripts/ui_shot.sh OUT.png [panel|preview|body]
# Blender's own screen.screenshot gives a black image under Xvfb, so the host grabs the screen (xwd).
# The preview needs onnxruntime in Blender's Python: set DEEPX_UI_SITE to a folder holding it (the
# extension zip bundles its wheel; a distribution Blender has none).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(realpath -m "$1"); WHAT=${2:-panel}
DISP=${DISP:-:97}
export READY_FILE=$(mktemp -u /tmp/bl_ready.XXXX) DONE_FILE=$(mktemp -u /tmp/bl_done.XXXX) DEEPX_UI_WHAT=$WHAT
export BLENDER_USER_RESOURCES=${BLENDER_USER_RESOURCES:-$(mktemp -d /tmp/deepx-ui-user-XXXX)}
Xvfb "$DISP" -screen 0 1280x900x24 -nolisten tcp >/dev/null 2>&1 & XPID=$!
trap 'kill $XPID 2>/dev/null; rm -f "$READY_FILE" "$DONE_FILE"' EXIT
sleep 1
DISPLAY=$DISP "$HERE/blender" --factory-startup --python "$HERE/ui_screenshot.py" & BPID=$!
for i in $(seq 1 240); do [ -f "$READY_FILE" ] && break; sleep 0.5; done
[ -f "$READY_FILE" ] || { echo "blender UI never became ready"; kill $BPID; exit 1; }
xwd -root -display "$DISP" -silent | convert xwd:- "$OUT"
touch "$DONE_FILE"; wait $BPID || true
echo "saved $OUT"
