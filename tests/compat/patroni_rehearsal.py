#!/usr/bin/python3
"""Patroni (Debian's) keeping 3 PostgreSQL 15 nodes highly available with the etcd3 DCS, on a
3-member KV cluster of either etcd 3.4 or quorumd. Patroni talks to its DCS only through the
JSON gateway (/version, /v3/cluster/member/list, lease grant and keep-alive, txn, range, a
chunked /v3/watch stream), so this is the gateway as a real client uses it.

Steps, each checked:
  1. bootstrap: one primary, two replicas streaming from it;
  2. the primary's node killed with -9 (Patroni and PostgreSQL): a replica takes over, and the
     killed node, started again, comes back as a replica of the new primary;
  3. a switchover through Patroni's REST API: the candidate becomes primary, the old one
     follows it;
  4. the KV leader killed with -9: the primary stays primary (no demotion) and takes writes;
  5. two of three KV members killed: the primary demotes itself (no primary while the KV
     cluster has no quorum); the two started again: a primary again, replicas streaming, and
     every row written on any primary earlier is there.
A sampler asks every PostgreSQL pg_is_in_recovery() all along: never two primaries at once.

PostgreSQL refuses to run as root, so as root the Patroni nodes run as the `postgres` user.
Every process started here is killed by PID (Patroni's and PostgreSQL's process groups) at the
end. Uses Debian's python3: psycopg2 is the one Patroni itself depends on.

usage: patroni_rehearsal.py --kv etcd|quorumd [--quorumd PATH]
"""
import argparse
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from etcdctl_diff import free_port  # noqa: E402  (same folder)

PG_BIN = "/usr/lib/postgresql/15/bin"
# Patroni's timings, shortened from its defaults (30/10/10) so that a takeover takes seconds;
# ttl >= loop_wait + 2 * retry_timeout, as Patroni's documentation asks.
TTL, LOOP_WAIT, RETRY_TIMEOUT = 12, 2, 5

checks = []


def check(name, ok, detail=""):
    checks.append(ok)
    print(("PASS  " if ok else "FAIL  ") + name + ("" if ok else f"\n      {detail}"), flush=True)


def wait_for(what, predicate, timeout):
    """Polls `predicate` until it returns a true value (returned) or `timeout` seconds pass
    (None, after saying what was awaited)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    print(f"      gave up after {timeout} s waiting for {what}", flush=True)
    return None


def kill_group(proc):
    """SIGKILL to a process started in its own session, and to everything in that group."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


class KvCluster:
    """Three members of etcd or quorumd (same flags) on loopback ports."""

    def __init__(self, binary, work):
        self.binary = binary
        self.work = work
        self.members = [(f"kv{i}", free_port(), free_port()) for i in range(1, 4)]
        self.procs = {}

    def hosts(self):
        return [f"127.0.0.1:{c}" for _, c, _ in self.members]

    def start(self, name):
        _, client, peer = next(m for m in self.members if m[0] == name)
        initial = ",".join(f"{n}=http://127.0.0.1:{p}" for n, _, p in self.members)
        log = open(f"{self.work}/{name}.log", "ab")
        self.procs[name] = subprocess.Popen(
            [self.binary, "--name", name, "--data-dir", f"{self.work}/{name}",
             "--listen-client-urls", f"http://127.0.0.1:{client}",
             "--advertise-client-urls", f"http://127.0.0.1:{client}",
             "--listen-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-cluster", initial, "--initial-cluster-token", "patroni-rehearsal"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self, name):
        kill_group(self.procs.pop(name))

    def status(self, name):
        """The member's own /v3/maintenance/status answer, or None."""
        client = next(c for n, c, _ in self.members if n == name)
        try:
            req = urllib.request.Request(f"http://127.0.0.1:{client}/v3/maintenance/status",
                                         data=b"{}", method="POST")
            with urllib.request.urlopen(req, timeout=2) as r:
                return json.loads(r.read())
        except Exception:
            return None

    def leader(self):
        """The name of the member every running member names as leader, or None."""
        ids = {}
        for name in self.procs:
            s = self.status(name)
            if s is None:
                return None
            ids[name] = (s["header"]["member_id"], s.get("leader"))
        leaders = {leader for _, leader in ids.values()}
        if len(leaders) != 1 or None in leaders:
            return None
        return next((n for n, (mid, _) in ids.items() if mid in leaders), None)

    def stop_all(self):
        for name in list(self.procs):
            self.kill(name)


class PgNode:
    """One Patroni node with its PostgreSQL."""

    def __init__(self, name, work, kv_hosts, run_as):
        self.name = name
        self.dir = f"{work}/{name}"
        self.pg_port = free_port()
        self.api_port = free_port()
        self.kv_hosts = kv_hosts
        self.run_as = run_as
        self.proc = None
        os.makedirs(self.dir, mode=0o700)
        self.config = f"{self.dir}/patroni.yml"
        with open(self.config, "w") as f:
            f.write(self.config_text())
        if run_as is not None:
            for path in (self.dir, self.config):
                os.chown(path, run_as.pw_uid, run_as.pw_gid)

    def config_text(self):
        hosts = ",".join(self.kv_hosts)
        return f"""scope: rehearsal
namespace: /service/
name: {self.name}
restapi:
  listen: 127.0.0.1:{self.api_port}
  connect_address: 127.0.0.1:{self.api_port}
etcd3:
  hosts: {hosts}
bootstrap:
  dcs:
    ttl: {TTL}
    loop_wait: {LOOP_WAIT}
    retry_timeout: {RETRY_TIMEOUT}
    maximum_lag_on_failover: 1048576
    postgresql:
      use_pg_rewind: true
      parameters:
        max_wal_senders: 10
        max_replication_slots: 10
        wal_keep_size: 128MB
  initdb:
  - encoding: UTF8
  - data-checksums
postgresql:
  listen: 127.0.0.1:{self.pg_port}
  connect_address: 127.0.0.1:{self.pg_port}
  data_dir: {self.dir}/data
  bin_dir: {PG_BIN}
  pgpass: {self.dir}/pgpass
  authentication:
    superuser:
      username: postgres
      password: rehearsal
    replication:
      username: replicator
      password: rehearsal
  pg_hba:
  - local all all trust
  - host all all 127.0.0.1/32 trust
  - host replication all 127.0.0.1/32 trust
  parameters:
    unix_socket_directories: '{self.dir}'
    # Dynamic shared memory in the data dir, not /dev/shm: a postmaster killed -9 leaves its
    # segments behind, and they go with the work dir.
    dynamic_shared_memory_type: mmap
    shared_buffers: 16MB
    fsync: 'on'
log:
  level: {os.environ.get("PATRONI_LOG_LEVEL", "INFO")}
"""

    def start(self):
        argv = ["/usr/bin/patroni", self.config]
        if self.run_as is not None:
            argv = ["/usr/sbin/runuser", "-u", self.run_as.pw_name, "--"] + argv
        log = open(f"{self.dir}/patroni.log", "ab")
        env = dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True, cwd=self.dir)

    def postmaster_pid(self):
        try:
            with open(f"{self.dir}/data/postmaster.pid") as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def kill(self):
        """kill -9 of the node: Patroni, its postmaster (which runs in a session of its own)
        and the postmaster's children."""
        postmaster = self.postmaster_pid()
        kill_group(self.proc)
        self.proc = None
        if postmaster is not None:
            for pid in [postmaster] + children_of(postmaster):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            wait_for(f"{self.name}'s postmaster to be gone",
                     lambda: not os.path.exists(f"/proc/{postmaster}"), 10)

    def api(self, path, body=None, timeout=3):
        req = urllib.request.Request(f"http://127.0.0.1:{self.api_port}{path}",
                                     data=None if body is None else json.dumps(body).encode(),
                                     method="GET" if body is None else "POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except Exception as e:  # not up, refused, timed out
            return None, str(e)

    def connect(self):
        return psycopg2.connect(host="127.0.0.1", port=self.pg_port, user="postgres",
                                dbname="postgres", connect_timeout=2)

    def query(self, sql, args=None):
        """Rows of `sql` on this node, or None when it cannot be asked."""
        conn = None
        try:
            conn = self.connect()
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return cur.fetchall() if cur.description else []
        except psycopg2.Error:
            return None
        finally:
            if conn is not None:
                conn.close()


def children_of(pid):
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                kids.append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    return kids


class Sampler(threading.Thread):
    """Asks every node pg_is_in_recovery() in rounds, over connections it keeps. A round that
    finds two primaries asks the first one again: only when it still says primary after the
    second said so were both primary at the same moment."""

    def __init__(self, nodes):
        super().__init__(daemon=True)
        self.nodes = nodes
        self.conns = {}
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.rounds = 0
        self.overlaps = []
        self.history = []  # (time, primaries) whenever the set of primaries changes

    def is_primary(self, node):
        conn = self.conns.get(node.name)
        try:
            if conn is None or conn.closed:
                conn = node.connect()
                conn.autocommit = True
                self.conns[node.name] = conn
            with conn.cursor() as cur:
                cur.execute("select pg_is_in_recovery()")
                return cur.fetchone()[0] is False
        except psycopg2.Error:
            if conn is not None:
                try:
                    conn.close()
                except psycopg2.Error:
                    pass
            self.conns.pop(node.name, None)
            return False

    def run(self):
        last = None
        while not self.stop_event.is_set():
            primaries = [n.name for n in self.nodes if self.is_primary(n)]
            if len(primaries) > 1:
                first = next(n for n in self.nodes if n.name == primaries[0])
                if self.is_primary(first):
                    self.overlaps.append((time.time(), primaries))
            with self.lock:
                self.rounds += 1
                if primaries != last:
                    self.history.append((time.time(), primaries))
                    last = primaries
            self.stop_event.wait(0.1)

    def primaries_since(self, t):
        """Every set of primaries seen from time `t` on (the one current at `t` included)."""
        with self.lock:
            before = [p for when, p in self.history if when <= t]
            after = [p for when, p in self.history if when > t]
        return before[-1:] + after

    def stop(self):
        self.stop_event.set()
        self.join(timeout=10)
        for conn in self.conns.values():
            conn.close()


def cluster_view(nodes):
    """Patroni's /cluster from any node that answers, as {name: member}."""
    for node in nodes:
        status, body = node.api("/cluster")
        if status == 200:
            return {m["name"]: m for m in json.loads(body).get("members", [])}
    return {}


def healthy_with_leader(nodes, leader=None):
    """The primary's name when PostgreSQL says there is exactly one primary (`leader` if
    given) and it streams to every other node; else None."""
    primaries = [n for n in nodes if n.query("select pg_is_in_recovery()") == [(False,)]]
    if len(primaries) != 1 or (leader is not None and primaries[0].name != leader):
        return None
    rows = primaries[0].query(
        "select application_name from pg_stat_replication where state = 'streaming'")
    if rows is None or {r[0] for r in rows} != {n.name for n in nodes if n is not primaries[0]}:
        return None
    return primaries[0].name


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kv", choices=["etcd", "quorumd"], required=True)
    parser.add_argument("--quorumd")
    parser.add_argument("--etcd", default="/usr/bin/etcd")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    args = parser.parse_args()
    binary = args.etcd if args.kv == "etcd" else args.quorumd
    if not binary or not os.path.exists(binary):
        print(f"no {args.kv} binary: {binary}")
        return 2

    # A SIGTERM (a timeout, ^C from a wrapper) still runs the clean-up below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    run_as = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
    work = tempfile.mkdtemp(prefix=f"quorum-patroni-{args.kv}-")
    if run_as is not None:
        os.chown(work, run_as.pw_uid, run_as.pw_gid)
    kv = KvCluster(binary, work)
    nodes = []
    sampler = None
    started = time.time()
    try:
        for name, _, _ in kv.members:
            kv.start(name)
        check(f"{args.kv}: the KV cluster elects a leader",
              wait_for("a KV leader", kv.leader, 30) is not None)

        nodes = [PgNode(f"pg{i}", work, kv.hosts(), run_as) for i in range(1, 4)]
        by_name = {n.name: n for n in nodes}
        # The first node alone bootstraps, so which one initialises the cluster is known.
        nodes[0].start()
        wait_for("pg1 to bootstrap", lambda: nodes[0].query("select 1") == [(1,)], 60)
        for node in nodes[1:]:
            node.start()
        sampler = Sampler(nodes)
        sampler.start()

        # 1. Bootstrap.
        primary = wait_for("one primary streaming to two replicas",
                           lambda: healthy_with_leader(nodes), 120)
        check("bootstrap: one primary, two replicas streaming", primary == "pg1",
              f"primary={primary} view={cluster_view(nodes)}")
        if primary is None:
            return 1
        written = []

        def write(step):
            node = by_name[primary]
            rows = node.query("insert into steps values (%s) returning 1", (step,))
            if rows == [(1,)]:
                written.append(step)
            return rows == [(1,)]

        by_name[primary].query("create table steps (name text primary key)")
        check("the primary takes a write", write("bootstrap"))

        # 2. kill -9 of the primary's node.
        old = primary
        by_name[old].kill()
        killed_at = time.time()
        new = wait_for("a replica to take over",
                       lambda: next((n.name for n in nodes if n.name != old and
                                     n.query("select pg_is_in_recovery()") == [(False,)]),
                                    None), TTL + 30)
        check(f"primary {old} killed: a replica takes over", new is not None,
              f"view={cluster_view(nodes)}")
        if new is None:
            return 1
        print(f"      {new} took over {time.time() - killed_at:.1f} s after the kill", flush=True)
        primary = new
        check("the new primary takes a write", write("after-kill"))
        by_name[old].start()
        back = wait_for(f"{old} back as a replica of {primary}",
                        lambda: healthy_with_leader(nodes, primary), 120)
        check(f"{old}, started again, streams from {primary}", back == primary,
              f"view={cluster_view(nodes)}")

        # 3. Switchover.
        candidate = next(n.name for n in nodes if n.name != primary)
        status, body = by_name[primary].api(
            "/switchover", {"leader": primary, "candidate": candidate}, timeout=60)
        check(f"switchover {primary} -> {candidate} accepted", status == 200,
              f"status={status} body={body}")
        now = wait_for(f"{candidate} primary, the others streaming from it",
                       lambda: healthy_with_leader(nodes, candidate), 90)
        check(f"switchover: {candidate} is primary and {primary} follows it", now == candidate,
              f"view={cluster_view(nodes)}")
        primary = candidate
        check("the switched-over primary takes a write",
              wait_for("a write on the new primary", lambda: write("after-switchover"), 20))

        # 4. The KV leader killed: no demotion.
        kv_leader = wait_for("a KV leader", kv.leader, 30)
        kv.kill(kv_leader)
        since = time.time()
        time.sleep(2 * TTL)  # two leader-key lifetimes: long enough for a demotion to show
        seen = sampler.primaries_since(since)
        check(f"KV leader {kv_leader} killed: {primary} stays primary all along "
              f"({2 * TTL} s)", seen == [[primary]], f"primaries seen: {seen}")
        check("the primary takes a write with one KV member down", write("kv-member-down"))
        kv.start(kv_leader)
        check("the KV member rejoins", wait_for("a KV leader", kv.leader, 30) is not None)

        # 5. KV quorum lost: the primary demotes itself; and recovery.
        lost = [n for n, _, _ in kv.members][:2]
        for name in lost:
            kv.kill(name)
        lost_at = time.time()
        gone = wait_for("no primary", lambda: sampler.primaries_since(time.time()) == [[]],
                        TTL + LOOP_WAIT + 2 * RETRY_TIMEOUT + 20)
        check("KV quorum lost: the primary demotes itself", gone is not None,
              f"primaries seen: {sampler.primaries_since(lost_at)}")
        if gone:
            print(f"      no primary {time.time() - lost_at:.1f} s after the quorum loss",
                  flush=True)
        # Patroni stops PostgreSQL and starts it again as a standby with nothing to follow.
        demoted = wait_for(f"{primary} to answer as a standby",
                           lambda: by_name[primary].query("select pg_is_in_recovery()") ==
                           [(True,)], 30)
        check(f"{primary} runs on, read-only", demoted is not None)
        held = time.time()
        time.sleep(TTL)
        check(f"no primary while the KV cluster has no quorum ({TTL} s)",
              sampler.primaries_since(held) == [[]],
              f"primaries seen: {sampler.primaries_since(held)}")
        for name in lost:
            kv.start(name)
        recovered = wait_for("a primary streaming to two replicas again",
                             lambda: healthy_with_leader(nodes), 120)
        check("KV quorum back: a primary again, two replicas streaming", recovered is not None,
              f"view={cluster_view(nodes)}")
        if recovered:
            primary = recovered
            check("the primary takes a write after recovery",
                  wait_for("a write", lambda: write("after-recovery"), 20))

            def replicas_have_every_row():
                for node in nodes:
                    rows = node.query("select name from steps")
                    if rows is None or sorted(r[0] for r in rows) != sorted(written):
                        return False
                return True
            check(f"every node has all {len(written)} rows written on a primary",
                  wait_for("the rows on every node", replicas_have_every_row, 30) is not None)

        sampler.stop()
        check(f"never two primaries at once ({sampler.rounds} sample rounds)",
              sampler.rounds > 0 and not sampler.overlaps, f"overlaps: {sampler.overlaps}")
        sampler = None
    finally:
        if sampler is not None:
            sampler.stop()
        for node in nodes:
            node.kill()
        kv.stop_all()
        if args.keep or (checks and not all(checks)):
            print(f"logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    passed = sum(1 for c in checks if c)
    print(f"{args.kv}: {passed} passed, {len(checks) - passed} failed "
          f"in {time.time() - started:.0f} s")
    return 0 if checks and all(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
