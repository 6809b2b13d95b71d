#!/usr/bin/env python3
"""The clients' way to the leader among several servers (docs/cli.md, "Several servers"): the
real allotd is the leader; small http.server stand-ins answer as a standby does (307 naming
the leader, or 503 when it knows none), or as something that is no standby at all. The real
`allot` and `allot-agent` are given lists of them and must reach the leader, never send
anything to a URL outside their list, and stop at answers that are final.
Usage: test_cli_failover.py ALLOT ALLOTD ALLOT_AGENT SRCDIR"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import allotd_harness  # noqa: E402

ALLOT = sys.argv[1] if len(sys.argv) > 1 else "build/allot"
ALLOTD = sys.argv[2] if len(sys.argv) > 2 else "build/allotd"
AGENT = sys.argv[3] if len(sys.argv) > 3 else "build/allot-agent"
SRC = sys.argv[4] if len(sys.argv) > 4 else "."
PLATFORM = os.path.join(SRC, "examples", "platform.yaml")

free_port = allotd_harness.free_port


class StandIn:
    """An HTTP server on a free loopback port that answers every request but GET /healthz and
    GET /readyz as the protocol's standby does, and records what it received.
    mode: "standby" (307 to leader when leader is set, else 503), "redirect" (a plain 307 to
    leader without X-Allot-Role: not a standby) or "error" (a plain 500)."""

    def __init__(self, leader=None, mode="standby"):
        self.leader = leader
        self.mode = mode
        self.received = []  # (method, path, headers as a dict with lower-case names)
        self.lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                with stand_in.lock:
                    stand_in.received.append(
                        (self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
                if self.command == "GET" and self.path in ("/healthz", "/readyz"):
                    return self.send(200, {}, {"status": "ok"})
                if stand_in.mode == "error":
                    return self.send(500, {}, {"error": {"code": "INTERNAL", "message": "boom"}})
                if stand_in.mode == "redirect":
                    return self.send(307, {"Location": stand_in.leader + self.path},
                                     {"error": {"code": "MOVED", "message": "moved"}})
                if stand_in.leader:
                    return self.send(307, {"Location": stand_in.leader + self.path,
                                           "X-Allot-Role": "standby",
                                           "X-Allot-Leader": stand_in.leader},
                                     {"error": {"code": "STANDBY", "message":
                                                "this allotd is a standby; the leader is "
                                                + stand_in.leader}})
                return self.send(503, {"X-Allot-Role": "standby", "Retry-After": "1"},
                                 {"error": {"code": "UNAVAILABLE",
                                            "message": "no leader is known now"}})

            def send(self, status, headers, body):
                text = json.dumps(body).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def requests(self):
        with self.lock:
            return list(self.received)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class FailoverTest(unittest.TestCase):
    """The allot CLI against a standby stand-in and the real allotd as the leader."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="allot-failover-")
        self.home = os.path.join(self.tmp, "home")
        os.mkdir(self.home)
        self.d = allotd_harness.Daemon(ALLOTD, os.path.join(self.tmp, "data"), PLATFORM)
        self.addCleanup(self.stop_daemon)
        # a URL that is in no list: a standby naming it as the leader must not reach it
        self.outsider = self.stand_in()
        self.standby = self.stand_in(leader=self.d.url)

    def stop_daemon(self):
        if self.d.proc.poll() is None:
            self.d.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def stand_in(self, leader=None, mode="standby"):
        s = StandIn(leader, mode)
        self.addCleanup(s.stop)
        return s

    def allot(self, *args, server, timeout="20s"):
        """Run allot with ALLOT_SERVER=server and the admin's token in a clean environment
        (HOME in the temporary directory: no config file of the machine is read).
        RET (exit code, stdout, stderr)."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("ALLOT_") and k != "XDG_CONFIG_HOME"}
        env.update(HOME=self.home, ALLOT_SERVER=server, ALLOT_TOKEN=self.d.admin,
                   ALLOT_TIMEOUT=timeout)
        p = subprocess.run([ALLOT, *args], env=env, capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout, p.stderr

    def ok(self, *args, server):
        rc, out, err = self.allot(*args, server=server)
        self.assertEqual(rc, 0, f"allot {' '.join(args)}: {err}")
        return out

    def workloads(self):
        st, r = self.d.request("GET", "/v1/workloads?limit=100", token=self.d.admin)
        self.assertEqual(st, 200, r)
        return sorted(w["name"].rsplit("/", 1)[-1] for w in r["items"])

    def assert_outsider_untouched(self):
        self.assertEqual(self.outsider.requests(), [],
                         "a URL outside the configured servers was sent a request")

    def test_standby_first_then_leader(self):
        servers = f"{self.standby.url},{self.d.url}"
        out = self.ok("submit", "-w", "acme/research", "--name", "via-standby", "--gpus", "1",
                      "--duration", "30s", server=servers)
        self.assertIn("via-standby", out)
        self.assertIn("via-standby", self.workloads())
        self.assertIn("via-standby", self.ok("ls", server=servers))
        # the standby was asked first each time, and nothing else was sent to it
        asked = self.standby.requests()
        self.assertEqual([m for m, _, _ in asked], ["POST", "GET"], asked)
        self.assertEqual(asked[0][1], "/v1/workloads")
        # the event stream finds the leader the same way: the list, then the watch till its end
        rc, out, err = self.allot("ls", "--watch", "--watch-timeout", "500ms", server=servers)
        self.assertEqual(rc, 0, err)
        self.assertIn("via-standby", out)
        self.assertEqual([p for _, p, _ in self.standby.requests()[2:]][:1], ["/v1/events"])
        self.assert_outsider_untouched()

    def test_flag_lists(self):
        env = {"HOME": self.home, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        p = subprocess.run([ALLOT, "ls", "--server", self.standby.url, "--server",
                            f"http://127.0.0.1:{free_port()}, {self.d.url}/",
                            "--token", self.d.admin], env=env, capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(self.standby.requests()), 1)
        # the config file's server line holds a list too
        conf = os.path.join(self.home, ".config", "allot")
        os.makedirs(conf)
        with open(os.path.join(conf, "config"), "w") as f:
            f.write(f"server = {self.standby.url},{self.d.url}\ntoken = {self.d.admin}\n")
        os.chmod(os.path.join(conf, "config"), 0o600)
        p = subprocess.run([ALLOT, "ls"], env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(self.standby.requests()), 2)
        # a bad URL of a list is named, with where it came from
        p = subprocess.run([ALLOT, "ls", "--server", f"{self.d.url},ftp://x"], env=env,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--server: expected a URL such as http://127.0.0.1:7070, got 'ftp://x'",
                      p.stderr)
        self.assert_outsider_untouched()

    def test_standby_dead_port_leader(self):
        dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        servers = f"{self.standby.url},{dead},{self.d.url}"
        # the standby names the leader: straight to it
        self.ok("submit", "-w", "acme/research", "--name", "first", "--gpus", "1",
                "--duration", "30s", server=servers)
        # a standby that knows no leader (503): the next, refused, then the leader
        self.standby.leader = None
        self.ok("submit", "-w", "acme/research", "--name", "second", "--gpus", "1",
                "--duration", "30s", server=servers)
        # a standby that names the dead one (configured) as the leader: there, then on
        self.standby.leader = dead
        self.ok("submit", "-w", "acme/research", "--name", "third", "--gpus", "1",
                "--duration", "30s", server=servers)
        self.assertEqual([n for n in self.workloads() if n in ("first", "second", "third")],
                         ["first", "second", "third"])
        self.assertIn("third", self.ok("ls", server=servers))
        self.assertEqual(len([r for r in self.standby.requests() if r[0] == "POST"]), 3)
        self.assert_outsider_untouched()

    def test_leader_not_configured(self):
        self.standby.leader = self.outsider.url
        # one server: at once, the clear message
        started = time.monotonic()
        rc, out, err = self.allot("submit", "-w", "acme/research", "--name", "lost", "--gpus",
                                  "1", server=self.standby.url)
        self.assertEqual(rc, 3, err)
        self.assertIn(f"allot: {self.standby.url} is a standby; the leader is "
                      f"{self.outsider.url}, which is not among --server/ALLOT_SERVER", err)
        self.assertLess(time.monotonic() - started, 10)
        # the token went to the standby (configured), and only there
        asked = self.standby.requests()
        self.assertEqual(len(asked), 1)
        self.assertEqual(asked[0][2].get("authorization"), f"Bearer {self.d.admin}")
        self.assert_outsider_untouched()
        # several servers, none the leader: tried again until the timeout, then each one's
        # answer is said
        dead = f"http://127.0.0.1:{free_port()}"
        started = time.monotonic()
        rc, out, err = self.allot("ls", server=f"{self.standby.url},{dead}", timeout="2s")
        took = time.monotonic() - started
        self.assertEqual(rc, 3, err)
        self.assertGreater(took, 1.0)
        self.assertLess(took, 10)
        self.assertIn(f"cannot reach the server at {self.standby.url}: a standby; the leader is "
                      f"{self.outsider.url}, which is not among --server/ALLOT_SERVER; at {dead}:",
                      err)
        self.assertIn("no leader answered within 2000 ms", err)
        self.assertGreater(len(self.standby.requests()), 2)  # asked again after a pause
        self.assert_outsider_untouched()
        self.assertNotIn("lost", self.workloads())

    def test_final_answers_are_not_retried(self):
        # a 500 is the answer, even with the leader next in the list: a POST is not sent twice
        broken = self.stand_in(mode="error")
        rc, out, err = self.allot("submit", "-w", "acme/research", "--name", "once", "--gpus",
                                  "1", server=f"{broken.url},{self.d.url}")
        self.assertEqual(rc, 1, err)
        self.assertIn("boom", err)
        self.assertNotIn("once", self.workloads())
        # a plain redirect (no X-Allot-Role: standby) is not followed, to the leader or anywhere
        moved = self.stand_in(leader=self.outsider.url, mode="redirect")
        rc, out, err = self.allot("ls", server=f"{moved.url},{self.d.url}")
        self.assertEqual(rc, 1, err)
        self.assertEqual(err, "allot: moved\n")  # the answer's own message
        self.assertEqual(len(moved.requests()), 1)
        self.assert_outsider_untouched()


class AgentFailoverTest(unittest.TestCase):
    """allot-agent for node gpu-a, given a standby stand-in and the real allotd."""

    def setUp(self):
        self.pids = set()  # workload processes seen, stopped at the end by pid
        self.agent = None
        self.tmp = tempfile.mkdtemp(prefix="allot-failover-agent-")
        self.addCleanup(self.cleanup)
        self.work = os.path.join(self.tmp, "gpu-a")
        for path, mode in ((self.tmp, 0o711),  # workload users reach their directories
                           (self.work, 0o700), (os.path.join(self.tmp, "cgroup"), 0o700)):
            os.makedirs(path, exist_ok=True)
            os.chmod(path, mode)
        self.d = self.daemon()
        self.outsider = StandIn()
        self.standby = StandIn(leader=self.d.url)

    def daemon(self, port=None):
        """The leader: allotd over the test's data, the node's work left to its agent."""
        return allotd_harness.Daemon(ALLOTD, os.path.join(self.tmp, "data"), PLATFORM,
                                     ["--no-virtual-nodes"], port=port)

    def cleanup(self):
        if self.agent and self.agent.poll() is None:
            self.agent.terminate()
            self.agent.wait(timeout=10)
        # workloads outlive their agent on purpose (a restarted one adopts them): stop them
        for pid in self.pids | self.workload_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for s in (getattr(self, "standby", None), getattr(self, "outsider", None)):
            if s:
                s.stop()
        if getattr(self, "d", None) and self.d.proc.poll() is None:
            self.d.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def workload_pids(self):
        """Pids of the processes working under the test's directory (the workloads)."""
        found = set()
        for pid in os.listdir("/proc"):
            try:
                if pid.isdigit() and os.readlink(f"/proc/{pid}/cwd").startswith(self.tmp):
                    found.add(int(pid))
            except OSError:
                pass
        return found

    def log(self):
        with open(os.path.join(self.tmp, "agent.log")) as f:
            return f.read()

    def start_agent(self, credentials, *servers):
        """Start the agent of gpu-a with credentials (["--token", T] or ["--join-token", J]) and
        one --server per item of servers (each may be a list)."""
        log = open(os.path.join(self.tmp, "agent.log"), "ab")
        self.addCleanup(log.close)
        uid_base = 1_600_000_000 + (os.getpid() % 30000) * 4000
        args = [AGENT, "--node", "gpu-a", *credentials, "--gpus", "8xH100-80GB",
                "--work-dir", self.work, "--interval", "100ms",
                "--cgroup-root", os.path.join(self.tmp, "cgroup"),
                "--uid-range", f"{uid_base}:1000", "--storage-check", "200ms"]
        for s in servers:
            args += ["--server", s]
        self.agent = subprocess.Popen(args, stdout=log, stderr=log)

    def run_steady(self):
        """Submit acme/research/steady, which prints its pid and sleeps, and wait until it runs
        and has printed it. RET the pid (stopped by the test's clean-up)."""
        st, w = self.d.request("POST", "/v1/workloads", {
            "name": "steady", "workspace": "acme/research", "gpus": 8,
            "command": ["/bin/sh", "-c", "echo pid $$; exec sleep 60"]}, token=self.d.admin)
        self.assertEqual(st, 201, w)
        deadline = time.time() + 20
        while time.time() < deadline:
            for name in os.listdir(self.work):
                path = os.path.join(self.work, name, "stdout.log")
                text = ""
                if os.path.isfile(path):
                    with open(path) as f:
                        text = f.read()
                if text.startswith("pid "):
                    self.pids.add(int(text.split()[1]))
                    w = self.wait_state("acme/research/steady", "running")
                    self.assertEqual(w["placement"][0]["node"], "gpu-a")
                    return int(text.split()[1])
            time.sleep(0.05)
        self.fail(f"the workload printed no pid: {self.log()}")

    def wait_state(self, name, state, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            w = self.d.request("GET", f"/v1/workloads/{name}", token=self.d.admin)[1]
            if w.get("state") == state:
                return w
            time.sleep(0.05)
        self.fail(f"{name} is {w.get('state')}, not {state}: {self.log()}")

    def test_agent_joins_and_runs_through_the_standby(self):
        st, r = self.d.request("POST", "/v1/tokens", {"node": "gpu-a", "join": True},
                               token=self.d.admin)
        self.assertEqual(st, 201, r)
        self.start_agent(["--join-token", r["token"]], f"{self.standby.url},{self.d.url}")
        pid = self.run_steady()
        n = self.d.request("GET", "/v1/nodes/gpu-a", token=self.d.admin)[1]
        self.assertEqual(n["agent"]["state"], "reporting")
        # it asked the standby first (the join), then moved to the leader for good
        text = self.log()
        self.assertIn(f"allot-agent: {self.standby.url} is a standby; moving to the leader "
                      f"{self.d.url}", text)
        self.assertIn("joined as node gpu-a", text)
        asked = self.standby.requests()
        self.assertGreaterEqual(len(asked), 1)
        self.assertEqual(asked[0][:2], ("POST", "/v1/join"))
        # the workload's output reaches the controller (the ship channel moved too)
        deadline = time.time() + 10
        while time.time() < deadline:
            st, logs = self.d.request("GET", "/v1/workloads/acme/research/steady/logs",
                                      token=self.d.admin)
            if st == 200 and f"pid {pid}" in str(logs):
                break
            time.sleep(0.1)
        self.assertIn(f"pid {pid}", str(logs))
        self.assertEqual(self.outsider.requests(), [])

    def test_agent_follows_a_takeover(self):
        """The leader goes (its port refuses), a standby answers 503, then names the leader
        again: the agent moves among its servers and its workload runs on throughout."""
        st, r = self.d.request("POST", "/v1/tokens", {"node": "gpu-a"}, token=self.d.admin)
        self.assertEqual(st, 201, r)
        # the leader first this time: the standby, which knows no leader, is the second
        self.standby.leader = None
        self.start_agent(["--token", r["token"]], self.d.url, self.standby.url)
        pid = self.run_steady()
        # the leader stops: its port refuses; the standby knows no leader (503)
        self.d.stop()
        deadline = time.time() + 10
        while time.time() < deadline and "knows no leader" not in self.log():
            time.sleep(0.05)
        self.assertIn(f"allot-agent: {self.d.url} does not answer; moving to "
                      f"{self.standby.url}", self.log())
        self.assertIn(f"allot-agent: {self.standby.url} is a standby; it knows no leader now",
                      self.log())
        time.sleep(1)
        os.kill(pid, 0)  # the workload runs on
        # the leader is back on its port (as a standby that took over would be)
        back_ms = time.time() * 1000
        self.d = self.daemon(port=self.d.port)
        self.standby.leader = self.d.url
        deadline = time.time() + 20
        while time.time() < deadline:
            n = self.d.request("GET", "/v1/nodes/gpu-a", token=self.d.admin)[1]
            w = self.d.request("GET", "/v1/workloads/acme/research/steady",
                               token=self.d.admin)[1]
            if n.get("agent", {}).get("last_report", 0) >= back_ms and \
                    w.get("state") == "running":
                break
            time.sleep(0.1)
        self.assertEqual(n["agent"]["state"], "reporting", self.log())
        self.assertGreaterEqual(n["agent"]["last_report"], back_ms, self.log())
        self.assertEqual(w["state"], "running")
        os.kill(pid, 0)  # the same process: it was kept, not restarted
        self.assertEqual(self.outsider.requests(), [])


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1] + sys.argv[5:])  # test names may follow the paths
