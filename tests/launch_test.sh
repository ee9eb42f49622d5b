#!/usr/bin/env bash
# launch_test.sh BIN_DIR: scripts/launch reports only what it really started.
#  1. With another system already answering on the ports, `start` fails
#     (exit 1, "another process (pid N) answers"), leaves no pid file, and
#     the other system keeps running: the answer must come from the pid the
#     script started, not from whoever holds the port.
#  2. When a later service fails, the ones this call started are stopped
#     and the script says so.
#  3. `--help` exits 0.
# Every service is stopped by its pid file (scripts/launch stop) at the end.
set -euo pipefail

bin_dir="${1:?usage: launch_test.sh BIN_DIR}"
root="$(cd "$(dirname "$0")/.." && pwd)"
launch="$root/scripts/launch"
unset ES_STORE_REQUESTS ES_STORE_EVENTS ES_COMMANDS ES_SAGA_CONTROL ES_BASE_PORT
export ES_BIN_DIR="$bin_dir"

work="$(mktemp -d "${TMPDIR:-/tmp}/es-launch.XXXXXX")"
cleanup() {
  local rc=$?
  ES_DATA_DIR="$work/b" ES_BASE_PORT="${second:-1}" "$launch" stop >/dev/null 2>&1 || true
  ES_DATA_DIR="$work/a" ES_BASE_PORT="${first:-1}" "$launch" stop >/dev/null 2>&1 || true
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Five consecutive ports nothing listens on (BASE..BASE+4), at a random
# place, away from `$1` (another base); plain bash, no python on a fresh
# machine.
free_base() {
  local avoid="${1:-0}" base p busy
  for _ in $(seq 500); do
    base=$((20000 + RANDOM % 40000))
    if [ "$avoid" -ne 0 ] && [ $((base - avoid)) -gt -10 ] && [ $((base - avoid)) -lt 10 ]; then
      continue
    fi
    busy=0
    for p in $(seq "$base" $((base + 4))); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then busy=1; break; fi
    done
    [ "$busy" -eq 0 ] && { echo "$base"; return 0; }
  done
  return 1
}
first="$(free_base)"
second="$(free_base "$first")"

"$launch" --help >"$work/help.out" || fail "--help exited $?"
grep -q "^  start" "$work/help.out" || fail "--help does not describe start"

# The system that holds the ports.
mkdir -p "$work/a" "$work/b"
ES_DATA_DIR="$work/a" ES_BASE_PORT="$first" "$launch" start >"$work/a.out" 2>&1 ||
  { cat "$work/a.out" >&2; fail "the first system did not start"; }

# 1. A second system on the same ports.
rc=0
ES_DATA_DIR="$work/b" ES_BASE_PORT="$first" "$launch" start >"$work/b.out" 2>"$work/b.err" || rc=$?
[ "$rc" -eq 1 ] || { cat "$work/b.out" "$work/b.err" >&2; fail "start on taken ports exited $rc, not 1"; }
grep -q "store_service did not start: another process (pid [0-9]*) answers" "$work/b.err" ||
  { cat "$work/b.err" >&2; fail "no 'another process answers' error"; }
grep -q "started" "$work/b.out" && { cat "$work/b.out" >&2; fail "reported a service as started"; }
ls "$work/b"/*.pid >/dev/null 2>&1 && fail "left a pid file behind: $(ls "$work/b")"
ES_DATA_DIR="$work/a" ES_BASE_PORT="$first" "$launch" status >/dev/null ||
  fail "the system that held the ports no longer runs"

# 2. A store on free ports, then a command_service whose port is taken.
rc=0
ES_DATA_DIR="$work/b" ES_BASE_PORT="$second" ES_COMMANDS="tcp://127.0.0.1:$((first + 2))" \
  "$launch" start >"$work/c.out" 2>"$work/c.err" || rc=$?
[ "$rc" -eq 1 ] || { cat "$work/c.out" "$work/c.err" >&2; fail "start with a taken port exited $rc"; }
grep -q "^store_service started (pid [0-9]*)" "$work/c.out" || { cat "$work/c.out" >&2; fail "store did not start"; }
store_pid="$(sed -n 's/^store_service started (pid \([0-9]*\)).*/\1/p' "$work/c.out")"
grep -q "command_service did not start: another process" "$work/c.err" ||
  { cat "$work/c.err" >&2; fail "no error for command_service"; }
grep -q "stopped what this call had started: store_service" "$work/c.err" ||
  { cat "$work/c.err" >&2; fail "did not say it stopped the store it started"; }
kill -0 "$store_pid" 2>/dev/null && fail "the store this call started (pid $store_pid) still runs"
ls "$work/b"/*.pid >/dev/null 2>&1 && fail "left a pid file behind: $(ls "$work/b")"

echo "PASS: launch reports only the processes it started"
