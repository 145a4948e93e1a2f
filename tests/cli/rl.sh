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
 "reward_accuracy": 1.0, "reward_format": 0.5, "threads": 2, "seed": 5, "out": "rl"}
JSON
before=$(md5sum "$TMP/base/model.safetensors" | cut -d' ' -f1)
expect "GRPO 6 steps" 0 "GRPO: 6 steps" $R1C rl --config "$TMP/grpo.json"
[ "$(wc -l < "$TMP/rl/rl_log.csv")" = 7 ] && head -1 "$TMP/rl/rl_log.csv" | grep -q "^step,reward,accuracy,format,kl,clip_frac" \
  && ok "rl_log.csv: a header and 6 steps" || fail "rl_log.csv: $(cat "$TMP/rl/rl_log.csv")"
node -e '
const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").slice(1).map((l) => l.split(",").map(Number));
const fail = (m) => { console.error(m); process.exit(1); };
if (rows[0][4] !== 0) fail(`KL at step 1 is ${rows[0][4]}, want exactly 0 (policy = reference)`);
if (!(rows[5][4] > 0)) fail(`KL at step 6 is ${rows[5][4]}: the policy did not move`);
for (const r of rows) {
  if (!(r[5] >= 0 && r[5] <= 1) || !(r[2] >= 0 && r[2] <= 1) || !(r[3] >= 0 && r[3] <= 1) || !(r[7] >= 1 && r[7] <= 64))
    fail(`bad row ${r}`);
  if (Math.abs(r[1] - (r[2] + 0.5 * r[3])) > 1e-5) fail(`reward ${r[1]} != accuracy + 0.5 format (${r[2]}, ${r[3]})`);
}' "$TMP/rl/rl_log.csv" && ok "KL 0 then > 0; reward = accuracy + 0.5 x format; shares in [0, 1]" || fail "log values"
grep -q "<polyline" "$TMP/rl/rl.svg" && ok "rl.svg plot" || fail "no plot"
expect "the trained policy runs" 0 "" $R1C run -m "$TMP/rl" --raw -n 4 "What is 1 + 2?"
[ "$(md5sum "$TMP/base/model.safetensors" | cut -d' ' -f1)" = "$before" ] && ok "the starting policy's files are untouched" \
  || fail "rl wrote over its starting policy"
cmp -s "$TMP/base/model.safetensors" "$TMP/rl/model.safetensors" && fail "the trained policy equals the start" || ok "the policy changed"
sed 's/"task": "arithmetic"/"task": "poetry"/' "$TMP/grpo.json" > "$TMP/bad1.json"
expect "bad task" 1 '"task" must be' $R1C rl --config "$TMP/bad1.json"
sed 's/"policy": "base"/"policy": "nosuch"/' "$TMP/grpo.json" > "$TMP/bad2.json"
expect "missing policy" 1 "nosuch" $R1C rl --config "$TMP/bad2.json"
sed 's/"group_size": 4/"group_size": 1/' "$TMP/grpo.json" > "$TMP/bad3.json"
expect "group of one" 1 '"group_size" must be' $R1C rl --config "$TMP/bad3.json"
expect "no config" 2 "--config" $R1C rl
finish
