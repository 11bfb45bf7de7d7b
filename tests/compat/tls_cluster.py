#!/usr/bin/env python3
"""Client and peer TLS of a 3-member quorumd cluster, checked with the real etcdctl 3.4.

  --scenario mutual  certificates from deploy/certs.sh; client and peer mutual TLS, CRLs and an
                     allowed peer CN. etcdctl with --cacert/--cert/--key: put, get, watch, lease
                     grant and keep-alive, member list, endpoint status; quorumctl and
                     quorum-bench over TLS; a plain http:// listener beside the https:// one.
                     Refused: no client certificate, one from another CA, a revoked one, and a
                     peer whose CN is not the allowed one (it cannot join); a peer with the
                     allowed CN joins.
  --scenario auto    --auto-tls and --peer-auto-tls; etcdctl with --insecure-skip-tls-verify;
                     the generated certificate is kept across a restart. Startup errors:
                     https:// without a certificate, an unknown cipher suite.

Members run on loopback ports picked here and are killed by PID at the end.

usage: tls_cluster.py QUORUMD --quorumctl PATH --bench PATH --certs PATH --scenario mutual|auto
"""
import argparse
import hashlib
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
    print(("PASS  " if ok else "FAIL  ") + name + ("" if ok else f"\n      {detail}"), flush=True)


class Cluster:
    def __init__(self, quorumd, work, flags_for):
        self.quorumd = quorumd
        self.work = work
        self.flags_for = flags_for  # name -> extra flags
        self.members = [(f"m{i}", free_port(), free_port()) for i in range(1, 4)]
        self.procs = {}

    def initial_cluster(self, extra=()):
        return ",".join([f"{n}=https://127.0.0.1:{p}" for n, _, p in self.members] + list(extra))

    def start(self, name, client_urls=None, state="new", initial=None):
        _, client, peer = next(m for m in self.members if m[0] == name)
        return self.spawn(name, client_urls or f"https://127.0.0.1:{client}",
                          f"https://127.0.0.1:{peer}", initial or self.initial_cluster(), state)

    def spawn(self, name, client_urls, peer_url, initial, state):
        log = open(f"{self.work}/{name}.log", "ab")
        proc = subprocess.Popen(
            [self.quorumd, "--name", name, "--data-dir", f"{self.work}/{name}",
             "--listen-client-urls", client_urls,
             "--advertise-client-urls", client_urls.split(",")[0],
             "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
             "--initial-cluster", initial, "--initial-cluster-state", state,
             "--initial-cluster-token", "tls-check", *self.flags_for(name)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = proc
        return proc

    def stop(self, name):
        proc = self.procs.pop(name)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def kill_all(self):
        for proc in self.procs.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.procs.clear()

    def log(self, name):
        with open(f"{self.work}/{name}.log", errors="replace") as f:
            return f.read()

    def endpoints(self):
        return ",".join(f"https://127.0.0.1:{c}" for _, c, _ in self.members)


def run(cmd, timeout=20, env=None):
    r = subprocess.run(cmd, capture_output=True, timeout=timeout,
                       env=dict(os.environ, ETCDCTL_API="3", **(env or {})))
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def wait_ready(ctl, deadline_s=30):
    deadline = time.time() + deadline_s
    out = err = ""
    while time.time() < deadline:
        rc, out, err = ctl("member", "list", "-w", "json")
        if rc == 0 and ctl("put", "ready", "1")[0] == 0:
            listed = json.loads(out).get("members", [])
            if len(listed) >= 3 and all(m.get("clientURLs") for m in listed[:3]):
                return True, ""
        time.sleep(0.2)
    return False, out + err


def mutual(args, work):
    certs = f"{work}/certs"
    other = f"{work}/other-ca"
    os.makedirs(certs)
    os.makedirs(other)

    def script(*a):
        subprocess.run([args.certs, *a], check=True, capture_output=True, timeout=30)

    script("ca", certs)
    script("ca", other)
    for n in ("m1", "m2", "m3"):
        script("server", certs, n)
        script("peer", certs, f"{n}-peer", "--cn", "quorum-peer")
    script("peer", certs, "m4-peer", "--cn", "intruder")
    script("client", certs, "admin")
    script("client", certs, "revoked")
    script("revoke", certs, "revoked")
    script("client", other, "stranger")

    def flags(name):
        f = ["--cert-file", f"{certs}/{name}.pem", "--key-file", f"{certs}/{name}-key.pem",
             "--trusted-ca-file", f"{certs}/ca.pem", "--client-cert-auth",
             "--client-crl-file", f"{certs}/crl.pem",
             "--peer-cert-file", f"{certs}/{name}-peer.pem",
             "--peer-key-file", f"{certs}/{name}-peer-key.pem",
             "--peer-trusted-ca-file", f"{certs}/ca.pem", "--peer-client-cert-auth",
             "--peer-cert-allowed-cn", "quorum-peer", "--peer-crl-file", f"{certs}/crl.pem"]
        if name == "m4":  # the intruder presents a peer certificate with CN=intruder
            f[f.index("--cert-file") + 1] = f"{certs}/m1.pem"
            f[f.index("--key-file") + 1] = f"{certs}/m1-key.pem"
        if name == "m2":
            f += ["--cipher-suites",
                  "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"]
        return f

    cluster = Cluster(args.quorumd, work, flags)
    plain_port = free_port()
    try:
        m1 = cluster.members[0]
        cluster.start("m1", client_urls=f"https://127.0.0.1:{m1[1]},http://127.0.0.1:{plain_port}")
        cluster.start("m2")
        cluster.start("m3")
        tls = ["--cacert", f"{certs}/ca.pem", "--cert", f"{certs}/admin.pem",
               "--key", f"{certs}/admin-key.pem"]

        def ctl(*cmd, endpoints=None, auth=tls, timeout=20):
            return run([args.etcdctl, "--endpoints", endpoints or cluster.endpoints(),
                        "--command-timeout=5s", *auth, *cmd], timeout=timeout)

        ok, detail = wait_ready(ctl)
        check("3-member cluster with client and peer mutual TLS becomes ready", ok, detail)
        if not ok:
            return

        rc, out, err = ctl("put", "greeting", "hello")
        check("etcdctl put over TLS", rc == 0 and out.strip() == "OK", out + err)
        rc, out, err = ctl("get", "greeting")
        check("etcdctl get over TLS", rc == 0 and out.split() == ["greeting", "hello"], out + err)

        watch = subprocess.Popen(
            [args.etcdctl, "--endpoints", cluster.endpoints(), *tls, "watch", "watched"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ, ETCDCTL_API="3"))
        try:
            # The watch is registered once a put issued after it is seen; retry the put until then.
            seen = []
            deadline = time.time() + 10
            os.set_blocking(watch.stdout.fileno(), False)
            buf = b""
            while time.time() < deadline and b"v1" not in buf:
                ctl("put", "watched", "v1")
                end = time.time() + 0.5
                while time.time() < end and b"v1" not in buf:
                    chunk = watch.stdout.read() or b""
                    buf += chunk
                    time.sleep(0.05)
            seen = buf.decode().split()
            check("etcdctl watch over TLS sees a put", seen[:3] == ["PUT", "watched", "v1"],
                  buf.decode())
        finally:
            watch.kill()
            watch.wait(timeout=10)

        rc, out, err = ctl("lease", "grant", "30")
        lease = out.split()[1] if rc == 0 and out.startswith("lease ") else ""
        check("etcdctl lease grant over TLS", bool(lease), out + err)
        rc, out, err = ctl("lease", "keep-alive", "--once", lease)
        check("etcdctl lease keep-alive over TLS", rc == 0 and "keepalived with TTL" in out,
              out + err)

        rc, out, err = ctl("member", "list", "-w", "json")
        listed = json.loads(out).get("members", []) if rc == 0 else []
        check("etcdctl member list: 3 members with https peer URLs",
              len(listed) == 3 and all(m["peerURLs"][0].startswith("https://") for m in listed),
              out + err)
        rc, out, err = ctl("endpoint", "status", "-w", "json")
        statuses = json.loads(out) if rc == 0 else []
        leaders = {s["Status"]["leader"] for s in statuses}
        check("etcdctl endpoint status: 3 members agree on a leader",
              len(statuses) == 3 and len(leaders) == 1, out + err)

        rc, out, err = ctl("get", "greeting", endpoints=f"http://127.0.0.1:{plain_port}", auth=[])
        check("a plain http:// listener serves beside the https:// one",
              rc == 0 and out.split() == ["greeting", "hello"], out + err)

        # Refusals run side by side: each waits out its command timeout.
        refused = {
            "no client certificate": ["--cacert", f"{certs}/ca.pem"],
            "a certificate from another CA": ["--cacert", f"{certs}/ca.pem",
                                              "--cert", f"{other}/stranger.pem",
                                              "--key", f"{other}/stranger-key.pem"],
            "a revoked certificate (CRL)": ["--cacert", f"{certs}/ca.pem",
                                            "--cert", f"{certs}/revoked.pem",
                                            "--key", f"{certs}/revoked-key.pem"],
        }
        attempts = {
            what: subprocess.Popen(
                [args.etcdctl, "--endpoints", f"https://127.0.0.1:{m1[1]}", "--dial-timeout=2s",
                 "--command-timeout=2s", *auth, "get", "greeting"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=dict(os.environ, ETCDCTL_API="3"))
            for what, auth in refused.items()}
        for what, proc in attempts.items():
            out, err = proc.communicate(timeout=20)
            check(f"refused: a client with {what}",
                  proc.returncode != 0 and b"hello" not in out, (out + err).decode())

        # HTTP/1.1 on the same https:// port (curl offers http/1.1 by ALPN): the same
        # certificate rules as gRPC.
        def curl(url, *auth):
            return run(["curl", "-s", "-S", "--max-time", "5", "-o", "-", "-w", " %{http_code}",
                        *auth, url])
        health = f"https://127.0.0.1:{m1[1]}/health"
        rc, out, err = curl(health, "--cacert", f"{certs}/ca.pem", "--cert", f"{certs}/admin.pem",
                            "--key", f"{certs}/admin-key.pem")
        check("curl /health over TLS on the gRPC port", rc == 0 and out == '{"health":"true"} 200',
              out + err)
        for what, auth in refused.items():
            rc, out, err = curl(health, *auth)
            check(f"curl refused: a client with {what}", rc != 0 and "health" not in out, out + err)
        rc, out, err = curl(f"http://127.0.0.1:{plain_port}/version")
        check("curl /version on the plain listener",
              rc == 0 and out.endswith(" 200") and '"etcdcluster":"3.4.0"' in out, out + err)

        qtls = ["--cacert", f"{certs}/ca.pem", "--cert", f"{certs}/admin.pem",
                "--key", f"{certs}/admin-key.pem"]
        rc, out, err = run([args.quorumctl, "--endpoints", cluster.endpoints(), *qtls,
                            "put", "from-quorumctl", "yes"])
        rc2, out2, err2 = run([args.quorumctl, "--endpoints", cluster.endpoints(), *qtls,
                               "get", "from-quorumctl"])
        check("quorumctl put and get over TLS",
              rc == 0 and rc2 == 0 and out2.split() == ["from-quorumctl", "yes"],
              out + err + out2 + err2)
        rc, out, err = run([args.quorumctl, "--endpoints", cluster.endpoints(), *qtls,
                            "endpoint", "status", "-w", "json"])
        check("quorumctl endpoint status over TLS",
              rc == 0 and len(json.loads(out or "[]")) == 3, out + err)
        rc, out, err = run([args.quorumctl, "--endpoints", f"https://127.0.0.1:{m1[1]}",
                            "--cacert", f"{certs}/ca.pem", "--command-timeout=2s",
                            "--dial-timeout=2s", "get", "greeting"])
        check("quorumctl without a client certificate is refused", rc != 0, out + err)

        rc, out, err = run([args.bench, "put", "--endpoints", cluster.endpoints(), *qtls,
                            "--clients", "4", "--total", "200", "--format", "json"], timeout=60)
        check("quorum-bench runs over TLS", rc == 0 and '"errors"' in out and "200" in out,
              out + err)

        # A fourth member whose peer certificate has CN=intruder: added as a learner (so the
        # quorum is not at stake), started, and refused by every peer.
        p4 = free_port()
        rc, out, err = ctl("member", "add", "m4", "--learner",
                           f"--peer-urls=https://127.0.0.1:{p4}")
        check("member add m4 (learner)", rc == 0, out + err)
        c4 = free_port()
        intruder = cluster.spawn("m4", f"https://127.0.0.1:{c4}", f"https://127.0.0.1:{p4}",
                                 cluster.initial_cluster([f"m4=https://127.0.0.1:{p4}"]),
                                 "existing")
        try:
            code = intruder.wait(timeout=25)
        except subprocess.TimeoutExpired:
            code = None
        logs = cluster.log("m1") + cluster.log("m2") + cluster.log("m3")
        check("a peer whose CN is not allowed cannot join (it exits, the peers refuse it)",
              code not in (None, 0) and 'CN "intruder"' in logs,
              f"exit={code}\n{cluster.log('m4')[-2000:]}")
        rc, out, err = ctl("member", "list", "-w", "json")
        listed = json.loads(out).get("members", []) if rc == 0 else []
        m4 = [m for m in listed if m.get("name") == "m4"]
        check("the refused member never started", rc == 0 and not m4, out + err)

        # The same join with an allowed CN works: the learner gets the state in a snapshot
        # over the peer TLS channel and then serves the keys written before it came.
        m4_id = next((m["ID"] for m in listed if f":{p4}" in m["peerURLs"][0]), None)
        if m4_id is not None:
            ctl("member", "remove", format(m4_id, "x"))
        script("peer", certs, "m5-peer", "--cn", "quorum-peer")
        script("server", certs, "m5")
        p5, c5 = free_port(), free_port()
        rc, out, err = ctl("member", "add", "m5", "--learner",
                           f"--peer-urls=https://127.0.0.1:{p5}")
        cluster.spawn("m5", f"https://127.0.0.1:{c5}", f"https://127.0.0.1:{p5}",
                      cluster.initial_cluster([f"m5=https://127.0.0.1:{p5}"]), "existing")
        deadline = time.time() + 20
        out = err = ""
        while time.time() < deadline:
            rc, out, err = ctl("get", "greeting", "--consistency=s",
                               endpoints=f"https://127.0.0.1:{c5}")
            if rc == 0 and out.split() == ["greeting", "hello"]:
                break
            time.sleep(0.2)
        check("a peer with the allowed CN joins over TLS and receives the state",
              rc == 0 and out.split() == ["greeting", "hello"], out + err)
    finally:
        cluster.kill_all()


def auto(args, work):
    def flags(_):
        return ["--auto-tls", "--peer-auto-tls"]

    cluster = Cluster(args.quorumd, work, flags)
    try:
        for name, _, _ in cluster.members:
            cluster.start(name)
        skip = ["--insecure-skip-tls-verify", "--insecure-transport=false"]

        def ctl(*cmd, endpoints=None, auth=skip):
            return run([args.etcdctl, "--endpoints", endpoints or cluster.endpoints(),
                        "--command-timeout=5s", *auth, *cmd])

        ok, detail = wait_ready(ctl)
        check("3-member cluster with --auto-tls and --peer-auto-tls becomes ready", ok, detail)
        if not ok:
            return
        rc, out, err = ctl("put", "k", "v")
        rc2, out2, err2 = ctl("get", "k")
        check("etcdctl --insecure-skip-tls-verify put and get",
              rc == 0 and rc2 == 0 and out2.split() == ["k", "v"], out + err + out2 + err2)
        rc, out, err = ctl("member", "list", "-w", "json")
        listed = json.loads(out).get("members", []) if rc == 0 else []
        check("member list: 3 members", len(listed) == 3, out + err)
        rc, out, err = ctl("get", "k", auth=["--cacert", f"{work}/m1/fixtures/client/cert.pem"],
                           endpoints=f"https://127.0.0.1:{cluster.members[1][1]}")
        check("a verifying client does not accept another member's self-signed certificate",
              rc != 0, out + err)

        cert = f"{work}/m1/fixtures/client/cert.pem"
        peer_cert = f"{work}/m1/fixtures/peer/cert.pem"
        before = [hashlib.sha256(open(p, "rb").read()).hexdigest() for p in (cert, peer_cert)]
        cluster.stop("m1")
        cluster.start("m1")
        m1 = f"https://127.0.0.1:{cluster.members[0][1]}"
        deadline = time.time() + 20
        rc = 1
        while time.time() < deadline and rc != 0:
            rc, out, err = ctl("get", "k", endpoints=m1)
            if rc != 0:
                time.sleep(0.2)
        after = [hashlib.sha256(open(p, "rb").read()).hexdigest() for p in (cert, peer_cert)]
        check("a restarted member keeps its generated certificates and serves again",
              rc == 0 and before == after, out + err)

        port = free_port()
        rc, out, err = run([args.quorumd, "--name", "x", "--data-dir", f"{work}/x",
                            "--listen-client-urls", f"https://127.0.0.1:{port}",
                            "--advertise-client-urls", f"https://127.0.0.1:{port}"], timeout=10)
        check("https:// client URL without a certificate is refused at startup",
              rc != 0 and "must be provided for client url" in err, err)
        rc, out, err = run([args.quorumd, "--name", "x", "--data-dir", f"{work}/x",
                            "--cipher-suites", "TLS_NO_SUCH_SUITE"], timeout=10)
        check("an unknown --cipher-suites name is refused at startup",
              rc != 0 and "TLS_NO_SUCH_SUITE" in err, err)
    finally:
        cluster.kill_all()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("quorumd")
    parser.add_argument("--quorumctl", required=True)
    parser.add_argument("--bench", required=True)
    parser.add_argument("--certs", required=True)
    parser.add_argument("--scenario", choices=["mutual", "auto"], required=True)
    parser.add_argument("--etcdctl", default=shutil.which("etcdctl") or "/usr/bin/etcdctl")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix=f"quorum-tls-{args.scenario}-")
    start = time.time()
    try:
        (mutual if args.scenario == "mutual" else auto)(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    passed = sum(1 for c in checks if c)
    print(f"{passed} passed, {len(checks) - passed} failed in {time.time() - start:.1f}s")
    return 0 if checks and all(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
