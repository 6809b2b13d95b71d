#!/usr/bin/env python3
"""End to end: the real allotd and two real allot-agent processes (declared GPUs, since no
driver is here) on 127.0.0.1 run workloads as real processes: the GPU environment, exits
reported, and a reclaim that drains borrowed work with SIGTERM. Usage:
test_agent.py ALLOTD ALLOT_AGENT SRCDIR"""
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import allotd_harness  # noqa: E402

ALLOTD = sys.argv[1] if len(sys.argv) > 1 else "build/allotd"
AGENT = sys.argv[2] if len(sys.argv) > 2 else "build/allot-agent"
SRC = sys.argv[3] if len(sys.argv) > 3 else "."
PLATFORM = os.path.join(SRC, "examples", "platform.yaml")


class AgentTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="allot-e2e-")
        self.d = allotd_harness.Daemon(ALLOTD, os.path.join(self.tmp, "data"), PLATFORM,
                                       ["--no-virtual-nodes"])
        self.agents = {}
        self.tokens = {}
        for node in ("gpu-a", "gpu-b"):
            st, r = self.d.request("POST", "/v1/tokens", {"node": node}, token=self.d.admin)
            self.assertEqual(st, 201, r)
            self.tokens[node] = r["token"]
            os.mkdir(os.path.join(self.tmp, node))
            self.start_agent(node)

    def start_agent(self, node):
        work = os.path.join(self.tmp, node)
        log = open(os.path.join(self.tmp, node + ".log"), "ab")
        proc = subprocess.Popen([AGENT, "--server", self.d.url, "--node", node,
                                 "--token", self.tokens[node], "--gpus", "8xH100-80GB",
                                 "--work-dir", work, "--interval", "100ms"],
                                stdout=log, stderr=log)
        self.agents[node] = (proc, log, work)

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
        self.kill_leftovers()
        for proc, log, _ in self.agents.values():
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)
            log.close()
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
        w = self.submit({"name": "hello", "workspace": "acme/research", "gpus": 2,
                         "command": ["/bin/sh", "-c",
                                     "echo $ALLOT_WORKLOAD $CUDA_VISIBLE_DEVICES $ALLOT_RANK "
                                     "$ALLOT_WORLD_SIZE $GREETING"],
                         "env": {"GREETING": "hi"}})
        gpus = w["placement"][0]["gpus"]
        self.wait_state("acme/research/hello", "finished")
        uuids = ",".join(f"DECLARED-{i}" for i in gpus)
        self.assertIn(f"acme/research/hello {uuids} 0 1 hi\n", self.outputs())

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


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
