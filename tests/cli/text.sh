#!/usr/bin/env bash
# Text in, text out: r1c tokenize (one-off and --jsonl), r1c run with a chat template and R1's
# forced <think>, and r1c chat keeping its KV cache across turns.
set -u
R1C=${R1C_BIN:-build/r1c}
TMP=${R1C_TMP:-/tmp}/cli-text
TOK=${R1C_TOKDATA:-build/tests/tokdata}
mkdir -p "$TMP"
. "$(dirname "$0")/lib/expect.bash"

# tokenize: ids and pieces; only the tokenizer files are needed
expect "tokenize" 0 '^ids: \[0, 19923, 2058\]' $R1C tokenize -m $TOK/deepseek_v3 --special "Hello world"
expect "tokenize pieces" 0 '128803  "<｜User｜>"' $R1C tokenize -m $TOK/deepseek_v3 "<｜User｜>hi"
out=$(printf '{"text": "Hello world"}\n{"text": "nul\\u0000inside"}\n\n{"id": 3, "text": "x"}\n' | $R1C tokenize -m $TOK/deepseek_v3 --jsonl --special)
[ "$out" = $'{"ids": [0, 19923, 2058]}\n{"ids": [0, 80, 363, 191, 88594]}\n{"ids": [0, 90]}' ] \
  && ok "tokenize --jsonl: one line per input, in order, U+0000 kept" || fail "tokenize --jsonl: $out"
out=$(printf '{"text": 5}\n{"text": "ok"}\n' | $R1C tokenize -m $TOK/qwen3 --jsonl); rc=$?
[ $rc = 1 ] && grep -q '^{"error": "line 1' <<<"$out" && grep -q '^{"ids": \[562\]}' <<<"$out" \
  && ok "tokenize --jsonl: a bad line gets an error line, the rest goes on" || fail "tokenize --jsonl errors ($rc): $out"
expect "tokenize: invalid UTF-8" 1 "not valid UTF-8" $R1C tokenize -m $TOK/qwen3 $'a\xffb'
expect "tokenize: no tokenizer" 1 "tokenizer.json: cannot open" $R1C tokenize -m /nonexistent "x"

# a tiny model with R1's chat template (the tiny vocabulary has <｜User｜>, <｜Assistant｜>)
M=$TMP/r1tiny
rm -rf "$M"; mkdir -p "$M"
cp tests/data/qwen2_tiny/{config.json,model.safetensors,tokenizer.json} "$M/"
TEMPLATE=tests/data/tokenizer/deepseek_v3/templates/deepseek_r1_ollama_8b.jinja
{
  printf '{"add_bos_token": true, "bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>",\n'
  printf ' "tokenizer_class": "LlamaTokenizerFast", "chat_template": '
  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' "$TEMPLATE" | awk 'BEGIN { printf "\"" } { if (NR > 1) printf "\\n"; printf "%s", $0 } END { printf "\"" }'
  printf '}\n'
} > "$M/tokenizer_config.json"

expect "run: text through R1's template, reasoning first" 0 "^reasoning:" $R1C run -m "$M" "What is 2+2?" -n 6 --temp 0 --quiet
expect "run --no-think: straight to the answer" 0 "^answer:" $R1C run -m "$M" "What is 2+2?" -n 6 --temp 0 --quiet --no-think
expect "run --raw" 0 "^answer:" $R1C run -m "$M" "plain text" --raw -n 4 --quiet
expect "run --ids still works" 0 "^[0-9 ]+$" $R1C run -m "$M" --ids 1,2,3 -n 4 --quiet
expect "run: text and --ids" 1 "not both" $R1C run -m "$M" "x" --ids 1
a=$($R1C run -m "$M" "Hi" -n 10 --temp 0 --quiet -t 1); b=$($R1C run -m "$M" "Hi" -n 10 --temp 0 --quiet -t 2)
[ "$a" = "$b" ] && ok "greedy text output is the same for 1 and 2 threads" || fail "greedy text differs"

# chat: the second turn reuses the cached conversation up to where the last answer began
out=$(printf 'What is 2+2?\nAnd 3+3?\n/reset\nHello again\n/exit\n' | $R1C chat -m "$M" -n 5 --temp 0 2>&1 >/dev/null)
t1=$(grep -m1 'prompt tokens' <<<"$out"); t2=$(grep 'prompt tokens' <<<"$out" | sed -n 2p); t3=$(grep 'prompt tokens' <<<"$out" | sed -n 3p)
r2=$(sed -E 's/.*, ([0-9]+) reused.*/\1/' <<<"$t2"); p2=$(sed -E 's/.*\(([0-9]+) prompt.*/\1/' <<<"$t2")
r1=$(sed -E 's/.*, ([0-9]+) reused.*/\1/' <<<"$t1"); r3=$(sed -E 's/.*, ([0-9]+) reused.*/\1/' <<<"$t3")
[ "$r1" = 0 ] && [ "$r2" -gt 0 ] && [ "$r2" -lt "$p2" ] && [ "$r3" = 0 ] && grep -q "conversation cleared" <<<"$out" \
  && ok "chat: turn 2 reuses $r2 of $p2 cached tokens; /reset starts over" || fail "chat cache reuse: $out"
expect "chat without a template" 1 "chat_template" $R1C chat -m tests/data/qwen2_tiny

finish
