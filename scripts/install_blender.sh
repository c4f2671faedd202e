#!/usr/bin/env bash
# Install a real Blender (>= 4.2) for the real-Blender test tier, from Debian's archive only.
#
#   scripts/install_blender.sh [--ui]        (root, or a user with sudo)
#
# Debian 12 ("bookworm") only packages Blender 3.4, too old for extensions, so a minimal Debian 13
# ("trixie") tree is debootstrapped into $DEEPX_BLENDER_ROOT (default: .blender/trixie in the repo,
# gitignored) with its `blender` package (4.3.x, Python 3.13 + numpy 2), Mesa's software EGL (else
# Workbench/EEVEE abort with "Couldn't open libEGL.so.1") and pytest (pytest-blender re-runs pytest
# inside Blender's Python). scripts/blender runs that Blender from the host through bubblewrap.
# --ui also installs Xvfb + xwd + ImageMagick on the host for scripts/ui_shot.sh (docs screenshots).
# Idempotent: a tree that already has usr/bin/blender and pytest is reused (the cache between runs).
# Measured: ~2 min and 1.4 GB from nothing on a 2-core machine; ~0 s when cached.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
R=${DEEPX_BLENDER_ROOT:-$REPO/.blender/trixie}
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
MIRROR=${MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
MIRROR=${MIRROR:-$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
PKGS="blender python3-numpy python3-pytest libegl1 libegl-mesa0 libgl1-mesa-dri libglx-mesa0"

need=(); command -v debootstrap >/dev/null || need+=(debootstrap)
command -v bwrap >/dev/null || need+=(bubblewrap)
if [ "${1:-}" = "--ui" ]; then
  command -v Xvfb >/dev/null || need+=(xvfb)
  command -v xwd >/dev/null || need+=(x11-apps)
  [ -x /usr/bin/convert ] || need+=(imagemagick)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "install_blender: host packages ${need[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

if [ -x "$R/usr/bin/blender" ] && [ -d "$R/usr/lib/python3/dist-packages/pytest" ]; then
  echo "install_blender: cached in $R"
else
  start=$(date +%s)
  mkdir -p "$(dirname "$R")"
  if [ ! -e "$R/etc/os-release" ]; then
    echo "install_blender: debootstrap trixie into $R (log: $R.debootstrap.log)"
    $SUDO debootstrap --variant=minbase trixie "$R" "$MIRROR" >"$R.debootstrap.log" 2>&1 || {
      tail -20 "$R.debootstrap.log"; echo "install_blender: debootstrap failed" >&2; exit 1; }
  fi
  $SUDO ln -sf ../proc/self/mounts "$R/etc/mtab"    # else: "Could not get a list of mounted file-systems"
  $SUDO cp -L /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null || true
  echo "install_blender: apt-get install $PKGS (log: $R.apt.log)"
  $SUDO chroot "$R" /bin/sh -c "export DEBIAN_FRONTEND=noninteractive; apt-get update -q && \
      apt-get install -y -q --no-install-recommends $PKGS && apt-get clean" >"$R.apt.log" 2>&1 || {
    tail -20 "$R.apt.log"; echo "install_blender: apt-get in the trixie tree failed" >&2; exit 1; }
  echo "install_blender: done in $(( $(date +%s) - start )) s ($(du -shx "$R" | cut -f1))"
fi
ver=$("$HERE/blender" --version 2>/dev/null | head -1)
case "$ver" in
  "Blender 4."[2-9]*|"Blender 4."[1-9][0-9]*|"Blender "[5-9].*) echo "install_blender: $ver" ;;
  *) echo "install_blender: expected Blender >= 4.2, got '${ver:-nothing}'" >&2; exit 1 ;;
esac
