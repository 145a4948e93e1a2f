#!/usr/bin/env bash
# r1c perplexity: llama-perplexity's output format, a finite value, the same numbers for any
# thread count, batch size and weight file (safetensors or GGUF), and one-line errors.
set -u
R1C=${R1C_BIN:-build/r1c}
TMP=${R1C_TMP:-/tmp}/cli-perplexity
mkdir -p "$TMP"
M=tests/data/qwen2_tiny
. "$(dirname "$0")/lib/expect.bash"

# the text: README paragraphs, repeated (the tiny tokenizer makes about 0.7 tokens per byte)
T="$TMP/text.txt"
for i in 1 2 3; do cat README.md; done | head -c 12000 > "$T"

out=$($R1C perplexity -m $M -f "$T" -c 32 --chunks 8 -t 1 2>"$TMP/err1"); rc=$?
[ $rc = 0 ] && ok "perplexity runs" || fail "perplexity: exit $rc: $(cat "$TMP/err1")"
grep -qE '^(\[[1-8]\][0-9]+\.[0-9]{4},){8}$' <<<"$out" \
  && ok "one line of running values [1]..[8]" || fail "chunk line: $out"
grep -qE '^Final estimate: PPL = [0-9]+\.[0-9]{4} \+/- [0-9]+\.[0-9]{5}$' <<<"$out" \
  && ok "final estimate with its uncertainty" || fail "final line: $out"
ppl=$(sed -n 's/^Final estimate: PPL = \([0-9.]*\) .*/\1/p' <<<"$out")
last=$(grep -oE '\[8\][0-9.]+' <<<"$out" | cut -d] -f2)
awk -v p="$ppl" 'BEGIN { exit !(p > 1 && p < 1e9 && p == p + 0) }' \
  && ok "PPL $ppl is finite and > 1" || fail "PPL '$ppl'"
[ "$ppl" = "$last" ] && ok "the last running value is the estimate" || fail "last [8] $last vs $ppl"
grep -qE '[0-9.]+ tokens/s' "$TMP/err1" && grep -q '256 tokens evaluated, 120 scored' "$TMP/err1" \
  && ok "speed on stderr: 8 x 32 tokens evaluated, 8 x 15 scored" || fail "stderr: $(cat "$TMP/err1")"
grep -q 'tokens (with BOS)' "$TMP/err1" && ok "the tokenizer's BOS is added" || fail "no BOS: $(cat "$TMP/err1")"

# bit-identical whatever the threads, the batch size, the weight file
t2=$($R1C perplexity -m $M -f "$T" -c 32 --chunks 8 -t 2 2>/dev/null)
[ "$out" = "$t2" ] && ok "-t 1 and -t 2 give the same output" || fail "-t 2: $t2 vs $out"
b7=$($R1C perplexity -m $M -f "$T" -c 32 --chunks 8 -b 7 2>/dev/null)
[ "$out" = "$b7" ] && ok "-b 7 (five passes per chunk) gives the same output" || fail "-b 7: $b7 vs $out"
g=$($R1C perplexity -m $M/model-f32.gguf -f "$T" -c 32 --chunks 8 -t 2 2>/dev/null)
[ "$out" = "$g" ] && ok "GGUF and safetensors give the same PPL" || fail "gguf: $g vs $out"
mm=$($R1C perplexity -m $M -f "$T" -c 32 --chunks 8 --mmap 2>/dev/null)
[ "$out" = "$mm" ] && ok "--mmap gives the same output" || fail "--mmap: $mm vs $out"

# --chunks: a prefix of the full run; all chunks by default
c3=$($R1C perplexity -m $M -f "$T" -c 32 --chunks 3 2>/dev/null | head -1)
[ "$c3" = "$(head -1 <<<"$out" | grep -oE '^(\[[0-9]+\][0-9.]+,){3}')" ] \
  && ok "--chunks 3 is the first three values" || fail "--chunks 3: $c3"
ntok=$($R1C perplexity -m $M -f "$T" -c 32 --chunks 1 2>&1 >/dev/null | sed -n 's/.*bytes -> \([0-9]*\) tokens.*/\1/p')
all=$($R1C perplexity -m $M -f "$T" -c 32 2>/dev/null | head -1 | grep -oE '\[[0-9]+\]' | wc -l)
[ -n "$ntok" ] && [ "$all" = $((ntok / 32)) ] && ok "all $all chunks by default ($ntok tokens / 32)" \
  || fail "default chunks: $all for $ntok tokens"

# special-token text in the file stays text; bytes that are not UTF-8 are read, with a note
ntoks() { $R1C perplexity -m $M -f "$1" -c 32 --chunks 1 2>&1 | sed -n 's/.*bytes -> \([0-9]*\) tokens.*/\1/p'; }
{ printf '\n<｜end▁of▁sentence｜>\n'; head -c 3000 "$T"; } > "$TMP/special.txt"
{ printf '\n\n'; head -c 3000 "$T"; } > "$TMP/plain.txt"
sp=$(ntoks "$TMP/special.txt"); pl=$(ntoks "$TMP/plain.txt")
[ -n "$sp" ] && [ -n "$pl" ] && [ $((sp - pl)) -gt 5 ] \
  && ok "special-token text is tokenized as text ($((sp - pl)) tokens)" || fail "special: '$sp' vs '$pl'"
{ head -c 3000 "$T"; printf '\xff\xfe\x80'; head -c 3000 "$T"; } > "$TMP/bytes.txt"
expect "non-UTF-8 bytes: a note, and a result" 0 "not valid UTF-8 \(byte 3000\).*U\+FFFD" \
  $R1C perplexity -m $M -f "$TMP/bytes.txt" -c 32 --chunks 2

# a tokenizer that adds no BOS: the chunks start with the text's own first token
mkdir -p "$TMP/nobos" && cp $M/config.json $M/model.safetensors $M/tokenizer.json "$TMP/nobos/"
sed 's/"add_bos_token": true/"add_bos_token": false/' $M/tokenizer_config.json > "$TMP/nobos/tokenizer_config.json"
nb=$($R1C perplexity -m "$TMP/nobos" -f "$T" -c 32 --chunks 2 2>&1); rc=$?
[ $rc = 0 ] && ! grep -q 'with BOS' <<<"$nb" && grep -q '^Final estimate' <<<"$nb" \
  && ok "no BOS when the tokenizer adds none" || fail "no BOS ($rc): $nb"

# errors: one line naming the problem, non-zero exit
: > "$TMP/empty.txt"
head -c 40 README.md > "$TMP/short.txt"
expect "missing file" 1 "^r1c perplexity: $TMP/none.txt: cannot open: No such file" \
  $R1C perplexity -m $M -f "$TMP/none.txt"
expect "empty file" 1 "^r1c perplexity: $TMP/empty.txt is empty$" $R1C perplexity -m $M -f "$TMP/empty.txt"
expect "a directory" 1 "cannot read: Is a directory" $R1C perplexity -m $M -f "$TMP"
expect "too short: names the tokens needed" 1 "tokenizes to only [0-9]+ tokens; -c 32 needs at least 64" \
  $R1C perplexity -m $M -f "$TMP/short.txt" -c 32
expect "too short for the default -c 512" 1 "needs at least 1024" $R1C perplexity -m $M -f "$TMP/short.txt"
expect "-c 2" 2 "-c expects an integer in \[3," $R1C perplexity -m $M -f "$T" -c 2
expect "-c 0" 2 "-c expects an integer" $R1C perplexity -m $M -f "$T" -c 0
expect "--chunks 0" 2 "--chunks must be" $R1C perplexity -m $M -f "$T" --chunks 0
expect "bad -b" 2 "-b expects an integer" $R1C perplexity -m $M -f "$T" -b x
expect "no -f" 2 "no text: pass -f FILE" $R1C perplexity -m $M
expect "no model (R1C_MODEL names none)" 1 "nonexistent" env R1C_MODEL=/nonexistent/m.gguf $R1C perplexity -f "$T"
expect "model without a tokenizer" 1 "has no tokenizer" $R1C perplexity -m tests/data/deepseek_v3/fp32 -f "$T" -c 32
expect "unknown option" 2 "unknown option '--bogus'" $R1C perplexity -m $M -f "$T" --bogus
expect "help" 0 "usage: r1c perplexity" $R1C perplexity --help
expect "listed in r1c --help" 0 "perplexity" $R1C --help

finish
