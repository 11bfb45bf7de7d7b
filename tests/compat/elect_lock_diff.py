#!/usr/bin/env python3
"""Differential test of elections and locks: the same scenarios against the real etcd 3.4 and
against quorumd, compared step by step once lease ids and revisions are normalised.

  - etcdctl lock: mutual exclusion between two holders, release on SIGINT, handover when the
    holder is killed with -9 or frozen past its --ttl (and what the thawed holder then says),
    a command run under the lock;
  - etcdctl elect: a campaigner, a second one waiting, an observer (elect -l) that sees both;
  - the Election and Lock gRPC services, through compat_elect_lock_driver (python has no gRPC
    module here): Campaign/Proclaim/Leader/Observe/Resign, Lock/Unlock, and their errors by
    gRPC code and message.

Both servers run as single members on loopback ports picked here and are killed by PID, as is
every etcdctl started here.

usage: elect_lock_diff.py QUORUMD_PATH --driver DRIVER [--etcd PATH] [--etcdctl PATH] [--keep]
       [--only etcd|quorumd]
"""
import argparse
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from etcdctl_diff import Server, free_port, report  # noqa: E402  (same folder, shared server runner)

# How long a second holder or candidate must stay blocked to count as blocked.
BLOCK_WINDOW = 1.5
# Bound on every wait for output that must come.
WAIT = 10.0


class Tool:
    """An etcdctl process whose stdout lines arrive in a queue, so waits can be bounded."""

    def __init__(self, argv, env):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env, start_new_session=True)
        self.lines = queue.Queue()
        self.stderr = []
        self.pumps = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines.put),
                             daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr.append),
                             daemon=True),
        ]
        for pump in self.pumps:
            pump.start()

    @staticmethod
    def _pump(stream, sink):
        for raw in stream:
            sink(raw.decode(errors="replace").rstrip("\n"))

    def line(self, timeout=WAIT):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def silent_for(self, seconds):
        """True if nothing is printed (and the process stays up) for `seconds`."""
        try:
            self.lines.put(self.lines.get(timeout=seconds))  # keep it for the next reader
            return False
        except queue.Empty:
            return self.proc.poll() is None

    def signal(self, sig):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def wait(self, timeout=WAIT):
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return "still running"
        # What it wrote last may still be in the pipes: read to their end before anyone looks.
        for pump in self.pumps:
            pump.join(timeout=WAIT)
        return code

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


class Leases:
    """Names lease ids (hex in keys) in order of appearance: LEASE1, LEASE2, ..."""

    def __init__(self):
        self.names = {}

    def key(self, text):
        if text is None:
            return None

        def name(match):
            hex_id = match.group(2)
            if hex_id not in self.names:
                self.names[hex_id] = f"LEASE{len(self.names) + 1}"
            return match.group(1) + self.names[hex_id]
        return re.sub(r"(\w/)([0-9a-f]{1,16})\b", name, text)


class Scenario:
    def __init__(self, etcdctl, endpoint):
        self.etcdctl = etcdctl
        self.endpoint = endpoint
        self.env = dict(os.environ, ETCDCTL_API="3")
        self.steps = []      # (label, outcome) compared between servers
        self.figures = []    # measurements reported, not compared
        self.tools = []
        self.leases = Leases()

    def start(self, *args):
        tool = Tool([self.etcdctl, "--endpoints", self.endpoint, "--dial-timeout=3s"]
                    + list(args), self.env)
        self.tools.append(tool)
        return tool

    def run(self, *args):
        r = subprocess.run([self.etcdctl, "--endpoints", self.endpoint, "--dial-timeout=3s"]
                           + list(args), capture_output=True, timeout=30, env=self.env)
        return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")

    def record(self, label, outcome):
        # Labels key the comparison: a repeated one gets a number.
        seen = sum(1 for existing, _ in self.steps if existing.split(" #")[0] == label)
        self.steps.append((label if seen == 0 else f"{label} #{seen + 1}", outcome))

    def close(self):
        for tool in self.tools:
            tool.stop()


def lock_mutual_exclusion(s):
    first = s.start("lock", "mx")
    s.record("first lock prints its key", s.leases.key(first.line()))
    second = s.start("lock", "mx")
    s.record(f"second lock blocked for {BLOCK_WINDOW}s", second.silent_for(BLOCK_WINDOW))
    first.signal(signal.SIGINT)
    s.record("first holder exits on SIGINT", first.wait())
    s.record("second lock acquired after release", s.leases.key(second.line()))
    second.signal(signal.SIGINT)
    s.record("second holder exits on SIGINT", second.wait())


def holder_and_waiter(s, name):
    """Starts a lock holder and a waiter on `name`, both with --ttl 2; checks the waiter blocks."""
    first = s.start("lock", "--ttl", "2", name)
    s.record("holder with --ttl 2 prints its key", s.leases.key(first.line()))
    second = s.start("lock", "--ttl", "2", name)
    s.record(f"waiter blocked for {BLOCK_WINDOW}s", second.silent_for(BLOCK_WINDOW))
    return first, second


def lock_handover_on_kill(s):
    first, second = holder_and_waiter(s, "ho")
    killed = time.monotonic()
    first.signal(signal.SIGKILL)
    got = second.line(timeout=2 + WAIT)
    took = time.monotonic() - killed
    s.record("waiter acquires after kill -9 of the holder", s.leases.key(got))
    # The lease outlives the holder by up to its TTL (2s), plus the expiry scan.
    s.record("handover between 0.5s and 4s after the kill", 0.5 <= took <= 4.0)
    s.figures.append(f"lock handover after kill -9 (ttl 2s): {took:.2f}s")
    second.signal(signal.SIGINT)
    s.record("waiter exits on SIGINT", second.wait())


def lock_holder_frozen_past_ttl(s):
    first, second = holder_and_waiter(s, "fz")
    # Frozen, the holder cannot renew: its lease expires and the waiter gets the lock.
    first.signal(signal.SIGSTOP)
    s.record("waiter acquires while the holder is frozen", s.leases.key(second.line(2 + WAIT)))
    # Thawed, the holder's next keep-alive learns that its lease is gone.
    first.signal(signal.SIGCONT)
    s.record("thawed holder exits", first.wait())
    s.record("thawed holder's error", first.stderr[-1:] if first.stderr else [])
    second.signal(signal.SIGINT)
    s.record("waiter exits on SIGINT", second.wait())


def lock_runs_command(s):
    code, out, err = s.run("lock", "ex", "--", "sh", "-c", "echo key=$ETCD_LOCK_KEY rev=$ETCD_LOCK_REV")
    out = re.sub(r"rev=\d+", "rev=N", out.strip())
    s.record("lock ex sh -c echo", (code, s.leases.key(out.replace("key=", "")), err))
    s.record("lock ex false", s.run("lock", "ex", "false"))
    code, out, _ = s.run("get", "ex", "--prefix", "--keys-only")
    s.record("lock key removed after the command", (code, out))


def elect_and_observe(s):
    observer = s.start("elect", "-l", "el")
    s.record(f"observer silent without a leader for {BLOCK_WINDOW}s",
             observer.silent_for(BLOCK_WINDOW))
    first = s.start("elect", "el", "p1")
    s.record("first campaigner elected", [s.leases.key(first.line()), first.line()])
    s.record("observer sees the first leader", [s.leases.key(observer.line()), observer.line()])
    second = s.start("elect", "el", "p2")
    s.record(f"second campaigner blocked for {BLOCK_WINDOW}s", second.silent_for(BLOCK_WINDOW))
    first.signal(signal.SIGINT)
    s.record("first campaigner resigns on SIGINT", first.wait())
    s.record("second campaigner elected", [s.leases.key(second.line()), second.line()])
    s.record("observer sees the second leader", [s.leases.key(observer.line()), observer.line()])
    second.signal(signal.SIGINT)
    s.record("second campaigner resigns on SIGINT", second.wait())
    observer.signal(signal.SIGINT)
    s.record("observer exits on SIGINT", observer.wait())
    code, out, _ = s.run("get", "el", "--prefix", "--keys-only")
    s.record("no election keys left", (code, out))


def grpc_services(s, driver):
    r = subprocess.run([driver, s.endpoint], capture_output=True, timeout=120)
    for line in r.stdout.decode(errors="replace").splitlines():
        label, _, outcome = line.partition(": ")
        s.record("grpc " + label, outcome)
    s.record("driver exit", (r.returncode, r.stderr.decode(errors="replace")))


def run_all(etcdctl, endpoint, driver):
    scenarios = []
    # The gRPC script first: it counts revisions from its own first write, and the server is
    # then otherwise idle.
    for name, body in [("grpc", lambda s: grpc_services(s, driver)),
                       ("lock", lock_mutual_exclusion),
                       ("lock-kill", lock_handover_on_kill),
                       ("lock-frozen", lock_holder_frozen_past_ttl),
                       ("lock-exec", lock_runs_command),
                       ("elect", elect_and_observe)]:
        s = Scenario(etcdctl, endpoint)
        try:
            body(s)
        finally:
            s.close()
        scenarios.append((name, s))
    return scenarios


def start_server(name, binary, work, extra):
    client, peer = free_port(), free_port()
    url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
    argv = [binary, "--name", "compat", "--data-dir", f"{work}/{name}",
            "--listen-client-urls", url, "--advertise-client-urls", url,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"compat={peer_url}"] + extra
    return Server(name, argv, f"127.0.0.1:{client}", f"{work}/{name}.log")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("quorumd")
    parser.add_argument("--driver", required=True)
    parser.add_argument("--etcd", default=shutil.which("etcd") or "/usr/bin/etcd")
    parser.add_argument("--etcdctl", default=shutil.which("etcdctl") or "/usr/bin/etcdctl")
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    parser.add_argument("--only", choices=["etcd", "quorumd"],
                        help="run against one server and print its outcomes")
    args = parser.parse_args()
    for tool in (args.etcd, args.etcdctl, args.quorumd, args.driver):
        if not os.path.exists(tool):
            print(f"missing {tool}", file=sys.stderr)
            return 1
    # A bare relative name would be looked up on PATH when started.
    args.etcd, args.etcdctl, args.quorumd, args.driver = (
        os.path.abspath(p) for p in (args.etcd, args.etcdctl, args.quorumd, args.driver))

    work = tempfile.mkdtemp(prefix="quorum-elect-compat-")
    servers = []
    try:
        results = {}
        for name, binary, extra in [("etcd", args.etcd, []),
                                    ("quorumd", args.quorumd, ["--log-level", "warn"])]:
            if args.only and args.only != name:
                continue
            server = start_server(name, binary, work, extra)
            servers.append(server)
            server.wait_ready(args.etcdctl)
            results[name] = run_all(args.etcdctl, server.endpoint, args.driver)

        for name, scenarios in results.items():
            for scenario, s in scenarios:
                for figure in s.figures:
                    print(f"{name}: {figure}")
        if args.only:
            for scenario, s in results[args.only]:
                for label, outcome in s.steps:
                    print(f"[{scenario}] {label}: {outcome!r}")
            return 0

        # Steps matched by label within each scenario; a step only one side ran is a difference.
        labels, expected, actual = [], [], []
        for (scenario, want), (_, got) in zip(results["etcd"], results["quorumd"]):
            want_steps, got_steps = dict(want.steps), dict(got.steps)
            order = [label for label, _ in want.steps]
            order += [label for label, _ in got.steps if label not in want_steps]
            for label in order:
                labels.append(f"[{scenario}] {label}")
                expected.append(want_steps.get(label, "<missing>"))
                actual.append(got_steps.get(label, "<missing>"))
        return report(labels, expected, actual)
    finally:
        for server in servers:
            server.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work dir kept: {work}")


if __name__ == "__main__":
    sys.exit(main())
