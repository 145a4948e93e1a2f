#!/usr/bin/env bash
# r1c convert / r1c quantize from the command line: llama.cpp's converter output reproduced byte for
# byte, GGUF -> Hugging Face -> GGUF, quantize with -v and its summary, and one-line errors with
# non-zero exit statuses for bad input.
set -u
R1C=${R1C_BIN:-build/r1c}
TMP=${R1C_TMP:-/tmp}/cli-convert
rm -rf "$TMP"
mkdir -p "$TMP"
. "$(dirname "$0")/lib/expect.bash"
one_line() { # name, expected exit status, pattern, command...: the error is one line
  local name=$1 want=$2 pat=$3; shift 3
  local out; out=$("$@" 2>&1 >/dev/null); local rc=$?
  if [ "$rc" != "$want" ]; then fail "$name: exit $rc, want $want: $out"; return; fi
  if [ "$(wc -l <<<"$out")" != 1 ] || ! grep -qE -- "$pat" <<<"$out"; then fail "$name: not one line matching /$pat/: $out"; return; fi
  ok "$name"
}

D=tests/data/qwen2_tiny
expect "convert HF -> GGUF f32" 0 "wrote .*39 tensors" $R1C convert $D "$TMP/q.gguf" --outtype f32 --pre deepseek-r1-qwen
cmp -s "$TMP/q.gguf" $D/model-f32.gguf && ok "the same bytes as llama.cpp's converter" || fail "q.gguf differs from $D/model-f32.gguf"
expect "convert HF -> GGUF bf16" 0 "wrote" $R1C convert tests/data/llama3_tiny/bf16 "$TMP/l.gguf" --outtype bf16 --pre llama-bpe -t 1
cmp -s "$TMP/l.gguf" tests/data/llama3_tiny/bf16/model-bf16.gguf && ok "bf16: the same bytes" || fail "l.gguf differs"
expect "convert GGUF -> HF" 0 "wrote .*39 tensors" $R1C convert $D/model-f32.gguf "$TMP/hf"
for f in config.json generation_config.json tokenizer.json tokenizer_config.json model.safetensors; do
  [ -s "$TMP/hf/$f" ] || fail "GGUF -> HF: no $f"
done
expect "convert HF -> GGUF again" 0 "wrote" $R1C convert "$TMP/hf" "$TMP/q2.gguf" --outtype f32 --name qwen2_tiny
cmp -s "$TMP/q2.gguf" $D/model-f32.gguf && ok "GGUF -> HF -> GGUF: the same file" || fail "round trip differs"
expect "the converted directory runs" 0 "" $R1C run -m "$TMP/hf" --ids 1,2,3 -n 2 --temp 0 --quiet -t 1
expect "quantize Q4_K_M -v" 0 "blk.2.ffn_down.weight .*F32 -> Q8_0" $R1C quantize $D "$TMP/q4.gguf" Q4_K_M -v
expect "quantize summary" 0 "wrote .*39 tensors, 0.8 MB -> 0.2 MB in" $R1C quantize $D/model-f32.gguf "$TMP/q8.gguf" q8_0
expect "the quantized file runs" 0 "" $R1C run -m "$TMP/q8.gguf" --ids 1,2,3 -n 2 --temp 0 --quiet -t 1

# bad input: one line, non-zero exit
one_line "missing directory" 1 "^r1c convert: tests/data/nope: cannot open" $R1C convert tests/data/nope "$TMP/x.gguf"
one_line "unknown outtype" 2 "^r1c convert: --outtype must be f32, f16, bf16, q8_0 or auto, got 'q3'" $R1C convert $D "$TMP/x.gguf" --outtype q3
mkdir -p "$TMP/mistral"
echo '{"architectures":["MistralForCausalLM"],"model_type":"mistral","hidden_size":64,"intermediate_size":128,"num_hidden_layers":1,"num_attention_heads":4,"vocab_size":512}' >"$TMP/mistral/config.json"
one_line "unsupported architecture" 1 "architecture 'MistralForCausalLM' is not supported" $R1C convert "$TMP/mistral" "$TMP/x.gguf"
one_line "unknown quantization type" 2 "^r1c quantize: unknown type 'Q5_K_M'" $R1C quantize $D "$TMP/x.gguf" Q5_K_M
one_line "quantize a missing file" 1 "^r1c quantize: .*nope.*cannot open" $R1C quantize "$TMP/nope.gguf" "$TMP/x.gguf" Q8_0
one_line "output = input" 1 "the output is the input" $R1C quantize "$TMP/q8.gguf" "$TMP/q8.gguf" Q8_0
expect "convert: missing arguments" 2 "usage: r1c convert" $R1C convert $D
expect "quantize: missing arguments" 2 "usage: r1c quantize" $R1C quantize $D "$TMP/x.gguf"
[ ! -e "$TMP/x.gguf" ] && ok "no output file left by the failures" || fail "x.gguf was left behind"
finish
