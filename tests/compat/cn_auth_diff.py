#!/usr/bin/env python3
"""Differential test of auth by client certificate (etcd's --client-cert-auth): with mutual TLS
and no --user, a call runs as the user its certificate's Common Name names. One etcdctl 3.4
session against the real etcd 3.4 and against quorumd, both with the same certificates from
deploy/certs.sh; every command's exit code, stdout and stderr must match.

usage: cn_auth_diff.py QUORUMD_PATH --certs CERTS_SH [--etcd PATH] [--etcdctl PATH] [--keep]
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from etcdctl_diff import Server, free_port, normalise, parse_tool_args, report  # noqa: E402


def session(certs):
    def cert(name):
        return ["--cacert", f"{certs}/ca.pem", "--cert", f"{certs}/{name}.pem",
                "--key", f"{certs}/{name}-key.pem"]
    root, alice, bob = cert("root"), cert("alice"), cert("bob")
    return [
        # Before auth: the certificates only open the door.
        ["user", "add", "root:rootpw"] + root,
        ["user", "add", "alice:alicepw"] + root,
        ["role", "add", "writer"] + root,
        ["role", "grant-permission", "writer", "readwrite", "a/", "--prefix"] + root,
        ["user", "grant-role", "alice", "writer"] + root,
        ["put", "b", "bee"] + alice,
        ["auth", "enable"] + root,
        # On: alice's certificate makes her alice, root's makes him root; bob has no user.
        ["put", "a/1", "one"] + alice,
        ["get", "a/1"] + alice,
        ["put", "b", "x"] + alice,
        ["get", "b"] + alice,
        ["get", "b"] + root,
        ["put", "a/2", "two"] + bob,
        ["get", "a/1"] + bob,
        ["user", "list"] + root,
        ["user", "list"] + alice,
        # A token wins over the certificate.
        ["get", "b", "--user", "root:rootpw"] + alice,
        ["put", "b", "y", "--user", "alice:alicepw"] + root,
        ["user", "revoke-role", "alice", "writer"] + root,
        ["put", "a/1", "uno"] + alice,
        ["auth", "disable"] + alice,
        ["auth", "disable"] + root,
        ["put", "b", "open"] + bob,
        ["get", "", "--from-key"] + bob,
    ]


def run_session(etcdctl, endpoint, steps):
    results = []
    env = dict(os.environ, ETCDCTL_API="3")
    for args in steps:
        r = subprocess.run([etcdctl, "--endpoints", endpoint, "--command-timeout=5s"] + args,
                           capture_output=True, timeout=30, env=env)
        results.append((r.returncode, normalise(r.stdout.decode(errors="replace")),
                        normalise(r.stderr.decode(errors="replace"))))
    return results


def main():
    certs_sh = None
    if "--certs" in sys.argv:
        i = sys.argv.index("--certs")
        certs_sh = sys.argv[i + 1]
        del sys.argv[i:i + 2]
    args = parse_tool_args()
    if args is None or certs_sh is None:
        print("usage: cn_auth_diff.py QUORUMD_PATH --certs CERTS_SH [--etcd P] [--etcdctl P]")
        return 2
    work = tempfile.mkdtemp(prefix="quorum-cn-auth-")
    certs = os.path.join(work, "certs")
    subprocess.run([certs_sh, "ca", certs], check=True, capture_output=True)
    for kind, name in (("server", "srv"), ("client", "root"), ("client", "alice"),
                       ("client", "bob")):
        subprocess.run([certs_sh, kind, certs, name], check=True, capture_output=True)
    servers = []
    try:
        results = {}
        steps = session(certs)
        for kind, binary in (("etcd", args.etcd), ("quorumd", args.quorumd)):
            client, peer = free_port(), free_port()
            url, peer_url = f"https://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
            argv = [binary, "--name", "cn", "--data-dir", f"{work}/{kind}",
                    "--listen-client-urls", url, "--advertise-client-urls", url,
                    "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
                    "--initial-cluster", f"cn={peer_url}", "--cert-file", f"{certs}/srv.pem",
                    "--key-file", f"{certs}/srv-key.pem", "--trusted-ca-file",
                    f"{certs}/ca.pem", "--client-cert-auth"]
            server = Server(kind, argv, url, f"{work}/{kind}.log")
            servers.append(server)
            deadline = time.time() + 30
            while True:
                probe = subprocess.run(
                    [args.etcdctl, "--endpoints", url, "--command-timeout=2s", "get", "probe"] +
                    steps[0][steps[0].index("--cacert"):], capture_output=True, timeout=10,
                    env=dict(os.environ, ETCDCTL_API="3"))
                if probe.returncode == 0:
                    break
                if time.time() > deadline or server.proc.poll() is not None:
                    raise RuntimeError(f"{kind} did not become ready")
                time.sleep(0.1)
            results[kind] = run_session(args.etcdctl, url, steps)
            server.stop()
        labels = ["etcdctl " + " ".join(a.replace(certs, "CERTS") for a in step) for step in steps]
        return report(labels, results["etcd"], results["quorumd"])
    finally:
        for s in servers:
            s.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work dir kept: {work}")


if __name__ == "__main__":
    sys.exit(main())
