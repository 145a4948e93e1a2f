#!/usr/bin/env bash
# `make run`: the main job on the model that ships in the repo.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=tests/data/qwen2_tiny
cat >&2 <<MSG
NOTE: r1c's own trained default model has not landed yet (issue #8). Until then \`make run\` runs
the tiny random-weight Qwen2 test model ($MODEL): its answer is random bytes. Run
\`build/r1c run -m DIR "your question"\` on any DeepSeek-R1-Distill-Qwen / -Llama checkpoint
directory for real output.

MSG
exec build/r1c run -m "$MODEL" "What is 17 * 23?" -n 32 "$@"
