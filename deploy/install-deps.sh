#!/usr/bin/env bash
# Installs everything quorum needs to build and run, from Debian 12 packages only.
#   deploy/install-deps.sh           build + run dependencies
#   deploy/install-deps.sh --tests   also the tools the tests compare against (etcd 3.4, etcdctl)
# Idempotent and non-interactive: packages already present are left alone.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  librocksdb-dev libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev libspdlog-dev nlohmann-json3-dev libssl-dev openssl
  libgoogle-perftools-dev
  python3
)
if [[ "${1:-}" == "--tests" ]]; then
  packages+=(etcd-server etcd-client)
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
