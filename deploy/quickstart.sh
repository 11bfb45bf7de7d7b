#!/usr/bin/env bash
# From a fresh Debian 12 machine: installs the dependencies, builds quorumd, and starts a local
# 3-member cluster on loopback (clients: 127.0.0.1:2379, :2389, :2399). Stop it with
# deploy/local.sh stop.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
./deploy/install-deps.sh --tests
./deploy/build.sh --target quorumd quorumctl quorumutl quorum-elect
./deploy/local.sh start 3
cat <<MSG

quorum is running: 3 members, quorum 2. Use any etcd v3 client, for example:
  export ETCDCTL_API=3 ENDPOINTS=$(./deploy/local.sh endpoints)
  etcdctl --endpoints \$ENDPOINTS put greeting hello
  etcdctl --endpoints \$ENDPOINTS get greeting
  etcdctl --endpoints \$ENDPOINTS endpoint status -w table
Watch quorum live (members, leader, verdict), redrawn every second:
  build/quorumctl --endpoints \$ENDPOINTS cluster status --watch
Kill a member and watch the cluster go on:  deploy/local.sh kill m1
Bring it back:                              deploy/local.sh restart m1
Status: deploy/local.sh status              Stop: deploy/local.sh stop
MSG
