#!/usr/bin/env bash
# Memory with many watchers and leases: starts a single-member etcd 3.4 and then a single-member
# quorumd on loopback (one at a time), reads each server's resident memory when idle and while
# quorum-coord-load holds 10,000 watchers (on 100 streams, each having seen one event) and
# 10,000 leases (one key each), and prints both with the quorumd/etcd ratio. Then, on a fresh
# member of each, the waiting calls: 10,000 Lock calls waiting behind a holder and 10,000
# Observe streams, with each server's RSS and thread count idle, while they wait, and after the
# client cancelled every one of them (and how many lock keys are left: the holder's only, when
# every cancelled Lock removed its own). Run by hand.
#
# usage: tests/bench/coord_memory.sh [--watchers N] [--leases N] [--streams N] [--locks N]
#        [--observers N] [--skip-watchers] [--skip-waits] [--quorumd PATH] [--etcd PATH]
#        [--load PATH]
# Every process it starts is killed by PID when it exits.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
watchers=10000
leases=10000
streams=100
locks=10000
observers=10000
skip_watchers=0
skip_waits=0
quorumd=$root/build/quorumd
etcd_bin=$(command -v etcd || true)
load=$root/build/quorum-coord-load
while [[ $# -gt 0 ]]; do
  case $1 in
    --watchers) watchers=$2; shift 2 ;;
    --leases) leases=$2; shift 2 ;;
    --streams) streams=$2; shift 2 ;;
    --locks) locks=$2; shift 2 ;;
    --observers) observers=$2; shift 2 ;;
    --skip-watchers) skip_watchers=1; shift ;;
    --skip-waits) skip_waits=1; shift ;;
    --quorumd) quorumd=$2; shift 2 ;;
    --etcd) etcd_bin=$2; shift 2 ;;
    --load) load=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
source "$root/tests/bench/bench_lib.sh"
require_bins "$quorumd" "$etcd_bin" "$load"

# start_server NAME BINARY: starts a single member, waits until it answers; sets $pid, $client.
start_server() {
  local name=$1 bin=$2 peer
  client=$(free_port); peer=$(free_port)
  env ${server_env:-} "$bin" --name m1 --data-dir "$work/$name" \
    --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "m1=http://127.0.0.1:$peer" --log-level error >"$work/$name.log" 2>&1 &
  pid=$!; pids+=("$pid")
  for _ in $(seq 1 100); do
    ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$client" endpoint health >/dev/null 2>&1 && break
    sleep 0.1
  done
}

# wait_line FILE TEXT: until FILE has a line containing TEXT (at most 10 minutes).
wait_line() {
  for _ in $(seq 1 6000); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "timed out waiting for '$2' in $1" >&2
  return 1
}

# measure NAME BINARY: prints "idle loaded" RSS in MiB.
measure() {
  local name=$1 bin=$2 loader
  start_server "$name" "$bin"
  local idle; idle=$(rss_mib "$pid")
  mkfifo "$work/$name.in"
  "$load" --endpoint "127.0.0.1:$client" --watchers "$watchers" --leases "$leases" \
    --streams "$streams" <"$work/$name.in" >"$work/$name.load" 2>&1 &
  loader=$!; pids+=("$loader")
  exec 9>"$work/$name.in"
  wait_line "$work/$name.load" holding || true
  sleep 1
  local loaded; loaded=$(rss_mib "$pid")
  echo "$name: $(cat "$work/$name.load")" >&2
  exec 9>&-
  wait "$loader" || echo "$name: load reported failures" >&2
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$idle $loaded"
}

# measure_waits NAME BINARY: prints "idle_rss idle_threads held_rss held_threads after_rss
# after_threads lock_keys_left" (RSS in MiB) for the waiting-calls load.
measure_waits() {
  local name=$1 bin=$2 loader in=$work/$1-waits.in out=$work/$1-waits.load
  # Freed memory back to the system at once (tcmalloc for quorumd, Go's runtime for etcd), so
  # that RSS after the cancel shows what the calls still hold.
  server_env="TCMALLOC_AGGRESSIVE_DECOMMIT=1 GODEBUG=madvdontneed=1" start_server "$name-waits" "$bin"
  local idle idle_threads held held_threads after after_threads left
  idle=$(rss_mib "$pid"); idle_threads=$(threads "$pid")
  mkfifo "$in"
  "$load" --endpoint "127.0.0.1:$client" --watchers 0 --leases 0 --streams 0 \
    --locks "$locks" --observers "$observers" <"$in" >"$out" 2>&1 &
  loader=$!; pids+=("$loader")
  exec 8>"$in"
  wait_line "$out" holding || true
  sleep 1
  held=$(rss_mib "$pid"); held_threads=$(threads "$pid")
  echo cancel >&8
  wait_line "$out" cancelled || true
  # Cleanup proposals (one delete per cancelled Lock) run after the calls end.
  sleep 5
  after=$(rss_mib "$pid"); after_threads=$(threads "$pid")
  left=$(sed -n 's/.* \([0-9-]*\) lock keys left.*/\1/p' "$out")
  echo "$name: $(tr '\n' ' ' <"$out")" >&2
  exec 8>&-
  wait "$loader" || echo "$name: load reported failures" >&2
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$idle $idle_threads $held $held_threads $after $after_threads ${left:-?}"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "-" }'; }

if [[ $skip_watchers == 0 ]]; then
  read -r etcd_idle etcd_loaded < <(measure etcd "$etcd_bin")
  read -r q_idle q_loaded < <(measure quorumd "$quorumd")
  printf '%-34s %12s %12s %8s\n' "RSS (MiB), one member" etcd quorumd ratio
  printf '%-34s %12s %12s %8s\n' "idle" "$etcd_idle" "$q_idle" "$(ratio "$q_idle" "$etcd_idle")"
  printf '%-34s %12s %12s %8s\n' "$watchers watchers + $leases leases" "$etcd_loaded" \
    "$q_loaded" "$(ratio "$q_loaded" "$etcd_loaded")"
fi

if [[ $skip_waits == 0 ]]; then
  read -r e_idle e_idle_t e_held e_held_t e_after e_after_t e_left < <(measure_waits etcd "$etcd_bin")
  read -r q_idle q_idle_t q_held q_held_t q_after q_after_t q_left < <(measure_waits quorumd "$quorumd")
  echo
  printf '%-44s %12s %12s %8s\n' "$locks waiting Locks + $observers Observes" etcd quorumd ratio
  printf '%-44s %12s %12s %8s\n' "RSS idle (MiB)" "$e_idle" "$q_idle" "$(ratio "$q_idle" "$e_idle")"
  printf '%-44s %12s %12s %8s\n' "RSS while waiting (MiB)" "$e_held" "$q_held" \
    "$(ratio "$q_held" "$e_held")"
  printf '%-44s %12s %12s %8s\n' "RSS after cancelling all (MiB)" "$e_after" "$q_after" \
    "$(ratio "$q_after" "$e_after")"
  printf '%-44s %12s %12s %8s\n' "threads idle" "$e_idle_t" "$q_idle_t" "-"
  printf '%-44s %12s %12s %8s\n' "threads while waiting" "$e_held_t" "$q_held_t" "-"
  printf '%-44s %12s %12s %8s\n' "threads after cancelling all" "$e_after_t" "$q_after_t" "-"
  printf '%-44s %12s %12s %8s\n' "lock keys left after cancel (holder: 1)" "$e_left" "$q_left" "-"
fi
