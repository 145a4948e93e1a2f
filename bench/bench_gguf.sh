#!/usr/bin/env bash
# bench_gguf.sh — r1c on the quantised GGUF files of issue 5's table: random-weight models of
# DeepSeek-R1-Distill-Qwen-1.5B's and DeepSeek-V2-Lite's exact shapes, made by r1c itself
# (`r1c dev make-model`, then `r1c quantize`), weights read into memory (as llama-bench -mmp 0).
#
#   bash bench/bench_gguf.sh [files...]      default: q4_0 q8_0 q4_k_m v2lite-q4_0
#   env: R1C_BENCH_DIR (models, default /tmp/r1c-bench), REPS (3), PP (512), TG (128), THREADS (2)
#
# Prints llama-bench-like lines (`r1c bench`), then the load time to the first token of each
# file (`r1c run -n 1`, wall clock). The anchors (llama.cpp and ik_llama.cpp on this machine)
# are in ../shared/research/perf-baseline.md; docs/performance.md keeps the measured table.
set -euo pipefail
cd "$(dirname "$0")/.."
R1C=build/r1c
[ -x $R1C ] || { echo "build first: make" >&2; exit 1; }
DIR=${R1C_BENCH_DIR:-/tmp/r1c-bench}
REPS=${REPS:-3}; PP=${PP:-512}; TG=${TG:-128}; THREADS=${THREADS:-2}
mkdir -p "$DIR"

# the source checkpoints (bf16 for the 1.5B shape; FP8 for V2-Lite: half the bytes to write)
src() {
  case $1 in
    qwen) d=$DIR/r1-distill-qwen-1.5b-bf16
          [ -f $d/config.json ] || $R1C dev make-model --preset r1-distill-qwen-1.5b --dtype bf16 --out $d >&2 ;;
    v2lite) d=$DIR/deepseek-v2-lite-fp8
          [ -f $d/config.json ] || $R1C dev make-model --preset deepseek-v2-lite --dtype fp8 --out $d >&2 ;;
  esac
  echo $d
}

file_for() { # name -> path of the GGUF (made when missing)
  local name=$1 base type out
  case $name in
    q4_0)        base=qwen;   type=Q4_0 ;;
    q8_0)        base=qwen;   type=Q8_0 ;;
    q4_k_m)      base=qwen;   type=Q4_K_M ;;
    v2lite-q4_0) base=v2lite; type=Q4_0 ;;
    *) echo "unknown file '$name' (q4_0 q8_0 q4_k_m v2lite-q4_0)" >&2; exit 2 ;;
  esac
  out=$DIR/$name.gguf
  [ -f $out ] || $R1C quantize "$(src $base)" $out $type >&2
  echo $out
}

files=("$@")
[ ${#files[@]} -gt 0 ] || files=(q4_0 q8_0 q4_k_m v2lite-q4_0)
echo "# r1c bench: GGUF files ($(date -u +%FT%TZ), $($R1C --version), $THREADS threads)"
echo
first=1
for f in "${files[@]}"; do
  path=$(file_for $f)
  out=$($R1C bench -m "$path" -p "$PP" -n "$TG" -r "$REPS" -t "$THREADS")
  if [ $first = 1 ]; then echo "$out" | head -2; first=0; fi
  echo "$out" | tail -n +3
done
echo
echo "| file | size | load + first token (s) |"
echo "| --- | ---: | ---: |"
for f in "${files[@]}"; do
  path=$(file_for $f)
  t0=$(date +%s.%N)
  $R1C run -m "$path" --raw --ids 1 -n 1 --temp 0 -t "$THREADS" >/dev/null 2>&1 || true
  t1=$(date +%s.%N)
  printf '| %s | %s | %.2f |\n' "$f" "$(du -h "$path" | cut -f1)" "$(echo "$t1 - $t0" | bc -l)"
done
