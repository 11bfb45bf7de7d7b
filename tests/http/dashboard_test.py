#!/usr/bin/python3
"""The dashboard page (GET /dashboard) in headless Chromium, driven through the Chrome DevTools
Protocol, while quorumd members are killed.

  --scenario kills  5 members; the page is opened on m1 and must show, each within 3 s: a
                    follower killed (4/5 up), the leader killed (3/5 up; the verdict counted
                    from the moment the survivors have elected a new leader, as no page can
                    show a leader before there is one), a third member killed (NO QUORUM),
                    then m1 itself (the page says so and keeps asking the others). The
                    delays are printed. --screenshot saves the page after the first kill.
  --scenario auth   3 members with auth enabled: the page asks for credentials, refuses a wrong
                    password, and shows the members once signed in as root.

Members and Chromium run on loopback ports picked here and are killed by PID (Chromium by the
process group it leads) at the end. Debian's python3: it has the websocket module.

usage: dashboard_test.py QUORUMD --scenario kills|auth [--chromium PATH] [--screenshot PNG]
"""
import argparse
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import websocket  # Debian: python3-websocket

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat"))
from etcdctl_diff import free_port  # noqa: E402  (the tests' shared port picker)

# The done-when of the dashboard: a change shows on the page within this long.
SHOW_WITHIN_S = 3.0

checks = []


def check(name, ok, detail=""):
    checks.append(ok)
    print(("PASS  " if ok else "FAIL  ") + name + ("" if ok else f"\n      {detail}"), flush=True)
    return ok


def post(url, body, token=None, timeout=2.0):
    """POST of a JSON body; (HTTP status, decoded JSON or None). Status 0: no answer."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    if token:
        request.add_header("Authorization", token)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"null")
        except ValueError:
            return e.code, None
    except (OSError, ValueError):
        return 0, None


def get(url, token=None, timeout=2.0):
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", token)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return 0, b""


class Cluster:
    """quorumd members on loopback, started here and killed by PID."""

    def __init__(self, quorumd, size, work):
        self.work = work
        self.names = [f"m{i}" for i in range(1, size + 1)]
        self.client = {n: free_port() for n in self.names}
        self.peer = {n: free_port() for n in self.names}
        self.procs = {}
        initial = ",".join(f"{n}=http://127.0.0.1:{self.peer[n]}" for n in self.names)
        for n in self.names:
            log = open(f"{work}/{n}.log", "wb")
            self.procs[n] = subprocess.Popen(
                [quorumd, "--name", n, "--data-dir", f"{work}/{n}",
                 "--listen-client-urls", self.url(n), "--advertise-client-urls", self.url(n),
                 "--listen-peer-urls", f"http://127.0.0.1:{self.peer[n]}",
                 "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer[n]}",
                 "--initial-cluster", initial, "--initial-cluster-token", "dashboard-test"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            log.close()

    def url(self, name):
        return f"http://127.0.0.1:{self.client[name]}"

    def alive(self):
        return [n for n in self.names if self.procs[n].poll() is None]

    def status(self, name, timeout=0.5):
        code, body = post(self.url(name) + "/v3/maintenance/status", {}, timeout=timeout)
        return body if code == 200 else None

    def member_id(self, name):
        return self.status(name)["header"]["member_id"]

    def name_of(self, member_id):
        for n in self.names:
            s = self.status(n)
            if s and s["header"]["member_id"] == member_id:
                return n
        return None

    def live_leader(self, among=None, timeout=0.3):
        """The leader a live member (of `among`) reports, if that leader itself answers."""
        ids = {}
        reported = set()
        for n in among or self.alive():
            s = self.status(n, timeout=timeout)
            if s:
                ids[s["header"]["member_id"]] = n
                if s.get("leader", "0") != "0":
                    reported.add(s["leader"])
        for leader in reported:
            if leader in ids:
                return ids[leader]
        return None

    def wait_ready(self, timeout=30):
        """Every member answers, names the same leader, and is listed with its client URL."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            statuses = [self.status(n) for n in self.names]
            if all(statuses) and len({s.get("leader", "0") for s in statuses}) == 1 \
                    and statuses[0].get("leader", "0") != "0":
                code, listed = post(self.url(self.names[0]) + "/v3/cluster/member/list", {})
                members = (listed or {}).get("members", [])
                if code == 200 and len(members) == len(self.names) and \
                        all(m.get("clientURLs") for m in members):
                    return True
            time.sleep(0.1)
        return False

    def kill(self, name):
        proc = self.procs[name]
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def stop(self):
        for n in self.names:
            self.kill(n)


class Browser:
    """Headless Chromium with one page, driven over the DevTools websocket."""

    def __init__(self, chromium, work):
        self.port = free_port()
        self.log = open(f"{work}/chromium.log", "wb")
        # Root in CI: Chromium's sandbox needs --no-sandbox there.
        self.proc = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
             f"--remote-debugging-port={self.port}", "--remote-allow-origins=*",
             f"--user-data-dir={work}/chromium-profile", "--window-size=1400,760",
             "about:blank"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.ws = None
        self.next_id = 0
        deadline = time.time() + 30
        while time.time() < deadline and self.ws is None:
            code, body = get(f"http://127.0.0.1:{self.port}/json/list", timeout=1)
            if code == 200:
                pages = [t for t in json.loads(body) if t.get("type") == "page"]
                if pages:
                    self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"],
                                                          timeout=10, suppress_origin=True)
                    break
            time.sleep(0.2)
        if self.ws is None:
            raise RuntimeError("Chromium did not offer a page to drive within 30 s")

    def send(self, method, params=None, timeout=10):
        self.next_id += 1
        mine = self.next_id
        self.ws.send(json.dumps({"id": mine, "method": method, "params": params or {}}))
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.ws.settimeout(max(0.1, deadline - time.time()))
            message = json.loads(self.ws.recv())
            if message.get("id") == mine:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
        raise TimeoutError(f"{method}: no answer within {timeout} s")

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate",
                           {"expression": expression, "returnByValue": True,
                            "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluate: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path):
        # The whole page, not only the window's height.
        size = self.send("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        data = self.send("Page.captureScreenshot", {"format": "png", "clip": clip,
                                                    "captureBeyondViewport": True})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        if self.ws is not None:
            self.ws.close()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group Chromium leads (its helpers)
            self.proc.wait(timeout=10)
        self.log.close()


# What the page shows, read from its DOM.
PAGE_STATE = """(() => {
  if (!document.getElementById('verdict')) return 'null';  // still loading
  const shown = (id) => document.getElementById(id).getClientRects().length > 0;
  const rows = [...document.querySelectorAll('#members tbody tr')].map((r) => ({
    name: r.dataset.name, up: r.dataset.up === 'true', role: r.dataset.role,
    text: r.innerText}));
  const changes = [...document.querySelectorAll('#leader-changes tbody tr')].map(
    (r) => r.innerText);
  return JSON.stringify({
    verdict: document.getElementById('verdict').textContent,
    board: shown('board'),
    login: shown('login'),
    loginError: document.getElementById('login-error').textContent,
    selfDown: shown('self-down'),
    rows, changes});
})()"""


def page_state(browser):
    return json.loads(browser.evaluate(PAGE_STATE))


def wait_page(browser, predicate, timeout, since=None):
    """Polls the page until `predicate(state)` holds, for `timeout` seconds from `since` (default:
    now); (seconds from `since` it took or None, last state)."""
    start = time.time() if since is None else since
    state = None
    while time.time() - start < timeout:
        state = page_state(browser)
        if state is not None and predicate(state):
            return time.time() - start, state
        time.sleep(0.05)
    return None, state


def shows(state, up, down, verdict):
    rows = {r["name"]: r for r in state["rows"]}
    return state["board"] and state["verdict"] == verdict and \
        all(n in rows and rows[n]["up"] for n in up) and \
        all(n in rows and not rows[n]["up"] for n in down)


def verdict_text(up, voters):
    quorum = voters // 2 + 1
    head = f"{up}/{voters} members up · quorum {quorum}"
    if up < quorum:
        missing = quorum - up
        return (f"{head} · NO QUORUM: writes unavailable · need {missing} more "
                f"member{'' if missing == 1 else 's'} up")
    return f"{head} · writes available · can lose {up - quorum} more"


def run_kills(cluster, browser, screenshot):
    served = "m1"
    names = cluster.names
    browser.send("Page.navigate", {"url": cluster.url(served) + "/dashboard"})
    took, state = wait_page(browser, lambda s: shows(s, names, [], verdict_text(5, 5)), 15)
    if not check("the page shows 5 members up and the verdict", took is not None, state):
        return
    leader = cluster.live_leader()
    print(f"      leader: {leader}; page served by {served}")
    check("the page marks the leader", any(r["name"] == leader and r["role"] == "leader"
                                           for r in state["rows"]), state["rows"])

    # 1. A follower.
    follower = next(n for n in names if n not in (served, leader))
    killed_at = time.time()
    cluster.kill(follower)
    took, state = wait_page(
        browser, lambda s: shows(s, [n for n in names if n != follower], [follower],
                                 verdict_text(4, 5)), SHOW_WITHIN_S, since=killed_at)
    delay_follower = took
    check(f"follower {follower} killed: down and '{verdict_text(4, 5)}' within "
          f"{SHOW_WITHIN_S:.0f} s", took is not None, state)
    if screenshot:
        browser.screenshot(screenshot)
        print(f"      screenshot: {screenshot}")

    # 2. The leader; the page's own member must stay up, so it hands leadership on first.
    leader = cluster.live_leader()
    if leader == served:
        target = next(n for n in cluster.alive() if n != served)
        post(cluster.url(served) + "/v3/maintenance/transfer-leadership",
             {"targetID": cluster.member_id(target)}, timeout=10)
        deadline = time.time() + 10
        while time.time() < deadline and cluster.live_leader() != target:
            time.sleep(0.1)
        leader = cluster.live_leader()
        print(f"      leadership moved to {leader} before the leader kill")
        wait_page(browser, lambda s: any(r["name"] == leader and r["role"] == "leader"
                                         for r in s["rows"]), SHOW_WITHIN_S)
    check("the leader to kill is not the page's member", leader not in (None, served), leader)
    if leader in (None, served):
        return
    before = page_state(browser)["changes"]
    survivors = [n for n in names if n not in (follower, leader)]
    # When the survivors have a new leader, as this script sees it by polling them closely.
    elected = {}
    stop_watch = threading.Event()

    def watch_election():
        while not stop_watch.is_set():
            new = cluster.live_leader(among=survivors, timeout=0.2)
            if new is not None:
                elected["at"] = time.time()
                elected["leader"] = new
                return
            time.sleep(0.02)

    killed_at = time.time()
    cluster.kill(leader)
    watcher = threading.Thread(target=watch_election)
    watcher.start()
    try:
        took_down, state = wait_page(browser, lambda s: shows(s, [], [leader], s["verdict"]),
                                     SHOW_WITHIN_S, since=killed_at)
        check(f"leader {leader} killed: shown down within {SHOW_WITHIN_S:.0f} s",
              took_down is not None, state)
        # The election takes about an election timeout (1 s) after the last heartbeat.
        verdict_after_kill, state = wait_page(
            browser, lambda s: shows(s, survivors, [follower, leader], verdict_text(3, 5)),
            SHOW_WITHIN_S + 10, since=killed_at)
        watcher.join(timeout=SHOW_WITHIN_S + 10)
    finally:
        stop_watch.set()
        watcher.join()
    delay_leader = None
    if verdict_after_kill is not None and "at" in elected:
        # Negative when the page's poll saw the new leader before this script's did.
        delay_leader = max(0.0, killed_at + verdict_after_kill - elected["at"])
    check(f"new verdict '{verdict_text(3, 5)}' within {SHOW_WITHIN_S:.0f} s of the new "
          f"leader's election", delay_leader is not None and delay_leader <= SHOW_WITHIN_S,
          f"election at +{elected.get('at', killed_at) - killed_at:.2f} s, state {state}")
    election = elected.get("at", killed_at) - killed_at
    new_leader = elected.get("leader") or cluster.live_leader()
    took_change, state = wait_page(
        browser, lambda s: len(s["changes"]) > len(before) and
        any(new_leader and new_leader in c for c in s["changes"]), SHOW_WITHIN_S)
    check(f"leader changes list the election of {new_leader}", took_change is not None,
          {"before": before, "after": state["changes"]})

    # 3. One more: the quorum is gone.
    third = next(n for n in survivors if n != served)
    killed_at = time.time()
    cluster.kill(third)
    took, state = wait_page(
        browser, lambda s: shows(s, [], [follower, leader, third], verdict_text(2, 5)),
        SHOW_WITHIN_S, since=killed_at)
    delay_quorum = took
    check(f"{third} killed: '{verdict_text(2, 5)}' within {SHOW_WITHIN_S:.0f} s",
          took is not None, state)

    # 4. The page's own member: the page says so and goes on with what the others answer.
    killed_at = time.time()
    cluster.kill(served)
    took, state = wait_page(
        browser, lambda s: s["selfDown"] and
        shows(s, [], [follower, leader, third, served], verdict_text(1, 5)), SHOW_WITHIN_S,
        since=killed_at)
    delay_self = took
    check(f"{served} (serving the page) killed: the page says so and shows "
          f"'{verdict_text(1, 5)}' within {SHOW_WITHIN_S:.0f} s", took is not None, state)

    def fmt(s):
        return "-" if s is None else f"{s:.2f} s"
    print(f"      delays: follower down {fmt(delay_follower)}; leader down {fmt(took_down)} "
          f"(election +{election:.2f} s after the kill, verdict {fmt(delay_leader)} after the "
          f"election, {fmt(verdict_after_kill)} after the kill); quorum lost {fmt(delay_quorum)}; "
          f"serving member down {fmt(delay_self)}")


def run_auth(cluster, browser):
    served = "m1"
    url = cluster.url(served)
    steps = [("auth/user/add", {"name": "root", "password": "rootpw"}),
             ("auth/role/add", {"name": "root"}),
             ("auth/user/grant", {"user": "root", "role": "root"}),
             ("auth/enable", {})]
    for path, body in steps:
        code, answer = post(f"{url}/v3/{path}", body, timeout=10)
        if not check(f"POST /v3/{path}", code == 200, (code, answer)):
            return
    code, body = get(url + "/dashboard/events")
    check("/dashboard/events without a token answers etcd's auth error",
          code != 200 and b"user name is empty" in body, (code, body))
    code, body = get(url + "/dashboard")
    check("/dashboard itself is served without credentials", code == 200 and b"<form" in body,
          code)

    browser.send("Page.navigate", {"url": url + "/dashboard"})
    took, state = wait_page(browser, lambda s: s["login"] and not s["board"], 10)
    check("the page asks for credentials and shows no cluster state", took is not None, state)

    def sign_in(user, password):
        browser.evaluate(f"""(() => {{
          document.getElementById('login-user').value = {json.dumps(user)};
          document.getElementById('login-password').value = {json.dumps(password)};
          document.getElementById('login').requestSubmit();
        }})()""")

    sign_in("root", "wrong")
    took, state = wait_page(browser, lambda s: "authentication failed" in s["loginError"], 10)
    check("a wrong password is refused on the form", took is not None and not state["board"],
          state)
    sign_in("root", "rootpw")
    took, state = wait_page(browser, lambda s: not s["login"] and
                            shows(s, cluster.names, [], verdict_text(3, 3)), 10)
    check(f"signed in as root: 3 members up and '{verdict_text(3, 3)}'", took is not None, state)
    # The token stays in use: the page keeps refreshing with it.
    time.sleep(2.5)
    state = page_state(browser)
    check("the page stays signed in across refreshes",
          state["board"] and not state["login"] and shows(state, cluster.names, [],
                                                          verdict_text(3, 3)), state)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("quorumd")
    parser.add_argument("--scenario", choices=["kills", "auth"], required=True)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--screenshot", help="PNG file for the page after the first kill")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="quorum-dashboard-")
    cluster = browser = None
    try:
        cluster = Cluster(args.quorumd, 5 if args.scenario == "kills" else 3, work)
        if check("the cluster is ready", cluster.wait_ready()):
            browser = Browser(args.chromium, work)
            if args.scenario == "kills":
                run_kills(cluster, browser, args.screenshot)
            else:
                run_auth(cluster, browser)
    finally:
        if browser is not None:
            browser.close()
        if cluster is not None:
            cluster.stop()
        if checks and not all(checks):
            for name in sorted(os.listdir(work)):
                if name.endswith(".log"):
                    with open(os.path.join(work, name), errors="replace") as f:
                        tail = f.readlines()[-15:]
                    print(f"--- {name} (last lines)\n" + "".join(tail))
        shutil.rmtree(work, ignore_errors=True)
    passed = sum(1 for c in checks if c)
    print(f"{passed} passed, {len(checks) - passed} failed")
    return 0 if checks and all(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
