#!/usr/bin/env bash
# Makes the certificates a TLS quorum cluster needs, with the OpenSSL command line: a CA, then
# server, peer and client certificates signed by it, and a CRL for the ones revoked.
#
#   deploy/certs.sh ca     DIR                         new CA: DIR/ca.pem, DIR/ca-key.pem, DIR/crl.pem
#   deploy/certs.sh server DIR NAME [--cn CN] [SAN...]  DIR/NAME.pem + DIR/NAME-key.pem for
#                                                      --cert-file/--key-file
#   deploy/certs.sh peer   DIR NAME [--cn CN] [SAN...]  the same for --peer-cert-file/--peer-key-file
#                                                      (serverAuth and clientAuth: members dial
#                                                      each other with it)
#   deploy/certs.sh client DIR NAME [--cn CN]           a client certificate (etcdctl --cert/--key)
#   deploy/certs.sh revoke DIR NAME                    revokes DIR/NAME.pem and rewrites DIR/crl.pem
#                                                      (for --client-crl-file / --peer-crl-file)
#
# CN defaults to NAME. Server and peer certificates always name 127.0.0.1 and localhost; each
# SAN argument adds an IP address or a DNS name. Keys are EC P-256; certificates last a year
# (QUORUM_CERT_DAYS to change). A CA key sits unencrypted in DIR: keep DIR private.
#
# Example, a three-member cluster on one host with mutual TLS everywhere:
#   deploy/certs.sh ca certs
#   for m in m1 m2 m3; do deploy/certs.sh server certs $m; deploy/certs.sh peer certs $m-peer --cn peer; done
#   deploy/certs.sh client certs admin
#   quorumd --cert-file certs/m1.pem --key-file certs/m1-key.pem --trusted-ca-file certs/ca.pem \
#     --client-cert-auth --peer-cert-file certs/m1-peer.pem --peer-key-file certs/m1-peer-key.pem \
#     --peer-trusted-ca-file certs/ca.pem --peer-client-cert-auth --peer-cert-allowed-cn peer ...
#   etcdctl --endpoints https://127.0.0.1:2379 --cacert certs/ca.pem --cert certs/admin.pem \
#     --key certs/admin-key.pem get foo
set -euo pipefail

usage() {
  sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

days=${QUORUM_CERT_DAYS:-365}
cmd=${1:-}
dir=${2:-}
[[ -n "$cmd" && -n "$dir" ]] || usage
shift 2

# The `openssl ca` database lives beside the CA so that revocation knows every issued serial.
write_ca_config() {
  cat >"$dir/ca.cnf" <<EOF
[ ca ]
default_ca = quorum_ca
[ quorum_ca ]
dir = $dir
database = \$dir/index.txt
new_certs_dir = \$dir/issued
serial = \$dir/serial
crlnumber = \$dir/crlnumber
certificate = \$dir/ca.pem
private_key = \$dir/ca-key.pem
default_md = sha256
default_days = $days
default_crl_days = $days
policy = any_name
unique_subject = no
copy_extensions = none
[ any_name ]
commonName = supplied
organizationName = optional
EOF
}

make_crl() {
  openssl ca -batch -config "$dir/ca.cnf" -gencrl -out "$dir/crl.pem" 2>/dev/null
}

issue() {  # issue KIND NAME CN SAN...
  local kind=$1 name=$2 cn=$3
  shift 3
  [[ -f "$dir/ca.cnf" ]] || { echo "certs.sh: no CA in $dir (run: certs.sh ca $dir)" >&2; exit 1; }
  local usage_ext
  case "$kind" in
    server) usage_ext="serverAuth" ;;
    peer) usage_ext="serverAuth,clientAuth" ;;
    client) usage_ext="clientAuth" ;;
  esac
  local ext="$dir/$name.ext"
  {
    echo "basicConstraints = critical,CA:FALSE"
    echo "keyUsage = critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage = $usage_ext"
    if [[ "$kind" != client ]]; then
      local sans=("IP:127.0.0.1" "DNS:localhost") san
      for san in "$@"; do
        if [[ "$san" =~ ^[0-9.]+$ || "$san" == *:* ]]; then sans+=("IP:$san"); else sans+=("DNS:$san"); fi
      done
      (IFS=,; echo "subjectAltName = ${sans[*]}")
    fi
  } >"$ext"
  openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null |
    openssl pkcs8 -topk8 -nocrypt -out "$dir/$name-key.pem"
  chmod 600 "$dir/$name-key.pem"
  openssl req -new -key "$dir/$name-key.pem" -subj "/O=quorum/CN=$cn" -out "$dir/$name.csr"
  openssl ca -batch -config "$dir/ca.cnf" -in "$dir/$name.csr" -extfile "$ext" \
    -out "$dir/$name.pem" -notext 2>/dev/null
  rm -f "$dir/$name.csr" "$ext"
  echo "$dir/$name.pem $dir/$name-key.pem (CN=$cn)"
}

case "$cmd" in
  ca)
    mkdir -p "$dir/issued"
    dir=$(cd "$dir" && pwd)
    : >"$dir/index.txt"
    echo 1000 >"$dir/serial"
    echo 1000 >"$dir/crlnumber"
    write_ca_config
    openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null |
      openssl pkcs8 -topk8 -nocrypt -out "$dir/ca-key.pem"
    chmod 600 "$dir/ca-key.pem"
    openssl req -new -x509 -key "$dir/ca-key.pem" -subj "/O=quorum/CN=quorum CA" -days "$days" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -out "$dir/ca.pem"
    make_crl
    echo "$dir/ca.pem $dir/ca-key.pem $dir/crl.pem"
    ;;
  server | peer | client)
    dir=$(cd "$dir" && pwd)
    name=${1:-}
    [[ -n "$name" ]] || usage
    shift
    cn=$name
    if [[ "${1:-}" == "--cn" ]]; then
      cn=${2:?--cn needs a value}
      shift 2
    fi
    issue "$cmd" "$name" "$cn" "$@"
    ;;
  revoke)
    dir=$(cd "$dir" && pwd)
    name=${1:-}
    [[ -n "$name" && -f "$dir/$name.pem" ]] || { echo "certs.sh: no $dir/$name.pem" >&2; exit 1; }
    openssl ca -batch -config "$dir/ca.cnf" -revoke "$dir/$name.pem" 2>/dev/null
    make_crl
    echo "revoked $dir/$name.pem; CRL: $dir/crl.pem"
    ;;
  *) usage ;;
esac
