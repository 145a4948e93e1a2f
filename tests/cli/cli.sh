#!/usr/bin/env bash
# The r1c command line: exit codes, messages, streaming, and the logits/bench/dev interfaces.
set -u
R1C=${R1C_BIN:-build/r1c}
TMP=${R1C_TMP:-/tmp}/cli
mkdir -p "$TMP"
M=tests/data/qwen2_tiny
. "$(dirname "$0")/lib/expect.bash"

# generation: greedy is deterministic, -n bounds the count, the seed reproduces sampling
a=$($R1C run -m $M --ids 1,2,3 -n 12 --temp 0 --quiet)
b=$($R1C run -m $M --ids 1,2,3 -n 12 --temp 0 --quiet -t 1)
[ "$a" = "$b" ] && [ "$(wc -w <<<"$a")" -eq 12 ] && ok "greedy run: 12 ids, same for 1 and 2 threads" || fail "greedy run: '$a' vs '$b'"
s1=$($R1C run -m $M --ids 5 -n 20 --seed 7 --quiet); s2=$($R1C run -m $M --ids 5 -n 20 --seed 7 --quiet)
[ "$s1" = "$s2" ] && ok "seeded sampling reproduces" || fail "seeded sampling: '$s1' vs '$s2'"
expect "run prints statistics and the seed" 0 "generated [0-9]+ tokens.*seed 7" $R1C run -m $M --ids 5 -n 4 --seed 7
expect "run --mmap" 0 "" $R1C run -m $M --ids 5 -n 4 --mmap --quiet
expect "run: text without a chat template is used raw" 0 "no chat template: the prompt is used as it is" $R1C run -m $M -p "hello" -n 2
mkdir -p "$TMP/notok" && cp $M/config.json $M/model.safetensors "$TMP/notok/"
expect "run: text needs tokenizer.json" 1 "has no tokenizer.json" $R1C run -m "$TMP/notok" "hello"
expect "run: no model (R1C_MODEL names none)" 1 "nonexistent" env R1C_MODEL=/nonexistent/m.gguf $R1C run --ids 1
expect "run: missing directory" 1 "/nonexistent: cannot open" $R1C run -m /nonexistent --ids 1
expect "run: id outside vocabulary" 1 "outside the vocabulary" $R1C run -m $M --ids 1,512
expect "run: bad -n" 2 "-n expects an integer" $R1C run -m $M --ids 1 -n abc
expect "run: unknown option" 2 "unknown option '--bogus'" $R1C run -m $M --bogus
expect "run: bad top-p" 2 "--top-p expects" $R1C run -m $M --ids 1 --top-p 2
expect "run: context full ends generation" 0 "context full" $R1C run -m $M --ids 1,2 -n 50 -c 8 --temp 0
expect "unknown command" 2 "unknown command" $R1C frobnicate

# logits: raw float32 [n x vocab]; prefill and decode agree bit for bit
$R1C logits -m $M --ids 7,8,9,10 --out "$TMP/p.bin" --mode prefill &&
$R1C logits -m $M --ids 7,8,9,10 --out "$TMP/d.bin" --mode decode &&
[ "$(stat -c %s "$TMP/p.bin")" -eq $((4 * 512 * 4)) ] && cmp -s "$TMP/p.bin" "$TMP/d.bin" \
  && ok "logits: prefill == decode, 4 x 512 floats" || fail "logits prefill/decode"
expect "logits: bad mode" 1 "prefill or decode" $R1C logits -m $M --ids 1 --out "$TMP/x.bin" --mode fast

# info
expect "info" 0 "architecture  qwen2" $R1C info -m $M
expect "info: kv cache per token" 0 "kv cache +768.00 B per token" $R1C info -m $M --no-tensors
expect "info: tensor table" 0 "model.layers.2.mlp.down_proj.weight +F32 +\[64, 160\]" $R1C info -m tests/data/qwen2_tiny

# bench: llama-bench field names in JSON
expect "bench json" 0 '"n_prompt": 16, "n_gen": 0' $R1C bench -m $M -p 16 -n 4 -r 2 -t 1 -o json
expect "bench json tg" 0 '"n_prompt": 0, "n_gen": 4.*"avg_ts"' $R1C bench -m $M -p 16 -n 4 -r 2 -t 1,2 -o json
expect "bench md" 0 "\| tg4 \|" $R1C bench -m $M -p 0 -n 4 -r 1
expect "bench batched" 0 "\| tg4 x3 \|" $R1C bench -m $M -p 0 -n 4 -b 1,3 -r 1
expect "bench batched json" 0 '"n_gen": 4, "n_seq": 3' $R1C bench -m $M -p 0 -n 4 -b 3 -r 1 -o json
expect "bench -b range" 2 "-b" $R1C bench -m $M -p 0 -n 4 -b 65

# dev make-model: real layout, sharded, loadable
rm -rf "$TMP/rand"
expect "make-model sharded" 0 "wrote" $R1C dev make-model --preset tiny-llama --dtype bf16 --shards 3 --out "$TMP/rand"
[ -f "$TMP/rand/model-00003-of-00003.safetensors" ] && ok "three shards written" || fail "shards missing"
expect "random model runs" 0 "generated" $R1C run -m "$TMP/rand" --ids 1,2 -n 3
expect "random model info" 0 "scaling llama3" $R1C info -m "$TMP/rand" --no-tensors

finish
