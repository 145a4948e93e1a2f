#!/usr/bin/env bash
# r1c eval: the table (one row per level) and the JSON; the same seed gives the same results; each
# problem's greedy verdict agrees with an independent check of its text in JavaScript (the answer in
# the last <answer>...</answer> equal to the reference as an integer); held-out problems only; bad
# options get one-line errors.
set -u
R1C=${R1C_BIN:-build/r1c}
TMP=${R1C_TMP:-/tmp}/cli-eval
rm -rf "$TMP" && mkdir -p "$TMP"
. "$(dirname "$0")/lib/expect.bash"

$R1C data gen --task arithmetic --levels 1-2 --n 400 --out "$TMP/a.jsonl" 2>/dev/null
$R1C tokenizer train --vocab-size 300 --jsonl text --out "$TMP/tok" "$TMP/a.jsonl" >/dev/null 2>&1
cat > "$TMP/t.json" <<JSON
{"model": {"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
           "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5, "tie_word_embeddings": true},
 "tokenizer": "tok", "data": ["a.jsonl"], "batch_size": 4, "seq_len": 64, "steps": 30, "lr": 0.01, "warmup": 3,
 "threads": 2, "seed": 3, "out": "m", "log_every": 10}
JSON
$R1C train --config "$TMP/t.json" >/dev/null 2>&1 || fail "training the test model failed"

expect "eval arithmetic" 0 "^\| 2 \| 4 \|" $R1C eval -m "$TMP/m" --task arithmetic --levels 1-2 --n 4 --k 2 --max-tokens 48 --out "$TMP/e1.json"
$R1C eval -m "$TMP/m" --task arithmetic --levels 1-2 --n 4 --k 2 --max-tokens 48 --out "$TMP/e2.json" >/dev/null 2>&1
cmp -s "$TMP/e1.json" "$TMP/e2.json" && ok "the same seed gives the same results" || fail "two runs differ"
node -e '
const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const fail = (m) => { console.error(m); process.exit(1); };
if (d.levels.length !== 2 || d.problems.length !== 8) fail(`levels ${d.levels.length}, problems ${d.problems.length}`);
for (const r of d.levels) for (const f of ["greedy_accuracy", "pass_at_1", "format_greedy", "mean_tokens"])
  if (typeof r[f] !== "number" || r[f] < 0 || (f !== "mean_tokens" && r[f] > 1)) fail(`level ${r.level}: ${f} = ${r[f]}`);
for (const p of d.problems) {
  const m = [...p.greedy.matchAll(/<answer>([^<]*)<\/answer>/g)].pop();
  const mine = !!m && /^\s*[+-]?\d+\s*$/.test(m[1]) && BigInt(m[1].trim()) === BigInt(p.reference);
  if (mine !== p.greedy_right) fail(`"${p.prompt}": eval says ${p.greedy_right}, the text "${p.greedy}" says ${mine}`);
  if (p.samples_right.length !== 2) fail("k = 2 samples expected");
}
const acc = d.levels.map((r) => r.greedy_accuracy * r.problems), right = d.problems.filter((p) => p.greedy_right).length;
if (acc.reduce((a, b) => a + b, 0) !== right) fail("the per-level accuracy does not add up to the problems");' "$TMP/e1.json" \
  && ok "greedy verdicts agree with an independent check; levels add up" || fail "the JSON does not bind"
# the problems are the test split: none of them in the training data
node -e '
const fs = require("fs");
const train = new Set(fs.readFileSync(process.argv[2], "utf8").trim().split("\n").map((l) => JSON.parse(l).prompt));
const d = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
const seen = d.problems.filter((p) => train.has(p.prompt));
if (seen.length) { console.error("in the training data: " + seen.map((p) => p.prompt).join(", ")); process.exit(1); }' \
  "$TMP/e1.json" "$TMP/a.jsonl" && ok "held-out problems" || fail "an eval problem is in the training data"
# batching binds nothing: with --n 2 the two problems get the same completions as in the run of 4
$R1C eval -m "$TMP/m" --task arithmetic --levels 1-2 --n 2 --k 2 --max-tokens 48 --out "$TMP/e3.json" >/dev/null 2>&1
node -e '
const fs = require("fs"), a = JSON.parse(fs.readFileSync(process.argv[1], "utf8")), b = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const key = (p) => JSON.stringify([p.level, p.prompt, p.greedy, p.samples_right]);
const first = [0, 1, 4, 5].map((i) => key(a.problems[i])), got = b.problems.map(key);
process.exit(JSON.stringify(first) === JSON.stringify(got) ? 0 : 1);' "$TMP/e1.json" "$TMP/e3.json" \
  && ok "a problem's completions do not depend on how many are decoded with it" || fail "--n 2 differs from the first two of --n 4"
# forbidden-pattern rules: the verdict on each greedy completion agrees with JavaScript's regex
printf '# sums written out\n\n[0-9] [+] [0-9]\n' > "$TMP/rules.txt"
expect "eval with --forbidden" 0 "rule violations" $R1C eval -m "$TMP/m" --task arithmetic --levels 1-2 --n 4 --k 2 --max-tokens 48 \
  --forbidden "$TMP/rules.txt" --out "$TMP/e4.json"
node -e '
const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
if (JSON.stringify(d.forbidden) !== JSON.stringify(["[0-9] [+] [0-9]"])) process.exit(1);
for (const p of d.problems) if ((p.greedy_rules_broken > 0) !== /[0-9] [+] [0-9]/.test(p.greedy)) process.exit(1);
for (const r of d.levels) if (!(r.rule_violations >= 0 && r.rule_violations <= 1)) process.exit(1);' "$TMP/e4.json" \
  && ok "rule verdicts agree with an independent regex" || fail "rules: $(head -c 400 "$TMP/e4.json")"
printf 'ok\n(unclosed\n' > "$TMP/bad_rules.txt"
expect "bad rule" 1 "bad_rules.txt: rule 2: bad pattern at offset 9" $R1C eval -m "$TMP/m" --task arithmetic --levels 1 --n 1 --k 0 \
  --forbidden "$TMP/bad_rules.txt"
expect "missing rules file" 1 "nosuch.txt: cannot open" $R1C eval -m "$TMP/m" --task arithmetic --forbidden "$TMP/nosuch.txt"
expect "countdown, greedy only, R1-Zero template" 0 "^\| 1 \| 2 \| [0-9.]+ % \| - \|" \
  $R1C eval -m "$TMP/m" --task countdown --levels 1 --n 2 --k 0 --max-tokens 16 --template zero
expect "chat template" 0 "^\| 3 \|" $R1C eval -m "$TMP/m" --task arithmetic --levels 3 --n 1 --k 0 --max-tokens 8 --template chat
expect "no task" 2 "required" $R1C eval -m "$TMP/m"
expect "bad task" 2 "arithmetic or countdown" $R1C eval -m "$TMP/m" --task poetry
expect "bad levels" 2 "levels are 1..8" $R1C eval -m "$TMP/m" --task arithmetic --levels 0-9
expect "bad template" 2 "raw, chat or zero" $R1C eval -m "$TMP/m" --task arithmetic --template nope
expect "missing model" 1 "nosuch" $R1C eval -m "$TMP/nosuch" --task arithmetic
expect "unwritable --out" 1 "cannot write" $R1C eval -m "$TMP/m" --task arithmetic --levels 1 --n 1 --k 0 --max-tokens 4 --out /nonexistent/x.json
finish
