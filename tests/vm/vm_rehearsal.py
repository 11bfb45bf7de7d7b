#!/usr/bin/python3
"""The README's "Run on VMs" commands on network namespaces standing in for VMs, then faults
checked through HAProxy with etcdctl.

Each "VM" is a network namespace with its own address on a bridge and a mount namespace of its
own whose /etc, /usr/local, /var/lib and /root are overlays (upper layers on a tmpfs of this
test), so the kit's install.sh runs unchanged as root and its files, its user and the member's
data dir stay inside that VM. Members start as their systemd unit starts them (ExecStart as
User=, NOTIFY_SOCKET set; each must say READY=1). HAProxy runs in a namespace of its own from
the generated haproxy.cfg; its address stands for the VIP. Then, with etcdctl through HAProxy
and mutual TLS:
  writes go on with a VM killed, with one frozen (SIGSTOP), with the leader cut off from its
  peers (iptables), and the isolated old leader serves no linearizable read or write;
  with a majority dropped, writes fail fast; with the VMs back, writes go on; a rolling
  upgrade (deploy/vm/rolling-upgrade.py, ssh and scp played by vm_remote.py) under write load
  keeps a majority up at every sample and writes going; every write ever acknowledged is there.
Also: systemd-analyze verify accepts every generated unit, haproxy -c the configuration,
keepalived -t its example.

Needs root, iproute2, iptables, haproxy, keepalived, etcdctl 3.4, systemd (for
systemd-analyze). Every process is killed by PID and every namespace, mount and rule removed
at the end.

usage: vm_rehearsal.py --quorumd PATH --members 3|5 [--repo DIR] [--keep]
"""
import argparse
import os
import re
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

IP = "/usr/sbin/ip"
IPTABLES = "/usr/sbin/iptables"
checks = []


def check(name, ok, detail=""):
    checks.append(bool(ok))
    print(("PASS  " if ok else "FAIL  ") + name + ("" if ok else f"\n      {detail}"), flush=True)
    return ok


def run(argv, timeout=60, check_rc=True, **kwargs):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check_rc and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {r.returncode}: {r.stdout}{r.stderr}")
    return r


def readme_blocks(readme):
    """The shell lines of each fenced block of the "Run on VMs" section, comments dropped."""
    text = open(readme).read()
    section = text[text.index("## Run on VMs"):]
    section = section[:section.index("\n## ", 1)]
    blocks = []
    for part in section.split("```sh")[1:]:
        block = part[:part.index("```")]
        blocks.append([line for line in block.splitlines()
                       if line.strip() and not line.startswith("#")])
    return blocks


class Rehearsal:
    def __init__(self, repo, quorumd, members, work):
        self.repo = repo
        self.quorumd = quorumd
        self.work = work
        tag = os.getpid() % 100000
        self.tag = f"{tag}"
        octet = os.getpid() % 200 + 20
        self.subnet = f"10.214.{octet}."
        self.bridge = f"qvb{tag}"
        self.host_ip = self.subnet + "1"
        self.lb_ip = self.subnet + "2"
        self.vms = [f"m{i}" for i in range(1, members + 1)]
        self.ips = {vm: self.subnet + str(10 + i) for i, vm in enumerate(self.vms, 1)}
        self.netns = {vm: f"qvm{tag}-{vm}" for vm in self.vms + ["lb"]}
        self.procs = {}
        self.nets_made = []
        self.mounts = []
        self.state = f"{work}/state"
        self.ns_dir = f"{work}/ns"
        self.kits = f"{work}/kits"
        self.notify = {}
        self.control = None

    # ---- network and "VMs" ----
    def setup(self):
        os.makedirs(self.state)
        run(["mount", "-t", "tmpfs", "-o", "size=4g,mode=0755", "tmpfs", self.state])
        self.mounts.append(self.state)
        os.makedirs(self.ns_dir)
        run(["mount", "--bind", self.ns_dir, self.ns_dir])
        self.mounts.append(self.ns_dir)
        run(["mount", "--make-private", self.ns_dir])
        run([IP, "link", "add", self.bridge, "type", "bridge"])
        self.nets_made.append(("link", self.bridge))
        run([IP, "addr", "add", self.host_ip + "/24", "dev", self.bridge])
        run([IP, "link", "set", self.bridge, "up"])
        for vm in list(self.netns):
            self.make_vm(vm)

    def make_vm(self, vm):
        """The network and mount namespaces of `vm` (its address in self.ips, or the LB's)."""
        ns = self.netns[vm]
        ip = self.lb_ip if vm == "lb" else self.ips[vm]
        run([IP, "netns", "add", ns])
        self.nets_made.append(("netns", ns))
        outside, inside = f"qv{self.tag}{vm}o", f"qv{self.tag}{vm}i"
        run([IP, "link", "add", outside, "type", "veth", "peer", "name", inside])
        run([IP, "link", "set", inside, "netns", ns])
        run([IP, "link", "set", outside, "master", self.bridge, "up"])
        run([IP, "-n", ns, "addr", "add", ip + "/24", "dev", inside])
        run([IP, "-n", ns, "link", "set", inside, "up"])
        run([IP, "-n", ns, "link", "set", "lo", "up"])
        self.make_mount_namespace(vm)

    def add_vm(self, vm):
        """A fresh VM with the next address."""
        self.ips[vm] = self.subnet + str(10 + len(self.ips) + 1)
        self.netns[vm] = f"qvm{self.tag}-{vm}"
        self.make_vm(vm)

    def make_mount_namespace(self, vm):
        """A persistent mount namespace for `vm` with overlays on the directories install.sh
        writes; /run/systemd hidden so that no systemctl reaches the real host's systemd."""
        mounts = []
        for target in ("/etc", "/usr/local", "/var/lib", "/root"):
            key = target.strip("/").replace("/", "-")
            upper, workdir = f"{self.state}/{vm}/{key}/up", f"{self.state}/{vm}/{key}/work"
            os.makedirs(upper)
            os.makedirs(workdir)
            mounts.append(f"mount -t overlay overlay -o lowerdir={target},upperdir={upper},"
                          f"workdir={workdir} {target}")
        mounts.append("if [ -d /run/systemd ]; then mount -t tmpfs tmpfs /run/systemd; fi")
        path = f"{self.ns_dir}/{vm}"
        open(path, "w").close()
        run(["unshare", f"--mount={path}", "--propagation", "private", "sh", "-ec",
             "; ".join(mounts)])

    def in_vm(self, vm, argv):
        """argv run inside `vm`'s network and mount namespaces."""
        return ["nsenter", f"--net=/run/netns/{self.netns[vm]}",
                f"--mount={self.ns_dir}/{vm}", "--"] + argv

    def vm_path(self, vm, path):
        """Where a file of `vm`'s /root or /etc is seen from the host (upper layer)."""
        for target in ("/etc", "/usr/local", "/var/lib", "/root"):
            if path == target or path.startswith(target + "/"):
                key = target.strip("/").replace("/", "-")
                return f"{self.state}/{vm}/{key}/up" + path[len(target):]
        raise ValueError(path)

    def teardown(self):
        if self.control is not None:
            self.control.close()
        for name in list(self.procs):
            self.kill(name)
        for kind, name in reversed(self.nets_made):
            if kind == "netns":
                subprocess.run([IP, "netns", "del", name], capture_output=True)
            else:
                subprocess.run([IP, "link", "del", name], capture_output=True)
        for vm in self.netns:
            subprocess.run(["umount", f"{self.ns_dir}/{vm}"], capture_output=True)
        for mount in reversed(self.mounts):
            subprocess.run(["umount", "-l", mount], capture_output=True)

    # ---- the README's commands ----
    def run_readme(self):
        commands = readme_blocks(f"{self.repo}/README.md")[0]
        ran = []
        for line in commands:
            argv = shlex.split(line)
            if argv[0] == "deploy/vm/generate.sh":
                # As many members as this rehearsal has, on its addresses; the VIP is HAProxy's.
                pairs = [f"{vm}={self.ips[vm]}" for vm in self.vms]
                env = dict(os.environ, QUORUM_BINARY=self.quorumd, QUORUM_VIP=self.lb_ip + "/24")
                r = run([f"{self.repo}/deploy/vm/generate.sh", self.kits] + pairs, env=env,
                        timeout=120)
                ran.append(line)
                print("      " + r.stdout.strip(), flush=True)
            elif argv[0] == "scp":
                # One line per host in the README; here one per VM, done when the first is met.
                if any(l.startswith("scp") for l in ran):
                    continue
                destination = argv[-1].split(":", 1)[1]
                for vm in self.vms:
                    run(self.in_vm(vm, ["cp", "-r", f"{self.kits}/{vm}", destination]))
                ran.append(line)
            elif argv[0].startswith("/root/quorum-kit/install.sh"):
                for vm in self.vms:
                    r = run(self.in_vm(vm, argv), timeout=300, check_rc=False)
                    if not check(f"{vm}: install.sh", r.returncode == 0, r.stdout + r.stderr):
                        return False
                ran.append(line)
                self.start_all()
            elif argv[0].startswith("ETCDCTL_API=3") or argv[0] == "etcdctl":
                argv = [a for a in argv if not a.startswith("ETCDCTL_API=")]
                endpoints = ",".join(f"https://{self.ips[vm]}:2379" for vm in self.vms)
                argv = [re.sub(r"^https://10\.0\.0\.1\d:2379(,https://10\.0\.0\.1\d:2379)*$",
                               endpoints, a) for a in argv]
                argv = [a.replace("kits/", self.kits + "/") for a in argv]
                ok = False
                deadline = time.time() + 60
                while time.time() < deadline and not ok:
                    r = run(["/usr/bin/etcdctl"] + argv[1:], check_rc=False, timeout=30,
                            env=dict(os.environ, ETCDCTL_API="3"))
                    ok = r.returncode == 0
                    if not ok:
                        time.sleep(0.5)
                check(f"README's etcdctl endpoint health: {len(self.vms)} healthy",
                      ok and (r.stdout + r.stderr).count("is healthy") == len(self.vms),
                      r.stdout + r.stderr)
                ran.append(line)
            else:
                check(f"README command understood: {line}", False)
                return False
        return check(f"the README's commands ran ({len(commands)} lines)",
                     all(line in ran or line.startswith("scp") for line in commands))

    def run_replacement(self, dead, new):
        """The README's second block: `dead` (its m3) is gone, `new` (its m4) takes its place."""
        readme_ips = {"10.0.0.11": self.ips[self.vms[0]], "10.0.0.12": self.ips[self.vms[1]],
                      "10.0.0.13": self.ips[dead], "10.0.0.14": self.ips[new],
                      "10.0.0.100": self.lb_ip}
        by_ip = {ip: vm for vm, ip in self.ips.items()}
        by_ip[self.lb_ip] = "lb"
        env = dict(os.environ)
        received = []
        for line in readme_blocks(f"{self.repo}/README.md")[1]:
            for readme_ip, ip in readme_ips.items():
                line = re.sub(re.escape(readme_ip) + r"\b", ip, line)
            argv = shlex.split(line)
            if argv[0] == "export":
                env.update(a.split("=", 1) for a in argv[1:])
                continue
            if argv[0] == "scp":
                destination = argv[-1].split("@", 1)[1]
                ip, path = destination.split(":", 1)
                vm = by_ip[ip]
                flags = ["-r"] if "-r" in argv else []
                source = os.path.join(self.work, argv[-2])
                res = run(self.in_vm(vm, ["cp"] + flags + [source, path]), check_rc=False)
                if vm != "lb":
                    received.append(vm)
            elif argv[0].endswith("install.sh"):
                for vm in received:
                    res = run(self.in_vm(vm, argv), timeout=300, check_rc=False)
                    if res.returncode == 0:
                        self.start(vm)
                        check(f"{vm} started by its unit and said READY=1", self.wait_ready(vm))
            elif line == "systemctl reload haproxy":
                self.run_haproxy()
                res = subprocess.CompletedProcess(argv, 0, "", "")
            else:
                if argv[0] == "deploy/vm/generate.sh":
                    line = f"{self.repo}/{line}"
                    env.update(QUORUM_BINARY=self.quorumd, QUORUM_VIP=self.lb_ip + "/24")
                res = subprocess.run(["sh", "-c", line], cwd=self.work, env=env,
                                     capture_output=True, text=True, timeout=120)
            if not check(f"README: {line[:90]}", res.returncode == 0,
                         res.stdout + res.stderr):
                return False
        return True

    # ---- members, as their unit starts them ----
    def unit(self, vm):
        text = open(self.vm_path(vm, "/etc") + "/systemd/system/quorumd.service").read()
        fields = dict(re.findall(r"^(\w+)=(.*)$", text, re.M))
        return fields

    def start(self, vm):
        fields = self.unit(vm)
        sock_path = f"{self.state}/notify-{vm}.sock"
        if os.path.exists(sock_path):
            os.unlink(sock_path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(sock_path)
        os.chmod(sock_path, 0o777)
        self.notify[vm] = sock
        argv = self.in_vm(vm, ["runuser", "-u", fields["User"], "--"] +
                          shlex.split(fields["ExecStart"]))
        # LimitNOFILE=, as far as this machine's hard limit lets a test go.
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        limit = int(fields.get("LimitNOFILE", "1024"))
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        log = open(f"{self.work}/{vm}.log", "ab")
        self.procs[vm] = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env=dict(os.environ, NOTIFY_SOCKET=sock_path),
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit)))

    def wait_ready(self, vm, timeout=60):
        sock = self.notify[vm]
        sock.settimeout(timeout)
        try:
            while True:
                message = sock.recv(4096).decode()
                if "READY=1" in message.split("\n"):
                    return True
        except socket.timeout:
            return False
        finally:
            sock.close()
            del self.notify[vm]

    def start_all(self):
        for vm in self.vms:
            self.start(vm)
        for vm in self.vms:
            check(f"{vm} started by its unit's ExecStart as User= and said READY=1",
                  self.wait_ready(vm), open(f"{self.work}/{vm}.log").read()[-2000:])

    def kill(self, vm):
        proc = self.procs.pop(vm, None)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGCONT)
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=15)

    def signal(self, vm, sig):
        os.killpg(self.procs[vm].pid, sig)

    def restart(self, vm):
        """`systemctl restart` as the unit has it: SIGTERM, SIGKILL after TimeoutStopSec, then
        ExecStart again until READY=1."""
        proc = self.procs.pop(vm)
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        self.start(vm)
        return self.wait_ready(vm)

    def serve_control(self, path):
        """Answers vm_remote.py's "restart VM" requests on a unix socket, on a thread."""
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        server.listen(4)
        self.control = server

        def loop():
            while True:
                try:
                    conn, _ = server.accept()
                except OSError:
                    return  # closed at the end
                with conn:
                    request = conn.recv(100).decode().split()
                    ok = len(request) == 2 and request[0] == "restart" and \
                        request[1] in self.procs and self.restart(request[1])
                    conn.sendall(b"ok\n" if ok else b"failed\n")
        threading.Thread(target=loop, daemon=True).start()

    def remote_env(self):
        vms = ",".join(f"{self.ips[vm]}={vm}:{self.netns[vm]}:{self.ns_dir}/{vm}"
                       for vm in self.vms)
        return dict(os.environ, QUORUM_REHEARSAL_VMS=vms,
                    QUORUM_REHEARSAL_CONTROL=f"{self.work}/control.sock",
                    QUORUM_SSH=f"/usr/bin/python3 {self.repo}/tests/vm/vm_remote.py ssh",
                    QUORUM_SCP=f"/usr/bin/python3 {self.repo}/tests/vm/vm_remote.py scp",
                    ETCDCTL_API="3")

    def health_answers(self):
        """How many members answer /health on their metrics URL at all, and how many say 200:
        every member asked at once, each given 2 s (a /health may itself wait up to a second
        for a linearizable read point, so a slower answer is not a member down)."""
        answers = {}

        def ask(vm):
            try:
                with urllib.request.urlopen(f"http://{self.ips[vm]}:2381/health",
                                            timeout=2) as r:
                    answers[vm] = r.status
            except urllib.error.HTTPError as e:
                answers[vm] = e.code
            except Exception:
                pass
        threads = [threading.Thread(target=ask, args=(vm,)) for vm in self.vms]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return len(answers), sum(1 for status in answers.values() if status == 200)

    def start_haproxy(self):
        kit = f"{self.kits}/haproxy"
        run(self.in_vm("lb", ["install", "-d", "/etc/haproxy/quorum"]))
        run(self.in_vm("lb", ["install", "-m", "0600", f"{kit}/ca.pem", f"{kit}/check.pem",
                              "/etc/haproxy/quorum/"]))
        run(self.in_vm("lb", ["install", "-m", "0644", f"{kit}/haproxy.cfg",
                              "/etc/haproxy/haproxy.cfg"]))
        r = run(self.in_vm("lb", ["haproxy", "-c", "-f", "/etc/haproxy/haproxy.cfg"]),
                check_rc=False)
        check("haproxy -c accepts the generated configuration", r.returncode == 0,
              r.stdout + r.stderr)
        self.run_haproxy()

    def run_haproxy(self):
        """HAProxy from the LB's /etc/haproxy/haproxy.cfg; a running one is replaced (a reload
        as far as the clients here can tell: new connections get the new member list)."""
        self.kill("lb")
        log = open(f"{self.work}/haproxy.log", "ab")
        self.procs["lb"] = subprocess.Popen(
            self.in_vm("lb", ["haproxy", "-W", "-db", "-f", "/etc/haproxy/haproxy.cfg"]),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    # ---- partitions ----
    def isolate(self, vm):
        """Cuts `vm` off from the other members; the load balancer and the test still reach it."""
        ns = self.netns[vm]
        for other in self.vms:
            if other == vm:
                continue
            for chain, flag in (("INPUT", "-s"), ("OUTPUT", "-d")):
                run([IP, "netns", "exec", ns, IPTABLES, "-A", chain, flag, self.ips[other],
                     "-j", "DROP"])

    def heal(self, vm):
        ns = self.netns[vm]
        for chain in ("INPUT", "OUTPUT"):
            run([IP, "netns", "exec", ns, IPTABLES, "-F", chain])

    # ---- the client ----
    def etcdctl(self, args, endpoints=None, timeout="3s"):
        """etcdctl with the admin certificate, through HAProxy unless `endpoints` is given.
        Returns (exit code, output, seconds taken)."""
        argv = ["/usr/bin/etcdctl", "--endpoints", endpoints or f"https://{self.lb_ip}:2379",
                "--cacert", f"{self.kits}/admin/ca.pem", "--cert", f"{self.kits}/admin/root.pem",
                "--key", f"{self.kits}/admin/root-key.pem", "--dial-timeout=2s",
                f"--command-timeout={timeout}"] + args
        started = time.time()
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, ETCDCTL_API="3"))
        return r.returncode, r.stdout + r.stderr, time.time() - started

    def leader(self):
        """The VM every answering member names as leader, or None."""
        rc, out, _ = self.etcdctl(["endpoint", "status", "-w", "fields"],
                                  endpoints=",".join(f"https://{self.ips[vm]}:2379"
                                                     for vm in self.vms if vm in self.procs))
        ids = re.findall(r'"MemberID" : (\d+)', out)
        leaders = set(re.findall(r'"Leader" : (\d+)', out))
        endpoints = re.findall(r'"Endpoint" : "https://([\d.]+):2379"', out)
        if len(leaders) != 1:
            return None
        leader = leaders.pop()
        for member_id, endpoint in zip(ids, endpoints):
            if member_id == leader:
                return next(vm for vm, ip in self.ips.items() if ip == endpoint)
        return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quorumd", required=True)
    parser.add_argument("--members", type=int, choices=[3, 5], default=3)
    parser.add_argument("--repo", default=os.path.abspath(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")))
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("vm_rehearsal: needs root (network namespaces, mounts, iptables)")
        return 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = tempfile.mkdtemp(prefix="quorum-vm-")
    os.chmod(work, 0o755)  # the members' user reaches its notify socket in there
    r = Rehearsal(args.repo, os.path.abspath(args.quorumd), args.members, work)
    acknowledged = []
    counter = [0]
    started = time.time()

    def write(label):
        """One put through HAProxy; remembered when acknowledged. A failed one pauses 0.3 s
        before the caller's next try."""
        counter[0] += 1
        key = f"rehearsal/{counter[0]:05d}"
        rc, out, took = r.etcdctl(["put", key, label])
        if rc == 0 and "OK" in out:
            acknowledged.append(key)
            return True, took, out
        time.sleep(0.3)
        return False, took, out

    def writes_go_on(what):
        """Five writes in a row acknowledged within 20 s. Writes that land on a member in the
        seconds before HAProxy's checks take it out of the rotation may fail; they are counted,
        and none of them may turn up later as if acknowledged (the final check)."""
        in_a_row, failed, out = 0, 0, ""
        deadline = time.time() + 20
        while in_a_row < 5 and time.time() < deadline:
            ok, _, out = write(what)
            in_a_row = in_a_row + 1 if ok else 0
            failed += 0 if ok else 1
        return check(f"{what}: writes through HAProxy go on ({failed} failed first)",
                     in_a_row == 5, out)

    try:
        r.setup()
        if not r.run_readme():
            return 1
        for vm in r.vms:
            unit = r.vm_path(vm, "/etc") + "/systemd/system/quorumd.service"
            res = run(r.in_vm(vm, ["systemd-analyze", "verify", "/etc/systemd/system/"
                                   "quorumd.service"]), check_rc=False)
            check(f"{vm}: systemd-analyze verify accepts the installed unit",
                  res.returncode == 0 and os.path.exists(unit), res.stdout + res.stderr)
        res = run(["keepalived", "-t", "-f", f"{r.kits}/haproxy/keepalived.conf"], check_rc=False)
        check("keepalived -t accepts the example", res.returncode == 0, res.stdout + res.stderr)
        r.start_haproxy()
        writes_go_on(f"{len(r.vms)} VMs up")

        # A VM killed.
        leader = None
        deadline = time.time() + 30
        while leader is None and time.time() < deadline:
            leader = r.leader()
        victim = next(vm for vm in r.vms if vm != leader)
        r.kill(victim)
        writes_go_on(f"{victim} killed")
        r.start(victim)
        check(f"{victim} back (READY=1)", r.wait_ready(victim))

        # A VM frozen.
        frozen = next(vm for vm in reversed(r.vms) if vm != leader)
        r.signal(frozen, signal.SIGSTOP)
        writes_go_on(f"{frozen} frozen")
        r.signal(frozen, signal.SIGCONT)

        # The leader cut off from its peers.
        leader = None
        deadline = time.time() + 30
        while leader is None and time.time() < deadline:
            leader = r.leader()
        check("a leader is known", leader is not None)
        r.isolate(leader)
        writes_go_on(f"old leader {leader} isolated")
        rc, out, took = r.etcdctl(["get", "rehearsal/00001"], endpoints=f"https://{r.ips[leader]}:2379")
        check(f"isolated {leader} serves no linearizable read (failed in {took:.1f} s)", rc != 0,
              out)
        rc, out, took = r.etcdctl(["put", "rehearsal/stale", "x"],
                                  endpoints=f"https://{r.ips[leader]}:2379")
        check(f"isolated {leader} takes no write (failed in {took:.1f} s)", rc != 0, out)
        r.heal(leader)

        # A majority dropped.
        majority = [vm for vm in r.vms][: len(r.vms) // 2 + 1]
        for vm in majority:
            r.kill(vm)
        # HAProxy takes the members left out of the rotation after two failed 1 s checks of
        # /health; from then on a write is refused by HAProxy, not left waiting on a member.
        # No write may be acknowledged meanwhile.
        deadline = time.time() + 20
        refused = False
        while time.time() < deadline and not refused:
            ok, took, out = write("no quorum")
            check("no write acknowledged without a quorum", not ok, out)
            refused = "TransientFailure" in out or "Unavailable" in out
        check(f"{len(majority)} of {len(r.vms)} VMs down: writes are refused as unavailable "
              f"through HAProxy, within the client's 3 s timeout ({took:.1f} s)",
              refused and took < 3.5, out)
        for vm in majority:
            r.start(vm)
        for vm in majority:
            check(f"{vm} back (READY=1)", r.wait_ready(vm))
        writes_go_on("every VM back")

        # A dead VM replaced by a fresh one, with the README's commands (its example has 3).
        if len(r.vms) == 3:
            dead, new = r.vms[2], "m4"
            r.kill(dead)
            r.add_vm(new)
            # "Gone for good": the others have settled without it (a member change proposed
            # while they elect a new leader is dropped and times out, with etcd as here).
            live = ",".join(f"https://{r.ips[vm]}:2379" for vm in r.vms if vm != dead)
            deadline = time.time() + 30
            while r.etcdctl(["endpoint", "health"], endpoints=live)[0] != 0 and \
                    time.time() < deadline:
                time.sleep(0.3)
            if r.run_replacement(dead, new):
                r.vms = [vm for vm in r.vms if vm != dead] + [new]
                # READY=1 comes once the member serves; its name and URLs reach the member
                # list a moment later, through the log.
                def started_names():
                    rc, out, _ = r.etcdctl(["member", "list"], timeout="5s")
                    return sorted(line.split(", ")[2] for line in out.splitlines()
                                  if ", started, " in line), out
                deadline = time.time() + 30
                names, out = started_names()
                while names != sorted(r.vms) and time.time() < deadline:
                    time.sleep(0.3)
                    names, out = started_names()
                check(f"member list after the replacement: {names}", names == sorted(r.vms), out)
                writes_go_on(f"{dead} replaced by {new}")

                def caught_up():
                    rc, out, _ = r.etcdctl(["get", "rehearsal/", "--prefix", "--keys-only",
                                            "--consistency=s"],
                                           endpoints=f"https://{r.ips[new]}:2379")
                    return rc == 0 and set(acknowledged) <= set(out.split())
                deadline = time.time() + 30
                while not caught_up() and time.time() < deadline:
                    time.sleep(0.3)
                check(f"{new} holds every acknowledged write (its own serializable read)",
                      caught_up())

        # A rolling upgrade under write load: deploy/vm/rolling-upgrade.py with this
        # rehearsal's ssh and scp. The "new" binary is a copy of this build.
        r.serve_control(f"{work}/control.sock")
        new_binary = f"{work}/quorumd-new"
        shutil.copy(r.quorumd, new_binary)
        load_stop = threading.Event()
        acks = []  # times of acknowledged writes during the upgrade
        samples = []  # (members answering, members healthy)

        def load():
            while not load_stop.is_set():
                ok, _, _ = write("upgrade load")
                if ok:
                    acks.append(time.time())

        def sample():
            while not load_stop.is_set():
                samples.append(r.health_answers())
                load_stop.wait(0.2)
        threads = [threading.Thread(target=load), threading.Thread(target=sample)]
        for t in threads:
            t.start()
        upgrade_started = time.time()
        res = subprocess.run(
            ["/usr/bin/python3", f"{r.repo}/deploy/vm/rolling-upgrade.py", "--binary", new_binary,
             "--admin", f"{r.kits}/admin"] + [f"{vm}={r.ips[vm]}" for vm in r.vms],
            capture_output=True, text=True, timeout=600, env=r.remote_env())
        upgrade_took = time.time() - upgrade_started
        load_stop.set()
        for t in threads:
            t.join(timeout=60)
        print("      " + res.stdout.strip().replace("\n", "\n      "), flush=True)
        check(f"rolling upgrade of {len(r.vms)} members finished ({upgrade_took:.0f} s)",
              res.returncode == 0, res.stdout + res.stderr)
        quorum = len(r.vms) // 2 + 1
        low = min((a for a, _ in samples), default=0)
        check(f"a majority of members up at every one of {len(samples)} samples during the "
              f"upgrade (fewest up: {low}, fewest healthy: "
              f"{min((h for _, h in samples), default=0)})",
              samples and low >= quorum, f"samples: {samples}")
        times = [upgrade_started] + acks + [upgrade_started + upgrade_took]
        gap = max(b - a for a, b in zip(times, times[1:]))
        check(f"writes went on through the upgrade ({len(acks)} acknowledged, longest gap "
              f"{gap:.1f} s)", len(acks) > 0 and gap < 10)

        rc, out, _ = r.etcdctl(["get", "rehearsal/", "--prefix", "--keys-only"], timeout="10s")
        present = set(out.split())
        lost = [k for k in acknowledged if k not in present]
        check(f"all {len(acknowledged)} acknowledged writes are there", rc == 0 and not lost,
              f"lost: {lost[:10]}")
        check("the write refused on the isolated leader is nowhere", "rehearsal/stale" not in present)
    finally:
        r.teardown()
        if args.keep or (checks and not all(checks)):
            print(f"logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    passed = sum(checks)
    print(f"{len(r.vms)} VMs: {passed} passed, {len(checks) - passed} failed in "
          f"{time.time() - started:.0f} s")
    return 0 if checks and all(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
