#!/usr/bin/env bash
# The tiny R1-style base model's recipe: synthetic reasoning data (arithmetic and Countdown,
# 8 levels, half with worked <think> traces), a byte-level BPE tokenizer trained on it, token
# shards for a two-stage curriculum (easy levels first: "progressive knowledge injection"), and
# a DeepSeek-V3-style model (MLA, a dense first layer, MoE with a shared expert) pretrained
# with `r1c train` (bf16 compute, document masking; ~28 min on 2 cores), then its held-out accuracy
# by level (`r1c eval`, greedy and pass@1, both tasks). Everything lands in recipes/tiny-base/work/;
# the checkpoint in work/ckpt runs with `r1c run -m recipes/tiny-base/work/ckpt --raw "What is 12 + 35?"`.
#   bash recipes/tiny-base/run.sh [--resume]        (R1C: the r1c binary, default build/r1c)
set -euo pipefail
cd "$(dirname "$0")"
R1C=${R1C:-../../build/r1c}
mkdir -p work
if [ ! -f work/tokenizer/tokenizer.json ]; then
  $R1C data gen --task arithmetic --levels 1-3 --n 40000 --seed 11 --out work/arith_easy.jsonl
  $R1C data gen --task countdown  --levels 1-3 --n 30000 --seed 12 --out work/countdown_easy.jsonl
  $R1C data gen --task arithmetic --levels 1-8 --n 120000 --seed 13 --out work/arith.jsonl
  $R1C data gen --task countdown  --levels 1-8 --n 90000 --seed 14 --out work/countdown.jsonl
  $R1C data gen --task arithmetic --levels 1-8 --n 400 --split test --trace-share 0 --seed 15 --out work/test.jsonl
  $R1C tokenizer train --vocab-size 1024 --jsonl text --out work/tokenizer work/arith.jsonl work/countdown.jsonl
  for d in arith_easy countdown_easy arith countdown; do
    $R1C data shard --tokenizer work/tokenizer --out work/$d work/$d.jsonl
  done
fi
$R1C train --config train.json "$@"
for task in arithmetic countdown; do
  $R1C eval -m work/ckpt --task $task --levels 1-8 --n 25 --k 4 --max-tokens 320 --out work/eval_$task.json
done
