#!/usr/bin/env bash
# `make run`: the main job on the model that ships in the repo (models/r1c-tiny.gguf, r1c's own
# tiny DeepSeek-V3-style reasoner: see models/README.md). `r1c run` with no -m uses it; its
# reasoning is printed apart from its answer, as DeepSeek-R1's is.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${R1C_BIN:-build/r1c}" run "What is 58 + 37?" "$@"
