"""A leader and a standby allotd over one private PostgreSQL server, two real agents, and
clients that follow the leader: the failover scenario that tests/integration/test_failover.py
checks and bench/bench_failover.py repeats. Python standard library only.

    pair = Pair(allotd, agent, srcdir)   # A leads, B waits as a standby, 2 agents report
    figures = pair.failover()            # kill -9 the leader while 8 clients submit
    pair.close()                         # stops everything it started, by pid
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

import allotd_harness
import pgcluster

UID_BASE = 1_600_000_000 + (os.getpid() % 30000) * 4000
TRAP = "trap 'echo got TERM; exit 0' TERM; echo started $$; while true; do sleep 0.05; done"


def http(url, method, path, body=None, token=None, timeout=5):
    """One request, no redirect followed. RET (status, headers, body as JSON or text); status
    None when the connection failed."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=timeout) as r:
            text = r.read().decode()
            status, headers = r.status, r.headers
    except urllib.error.HTTPError as e:
        text, status, headers = e.read().decode(), e.code, e.headers
    except OSError:
        return None, {}, None
    try:
        return status, headers, json.loads(text)
    except ValueError:
        return status, headers, text


class Client:
    """What allot's CLI does with several servers: a connect failure or a standby's answer
    moves to the leader it names (only if configured) or to the next server."""

    def __init__(self, servers, token):
        self.servers, self.token, self.at = list(servers), token, 0

    def request(self, method, path, body=None, deadline_s=30):
        deadline = time.time() + deadline_s
        while time.time() < deadline:
            for _ in range(len(self.servers)):
                st, h, r = http(self.servers[self.at], method, path, body, self.token)
                if st is not None and h.get("X-Allot-Role") != "standby":
                    return st, r
                leader = h.get("X-Allot-Leader") if st is not None else None
                if leader in self.servers:
                    self.at = self.servers.index(leader)
                else:
                    self.at = (self.at + 1) % len(self.servers)
            time.sleep(0.05)
        return None, "no leader answered"


class Pair:
    made = 0

    def __init__(self, allotd, agent, src, log=print):
        self.allotd, self.agent, self.log = allotd, agent, log
        self.tmp = tempfile.mkdtemp(prefix="allot-failover-")
        os.chmod(self.tmp, 0o711)
        self.cluster = pgcluster.shared()
        Pair.made += 1  # a database of its own: admin.token is written by its first leader
        self.uri = self.cluster.database(f"failover_{os.getpid()}_{Pair.made}")
        self.ports = [allotd_harness.free_port(), allotd_harness.free_port()]
        self.urls = [f"http://127.0.0.1:{p}" for p in self.ports]
        self.daemons = [None, None]
        self.agents = {}
        self.platform = os.path.join(src, "examples", "platform.yaml")
        try:
            self.start(agent)
        except BaseException:
            self.close()  # nothing started is left behind when the start fails half-way
            raise

    def start(self, agent):
        self.start_daemon(0)
        self.wait_role(0, "leader")
        self.start_daemon(1)
        self.wait_role(1, "standby")
        with open(os.path.join(self.tmp, "data0", "admin.token")) as f:
            self.admin = f.read().strip()
        self.client = Client(self.urls, self.admin)
        for i, node in enumerate(("gpu-a", "gpu-b")):
            st, r = self.client.request("POST", "/v1/tokens", {"node": node})
            assert st == 201, (st, r)
            work = os.path.join(self.tmp, node)
            os.mkdir(work)
            logf = open(os.path.join(self.tmp, node + ".log"), "ab")
            self.agents[node] = (subprocess.Popen(
                [agent, "--server", ",".join(self.urls), "--node", node, "--token", r["token"],
                 "--gpus", "8xH100-80GB", "--work-dir", work, "--interval", "200ms",
                 "--cgroup-mode", "none", "--uid-range", f"{UID_BASE + 1000 * i}:1000"],
                stdout=logf, stderr=logf), logf)

    def start_daemon(self, i):
        data = os.path.join(self.tmp, f"data{i}")
        os.makedirs(data, exist_ok=True)
        logf = open(data + ".log", "ab")
        self.daemons[i] = (subprocess.Popen(
            [self.allotd, "--listen", f"127.0.0.1:{self.ports[i]}", "--data", data, "--store",
             self.uri, "--platform", self.platform, "--no-virtual-nodes"],
            stdout=logf, stderr=logf), logf)

    def role(self, i):
        st, _, r = http(self.urls[i], "GET", "/readyz", timeout=2)
        return r.get("role") if isinstance(r, dict) else None

    def wait_role(self, i, role, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.role(i) == role:
                return time.time()
            time.sleep(0.01)
        raise AssertionError(f"allotd {i} is not {role} after {timeout}s: {self.daemon_log(i)}")

    def daemon_log(self, i):
        with open(os.path.join(self.tmp, f"data{i}.log")) as f:
            return f.read()[-2000:]

    def leader(self):
        return next(i for i in (0, 1) if self.role(i) == "leader")

    def workload(self, name):
        st, r = self.client.request("GET", f"/v1/workloads/{name}")
        assert st == 200, (name, st, r)
        return r

    def wait_state(self, name, states, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            w = self.workload(name)
            if w["state"] in states:
                return w
            time.sleep(0.05)
        raise AssertionError(f"{name} is {w['state']}, not {states}")

    def started_pids(self):
        """Pids that the steady workloads printed ("started PID"), one line per start."""
        pids = []
        for node in self.agents:
            for root, _, files in os.walk(os.path.join(self.tmp, node)):
                if "stdout.log" in files:
                    with open(os.path.join(root, "stdout.log")) as f:
                        pids += [int(line.split()[1]) for line in f
                                 if line.startswith("started ")]
        return sorted(pids)

    def steady(self, names):
        for name in names:
            st, r = self.client.request("POST", "/v1/workloads", {
                "name": name, "workspace": "acme/prod", "gpus": 2,
                "command": ["/bin/sh", "-c", TRAP]})
            assert st == 201, (st, r)
        for name in names:
            self.wait_state(f"acme/prod/{name}", ("running",))
        deadline = time.time() + 20
        while len(self.started_pids()) < len(names) and time.time() < deadline:
            time.sleep(0.05)
        pids = self.started_pids()
        assert len(pids) == len(names), pids
        return pids

    def held_twice(self):
        """GPUs (node, index) that two live workloads hold at once, per the leader."""
        seen, twice = set(), []
        for state in ("running", "draining"):
            after = -1
            while True:
                st, r = self.client.request(
                    "GET", f"/v1/workloads?state={state}&limit=1000&after={after}")
                assert st == 200, (st, r)
                for w in r["items"]:
                    for p in w.get("placement") or []:
                        for g in p["gpus"]:
                            if (p["node"], g) in seen:
                                twice.append((p["node"], g))
                            seen.add((p["node"], g))
                if "next" not in r:
                    break
                after = r["next"]
        return twice

    def failover(self, clients=8, run_s=1.5, tag="r"):
        """kill -9 the leader while `clients` threads submit; RET figures (seconds): until
        the standby says leader, until it acknowledges a submission, until it places one."""
        old = self.leader()
        acked, lock, stop = [], threading.Lock(), threading.Event()
        first_after = []

        def submitter(k):
            c = Client(self.urls[old:] + self.urls[:old], self.admin)
            n = 0
            while not stop.is_set():
                name = f"{tag}-c{k}-{n}"
                sent = time.time()
                st, r = c.request("POST", "/v1/workloads", {
                    "name": name, "workspace": "acme/research", "gpus": 1,
                    "idempotency_key": name, "command": ["true"]}, deadline_s=20)
                if st in (200, 201):
                    with lock:
                        acked.append(name)
                        if killed_at[0] and sent > killed_at[0]:
                            first_after.append((time.time(), name))
                n += 1
                time.sleep(0.02)
        killed_at = [0.0]
        threads = [threading.Thread(target=submitter, args=(k,)) for k in range(clients)]
        for t in threads:
            t.start()
        time.sleep(run_s)
        proc = self.daemons[old][0]
        killed_at[0] = time.time()
        proc.kill()
        proc.wait()
        new = 1 - old
        led = self.wait_role(new, "leader")
        deadline = time.time() + 20
        while not first_after and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(run_s)
        stop.set()
        for t in threads:
            t.join()
        assert first_after, "no submission acknowledged after the kill"
        acked_at, probe = min(first_after)
        w = self.wait_state(f"acme/research/{probe}", ("running", "finished"))
        placed_at = w["started"] / 1000.0
        self.daemons[old][1].close()
        self.start_daemon(old)  # back as a standby, for the next round
        self.wait_role(old, "standby")
        return {"leader_s": led - killed_at[0], "acked_s": acked_at - killed_at[0],
                "placed_s": placed_at - killed_at[0], "acked": acked}

    def close(self):
        for proc, logf in self.agents.values():
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)
            logf.close()
        # workloads outlive their agent on purpose (adoption): stop every process under tmp
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    if os.readlink(f"/proc/{pid}/cwd").startswith(self.tmp):
                        os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
        for d in self.daemons:
            if d and d[0].poll() is None:
                d[0].terminate()
                d[0].wait(timeout=10)
            if d:
                d[1].close()
        shutil.rmtree(self.tmp, ignore_errors=True)
