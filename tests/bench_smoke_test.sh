#!/usr/bin/env bash
# bench_smoke_test.sh BIN_DIR: esbench runs end to end against a real system.
# Starts store_service, command_service and saga_service in a temp dir on
# ports the OS picks (tcp://127.0.0.1:*, read back from each `ready` line),
# runs `esbench append`, `esbench transfers` and `esbench account-load` with
# --json, checks the keys and that money was conserved, and stops the
# services by pid whatever happens. Nothing here is timed.
set -euo pipefail

bin_dir="${1:?usage: bench_smoke_test.sh BIN_DIR}"
for b in store_service command_service saga_service esbench; do
  [ -x "$bin_dir/$b" ] || { echo "FAIL: $bin_dir/$b is not built" >&2; exit 1; }
done
unset ES_STORE_REQUESTS ES_STORE_EVENTS ES_COMMANDS ES_SAGA_CONTROL ES_BASE_PORT

work="$(mktemp -d "${TMPDIR:-/tmp}/es-bench-smoke.XXXXXX")"
pids=()
cleanup() {
  local rc=$? i pid
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ $rc -ne 0 ]; then
    for log in "$work"/*.log; do echo "--- $log" >&2; tail -n 20 "$log" >&2 || true; done
  fi
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT

# start NAME ARGS...: runs the service, waits for its ready line (10 s).
start() {
  local name="$1"
  shift
  "$bin_dir/$name" "$@" >"$work/$name.out" 2>"$work/$name.log" </dev/null &
  pids+=($!)
  for _ in $(seq 100); do
    grep -q '^ready ' "$work/$name.out" 2>/dev/null && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || { echo "FAIL: $name exited at start" >&2; exit 1; }
    sleep 0.1
  done
  echo "FAIL: $name printed no ready line" >&2
  exit 1
}
# endpoint NAME KEY: the endpoint KEY=... from NAME's ready line.
endpoint() { grep -m1 '^ready ' "$work/$1.out" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

start store_service --data-dir "$work/store" \
  --bind-requests 'tcp://127.0.0.1:*' --bind-events 'tcp://127.0.0.1:*'
store="$(endpoint store_service requests)"
events="$(endpoint store_service events)"
start command_service --bind 'tcp://127.0.0.1:*' --store-requests "$store"
commands="$(endpoint command_service commands)"
start saga_service --data-dir "$work/saga" --store-requests "$store" --store-events "$events" \
  --commands "$commands" --bind-control 'tcp://127.0.0.1:*'
saga="$(endpoint saga_service control)"
echo "store=$store events=$events commands=$commands saga=$saga"

esbench=("$bin_dir/esbench" --store "$store" --events "$events" --commands "$commands"
         --saga "$saga" --timeout-s 60)

# expect_keys JSON KEYS...: every "KEY": appears in JSON.
expect_keys() {
  local json="$1" key
  shift
  for key in "$@"; do
    [[ "$json" == *"\"$key\":"* ]] || { echo "FAIL: no \"$key\" in $json" >&2; exit 1; }
  done
}

out="$("${esbench[@]}" append --count 2000 --json)"
echo "$out"
expect_keys "$out" mode events seconds events_per_s appends_per_s latency_ms p50 p99 p999
[[ "$out" == *'"mode":"append"'* && "$out" == *'"events":2000,'* ]] ||
  { echo "FAIL: append did not report 2000 events" >&2; exit 1; }

# Pipelined: 16 in flight as two append_many messages of 8.
out="$("${esbench[@]}" append --count 2000 --in-flight 16 --pipeline 8 --json)"
expect_keys "$out" mode events seconds events_per_s appends_per_s latency_ms p50 p99 p999
[[ "$out" == *'"pipeline":8,'* && "$out" == *'"events":2000,'* && "$out" == *'"errors":0}'* ]] ||
  { echo "FAIL: pipelined append did not report 2000 events without errors: $out" >&2; exit 1; }

out="$("${esbench[@]}" transfers --accounts 20 --transfers 200 --in-flight 20 --json)"
echo "$out"
expect_keys "$out" mode transfers completed failed seconds transfers_per_s commands_per_s \
  latency_ms p50 p99 p999 money_conserved
[[ "$out" == *'"money_conserved":true'* ]] || { echo "FAIL: money not conserved" >&2; exit 1; }
[[ "$out" == *'"unfinished":0,'* ]] || { echo "FAIL: transfers unfinished" >&2; exit 1; }

# account-load checks the balances itself (exit 1 if one is wrong).
out="$("${esbench[@]}" account-load --accounts 1 --events 300 --tail 20 --json)"
echo "$out"
expect_keys "$out" mode accounts events tail full_load_ms snapshot_load_ms p50
[[ "$out" == *'"mode":"account-load"'* ]] || { echo "FAIL: account-load" >&2; exit 1; }

# A usage error is exit 2; no service at an endpoint is exit 3.
set +e
"$bin_dir/esbench" append --appenders 0 >/dev/null 2>&1
[ $? -eq 2 ] || { echo "FAIL: --appenders 0 is not a usage error (exit 2)" >&2; exit 1; }
"$bin_dir/esbench" append --in-flight 10 --pipeline 4 >/dev/null 2>&1
[ $? -eq 2 ] || { echo "FAIL: --in-flight not a multiple of --pipeline is not a usage error" >&2; exit 1; }
"${esbench[@]}" account-load --events 10 --tail 10 >/dev/null 2>&1
[ $? -eq 2 ] || { echo "FAIL: --tail >= --events is not a usage error (exit 2)" >&2; exit 1; }
"$bin_dir/esbench" --store tcp://127.0.0.1:1 --timeout-s 1 append --count 10 >/dev/null 2>&1
[ $? -eq 3 ] || { echo "FAIL: an absent store is not exit 3" >&2; exit 1; }
set -e
echo "PASS"
