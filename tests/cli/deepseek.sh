#!/usr/bin/env bash
# DeepSeek checkpoints from the command line: random-weight models in the official layout
# (bf16 and block-scaled FP8, with a multi-token-prediction layer), what r1c info reports about
# the compressed MLA cache, and generation through both attention paths.
set -u
R1C=${R1C_BIN:-build/r1c}
TMP=${R1C_TMP:-/tmp}/cli-deepseek
mkdir -p "$TMP"
. "$(dirname "$0")/lib/expect.bash"
for dt in bf16 fp8; do
  rm -rf "$TMP/$dt"
  expect "make-model tiny-deepseek-v3 $dt" 0 "wrote" $R1C dev make-model --preset tiny-deepseek-v3 --dtype $dt --out "$TMP/$dt"
  # 3 layers x (32 latent + 8 rope) x 2 bytes; full K/V of 4 heads x (16+8+16) x 2 x 3 layers
  expect "info: MLA cache ($dt)" 0 "240.00 B per token in bf16, against 960.00 B" $R1C info -m "$TMP/$dt" --no-tensors
  expect "info: experts ($dt)" 0 "8 routed \(2 per token\) \+ 1 shared" $R1C info -m "$TMP/$dt" --no-tensors
  expect "info: MTP layer loaded ($dt)" 0 "1 next-token-prediction layer\(s\) in config.json, 1 loaded" $R1C info -m "$TMP/$dt" --no-tensors
  a=$($R1C run -m "$TMP/$dt" --ids 5,6,7,8 -n 12 --temp 0 --quiet -t 1); b=$($R1C run -m "$TMP/$dt" --ids 5,6,7,8 -n 12 --temp 0 --quiet -t 2)
  [ "$a" = "$b" ] && [ "$(wc -w <<<"$a")" -eq 12 ] && ok "greedy generation, same for 1 and 2 threads ($dt)" || fail "generation ($dt): '$a' vs '$b'"
done
expect "info: FP8 weights" 0 "FP8 e4m3 with block scales" $R1C info -m "$TMP/fp8" --no-tensors
expect "info: FP8 scale rows listed with their weights" 0 "experts.7.down_proj.weight +F8_E4M3" $R1C info -m "$TMP/fp8"
finish
