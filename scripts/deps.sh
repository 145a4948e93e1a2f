#!/usr/bin/env bash
# Installs the Debian packages r1c needs, only when something is missing.
set -euo pipefail
need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in gcc make cmake pkg-config libcjson-dev libpcre2-dev libutf8proc-dev libmicrohttpd-dev clang libclang-rt-14-dev libomp-dev chromium; do
  have_pkg "$p" || need+=("$p")
done
# Node.js runs the server's tests with real clients (tests/serve: the openai package, and
# playwright-core driving Debian's chromium for the chat page); Debian's
# nodejs and npm, unless a node and npm are already on the PATH
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
serve_deps() { # tests/serve/node_modules from package-lock.json (npm's registry)
  [ -d tests/serve/node_modules/openai ] && return 0
  echo "deps: npm ci in tests/serve" >&2
  (cd tests/serve && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}
if [ ${#need[@]} -eq 0 ]; then
  cd "$(dirname "$0")/.." && serve_deps
  exit 0
fi
echo "deps: installing ${need[*]}" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "deps: need root (or sudo) to apt-get install ${need[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null || true
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
cd "$(dirname "$0")/.." && serve_deps
