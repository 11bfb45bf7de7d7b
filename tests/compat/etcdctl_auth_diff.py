#!/usr/bin/env python3
"""Differential test of auth: one scripted etcdctl 3.4 session of users, roles, permissions and
auth enable/disable, run against the real etcd 3.4 and against quorumd. Every command's exit
code, stdout and stderr must match once ids, terms and timings are normalised. Both servers run
on loopback ports picked here and are killed by PID.

With QUORUMCTL_TOOL set to quorumctl's path, quorumd is driven by quorumctl instead, so the
tool's auth commands and --user are compared with etcdctl's (clientv3's JSON retry log lines on
stderr are left out of the comparison then: they are Go client noise, not command output).

With --jwt both servers issue JWT tokens (--auth-token jwt, RS256, keys made here with the
openssl command line) instead of simple ones.

usage: etcdctl_auth_diff.py QUORUMD_PATH [--jwt] [--etcd PATH] [--etcdctl PATH] [--keep]
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from etcdctl_diff import Server, free_port, normalise, parse_tool_args, report  # noqa: E402

ROOT = ["--user", "root:rootpw"]
ALICE = ["--user", "alice:alicepw"]
BOB = ["--user", "bob:bobpw"]

# A txn alice may run (reads and writes under "a/"), and one that touches "b".
TXN_ALLOWED = 'mod("a/1") > "0"\n\nput a/2 from-txn\nget a/1\n\nget a/3\n\n'
TXN_DENIED = '\n\nput a/2 x\nput b y\n\n\n'
TXN_DENIED_COMPARE = 'val("b") = "x"\n\nput a/2 z\n\n\n'

# Each step: (etcdctl arguments, stdin text or None).
SESSION = [
    # Users and roles before auth is on: anyone may manage them.
    (["auth", "enable"], None),
    (["user", "add", "root:rootpw"], None),
    (["user", "add", "root:again"], None),
    (["user", "add", "alice:alicepw"], None),
    (["user", "add", "bob", "--new-user-password", "bobpw", "--interactive=false"], None),
    (["user", "add", "nopw", "--no-password"], None),
    (["role", "add", "reader"], None),
    (["role", "add", "reader"], None),
    (["role", "add", "writer"], None),
    (["role", "grant-permission", "reader", "read", "a/", "--prefix"], None),
    (["role", "grant-permission", "reader", "read", "k"], None),
    (["role", "grant-permission", "writer", "readwrite", "a/1", "a/3"], None),
    (["role", "grant-permission", "writer", "write", "z", "--from-key"], None),
    (["role", "grant-permission", "writer", "readwrite", "a/", "--prefix"], None),
    (["role", "grant-permission", "nosuchrole", "read", "x"], None),
    (["role", "get", "reader"], None),
    (["role", "get", "writer"], None),
    (["role", "get", "nosuchrole"], None),
    (["role", "list"], None),
    (["user", "grant-role", "alice", "writer"], None),
    (["user", "grant-role", "alice", "reader"], None),
    (["user", "grant-role", "alice", "reader"], None),
    (["user", "grant-role", "bob", "reader"], None),
    (["user", "grant-role", "bob", "nosuchrole"], None),
    (["user", "grant-role", "nobody", "reader"], None),
    (["user", "get", "alice"], None),
    (["user", "get", "alice", "--detail"], None),
    (["user", "get", "nobody"], None),
    (["user", "list"], None),
    (["put", "a/1", "one"], None),
    (["put", "k", "kay"], None),
    (["put", "b", "bee"], None),
    # Auth on: etcdctl adds the root role and grants it to root when the server says root
    # lacks it, then enables again.
    (["auth", "enable"], None),
    (["auth", "enable"] + ROOT, None),
    (["get", "a/1"], None),
    (["put", "a/1", "x"], None),
    (["get", "a/1"] + ["--user", "alice:wrong"], None),
    (["get", "a/1"] + ["--user", "nobody:pw"], None),
    (["get", "a/1"] + ["--user", "nopw:pw"], None),
    (["get", "a/1"] + ROOT, None),
    (["get", "a/", "--prefix"] + ALICE, None),
    (["get", "a/", "--prefix"] + BOB, None),
    (["get", "k"] + BOB, None),
    (["get", "b"] + BOB, None),
    (["get", "", "--from-key"] + BOB, None),
    (["get", "a/1", "a/3"] + BOB, None),
    (["put", "a/1", "uno"] + ALICE, None),
    (["put", "a/1", "uno"] + BOB, None),
    (["put", "zz", "zed"] + ALICE, None),
    (["put", "b", "x"] + ALICE, None),
    (["put", "a/2", "two", "--prev-kv"] + ALICE, None),
    (["del", "a/2"] + BOB, None),
    (["del", "a/2", "--prev-kv"] + ALICE, None),
    (["del", "a/", "--prefix"] + BOB, None),
    (["txn"] + ALICE, TXN_ALLOWED),
    (["txn"] + ALICE, TXN_DENIED),
    (["txn"] + ALICE, TXN_DENIED_COMPARE),
    (["txn"] + BOB, TXN_ALLOWED),
    (["compaction", "1"] + BOB, None),
    # A watch needs read permission on its range; a refused one ends etcdctl at once.
    (["watch", "b"] + ALICE, None),
    (["watch", "a", "--prefix"] + BOB, None),
    (["watch", "--rev", "1", "a/", "a/4"] + ["--user", "nopw:x"], None),
    # etcdctl's lock and elect run etcd's recipes over KV with the caller's permissions.
    (["lock", "a/lk", "echo", "held"] + ALICE, None),
    (["lock", "b/lk", "echo", "held"] + ALICE, None),
    (["elect", "b/el", "v"] + ALICE, None),
    # Admin calls need root.
    (["user", "list"] + ALICE, None),
    (["user", "get", "alice"] + ALICE, None),
    (["user", "get", "bob"] + ALICE, None),
    (["role", "get", "reader"] + ALICE, None),
    (["role", "get", "reader"] + ["--user", "bob:bobpw"], None),
    (["role", "list"] + BOB, None),
    (["role", "add", "other"] + ALICE, None),
    (["user", "add", "carol:pw"] + ALICE, None),
    (["auth", "disable"] + ALICE, None),
    (["user", "list"] + ROOT, None),
    (["role", "list"] + ROOT, None),
    (["user", "delete", "root"] + ROOT, None),
    (["role", "delete", "root"] + ROOT, None),
    (["user", "revoke-role", "root", "root"] + ROOT, None),
    (["defrag"] + BOB, None),
    (["endpoint", "hashkv"] + BOB, None),
    (["snapshot", "save", "{dir}/backup.db"] + BOB, None),
    (["member", "add", "extra", "--peer-urls=http://127.0.0.1:1"] + BOB, None),
    (["member", "remove", "1234"] + BOB, None),
    (["alarm", "list"] + BOB, None),
    # Leases: anyone may grant; attaching a key or revoking needs write permission on every key
    # the lease holds. "{lease}" is the id the last grant printed.
    (["lease", "grant", "100"] + ALICE, None),
    (["put", "a/1", "leased", "--lease={lease}"] + ALICE, None),
    (["put", "k", "leased", "--lease={lease}"] + ALICE, None),
    (["lease", "revoke", "{lease}"] + BOB, None),
    (["put", "b", "leased", "--lease={lease}"] + ROOT, None),
    (["put", "a/3", "leased", "--lease={lease}"] + ALICE, None),
    (["lease", "revoke", "{lease}"] + ALICE, None),
    (["lease", "revoke", "{lease}"] + ROOT, None),
    (["get", "b"] + ROOT, None),
    # Permission changes take effect at once.
    (["role", "revoke-permission", "writer", "a/", "--prefix"] + ROOT, None),
    (["role", "revoke-permission", "writer", "a/", "--prefix"] + ROOT, None),
    (["put", "a/2", "again"] + ALICE, None),
    (["put", "a/1", "again"] + ALICE, None),
    (["role", "revoke-permission", "writer", "z", "--from-key"] + ROOT, None),
    (["role", "revoke-permission", "writer", "a/1", "a/3"] + ROOT, None),
    (["role", "get", "writer"] + ROOT, None),
    (["user", "revoke-role", "alice", "writer"] + ROOT, None),
    (["user", "revoke-role", "alice", "writer"] + ROOT, None),
    (["put", "a/1", "denied"] + ALICE, None),
    (["user", "passwd", "bob", "--interactive=false"] + ROOT, "newbob\n"),
    (["get", "k"] + BOB, None),
    (["get", "k"] + ["--user", "bob:newbob"], None),
    (["role", "delete", "reader"] + ROOT, None),
    (["user", "get", "bob"] + ROOT, None),
    (["role", "delete", "reader"] + ROOT, None),
    (["user", "delete", "bob"] + ROOT, None),
    (["user", "delete", "bob"] + ROOT, None),
    (["user", "get", "bob"] + ROOT, None),
    (["user", "add", ":x"] + ROOT, None),
    (["role", "add", ""] + ROOT, None),
    (["auth", "disable"] + ROOT, None),
    (["auth", "disable"], None),
    (["get", "a/", "--prefix"], None),
    (["user", "list"], None),
    (["role", "get", "writer"], None),
]

LEASE_GRANTED = re.compile(r"lease ([0-9a-f]+) granted")
LEASE_ID = re.compile(r"\b[0-9a-f]{16}\b")
LOG_TIME = re.compile(r'"ts":[0-9.]+')


def without_client_log(text):
    return "\n".join(l for l in text.splitlines() if not l.startswith('{"level":'))


def run_session(etcdctl, endpoint, work):
    results = []
    env = dict(os.environ, ETCDCTL_API="3")
    lease = "0"
    for args, stdin in SESSION:
        args = [a.replace("{lease}", lease).replace("{dir}", work) for a in args]
        try:
            r = subprocess.run([etcdctl, "--endpoints", endpoint, "--command-timeout=5s"] + args,
                               input=(stdin or "").encode(), capture_output=True, timeout=20,
                               env=env)
        except subprocess.TimeoutExpired:
            results.append((None, "timed out", ""))
            continue
        out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
        granted = LEASE_GRANTED.search(out)
        if granted:
            lease = granted.group(1)
        # Lease and member ids, log times and each server's own directory differ by nature.
        tidy = [LEASE_ID.sub("ID", LOG_TIME.sub('"ts":T', normalise(t.replace(work, "DIR"))))
                for t in (out, err)]
        results.append((r.returncode, tidy[0], tidy[1]))
    return results


def start(kind, binary, work, extra=()):
    client, peer = free_port(), free_port()
    url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
    argv = [binary, "--name", "compat", "--data-dir", f"{work}/{kind}", "--listen-client-urls",
            url, "--advertise-client-urls", url, "--listen-peer-urls", peer_url,
            "--initial-advertise-peer-urls", peer_url, "--initial-cluster",
            f"compat={peer_url}"] + list(extra)
    return Server(kind, argv, f"127.0.0.1:{client}", f"{work}/{kind}.log")


def jwt_flags(work):
    key, pub = f"{work}/jwt.key", f"{work}/jwt.pub"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", key], check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub], check=True,
                   capture_output=True)
    return ["--auth-token", f"jwt,pub-key={pub},priv-key={key},sign-method=RS256,ttl=10m"]


def main():
    jwt = "--jwt" in sys.argv
    if jwt:
        sys.argv.remove("--jwt")
    args = parse_tool_args()
    if args is None:
        return 1
    work = tempfile.mkdtemp(prefix="quorum-auth-compat-")
    servers = []
    try:
        tokens = jwt_flags(work) if jwt else []
        etcd = start("etcd", args.etcd, work, tokens)
        servers.append(etcd)
        quorumd = start("quorumd", args.quorumd, work, ["--log-level", "warn"] + tokens)
        servers.append(quorumd)
        etcd.wait_ready(args.etcdctl)
        quorumd.wait_ready(args.etcdctl)

        results = {}

        quorumctl = os.environ.get("QUORUMCTL_TOOL")

        def run(server):
            tool = quorumctl if (quorumctl and server.name == "quorumd") else args.etcdctl
            own = os.path.join(work, server.name + "-files")
            os.makedirs(own, exist_ok=True)
            results[server.name] = run_session(tool, server.endpoint, own)

        threads = [threading.Thread(target=run, args=(s,)) for s in (etcd, quorumd)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        expected, actual = results["etcd"], results["quorumd"]
        if quorumctl:
            expected = [(w[0], w[1], without_client_log(w[2])) for w in expected]
            actual = [(g[0], g[1], without_client_log(g[2])) for g in actual]
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
