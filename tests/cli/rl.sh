#!/usr/bin/env bash
# r1c rl (GRPO): 6 steps on a tiny model — the log's columns, KL exactly 0 at the first step (policy
# = reference) and above 0 once the policy has moved, the clip fraction a share, the trained policy a
# model `r1c run` loads; bad configs get one-line errors.
set -u
R1C=${R1C_BIN:-build/r1c}
TMP=${R1C_TMP:-/tmp}/cli-rl
rm -rf "$TMP" && mkdir -p "$TMP"
. "$(dirname "$0")/lib/expect.bash"

$R1C data gen --task arithmetic --levels 1 --n 300 --out "$TMP/a.jsonl" 2>/dev/null
$R1C tokenizer train --vocab-size 300 --jsonl text --out "$TMP/tok" "$TMP/a.jsonl" >/dev/null 2>&1
cat > "$TMP/t.json" <<JSON
{"model": {"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
           "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5, "tie_word_embeddings": true},
 "tokenizer": "tok", "data": ["a.jsonl"], "batch_size": 4, "seq_len": 64, "steps": 150, "lr": 0.01, "warmup": 10,
 "threads": 2, "seed": 3, "out": "base", "log_every": 10}
JSON
$R1C train --config "$TMP/t.json" >/dev/null 2>&1 || fail "training the test model failed"
cat > "$TMP/grpo.json" <<JSON
{"policy": "base", "task": "arithmetic", "levels": "1", "template": "raw", "group_size": 4, "prompts_per_step": 3,
 "steps": 6, "max_tokens": 64, "temperature": 1.0, "lr": 0.003, "beta": 0.04, "updates": 2,
 "reward_accuracy": 1.0, "reward_format": 0.5, "threads": 2, "seed": 5, "out": "rl",
 "forbidden": ["[0-9] [+] [0-9]", "(?m)^(.+)\\\\n\\\\1$"], "reward_forbidden": -0.25, "eval_every": 3, "eval_n": 4, "eval_levels": "1-2", "save_best": 1}
JSON
before=$(md5sum "$TMP/base/model.safetensors" | cut -d' ' -f1)
expect "GRPO 6 steps" 0 "GRPO: 6 steps" $R1C rl --config "$TMP/grpo.json"
[ "$(wc -l < "$TMP/rl/rl_log.csv")" = 7 ] && head -1 "$TMP/rl/rl_log.csv" | grep -q "^step,reward,accuracy,format,violations,kl,clip_frac" \
  && ok "rl_log.csv: a header and 6 steps" || fail "rl_log.csv: $(cat "$TMP/rl/rl_log.csv")"
node -e '
const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").slice(1).map((l) => l.split(",").map(Number));
const fail = (m) => { console.error(m); process.exit(1); };
if (rows[0][5] !== 0) fail(`KL at step 1 is ${rows[0][5]}, want exactly 0 (policy = reference)`);
if (!(rows[5][5] > 0)) fail(`KL at step 6 is ${rows[5][5]}: the policy did not move`);
let viol = 0;
for (const r of rows) {
  for (const i of [2, 3, 4, 6]) if (!(r[i] >= 0 && r[i] <= 1)) fail(`bad share in column ${i}: ${r}`);
  if (!(r[8] >= 1 && r[8] <= 64)) fail(`bad length ${r}`);
  if (Math.abs(r[1] - (r[2] + 0.5 * r[3] - 0.25 * r[4])) > 1e-5)
    fail(`reward ${r[1]} != accuracy + 0.5 format - 0.25 violations (${r[2]}, ${r[3]}, ${r[4]})`);
  viol += r[4];
}
if (!(viol > 0)) fail("no completion ever broke the rule \"[0-9] [+] [0-9]\" (the test model writes sums)");
' "$TMP/rl/rl_log.csv" && ok "KL 0 then > 0; reward = accuracy + 0.5 format - 0.25 violations; shares in [0, 1]" || fail "log values"
# held-out evaluation before the first step, every 3 steps and after the last, levels 1 and 2
[ "$(cut -d, -f1,2 "$TMP/rl/eval.csv" | tr '\n' ' ')" = "step,level 0,1 0,2 3,1 3,2 6,1 6,2 " ] && ok "eval.csv: steps 0, 3, 6 x levels 1, 2" \
  || fail "eval.csv: $(cat "$TMP/rl/eval.csv")"
# save_best: OUT/best holds the policy of the best held-out point after the start, if one beat it
node -e '
const fs = require("fs"), rows = fs.readFileSync(process.argv[1] + "/eval.csv", "utf8").trim().split("\n").slice(1).map((l) => l.split(",").map(Number));
const mean = {};
for (const r of rows) mean[r[0]] = (mean[r[0]] || 0) + r[3] / 2;
const steps = Object.keys(mean).map(Number).sort((a, b) => a - b);
const beat = steps.filter((s) => s > 0 && mean[s] > Math.max(...steps.filter((t) => t < s).map((t) => mean[t])));
const has = fs.existsSync(process.argv[1] + "/best/model.safetensors");
process.exit(has === beat.length > 0 ? 0 : 1);' "$TMP/rl" && ok "save_best: OUT/best exactly when a step beat the start" || fail "save_best"
grep -q "<polyline" "$TMP/rl/eval.svg" && grep -q "<polyline" "$TMP/rl/rl_length.svg" && ok "eval.svg and rl_length.svg plots" || fail "plots"
# the last held-out row equals r1c eval's greedy accuracy of the trained policy (same problems, same decoding)
acc=$(grep "^6,2," "$TMP/rl/eval.csv" | cut -d, -f4)
$R1C eval -m "$TMP/rl" --task arithmetic --levels 2 --n 4 --k 0 --max-tokens 64 --out "$TMP/ev.json" >/dev/null 2>&1
node -e 'const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); process.exit(Math.abs(d.levels[0].greedy_accuracy - Number(process.argv[2])) < 1e-9 ? 0 : 1)' \
  "$TMP/ev.json" "$acc" && ok "held-out accuracy in eval.csv = r1c eval's ($acc)" || fail "eval.csv $acc vs $(cat "$TMP/ev.json" | head -c 300)"
grep -q "<polyline" "$TMP/rl/rl.svg" && ok "rl.svg plot" || fail "no plot"
expect "the trained policy runs" 0 "" $R1C run -m "$TMP/rl" --raw -n 4 "What is 1 + 2?"
[ "$(md5sum "$TMP/base/model.safetensors" | cut -d' ' -f1)" = "$before" ] && ok "the starting policy's files are untouched" \
  || fail "rl wrote over its starting policy"
cmp -s "$TMP/base/model.safetensors" "$TMP/rl/model.safetensors" && fail "the trained policy equals the start" || ok "the policy changed"
# distillation data: a teacher's right, well-formed samples of train problems (the shipped model as the
# teacher: the test model above is too small to be right often)
T1="$(dirname "$0")/../../models/r1c-tiny.gguf"
expect "data distill" 0 "traces from 24 problems" $R1C data distill -m "$T1" --task arithmetic --levels 1-3 --n 24 --k 3 --keep 2 \
  --template chat --max-tokens 160 --out "$TMP/traces.jsonl"
$R1C data distill -m "$T1" --task arithmetic --levels 1-3 --n 24 --k 3 --keep 2 --template chat --max-tokens 160 \
  --out "$TMP/traces2.jsonl" >/dev/null 2>&1
cmp -s "$TMP/traces.jsonl" "$TMP/traces2.jsonl" && ok "data distill is reproducible" || fail "two distill runs differ"
node -e '
const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter((l) => l);
const fail = (m) => { console.error(m); process.exit(1); };
if (lines.length < 12 || lines.length > 48) fail(`${lines.length} traces from 24 problems, keep 2`);
const per = {}, levels = new Set();
for (const l of lines) {
  const p = JSON.parse(l), c = p.completion;
  const m = [...c.matchAll(/<answer>([^<]*)<\/answer>/g)].pop();
  if (!m || BigInt(m[1].trim()) !== BigInt(p.answer)) fail(`kept a wrong answer: ${l}`);
  const close = c.indexOf("</think>");  /* the prompt opened <think> */
  if (close < 0 || c.includes("<think>") || c.lastIndexOf("<answer>") < close) fail(`kept one without R1 format: ${l}`);
  if (p.template !== "chat" || p.opens_think !== true || !(p.level >= 1 && p.level <= 3)) fail(`fields: ${l}`);
  per[p.prompt] = (per[p.prompt] || 0) + 1, levels.add(p.level);
  if (per[p.prompt] > 2) fail(`more than --keep 2 for ${p.prompt}`);
}
if (levels.size !== 3) fail("levels 1-3 expected");' "$TMP/traces.jsonl" \
  && ok "every kept trace is right and well-formed (independent check), at most 2 per problem" || fail "traces: $(head -3 "$TMP/traces.jsonl")"
expect "distill: more problems than the split has" 1 "has only about" $R1C data distill -m "$T1" --task arithmetic --levels 1 \
  --n 5000 --k 1 --max-tokens 4 --out "$TMP/traces3.jsonl"
expect "distill without --out" 2 "required" $R1C data distill -m "$TMP/rl" --task arithmetic --n 2
sed 's/"task": "arithmetic"/"task": "poetry"/' "$TMP/grpo.json" > "$TMP/bad1.json"
expect "bad task" 1 '"task" must be' $R1C rl --config "$TMP/bad1.json"
sed 's/"policy": "base"/"policy": "nosuch"/' "$TMP/grpo.json" > "$TMP/bad2.json"
expect "missing policy" 1 "nosuch" $R1C rl --config "$TMP/bad2.json"
sed 's/"group_size": 4/"group_size": 1/' "$TMP/grpo.json" > "$TMP/bad3.json"
expect "group of one" 1 '"group_size" must be' $R1C rl --config "$TMP/bad3.json"
sed 's/"\[0-9\] \[+\] \[0-9\]"/"(unclosed"/' "$TMP/grpo.json" > "$TMP/bad4.json"
expect "bad forbidden pattern" 1 'forbidden": rule 1: bad pattern at offset' $R1C rl --config "$TMP/bad4.json"
sed 's/"forbidden": \[/"forbidden": [3, /' "$TMP/grpo.json" > "$TMP/bad5.json"
expect "forbidden not strings" 1 'must be a list of strings' $R1C rl --config "$TMP/bad5.json"
expect "no config" 2 "--config" $R1C rl
finish
