#!/usr/bin/env bash
# bench_model.sh — r1c on a random-weight model of a real shape (default: DeepSeek-R1-Distill-
# Qwen-1.5B in bf16), next to this machine's memory bandwidth measured in the same run.
#
#   bash bench/bench_model.sh [preset=r1-distill-qwen-1.5b] [dtype=bf16] [layers=all]
#     e.g. bash bench/bench_model.sh deepseek-v2-lite fp8 8
#   env: R1C_BENCH_DIR (models, default /tmp/r1c-bench), REPS (5), PP (512), TG (128), MMAP (1),
#        THREADS ("1 2")
#
# "tg GB/s" counts the bytes one generated token reads: every weight but the embedding table,
# and for MoE models only the experts a token uses (r1c info: "read per generated token").
#
# The shared VM's bandwidth moves by 2x within minutes, so every generation repetition is paired
# with its own read-bandwidth probe (build/membw, 8 streams per thread, same thread count) taken
# just before it; the table gives the median of the per-pair ratios tg x bytes/token ÷ probe.
set -euo pipefail
cd "$(dirname "$0")/.."
PRESET=${1:-r1-distill-qwen-1.5b}
DTYPE=${2:-bf16}
LAYERS=${3:-}
DIR=${R1C_BENCH_DIR:-/tmp/r1c-bench}/$PRESET-$DTYPE${LAYERS:+-L$LAYERS}
REPS=${REPS:-5}; PP=${PP:-512}; TG=${TG:-128}; MMAP=${MMAP:-1}
R1C=build/r1c; MEMBW=build/membw
[ -x $R1C ] && [ -x $MEMBW ] || { echo "build first: make" >&2; exit 1; }
mkdir -p "$(dirname "$DIR")"
[ -f "$DIR/config.json" ] || $R1C dev make-model --preset "$PRESET" --dtype "$DTYPE" --out "$DIR" ${LAYERS:+--layers $LAYERS}

field() { sed -E "s/.*\"$1\": ([0-9.e+-]+).*/\1/"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "# r1c bench: $PRESET $DTYPE${LAYERS:+ ($LAYERS layers)} ($(date -u +%FT%TZ), $($R1C --version))"
echo
echo "| threads | load | pp$PP t/s | tg$TG t/s | tg GB/s | read BW GB/s (median of pairs) | tg / BW: median (min-max) | peak RSS GiB |"
echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
loads="read"; [ "$MMAP" = 1 ] && loads="read mmap"
for t in ${THREADS:-1 2}; do
  for load in $loads; do
    mm=""; [ $load = mmap ] && mm="--mmap"
    pp=$($R1C bench -m "$DIR" -p "$PP" -n 0 -r 3 -t $t -o json $mm | grep '"n_prompt"')
    tgs=(); gbs=(); bws=(); ratios=(); rss=0
    for ((i = 0; i < REPS; i++)); do
      bw=$($MEMBW 1024 3 $t 8 | field membw_read_gbps)
      out=$($R1C bench -m "$DIR" -p 0 -n "$TG" -r 1 -t $t -o json $mm | grep '"n_gen"')
      g=$(field gen_gbps <<<"$out")
      tgs+=("$(field avg_ts <<<"$out")"); gbs+=("$g"); bws+=("$bw"); rss=$(field peak_rss_bytes <<<"$out")
      ratios+=("$(awk -v g="$g" -v b="$bw" 'BEGIN { print g / b }')")
    done
    printf '%s\n' "${tgs[@]}" | awk -v t=$t -v load=$load -v pp="$(field avg_ts <<<"$pp")" -v ppsd="$(field stddev_ts <<<"$pp")" \
      -v gb="$(printf '%s\n' "${gbs[@]}" | median)" -v bw="$(printf '%s\n' "${bws[@]}" | median)" \
      -v r="$(printf '%s\n' "${ratios[@]}" | median)" -v rmin="$(printf '%s\n' "${ratios[@]}" | sort -g | head -1)" \
      -v rmax="$(printf '%s\n' "${ratios[@]}" | sort -g | tail -1)" -v rss="$rss" \
      '{ s += $1; s2 += $1 * $1; n++ }
       END { m = s / n; sd = n > 1 ? sqrt((s2 - s * s / n) / (n - 1)) : 0
             printf "| %d | %s | %.1f ± %.1f | %.2f ± %.2f | %.1f | %.1f | %.0f%% (%.0f-%.0f%%) | %.2f |\n",
                    t, load, pp, ppsd, m, sd, gb, bw, 100 * r, 100 * rmin, 100 * rmax, rss / 1073741824 }'
  done
done
