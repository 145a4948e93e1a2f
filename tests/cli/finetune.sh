#!/usr/bin/env bash
# r1c finetune: LoRA on a small trained model. The adapter is PEFT's two files; trainable share printed;
# with B still zero (lr 0) the adapter changes nothing (logits byte for byte); a trained adapter gives the
# same logits unmerged (r1c logits --lora) and merged (r1c lora merge); the base files stay as they were;
# --resume continues exactly; full fine-tuning writes a model; bad options get one-line errors.
set -u
R1C=${R1C_BIN:-build/r1c}
TMP=${R1C_TMP:-/tmp}/cli-finetune
rm -rf "$TMP" && mkdir -p "$TMP"
. "$(dirname "$0")/lib/expect.bash"

$R1C data gen --task arithmetic --levels 1-2 --n 200 --out "$TMP/a.jsonl" 2>/dev/null
$R1C data gen --task countdown --levels 1 --n 100 --out "$TMP/c.jsonl" 2>/dev/null
$R1C tokenizer train --vocab-size 300 --jsonl text --out "$TMP/tok" "$TMP/a.jsonl" "$TMP/c.jsonl" >/dev/null 2>&1
cat > "$TMP/base.json" <<JSON
{"model": {"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
           "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5, "tie_word_embeddings": false},
 "tokenizer": "tok", "data": ["a.jsonl"], "batch_size": 2, "seq_len": 32, "steps": 8, "lr": 0.01, "warmup": 2,
 "threads": 2, "seed": 3, "out": "base", "log_every": 4}
JSON
$R1C train --config "$TMP/base.json" >/dev/null 2>&1 || fail "base model training failed"
B="$TMP/base"
md5_before=$(md5sum "$B/model.safetensors" | cut -d' ' -f1)
ft() { $R1C finetune -m "$B" --data "$TMP/c.jsonl" --batch 2 --seq-len 32 --threads 2 --log-every 2 "$@"; }

expect "zero-B adapter (lr 0)" 0 "trained 2 steps" ft --out "$TMP/zero" --lora-r 4 --lora-targets q_proj,v_proj --lr 0 --steps 2
out=$(ft --out "$TMP/zero" --lora-r 4 --lora-targets q_proj,v_proj --lr 0 --steps 2 2>&1)
grep -qE "^trainable params: [0-9]+ \|\| all params: [0-9]+ \|\| trainable%: [0-9.]+$" <<<"$out" && ok "the trainable share is printed" \
  || fail "no trainable line: $out"
for f in adapter_config.json adapter_model.safetensors optimizer.safetensors trainer_state.json train_log.csv; do
  [ -s "$TMP/zero/$f" ] || fail "the adapter directory lacks $f"
done
[ -e "$TMP/zero/model.safetensors" ] && fail "a LoRA run wrote a whole model" || ok "LoRA writes the adapter only"
grep -q '"peft_type": "LORA"' "$TMP/zero/adapter_config.json" && grep -q '"r": 4' "$TMP/zero/adapter_config.json" \
  && ok "adapter_config.json is PEFT's" || fail "adapter_config.json: $(cat "$TMP/zero/adapter_config.json")"
grep -q "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight" "$TMP/zero/adapter_model.safetensors" \
  && ok "PEFT's tensor names" || fail "tensor names"
ids="1 5 9 13 17 21 25"
expect "base logits (ids separated by spaces)" 0 "" $R1C logits -m "$B" --ids "$ids" --out "$TMP/l_base.bin"
expect "logits with the zero-B adapter" 0 "" $R1C logits -m "$B" --lora "$TMP/zero" --ids "$ids" --out "$TMP/l_zero.bin"
cmp -s "$TMP/l_base.bin" "$TMP/l_zero.bin" && ok "a zero-B adapter changes nothing (logits byte for byte)" || fail "zero-B adapter changed the logits"

expect "LoRA training" 0 "trained 12 steps" ft --out "$TMP/lora" --lora-r 8 --lora-alpha 16 --lora-dropout 0.1 \
  --lora-targets q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj --lr 0.01 --steps 12 --eval "$TMP/c.jsonl" --eval-every 6
[ "$(md5sum "$B/model.safetensors" | cut -d' ' -f1)" = "$md5_before" ] && ok "the base model's file is untouched" || fail "base changed"
first=$(sed -n 2p "$TMP/lora/train_log.csv" | cut -d, -f2); last=$(tail -1 "$TMP/lora/train_log.csv" | cut -d, -f2)
awk -v a="$first" -v b="$last" 'BEGIN{exit !(b < a)}' && ok "the loss falls ($first -> $last)" || fail "loss $first -> $last"
expect "logits with the adapter" 0 "" $R1C logits -m "$B" --lora "$TMP/lora" --ids "$ids" --out "$TMP/l_lora.bin"
cmp -s "$TMP/l_base.bin" "$TMP/l_lora.bin" && fail "the trained adapter changes nothing" || ok "the trained adapter changes the logits"
expect "merge" 0 "" $R1C lora merge -m "$B" --lora "$TMP/lora" --out "$TMP/merged"
expect "logits of the merged model" 0 "" $R1C logits -m "$TMP/merged" --ids "$ids" --out "$TMP/l_merged.bin"
node -e '
const fs = require("fs");
const a = new Float32Array(fs.readFileSync(process.argv[1]).buffer.slice(0)), b = new Float32Array(fs.readFileSync(process.argv[2]).buffer.slice(0));
let d = 0, s = 0; for (let i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i] - b[i])); s = Math.max(s, Math.abs(a[i])); }
if (a.length !== b.length || a.length === 0 || !(d <= 1e-4 * Math.max(s, 1))) { console.error(`max diff ${d}, scale ${s}, n ${a.length}/${b.length}`); process.exit(1); }
console.error(`merged vs unmerged: max |diff| ${d.toExponential(2)} of ${s.toFixed(2)}`);' "$TMP/l_lora.bin" "$TMP/l_merged.bin" \
  && ok "merged = unmerged logits" || fail "merged and unmerged differ"

# resume: 6 + 6 steps = 12 steps, byte for byte (adapter and moments)
expect "LoRA first half" 0 "trained 6 steps" ft --out "$TMP/half" --lora-r 8 --lora-alpha 16 --lora-dropout 0.1 \
  --lora-targets q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj --lr 0.01 --steps 12 --eval "$TMP/c.jsonl" --eval-every 6 --stop-after 6
expect "LoRA resume" 0 "trained 12 steps" ft --out "$TMP/half" --lora-r 8 --lora-alpha 16 --lora-dropout 0.1 \
  --lora-targets q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj --lr 0.01 --steps 12 --eval "$TMP/c.jsonl" --eval-every 6 --resume
cmp -s "$TMP/lora/adapter_model.safetensors" "$TMP/half/adapter_model.safetensors" \
  && cmp -s "$TMP/lora/optimizer.safetensors" "$TMP/half/optimizer.safetensors" \
  && ok "LoRA: 6 + resume + 6 steps = 12 steps, byte for byte" || fail "LoRA resume is not exact"

# full fine-tuning: a new model that runs
expect "full fine-tuning" 0 "trained 3 steps" ft --out "$TMP/full" --steps 3 --lr 1e-3
expect "the fine-tuned model runs" 0 "" $R1C run -m "$TMP/full" --raw -n 4 "1 + 1 ="

# SFT with a prompt field: the loss is taken on the completion only. The completion here is the same
# word for every line (the "task" field), so the loss must go to ~0; with the prompt counted it cannot.
expect "SFT on completions" 0 "trained 60 steps" ft --out "$TMP/sft" --prompt-field prompt --field task --steps 60 --lr 2e-2 --warmup 2
last=$(tail -1 "$TMP/sft/train_log.csv" | cut -d, -f2)
awk -v l="$last" 'BEGIN { exit !(l < 0.5) }' && ok "prompt tokens are not targets (loss $last)" || fail "SFT loss $last: the prompt is counted?"
expect "SFT: a line without the prompt field" 1 'line 1: no string "nosuch"' ft --out "$TMP/x" --prompt-field nosuch --field task --steps 1

# errors
expect "no base" 2 "-m BASE" $R1C finetune --data "$TMP/c.jsonl" --out "$TMP/x"
expect "no data" 2 "--data" $R1C finetune -m "$B" --out "$TMP/x"
expect "unknown target" 1 "no matrix of the model matches" ft --out "$TMP/x" --lora-r 4 --lora-targets nosuch_proj --steps 1
expect "bad rank" 1 "\"r\" must be a number" ft --out "$TMP/x" --lora-r 0 --steps 1
expect "alpha without rank" 2 "need --lora-r" ft --out "$TMP/x" --lora-alpha 8 --steps 1
expect "not a number" 2 "not a number" ft --out "$TMP/x" --lr abc
expect "missing base dir" 1 "nosuch" $R1C finetune -m "$TMP/nosuch" --data "$TMP/c.jsonl" --out "$TMP/x"
finish
