# Shared by the memory benchmarks (sourced, not run): a work dir and the processes started in it,
# both gone when the script exits however it exits, and small readers of /proc.
#   require_bins BIN...  exits with a message unless every BIN is an executable
#   pids+=("$pid")       registers a started process to be killed (-9, by PID) at exit
#   $work                the scratch directory
#   free_port            a loopback port that was free a moment ago
#   rss_mib PID, threads PID

require_bins() {
  for bin in "$@"; do
    [[ -x $bin ]] || { echo "not found: $bin (build with deploy/build.sh)" >&2; exit 1; }
  done
}

work=$(mktemp -d)
pids=()
bench_cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap bench_cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
threads() { awk '/^Threads/ {print $2}' "/proc/$1/status"; }
