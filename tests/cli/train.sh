#!/usr/bin/env bash
# r1c train: a tiny model from generated data and a trained tokenizer; the checkpoint runs with
# `r1c run`; N steps straight equal N/2 (--stop-after) + --resume + N/2 byte for byte; the log, the plot and
# the progress lines; bad configs get one-line errors and exit 1 (usage: 2).
set -u
R1C=${R1C_BIN:-build/r1c}
TMP=${R1C_TMP:-/tmp}/cli-train
rm -rf "$TMP" && mkdir -p "$TMP"
. "$(dirname "$0")/lib/expect.bash"

$R1C data gen --task arithmetic --levels 1-3 --n 300 --out "$TMP/a.jsonl" 2>/dev/null
$R1C data gen --task arithmetic --levels 1-3 --n 40 --split test --out "$TMP/e.jsonl" 2>/dev/null
$R1C tokenizer train --vocab-size 300 --jsonl text --out "$TMP/tok" "$TMP/a.jsonl" >/dev/null 2>&1
config() { # out dir, steps -> train.json
  cat > "$TMP/$1.json" <<JSON
{"model": {"model_type": "qwen2", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
           "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5, "tie_word_embeddings": true},
 "tokenizer": "tok", "data": ["a.jsonl"], "eval_data": ["e.jsonl"], "batch_size": 2, "seq_len": 32, "grad_accum": 2,
 "steps": $2, "lr": 0.01, "warmup": 2, "threads": 2, "seed": 3, "out": "$1", "log_every": 2, "eval_every": 3, "eval_batches": 2}
JSON
}
config straight 6
config halves 6
expect "train 6 steps" 0 "trained 6 steps.*final loss" $R1C train --config "$TMP/straight.json"
for f in config.json model.safetensors optimizer.safetensors tokenizer.json trainer_state.json train_log.csv loss.svg; do
  [ -s "$TMP/straight/$f" ] || fail "checkpoint lacks $f"
done
[ "$(wc -l < "$TMP/straight/train_log.csv")" = 7 ] && ok "log: a header and 6 steps" || fail "log lines: $(wc -l < "$TMP/straight/train_log.csv")"
grep -q "<polyline" "$TMP/straight/loss.svg" && ok "loss plot" || fail "loss.svg has no curve"
out=$($R1C train --config "$TMP/straight.json" --steps 2 2>&1 >/dev/null)
grep -qE "^step 2/2 \| loss [0-9.]+ .*\| lr .* tok/s \| MFU" <<<"$out" && ok "progress lines when not a terminal" || fail "progress: $out"
config straight 6 # (the --steps 2 run above overwrote it: train it again)
$R1C train --config "$TMP/straight.json" >/dev/null 2>&1
expect "first half" 0 "trained 3 steps" $R1C train --config "$TMP/halves.json" --stop-after 3
config halves 6
expect "resume" 0 "trained" $R1C train --config "$TMP/halves.json" --resume
cmp -s "$TMP/straight/model.safetensors" "$TMP/halves/model.safetensors" \
  && cmp -s "$TMP/straight/optimizer.safetensors" "$TMP/halves/optimizer.safetensors" \
  && ok "3 + resume + 3 steps = 6 steps, weights and moments byte for byte" || fail "resume is not exact"
[ "$(tail -1 "$TMP/straight/train_log.csv" | cut -d, -f2)" = "$(tail -1 "$TMP/halves/train_log.csv" | cut -d, -f2)" ] \
  && ok "the same last loss" || fail "last losses differ"
expect "the checkpoint runs" 0 "" $R1C run -m "$TMP/straight" --raw -n 4 "1 + 1 ="

# token shards and a curriculum (the loader: prefetch thread, exact resume of its state)
$R1C data gen --task countdown --levels 1-2 --n 200 --out "$TMP/c.jsonl" 2>/dev/null
$R1C data shard --tokenizer "$TMP/tok" --out "$TMP/ds_a" "$TMP/a.jsonl" >/dev/null 2>&1
$R1C data shard --tokenizer "$TMP/tok" --out "$TMP/ds_c" "$TMP/c.jsonl" >/dev/null 2>&1
cur() { # out dir -> curriculum config, 3 + 3 steps
  sed -e 's/"data": \["a.jsonl"\]/"stages": [{"name": "easy", "steps": 3, "mix": {"arith": 1}}, {"steps": 3, "mix": {"arith": 0.5, "cd": 0.5}}], "datasets": {"arith": "ds_a", "cd": "ds_c"}/' \
      -e 's/"steps": 6, //' -e "s/\"out\": \"straight\"/\"out\": \"$1\"/" "$TMP/straight.json" > "$TMP/$1.json"
}
cur cur_all
cur cur_half
expect "curriculum: steps from the stages" 0 "trained 6 steps" $R1C train --config "$TMP/cur_all.json"
grep -q '"loader"' "$TMP/cur_all/trainer_state.json" && ok "the loader's state is in trainer_state.json" || fail "no loader state"
expect "curriculum first half" 0 "trained 4 steps" $R1C train --config "$TMP/cur_half.json" --stop-after 4
expect "curriculum resume" 0 "trained 6 steps" $R1C train --config "$TMP/cur_half.json" --resume
cmp -s "$TMP/cur_all/model.safetensors" "$TMP/cur_half/model.safetensors" \
  && ok "curriculum: 4 + resume + 2 steps = 6 steps, byte for byte" || fail "curriculum resume is not exact"
sed 's/"data": \["a.jsonl"\]/"dataset": "ds_a"/' "$TMP/straight.json" > "$TMP/one.json"
expect "one shard dataset" 0 "one shard dataset" $R1C train --config "$TMP/one.json" --steps 2
sed 's/"data": \["a.jsonl"\]/"data": ["a.jsonl"], "dataset": "ds_a"/' "$TMP/straight.json" > "$TMP/bad6.json"
expect "two data sources refused" 1 "one of" $R1C train --config "$TMP/bad6.json"
sed 's/"data": \["a.jsonl"\]/"stages": [{"steps": 2, "mix": {"arith": "x"}}]/' "$TMP/straight.json" > "$TMP/bad7.json"
expect "bad curriculum names the field" 1 "stages\[0\].mix.arith" $R1C train --config "$TMP/bad7.json"

# DeepSeek-V3 style: MLA, a dense first layer, MoE with a shared expert; expert loads logged
cat > "$TMP/ds.json" <<JSON
{"model": {"model_type": "deepseek_v3", "hidden_size": 32, "intermediate_size": 64, "moe_intermediate_size": 16,
           "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 4, "q_lora_rank": 16, "kv_lora_rank": 16,
           "qk_nope_head_dim": 8, "qk_rope_head_dim": 4, "v_head_dim": 8, "n_routed_experts": 4, "n_shared_experts": 1,
           "num_experts_per_tok": 2, "first_k_dense_replace": 1, "n_group": 2, "topk_group": 1, "topk_method": "noaux_tc",
           "scoring_func": "sigmoid", "norm_topk_prob": true, "routed_scaling_factor": 2.5, "rms_norm_eps": 1e-6},
 "tokenizer": "tok", "data": ["a.jsonl"], "batch_size": 2, "seq_len": 32, "steps": 4, "lr": 0.01, "warmup": 1,
 "threads": 2, "out": "ds", "log_every": 2}
JSON
expect "deepseek_v3 training" 0 "trained 4 steps" $R1C train --config "$TMP/ds.json"
[ "$(wc -l < "$TMP/ds/expert_load.csv")" = 9 ] && head -1 "$TMP/ds/expert_load.csv" | grep -q "^step,layer,expert_0" \
  && ok "expert loads: 2 MoE layers x 4 steps" || fail "expert_load.csv: $(head -3 "$TMP/ds/expert_load.csv")"
grep -q '"e_score_correction_bias"\|e_score_correction_bias' "$TMP/ds/model.safetensors" && ok "the routing bias is saved" || fail "no bias"
expect "the deepseek checkpoint runs" 0 "" $R1C run -m "$TMP/ds" --raw -n 4 "1 + 1 ="

expect "usage: no config" 2 "--config" $R1C train
expect "usage: unknown option" 2 "unknown option" $R1C train --config "$TMP/straight.json" --bogus
expect "missing config" 1 "cannot read" $R1C train --config "$TMP/none.json"
sed 's/"batch_size": 2/"batch_size": "two"/' "$TMP/straight.json" > "$TMP/bad1.json"
expect "bad field type" 1 '"batch_size" must be a number' $R1C train --config "$TMP/bad1.json"
sed 's/"qwen2"/"gpt2"/' "$TMP/straight.json" > "$TMP/bad2.json"
expect "unsupported model_type" 1 "model_type 'gpt2'" $R1C train --config "$TMP/bad2.json"
sed 's/"tok"/"notok"/' "$TMP/straight.json" > "$TMP/bad3.json"
expect "missing tokenizer" 1 "notok" $R1C train --config "$TMP/bad3.json"
sed 's/"a.jsonl"\]/"a.jsonl", "missing.jsonl"]/' "$TMP/straight.json" > "$TMP/bad4.json"
expect "missing data file" 1 "missing.jsonl: cannot read" $R1C train --config "$TMP/bad4.json"
sed 's/"out": "straight"/"out": "fresh"/' "$TMP/straight.json" > "$TMP/bad5.json"
expect "resume without a checkpoint" 1 "no checkpoint to resume" $R1C train --config "$TMP/bad5.json" --resume

finish
