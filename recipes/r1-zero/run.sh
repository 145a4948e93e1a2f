#!/usr/bin/env bash
# DeepSeek-R1's recipes in miniature, on r1c's own tiny base model (run ../tiny-base/run.sh and
# ../tiny-base/chat.sh first: the base checkpoint, the tokenizer, the corpus and the readable traces):
#   1. R1-Zero: GRPO straight from the base, rule rewards only (accuracy, format)   zero.json;
#      zero_more.json: 40 steps more; zero_rule.json: the same with the forbidden-pattern rule
#   2. R1: a cold start (SFT on 400 readable traces in R1's chat format), then the same GRPO   r1.json
#   3. R1's last stage at this scale: GRPO with a forbidden-pattern rule added       r1_safe.json
#   4. distillation: a smaller dense Qwen2-style student (its own base: student.json) fine-tuned on
#      the final R1 model's right samples of train problems (r1c data distill)
#   5. the tables: every model's held-out accuracy by level (greedy / pass@1), format, length, the
#      rule's violation rate (table.mjs); 200-problem comparisons on levels 3-4
#   6. the shipped model: GRPO on level 3 from the 1,200-trace chat model (ship.json), Q8_0 GGUF
#      into models/r1c-tiny.gguf, its model-card evaluation
# About 1 h 30 min on 2 cores; everything lands in work/ (docs/r1-zero.md shows the results).
#   bash recipes/r1-zero/run.sh          (R1C: the r1c binary, default build/r1c)
set -euo pipefail
cd "$(dirname "$0")"
R1C=${R1C:-../../build/r1c}
B=../tiny-base/work
mkdir -p work
[ -f work/student_base/model.safetensors ] || $R1C train --config student.json
$R1C rl --config zero.json 2>&1 | tee work/zero.log
$R1C rl --config zero_more.json 2>&1 | tee work/zero_more.log   # 40 more steps from zero.json's end (steps 41-80)
$R1C rl --config zero_rule.json 2>&1 | tee work/zero_rule.log   # Zero with the forbidden-pattern rule as well
head -400 $B/sft_chat.jsonl > work/cold.jsonl
$R1C finetune -m $B/ckpt --data work/cold.jsonl --prompt-field prompt --field completion --out work/cold \
  --steps 100 --lr 3e-4 --batch 8 --seq-len 256 --compute bf16 --warmup 10 --log-every 25
$R1C rl --config r1.json 2>&1 | tee work/r1.log
$R1C rl --config r1_safe.json 2>&1 | tee work/r1_safe.log
# rejection sampling: right answer, R1 format, no forbidden pattern; one trace per problem
$R1C data distill -m work/r1_safe --task arithmetic --levels 1-5 --n 1600 --k 2 --template chat --max-tokens 256 \
  --forbidden rules.txt --seed 31 --out work/traces.jsonl
node -e '
const fs = require("fs"), out = [];
for (const l of fs.readFileSync("work/traces.jsonl", "utf8").trim().split("\n")) {
  const p = JSON.parse(l);
  out.push(JSON.stringify({prompt: "<｜User｜>" + p.prompt + "<｜Assistant｜><think>\n", completion: p.completion}));
}
fs.writeFileSync("work/distill.jsonl", out.join("\n") + "\n");'
$R1C finetune -m work/student_base --data work/distill.jsonl --prompt-field prompt --field completion --out work/student \
  --steps 300 --lr 1e-3 --batch 8 --seq-len 256 --compute bf16 --warmup 20 --log-every 50
# held-out arithmetic, levels 1-5, 50 problems each, greedy + pass@1 over 4 samples (T 0.6, top-p 0.95)
ev() { $R1C eval -m "$1" --task arithmetic --levels 1-5 --n 50 --k 4 --max-tokens 256 --template "$2" \
         --forbidden rules.txt --out "work/eval_$3.json" | tee "work/eval_$3.md"; }
ev $B/ckpt raw base
ev $B/ckpt zero base_zero_template
ev work/zero raw zero
ev work/cold chat cold
ev work/r1 chat r1
ev work/r1_safe chat r1_safe
ev work/student_base raw student_base
ev work/student chat student
node table.mjs work | tee work/table.md
# the headline comparisons: 200 other held-out problems per level (seed 2), levels 3-4, greedy
big() { $R1C eval -m "$1" --task arithmetic --levels 3-4 --n 200 --k 0 --max-tokens 200 --seed 2 --template "$2" \
          --forbidden rules.txt --out "work/eval200_$3.json" | tee "work/eval200_$3.md"; }
big $B/ckpt raw base; big work/zero raw zero; big work/zero_more raw zero_more; big work/zero_rule raw zero_rule
big work/cold chat cold; big work/r1 chat r1; big work/r1_safe chat r1_safe
big work/student_base raw student_base; big work/student chat student
# the shipped model: the same GRPO on level 3 alone, from ../tiny-base/chat.sh's 1,200-trace chat model
$R1C rl --config ship.json 2>&1 | tee work/ship.log
big $B/chat chat chat; big work/ship/best chat ship
$R1C quantize work/ship/best ../../models/r1c-tiny.gguf Q8_0
for task in arithmetic countdown; do
  $R1C eval -m ../../models/r1c-tiny.gguf --task $task --template chat --levels 1-8 --n 50 --k 4 --max-tokens 320 --seed 2 \
    --forbidden rules.txt --out work/eval_shipped_$task.json | tee work/eval_shipped_$task.md
done
