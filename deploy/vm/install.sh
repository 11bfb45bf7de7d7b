#!/usr/bin/env bash
# Installs the quorum member of this kit (made by deploy/vm/generate.sh) on this host and starts
# it. Run as root from anywhere:   ./install.sh
#   - the Debian packages quorumd links against (packages.txt, found when the kit was made);
#   - /usr/local/bin/quorumd; a system user `quorum`;
#   - /etc/quorum/quorum.yml and /etc/quorum/certs/ (keys readable by root and quorum only);
#   - /var/lib/quorum (the data dir, 0700, owned by quorum);
#   - /etc/systemd/system/quorumd.service, enabled and started.
# Running it again updates the files and restarts nothing but the unit's start (a running
# member keeps its data dir).
set -euo pipefail
kit=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ $(id -u) -ne 0 ]]; then
  echo "install.sh: run as root" >&2
  exit 1
fi

missing=()
if [[ -f "$kit/packages.txt" ]]; then
  while read -r p; do
    [[ -z "$p" ]] && continue
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done <"$kit/packages.txt"
fi
if ((${#missing[@]})); then
  echo "install.sh: installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

install -m 0755 "$kit/quorumd" /usr/local/bin/quorumd
if ! getent passwd quorum >/dev/null; then
  useradd --system --user-group --home-dir /var/lib/quorum --no-create-home \
    --shell /usr/sbin/nologin quorum
fi
install -d -m 0755 /etc/quorum
install -d -m 0750 -g quorum /etc/quorum/certs
install -m 0640 -g quorum "$kit/quorum.yml" /etc/quorum/quorum.yml
for f in "$kit"/certs/*.pem; do
  mode=0644
  [[ "$f" == *-key.pem ]] && mode=0640
  install -m "$mode" -g quorum "$f" /etc/quorum/certs/
done
install -d -m 0700 -o quorum -g quorum /var/lib/quorum
install -D -m 0644 "$kit/quorumd.service" /etc/systemd/system/quorumd.service

if [[ -d /run/systemd/system ]]; then
  systemctl daemon-reload
  systemctl enable --now quorumd
  echo "install.sh: quorumd enabled and started (journalctl -u quorumd for its log)"
else
  echo "install.sh: installed; systemd does not run here, so start the member as its unit does:"
  echo "  runuser -u quorum -- /usr/local/bin/quorumd --config-file /etc/quorum/quorum.yml"
fi
