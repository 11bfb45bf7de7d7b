#!/usr/bin/env bash
# Runs the same quorum-bench workloads against a local etcd 3.4 cluster and a local quorumd
# cluster of the same size on loopback, one cluster at a time so they never compete for CPU,
# and prints a side-by-side table of throughput and p99 latency with quorumd/etcd ratios.
#
# usage: tests/bench/compare_etcd.sh [options]
#   --members N         members per cluster (default 3)
#   --duration D        measured time per cell, e.g. 10s (default 10s)
#   --total N           measured requests per cell instead of --duration
#   --clients "1 16 128"        client counts (default "1 16 128")
#   --workloads "put range-l range-s txn"   workloads (default: all four)
#   --conns N           gRPC connections per cell (default: 2 per member, at most one per client)
#   --val-size B        value size (default 256)     --key-space K   distinct keys (default 10000)
#   --warmup D          unmeasured time before each cell (default 1s)
#   --quorumd PATH      (default build/quorumd, else build/server/quorumd)
#   --bench PATH        (default build/quorum-bench, else build/client/quorum-bench)
#   --etcd PATH         (default: etcd on PATH)
#   --etcdctl PATH      checks that the members form one cluster (default: etcdctl on PATH)
#   --only etcd|quorumd run one side only
#   --tls               mutual TLS on client and peer links for both servers (certificates from
#                       deploy/certs.sh, EC P-256; clients present a certificate too)
#   --start-timeout S   seconds a cluster may take to serve linearizable reads (default 60)
#   --keep              keep data, logs and raw csv (printed at the end); default: removed
#
# Every process it starts is killed by PID when it exits, however it exits.
# Ratios: throughput is quorumd/etcd (above 1: quorumd is faster); p99 is quorumd/etcd (below 1:
# quorumd's tail is shorter). A value marked * had request errors, listed under the table.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

members=3
duration=10s
total=
clients_list="1 16 128"
workloads="put range-l range-s txn"
conns=
val_size=256
key_space=10000
warmup=1s
quorumd=
bench=
etcd_bin=$(command -v etcd || true)
etcdctl=$(command -v etcdctl || true)
only=
start_timeout=60
keep=0
tls=0

usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --members) members=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --total) total=$2; shift 2 ;;
    --clients) clients_list=$2; shift 2 ;;
    --workloads) workloads=$2; shift 2 ;;
    --conns) conns=$2; shift 2 ;;
    --val-size) val_size=$2; shift 2 ;;
    --key-space) key_space=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --quorumd) quorumd=$2; shift 2 ;;
    --bench) bench=$2; shift 2 ;;
    --etcd) etcd_bin=$2; shift 2 ;;
    --etcdctl) etcdctl=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --start-timeout) start_timeout=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --tls) tls=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "unknown option: $1" >&2; usage ;;
  esac
done

first_existing() {
  local path
  for path in "$@"; do [[ -x "$path" ]] && { echo "$path"; return; }; done
  echo "$1"
}
quorumd=${quorumd:-$(first_existing "$root/build/quorumd" "$root/build/server/quorumd")}
bench=${bench:-$(first_existing "$root/build/quorum-bench" "$root/build/client/quorum-bench")}

die() { echo "compare_etcd: $*" >&2; exit 1; }
[[ "$members" =~ ^[1-9][0-9]*$ ]] || die "--members must be a positive number"
[[ -z "$only" || "$only" == etcd || "$only" == quorumd ]] || die "--only takes etcd or quorumd"
[[ -x "$bench" ]] || die "quorum-bench not found at $bench (build target quorum-bench, or --bench)"
kinds=()
if [[ "$only" != quorumd ]]; then
  [[ -n "$etcd_bin" && -x "$etcd_bin" ]] || die "etcd not found (apt-get install etcd-server, or --etcd)"
  kinds+=(etcd)
fi
if [[ "$only" != etcd ]]; then
  [[ -x "$quorumd" ]] || die "quorumd not found at $quorumd (build target quorumd, or --quorumd)"
  kinds+=(quorumd)
fi
for w in $workloads; do
  case "$w" in put|range-l|range-s|txn) ;; *) die "unknown workload $w" ;; esac
done

work=$(mktemp -d "${TMPDIR:-/tmp}/quorum-compare.XXXXXX")
started_pids=()

# With --tls: one CA; per member a server and a peer certificate; one client certificate that
# the bench, the readiness probe and etcdctl present.
scheme=http
client_tls=()
if ((tls)); then
  scheme=https
  certs="$work/certs"
  "$root/deploy/certs.sh" ca "$certs" >/dev/null
  for i in $(seq 1 "$members"); do
    "$root/deploy/certs.sh" server "$certs" "m$i" >/dev/null
    "$root/deploy/certs.sh" peer "$certs" "m$i-peer" --cn peer >/dev/null
  done
  "$root/deploy/certs.sh" client "$certs" bench >/dev/null
  client_tls=(--cacert "$certs/ca.pem" --cert "$certs/bench.pem" --key "$certs/bench-key.pem")
fi
# The TLS flags of member $1 (none without --tls).
member_tls() {
  ((tls)) || return 0
  echo --cert-file "$certs/m$1.pem" --key-file "$certs/m$1-key.pem" \
    --trusted-ca-file "$certs/ca.pem" --client-cert-auth \
    --peer-cert-file "$certs/m$1-peer.pem" --peer-key-file "$certs/m$1-peer-key.pem" \
    --peer-trusted-ca-file "$certs/ca.pem" --peer-client-cert-auth
}

# Stops the given PIDs: SIGTERM, then SIGKILL for any still alive after 10 s.
stop_pids() {
  local pid
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 100); do
    local alive=0
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pid in "$@"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}

forget_pids() {
  local pid gone kept=()
  for pid in "${started_pids[@]}"; do
    for gone in "$@"; do [[ "$pid" == "$gone" ]] && continue 2; done
    kept+=("$pid")
  done
  started_pids=("${kept[@]}")
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if ((${#started_pids[@]})); then stop_pids "${started_pids[@]}"; fi
  if ((keep)); then echo "kept: $work" >&2; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Sets $port to a port nothing listens on now. Ports are handed out upwards from a random base
# so that two runs on one machine rarely collide. (Not $(free_port): the counter must survive.)
next_port=$((20000 + RANDOM % 20000))
free_port() {
  while (exec 3<>"/dev/tcp/127.0.0.1/$next_port") 2>/dev/null; do next_port=$((next_port + 1)); done
  port=$next_port
  next_port=$((next_port + 1))
}

# Runs quorum-bench in the background and waits for it, so that a signal to this script is
# handled at once (bash runs traps only between foreground commands) and the bench is stopped
# with the rest. Output goes to $1; returns the bench's exit code.
run_bench() {
  local out=$1 pid rc=0
  shift
  "$bench" "$@" "${client_tls[@]}" >"$out" 2>"$out.err" &
  pid=$!
  started_pids+=("$pid")
  wait "$pid" || rc=$?
  forget_pids "$pid"
  return "$rc"
}

cluster_pids=()
endpoints=
# Starts a cluster of $members members of kind $1 (etcd or quorumd) with etcd's bootstrap
# flags, and waits until every member serves a linearizable read. Returns non-zero (after
# showing the logs) if a member exits or the cluster is not ready within --start-timeout.
start_cluster() {
  local kind=$1 binary i initial_cluster="" client_urls=() peer_urls=()
  [[ "$kind" == etcd ]] && binary=$etcd_bin || binary=$quorumd
  mkdir -p "$work/$kind"
  for i in $(seq 1 "$members"); do
    free_port
    client_urls+=("$scheme://127.0.0.1:$port")
    free_port
    peer_urls+=("$scheme://127.0.0.1:$port")
    initial_cluster+="${initial_cluster:+,}m$i=${peer_urls[i - 1]}"
  done
  cluster_pids=()
  for i in $(seq 1 "$members"); do
    # shellcheck disable=SC2046  # member_tls prints separate words (paths have no spaces)
    "$binary" --name "m$i" --data-dir "$work/$kind/m$i.data" $(member_tls "$i") \
      --listen-client-urls "${client_urls[i - 1]}" --advertise-client-urls "${client_urls[i - 1]}" \
      --listen-peer-urls "${peer_urls[i - 1]}" --initial-advertise-peer-urls "${peer_urls[i - 1]}" \
      --initial-cluster "$initial_cluster" --initial-cluster-token "compare-$kind-$$" \
      --initial-cluster-state new >"$work/$kind/m$i.log" 2>&1 &
    cluster_pids+=($!)
    started_pids+=($!)
  done
  endpoints=$(IFS=,; echo "${client_urls[*]}")

  local deadline=$((SECONDS + start_timeout)) pid url ready
  for url in "${client_urls[@]}"; do
    ready=0
    while ((SECONDS < deadline)); do
      for pid in "${cluster_pids[@]}"; do
        kill -0 "$pid" 2>/dev/null || { show_logs "$kind" "a member exited"; return 1; }
      done
      if "$bench" range --endpoints "$url" --total 1 --no-prefill --timeout 1s \
        --format csv "${client_tls[@]}" >/dev/null 2>&1; then
        ready=1
        break
      fi
      sleep 0.2
    done
    ((ready)) || { show_logs "$kind" "not ready within ${start_timeout}s"; return 1; }
  done
  ((members == 1)) || check_one_cluster "$kind" "${client_urls[@]}"
}

# Members that each answer on their own are not yet a cluster: a server that ignored
# --initial-cluster would serve N independent stores and look N times faster. So a write
# through the first member must be read back (linearizably) through every other one.
check_one_cluster() {
  local kind=$1 first=$2 url value probe="compare-etcd-probe" expected="$1-$$-$RANDOM"
  shift 2
  if [[ -z "$etcdctl" ]]; then
    echo "warning: etcdctl not found; not checking that the $kind members form one cluster" >&2
    return 0
  fi
  ETCDCTL_API=3 "$etcdctl" "${client_tls[@]}" --endpoints "$first" --command-timeout 5s put "$probe" "$expected" \
    >/dev/null 2>&1 || { show_logs "$kind" "a probe write through $first failed"; return 1; }
  for url in "$@"; do
    value=$(ETCDCTL_API=3 "$etcdctl" "${client_tls[@]}" --endpoints "$url" --command-timeout 5s get "$probe" \
      --print-value-only 2>/dev/null || true)
    if [[ "$value" != "$expected" ]]; then
      echo "$kind: the members do not form one cluster: a write through $first is not read" \
        "back through $url" >&2
      return 1
    fi
  done
}

show_logs() {
  local kind=$1 why=$2 log
  echo "$kind cluster failed to start: $why. Last log lines:" >&2
  for log in "$work/$kind"/m*.log; do
    echo "--- $(basename "$log")" >&2
    tail -n 5 "$log" >&2
  done
}

stop_cluster() {
  stop_pids "${cluster_pids[@]}"
  forget_pids "${cluster_pids[@]}"
  cluster_pids=()
}

# conns for a cell: 2 per member so every member takes load, at most one per client.
conns_for() {
  local clients=$1 n=${conns:-$((2 * members))}
  ((n > clients)) && n=$clients
  echo "$n"
}

raw="$work/results.csv"
echo "server,workload,clients,throughput,p99_ms,errors,error_codes" >"$raw"
measure=(--duration "$duration")
[[ -n "$total" ]] && measure=(--total "$total")
failed=0

for kind in "${kinds[@]}"; do
  echo "== $kind: starting $members member(s)" >&2
  if ! start_cluster "$kind"; then
    stop_cluster
    failed=1
    continue
  fi
  # Range reads keys that exist: write the whole key space once, in order.
  run_bench "$work/$kind.prefill.csv" put --endpoints "$endpoints" --conns "$(conns_for 64)" \
    --clients 64 --sequential-keys --total "$key_space" --key-space "$key_space" \
    --val-size "$val_size" --format csv || echo "$kind: prefill had no successes" >&2
  for w in $workloads; do
    case "$w" in
      put) args=(put) ;;
      range-l) args=(range --consistency l --no-prefill) ;;
      range-s) args=(range --consistency s --no-prefill) ;;
      txn) args=(txn) ;;
    esac
    for c in $clients_list; do
      out="$work/$kind.$w.$c.csv"
      rc=0
      run_bench "$out" "${args[@]}" --endpoints "$endpoints" --conns "$(conns_for "$c")" \
        --clients "$c" --val-size "$val_size" --key-space "$key_space" --warmup "$warmup" \
        "${measure[@]}" --format csv || rc=$?
      if ((rc == 2)); then cat "$out.err" >&2; die "quorum-bench rejected its arguments"; fi
      awk -F, -v kind="$kind" -v w="$w" -v c="$c" \
        'NR == 2 { print kind "," w "," c "," $10 "," $15 "," $8 "," $18 }' "$out" >>"$raw"
      echo "$kind $w clients=$c: $(awk -F, 'NR == 2 { print $10 " req/s, p99 " $15 " ms, " $8 " errors" }' "$out")" >&2
    done
  done
  stop_cluster
done

# The side-by-side table, from the raw rows.
echo
per_cell=$duration
[[ -n "$total" ]] && per_cell="$total requests"
etcd_version=$("$etcd_bin" --version 2>/dev/null | awk '/etcd Version/ { print $3 }' || true)
links="plain links"
((tls)) && links="mutual TLS on client and peer links"
echo "etcd ${etcd_version:-?} vs quorumd: $members member(s) each, $links, ${val_size} B values," \
  "$per_cell per cell, ${warmup} warmup"
awk -F, -v workloads="$workloads" -v clients="$clients_list" '
  NR > 1 {
    key = $2 SUBSEP $3
    tput[$1, key] = $4; p99[$1, key] = $5
    if ($6 > 0) { mark[$1, key] = "*"; errs = errs sprintf("  %s %s clients=%s: %s\n", $1, $2, $3, $7) }
  }
  function cell(server, key, values) {
    return ((server, key) in values) ? values[server, key] mark[server, key] : "-"
  }
  function ratio(server_a, server_b, key, values) {
    if (!((server_a, key) in values) || !((server_b, key) in values) || values[server_a, key] == 0) return "-"
    return sprintf("%.2f", values[server_b, key] / values[server_a, key])
  }
  END {
    printf "%-9s %7s %12s %13s %7s %12s %14s %7s\n", "workload", "clients", "etcd req/s",
           "quorumd req/s", "ratio", "etcd p99 ms", "quorumd p99 ms", "ratio"
    nw = split(workloads, ws, " "); nc = split(clients, cs, " ")
    for (i = 1; i <= nw; i++) for (j = 1; j <= nc; j++) {
      key = ws[i] SUBSEP cs[j]
      printf "%-9s %7s %12s %13s %7s %12s %14s %7s\n", ws[i], cs[j], cell("etcd", key, tput),
             cell("quorumd", key, tput), ratio("etcd", "quorumd", key, tput),
             cell("etcd", key, p99), cell("quorumd", key, p99), ratio("etcd", "quorumd", key, p99)
    }
    if (errs != "") printf "\n* request errors:\n%s", errs
  }' "$raw"
((keep)) && echo "raw results: $raw" >&2
exit "$failed"
