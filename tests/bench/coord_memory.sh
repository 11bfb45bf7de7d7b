#!/usr/bin/env bash
# Memory with many watchers and leases: starts a single-member etcd 3.4 and then a single-member
# quorumd on loopback (one at a time), reads each server's resident memory when idle and while
# quorum-coord-load holds 10,000 watchers (on 100 streams, each having seen one event) and
# 10,000 leases (one key each), and prints both with the quorumd/etcd ratio. Run by hand.
#
# usage: tests/bench/coord_memory.sh [--watchers N] [--leases N] [--streams N]
#        [--quorumd PATH] [--etcd PATH] [--load PATH]
# Every process it starts is killed by PID when it exits.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
watchers=10000
leases=10000
streams=100
quorumd=$root/build/quorumd
etcd_bin=$(command -v etcd || true)
load=$root/build/quorum-coord-load
while [[ $# -gt 0 ]]; do
  case $1 in
    --watchers) watchers=$2; shift 2 ;;
    --leases) leases=$2; shift 2 ;;
    --streams) streams=$2; shift 2 ;;
    --quorumd) quorumd=$2; shift 2 ;;
    --etcd) etcd_bin=$2; shift 2 ;;
    --load) load=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
for bin in "$quorumd" "$etcd_bin" "$load"; do
  [[ -x $bin ]] || { echo "not found: $bin (build with deploy/build.sh)" >&2; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

# measure NAME BINARY: prints "idle loaded" RSS in MiB.
measure() {
  local name=$1 bin=$2 client peer pid loader
  client=$(free_port); peer=$(free_port)
  "$bin" --name m1 --data-dir "$work/$name" \
    --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "m1=http://127.0.0.1:$peer" --log-level error >"$work/$name.log" 2>&1 &
  pid=$!; pids+=("$pid")
  for _ in $(seq 1 100); do
    ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$client" endpoint health >/dev/null 2>&1 && break
    sleep 0.1
  done
  local idle; idle=$(rss_mib "$pid")
  mkfifo "$work/$name.in"
  "$load" --endpoint "127.0.0.1:$client" --watchers "$watchers" --leases "$leases" \
    --streams "$streams" <"$work/$name.in" >"$work/$name.load" 2>&1 &
  loader=$!; pids+=("$loader")
  exec 9>"$work/$name.in"
  for _ in $(seq 1 1200); do
    grep -q holding "$work/$name.load" 2>/dev/null && break
    sleep 0.1
  done
  sleep 1
  local loaded; loaded=$(rss_mib "$pid")
  echo "$name: $(cat "$work/$name.load")" >&2
  exec 9>&-
  wait "$loader" || echo "$name: load reported failures" >&2
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$idle $loaded"
}

read -r etcd_idle etcd_loaded < <(measure etcd "$etcd_bin")
read -r q_idle q_loaded < <(measure quorumd "$quorumd")
printf '%-34s %12s %12s %8s\n' "RSS (MiB), one member" etcd quorumd ratio
printf '%-34s %12s %12s %8s\n' "idle" "$etcd_idle" "$q_idle" \
  "$(awk -v a="$q_idle" -v b="$etcd_idle" 'BEGIN{printf "%.2f", a/b}')"
printf '%-34s %12s %12s %8s\n' "$watchers watchers + $leases leases" "$etcd_loaded" "$q_loaded" \
  "$(awk -v a="$q_loaded" -v b="$etcd_loaded" 'BEGIN{printf "%.2f", a/b}')"
