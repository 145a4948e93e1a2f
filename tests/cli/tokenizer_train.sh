#!/usr/bin/env bash
# r1c tokenizer train: exit codes, messages, and that the written tokenizer loads.
set -u
R1C=${R1C_BIN:-build/r1c}
TMP=${R1C_TMP:-/tmp}/cli_tokenizer_train
rm -rf "$TMP"; mkdir -p "$TMP"
. "$(dirname "$0")/lib/expect.bash"

for i in $(seq 1 200); do echo "Sentence number $i: $((i * 13)) + $((i * 7)) = $((i * 20)). Thinking about the answer, café 🙂."; done > "$TMP/a.txt"
printf '{"text": "hello world, hello there"}\n{"text": "12 * 3 = 36"}\n' > "$TMP/b.jsonl"

expect "train writes the files" 0 "trained on 1 texts .* merges learned, vocabulary 300" \
  $R1C tokenizer train --vocab-size 300 --out "$TMP/tok" "$TMP/a.txt"
[ -s "$TMP/tok/tokenizer.json" ] && [ -s "$TMP/tok/tokenizer_config.json" ] && ok "both files written" || fail "files missing"
expect "the trained tokenizer loads and encodes" 0 "<think>" $R1C tokenize -m "$TMP/tok" "<think>Sentence 12</think>"
expect "jsonl input" 0 "trained on 2 texts" $R1C tokenizer train --vocab-size 280 --min-frequency 1 --jsonl text --out "$TMP/tok2" "$TMP/b.jsonl"
expect "missing input file" 1 "$TMP/nope.txt" $R1C tokenizer train --vocab-size 300 --out "$TMP/tok3" "$TMP/nope.txt"
printf 'ok \xff bad' > "$TMP/bad.txt"
expect "invalid UTF-8" 1 "bad.txt: not valid UTF-8 at byte 3" $R1C tokenizer train --vocab-size 300 --out "$TMP/tok3" "$TMP/bad.txt"
expect "jsonl field missing" 1 "b.jsonl line 1.*'body'" $R1C tokenizer train --vocab-size 300 --jsonl body --out "$TMP/tok3" "$TMP/b.jsonl"
expect "bad --vocab-size" 2 "--vocab-size expects an integer" $R1C tokenizer train --vocab-size abc --out "$TMP/tok3" "$TMP/a.txt"
expect "--vocab-size below the bytes + added tokens" 2 "--vocab-size expects an integer in \[265" $R1C tokenizer train --vocab-size 100 --out "$TMP/tok3" "$TMP/a.txt"
expect "no --vocab-size" 2 "--vocab-size N is required" $R1C tokenizer train --out "$TMP/tok3" "$TMP/a.txt"
expect "no input" 2 "no input FILE" $R1C tokenizer train --vocab-size 300 --out "$TMP/tok3"
expect "unknown option" 2 "unknown option '--bogus'" $R1C tokenizer train --bogus 1 --vocab-size 300 --out "$TMP/tok3" "$TMP/a.txt"
expect "unknown subcommand" 2 "unknown tokenizer command" $R1C tokenizer frob
expect "unwritable output" 1 "a.txt/sub" $R1C tokenizer train --vocab-size 300 --out "$TMP/a.txt/sub" "$TMP/a.txt"
expect "help" 0 "usage: r1c tokenizer train" $R1C tokenizer train --help

finish
