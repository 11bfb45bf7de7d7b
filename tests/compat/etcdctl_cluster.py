#!/usr/bin/env python3
"""The real etcdctl 3.4 against a 3-member quorumd cluster, with --endpoints listing every
member: member list, endpoint status --cluster -w table, endpoint health --cluster, move-leader,
snapshot save. Members run on loopback ports picked here and are killed by PID at the end.

usage: etcdctl_cluster.py QUORUMD_PATH [--etcdctl PATH]
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from etcdctl_diff import free_port  # noqa: E402  (same folder)

checks = []


def check(name, ok, detail=""):
    checks.append(ok)
    print(("PASS  " if ok else "FAIL  ") + name + ("" if ok else f"\n      {detail}"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("quorumd")
    parser.add_argument("--etcdctl", default=shutil.which("etcdctl") or "/usr/bin/etcdctl")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="quorum-etcdctl-")
    members = [(f"m{i}", free_port(), free_port()) for i in range(1, 4)]
    initial = ",".join(f"{n}=http://127.0.0.1:{p}" for n, _, p in members)
    endpoints = ",".join(f"127.0.0.1:{c}" for _, c, _ in members)
    procs = []
    try:
        for name, client, peer in members:
            log = open(f"{work}/{name}.log", "wb")
            procs.append(subprocess.Popen(
                [args.quorumd, "--name", name, "--data-dir", f"{work}/{name}",
                 "--listen-client-urls", f"http://127.0.0.1:{client}",
                 "--advertise-client-urls", f"http://127.0.0.1:{client}",
                 "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                 "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                 "--initial-cluster", initial, "--initial-cluster-token", "etcdctl-check"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

        def ctl(*cmd, endpoints=endpoints, timeout=30):
            r = subprocess.run([args.etcdctl, "--endpoints", endpoints, "--command-timeout=5s",
                                *cmd], capture_output=True, timeout=timeout,
                               env=dict(os.environ, ETCDCTL_API="3"))
            return r.returncode, r.stdout.decode(), r.stderr.decode()

        # Ready when a write commits and every member published its client URL.
        deadline = time.time() + 30
        while time.time() < deadline:
            rc, out, _ = ctl("member", "list", "-w", "json")
            if rc == 0 and ctl("put", "ready", "1")[0] == 0:
                listed = json.loads(out).get("members", [])
                if len(listed) == 3 and all(m.get("clientURLs") for m in listed):
                    break
            time.sleep(0.2)

        rc, out, err = ctl("member", "list", "-w", "table")
        rows = [l for l in out.splitlines() if l.startswith("|") and "started" in l]
        check("member list shows 3 started members with names and URLs",
              rc == 0 and len(rows) == 3 and
              all(any(f" {n} |" in r and f"127.0.0.1:{c}" in r for r in rows)
                  for n, c, _ in members), out + err)

        rc, out, err = ctl("endpoint", "status", "--cluster", "-w", "table")
        rows = [l for l in out.splitlines() if l.startswith("| http://")]
        leaders = [l for l in rows if "|      true |" in l or "| true " in l]
        check("endpoint status --cluster -w table: 3 rows, 1 leader",
              rc == 0 and len(rows) == 3 and len(leaders) == 1, out + err)

        rc, out, err = ctl("endpoint", "health", "--cluster")
        healthy = [l for l in (out + err).splitlines() if "is healthy" in l]
        check("endpoint health --cluster: 3 healthy", rc == 0 and len(healthy) == 3, out + err)

        rc, out, _ = ctl("endpoint", "status", "-w", "json")
        statuses = json.loads(out)
        leader = statuses[0]["Status"]["leader"]
        target = next(s["Status"]["header"]["member_id"] for s in statuses
                      if s["Status"]["header"]["member_id"] != leader)
        rc, out, err = ctl("move-leader", format(target, "x"))
        check("move-leader transfers leadership",
              rc == 0 and "Leadership transferred" in out, out + err)
        rc, out, _ = ctl("endpoint", "status", "-w", "json")
        now = {s["Status"]["leader"] for s in json.loads(out)}
        check("every member names the new leader", now == {target}, out)

        snap = f"{work}/backup.db"
        rc, out, err = ctl("snapshot", "save", snap, endpoints=f"127.0.0.1:{members[0][1]}")
        size = os.path.getsize(snap) if os.path.exists(snap) else -1
        check("snapshot save writes a checksummed file",
              rc == 0 and "Snapshot saved" in out + err and size > 0 and size % 512 == 32,
              f"rc={rc} size={size}\n{out}{err}")
    finally:
        for p in procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
    passed = sum(1 for c in checks if c)
    print(f"{passed} passed, {len(checks) - passed} failed")
    return 0 if checks and all(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
