#!/usr/bin/env bash
# r1c data shard / stats: JSONL -> token shards + dataset.json; sizes, exit codes, messages.
set -u
R1C=${R1C_BIN:-build/r1c}
TMP=${R1C_TMP:-/tmp}/cli-data-shard
rm -rf "$TMP"; mkdir -p "$TMP"
TOK=tests/data/qwen2_tiny
. "$(dirname "$0")/lib/expect.bash"

$R1C data gen --task arithmetic --n 300 --seed 3 --out "$TMP/a.jsonl" 2>/dev/null
$R1C data gen --task countdown --n 200 --levels 1-3 --seed 4 --out "$TMP/c.jsonl" 2>/dev/null
printf '{"body": "hello"}\n\n{"body": "<think>x</think>"}\n' > "$TMP/body.jsonl"

expect "shard two files" 0 "documents 500" \
  $R1C data shard --tokenizer $TOK --out "$TMP/ds" --shard-tokens 5000 "$TMP/a.jsonl" "$TMP/c.jsonl"
n_shards=$(ls "$TMP"/ds/shard-*.tok 2>/dev/null | wc -l)
[ "$n_shards" -gt 2 ] && ok "several shards ($n_shards)" || fail "shards: $n_shards"
# the manifest agrees with the files: sizes from the header fields (64 + tokens*2 + (docs+1)*8)
node - "$TMP/ds" <<'JS' && ok "manifest matches the shard files" || fail "manifest vs files"
const fs = require('fs'), path = require('path');
const assert = (c, m) => { if (!c) { console.error(m); process.exit(1); } };
const d = process.argv[2], m = JSON.parse(fs.readFileSync(path.join(d, 'dataset.json'), 'utf8'));
assert(m.format === 'r1c-dataset' && m.version === 1 && m.name === 'ds' && m.vocab_size === 512, 'manifest header');
assert(m.documents === 500 && m.documents === m.shards.reduce((a, s) => a + s.documents, 0), 'documents');
assert(m.tokens === m.shards.reduce((a, s) => a + s.tokens, 0), 'tokens');
for (const s of m.shards) {
  const b = fs.readFileSync(path.join(d, s.file));
  assert(b.subarray(0, 8).equals(Buffer.from('R1CTOK\0\0', 'binary')), 'magic');
  const ver = b.readUInt32LE(8), width = b.readUInt32LE(12), vocab = b.readUInt32LE(16);
  const docs = Number(b.readBigUInt64LE(24)), toks = Number(b.readBigUInt64LE(32));
  assert(ver === 1 && width === 2 && vocab === 512, `header ${ver} ${width} ${vocab}`);
  assert(docs === s.documents && toks === s.tokens && b.length === 64 + toks * 2 + (docs + 1) * 8, 'sizes');
  let bos = 0, eos = 0;
  for (let i = 0; i < toks; i++) { const t = b.readUInt16LE(64 + 2 * i); bos += t === m.bos_id; eos += t === m.eos_id; }
  assert(bos === docs && eos === docs, `bos ${bos} eos ${eos} docs ${docs}`);
}
JS
expect "stats" 0 "documents 500" $R1C data stats "$TMP/ds"
expect "stats histogram" 0 "document length: min [0-9]+, mean" $R1C data stats "$TMP/ds"
expect "stats times the loader" 0 "batches/s" $R1C data stats "$TMP/ds" --batches 50 --batch 4 --seq-len 64
expect "--field, blank lines skipped" 0 "documents 2" \
  $R1C data shard --tokenizer $TOK --out "$TMP/body" --field body "$TMP/body.jsonl"
expect "missing field names file and line" 1 "a.jsonl line 1: no string member 'body'" \
  $R1C data shard --tokenizer $TOK --out "$TMP/x" --field body "$TMP/a.jsonl"
printf '{"text": "ok"}\nnot json\n' > "$TMP/bad.jsonl"
expect "bad JSON names the line" 1 "bad.jsonl line 2: not valid JSON" \
  $R1C data shard --tokenizer $TOK --out "$TMP/x" "$TMP/bad.jsonl"
expect "missing input" 1 "nope.jsonl" $R1C data shard --tokenizer $TOK --out "$TMP/x" "$TMP/nope.jsonl"
expect "no tokenizer" 2 "--tokenizer DIR" $R1C data shard --out "$TMP/x" "$TMP/a.jsonl"
expect "no input" 2 "input FILE.jsonl" $R1C data shard --tokenizer $TOK --out "$TMP/x"
expect "bad --shard-tokens" 2 "--shard-tokens" $R1C data shard --tokenizer $TOK --out "$TMP/x" --shard-tokens 0 "$TMP/a.jsonl"
expect "unknown option" 2 "unknown option '--bogus'" $R1C data shard --bogus 1
expect "help" 0 "usage: r1c data shard" $R1C data shard --help
# corruption is refused, naming the file
cp -r "$TMP/ds" "$TMP/bad"
printf '\x55' | dd of="$TMP/bad/shard-00001.tok" bs=1 seek=200 conv=notrunc 2>/dev/null
expect "stats: flipped byte" 1 "shard-00001.tok: checksum mismatch" $R1C data stats "$TMP/bad"
head -c 100 "$TMP/ds/shard-00000.tok" > "$TMP/bad/shard-00000.tok"
expect "stats: truncated shard" 1 "shard-00000.tok: truncated" $R1C data stats "$TMP/bad"
expect "stats: no dataset" 1 "dataset.json" $R1C data stats "$TMP/nothing"

finish
