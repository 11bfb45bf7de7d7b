#!/usr/bin/env bash
# From a fresh Debian 12 machine: installs the dependencies, builds quorumd, and starts it on
# 127.0.0.1:2379 in the background. Stop it with deploy/local.sh stop.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
./deploy/install-deps.sh
./deploy/build.sh --target quorumd
./deploy/local.sh start
cat <<MSG

quorum is running. Try it with any etcd v3 client, for example:
  ETCDCTL_API=3 etcdctl --endpoints 127.0.0.1:2379 put greeting hello
  ETCDCTL_API=3 etcdctl --endpoints 127.0.0.1:2379 get greeting
Status: deploy/local.sh status    Stop: deploy/local.sh stop
MSG
