#!/usr/bin/env bash
# Installs everything quorum needs to build and run, from Debian 12 packages only.
#   deploy/install-deps.sh           build + run dependencies
#   deploy/install-deps.sh --tests   also what the tests need: etcd 3.4 and etcdctl to compare
#                                    against, clang for the fuzz targets, iproute2 and
#                                    iptables for the partition tests, curl for the HTTP
#                                    face, promtool (prometheus) to check the /metrics text,
#                                    Patroni with PostgreSQL 15 for the gateway's rehearsal,
#                                    HAProxy, keepalived and systemd-analyze for the VM kit's
#                                    rehearsal, Chromium for the dashboard's browser test
# Idempotent and non-interactive: packages already present are left alone.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  librocksdb-dev libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev libspdlog-dev nlohmann-json3-dev libssl-dev openssl
  libgoogle-perftools-dev libcpp-httplib-dev libyaml-cpp-dev
  python3
)
if [[ "${1:-}" == "--tests" ]]; then
  # clang: the fuzz targets (libFuzzer lives in libclang-rt-14-dev); iproute2 and iptables:
  # the partition tests' network namespaces; curl: the HTTP face; prometheus: promtool, which
  # checks /metrics; patroni and postgresql-15: PostgreSQL high availability on the JSON
  # gateway, as against etcd; haproxy, keepalived and systemd (systemd-analyze): the VM kit's
  # rehearsal; chromium and python3-websocket: the dashboard page in a headless browser,
  # driven over the DevTools protocol's websocket.
  packages+=(etcd-server etcd-client clang libclang-rt-14-dev iproute2 iptables curl prometheus
             patroni postgresql-15 haproxy keepalived systemd chromium python3-websocket)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
# The Debian etcd package starts a system etcd on 2379; the tests and the local cluster need
# that port, and nothing here uses the system service.
if [[ " ${missing[*]} " == *" etcd-server "* ]] && command -v systemctl >/dev/null; then
  $sudo systemctl disable --now etcd >/dev/null 2>&1 || true
fi
# Likewise the PostgreSQL cluster the package creates and starts: the rehearsal runs its own.
if [[ " ${missing[*]} " == *" postgresql-15 "* ]] && command -v systemctl >/dev/null; then
  $sudo systemctl disable --now postgresql >/dev/null 2>&1 || true
fi
# Likewise HAProxy and keepalived: the rehearsal runs its own HAProxy in a namespace.
for service in haproxy keepalived; do
  if [[ " ${missing[*]} " == *" $service "* ]] && command -v systemctl >/dev/null; then
    $sudo systemctl disable --now "$service" >/dev/null 2>&1 || true
  fi
done
# Likewise the Prometheus server the package starts: the tests only need promtool.
if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null; then
  $sudo systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
