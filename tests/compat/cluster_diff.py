#!/usr/bin/env python3
"""Differential test of cluster identity and membership answers: a 3-member etcd 3.4 cluster and
then a 3-member quorumd cluster, started on the same loopback ports with the same
--initial-cluster and token, get the same etcdctl commands. Member and cluster ids are compared
as they are (both derive them from the peer URLs and the token), as are the empty alarm list and
MemberPromote sent to a follower (etcd forwards it to the leader). Only Raft terms, timestamps
and the id of the member added here (etcd makes it from the clock) are masked. Processes are
killed by PID.

usage: cluster_diff.py QUORUMD_PATH [--etcd PATH] [--etcdctl PATH] [--keep]
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from etcdctl_diff import free_port, parse_tool_args, report

TOKEN = "cluster-diff"

NORMALISERS = [
    (re.compile(r'"raft_term":\d+'), '"raft_term":T'),
    (re.compile(r'"ts":"[^"]*"'), '"ts":T'),
    (re.compile(r'"target":"[^"]*"'), '"target":T'),
]


class Cluster:
    """Three members m1..m3 of one server kind on the given ports."""

    def __init__(self, kind, binary, ports, work):
        self.kind = kind
        self.procs = []
        self.endpoints = [f"127.0.0.1:{c}" for c, _ in ports]
        initial = ",".join(f"m{i + 1}=http://127.0.0.1:{p}" for i, (_, p) in enumerate(ports))
        for i, (client, peer) in enumerate(ports):
            name = f"m{i + 1}"
            argv = [binary, "--name", name, "--data-dir", f"{work}/{kind}-{name}",
                    "--listen-client-urls", f"http://127.0.0.1:{client}",
                    "--advertise-client-urls", f"http://127.0.0.1:{client}",
                    "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                    "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                    "--initial-cluster", initial, "--initial-cluster-token", TOKEN]
            log = open(f"{work}/{kind}-{name}.log", "wb")
            self.procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                               start_new_session=True))

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(timeout=10)


def ctl(etcdctl, endpoint, *args):
    r = subprocess.run([etcdctl, "--endpoints", endpoint, "--command-timeout=5s", *args],
                       capture_output=True, timeout=30, env=dict(os.environ, ETCDCTL_API="3"))
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def wait_ready(etcdctl, cluster, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        rc, out, _ = ctl(etcdctl, cluster.endpoints[0], "member", "list", "-w", "json")
        if rc == 0 and all(ctl(etcdctl, e, "get", "ready")[0] == 0 for e in cluster.endpoints):
            members = json.loads(out).get("members", [])
            if len(members) == 3 and all(m.get("clientURLs") for m in members):
                return
        time.sleep(0.2)
    raise RuntimeError(f"{cluster.kind} cluster did not become ready")


def roles(etcdctl, cluster):
    """(leader endpoint, a follower endpoint, a follower's member id in hex)."""
    rc, out, err = ctl(etcdctl, ",".join(cluster.endpoints), "endpoint", "status", "-w", "json")
    if rc != 0:
        raise RuntimeError(err)
    statuses = json.loads(out)
    leader = statuses[0]["Status"]["leader"]
    lead = [s for s in statuses if s["Status"]["header"]["member_id"] == leader]
    follow = [s for s in statuses if s["Status"]["header"]["member_id"] != leader]
    return lead[0]["Endpoint"], follow[0]["Endpoint"], format(
        follow[1]["Status"]["header"]["member_id"], "x")


def last_learner(text):
    """A member list in JSON with the masked learner moved last: both servers list members by
    id, and the learner's id (made from the clock) differs between the two runs."""
    if '"ID":LEARNER' not in text:
        return text
    listing = json.loads(
        text.replace('"ID":LEARNER', '"ID":"LEARNER"').replace('"raft_term":T', '"raft_term":"T"'))
    listing["members"].sort(key=lambda m: m.get("ID") == "LEARNER")
    return json.dumps(listing, separators=(",", ":"))


def session(etcdctl, cluster, learner_peer):
    """The commands, each with its normalised (exit, stdout, stderr)."""
    results = []

    def step(label, endpoint, *args, mask=()):
        rc, out, err = ctl(etcdctl, endpoint, *args)
        for pattern, replacement in NORMALISERS + list(mask):
            out, err = pattern.sub(replacement, out), pattern.sub(replacement, err)
        results.append((label, (rc, last_learner(out), err)))
        return rc, out, err

    first = cluster.endpoints[0]
    step("member list -w json", first, "member", "list", "-w", "json")
    step("member list -w table", first, "member", "list", "-w", "table")
    step("alarm list", first, "alarm", "list")
    step("alarm list -w json", first, "alarm", "list", "-w", "json")
    leader, follower, voter = roles(etcdctl, cluster)
    # etcd refuses a new member until every member has been connected for 5 s ("unhealthy
    # cluster"); both servers get the same patience.
    deadline = time.time() + 20
    while True:
        rc, out, err = ctl(etcdctl, leader, "member", "add", "m4", "--learner",
                           f"--peer-urls=http://127.0.0.1:{learner_peer}")
        if rc == 0 or "unhealthy cluster" not in err or time.time() > deadline:
            break
        time.sleep(0.5)
    # etcdctl pads the id to 16 places ("Member %16x added"): an id with a leading zero nibble
    # has two spaces before it.
    added = re.search(r"Member +([0-9a-f]+) added", out)
    results.append(("member add m4 --learner", (rc, "", "")))
    if added is None:
        results.append(("member add m4 --learner (output)", (rc, out, err)))
        return results
    learner = added.group(1)
    mask = [(re.compile(learner), "LEARNER"), (re.compile(str(int(learner, 16))), "LEARNER")]
    step("member promote <learner> through a follower", follower, "member", "promote", learner,
         mask=mask)
    step("member promote <learner> through the leader", leader, "member", "promote", learner,
         mask=mask)
    step("member promote <voter> through a follower", follower, "member", "promote", voter)
    step("member promote <unknown> through a follower", follower, "member", "promote", "1234abcd")
    step("member list -w json with the learner", first, "member", "list", "-w", "json",
         mask=mask)
    return results


def main():
    args = parse_tool_args()
    if args is None:
        return 1

    work = tempfile.mkdtemp(prefix="quorum-cluster-diff-")
    ports = [(free_port(), free_port()) for _ in range(3)]
    learner_peer = free_port()
    outcomes = {}
    try:
        for kind, binary in (("etcd", args.etcd), ("quorumd", args.quorumd)):
            cluster = Cluster(kind, binary, ports, work)
            try:
                wait_ready(args.etcdctl, cluster)
                outcomes[kind] = session(args.etcdctl, cluster, learner_peer)
            finally:
                cluster.stop()
        labels = [label for label, _ in outcomes["etcd"]]
        return report(labels, [o for _, o in outcomes["etcd"]], [o for _, o in outcomes["quorumd"]],
                      print_passes=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work dir kept: {work}")


if __name__ == "__main__":
    sys.exit(main())
