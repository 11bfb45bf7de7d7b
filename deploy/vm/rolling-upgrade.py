#!/usr/bin/env python3
"""Replaces quorumd on every member of a running cluster, one member at a time, never taking
down more than one: before each member the whole cluster must be healthy; a leader hands its
leadership to a caught-up follower first (so no election is needed); after the restart the
member must be healthy again and have applied what the cluster had committed before the next
one goes.

  deploy/vm/rolling-upgrade.py --binary NEW_QUORUMD --admin kits/admin NAME=ADDRESS ...

Runs from the machine that made the kits (it has etcdctl and the admin certificate). Each
host is reached as root with $QUORUM_SSH (default "ssh -o BatchMode=yes") and files go with
$QUORUM_SCP (default "scp -q"); on the host the binary is installed beside the old one and the
unit restarted (systemctl restart quorumd). Exits 0 when every member runs the new binary.
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import time


def etcdctl(admin, endpoints, *args, timeout="5s"):
    argv = ["etcdctl", "--endpoints", ",".join(endpoints), "--cacert", f"{admin}/ca.pem",
            "--cert", f"{admin}/root.pem", "--key", f"{admin}/root-key.pem",
            f"--command-timeout={timeout}", *args]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, ETCDCTL_API="3"))
    return r.returncode, r.stdout, r.stderr


def statuses(admin, endpoints):
    """{endpoint: Status} of the members that answer."""
    out = {}
    for endpoint in endpoints:
        rc, stdout, _ = etcdctl(admin, [endpoint], "endpoint", "status", "-w", "json",
                                timeout="3s")
        if rc == 0:
            out[endpoint] = json.loads(stdout)[0]["Status"]
    return out


def wait(what, predicate, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    sys.exit(f"rolling-upgrade: gave up after {timeout} s waiting for {what}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", required=True, help="the new quorumd")
    parser.add_argument("--admin", required=True, help="dir with ca.pem, root.pem, root-key.pem")
    parser.add_argument("members", nargs="+", help="NAME=ADDRESS of every member")
    args = parser.parse_args()
    ssh = shlex.split(os.environ.get("QUORUM_SSH", "ssh -o BatchMode=yes"))
    scp = shlex.split(os.environ.get("QUORUM_SCP", "scp -q"))
    members = [m.split("=", 1) for m in args.members]
    endpoints = [f"https://{address}:2379" for _, address in members]

    def healthy():
        rc, stdout, stderr = etcdctl(args.admin, endpoints, "endpoint", "health", timeout="3s")
        return rc == 0 and (stdout + stderr).count("is healthy") == len(endpoints)

    for name, address in members:
        endpoint = f"https://{address}:2379"
        wait("every member to be healthy", healthy, 120)
        status = statuses(args.admin, endpoints)
        me = status[endpoint]
        if me["leader"] == me["header"]["member_id"]:
            # Hand the leadership to the follower that has applied the most.
            followers = sorted((s for e, s in status.items() if e != endpoint),
                               key=lambda s: s.get("raftAppliedIndex", 0), reverse=True)
            target = followers[0]["header"]["member_id"]
            rc, stdout, stderr = etcdctl(args.admin, endpoints, "move-leader", format(target, "x"))
            if rc != 0:
                sys.exit(f"rolling-upgrade: move-leader failed: {stdout}{stderr}")
            print(f"rolling-upgrade: {name} handed leadership to {target:x}", flush=True)
        committed = max(s["raftIndex"] for s in status.values())

        print(f"rolling-upgrade: {name}: installing the new binary and restarting", flush=True)
        subprocess.run(scp + [args.binary, f"root@{address}:/usr/local/bin/quorumd.new"],
                       check=True, timeout=300)
        subprocess.run(ssh + [f"root@{address}",
                              "install -m 0755 /usr/local/bin/quorumd.new /usr/local/bin/quorumd"
                              " && rm /usr/local/bin/quorumd.new && systemctl restart quorumd"],
                       check=True, timeout=300)

        def caught_up():
            s = statuses(args.admin, [endpoint]).get(endpoint)
            return s is not None and s.get("raftAppliedIndex", 0) >= committed and healthy()
        wait(f"{name} to be healthy and caught up", caught_up, 120)
        print(f"rolling-upgrade: {name} runs the new binary", flush=True)
    print("rolling-upgrade: every member upgraded", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
