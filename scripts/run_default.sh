#!/usr/bin/env bash
# `make run`: the main job on the model that ships in the repo.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=tests/data/qwen2_tiny
cat >&2 <<MSG
NOTE: r1c's own trained default model has not landed yet (issue #8), and text in/out needs
the tokenizer (issue #3). Until then \`make run\` runs the tiny random-weight Qwen2 test model
($MODEL): it generates token ids, which mean nothing. Use \`build/r1c run -m DIR --ids ...\`
with any R1-Distill-Qwen / R1-Distill-Llama checkpoint directory for real output.

MSG
exec build/r1c run -m "$MODEL" --ids 508,17,42,99 -n 32 "$@"
