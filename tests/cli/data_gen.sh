#!/usr/bin/env bash
# r1c data: gen writes N lines of valid JSON in the documented format; check is the rewards'
# verifier on the command line; exit codes 2 (usage) and 1 (failure).
set -u
R1C=${R1C_BIN:-build/r1c}
TMP=${R1C_TMP:-/tmp}/cli-data
mkdir -p "$TMP"
. "$(dirname "$0")/lib/expect.bash"
# each line: a JSON object with the fields of its task; text = prompt [think] <answer>
check_jsonl() { # file, task, n (node: scripts/deps.sh installs it for the server's tests)
  node - "$@" <<'JS'
const fs = require('fs');
const [path, task, n] = [process.argv[2], process.argv[3], Number(process.argv[4])];
const assert = (c, m) => { if (!c) { console.error(m); process.exit(1); } };
let lines = fs.readFileSync(path, 'utf8').split('\n');
assert(lines[lines.length - 1] === '', 'no final newline');
lines = lines.slice(0, -1);
assert(lines.length === n, `${lines.length} lines, want ${n}`);
for (const l of lines) {
  const o = JSON.parse(l);
  assert(o.task === task && o.level >= 1 && o.level <= 8, l);
  const think = o.think !== null ? `<think>\n${o.think}\n</think>\n` : '';
  assert(o.text === `${o.prompt}\n${think}<answer>${o.answer}</answer>`, l);
  assert(('numbers' in o) === ('target' in o) && ('numbers' in o) === (task === 'countdown'), l);
  assert(o.key.length === 16, l);
}
JS
}

if command -v node >/dev/null; then
  for task in arithmetic countdown; do
    expect "gen $task" 0 "wrote 200 examples" $R1C data gen --task $task --levels 1-8 --n 200 --out "$TMP/$task.jsonl"
    out=$(check_jsonl "$TMP/$task.jsonl" $task 200 2>&1) && ok "gen $task: 200 lines of valid JSON" || fail "gen $task JSONL: $out"
  done
else
  fail "node is needed for the JSONL checks (scripts/deps.sh installs it)"
fi
$R1C data gen --task countdown --n 50 --seed 5 --out "$TMP/a.jsonl" 2>/dev/null
$R1C data gen --task countdown --n 50 --seed 5 --out "$TMP/b.jsonl" 2>/dev/null
$R1C data gen --task countdown --n 50 --seed 6 --out "$TMP/c.jsonl" 2>/dev/null
cmp -s "$TMP/a.jsonl" "$TMP/b.jsonl" && ! cmp -s "$TMP/a.jsonl" "$TMP/c.jsonl" \
  && ok "gen: the seed decides the bytes" || fail "gen: seeds"
expect "gen: test split" 0 "wrote 20" $R1C data gen --task arithmetic --levels 3 --n 20 --split test --out "$TMP/t.jsonl"

expect "gen: bad task" 2 "--task expects arithmetic or countdown" $R1C data gen --task sudoku --n 5 --out "$TMP/x.jsonl"
expect "gen: bad levels" 2 "--levels" $R1C data gen --task arithmetic --levels 0-9 --n 5 --out "$TMP/x.jsonl"
expect "gen: bad share" 2 "--trace-share" $R1C data gen --task arithmetic --trace-share 2 --n 5 --out "$TMP/x.jsonl"
expect "gen: bad split" 2 "--split" $R1C data gen --task arithmetic --split dev --n 5 --out "$TMP/x.jsonl"
expect "gen: no --out" 2 "--out" $R1C data gen --task arithmetic --n 5
expect "gen: unknown option" 2 "unknown option '--bogus'" $R1C data gen --bogus 1
expect "gen: unwritable --out" 1 "--out /nonexistent/x.jsonl" $R1C data gen --task arithmetic --n 5 --out /nonexistent/x.jsonl
expect "data: unknown subcommand" 2 "unknown subcommand" $R1C data frob

expect "check valid" 0 "^valid" $R1C data check --task countdown --numbers 25,4,3,7 --target 96 --expr "25*4-7+3"
expect "check: a number missing" 1 "^invalid: 7 is not used" $R1C data check --task countdown --numbers 25,4,3,7 --target 97 --expr "25*4-3"
expect "check: division by zero" 1 "division by zero" $R1C data check --task countdown --numbers 3,7,7 --target 3 --expr "3/(7-7)"
expect "check: syntax" 1 "syntax" $R1C data check --task countdown --numbers 3,7 --target 10 --expr "3+"
expect "check: needs --expr" 2 "--expr" $R1C data check --task countdown --numbers 3,7 --target 10
expect "check arithmetic" 0 "^valid" $R1C data check --task arithmetic --answer " +042" --expected 42
expect "check arithmetic wrong" 1 "^invalid" $R1C data check --task arithmetic --answer 41 --expected 42

finish
