#!/usr/bin/env bash
# Installs what the aarch64 cross build and its qemu-user test run need, only when something is
# missing: the cross compiler, qemu-user, and the arm64 builds of r1c's libraries from Debian's
# multiarch packages (they land in /usr/lib/aarch64-linux-gnu; cmake/aarch64-linux-gnu.cmake
# points CMake there).
set -euo pipefail
bash "$(dirname "$0")/deps.sh"  # the native tools (cmake, make, ...)
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "deps_aarch64: need root (or sudo) to apt-get install" >&2; exit 1; }
  SUDO=sudo
fi
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
need=()
for p in gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user libcjson-dev:arm64 libpcre2-dev:arm64 \
         libutf8proc-dev:arm64 libmicrohttpd-dev:arm64; do
  have_pkg "$p" || need+=("$p")
done
[ ${#need[@]} -eq 0 ] && exit 0
echo "deps_aarch64: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
added=0
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  $SUDO dpkg --add-architecture arm64
  added=1
fi
# a fresh arm64 architecture has no package lists yet: update then, or when an install fails
[ "$added" = 1 ] && $SUDO apt-get update -qq >/dev/null
if ! $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; then
  $SUDO apt-get update -qq >/dev/null || true
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
