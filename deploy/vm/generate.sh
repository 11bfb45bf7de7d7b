#!/usr/bin/env bash
# Makes everything a cluster of quorum members on VMs needs, one kit per host:
#
#   deploy/vm/generate.sh OUT NAME=ADDRESS NAME=ADDRESS NAME=ADDRESS [...]   (3, 5 or 7 members)
#   deploy/vm/generate.sh --join OUT NAME=ADDRESS ...   (every member once `member add` is done)
#
# --join makes kits only for the members OUT has none for yet (the ones just added), whose
# config joins the running cluster (initial-cluster-state: existing), with the CA and cluster
# token already in OUT, and rewrites OUT/haproxy for the new member list.
#
#   OUT/ca/               the cluster's CA (its key too: keep OUT/ca off the hosts)
#   OUT/NAME/             the kit of host NAME, copied there as a whole:
#     quorum.yml          its --config-file: URLs on ADDRESS, mutual TLS for clients and peers
#     quorumd.service     a hardened systemd unit (own user, Type=notify, writes only its data dir)
#     certs/              ca.pem, crl.pem, NAME.pem (client URLs), NAME-peer.pem (peer URLs)
#     install.sh          installs binary, user, directories, files and unit, then starts it
#     packages.txt        the Debian packages of the libraries quorumd links against
#   OUT/admin/            a client certificate (CN root) for etcdctl and quorumctl
#   OUT/haproxy/          haproxy.cfg (one address for clients, TCP, /health checked over TLS),
#                         its check certificate, keepalived.conf (a VIP over two HAProxy hosts)
#
# Clients listen on ADDRESS:2379 and 127.0.0.1:2379, peers on ADDRESS:2380, /metrics and
# /health on ADDRESS:2381 (no keys there). QUORUM_BINARY (default: build/quorumd of this
# repo) is copied into every kit. QUORUM_VIP (default 10.0.0.100/24) is the clients' address
# in front of HAProxy (the keepalived example); every member's client certificate names it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

usage() {
  sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
join=false
if [[ "${1:-}" == "--join" ]]; then
  join=true
  shift
fi
(($# >= 2)) || usage
out=$1
shift
names=()
addresses=()
for arg in "$@"; do
  [[ "$arg" == *=* ]] || usage
  names+=("${arg%%=*}")
  addresses+=("${arg#*=}")
done
count=${#names[@]}
if ! $join && ((count != 3 && count != 5 && count != 7)); then
  echo "generate.sh: $count members; a cluster on VMs has 3, 5 or 7" >&2
  exit 2
fi
for n in "${names[@]}"; do
  [[ "$n" =~ ^[a-z0-9][a-z0-9-]*$ ]] || { echo "generate.sh: bad member name '$n'" >&2; exit 2; }
done
binary=${QUORUM_BINARY:-$root/build/quorumd}
[[ -x "$binary" ]] || { echo "generate.sh: no quorumd binary at $binary (build first)" >&2; exit 2; }
vip=${QUORUM_VIP:-10.0.0.100/24}

mkdir -p "$out"
out=$(cd "$out" && pwd)
certs="$root/deploy/certs.sh"
state=new
if $join; then
  # The CA and token of the cluster these kits were made for.
  state=existing
  token=""
  for n in "${names[@]}"; do
    if [[ -f "$out/$n/quorum.yml" ]]; then
      token=$(sed -n 's/^initial-cluster-token: //p' "$out/$n/quorum.yml")
      break
    fi
  done
  if [[ ! -f "$out/ca/ca.pem" || -z "$token" ]]; then
    echo "generate.sh: --join needs $out made by an earlier run, with a kit of a listed member" >&2
    exit 2
  fi
else
  [[ -f "$out/ca/ca.pem" ]] || "$certs" ca "$out/ca" >/dev/null
  token="quorum-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
fi

# The Debian packages of the libraries quorumd links against: install.sh puts them on a fresh
# host.
packages=$("$root/deploy/runtime-packages.sh" "$binary")

made=()
initial=""
for i in "${!names[@]}"; do
  initial+="${initial:+,}${names[$i]}=https://${addresses[$i]}:2380"
done

for i in "${!names[@]}"; do
  name=${names[$i]}
  address=${addresses[$i]}
  kit="$out/$name"
  if $join && [[ -d "$kit" ]]; then continue; fi  # a member that runs already
  made+=("$name")
  mkdir -p "$kit/certs"
  # Clients through HAProxy reach a member under the VIP: its certificate names that too.
  "$certs" server "$out/ca" "$name" "$address" "${vip%/*}" >/dev/null
  "$certs" peer "$out/ca" "$name-peer" --cn peer "$address" >/dev/null
  cp "$out/ca/ca.pem" "$out/ca/crl.pem" "$out/ca/$name.pem" "$out/ca/$name-key.pem" \
    "$out/ca/$name-peer.pem" "$out/ca/$name-peer-key.pem" "$kit/certs/"
  sed -e "s|@NAME@|$name|g" -e "s|@ADDRESS@|$address|g" -e "s|@INITIAL@|$initial|g" \
    -e "s|@TOKEN@|$token|g" -e "s|@STATE@|$state|g" "$here/quorum.yml.in" >"$kit/quorum.yml"
  sed -e "s|@NAME@|$name|g" "$here/quorumd.service.in" >"$kit/quorumd.service"
  install -m 0755 "$here/install.sh" "$kit/install.sh"
  install -m 0755 "$binary" "$kit/quorumd"
  printf '%s\n' $packages >"$kit/packages.txt"
done

mkdir -p "$out/admin"
[[ -f "$out/ca/root.pem" ]] || "$certs" client "$out/ca" root >/dev/null
cp "$out/ca/ca.pem" "$out/ca/root.pem" "$out/ca/root-key.pem" "$out/admin/"

mkdir -p "$out/haproxy"
[[ -f "$out/ca/haproxy-check.pem" ]] || "$certs" client "$out/ca" haproxy-check >/dev/null
cat "$out/ca/haproxy-check.pem" "$out/ca/haproxy-check-key.pem" >"$out/haproxy/check.pem"
chmod 0600 "$out/haproxy/check.pem"
cp "$out/ca/ca.pem" "$out/haproxy/ca.pem"
servers=""
for i in "${!names[@]}"; do
  servers+="    server ${names[$i]} ${addresses[$i]}:2379 check"$'\n'
done
awk -v servers="$servers" '{ if ($0 == "@SERVERS@") printf "%s", servers; else print }' \
  "$here/haproxy.cfg.in" >"$out/haproxy/haproxy.cfg"
sed -e "s|@VIP@|$vip|g" "$here/keepalived.conf.in" >"$out/haproxy/keepalived.conf"
echo "generate.sh: kits for ${made[*]:-no new member} in $out"
