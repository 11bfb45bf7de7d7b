#!/usr/bin/env python3
"""Differential test: one scripted etcdctl 3.4 session against the real etcd 3.4 and against
quorumd. Every command's exit code, stdout and stderr must match once member/cluster ids and
Raft terms are normalised. Both servers run on loopback ports picked here and are killed by PID.

usage: etcdctl_diff.py QUORUMD_PATH [--etcd PATH] [--etcdctl PATH] [--keep]
"""
import argparse
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

# Each step: (etcdctl arguments, stdin text or None). Written as a user would type them.
TXN_SUCCESS_PATH = 'mod("k1") > "0"\nval("k2") = "v2"\n\nput k3 "from txn"\nget k1\ndel k2\n\nput never x\n\n'
TXN_FAILURE_PATH = 'version("k1") = "99"\ncreate("missing") = "0"\n\nput never x\n\nput k4 failure-branch\nget --prefix k\n\n'
# etcdctl 3.4 cannot parse a lease compare (it panics client-side); grpc_diff_test covers it.
TXN_RANGES = 'c("k1") > "1"\nver("k2") < "5"\n\nget k --from-key --limit=2\nput k5 v5\n\n\n'
TXN_DUPLICATE = '\nput dup a\nput dup b\n\n\n'

SESSION = [
    (["put", "k1", "v1"], None),
    (["put", "k2", "v2"], None),
    (["put", "k1", "v1-again", "--prev-kv"], None),
    (["put", "a/1", "one"], None),
    (["put", "a/2", "two"], None),
    (["put", "a/3", "three"], None),
    (["put", "b", "bee"], None),
    (["get", "k1"], None),
    (["get", "k1", "-w", "json"], None),
    (["get", "missing"], None),
    (["get", "missing", "-w", "json"], None),
    (["get", "a/", "--prefix"], None),
    (["get", "a/", "--prefix", "-w", "json"], None),
    (["get", "a/", "--prefix", "--keys-only"], None),
    (["get", "a/", "--prefix", "--print-value-only"], None),
    (["get", "a/", "--prefix", "--limit", "2", "-w", "json"], None),
    (["get", "a/", "--prefix", "--count-only", "-w", "json"], None),
    (["get", "a/2", "--from-key"], None),
    (["get", "a/2", "--from-key", "--limit", "2"], None),
    (["get", "a/1", "a/3"], None),
    (["get", "", "--from-key", "--keys-only"], None),
    (["get", "a/", "--prefix", "--sort-by", "VALUE"], None),
    (["get", "a/", "--prefix", "--sort-by", "VALUE", "--order", "DESCEND"], None),
    (["get", "a/", "--prefix", "--order", "DESCEND", "--limit", "2"], None),
    (["get", "a/", "--prefix", "--sort-by", "CREATE", "--order", "DESCEND", "-w", "json"], None),
    (["get", "", "--from-key", "--sort-by", "MODIFY", "--order", "ASCEND", "--keys-only"], None),
    (["get", "", "--from-key", "--sort-by", "VERSION", "--order", "DESCEND", "--keys-only"], None),
    (["get", "k1", "--rev", "1"], None),
    (["get", "k1", "--rev", "2", "-w", "json"], None),
    (["get", "k1", "--rev", "3"], None),
    (["get", "a/", "--prefix", "--rev", "4", "--keys-only"], None),
    (["get", "k1", "--consistency", "s", "-w", "json"], None),
    (["get", "a/", "--prefix", "-w", "fields"], None),
    (["txn", "-w", "json"], TXN_SUCCESS_PATH),
    (["txn"], TXN_FAILURE_PATH),
    (["txn", "-w", "json"], TXN_RANGES),
    (["txn"], TXN_DUPLICATE),
    (["get", "", "--from-key", "-w", "json"], None),
    (["del", "a/", "--prefix", "--prev-kv"], None),
    (["del", "a/", "--prefix"], None),
    (["del", "nothing-here", "-w", "json"], None),
    (["put", "a/1", "reborn"], None),
    (["get", "a/1", "-w", "json"], None),
    (["del", "b", "--prev-kv", "-w", "json"], None),
    (["put", "k1", "v1-third"], None),
    # Errors, each with etcd's message and exit code.
    (["get", "k1", "--rev", "1000"], None),
    (["put", "k1", "x", "--ignore-value"], None),
    (["put", "nosuch", "--ignore-value"], None),
    (["put", "k1", "x", "--lease", "1234abcd"], None),
    (["put", "k1", "--ignore-lease"], None),
    (["put", "", "empty-key"], None),
    (["get", ""], None),
    # Compaction, then reads below and at the compacted revision.
    (["compaction", "5"], None),
    (["get", "k1", "--rev", "4"], None),
    (["get", "k1", "--rev", "5", "-w", "json"], None),
    (["compaction", "5"], None),
    (["compaction", "3"], None),
    (["compaction", "1000"], None),
    (["compaction", "--physical", "8"], None),
    (["get", "", "--from-key", "-w", "json"], None),
    (["get", "", "--from-key", "--rev", "7"], None),
    (["endpoint", "health", "-w", "json"], None),
]

NORMALISERS = [
    (re.compile(r'"cluster_id":\d+'), '"cluster_id":ID'),
    (re.compile(r'"member_id":\d+'), '"member_id":ID'),
    (re.compile(r'"raft_term":\d+'), '"raft_term":T'),
    (re.compile(r'"ClusterID" : \d+'), '"ClusterID" : ID'),
    (re.compile(r'"MemberID" : \d+'), '"MemberID" : ID'),
    (re.compile(r'"RaftTerm" : \d+'), '"RaftTerm" : T'),
    (re.compile(r'"took":"[^"]*"'), '"took":T'),
    (re.compile(r'took = [^\s,]+'), 'took = T'),
    (re.compile(r'127\.0\.0\.1:\d+'), 'ENDPOINT'),
    # clientv3's retry log line: keep its gRPC code and message, drop time and connection ids.
    (re.compile(r'"ts":"[^"]*"'), '"ts":T'),
    (re.compile(r'"target":"[^"]*"'), '"target":T'),
]


def normalise(text):
    lines = []
    for line in text.splitlines():
        for pattern, replacement in NORMALISERS:
            line = pattern.sub(replacement, line)
        lines.append(line)
    return "\n".join(lines)


_given_ports = set()


def free_port():
    """A loopback port free a moment ago that this script has not handed out before.

    Drawn below the kernel's ephemeral range (32768 and up), where an outgoing connection of a
    test running beside this one cannot take it; two kernel-chosen ports in a row can be equal.
    """
    for _ in range(200):
        port = random.randrange(20000, 32000)
        if port in _given_ports:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given_ports.add(port)
        return port
    raise RuntimeError("no free loopback port found")


def report(labels, expected, actual, print_passes=False):
    """Prints every step whose outcome differs between etcd (`expected`) and quorumd (`actual`),
    then the tally; returns the exit code (0 when nothing differs). Outcomes that are
    (exit, stdout, stderr) tuples are shown part by part, others whole. Sessions of different
    lengths count as one more difference."""
    differences = 0
    for label, want, got in zip(labels, expected, actual):
        if want == got:
            if print_passes:
                print(f"PASS  {label}")
            continue
        differences += 1
        print(f"DIFF  {label}")
        if isinstance(want, tuple) and isinstance(got, tuple) and len(want) == len(got) == 3:
            for what, w, g in zip(("exit", "stdout", "stderr"), want, got):
                if w != g:
                    print(f"  {what}:\n    etcd:    {w!r}\n    quorumd: {g!r}")
        else:
            print(f"    etcd:    {want!r}\n    quorumd: {got!r}")
    if len(expected) != len(actual):
        differences += 1
        print("DIFF  the sessions ran different numbers of steps")
    print(f"{len(labels) - differences} passed, {differences} failed")
    return 0 if differences == 0 else 1


class Server:
    def __init__(self, name, argv, endpoint, log_path):
        self.name = name
        self.endpoint = endpoint
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait_ready(self, etcdctl, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}")
            # A linearizable read succeeds only once the member has a leader.
            r = subprocess.run([etcdctl, "--endpoints", self.endpoint, "--command-timeout=2s",
                                "get", "readiness-probe"], capture_output=True, timeout=10)
            if r.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not become ready")

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.log.close()


def run_session(etcdctl, endpoint):
    results = []
    env = dict(os.environ, ETCDCTL_API="3")
    for args, stdin in SESSION:
        r = subprocess.run([etcdctl, "--endpoints", endpoint, "--command-timeout=5s"] + args,
                           input=(stdin or "").encode(), capture_output=True, timeout=30, env=env)
        results.append((r.returncode, normalise(r.stdout.decode(errors="replace")),
                        normalise(r.stderr.decode(errors="replace"))))
    return results


def parse_tool_args():
    """QUORUMD_PATH [--etcd PATH] [--etcdctl PATH] [--keep]; None (and a message) when one of
    the programs is missing."""
    parser = argparse.ArgumentParser()
    parser.add_argument("quorumd")
    parser.add_argument("--etcd", default=shutil.which("etcd") or "/usr/bin/etcd")
    parser.add_argument("--etcdctl", default=shutil.which("etcdctl") or "/usr/bin/etcdctl")
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    args = parser.parse_args()
    for tool in (args.etcd, args.etcdctl, args.quorumd):
        if not os.path.exists(tool):
            print(f"missing {tool}", file=sys.stderr)
            return None
    return args


def main():
    args = parse_tool_args()
    if args is None:
        return 1

    work = tempfile.mkdtemp(prefix="quorum-compat-")
    servers = []
    try:
        etcd_client, etcd_peer, q_client, q_peer = free_port(), free_port(), free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{etcd_client}"
        peer_url = f"http://127.0.0.1:{etcd_peer}"
        etcd = Server("etcd", [args.etcd, "--name", "compat", "--data-dir", f"{work}/etcd",
                               "--listen-client-urls", etcd_url, "--advertise-client-urls",
                               etcd_url, "--listen-peer-urls", peer_url,
                               "--initial-advertise-peer-urls", peer_url, "--initial-cluster",
                               f"compat={peer_url}"],
                      f"127.0.0.1:{etcd_client}", f"{work}/etcd.log")
        servers.append(etcd)
        q_url = f"http://127.0.0.1:{q_client}"
        q_peer_url = f"http://127.0.0.1:{q_peer}"
        quorumd = Server("quorumd", [args.quorumd, "--name", "compat", "--data-dir",
                                     f"{work}/quorumd", "--listen-client-urls", q_url,
                                     "--advertise-client-urls", q_url, "--listen-peer-urls",
                                     q_peer_url, "--initial-advertise-peer-urls", q_peer_url,
                                     "--initial-cluster", f"compat={q_peer_url}",
                                     "--log-level", "warn"],
                         f"127.0.0.1:{q_client}", f"{work}/quorumd.log")
        servers.append(quorumd)
        etcd.wait_ready(args.etcdctl)
        quorumd.wait_ready(args.etcdctl)

        expected = run_session(args.etcdctl, etcd.endpoint)
        actual = run_session(args.etcdctl, quorumd.endpoint)
        labels = ["etcdctl " + " ".join(step) + (f"  <<< {stdin!r}" if stdin else "")
                  for step, stdin in SESSION]
        return report(labels, expected, actual)
    finally:
        for s in servers:
            s.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work dir kept: {work}")


if __name__ == "__main__":
    sys.exit(main())
