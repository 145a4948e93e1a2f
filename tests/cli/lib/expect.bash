# expect.bash — what every CLI test script shares: ok/fail counters and expect, which runs a
# command and checks its exit status and (optionally) an extended regex on stdout + stderr.
#   . "$(dirname "$0")/lib/expect.bash"
#   expect NAME STATUS PATTERN COMMAND...      (PATTERN "" checks the status only)
#   ...
#   finish                                       (prints the count; the script's exit status)
fails=0
ok()   { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }
expect() { # name, expected exit status, grep pattern for stderr+stdout, command...
  local name=$1 want=$2 pat=$3; shift 3
  local out; out=$("$@" 2>&1); local rc=$?
  if [ "$rc" != "$want" ]; then fail "$name: exit $rc, want $want: $out"; return; fi
  if [ -n "$pat" ] && ! grep -qE -- "$pat" <<<"$out"; then fail "$name: output lacks /$pat/: $out"; return; fi
  ok "$name"
}
finish() {
  echo "$fails failure(s)"
  [ "$fails" -eq 0 ]
}
