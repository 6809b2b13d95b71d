#!/usr/bin/env python3
"""End to end: the real allotd and two real allot-agent processes (declared GPUs, since no
driver is here) on 127.0.0.1 run workloads as real processes: the GPU environment, exits
reported, a reclaim that drains borrowed work with SIGTERM, cgroup limits (a plain directory
stands in for cgroupfs), the setrlimit fallback and the storage limit; in every cgroup mode
this host offers, nothing of a cancelled workload is left; workspaces run as users of their
own that cannot reach each other. Usage: test_agent.py ALLOTD ALLOT_AGENT SRCDIR"""
import glob
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import allotd_harness  # noqa: E402

ALLOTD = sys.argv[1] if len(sys.argv) > 1 else "build/allotd"
AGENT = sys.argv[2] if len(sys.argv) > 2 else "build/allot-agent"
SRC = sys.argv[3] if len(sys.argv) > 3 else "."
PLATFORM = os.path.join(SRC, "examples", "platform.yaml")
ALLOT = os.path.join(os.path.dirname(os.path.abspath(ALLOTD)), "allot")


def fs_type(path):
    """The filesystem type of path as stat -f names it ("cgroup2fs", "cgroupfs", "tmpfs")."""
    r = subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else ""


def sys_cgroup_is_v2():
    """Whether /sys/fs/cgroup is a cgroup v2 filesystem (not a v1 host's tmpfs)."""
    return fs_type("/sys/fs/cgroup") == "cgroup2fs"


def cgroup_modes():
    """(name, agent options) of each cgroup mode this host offers the tests, none first. The
    roots are the test's own, under the real hierarchies; the caller removes them."""
    modes = [("none", ["--cgroup-mode", "none"])]
    if os.geteuid() != 0:
        return modes
    tag = f"allot-e2e-{os.getpid()}"
    for top in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        if fs_type(top) == "cgroup2fs":
            modes.append(("v2", ["--cgroup-mode", "v2", "--cgroup-root", f"{top}/{tag}"]))
            break
    for hierarchy in ("freezer", "pids"):
        if fs_type(f"/sys/fs/cgroup/{hierarchy}") == "cgroupfs":
            modes.append((f"v1 {hierarchy}", ["--cgroup-mode", "v1", "--cgroup-v1-root",
                                              f"/sys/fs/cgroup/{hierarchy}/{tag}"]))
    return modes


def remove_cgroup_tree(root):
    """Remove a test's cgroup root and the cgroups under it, killing what is left in them."""
    if not os.path.isdir(root):
        return
    for child in os.listdir(root):
        path = os.path.join(root, child)
        if not os.path.isdir(path):
            continue
        for _ in range(100):
            try:
                with open(os.path.join(path, "cgroup.procs")) as f:
                    pids = [int(p) for p in f.read().split()]
                for pid in pids:
                    os.kill(pid, signal.SIGKILL)
                os.rmdir(path)
                break
            except OSError:
                time.sleep(0.02)
    try:
        os.rmdir(root)
    except OSError:
        pass


def marked(mark):
    """Pids of the living processes whose environment holds mark (zombies have none)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if mark.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def cmdline(pid):
    """The command line of pid, its arguments joined by spaces ("" once it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().rstrip(b"\0").replace(b"\0", b" ").decode()
    except OSError:
        return ""


# Each test process gives its agents uid ranges of their own: disjoint from each other's and
# (by the pid) from those of tests running beside it, and far from the system's users.
UID_BASE = 1_500_000_000 + (os.getpid() % 30000) * 4000


class AgentTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="allot-e2e-")
        os.chmod(self.tmp, 0o711)  # workload users reach their directories under it
        self.d = allotd_harness.Daemon(ALLOTD, os.path.join(self.tmp, "data"), PLATFORM,
                                       ["--no-virtual-nodes"])
        self.agents = {}
        self.tokens = {}
        self.log_start = {}  # node: where its agent's last start begins in its log
        self.cgroup_root = os.path.join(self.tmp, "cgroup")  # stands in for cgroupfs
        os.mkdir(self.cgroup_root)
        for node in ("gpu-a", "gpu-b"):
            st, r = self.d.request("POST", "/v1/tokens", {"node": node}, token=self.d.admin)
            self.assertEqual(st, 201, r)
            self.tokens[node] = r["token"]
            os.mkdir(os.path.join(self.tmp, node))
            self.start_agent(node)

    def uid_range(self, node):
        """The uid range of node's agent: 1000 uids, disjoint from every other agent's."""
        return f"{UID_BASE + 1000 * sorted(self.tokens).index(node)}:1000"

    def start_agent(self, node, cgroup_root=None, extra=()):
        work = os.path.join(self.tmp, node)
        log = open(os.path.join(self.tmp, node + ".log"), "ab")
        self.log_start[node] = log.tell()
        proc = subprocess.Popen([AGENT, "--server", self.d.url, "--node", node,
                                 "--token", self.tokens[node], "--gpus", "8xH100-80GB",
                                 "--work-dir", work, "--interval", "100ms",
                                 "--cgroup-root", cgroup_root or self.cgroup_root,
                                 "--uid-range", self.uid_range(node),
                                 "--storage-check", "200ms", *extra],
                                stdout=log, stderr=log)
        self.agents[node] = (proc, log, work)

    def restart_agents_holding(self, keepalive):
        """Both agents again, asking allotd to hold their polls at most keepalive: a frozen
        agent (SIGSTOP) keeps its held poll's connection open, so it is heard from until that
        poll's end; only then does --unreachable-after start to count."""
        for node in ("gpu-a", "gpu-b"):
            self.stop_agent(node)
            self.start_agent(node, extra=("--keepalive", keepalive))
            self.started_log(node)

    def wait_node(self, node, state, timeout=10):
        """node's record once its state is state (asserted), polling for up to timeout s."""
        deadline = time.time() + timeout
        while True:
            n = self.d.request("GET", f"/v1/nodes/{node}", token=self.d.admin)[1]
            if n["state"] == state or time.time() > deadline:
                self.assertEqual(n["state"], state, n)
                return n
            time.sleep(0.1)

    def stop_agent(self, node):
        proc, log, _ = self.agents[node]
        proc.terminate()
        proc.wait(timeout=10)
        log.close()

    def agent_log(self, node):
        with open(os.path.join(self.tmp, node + ".log")) as f:
            return f.read()

    def started_log(self, node, timeout=10):
        """What node's agent has logged since its last start, once it says it reports (an
        agent built with sanitizers takes a while to start)."""
        deadline = time.time() + timeout
        while True:
            text = self.agent_log(node)[self.log_start[node]:]
            if "reporting to" in text or time.time() > deadline:
                return text
            time.sleep(0.05)

    def wait_pid(self, timeout=10):
        """The pid a workload printed as "pid N" on its stdout."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for out in self.outputs():
                for line in out.splitlines():
                    if line.startswith("pid "):
                        return int(line.split()[1])
            time.sleep(0.05)
        self.fail("no workload printed its pid")

    def kill_leftovers(self):
        """Workloads outlive their agent on purpose (a restarted agent finds them again), so
        the test stops them itself: every process working under its temporary directory."""
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                if os.readlink(f"/proc/{pid}/cwd").startswith(self.tmp):
                    os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass

    def tearDown(self):
        # the agents first, so that none starts a process after the sweep
        for proc, log, _ in self.agents.values():
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)
            log.close()
        self.kill_leftovers()
        if self.d.proc.poll() is None:
            self.d.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def submit(self, body):
        st, r = self.d.request("POST", "/v1/workloads", body, token=self.d.admin)
        self.assertEqual(st, 201, r)
        return r

    def wait_state(self, name, state, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            w = self.d.request("GET", f"/v1/workloads/{name}", token=self.d.admin)[1]
            if w["state"] == state:
                return w
            time.sleep(0.05)
        self.fail(f"{name} is {w['state']}, not {state}")

    def outputs(self):
        """stdout of every process the agents ran."""
        out = []
        for _, _, work in self.agents.values():
            for path in glob.glob(os.path.join(work, "*", "stdout.log")):
                with open(path) as f:
                    out.append(f.read())
        return out

    def test_runs_a_real_process_with_its_gpus(self):
        w = self.submit({"name": "hello", "workspace": "acme/research", "gpus": 2, "grace": "30s",
                         "command": ["/bin/sh", "-c",
                                     "echo $ALLOT_WORKLOAD $CUDA_VISIBLE_DEVICES $ALLOT_RANK "
                                     "$ALLOT_WORLD_SIZE $GREETING $ALLOT_PREEMPT_DEADLINE"],
                         "env": {"GREETING": "hi"}})
        gpus = w["placement"][0]["gpus"]
        w = self.wait_state("acme/research/hello", "finished")
        self.assertEqual(w["exit"]["code"], 0)
        uuids = ",".join(f"DECLARED-{i}" for i in gpus)
        self.assertIn(f"acme/research/hello {uuids} 0 1 hi 30\n", self.outputs())
        # its agent said its process ran (not only that the controller placed it)
        self.assertGreaterEqual(w.get("process_started", 0), w["started"])
        # the node's record says what its agent sees: declared GPUs, the system's CPUs
        n = self.d.request("GET", "/v1/nodes/gpu-a", token=self.d.admin)[1]
        self.assertEqual(n["agent"]["state"], "reporting")
        self.assertEqual(n["agent"]["gpus"], "declared")
        self.assertEqual(n["agent"]["cpu_millicores"], os.cpu_count() * 1000)
        self.assertGreater(n["agent"]["memory_bytes"], 0)

    def logs(self, name, query=""):
        """The whole log, page after page (a page is at most 64 KiB by default)."""
        text, sep = "", "&" if query else "?"
        while True:
            st, page = self.d.request("GET", f"/v1/workloads/{name}/logs{query}{sep}"
                                      f"offset={len(text.encode())}", token=self.d.admin)
            self.assertEqual(st, 200, str(page)[:200])
            if not page:
                return text
            text += page

    def wait_logs(self, name, want, query="", timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = self.logs(name, query)
            if want in text:
                return text
            time.sleep(0.1)
        self.fail(f"{want!r} not in the logs of {name} ({len(text)} bytes): {text[-100:]!r}")

    def test_outcomes_are_truthful(self):
        """How a run ended decides its end: a non-zero exit, a start failure or a signal Allot
        did not send is failed; a clean exit finished; a cancel (Allot's SIGTERM) cancelled;
        ?state=failed lists exactly the failed ones; with real nodes a submission with neither
        command nor image is refused, since no agent could start it."""
        failing = {"three": (["/bin/sh", "-c", "exit 3"], "code", 3),
                   "shell-nothing": (["/bin/sh", "-c", "exec /opt/nothing"], "code", 127),
                   "nothing": (["/opt/nothing"], "code", 127),
                   "killed": (["/bin/sh", "-c", "kill -9 $$"], "signal", 9)}
        for name, (command, _, _) in failing.items():
            self.submit({"name": name, "workspace": "acme/research", "gpus": 1,
                         "command": command})
        self.submit({"name": "fine", "workspace": "acme/research", "gpus": 1,
                     "command": ["true"]})
        self.submit({"name": "long", "workspace": "acme/research", "gpus": 1, "grace": "5s",
                     "command": ["/bin/sh", "-c", "echo pid $$; sleep 30"]})
        for name, (_, key, value) in failing.items():
            w = self.wait_state(f"acme/research/{name}", "failed")
            self.assertEqual(w["exit"][key], value, w)
            self.assertIn("ended", w)
        w = self.wait_state("acme/research/fine", "finished")
        self.assertEqual(w["exit"]["code"], 0)
        pid = self.wait_pid()
        self.wait_state("acme/research/long", "running")
        st, r = self.d.request("DELETE", "/v1/workloads/acme/research/long", token=self.d.admin)
        self.assertLess(st, 300, r)
        w = self.wait_state("acme/research/long", "cancelled")
        self.assertEqual(w["exit"].get("signal"), 15, w)  # Allot's SIGTERM: no failure
        deadline = time.time() + 5
        while os.path.exists(f"/proc/{pid}") and time.time() < deadline:
            time.sleep(0.05)
        self.assertFalse(os.path.exists(f"/proc/{pid}"))
        st, r = self.d.request("GET", "/v1/workloads?state=failed&limit=100", token=self.d.admin)
        self.assertEqual(st, 200, r)
        self.assertEqual(sorted(x["name"] for x in r["items"]),
                         sorted(f"acme/research/{name}" for name in failing))
        st, r = self.d.request("POST", "/v1/workloads",
                               {"name": "idle", "workspace": "acme/research", "gpus": 1},
                               token=self.d.admin)
        self.assertEqual(st, 400, r)
        self.assertEqual(r["error"]["field"], "command", r)
        self.assertIn("agents need a command to run", r["error"]["message"])
        self.assertEqual(self.d.request("GET", "/v1/workloads/acme/research/idle",
                                        token=self.d.admin)[0], 404)

    def allot(self, *args):
        """Run the allot CLI against the daemon as the admin. RET its stdout (exit 0)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ALLOT_")}
        env.update(ALLOT_SERVER=self.d.url, ALLOT_TOKEN=self.d.admin)
        p = subprocess.run([ALLOT, *args], env=env, capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def test_describe_says_only_what_is_true(self):
        """allot describe and ls of real runs: the running process while it runs; once
        cancelled or failed no process, no borrowed GPUs, but the end, the exit and the
        attempts; a cancelled workload says cancelled, never preempted."""
        self.submit({"name": "long", "workspace": "acme/research", "gpus": 1, "grace": "5s",
                     "command": ["/bin/sh", "-c", "echo pid $$; sleep 30"]})
        pid = self.wait_pid()
        deadline = time.time() + 10
        while "process:     running since" not in self.allot("describe", "acme/research/long"):
            self.assertLess(time.time(), deadline, "the process was never confirmed")
            time.sleep(0.05)
        self.allot("cancel", "acme/research/long")
        self.wait_state("acme/research/long", "cancelled")
        out = self.allot("describe", "acme/research/long")
        self.assertIn("state:       cancelled\n", out)
        self.assertIn("cancelled", out.split("why:", 1)[1].splitlines()[0], out)
        self.assertNotIn("preempted", out)
        self.assertNotIn("process:", out)
        self.assertNotIn("borrowed GPUs", out)
        self.assertIn("attempts:    1\n", out)
        self.assertIn("ended:       ", out)
        self.assertIn("exit:        signal 15", out)
        deadline = time.time() + 5
        while os.path.exists(f"/proc/{pid}") and time.time() < deadline:
            time.sleep(0.05)
        self.assertFalse(os.path.exists(f"/proc/{pid}"))
        self.submit({"name": "three", "workspace": "acme/research", "gpus": 1,
                     "command": ["/bin/sh", "-c", "exit 3"]})
        self.wait_state("acme/research/three", "failed")
        out = self.allot("describe", "acme/research/three")
        self.assertIn("state:       failed\n", out)
        self.assertIn("exit:        exit code 3", out)
        self.assertNotIn("process:", out)
        rows = self.allot("ls", "--state", "failed").splitlines()
        self.assertEqual(len(rows), 2, rows)  # the header, then the failed one
        self.assertIn("ATTEMPTS", rows[0])
        self.assertRegex(rows[1], r"^acme/research/three +failed .* 1 +\S+ +exit code 3, ended ")
        # a rejection's detail is still its reason
        st, r = self.d.request("POST", "/v1/workloads",
                               {"name": "huge", "workspace": "acme/research", "gpus": 8,
                                "replicas": 100, "command": ["true"]}, token=self.d.admin)
        self.assertEqual((st, r["state"]), (201, "rejected"), r)
        rows = self.allot("ls", "--state", "rejected").splitlines()
        self.assertRegex(rows[1], r"^acme/research/huge +rejected .* 0 +\S+ +%s$" % r["reason"])

    def test_logs_are_shipped_to_the_controller(self):
        # a gang of two: each replica's stdout and stderr are apart; a big burst arrives whole
        script = ("echo out-$ALLOT_RANK; echo err-$ALLOT_RANK >&2; "
                  "head -c 300000 /dev/zero | tr '\\0' x; echo; echo done-$ALLOT_RANK")
        self.submit({"name": "talk", "workspace": "acme/research", "gpus": 8, "replicas": 2,
                     "command": ["/bin/sh", "-c", script]})
        self.wait_state("acme/research/talk", "finished")
        for rank in (0, 1):
            out = self.wait_logs("acme/research/talk", f"done-{rank}\n", f"?rank={rank}")
            self.assertTrue(out.startswith(f"out-{rank}\n"), out[:50])
            self.assertEqual(out.count("x"), 300000)  # shipped in chunks, nothing lost
            err = self.wait_logs("acme/research/talk", f"err-{rank}", f"?rank={rank}&stream=stderr")
            self.assertEqual(err, f"err-{rank}\n")
        # each replica ran once: one that is over is not started again while the other runs
        self.assertEqual(sorted(o.split("\n")[0] for o in self.outputs()), ["out-0", "out-1"])
        # paging by offset and limit
        st, page = self.d.request("GET", "/v1/workloads/acme/research/talk/logs?offset=1&limit=6",
                                  token=self.d.admin)
        self.assertEqual(page, "ut-0\nx")
        # bad queries name the field
        for bad, field in (("?stream=stdin", "stream"), ("?rank=2", "rank"),
                           ("?attempt=2", "attempt"), ("?offset=-1", "offset")):
            st, r = self.d.request("GET", f"/v1/workloads/acme/research/talk/logs{bad}",
                                   token=self.d.admin)
            self.assertEqual((st, r["error"]["field"]), (400, field), bad)
        # a node token cannot ship for a workload that never ran on its node
        st, r = self.d.request("GET", "/v1/workloads/acme/research/talk", token=self.d.admin)
        nodes = {p["node"] for p in r["placement"]} if r.get("placement") else set()
        # (both nodes ran it here; a workload of another node is refused)
        self.submit({"name": "solo", "workspace": "acme/research", "gpus": 8,
                     "command": ["/bin/sh", "-c", "echo solo"]})
        w = self.wait_state("acme/research/solo", "finished")
        self.wait_logs("acme/research/solo", "solo\n")
        ran = w["placement"][0]["node"] if w.get("placement") else None
        other = "gpu-b" if ran == "gpu-a" else "gpu-a"
        if ran:
            req = urllib.request.Request(
                f"{self.d.url}/v1/nodes/{other}/logs?workload=acme/research/solo&rank=0"
                "&attempt=1&stream=stdout&offset=0", data=b"forged", method="POST",
                headers={"Authorization": f"Bearer {self.tokens[other]}",
                         "Content-Type": "application/octet-stream"})
            with self.assertRaises(urllib.error.HTTPError) as cm:
                urllib.request.urlopen(req, timeout=10)
            self.assertEqual(cm.exception.code, 404)
            self.assertEqual(self.logs("acme/research/solo"), "solo\n")
        del nodes

    @unittest.skipUnless(os.geteuid() == 0, "needs root to switch users")
    def test_workloads_run_as_their_workspace_user(self):
        for node in ("gpu-a", "gpu-b"):
            self.stop_agent(node)
            self.start_agent(node, extra=["--run-as", "acme/prod=daemon", "--label",
                                          "zone=eu-1", "--label", "rack=r7"])
        for ws in ("prod", "research"):
            w = self.submit({"name": "who", "workspace": f"acme/{ws}", "gpus": 1,
                             "command": ["/bin/sh", "-c", "echo uid=$(id -u) gid=$(id -g)"]})
            self.wait_state(f"acme/{ws}/who", "finished")
        daemon = pwd.getpwnam("daemon")
        self.assertEqual(self.wait_logs("acme/prod/who", "uid="),
                         f"uid={daemon.pw_uid} gid={daemon.pw_gid}\n")
        # labels given on the agent's command line reach the node's record
        n = self.d.request("GET", "/v1/nodes/gpu-b", token=self.d.admin)[1]
        self.assertEqual(n["agent"]["labels"], {"zone": "eu-1", "rack": "r7"})
        # no rule for research: its own uid, the first of its node's range (never root, never
        # nobody), with a group of the same number
        first = int(self.uid_range(w["placement"][0]["node"]).split(":")[0])
        self.assertEqual(self.wait_logs("acme/research/who", "uid="),
                         f"uid={first} gid={first}\n")
        # a rule naming an unknown user stops the agent at once, naming it
        r = subprocess.run([AGENT, "--server", self.d.url, "--node", "gpu-a", "--token", "x",
                            "--gpus", "1xH100-80GB", "--run-as", "acme/prod=no-such-user"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn("no user 'no-such-user'", r.stderr)
        # a label is a label everywhere: up to 253 bytes, no control characters
        for bad in ("zone=eu\x011", "k=" + "v" * 254, "=v"):
            r = subprocess.run([AGENT, "--server", self.d.url, "--node", "gpu-a", "--token", "x",
                                "--gpus", "1xH100-80GB", "--label", bad],
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 2, bad)
            self.assertIn("--label: expected KEY=VALUE", r.stderr)

    def test_controller_restart_while_agents_run(self):
        trap = ("trap 'echo got TERM; exit 0' TERM; echo started; "
                "while true; do sleep 0.05; done")
        w = self.submit({"name": "steady", "workspace": "acme/research", "gpus": 8,
                         "command": ["/bin/sh", "-c", trap]})
        deadline = time.time() + 10
        while time.time() < deadline and sum("started" in o for o in self.outputs()) < 1:
            time.sleep(0.05)
        port, data = self.d.port, self.d.data
        self.d.stop(signal.SIGKILL)  # no goodbye
        time.sleep(0.5)  # the agents find no controller for a while; their work goes on
        self.d = allotd_harness.Daemon(ALLOTD, data, None, ["--no-virtual-nodes"], port=port)
        # the same placement, the same process: not requeued, not started twice
        after = self.d.request("GET", "/v1/workloads/acme/research/steady",
                               token=self.d.admin)[1]
        self.assertEqual(after["state"], "running")
        self.assertEqual(after["placement"], w["placement"])
        # the agents are back: new work runs, and a cancel reaches the old process
        self.submit({"name": "fresh", "workspace": "acme/research", "gpus": 1,
                     "command": ["/bin/sh", "-c", "echo fresh-ok"]})
        self.wait_state("acme/research/fresh", "finished")
        self.assertIn("fresh-ok\n", self.outputs())
        self.d.request("DELETE", "/v1/workloads/acme/research/steady", token=self.d.admin)
        self.wait_state("acme/research/steady", "cancelled")
        self.assertEqual(sum("started" in o for o in self.outputs()), 1)
        self.assertEqual(sum("got TERM" in o for o in self.outputs()), 1)
        # reports are deltas: the new daemon knew no inventory, asked for it, and has it
        for node in ("gpu-a", "gpu-b"):
            n = self.d.request("GET", f"/v1/nodes/{node}", token=self.d.admin)[1]
            self.assertEqual(n["agent"]["gpus"], "declared", n)
            self.assertGreater(n["agent"]["cpu_millicores"], 0, n)
        self.assertGreaterEqual(self.d.metric("allot_agent_reports_total", '{inventory="yes"}'), 2)

    def test_an_idle_agent_is_quiet(self):
        """An idle agent's poll is held until something changes for its node or its
        keepalive (30 s by default) passes: it is not sent again every --interval (100 ms
        here), and the inventory goes once, in the first report (docs/agent.md, "Reports")."""
        deadline = time.time() + 10
        while time.time() < deadline and self.d.metric("allot_agent_polls_held") != 2:
            time.sleep(0.05)
        self.assertEqual(self.d.metric("allot_agent_polls_held"), 2)
        before = self.d.metric("allot_agent_reports_total", '{inventory="no"}')
        time.sleep(2)  # 20 of the agents' periods
        self.assertEqual(self.d.metric("allot_agent_reports_total", '{inventory="no"}'), before)
        self.assertEqual(self.d.metric("allot_agent_reports_total", '{inventory="yes"}'), 2)
        for node in ("gpu-a", "gpu-b"):
            n = self.d.request("GET", f"/v1/nodes/{node}", token=self.d.admin)[1]
            self.assertEqual(n["agent"]["state"], "reporting", n)
        # a change still reaches the held poll at once, and the replica's start is told once
        self.submit({"name": "woken", "workspace": "acme/research", "gpus": 1,
                     "command": ["/bin/sh", "-c", "echo woken-ok"]})
        self.wait_state("acme/research/woken", "finished")
        self.assertIn("woken-ok\n", self.outputs())
        self.assertEqual(self.d.metric("allot_agent_reports_total", '{inventory="yes"}'), 2)

    def test_a_killed_agent_is_noticed_before_its_keepalive(self):
        """An agent whose process ends closes its held poll's connection: allotd counts its
        silence from then, not from the poll's end 30 s later."""
        port, data = self.d.port, self.d.data
        self.d.stop()
        self.d = allotd_harness.Daemon(ALLOTD, data, None, ["--no-virtual-nodes",
                                                            "--unreachable-after", "1s",
                                                            "--lost-after", "60s"], port=port)
        deadline = time.time() + 10
        while time.time() < deadline and self.d.metric("allot_agent_polls_held") != 2:
            time.sleep(0.05)
        proc = self.agents["gpu-a"][0]
        proc.kill()
        proc.wait()
        n = self.wait_node("gpu-a", "draining", timeout=15)
        self.assertEqual(n["agent"]["state"], "unreachable", n)
        self.assertEqual(self.d.metric("allot_agent_polls_held"), 1)  # gpu-b's

    def test_finished_directories_are_removed_after_keep_finished(self):
        for node in ("gpu-a", "gpu-b"):
            self.stop_agent(node)
            self.start_agent(node, extra=["--keep-finished", "0s"])
        self.submit({"name": "stays", "workspace": "acme/research", "gpus": 8,
                     "command": ["/bin/sh", "-c", "echo staying; sleep 30"]})
        self.submit({"name": "goes", "workspace": "acme/research", "gpus": 8,
                     "command": ["/bin/sh", "-c", "echo going"]})
        self.wait_state("acme/research/goes", "finished")
        # its output reached the controller first, then its directory went
        self.assertEqual(self.wait_logs("acme/research/goes", "going"), "going\n")
        deadline = time.time() + 10
        while time.time() < deadline and any("going" in o for o in self.outputs()):
            time.sleep(0.1)
        self.assertFalse(any("going" in o for o in self.outputs()))
        self.assertTrue(any("staying" in o for o in self.outputs()))  # it runs: kept

    def test_lost_node_comes_back_and_stops_what_moved_away(self):
        # a controller that gives up on silent agents quickly
        port, data = self.d.port, self.d.data
        self.d.stop()
        self.d = allotd_harness.Daemon(ALLOTD, data, None, ["--no-virtual-nodes",
                                                            "--unreachable-after", "1s",
                                                            "--lost-after", "2s"], port=port)
        self.restart_agents_holding("1s")
        trap = ("trap 'echo got TERM; exit 0' TERM; echo started on $ALLOT_PEERS; "
                "while true; do sleep 0.05; done")
        w = self.submit({"name": "mover", "workspace": "acme/research", "gpus": 8,
                         "command": ["/bin/sh", "-c", trap]})
        lost = w["placement"][0]["node"]
        other = "gpu-b" if lost == "gpu-a" else "gpu-a"
        deadline = time.time() + 10
        while time.time() < deadline and not any("started" in o for o in self.outputs()):
            time.sleep(0.05)
        proc = self.agents[lost][0]
        proc.send_signal(signal.SIGSTOP)  # the agent falls silent; its process runs on
        try:
            deadline = time.time() + 15
            while time.time() < deadline:
                w = self.d.request("GET", "/v1/workloads/acme/research/mover",
                                   token=self.d.admin)[1]
                if w["state"] == "running" and w["placement"][0]["node"] == other:
                    break
                time.sleep(0.1)
            self.assertEqual(w["placement"][0]["node"], other)  # requeued, placed again
            # the node says why allotd took it down, and that nobody did it by hand
            n = self.d.request("GET", f"/v1/nodes/{lost}", token=self.d.admin)[1]
            self.assertEqual(n["state"], "down", n)
            self.assertRegex(n.get("reason", ""), r"^no report from its agent for \d+s$")
            self.assertIsNone(n["reason_by"])
        finally:
            proc.send_signal(signal.SIGCONT)
        # the agent that comes back stops the copy the controller no longer wants there
        deadline = time.time() + 10
        while time.time() < deadline and sum("got TERM" in o for o in self.outputs()) < 1:
            time.sleep(0.1)
        outs = self.outputs()
        self.assertEqual(sum(f"started on {lost}" in o for o in outs), 1)
        self.assertEqual(sum(f"started on {other}" in o for o in outs), 1)
        self.assertEqual([o for o in outs if "got TERM" in o],
                         [o for o in outs if f"started on {lost}" in o])  # the lost one's copy
        deadline = time.time() + 10
        while time.time() < deadline:
            n = self.d.request("GET", f"/v1/nodes/{lost}", token=self.d.admin)[1]
            if n["state"] == "ready":
                break
            time.sleep(0.1)
        self.assertEqual(n["agent"]["state"], "reporting")
        self.assertEqual(n["state"], "ready")
        self.assertNotIn("reason", n)  # ready again: the reason is dropped

    def test_drained_by_hand_while_silent_stays_drained(self):
        """An admin who drains a node (with a reason) while allotd has drained it for its
        silent agent keeps it drained when the agent comes back: only allotd's own drain is
        undone by the agent's return."""
        port, data = self.d.port, self.d.data
        self.d.stop()
        self.d = allotd_harness.Daemon(ALLOTD, data, None, ["--no-virtual-nodes",
                                                            "--unreachable-after", "1s",
                                                            "--lost-after", "30s"], port=port)
        self.restart_agents_holding("1s")
        proc = self.agents["gpu-a"][0]
        proc.send_signal(signal.SIGSTOP)
        try:
            n = self.wait_node("gpu-a", "draining")
            self.assertIsNone(n["reason_by"])  # allotd's own
            st, r = self.d.request("POST", "/v1/nodes/gpu-a/drain", {"reason": "replacing PSU"},
                                   token=self.d.admin)
            self.assertEqual(st, 200, r)
        finally:
            proc.send_signal(signal.SIGCONT)
        deadline = time.time() + 10
        while time.time() < deadline:
            n = self.d.request("GET", "/v1/nodes/gpu-a", token=self.d.admin)[1]
            if n["agent"]["state"] == "reporting":
                break
            time.sleep(0.1)
        time.sleep(0.5)  # a report or two more: the node must not turn ready
        n = self.d.request("GET", "/v1/nodes/gpu-a", token=self.d.admin)[1]
        self.assertEqual(n["agent"]["state"], "reporting", n)
        self.assertEqual(n["state"], "draining", n)
        self.assertEqual((n["reason"], n["reason_by"]), ("replacing PSU", "admin"))

    def test_join_token(self):
        st, r = self.d.request("POST", "/v1/tokens", {"node": "gpu-b", "join": True},
                               token=self.d.admin)
        self.assertEqual(st, 201, r)
        join = r["token"]
        # a join token is no bearer token
        self.assertEqual(self.d.request("GET", "/v1/nodes/gpu-b", token=join)[0], 401)
        proc, log, _ = self.agents["gpu-b"]
        proc.terminate()
        proc.wait()
        log.close()
        work = os.path.join(self.tmp, "gpu-b-joined")
        os.mkdir(work)
        args = [AGENT, "--server", self.d.url, "--node", "gpu-b", "--join-token", join,
                "--gpus", "8xH100-80GB", "--work-dir", work, "--interval", "100ms",
                "--cgroup-root", os.path.join(self.tmp, "cgroup"),
                "--uid-range", self.uid_range("gpu-b")]
        log = open(os.path.join(self.tmp, "gpu-b-joined.log"), "ab")
        proc = subprocess.Popen(args, stdout=log, stderr=log)
        self.agents["gpu-b"] = (proc, log, work)
        token_file = os.path.join(work, "node.token")
        deadline = time.time() + 10
        while time.time() < deadline and not os.path.exists(token_file):
            time.sleep(0.05)
        self.assertEqual(os.stat(token_file).st_mode & 0o777, 0o600)
        # the joined agent runs work on its node
        self.submit({"name": "a", "workspace": "acme/research", "gpus": 8,
                     "command": ["/bin/sh", "-c", "sleep 30"]})
        w = self.submit({"name": "b", "workspace": "acme/research", "gpus": 8,
                         "command": ["/bin/sh", "-c", "echo joined-ok"]})
        self.wait_state(w["name"], "finished")
        self.assertIn("joined-ok\n", self.outputs())
        # the join token was good once
        other = os.path.join(self.tmp, "other")
        os.mkdir(other)
        r = subprocess.run([AGENT, "--server", self.d.url, "--node", "gpu-b", "--join-token",
                            join, "--gpus", "8xH100-80GB", "--work-dir", other,
                            "--cgroup-root", os.path.join(self.tmp, "cgroup"),
                            "--uid-range", self.uid_range("gpu-b")],
                           capture_output=True, timeout=20)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"join refused", r.stderr)

    def test_agent_restart_adopts_its_processes(self):
        trap = ("trap 'echo got TERM; exit 0' TERM; echo started; "
                "while true; do sleep 0.05; done")
        w = self.submit({"name": "long", "workspace": "acme/research", "gpus": 8,
                         "command": ["/bin/sh", "-c", trap]})
        node = w["placement"][0]["node"]
        deadline = time.time() + 10
        while time.time() < deadline and sum("started" in o for o in self.outputs()) < 1:
            time.sleep(0.05)
        proc, log, _ = self.agents[node]
        proc.kill()  # kill -9: no chance to clean up
        proc.wait()
        log.close()
        time.sleep(0.3)
        self.start_agent(node)
        time.sleep(0.5)
        # adopted, not started a second time; still running
        self.assertEqual(sum("started" in o for o in self.outputs()), 1)
        self.assertEqual(self.d.request("GET", "/v1/workloads/acme/research/long",
                                        token=self.d.admin)[1]["state"], "running")
        # the restarted agent still controls it: a cancel reaches the process
        self.d.request("DELETE", "/v1/workloads/acme/research/long", token=self.d.admin)
        self.wait_state("acme/research/long", "cancelled")
        self.assertEqual(sum("got TERM" in o for o in self.outputs()), 1)

    def test_cgroup_limits(self):
        w = self.submit({"name": "limited", "workspace": "acme/research", "gpus": 1,
                         "memory": "64Mi", "cpu": "0.5",
                         "command": ["/bin/sh", "-c", "echo pid $$; sleep 30"]})
        pid = self.wait_pid()
        node = w["placement"][0]["node"]
        self.assertNotIn("not writable", self.agent_log(node))
        cgroups = [d for d in glob.glob(os.path.join(self.cgroup_root, "*"))
                   if os.path.isdir(d)]
        self.assertEqual(len(cgroups), 1, cgroups)
        cg = cgroups[0]
        self.assertTrue(os.path.basename(cg).startswith(node + "."), cg)
        with open(os.path.join(cg, "memory.max")) as f:
            self.assertEqual(f.read().strip(), "67108864")
        with open(os.path.join(cg, "cpu.max")) as f:
            self.assertEqual(f.read().strip(), "50000 100000")
        with open(os.path.join(cg, "pids.max")) as f:
            self.assertEqual(f.read().strip(), "4096")
        # the process entered it before exec: its pid is in cgroup.procs while it runs
        with open(os.path.join(cg, "cgroup.procs")) as f:
            self.assertIn(str(pid), f.read().split())
        self.assertTrue(os.path.exists(f"/proc/{pid}"))
        # no setrlimit when the cgroup holds the limits
        with open(f"/proc/{pid}/limits") as f:
            self.assertRegex(f.read(), r"Max address space\s+unlimited")
        # once it has ended, its cgroup is removed
        self.d.request("DELETE", "/v1/workloads/acme/research/limited", token=self.d.admin)
        self.wait_state("acme/research/limited", "cancelled")
        deadline = time.time() + 5
        while time.time() < deadline and os.path.exists(cg):
            time.sleep(0.05)
        self.assertFalse(os.path.exists(cg))
        self.assertFalse(os.path.exists(f"/proc/{pid}"))

    def test_setrlimit_when_the_cgroup_root_is_not_writable(self):
        not_a_dir = os.path.join(self.tmp, "not-a-cgroup")
        with open(not_a_dir, "w") as f:
            f.write("a file: no cgroup can be made under it\n")
        for node in ("gpu-a", "gpu-b"):
            self.stop_agent(node)
            # auto: neither root is usable, so no cgroup at all
            self.start_agent(node, cgroup_root=not_a_dir,
                             extra=["--cgroup-v1-root", os.path.join(not_a_dir, "v1")])
        self.submit({"name": "fallback", "workspace": "acme/research", "gpus": 1,
                     "memory": "256Mi", "command": ["/bin/sh", "-c", "echo pid $$; sleep 30"]})
        pid = self.wait_pid()
        with open(f"/proc/{pid}/limits") as f:
            limits = f.read()
        self.assertRegex(limits, r"Max address space\s+268435456\s+268435456")
        self.assertRegex(limits, r"Max processes\s+4096\s+4096")
        for node in ("gpu-a", "gpu-b"):
            warning = ("warning: no cgroup: a keeper process per replica kills what is left of "
                       "it when it ends; limits: memory RLIMIT_AS (setrlimit), CPU not limited, "
                       f"processes RLIMIT_NPROC (setrlimit) (cgroup v2 root {not_a_dir} not "
                       "usable: ")
            # the agent that did not run the workload may still be starting (a sanitizer
            # build starts slowly): what it says before it reports is all there once it does
            self.started_log(node)
            self.assertEqual(self.agent_log(node).count(warning), 1, self.agent_log(node))
        # no cgroup was made for it (a writability probe of an agent stopped while it
        # started may be left, and is not a cgroup of a workload)
        made = [e for e in os.listdir(self.cgroup_root) if not e.startswith(".allot-probe")]
        self.assertEqual(made, [])
        self.d.request("DELETE", "/v1/workloads/acme/research/fallback", token=self.d.admin)
        self.wait_state("acme/research/fallback", "cancelled")
        self.assertFalse(os.path.exists(f"/proc/{pid}"))

    @unittest.skipIf(os.geteuid() != 0 or sys_cgroup_is_v2(),
                     "needs root on a host whose /sys/fs/cgroup is not cgroup v2")
    def test_no_stand_in_cgroups_under_sys_fs_cgroup(self):
        """On a cgroup v1 host /sys/fs/cgroup is a tmpfs that root can write: a directory made
        there must not pass for a stand-in cgroupfs, which would limit nothing."""
        root = f"/sys/fs/cgroup/allot-e2e-{os.getpid()}"
        self.addCleanup(shutil.rmtree, root, True)
        r = subprocess.run([AGENT, "--server", self.d.url, "--node", "gpu-a", "--token", "x",
                            "--gpus", "1xH100-80GB", "--work-dir", os.path.join(self.tmp, "gpu-a"),
                            "--cgroup-mode", "v2", "--cgroup-root", root],
                           capture_output=True, text=True, timeout=10)
        # v2 asked for and not usable: the agent does not start
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(f"--cgroup-mode v2: cgroup v2 root {root} not usable: its parent is no "
                      "cgroup v2 filesystem", r.stderr)
        self.assertFalse(os.path.exists(root))

    def test_storage_limit_stops_the_workload(self):
        start = time.time()
        w = self.submit({"name": "hoarder", "workspace": "acme/research", "gpus": 1,
                         "storage": "1Mi",
                         "command": ["/bin/sh", "-c",
                                     "echo pid $$; dd if=/dev/zero of=big bs=1M count=4; "
                                     "sleep 30"]})
        pid = self.wait_pid()
        done = self.wait_state("acme/research/hoarder", "failed")  # killed: over its limit
        # the API says why, as the agent reported it
        self.assertIn("storage above its limit", done["exit"]["reason"])
        self.assertLess(time.time() - start, 10)  # stopped, long before its sleep ended
        self.assertFalse(os.path.exists(f"/proc/{pid}"))
        log = self.agent_log(w["placement"][0]["node"])
        self.assertRegex(log, r"acme/research/hoarder \(rank 0\) exited: storage above its "
                              r"limit: \d+ bytes of 1048576")
        # what it writes in its temporary directory counts as well
        self.submit({"name": "tmp-hoarder", "workspace": "acme/research", "gpus": 1,
                     "storage": "1Mi",
                     "command": ["/bin/sh", "-c",
                                 'dd if=/dev/zero of="${TMPDIR:?}/big" bs=1M count=4; sleep 30']})
        start = time.time()
        done = self.wait_state("acme/research/tmp-hoarder", "failed")
        self.assertIn("storage above its limit", done["exit"]["reason"])
        self.assertLess(time.time() - start, 10)
        # a workload within its storage is left alone
        self.submit({"name": "tidy", "workspace": "acme/research", "gpus": 1, "storage": "8Mi",
                     "command": ["/bin/sh", "-c",
                                 "dd if=/dev/zero of=small bs=1M count=1; sleep 1; echo tidy"]})
        self.wait_state("acme/research/tidy", "finished")
        self.assertIn("tidy\n", self.outputs())
        self.assertNotIn("tidy (rank 0): storage", "".join(
            self.agent_log(n) for n in self.agents))

    def test_checkpoint_file_is_reported(self):
        """A workload that touches $ALLOT_CHECKPOINT_FILE (in its own directory) has its
        last_checkpoint set from the file's time, between its start and now."""
        script = ('echo "$ALLOT_CHECKPOINT_FILE"; sleep 0.3; touch "$ALLOT_CHECKPOINT_FILE"; '
                  'echo saved; while true; do sleep 0.05; done')
        self.submit({"name": "saver", "workspace": "acme/research", "gpus": 1,
                     "command": ["/bin/sh", "-c", script]})
        w = self.wait_state("acme/research/saver", "running")
        self.assertIsNone(w["last_checkpoint"])
        deadline = time.time() + 10
        while time.time() < deadline and w["last_checkpoint"] is None:
            time.sleep(0.05)
            w = self.d.request("GET", "/v1/workloads/acme/research/saver",
                               token=self.d.admin)[1]
        self.assertIsNotNone(w["last_checkpoint"], w)
        self.assertGreaterEqual(w["last_checkpoint"], w["started"])
        self.assertLessEqual(w["last_checkpoint"], int(time.time() * 1000) + 1000)
        self.assertTrue(any("/checkpoint\n" in o for o in self.outputs()), self.outputs())

    def test_reclaim_drains_borrowers_with_sigterm(self):
        trap = ("trap 'echo got TERM; exit 0' TERM; echo started; "
                "while true; do sleep 0.05; done")
        for i in range(16):
            self.submit({"name": f"exp-{i}", "workspace": "acme/research", "gpus": 1,
                         "kind": "experiment", "grace": "5s",
                         "command": ["/bin/sh", "-c", trap]})
        deadline = time.time() + 10
        while time.time() < deadline and sum("started" in o for o in self.outputs()) < 16:
            time.sleep(0.05)
        self.assertEqual(sum("started" in o for o in self.outputs()), 16)
        self.submit({"name": "serve", "workspace": "acme/prod", "gpus": 4, "kind": "inference",
                     "command": ["/bin/sh", "-c", "echo serving; sleep 0.2"]})
        self.wait_state("acme/prod/serve", "finished", timeout=15)
        # exactly the four borrowers it needed got SIGTERM, and exited within their grace
        self.assertEqual(sum("got TERM" in o for o in self.outputs()), 4)
        self.assertIn("serving\n", self.outputs())
        pending = self.d.request("GET", "/v1/workloads?state=pending&limit=100",
                                 token=self.d.admin)[1]["items"]
        running = self.d.request("GET", "/v1/workloads?state=running&limit=100",
                                 token=self.d.admin)[1]["items"]
        self.assertEqual(len(pending) + len(running), 16)

    def test_reclaim_kills_at_the_deadline_what_ignores_sigterm(self):
        stubborn = "trap '' TERM; echo started; while true; do sleep 0.05; done"
        for i in range(16):
            self.submit({"name": f"hog-{i}", "workspace": "acme/research", "gpus": 1,
                         "grace": "1s", "command": ["/bin/sh", "-c", stubborn]})
        deadline = time.time() + 10
        while time.time() < deadline and sum("started" in o for o in self.outputs()) < 16:
            time.sleep(0.05)
        t0 = time.time()
        self.submit({"name": "serve", "workspace": "acme/prod", "gpus": 1,
                     "command": ["/bin/sh", "-c", "echo serving"]})
        w = self.wait_state("acme/prod/serve", "finished", timeout=15)
        self.assertGreaterEqual(time.time() - t0, 1.0)  # not before the grace was over
        items = self.d.request("GET", "/v1/workloads?workspace=acme/research&limit=100",
                               token=self.d.admin)[1]["items"]
        victims = [x for x in items if x.get("attempts", 0) > 1 or x["state"] == "pending"]
        self.assertEqual(len(victims), 1, items)  # the one victim, requeued (and maybe back)
        # its end as its agent saw it: SIGKILL at the deadline
        self.assertEqual(victims[0]["exit"]["signal"], 9, victims[0])
        self.assertIn("SIGKILL", victims[0]["exit"]["reason"])

    def test_time_limit_stops_with_sigterm_then_sigkill(self):
        """docs/agent-running.md, "Time limits": the agent stops a replica at its start + its
        time limit as a stop (SIGTERM, the grace, SIGKILL), and it ends failed with reason
        time_limit, whatever its exit; one that exits by itself before is unaffected."""
        stubborn = "trap '' TERM; echo started; while true; do sleep 0.05; done"
        self.submit({"name": "sleeper", "workspace": "acme/research", "gpus": 1,
                     "time_limit": "2s", "grace": "5s", "command": ["sleep", "30"]})
        self.submit({"name": "stubborn", "workspace": "acme/research", "gpus": 1,
                     "time_limit": "2s", "grace": "1s", "command": ["/bin/sh", "-c", stubborn]})
        self.submit({"name": "quick", "workspace": "acme/research", "gpus": 1,
                     "time_limit": "1h", "command": ["/bin/sh", "-c", "echo quick"]})
        w = self.wait_state("acme/research/sleeper", "failed", timeout=20)
        self.assertEqual(w.get("reason"), "time_limit", w)
        self.assertEqual(w["exit"]["signal"], 15, w)  # sleep dies of the SIGTERM
        self.assertIn("stopped at its time limit of 2s", w["exit"]["reason"])
        self.assertGreaterEqual(w["ended"] - w["started"], 2000, w)  # not before its limit
        w = self.wait_state("acme/research/stubborn", "failed", timeout=20)
        self.assertEqual(w.get("reason"), "time_limit", w)
        self.assertEqual(w["exit"]["signal"], 9, w)  # TERM ignored: SIGKILL a grace later
        self.assertIn("SIGKILL", w["exit"]["reason"])
        self.assertGreaterEqual(w["ended"] - w["started"], 3000, w)  # limit + grace
        w = self.wait_state("acme/research/quick", "finished", timeout=10)
        self.assertNotIn("reason", w)

    def test_nothing_of_a_cancelled_workload_is_left_in_any_cgroup_mode(self):
        """A workload that leaves processes behind (a new session, a double fork that ignores
        SIGTERM) is cancelled: in every mode, once the cancel is reported, none of them runs
        and the replica's cgroup is gone."""
        for mode, options in cgroup_modes():
            with self.subTest(mode=mode):
                roots = [o for o in options if o.startswith("/sys/fs/cgroup/")]
                for root in roots:
                    self.addCleanup(remove_cgroup_tree, root)
                for node in ("gpu-a", "gpu-b"):
                    self.stop_agent(node)
                    self.start_agent(node, extra=options)
                mark = f"allot-e2e-mark-{os.getpid()}-{mode.replace(' ', '-')}"
                name = f"left-{mode.replace(' ', '-')}"
                w = self.submit({"name": name, "workspace": "acme/research", "gpus": 1,
                                 "grace": "2s", "env": {"ALLOT_E2E_MARK": mark},
                                 "command": ["/bin/sh", "-c",
                                             "setsid sh -c 'exec sleep 901' & "
                                             "(trap '' TERM; setsid sleep 902 &) & "
                                             "echo pid $$; sleep 30"]})
                node = w["placement"][0]["node"]
                started = self.started_log(node)
                self.assertIn("reporting to", started)
                if mode != "v2":  # v2 warns only when it lacks controllers
                    self.assertIn("allot-agent: warning: ", started)
                def escapers():
                    return [p for p in marked(mark) if cmdline(p) in ("sleep 901", "sleep 902")]
                deadline = time.time() + 10
                while time.time() < deadline and len(escapers()) < 2:
                    time.sleep(0.05)
                self.assertEqual(len(escapers()), 2, [cmdline(p) for p in marked(mark)])
                for pid in escapers():  # in sessions of their own
                    self.assertEqual(os.getsid(pid), pid)
                self.d.request("DELETE", f"/v1/workloads/acme/research/{name}",
                               token=self.d.admin)
                self.wait_state(f"acme/research/{name}", "cancelled")
                # the end is reported once nothing of it runs: no wait here
                self.assertEqual(marked(mark), [])
                for root in roots:
                    deadline = time.time() + 5
                    while time.time() < deadline and [
                            c for c in os.listdir(root) if c.startswith(node + ".")]:
                        time.sleep(0.05)
                    self.assertEqual([c for c in os.listdir(root) if c.startswith(node + ".")],
                                     [])

    @unittest.skipUnless(os.geteuid() == 0, "needs root to switch users")
    def test_workspaces_cannot_reach_each_other(self):
        # both workspaces on one node
        self.assertEqual(self.d.request("POST", "/v1/nodes/gpu-b/drain",
                                        token=self.d.admin)[0], 200)
        a = self.submit({"name": "victim", "workspace": "acme/research", "gpus": 1,
                         "env": {"VICTIM_SECRET": "s3cr3t"},
                         "command": ["/bin/sh", "-c",
                                     "echo s3cr3t > secret.txt; echo pid $$ uid $(id -u); "
                                     "sleep 30"]})
        self.assertEqual(a["placement"][0]["node"], "gpu-a")
        pid = self.wait_pid()
        work = self.agents["gpu-a"][2]
        victim_dir = os.path.dirname(os.readlink(f"/proc/{pid}/cwd") + "/")
        probe = (f"echo uid $(id -u); "
                 f"cat {victim_dir}/secret.txt 2>&1 >/dev/null; "
                 f"ls {victim_dir} 2>&1 >/dev/null; "
                 f"ls {work} 2>&1 >/dev/null; "
                 f"cat /proc/{pid}/environ 2>&1 >/dev/null; "
                 f"kill -STOP {pid} 2>&1; echo done")
        self.submit({"name": "prober", "workspace": "acme/prod", "gpus": 1,
                     "command": ["/bin/sh", "-c", probe]})
        self.wait_state("acme/prod/prober", "finished")
        out = self.wait_logs("acme/prod/prober", "done\n")
        lines = out.splitlines()
        first = int(self.uid_range("gpu-a").split(":")[0])
        victim_uid = os.stat(f"/proc/{pid}").st_uid
        prober_uid = int(lines[0].split()[1])
        # each its own uid from the node's range
        self.assertEqual({victim_uid, prober_uid}, {first, first + 1})
        self.assertEqual(lines[1:5], [
            f"cat: {victim_dir}/secret.txt: Permission denied",
            f"ls: cannot open directory '{victim_dir}': Permission denied",
            f"ls: cannot open directory '{work}': Permission denied",
            f"cat: /proc/{pid}/environ: Permission denied"])
        self.assertIn("Operation not permitted", lines[5])
        # the victim still runs, not stopped
        with open(f"/proc/{pid}/stat") as f:
            self.assertIn(f.read().rsplit(")", 1)[1].split()[0], ("S", "R"))
        # what the agent writes is root's alone; its directory can be crossed, not listed
        self.assertEqual(os.stat(os.path.join(work, "agent-state.json")).st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(work).st_mode & 0o777, 0o711)
        self.assertEqual(os.stat(victim_dir).st_mode & 0o777, 0o700)
        # an agent that restarts keeps the workspaces' uids
        self.stop_agent("gpu-a")
        self.start_agent("gpu-a")
        self.submit({"name": "again", "workspace": "acme/prod", "gpus": 1,
                     "command": ["/bin/sh", "-c", "echo uid $(id -u)"]})
        self.wait_state("acme/prod/again", "finished")
        self.assertEqual(self.wait_logs("acme/prod/again", "uid"), f"uid {prober_uid}\n")

    def test_a_node_is_wiped_before_it_serves_another_tenant(self):
        """A node moves from acme to beta: what acme left there (its processes, its replicas'
        files and logs, its users' files in /tmp and /dev/shm) is gone before beta's work
        lands, and beta's users are not acme's."""
        self.assertEqual(self.d.request("POST", "/v1/tenants", {"name": "beta"},
                                        token=self.d.admin)[0], 201)
        st, r = self.d.request("POST", "/v1/workspaces", {"name": "beta/ops"}, token=self.d.admin)
        self.assertEqual(st, 201, r)
        self.assertEqual(self.d.request("POST", "/v1/nodes/gpu-b/drain",
                                        token=self.d.admin)[0], 200)
        mark = f"allot-wipe-{os.getpid()}"
        for shared in ("/tmp", "/dev/shm"):
            self.addCleanup(lambda p=f"{shared}/{mark}": os.path.exists(p) and os.unlink(p))
        self.submit({"name": "leaver", "workspace": "acme/research", "gpus": 1,
                     "command": ["/bin/sh", "-c",
                                 f"echo s3cr3t > secret.txt; echo s3cr3t > /tmp/{mark}; "
                                 f"echo s3cr3t > /dev/shm/{mark}; echo uid $(id -u); "
                                 f"echo pid $$"]})
        self.wait_state("acme/research/leaver", "finished")
        acme_uid = int(self.wait_logs("acme/research/leaver", "pid").split()[1])
        work = self.agents["gpu-a"][2]
        replica_dirs = [d for d in os.listdir(work) if d.startswith("w")]
        self.assertTrue(replica_dirs)
        self.assertEqual(os.stat(f"/tmp/{mark}").st_uid, acme_uid)
        # gpu-a goes to beta (acme keeps gpu-b, which its reservation needs)
        st, r = self.d.request("POST", "/v1/nodes/gpu-a/move", {"tenant": "beta"},
                               token=self.d.admin)
        self.assertEqual(st, 202, r)
        deadline = time.time() + 15
        while time.time() < deadline:
            n = self.d.request("GET", "/v1/nodes/gpu-a", token=self.d.admin)[1]
            if n["tenant"] == "beta":
                break
            time.sleep(0.1)
        self.assertEqual((n["tenant"], n["state"]), ("beta", "ready"), n)
        # nothing of acme is left on the node
        self.assertEqual([d for d in os.listdir(work) if d.startswith("w")], [])
        self.assertFalse(os.path.exists(f"/tmp/{mark}"))
        self.assertFalse(os.path.exists(f"/dev/shm/{mark}"))
        self.assertIn("node wiped for tenant beta", self.agent_log("gpu-a"))
        with open(os.path.join(work, "agent-state.json")) as f:
            saved = json.load(f)
        self.assertEqual(saved["tenant"], "beta")
        self.assertEqual(saved["identities"]["workspaces"], {})
        # beta's work runs there, as a uid acme never had, and finds nothing of acme's
        self.submit({"name": "looker", "workspace": "beta/ops", "gpus": 1,
                     "command": ["/bin/sh", "-c",
                                 f"echo uid $(id -u); ls {work}/{replica_dirs[0]} 2>&1; "
                                 f"cat /tmp/{mark} 2>&1; echo done"]})
        self.wait_state("beta/ops/looker", "finished")
        self.assertIn("started beta/ops/looker", self.agent_log("gpu-a"))
        out = self.wait_logs("beta/ops/looker", "done").splitlines()
        self.assertNotEqual(int(out[0].split()[1]), acme_uid)
        self.assertIn("No such file or directory", out[1])
        self.assertIn("No such file or directory", out[2])
        self.assertNotIn("s3cr3t", "\n".join(out))
        # acme's output, shipped before the wipe, stays readable in allotd
        self.assertIn(f"uid {acme_uid}", self.logs("acme/research/leaver"))


class FakeControllerTest(unittest.TestCase):
    """The agent against a controller played by the test, to order what a real one never
    does: a replica of a tenant the node does not serve must not start (it fails, code 126)."""

    def test_work_of_another_tenant_is_refused(self):
        import http.server
        import threading
        reports = []

        class Controller(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                reports.append(body)
                answer = {"node": "gpu-a", "epoch": 1, "version": len(reports),
                          "tenant": "acme", "workloads": [
                              {"name": "beta/ops/intruder", "workspace": "beta/ops",
                               "state": "running", "rank": 0, "attempt": 1, "world_size": 1,
                               "peers": ["gpu-a"], "gpu_indices": [0], "gpu_uuids": [None],
                               "grace_ms": 1000, "command": ["/bin/sh", "-c", "echo ran"]}]}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Controller)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        tmp = tempfile.mkdtemp(prefix="allot-fake-")
        self.addCleanup(shutil.rmtree, tmp, True)
        log = open(os.path.join(tmp, "agent.log"), "wb")
        self.addCleanup(log.close)
        proc = subprocess.Popen([AGENT, "--server", f"http://127.0.0.1:{server.server_port}",
                                 "--node", "gpu-a", "--token", "allot_x", "--gpus", "8xH100-80GB",
                                 "--work-dir", os.path.join(tmp, "work"), "--interval", "100ms",
                                 "--cgroup-mode", "none", "--uid-range", f"{UID_BASE + 3000}:1000"],
                                stdout=log, stderr=log)
        self.addCleanup(lambda: proc.poll() is None and (proc.terminate(), proc.wait(10)))
        deadline = time.time() + 10
        ended = None
        while time.time() < deadline and not ended:
            for r in list(reports):
                for w in r.get("workloads", []):
                    if w["name"] == "beta/ops/intruder" and w["state"] != "running":
                        ended = (r, w)
            time.sleep(0.05)
        self.assertIsNotNone(ended, "the agent never reported the replica it was given")
        report, w = ended
        self.assertEqual(report.get("tenant"), "acme")  # wiped for acme on its first start
        self.assertEqual(w["exit_code"], 126)
        self.assertIn("not of tenant 'acme'", w["reason"])
        self.assertFalse(glob.glob(os.path.join(tmp, "work", "w*", "stdout.log")),
                         "a process of beta ran on acme's node")


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[4:])
