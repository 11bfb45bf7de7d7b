#!/usr/bin/env bash
# Runs quorumd members on this machine's loopback, each in the background with its data, log
# and PID file under one directory (default: ./local-data, or $QUORUM_LOCAL_DIR).
#   deploy/local.sh start     start the member(s) and wait until they answer
#   deploy/local.sh stop      stop them (SIGTERM, then SIGKILL after 10 s), by PID
#   deploy/local.sh status    show which are running
#   deploy/local.sh kill NAME kill -9 one member
#   deploy/local.sh restart NAME
# Member m1 serves clients on 127.0.0.1:2379.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
quorumd=${QUORUMD:-$root/build/quorumd}
dir=${QUORUM_LOCAL_DIR:-$root/local-data}
members=(m1)
client_port() { echo $((2379 + 10 * ($1 - 1))); }

pid_of() { cat "$dir/$1/pid" 2>/dev/null || true; }
alive() { local pid; pid=$(pid_of "$1"); [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; }

start_member() {
  local name=$1 index=${1#m}
  local url="http://127.0.0.1:$(client_port "$index")"
  if alive "$name"; then echo "$name already running (pid $(pid_of "$name"))"; return; fi
  mkdir -p "$dir/$name"
  nohup "$quorumd" --name "$name" --data-dir "$dir/$name/data" \
    --listen-client-urls "$url" --advertise-client-urls "$url" \
    >>"$dir/$name/quorumd.log" 2>&1 &
  echo $! >"$dir/$name/pid"
  for _ in $(seq 1 100); do
    if grep -q "ready to serve client requests" "$dir/$name/quorumd.log" 2>/dev/null; then
      echo "$name started (pid $(pid_of "$name")) serving $url"
      return
    fi
    if ! alive "$name"; then break; fi
    sleep 0.1
  done
  echo "$name failed to start; last log lines:" >&2
  tail -n 5 "$dir/$name/quorumd.log" >&2
  return 1
}

stop_member() {
  local name=$1 pid
  pid=$(pid_of "$name")
  if ! alive "$name"; then echo "$name not running"; return; fi
  kill -TERM "$pid"
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || { echo "$name stopped"; rm -f "$dir/$name/pid"; return; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/$name/pid"
  echo "$name killed after 10 s"
}

case "${1:-}" in
  start) for m in "${members[@]}"; do start_member "$m"; done ;;
  stop) for m in "${members[@]}"; do stop_member "$m"; done ;;
  status)
    for m in "${members[@]}"; do
      if alive "$m"; then echo "$m up   pid $(pid_of "$m")  127.0.0.1:$(client_port "${m#m}")"
      else echo "$m down"; fi
    done ;;
  kill)
    name=${2:?member name}
    if alive "$name"; then kill -KILL "$(pid_of "$name")"; echo "$name killed (-9)"; fi ;;
  restart) name=${2:?member name}; stop_member "$name"; start_member "$name" ;;
  *) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
