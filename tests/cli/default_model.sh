#!/usr/bin/env bash
# The model that ships in models/: `r1c run` with no -m finds it (next to the source tree the binary
# was built from), reasons in <think> and answers right on a problem it solves; $R1C_MODEL overrides it;
# `make run`'s script runs it.
set -u
R1C=${R1C_BIN:-build/r1c}
cd "$(dirname "$0")/../.."
. tests/cli/lib/expect.bash

[ -f models/r1c-tiny.gguf ] && [ "$(stat -c %s models/r1c-tiny.gguf)" -le 20971520 ] && ok "models/r1c-tiny.gguf is there, <= 20 MB" \
  || fail "models/r1c-tiny.gguf missing or over 20 MB"
out=$($R1C run "What is 58 + 37?" --temp 0 -n 200 2>&1)
grep -q "^reasoning:" <<<"$out" && grep -q "8 + 7 + 0 = 15" <<<"$out" && ok "no -m: the default model reasons (a worked trace)" \
  || fail "no reasoning: $out"
grep -q "<answer>95</answer>" <<<"$out" && ok "and answers 95" || fail "wrong answer: $out"
expect "R1C_MODEL overrides the default" 0 "" env R1C_MODEL=tests/data/qwen2_tiny $R1C run --ids 1,2 -n 2
expect "R1C_MODEL naming nothing" 1 "nonexistent" env R1C_MODEL=/nonexistent/m.gguf $R1C run "hi"
R1C_BIN=$R1C expect "make run's script" 0 "answer:" bash scripts/run_default.sh --temp 0 -n 200
finish
