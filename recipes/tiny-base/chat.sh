#!/usr/bin/env bash
# The chat model from the base of run.sh (the starting point of the shipped model, which
# recipes/r1-zero/run.sh trains further with GRPO): a short supervised fine-tuning on
# worked traces in DeepSeek-R1's chat format (R1's "cold start", at this scale) — the prompt
# "<｜User｜>PROBLEM<｜Assistant｜><think>\n" is context, "TRACE\n</think>\n<answer>ANSWER</answer>" the
# completion the loss is taken on — then Q8_0 GGUF (work/chat.gguf), then its held-out accuracy by level.
#   bash recipes/tiny-base/chat.sh          (after run.sh; R1C: the r1c binary, default build/r1c)
set -euo pipefail
cd "$(dirname "$0")"
R1C=${R1C:-../../build/r1c}
$R1C data gen --task arithmetic --levels 1-5 --n 12000 --trace-share 1 --seed 21 --out work/sft_a.jsonl
$R1C data gen --task countdown --levels 1-4 --n 6000 --trace-share 1 --seed 22 --out work/sft_c.jsonl
node -e '
const fs = require("fs"), out = [];
for (const f of ["work/sft_a.jsonl", "work/sft_c.jsonl"])
  for (const l of fs.readFileSync(f, "utf8").trim().split("\n")) {
    const p = JSON.parse(l);
    if (p.think) out.push(JSON.stringify({prompt: "<｜User｜>" + p.prompt + "<｜Assistant｜><think>\n",
                                          completion: p.think + "\n</think>\n<answer>" + p.answer + "</answer>"}));
  }
fs.writeFileSync("work/sft_chat.jsonl", out.join("\n") + "\n");'
$R1C finetune -m work/ckpt --data work/sft_chat.jsonl --prompt-field prompt --field completion --out work/chat \
  --steps 150 --lr 3e-4 --batch 8 --seq-len 256 --compute bf16 --warmup 10 --log-every 25
$R1C quantize work/chat work/chat.gguf Q8_0
for task in arithmetic countdown; do
  $R1C eval -m work/chat.gguf --task $task --template chat --levels 1-8 --n 25 --k 4 --max-tokens 320 \
    --out work/eval_chat_$task.json
done
