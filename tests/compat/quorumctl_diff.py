#!/usr/bin/env python3
"""Differential test of quorumctl against etcdctl 3.4: the same scripted session (the one
etcdctl_diff.py runs, plus lease, member, endpoint and alarm commands) is run by etcdctl against
a real etcd 3.4 (the reference), by quorumctl against another etcd 3.4 (same server, so any
difference is the tool's), and by quorumctl against quorumd. Exit code, stdout and stderr of
every step must match the reference once ids, terms and timings are normalised. Servers run on
loopback ports picked here and are killed by PID.

usage: quorumctl_diff.py QUORUMD QUORUMCTL [--etcd PATH] [--etcdctl PATH] [--skip-quorumd]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import etcdctl_diff as base  # noqa: E402  (the shared session, server runner and normalisers)

LEASE_ID = "694d7a3b5c1e0f01"
EXTRA = [
    (["lease", "grant", "100", "-w", "json"], None),
    (["lease", "grant", "300"], None),
    (["lease", "timetolive", "7fffffffffffffff"], None),
    (["lease", "revoke", "7fffffffffffffff"], None),
    (["lease", "list"], None),
    (["lease", "list", "-w", "json"], None),
    (["member", "list"], None),
    (["member", "list", "-w", "json"], None),
    (["member", "list", "-w", "table"], None),
    (["member", "list", "-w", "fields"], None),
    (["endpoint", "status"], None),
    (["endpoint", "status", "-w", "json"], None),
    (["endpoint", "status", "-w", "table"], None),
    (["endpoint", "health"], None),
    (["endpoint", "health", "-w", "table"], None),
    (["endpoint", "hashkv", "-w", "json"], None),
    (["alarm", "list"], None),
    (["alarm", "disarm"], None),
    (["get", "k1", "-w", "table"], None),
    (["get", "k1", "--hex"], None),
    (["put", "k9", "v9", "-w", "fields"], None),
    (["del", "k9", "-w", "fields"], None),
    (["txn", "-w", "fields"], 'val("k1") = "v1-third"\n\nget k1\n\nget k2\n\n'),
    (["get"], None),
    (["del"], None),
    (["get", "a", "b", "--prefix"], None),
    (["get", "k1", "--order", "SIDEWAYS"], None),
    (["compaction"], None),
]

# Values that differ between two servers or two runs for reasons other than the tool.
EXTRA_NORMALISERS = [
    (re.compile(r'\b[0-9a-f]{12,16}\b'), 'HEXID'),  # member and lease ids
    (re.compile(r'"(ID|id|leader|member_id|cluster_id|raft_term|memberID)":\d+'), r'"\1":N'),
    (re.compile(r'"(ID|Leader|MemberID|ClusterID)" : \d+'), r'"\1" : N'),
    (re.compile(r'"(raftIndex|raftTerm|raftAppliedIndex|dbSize|dbSizeInUse|hash|revision)":\d+'),
     r'"\1":N'),
    (re.compile(r'"(hash|compact_revision)":-?\d+'), r'"\1":N'),
    (re.compile(r'\b\d+(\.\d+)? ?(kB|MB|B)\b'), 'SIZE'),
    (re.compile(r'"version":"[^"]*"'), '"version":V'),
    (re.compile(r'\b3\.4\.\d+\b'), 'V'),
    (re.compile(r'took = \S+'), 'took = T'),
    (re.compile(r'"took":"[^"]*"'), '"took":T'),
    (re.compile(r'TTL\((\d+)s\), remaining\(\d+s\)'), r'TTL(\1s), remaining(R)'),
    (re.compile(r'ENDPOINT, (\S+), '), 'ENDPOINT, ID, '),
    (re.compile(r'\b\d+(\.\d+)?(ns|µs|ms|s)\b'), 'DURATION'),
    # Raft log positions and revisions after further writes are server state, not formatting:
    # keep zero apart from non-zero, nothing more.
    (re.compile(r'(true|false), (true|false), (\d+), \d+, \d+,'), r'\1, \2, \3, IDX, IDX,'),
    (re.compile(r'(true|false) +\| +(true|false) +\| +(\d+) +\| +\d+ +\| +\d+ +\|'),
     r'\1 | \2 | \3 | IDX | IDX |'),
    (re.compile(r'"Revision" : [1-9]\d*'), '"Revision" : N'),
]

# Table rows hold widths that depend on the values; compare them with runs of spaces and dashes
# collapsed, after the values are normalised.
def tidy(text):
    out = []
    for line in text.splitlines():
        for pattern, replacement in EXTRA_NORMALISERS:
            line = pattern.sub(replacement, line)
        if line.startswith("|") or line.startswith("+"):
            line = re.sub(r" +", " ", re.sub(r"-+", "-", line))
        # clientv3 logs each failed attempt as a JSON line on stderr; that is log noise of Go's
        # client library, not the command's output, so it is left out of the comparison.
        if line.startswith('{"level":'):
            continue
        # The same error printed twice in a row (cobra does this for flag errors) counts once.
        if out and line == out[-1] and line.startswith("Error:"):
            continue
        out.append(line)
    text = "\n".join(out)
    # Usage text differs between cobra and CLI11; that one was printed is what matters.
    if text.startswith("NAME:") or text.startswith("Usage:") or "\nUsage:" in text[:200]:
        return "<usage>"
    return text


def run_session(tool, endpoint, session):
    results = []
    env = dict(os.environ, ETCDCTL_API="3")
    for args, stdin in session:
        r = subprocess.run([tool, "--endpoints", endpoint, "--command-timeout=5s"] + args,
                           input=(stdin or "").encode(), capture_output=True, timeout=30, env=env)
        results.append((r.returncode, tidy(base.normalise(r.stdout.decode(errors="replace"))),
                        tidy(base.normalise(r.stderr.decode(errors="replace")))))
    return results


def start(kind, binary, work, name):
    client, peer = base.free_port(), base.free_port()
    url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
    argv = [binary, "--name", "compat", "--data-dir", f"{work}/{name}", "--listen-client-urls",
            url, "--advertise-client-urls", url, "--listen-peer-urls", peer_url,
            "--initial-advertise-peer-urls", peer_url, "--initial-cluster", f"compat={peer_url}"]
    if kind == "quorumd":
        argv += ["--log-level", "warn"]
    return base.Server(name, argv, f"127.0.0.1:{client}", f"{work}/{name}.log")


def compare(label, session, expected, actual, server_view=None):
    """Counts the steps where quorumctl differs from etcdctl. With `server_view` (etcdctl's own
    output against the same server) a step where quorumctl prints exactly what etcdctl prints
    there is a server difference, reported but left to etcdctl_diff.py to judge."""
    differences = 0
    for i, ((step, stdin), want, got) in enumerate(zip(session, expected, actual)):
        if want == got:
            continue
        if server_view is not None and server_view[i] == got:
            print(f"SERVER DIFF (etcdctl sees it too) [{label}]  " + " ".join(step))
            continue
        differences += 1
        print(f"DIFF [{label}]  " + " ".join(step) + (f"  <<< {stdin!r}" if stdin else ""))
        for what, w, g in zip(("exit", "stdout", "stderr"), want, got):
            if w != g:
                print(f"  {what}:\n    etcdctl:   {w!r}\n    quorumctl: {g!r}")
    print(f"[{label}] {len(session) - differences} of {len(session)} steps match")
    return differences


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("quorumd")
    parser.add_argument("quorumctl")
    parser.add_argument("--etcd", default=shutil.which("etcd") or "/usr/bin/etcd")
    parser.add_argument("--etcdctl", default=shutil.which("etcdctl") or "/usr/bin/etcdctl")
    parser.add_argument("--skip-quorumd", action="store_true",
                        help="compare the tools on etcd only")
    args = parser.parse_args()
    for tool in (args.etcd, args.etcdctl, args.quorumctl, args.quorumd):
        if not os.path.exists(tool):
            print(f"missing {tool}", file=sys.stderr)
            return 1
    session = base.SESSION + EXTRA
    work = tempfile.mkdtemp(prefix="quorumctl-compat-")
    servers = []
    try:
        reference = start("etcd", args.etcd, work, "etcd-ref")
        servers.append(reference)
        same_server = start("etcd", args.etcd, work, "etcd-ctl")
        servers.append(same_server)
        targets = [("quorumctl on etcd", same_server)]
        if not args.skip_quorumd:
            quorumd = start("quorumd", args.quorumd, work, "quorumd")
            servers.append(quorumd)
            targets.append(("quorumctl on quorumd", quorumd))
        for s in servers:
            s.wait_ready(args.etcdctl)
        expected = run_session(args.etcdctl, reference.endpoint, session)
        failures = 0
        for label, server in targets:
            actual = run_session(args.quorumctl, server.endpoint, session)
            server_view = None
            if server is not same_server:
                server_view = run_session(args.etcdctl, server.endpoint, session)
            failures += compare(label, session, expected, actual, server_view)
        return 0 if failures == 0 else 1
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
