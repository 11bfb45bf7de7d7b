#!/usr/bin/env bash
# Runs a local quorum cluster of 1, 3, 5 or 7 members on loopback, each member in the background
# with its data, log and PID file under one directory (default ./local-data, or
# $QUORUM_LOCAL_DIR). Everything is done by PID; nothing else on the machine is touched.
#   deploy/local.sh start [N]     start N members (default 3, or as many as the cluster has)
#   deploy/local.sh stop          stop every member (SIGTERM, SIGKILL after 10 s)
#   deploy/local.sh status        which members run, with PIDs and endpoints
#   deploy/local.sh kill NAME     kill -9 one member (e.g. m2)
#   deploy/local.sh restart NAME  start a stopped or killed member again (or restart it)
#   deploy/local.sh endpoints     the client endpoints, comma-separated (for --endpoints)
#   deploy/local.sh wipe          stop everything and delete the data directory
# Member mI serves clients on 127.0.0.1:(2379+10*(I-1)) and peers on the next port.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
quorumd=${QUORUMD:-$root/build/quorumd}
dir=${QUORUM_LOCAL_DIR:-$root/local-data}

client_port() { echo $((2379 + 10 * ($1 - 1))); }
peer_port() { echo $((2380 + 10 * ($1 - 1))); }
count() { cat "$dir/members" 2>/dev/null || echo 3; }
names() { local n; n=$(count); for i in $(seq 1 "$n"); do echo "m$i"; done; }
pid_of() { cat "$dir/$1/pid" 2>/dev/null || true; }
alive() { local pid; pid=$(pid_of "$1"); [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; }

initial_cluster() {
  local out="" i
  for i in $(seq 1 "$(count)"); do
    out+="${out:+,}m$i=http://127.0.0.1:$(peer_port "$i")"
  done
  echo "$out"
}

launch() {
  local name=$1 i=${1#m}
  local client="http://127.0.0.1:$(client_port "$i")" peer="http://127.0.0.1:$(peer_port "$i")"
  if alive "$name"; then echo "$name already running (pid $(pid_of "$name"))"; return; fi
  mkdir -p "$dir/$name"
  # Readiness is read from what this start writes to the log, not from earlier runs.
  stat -c %s "$dir/$name/quorumd.log" >"$dir/$name/log_offset" 2>/dev/null || echo 0 >"$dir/$name/log_offset"
  nohup "$quorumd" --name "$name" --data-dir "$dir/$name/data" \
    --listen-client-urls "$client" --advertise-client-urls "$client" \
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
    --initial-cluster "$(initial_cluster)" --initial-cluster-token quorum-local \
    --initial-cluster-state new >>"$dir/$name/quorumd.log" 2>&1 &
  echo $! >"$dir/$name/pid"
}

wait_serving() {
  local name=$1
  for _ in $(seq 1 100); do
    if ! alive "$name"; then
      echo "$name exited; last log lines:" >&2
      tail -n 5 "$dir/$name/quorumd.log" >&2
      return 1
    fi
    if tail -c +$(($(cat "$dir/$name/log_offset") + 1)) "$dir/$name/quorumd.log" 2>/dev/null |
      grep -q "ready to serve client requests"; then
      echo "$name up (pid $(pid_of "$name")) client 127.0.0.1:$(client_port "${name#m}")"
      return
    fi
    sleep 0.1
  done
  echo "$name did not start within 10 s; see $dir/$name/quorumd.log" >&2
  return 1
}

stop_member() {
  local name=$1 pid
  pid=$(pid_of "$name")
  if ! alive "$name"; then rm -f "$dir/$name/pid"; return; fi
  kill -TERM "$pid"
  for _ in $(seq 1 100); do
    if ! kill -0 "$pid" 2>/dev/null; then rm -f "$dir/$name/pid"; echo "$name stopped"; return; fi
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/$name/pid"
  echo "$name killed after 10 s"
}

endpoints() {
  local out="" i
  for i in $(seq 1 "$(count)"); do out+="${out:+,}127.0.0.1:$(client_port "$i")"; done
  echo "$out"
}

case "${1:-}" in
  start)
    n=${2:-$(count)}
    case "$n" in 1 | 3 | 5 | 7) ;; *) echo "members must be 1, 3, 5 or 7" >&2; exit 2 ;; esac
    mkdir -p "$dir"
    if [[ -f "$dir/members" && "$(count)" != "$n" ]]; then
      echo "$dir holds a $(count)-member cluster; run '$0 wipe' first to start $n" >&2
      exit 2
    fi
    echo "$n" >"$dir/members"
    [[ -x "$quorumd" ]] || { echo "no quorumd at $quorumd; build first" >&2; exit 1; }
    for m in $(names); do launch "$m"; done
    for m in $(names); do wait_serving "$m"; done
    echo "endpoints: $(endpoints)"
    ;;
  stop) for m in $(names); do stop_member "$m"; done ;;
  status)
    for m in $(names); do
      if alive "$m"; then
        echo "$m up    pid $(pid_of "$m")  client 127.0.0.1:$(client_port "${m#m}")"
      else
        echo "$m down"
      fi
    done
    ;;
  kill)
    name=${2:?member name, e.g. m1}
    if alive "$name"; then kill -KILL "$(pid_of "$name")"; rm -f "$dir/$name/pid"; echo "$name killed (-9)"
    else echo "$name not running"; fi
    ;;
  restart)
    name=${2:?member name, e.g. m1}
    stop_member "$name"
    launch "$name"
    wait_serving "$name"
    ;;
  endpoints) endpoints ;;
  wipe)
    for m in $(names); do stop_member "$m"; done
    rm -rf "$dir"
    echo "wiped $dir"
    ;;
  *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
