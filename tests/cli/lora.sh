#!/usr/bin/env bash
# r1c --lora and r1c lora merge from the command line: exit codes, messages, and that an adapter
# changes the logits (safetensors and quantised GGUF bases) while merge reproduces them.
set -u
R1C=${R1C_BIN:-build/r1c}
TMP=${R1C_TMP:-/tmp}/cli_lora
rm -rf "$TMP" && mkdir -p "$TMP"
M=tests/data/qwen2_tiny
L=tests/data/lora/qwen2_tiny_qv
. "$(dirname "$0")/lib/expect.bash"

expect "run --lora" 0 "" $R1C run -m $M --lora $L --ids 1,2,3 -n 4 --temp 0 --quiet
expect "chat --help names --lora" 0 "--lora" $R1C chat --help
expect "serve --help names --lora" 0 "--lora" $R1C serve --help
expect "run --lora: missing adapter" 1 "/nonexistent/adapter_config.json" $R1C run -m $M --lora /nonexistent --ids 1
expect "run --lora: needs a value" 2 "needs a value" $R1C run -m $M --ids 1 --lora
$R1C logits -m $M --ids 7,8,9 --out "$TMP/base.bin" && $R1C logits -m $M --lora $L --ids 7,8,9 --out "$TMP/lora.bin" \
  && ! cmp -s "$TMP/base.bin" "$TMP/lora.bin" && ok "logits --lora differ from the base" || fail "logits --lora"

expect "lora merge" 0 "wrote" $R1C lora merge -m $M --lora $L --out "$TMP/merged"
[ -f "$TMP/merged/config.json" ] && [ -f "$TMP/merged/tokenizer.json" ] && ok "merge copies config and tokenizer" || fail "merge files"
$R1C logits -m "$TMP/merged" --ids 7,8,9 --out "$TMP/merged.bin" && ! cmp -s "$TMP/base.bin" "$TMP/merged.bin" \
  && ok "merged model runs, logits differ from the base" || fail "merged logits"
expect "lora merge: no args" 2 "usage: r1c lora merge" $R1C lora merge
expect "lora: no subcommand" 2 "usage: r1c lora merge" $R1C lora
expect "lora merge: unknown option" 2 "unknown option '--bogus'" $R1C lora merge --bogus x
expect "lora merge: GGUF base refused" 1 "not a GGUF file" $R1C lora merge -m $M/model-f32.gguf --lora $L --out "$TMP/g"
expect "lora merge: bad adapter" 1 "adapter_config.json" $R1C lora merge -m $M --lora "$TMP" --out "$TMP/m2"

# a quantised base: the adapter runs beside Q8_0 weights
$R1C quantize $M "$TMP/q8.gguf" Q8_0 >/dev/null 2>&1 \
  && $R1C logits -m "$TMP/q8.gguf" --ids 7,8,9 --out "$TMP/q8.bin" \
  && $R1C logits -m "$TMP/q8.gguf" --lora $L --ids 7,8,9 --out "$TMP/q8l.bin" \
  && ! cmp -s "$TMP/q8.bin" "$TMP/q8l.bin" && ok "Q8_0 GGUF base with --lora" || fail "Q8_0 GGUF base with --lora"
expect "lora merge: quantised base refused" 1 "not a GGUF file" $R1C lora merge -m "$TMP/q8.gguf" --lora $L --out "$TMP/q"

finish
