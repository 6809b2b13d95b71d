#!/usr/bin/env python3
"""End to end, workloads in OCI containers: a tiny busybox image is built with umoci in a
temporary directory (nothing is downloaded) and imported with `allot-agent image import`; the
real allotd and two real agents run with `--runtime runc`. A container runs as its workspace's
uid with /work and its output shipped; exit codes and signals are reported; a missing image
ends the replica at once; a cancel sends SIGTERM inside the container and one that ignores it
is killed at the deadline through `runc kill`, leaving nothing behind; a container sees only
its own processes and its own /work; a restarted agent adopts its containers; and the seed
story (prod reclaims its reserved GPUs from research's borrowing containers). Needs root, runc,
umoci and a static busybox: without them it says which is missing and exits 77 (skipped).
Usage: test_containers.py ALLOTD ALLOT_AGENT SRCDIR"""
import glob
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import allotd_harness  # noqa: E402
import test_agent  # noqa: E402  (its helpers; its tests are not imported by name)
import test_agent_devices  # noqa: E402  (its fake CDI spec)

ALLOTD = sys.argv[1] if len(sys.argv) > 1 else "build/allotd"
AGENT = sys.argv[2] if len(sys.argv) > 2 else "build/allot-agent"
SRC = sys.argv[3] if len(sys.argv) > 3 else "."
PLATFORM = os.path.join(SRC, "examples", "platform.yaml")
BUSYBOX = "/bin/busybox"
IMAGE = "tools/busybox:1.0"
# The containers' cgroups (runc makes them under this parent in every hierarchy): the test's
# own, removed at the end.
CGROUP_PARENT = f"/allot-ctest-{os.getpid()}"
# uids of their own, never those of test_agent.py (1.5e9 to 1.62e9) running beside them
UID_BASE = 1_800_000_000 + (os.getpid() % 30000) * 4000


def missing_prerequisite():
    """Why the tests cannot run here (None when they can)."""
    if os.geteuid() != 0:
        return "not root: containers need an agent running as root"
    for tool in ("runc", "umoci"):
        if not shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
            return f"{tool} is not installed (scripts/install-deps installs it)"
    if not os.path.exists(BUSYBOX):
        return f"{BUSYBOX} is missing (the busybox-static package)"
    r = subprocess.run(["ldd", BUSYBOX], capture_output=True, text=True)
    if r.returncode == 0 and "not a dynamic" not in r.stdout + r.stderr:
        return f"{BUSYBOX} is not statically linked (install busybox-static)"
    return None


def runc():
    return shutil.which("runc", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def build_layout(tmp):
    """The image layout of scripts/busybox-image (busybox, its applets as links, Cmd /bin/sh),
    tagged 1, with one variable of the image's own. RET "LAYOUT:1"."""
    layout = os.path.join(tmp, "layout")
    r = subprocess.run([os.path.join(SRC, "scripts", "busybox-image"), layout, "1"],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"scripts/busybox-image: {r.stderr}")
    subprocess.run(["umoci", "config", "--image", f"{layout}:1", "--config.env", "PATH=/bin",
                    "--config.env", "IMAGE_VAR=from-image"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return r.stdout.strip()


class ContainerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.build = tempfile.mkdtemp(prefix="allot-ctest-image-")
        cls.layout = build_layout(cls.build)
        cls.store = os.path.join(cls.build, "store")
        r = subprocess.run([AGENT, "image", "import", "--image-store", cls.store, cls.layout,
                            IMAGE], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError(f"image import: {r.stderr}")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.build, ignore_errors=True)

    # the helpers of test_agent.AgentTest, not its tests
    submit = test_agent.AgentTest.submit
    wait_state = test_agent.AgentTest.wait_state
    outputs = test_agent.AgentTest.outputs
    logs = test_agent.AgentTest.logs
    wait_logs = test_agent.AgentTest.wait_logs
    agent_log = test_agent.AgentTest.agent_log
    stop_agent = test_agent.AgentTest.stop_agent

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="allot-ctest-")
        os.chmod(self.tmp, 0o711)
        self.d = allotd_harness.Daemon(ALLOTD, os.path.join(self.tmp, "data"), PLATFORM,
                                       ["--no-virtual-nodes"])
        self.agents, self.tokens, self.log_start = {}, {}, {}
        os.mkdir(os.path.join(self.tmp, "cgroup"))  # stands in for cgroupfs (bare processes)
        for node in ("gpu-a", "gpu-b"):
            st, r = self.d.request("POST", "/v1/tokens", {"node": node}, token=self.d.admin)
            self.assertEqual(st, 201, r)
            self.tokens[node] = r["token"]
            os.mkdir(os.path.join(self.tmp, node))
            self.start_agent(node)

    def uid_range(self, node):
        return f"{UID_BASE + 1000 * sorted(self.tokens).index(node)}:1000"

    def first_uid(self, node):
        return int(self.uid_range(node).split(":")[0])

    def runtime_root(self, node):
        return os.path.join(self.tmp, node, "runtime")

    def start_agent(self, node, extra=()):
        work = os.path.join(self.tmp, node)
        log = open(os.path.join(self.tmp, node + ".log"), "ab")
        self.log_start[node] = log.tell()
        proc = subprocess.Popen([AGENT, "--server", self.d.url, "--node", node,
                                 "--token", self.tokens[node], "--gpus", "8xH100-80GB",
                                 "--work-dir", work, "--interval", "100ms",
                                 "--cgroup-root", os.path.join(self.tmp, "cgroup"),
                                 "--uid-range", self.uid_range(node),
                                 "--image-store", self.store, "--runtime", "runc",
                                 "--container-cgroup-parent", CGROUP_PARENT, *extra],
                                stdout=log, stderr=log)
        self.agents[node] = (proc, log, work)

    def containers(self, node):
        """The containers runc knows of under node's runtime root: [(id, status)]."""
        root = self.runtime_root(node)
        if not os.path.isdir(root):
            return []
        r = subprocess.run([runc(), "--root", root, "list", "--format", "json"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [(c["id"], c["status"]) for c in (json.loads(r.stdout or "null") or [])]

    def processes_of_uids(self):
        """Pids of the living processes whose uid is in one of the agents' ranges."""
        low, high = UID_BASE, UID_BASE + 1000 * len(self.tokens)
        found = []
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    uid = os.stat(f"/proc/{pid}").st_uid
                    with open(f"/proc/{pid}/stat") as f:
                        zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
                except OSError:
                    continue
                if low <= uid < high and not zombie:
                    found.append(int(pid))
        return found

    def cgroup_values(self, cid):
        """The memory, CPU and pids limits of container cid's cgroup, v1 or v2, as cgroup v2
        writes them ("max" for none)."""
        v2 = f"/sys/fs/cgroup{CGROUP_PARENT}/{cid}"
        files = ({"memory": [f"{v2}/memory.max"], "cpu": [f"{v2}/cpu.max"],
                  "pids": [f"{v2}/pids.max"]} if os.path.isdir(v2) else
                 {"memory": [f"/sys/fs/cgroup/memory{CGROUP_PARENT}/{cid}/memory.limit_in_bytes"],
                  "cpu": [f"/sys/fs/cgroup/cpu{CGROUP_PARENT}/{cid}/cpu.cfs_quota_us",
                          f"/sys/fs/cgroup/cpu{CGROUP_PARENT}/{cid}/cpu.cfs_period_us"],
                  "pids": [f"/sys/fs/cgroup/pids{CGROUP_PARENT}/{cid}/pids.max"]})
        values = {}
        for key, paths in files.items():
            parts = []
            for path in paths:
                with open(path) as f:
                    parts.append(f.read().strip())
            values[key] = " ".join(parts)
        return values

    def wait_for(self, what, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = what()
            if value:
                return value
            time.sleep(0.05)
        return what()

    def count_outputs(self, text):
        return sum(text in o for o in self.outputs())

    def tearDown(self):
        for proc, log, _ in self.agents.values():
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)
            log.close()
        # what the agents left running on purpose (adoption): every container, by runc
        for node in self.tokens:
            root = self.runtime_root(node)
            for cid, _ in (self.containers(node) if os.path.isdir(root) else []):
                subprocess.run([runc(), "--root", root, "kill", "--all", cid, "KILL"],
                               capture_output=True, timeout=10)
                subprocess.run([runc(), "--root", root, "delete", "--force", cid],
                               capture_output=True, timeout=10)
        for pid in self.processes_of_uids():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for parent in glob.glob(f"/sys/fs/cgroup/*{CGROUP_PARENT}"):
            test_agent.remove_cgroup_tree(parent)
        if self.d.proc.poll() is None:
            self.d.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def assert_nothing_left(self):
        """No container in any runc root, no process of a workspace's uid."""
        for node in self.tokens:
            self.assertEqual(self.wait_for(lambda: not self.containers(node), 10), True,
                             self.containers(node))
        self.assertEqual(self.wait_for(lambda: not self.processes_of_uids(), 10), True,
                         self.processes_of_uids())

    # ---- the tests ----

    def test_runs_as_the_workspace_user_with_its_output_and_exit(self):
        script = ("echo uid=$(id -u) gid=$(id -g) home=$HOME pwd=$(pwd) "
                  "cuda=$CUDA_VISIBLE_DEVICES var=$IMAGE_VAR greeting=$GREETING; "
                  "echo to-stderr >&2; echo kept > /work/kept.txt && echo work-ok; "
                  "(echo x > /bin/x) 2>/dev/null || echo root-read-only; "
                  "echo tmp > /tmp/t && echo tmp-ok; exit 3")
        w = self.submit({"name": "who", "workspace": "acme/research", "gpus": 2,
                         "image": IMAGE, "env": {"GREETING": "hi"},
                         "command": ["/bin/sh", "-c", script]})
        node, gpus = w["placement"][0]["node"], w["placement"][0]["gpus"]
        done = self.wait_state("acme/research/who", "failed", timeout=20)  # exit 3
        self.assertEqual(done["exit"]["code"], 3, done["exit"])
        first = self.first_uid(node)
        uuids = ",".join(f"DECLARED-{i}" for i in gpus)
        out = self.wait_logs("acme/research/who", "tmp-ok\n")
        self.assertEqual(out, f"uid={first} gid={first} home=/work pwd=/work cuda={uuids} "
                              f"var=from-image greeting=hi\nwork-ok\nroot-read-only\ntmp-ok\n")
        self.assertEqual(self.wait_logs("acme/research/who", "to-stderr", "?stream=stderr"),
                         "to-stderr\n")
        # /work is the replica's directory on the host, and what it wrote is the workspace's
        kept = glob.glob(os.path.join(self.tmp, node, "w*", "kept.txt"))
        self.assertEqual(len(kept), 1)
        self.assertEqual(os.stat(kept[0]).st_uid, first)
        # /tmp is the replica's tmp: the storage check counts it
        self.assertEqual(len(glob.glob(os.path.join(self.tmp, node, "w*", "tmp", "t"))), 1)
        # no command: the image's (Cmd /bin/sh, which reads an empty stdin and exits 0); the
        # workload's workdir
        self.submit({"name": "default", "workspace": "acme/research", "gpus": 1,
                     "image": IMAGE})
        done = self.wait_state("acme/research/default", "finished", timeout=20)
        self.assertEqual((done["exit"]["code"], done["exit"]["signal"]), (0, 0), done["exit"])
        self.submit({"name": "where", "workspace": "acme/research", "gpus": 1, "image": IMAGE,
                     "workdir": "/tmp", "command": ["/bin/sh", "-c", "pwd"]})
        self.wait_state("acme/research/where", "finished", timeout=20)
        self.assertEqual(self.wait_logs("acme/research/where", "\n"), "/tmp\n")
        # a signal that ends the container's init is reported as that signal
        w = self.submit({"name": "shot", "workspace": "acme/research", "gpus": 1,
                         "memory": "64Mi", "cpu": "0.5", "image": IMAGE,
                         "command": ["/bin/sh", "-c", "echo up; sleep 60"]})
        node = w["placement"][0]["node"]
        self.wait_logs("acme/research/shot", "up\n", timeout=20)
        running = self.containers(node)
        self.assertEqual(len(running), 1, running)
        # its limits, in the cgroup runc made for it (named after the node and the replica)
        cid = running[0][0]
        self.assertTrue(cid.startswith(node + ".w"), cid)
        self.assertEqual(self.cgroup_values(cid), {"memory": "67108864",
                                                   "cpu": "50000 100000", "pids": "4096"})
        subprocess.run([runc(), "--root", self.runtime_root(node), "kill", running[0][0],
                        "KILL"], check=True, timeout=10)
        done = self.wait_state("acme/research/shot", "failed")  # a SIGKILL Allot did not send
        self.assertEqual((done["exit"]["code"], done["exit"]["signal"]), (-1, 9), done["exit"])
        self.assertIn("killed by signal 9", done["exit"]["reason"])
        self.assert_nothing_left()

    def test_missing_image_fails_at_once(self):
        w = self.submit({"name": "ghost", "workspace": "acme/research", "gpus": 1,
                         "image": "nope:1", "command": ["/bin/true"]})
        done = self.wait_state("acme/research/ghost", "failed")
        self.assertEqual(done["exit"]["reason"],
                         f"image_missing: nope:1 is not in the node's image store {self.store}")
        self.assertEqual(done["exit"]["code"], 127)
        self.assertFalse(self.containers(w["placement"][0]["node"]))

    def test_cancel_sends_sigterm_inside_and_kills_at_the_deadline(self):
        # the deadline on one line written at once, so that it is shipped whole
        trap = ("trap 'echo got TERM; echo deadline=$(cat \"$ALLOT_PREEMPT_DEADLINE_FILE\") end; "
                "exit 0' TERM; echo started; while true; do sleep 0.05; done")
        stubborn = "trap '' TERM; echo started; while true; do sleep 0.05; done"
        self.submit({"name": "polite", "workspace": "acme/research", "gpus": 1, "grace": "10s",
                     "image": IMAGE, "command": ["/bin/sh", "-c", trap]})
        self.submit({"name": "stubborn", "workspace": "acme/research", "gpus": 1, "grace": "1s",
                     "image": IMAGE, "command": ["/bin/sh", "-c", stubborn]})
        self.assertEqual(self.wait_for(lambda: self.count_outputs("started") == 2, 20), True)
        before = time.time()
        for name in ("polite", "stubborn"):
            self.d.request("DELETE", f"/v1/workloads/acme/research/{name}", token=self.d.admin)
        after = time.time()
        polite = self.wait_state("acme/research/polite", "cancelled", timeout=15)
        text = self.wait_logs("acme/research/polite", " end\n")
        self.assertEqual(text.splitlines()[:2], ["started", "got TERM"])
        # the deadline, in the file its environment names (/work/preempt_deadline): the
        # cancel's time plus its 10 s grace
        deadline_ms = int(re.search(r"^deadline=(\d+) end$", text, re.M).group(1))
        self.assertGreaterEqual(deadline_ms, int(before * 1000) + 10000)
        self.assertLessEqual(deadline_ms, int(after * 1000) + 10000 + 1000)
        self.assertIn("after SIGTERM, within the grace period", polite["exit"]["reason"])
        hard = self.wait_state("acme/research/stubborn", "cancelled", timeout=15)
        self.assertEqual(hard["exit"]["signal"], 9, hard["exit"])
        self.assertIn("killed with SIGKILL at the deadline", hard["exit"]["reason"])
        # once the end is reported, nothing of either runs, and runc knows no container
        self.assertEqual(self.processes_of_uids(), [])
        for node in self.tokens:
            self.assertEqual(self.containers(node), [])
        self.assertEqual(glob.glob(os.path.join(self.tmp, "*", "bundles", "w*")), [])

    def test_containers_see_only_their_own(self):
        # both workspaces on one node
        self.assertEqual(self.d.request("POST", "/v1/nodes/gpu-b/drain",
                                        token=self.d.admin)[0], 200)
        self.submit({"name": "victim", "workspace": "acme/research", "gpus": 1, "image": IMAGE,
                     "grace": "1s",  # its init has no TERM handler: pid 1 ignores SIGTERM
                     "command": ["/bin/sh", "-c",
                                 "echo s3cr3t > /work/secret.txt; echo ready; sleep 60"]})
        self.wait_logs("acme/research/victim", "ready\n", timeout=20)
        victim_dir = os.path.dirname(glob.glob(os.path.join(self.tmp, "gpu-a", "w*",
                                                            "secret.txt"))[0])
        probe = (f"echo uid $(id -u); echo procs $(ls /proc | grep -c '^[0-9]'); "
                 f"ps -o pid,comm | grep -c -e allotd -e allot-agent -e sleep; "
                 f"ls /work; cat {victim_dir}/secret.txt 2>&1; "
                 f"ls {self.tmp} 2>&1; echo done")
        self.submit({"name": "prober", "workspace": "acme/prod", "gpus": 1, "image": IMAGE,
                     "command": ["/bin/sh", "-c", probe]})
        self.wait_state("acme/prod/prober", "finished", timeout=20)
        lines = self.wait_logs("acme/prod/prober", "done\n").splitlines()
        first = self.first_uid("gpu-a")
        victim_uid = os.stat(victim_dir).st_uid
        prober_uid = int(lines[0].split()[1])
        self.assertEqual({victim_uid, prober_uid}, {first, first + 1})  # each its own uid
        # its own processes only: sh, ls and grep, nothing of the host or of the victim
        self.assertLessEqual(int(lines[1].split()[1]), 4, lines)
        self.assertEqual(lines[2], "0")
        # its own /work, and neither the victim's directory nor the host's paths
        self.assertEqual(lines[3:6], ["stderr.log", "stdout.log", "tmp"])
        self.assertIn("No such file or directory", lines[6])
        self.assertIn("No such file or directory", lines[7])
        # the victim's logs are not the prober's to read on the host either
        self.assertEqual(os.stat(os.path.join(victim_dir, "stdout.log")).st_mode & 0o077, 0)
        self.d.request("DELETE", "/v1/workloads/acme/research/victim", token=self.d.admin)
        self.wait_state("acme/research/victim", "cancelled", timeout=15)
        self.assert_nothing_left()

    def test_restarted_agent_adopts_its_containers(self):
        trap = "trap 'echo got TERM; exit 0' TERM; echo started; while true; do sleep 0.05; done"
        w = self.submit({"name": "long", "workspace": "acme/research", "gpus": 8, "image": IMAGE,
                         "command": ["/bin/sh", "-c", trap]})
        node = w["placement"][0]["node"]
        self.assertEqual(self.wait_for(lambda: self.count_outputs("started") == 1, 20), True)
        proc, log, _ = self.agents[node]
        proc.kill()  # no chance to clean up
        proc.wait()
        log.close()
        self.assertEqual([s for _, s in self.containers(node)], ["running"])
        self.start_agent(node)
        self.assertEqual(self.wait_for(lambda: "adopted acme/research/long" in
                                       self.agent_log(node)[self.log_start[node]:]), True)
        # adopted, not started again; it still runs
        self.assertEqual(self.count_outputs("started"), 1)
        self.assertEqual([s for _, s in self.containers(node)], ["running"])
        self.assertEqual(self.d.request("GET", "/v1/workloads/acme/research/long",
                                        token=self.d.admin)[1]["state"], "running")
        # the restarted agent still stops it, inside the container, and reports its end
        self.d.request("DELETE", "/v1/workloads/acme/research/long", token=self.d.admin)
        done = self.wait_state("acme/research/long", "cancelled", timeout=15)
        self.assertEqual(self.count_outputs("got TERM"), 1)
        self.assertIn("after SIGTERM", done["exit"]["reason"])
        self.assert_nothing_left()

    def test_container_whose_runtime_died_with_the_agent_down_is_removed(self):
        w = self.submit({"name": "orphan", "workspace": "acme/research", "gpus": 8,
                         "image": IMAGE, "command": ["/bin/sh", "-c", "echo started; sleep 60"]})
        node = w["placement"][0]["node"]
        self.assertEqual(self.wait_for(lambda: self.count_outputs("started") == 1, 20), True)
        (cid, _), = self.containers(node)
        proc, log, _ = self.agents[node]
        proc.kill()
        proc.wait()
        log.close()
        # its runtime dies too: the container runs on, with nobody to stop it
        runtimes = [int(p) for p in os.listdir("/proc") if p.isdigit() and
                    test_agent.cmdline(p).endswith(f" run --bundle "
                                                   f"{self.tmp}/{node}/bundles/"
                                                   f"{cid.split('.', 1)[1]} {cid}")]
        self.assertEqual(len(runtimes), 1)
        os.kill(runtimes[0], signal.SIGKILL)
        self.assertEqual(self.wait_for(lambda: not os.path.exists(f"/proc/{runtimes[0]}")),
                         True)
        self.assertEqual([s for _, s in self.containers(node)], ["running"])
        self.assertTrue(self.processes_of_uids())
        # the restarted agent reports it gone and removes what was left of it
        self.start_agent(node)
        self.assertEqual(self.wait_for(lambda: "gone while the agent was down" in
                                       self.agent_log(node)[self.log_start[node]:]), True,
                         self.agent_log(node)[self.log_start[node]:])
        self.assertEqual(self.containers(node), [], self.agent_log(node)[self.log_start[node]:])
        self.assertEqual(self.processes_of_uids(), [])
        self.assertEqual(glob.glob(os.path.join(self.tmp, node, "bundles", "w*")), [])
        self.d.request("DELETE", "/v1/workloads/acme/research/orphan", token=self.d.admin)

    def test_reclaim_drains_borrowing_containers_with_sigterm(self):
        """The seed story in containers: research borrows prod's reserved GPUs, prod's
        inference arrives, exactly the borrowers it needs get SIGTERM inside their
        containers, and prod's workload runs."""
        # the GPUs are fake device nodes (major 195, no driver behind them) that a CDI spec
        # names; the agents restart with it, and each container gets its GPUs' nodes only
        dev, cdi = os.path.join(self.tmp, "dev"), os.path.join(self.tmp, "cdi")
        os.mkdir(dev)
        os.mkdir(cdi)
        for name, minor in [(f"nvidia{i}", i) for i in range(8)] + [("nvidiactl", 255)]:
            os.mknod(os.path.join(dev, name), 0o666 | stat.S_IFCHR,
                     os.makedev(test_agent_devices.NVIDIA_MAJOR, minor))
        with open(os.path.join(cdi, "nvidia.json"), "w") as f:
            json.dump(test_agent_devices.fake_spec(dev, 8), f)
        for node in ("gpu-a", "gpu-b"):
            proc, log, _ = self.agents[node]
            proc.terminate()
            proc.wait(timeout=10)
            log.close()
            self.start_agent(node, extra=["--cdi-dirs", cdi])
        for node in ("gpu-a", "gpu-b"):
            self.assertEqual(self.wait_for(lambda: "devices: cdi" in
                                           self.agent_log(node)[self.log_start[node]:]), True,
                             self.agent_log(node)[self.log_start[node]:])
        devices = "echo devices $(ls /dev | grep nvidia | sort | tr '\\n' ' ')"
        trap = ("trap 'echo got TERM; exit 0' TERM; echo started on $CUDA_VISIBLE_DEVICES; "
                + devices + "; while true; do sleep 0.05; done")
        placed = {}
        for i in range(16):
            w = self.submit({"name": f"exp-{i}", "workspace": "acme/research", "gpus": 1,
                             "kind": "experiment", "grace": "5s", "image": IMAGE,
                             "command": ["/bin/sh", "-c", trap]})
            placed[w["name"]] = w["placement"][0]["gpus"]
        self.assertEqual(self.wait_for(lambda: self.count_outputs("started") == 16, 30), True,
                         self.outputs())
        # each sees its own GPU in CUDA_VISIBLE_DEVICES
        for name, gpus in placed.items():
            self.assertIn(f"started on DECLARED-{gpus[0]}\n", self.wait_logs(name, "started"))
        # each container holds the device node of its GPU and the control device, no other
        for name, gpus in placed.items():
            self.assertIn(f"devices nvidia{gpus[0]} nvidiactl\n",
                          self.wait_logs(name, "devices"))
        self.submit({"name": "serve", "workspace": "acme/prod", "gpus": 4,
                             "kind": "inference", "image": IMAGE,
                             "command": ["/bin/sh", "-c",
                                         "echo serving; " + devices + "; sleep 0.2"]})
        self.wait_state("acme/prod/serve", "finished", timeout=30)
        log = self.wait_logs("acme/prod/serve", "nvidiactl")  # its whole output
        self.assertTrue(log.startswith("serving\n"), log)
        # exactly four borrowers got SIGTERM, inside their containers, and exited in grace
        self.assertEqual(self.count_outputs("got TERM"), 4)
        items = self.d.request("GET", "/v1/workloads?workspace=acme/research&limit=100",
                               token=self.d.admin)[1]["items"]
        victims = [x for x in items if x.get("attempts", 0) > 1 or x["state"] == "pending"]
        self.assertEqual(len(victims), 4, items)
        for v in victims:
            if v.get("exit"):
                self.assertIn("within the grace period", v["exit"]["reason"])
        # prod's container sees exactly the four GPUs its victims held, as device nodes
        held = sorted(placed[v["name"]][0] for v in victims)
        self.assertIn("devices " + "".join(f"nvidia{g} " for g in held) + "nvidiactl\n", log)


if __name__ == "__main__":
    why = missing_prerequisite()
    if why:
        print(f"SKIP test_containers: {why}")
        sys.exit(77)
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[4:])
