#!/usr/bin/env bash
# Runs each libFuzzer target for SECONDS: scripts/fuzz.sh BUILD_DIR SECONDS
#
# Each target starts from a scratch copy of its seed corpus (fuzz/corpus/NAME), so the inputs
# it grows never land in the repository. A crash, leak, timeout or out-of-memory fails the
# script; the input that caused it is kept in BUILD_DIR/fuzz-artifacts/ and the end of the
# fuzzer's log is printed. One line per target reports how many inputs it ran.
set -uo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 BUILD_DIR [SECONDS]" >&2
  exit 2
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "$1" 2>/dev/null && pwd) || { echo "fuzz: no build directory $1" >&2; exit 2; }
secs=${2:-60}
case $secs in
  '' | *[!0-9]*) echo "fuzz: SECONDS must be a whole number, got '$secs'" >&2; exit 2 ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/r1c-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
artifacts=$build/fuzz-artifacts
status=0

# fuzz_tokenize encodes with one real tokenizer; the tiny one by default (fast), or any
# tokenizer directory given in R1C_FUZZ_TOKENIZER (e.g. an unpacked DeepSeek-V3 one).
export R1C_FUZZ_TOKENIZER=${R1C_FUZZ_TOKENIZER:-$root/tests/data/qwen2_tiny}

for name in safetensors hf_config tokenizer_json tokenize jinja gguf oai countdown shard rules; do
  exe=$build/fuzz/fuzz_$name
  if [ ! -x "$exe" ]; then
    echo "fuzz_$name: FAILED: $exe is not built (make fuzz builds it)"
    status=1
    continue
  fi
  corpus=$work/$name
  mkdir -p "$corpus" "$artifacts"
  cp "$root/fuzz/corpus/$name/"* "$corpus/"
  dict=()
  [ -f "$root/fuzz/$name.dict" ] && dict=("-dict=$root/fuzz/$name.dict")
  log=$work/$name.log
  # Run from the scratch dir: libFuzzer writes nothing into the current directory then.
  (cd "$work" && "$exe" "$corpus" "${dict[@]}" -max_total_time="$secs" -rss_limit_mb=2048 \
      -timeout=10 -print_final_stats=1 -artifact_prefix="$artifacts/fuzz_$name-") >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
  [ -n "$runs" ] || runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
  if [ $rc -ne 0 ]; then
    echo "fuzz_$name: FAILED (exit $rc) after ${runs:-?} runs; inputs kept in $artifacts/"
    tail -n 40 "$log" | sed 's/^/    /'
    status=1
  else
    echo "fuzz_$name: ${runs:-?} runs in ${secs}s, corpus $(ls "$corpus" | wc -l) inputs, no crash"
  fi
done
exit $status
