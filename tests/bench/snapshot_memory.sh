#!/usr/bin/env bash
# Memory of a member serving a large snapshot: starts a single-member quorumd, then etcd 3.4
# (one at a time, on loopback), writes --mib MiB of values (16 KiB each) through quorum-bench,
# reads the server's RSS once the writes are done (idle) and every 50 ms while
# `etcdctl snapshot save` runs, and prints both servers' idle and peak RSS, the peak's margin
# over idle, the limit 2 x idle + 64 MiB, and the snapshot's size and time. Run by hand.
#
# usage: tests/bench/snapshot_memory.sh [--mib N] [--quorumd PATH] [--etcd PATH] [--bench PATH]
# Every process it starts is killed by PID when it exits.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mib=1024
quorumd=$root/build/quorumd
etcd_bin=$(command -v etcd || true)
bench=$root/build/quorum-bench
while [[ $# -gt 0 ]]; do
  case $1 in
    --mib) mib=$2; shift 2 ;;
    --quorumd) quorumd=$2; shift 2 ;;
    --etcd) etcd_bin=$2; shift 2 ;;
    --bench) bench=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
source "$root/tests/bench/bench_lib.sh"
require_bins "$quorumd" "$etcd_bin" "$bench"

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# measure NAME BINARY: prints "idle_mib peak_mib snapshot_mib seconds".
measure() {
  local name=$1 bin=$2 client peer pid
  client=$(free_port); peer=$(free_port)
  "$bin" --name m1 --data-dir "$work/$name" --quota-backend-bytes $(((mib + 1024) << 20)) \
    --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "m1=http://127.0.0.1:$peer" --log-level error >"$work/$name.log" 2>&1 &
  pid=$!; pids+=("$pid")
  for _ in $(seq 1 100); do
    ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$client" endpoint health >/dev/null 2>&1 && break
    sleep 0.1
  done
  local keys=$((mib * 64))
  "$bench" --endpoints "127.0.0.1:$client" --conns 4 --clients 32 --val-size 16384 \
    --key-space "$keys" --sequential-keys --total "$keys" put >"$work/$name.load" 2>&1 ||
    { echo "$name: load failed" >&2; cat "$work/$name.load" >&2; exit 1; }
  sleep 2
  local idle peak now start end
  idle=$(rss_kib "$pid"); peak=$idle
  start=$(date +%s.%N)
  ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$client" --command-timeout=600s \
    snapshot save "$work/$name.snap" >"$work/$name.save" 2>&1 &
  local saver=$!
  while kill -0 "$saver" 2>/dev/null; do
    now=$(rss_kib "$pid")
    ((now > peak)) && peak=$now
    sleep 0.05
  done
  wait "$saver" || { echo "$name: snapshot save failed" >&2; cat "$work/$name.save" >&2; exit 1; }
  end=$(date +%s.%N)
  local size
  size=$(stat -c %s "$work/$name.snap")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$work/$name" "$work/$name.snap"
  awk -v i="$idle" -v p="$peak" -v s="$size" -v a="$start" -v b="$end" \
    'BEGIN { printf "%.1f %.1f %.1f %.1f\n", i/1024, p/1024, s/1048576, b-a }'
}

read -r q_idle q_peak q_size q_secs < <(measure quorumd "$quorumd")
read -r e_idle e_peak e_size e_secs < <(measure etcd "$etcd_bin")
printf '%-36s %12s %12s\n' "snapshot of $mib MiB, one member" etcd quorumd
printf '%-36s %12s %12s\n' "RSS idle, data loaded (MiB)" "$e_idle" "$q_idle"
printf '%-36s %12s %12s\n' "RSS peak during snapshot save (MiB)" "$e_peak" "$q_peak"
printf '%-36s %12s %12s\n' "peak - idle (MiB)" \
  "$(awk -v a="$e_peak" -v b="$e_idle" 'BEGIN{printf "%.1f", a-b}')" \
  "$(awk -v a="$q_peak" -v b="$q_idle" 'BEGIN{printf "%.1f", a-b}')"
printf '%-36s %12s %12s\n' "limit: 2 x idle + 64 (MiB)" \
  "$(awk -v a="$e_idle" 'BEGIN{printf "%.1f", 2*a+64}')" \
  "$(awk -v a="$q_idle" 'BEGIN{printf "%.1f", 2*a+64}')"
printf '%-36s %12s %12s\n' "snapshot file (MiB)" "$e_size" "$q_size"
printf '%-36s %12s %12s\n' "snapshot save (s)" "$e_secs" "$q_secs"
