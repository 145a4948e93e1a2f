#!/usr/bin/env bash
# bench_train.sh — training throughput and MFU of `r1c train` at 2 threads on ~10M-parameter models:
# a dense Llama-style model (12 layers, width 256: 8.8M) and the tiny base recipe's DeepSeek-V3 shape
# (MLA + MoE: 8.0M), each in f32 and in bf16 compute, batch 8 x 256. MFU = achieved FLOP/s (PaLM's
# count: 6 per active weight per token + attention) / the machine's measured f32 FMA peak
# (peak_gflops, ../shared/research/perf-baseline.md: 428 GFLOP/s at 2 threads).
#
#   bash bench/bench_train.sh [steps=30] [reps=3]      env: R1C_BENCH_DIR (default /tmp/r1c-bench)
#
# Each configuration runs `reps` times, alternating, after one warm-up step; the table gives the
# median tokens/s of the timed steps (the log's per-step figures after the first 5 steps).
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-30}; REPS=${2:-3}
R1C=$PWD/build/r1c
DIR=${R1C_BENCH_DIR:-/tmp/r1c-bench}/train
[ -x "$R1C" ] || { echo "build first: make" >&2; exit 1; }
mkdir -p "$DIR"
if [ ! -f "$DIR/tok/tokenizer.json" ]; then
  $R1C data gen --task arithmetic --levels 1-8 --n 20000 --seed 1 --out "$DIR/a.jsonl" 2>/dev/null
  $R1C data gen --task countdown --levels 1-8 --n 10000 --seed 2 --out "$DIR/c.jsonl" 2>/dev/null
  $R1C tokenizer train --vocab-size 1024 --jsonl text --out "$DIR/tok" "$DIR/a.jsonl" "$DIR/c.jsonl" >/dev/null 2>&1
fi
dense='{"model_type": "llama", "hidden_size": 256, "intermediate_size": 704, "num_hidden_layers": 12,
  "num_attention_heads": 8, "num_key_value_heads": 4, "rms_norm_eps": 1e-5, "tie_word_embeddings": true}'
v3=$(node -e 'const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(JSON.stringify(c.model))' \
  recipes/tiny-base/train.json)
config() { # name, model json, compute
  cat > "$DIR/$1.json" <<JSON
{"model": $2, "tokenizer": "tok", "data": ["a.jsonl", "c.jsonl"], "batch_size": 8, "seq_len": 256, "steps": $STEPS,
 "lr": 1e-3, "warmup": 5, "threads": 2, "out": "run-$1", "log_every": 1000, "compute": "$3"}
JSON
}
config dense-f32 "$dense" f32; config dense-bf16 "$dense" bf16; config v3-f32 "$v3" f32; config v3-bf16 "$v3" bf16
declare -A TPS FPT
for r in $(seq "$REPS"); do
  for c in dense-f32 dense-bf16 v3-f32 v3-bf16; do
    line=$($R1C train --config "$DIR/$c.json" 2>&1 | grep "^trained") || { echo "$c failed" >&2; exit 1; }
    # FLOPs per token as r1c train counts them: its overall GFLOP/s over its overall tokens/s
    FPT[$c]=$(sed -E 's/.*: ([0-9.]+) tokens\/s, ([0-9.]+) GFLOP\/s.*/\2 \1/' <<<"$line" | awk '{ printf "%.0f", $1 * 1e9 / $2 }')
    # tokens/s of the steps after the 5th, from the CSV log (the first steps pay for start-up)
    TPS[$c]+="$(awk -F, 'NR > 6 { s += $5; n++ } END { printf "%.0f", s / n }' "$DIR/run-$c/train_log.csv") "
  done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "| model | compute | tokens/s: median (each run) | GFLOP/token | MFU (of 428 GFLOP/s) | vs f32 |"
echo "|---|---|---:|---:|---:|---:|"
for m in dense v3; do
  f=$(median <<<"${TPS[$m-f32]}")
  for c in f32 bf16; do
    t=$(median <<<"${TPS[$m-$c]}")
    awk -v m="$m" -v c="$c" -v t="$t" -v f="${FPT[$m-$c]}" -v base="$f" -v runs="${TPS[$m-$c]% }" \
      'BEGIN { printf "| %s | %s | %d (%s) | %.3f | %.1f %% | %.2f |\n", m, c, t, runs, f / 1e9, 100 * t * f / 428e9, t / base }'
  done
done
