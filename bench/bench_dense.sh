#!/usr/bin/env bash
# bench_dense.sh — r1c on a random-weight model of DeepSeek-R1-Distill-Qwen-1.5B's exact shape
# (bf16), next to this machine's memory bandwidth measured in the same run.
#
#   bash bench/bench_dense.sh [preset=r1-distill-qwen-1.5b] [dtype=bf16]
#   env: R1C_BENCH_DIR (models, default /tmp/r1c-bench), REPS (3), PP (512), TG (128)
#
# Prints, per thread count: pp and tg tokens/s (mean ± sd), tg x bytes read per token (GB/s),
# and that as a fraction of the read bandwidth measured just before and after (median).
set -euo pipefail
cd "$(dirname "$0")/.."
PRESET=${1:-r1-distill-qwen-1.5b}
DTYPE=${2:-bf16}
DIR=${R1C_BENCH_DIR:-/tmp/r1c-bench}/$PRESET-$DTYPE
REPS=${REPS:-3}; PP=${PP:-512}; TG=${TG:-128}
R1C=build/r1c; MEMBW=build/membw
[ -x $R1C ] && [ -x $MEMBW ] || { echo "build first: make" >&2; exit 1; }
[ -f "$DIR/config.json" ] || $R1C dev make-model --preset "$PRESET" --dtype "$DTYPE" --out "$DIR"

bw() { $MEMBW 1024 5 "$1" | sed -E 's/.*"membw_read_gbps": ([0-9.]+).*/\1/'; }
field() { sed -E "s/.*\"$1\": ([0-9.e+-]+).*/\1/"; }

echo "# r1c bench: $PRESET $DTYPE ($(date -u +%FT%TZ), kernels $($R1C --version | sed 's/.*kernels: //; s/)//'))"
echo
echo "| threads | load | pp$PP t/s | tg$TG t/s | tg GB/s | read BW before / after GB/s | tg / BW | peak RSS GiB |"
echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for t in 1 2; do
  for mm in "" "--mmap"; do
    b0=$(bw $t)
    out=$($R1C bench -m "$DIR" -p "$PP" -n "$TG" -r "$REPS" -t $t -o json $mm)
    b1=$(bw $t)
    pp=$(grep "\"n_prompt\": $PP," <<<"$out" | field avg_ts); ppsd=$(grep "\"n_prompt\": $PP," <<<"$out" | field stddev_ts)
    tg=$(grep "\"n_gen\": $TG," <<<"$out" | field avg_ts); tgsd=$(grep "\"n_gen\": $TG," <<<"$out" | field stddev_ts)
    gbs=$(grep "\"n_gen\": $TG," <<<"$out" | field gen_gbps)
    rss=$(grep "\"n_gen\": $TG," <<<"$out" | field peak_rss_bytes)
    awk -v t=$t -v mm="${mm:-read}" -v pp=$pp -v ppsd=$ppsd -v tg=$tg -v tgsd=$tgsd -v g=$gbs -v b0=$b0 -v b1=$b1 -v rss=$rss \
      'BEGIN { bw = (b0 + b1) / 2; printf "| %d | %s | %.1f ± %.1f | %.2f ± %.2f | %.1f | %.1f / %.1f | %.0f%% | %.2f |\n", t, mm, pp, ppsd, tg, tgsd, g, b0, b1, 100 * g / bw, rss / 1073741824 }'
  done
done
