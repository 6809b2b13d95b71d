#!/usr/bin/env python3
"""Containers benchmark (not a test): the start latency of a one-GPU container workload through
allotd and allot-agent (--runtime runc), against `runc run` of the same bundle by hand in the
same run, and the throughput of one-GPU `true` containers. See docs/benchmarks.md,
"Containers: bench/bench_containers.py".

    python3 bench/bench_containers.py                      # build/ binaries, 30 rounds, 200
    python3 bench/bench_containers.py --rounds 50 --count 500 --build build-release

Needs root, runc, umoci, busybox-static and a C compiler with a static libc. What it does:
  1. builds a busybox image with umoci holding /bin/stamp, a static program that prints
     CLOCK_REALTIME in microseconds, and imports it with `allot-agent image import`;
  2. starts allotd (examples/platform.yaml, gpu-b drained) and one agent for gpu-a (8
     declared GPUs, --runtime runc), all on 127.0.0.1;
  3. latency, ROUNDS times, alternating: (a) submits a container running /bin/stamp and takes
     the time from just before the HTTP submission to the stamp it printed; (b) runs `runc
     run` of the bundle the agent wrote (captured once, same rootfs, mounts, user and
     limits; its own cgroup) and takes the time from just before the fork to the stamp;
     prints p50 and p99 of each and of the difference;
  4. throughput: submits COUNT one-GPU containers running /bin/true at once (8 GPUs: 8 run
     at a time) and prints containers completed per second, first submission to last end;
     then the same with COUNT bare processes (no image) for comparison.
Everything started is stopped, and the temporary directory removed, at the end."""
import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import allotd_harness  # noqa: E402

STAMP_C = r"""
#include <stdio.h>
#include <time.h>
int main(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    printf("%lld\n", (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
    return 0;
}
"""
IMAGE = "bench/stamp:1"
RUNC = shutil.which("runc", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def build_image(tmp, agent, store):
    layout, bundle = os.path.join(tmp, "layout"), os.path.join(tmp, "unpacked")
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "check": True}
    subprocess.run(["umoci", "init", "--layout", layout], **quiet)
    subprocess.run(["umoci", "new", "--image", f"{layout}:1"], **quiet)
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:1", bundle], **quiet)
    bindir = os.path.join(bundle, "rootfs", "bin")
    os.makedirs(bindir, exist_ok=True)
    shutil.copy("/bin/busybox", os.path.join(bindir, "busybox"))
    for applet in ("sh", "true", "sleep"):
        os.symlink("busybox", os.path.join(bindir, applet))
    src = os.path.join(tmp, "stamp.c")
    with open(src, "w") as f:
        f.write(STAMP_C)
    subprocess.run(["cc", "-static", "-O2", "-o", os.path.join(bindir, "stamp"), src], check=True)
    subprocess.run(["umoci", "repack", "--image", f"{layout}:1", bundle], **quiet)
    subprocess.run(["umoci", "config", "--image", f"{layout}:1", "--config.cmd", "/bin/stamp",
                    "--config.env", "PATH=/bin"], **quiet)
    subprocess.run([agent, "image", "import", "--image-store", store, f"{layout}:1", IMAGE],
                   check=True, stderr=subprocess.DEVNULL)


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    args = ap.parse_args()
    allotd = os.path.join(args.build, "allotd")
    agent = os.path.join(args.build, "allot-agent")
    if os.geteuid() != 0 or not RUNC or not shutil.which("umoci"):
        sys.exit("bench_containers: needs root, runc and umoci")
    tmp = tempfile.mkdtemp(prefix="allot-bench-containers-")
    os.chmod(tmp, 0o711)
    cgroup_parent = f"/allot-bench-{os.getpid()}"
    daemon = proc = None
    work = os.path.join(tmp, "gpu-a")
    runtime_root = os.path.join(work, "runtime")
    try:
        store = os.path.join(tmp, "store")
        build_image(tmp, agent, store)
        daemon = allotd_harness.Daemon(allotd, os.path.join(tmp, "data"),
                                       os.path.join(ROOT, "examples", "platform.yaml"),
                                       ["--no-virtual-nodes"])
        st, r = daemon.request("POST", "/v1/tokens", {"node": "gpu-a"}, token=daemon.admin)
        assert st == 201, r
        os.mkdir(work)
        os.mkdir(os.path.join(tmp, "cgroup"))
        log = open(os.path.join(tmp, "agent.log"), "ab")
        proc = subprocess.Popen([agent, "--server", daemon.url, "--node", "gpu-a", "--token",
                                 r["token"], "--gpus", "8xH100-80GB", "--work-dir", work,
                                 "--cgroup-root", os.path.join(tmp, "cgroup"),
                                 "--uid-range", "1950000000:1000", "--image-store", store,
                                 "--runtime", "runc", "--container-cgroup-parent",
                                 cgroup_parent], stdout=log, stderr=log)
        assert daemon.request("POST", "/v1/nodes/gpu-b/drain", token=daemon.admin)[0] == 200

        def submit(name, command, ws="acme/research", image=IMAGE):
            body = {"name": name, "workspace": ws, "gpus": 1, "grace": "1s",
                    "command": command}
            if image:
                body["image"] = image
            st, r = daemon.request("POST", "/v1/workloads", body, token=daemon.admin)
            assert st == 201, r

        def state(name):
            return daemon.request("GET", f"/v1/workloads/acme/research/{name}",
                                  token=daemon.admin)[1]["state"]

        def wait_finished(name):
            deadline = time.time() + 30
            while state(name) not in ("finished", "cancelled") and time.time() < deadline:
                time.sleep(0.01)

        # the agent's bundle, captured once from a running container
        submit("capture", ["/bin/sleep", "30"])
        deadline = time.time() + 30
        while not glob.glob(os.path.join(work, "bundles", "w*", "config.json")):
            assert time.time() < deadline, "no bundle appeared"
            time.sleep(0.01)
        time.sleep(0.2)
        with open(glob.glob(os.path.join(work, "bundles", "w*", "config.json"))[0]) as f:
            config = json.load(f)
        daemon.request("DELETE", "/v1/workloads/acme/research/capture", token=daemon.admin)
        wait_finished("capture")
        manual = os.path.join(tmp, "manual")
        uid = config["process"]["user"]["uid"]
        os.makedirs(os.path.join(manual, "work", "tmp"))
        for d in (os.path.join(manual, "work"), os.path.join(manual, "work", "tmp")):
            os.chown(d, uid, config["process"]["user"]["gid"])
            os.chmod(d, 0o700)
        for m in config["mounts"]:
            if m["destination"] == "/work":
                m["source"] = os.path.join(manual, "work")
            elif m["destination"] == "/tmp":
                m["source"] = os.path.join(manual, "work", "tmp")
        config["process"]["args"] = ["/bin/stamp"]
        bundle = os.path.join(manual, "bundle")
        os.mkdir(bundle)
        manual_root = os.path.join(manual, "runtime")

        agent_ms, runc_ms = [], []
        for i in range(args.rounds):
            name = f"lat-{i}"
            t0 = time.time()
            submit(name, ["/bin/stamp"])
            wait_finished(name)
            out = daemon.request("GET", f"/v1/workloads/acme/research/{name}/logs",
                                 token=daemon.admin)[1]
            deadline = time.time() + 10
            while not out.strip() and time.time() < deadline:
                time.sleep(0.02)
                out = daemon.request("GET", f"/v1/workloads/acme/research/{name}/logs",
                                     token=daemon.admin)[1]
            agent_ms.append(int(out.split()[0]) / 1000 - t0 * 1000)
            config["linux"]["cgroupsPath"] = f"{cgroup_parent}/manual-{i}"
            with open(os.path.join(bundle, "config.json"), "w") as f:
                json.dump(config, f)
            t0 = time.time()
            r = subprocess.run([RUNC, "--root", manual_root, "run", "--bundle", bundle,
                                f"manual-{i}"], capture_output=True, text=True, timeout=30)
            assert r.returncode == 0, r.stderr
            runc_ms.append(int(r.stdout.split()[0]) / 1000 - t0 * 1000)
        diff = [a - b for a, b in zip(agent_ms, runc_ms)]
        print(f"== containers: start latency, {args.rounds} rounds (ms, submit or fork to the "
              f"container's first write)")
        for label, v in (("allotd + agent", agent_ms), ("runc run by hand", runc_ms),
                         ("difference", diff)):
            print(f"{label:18s} p50 {pct(v, 50):7.1f}  p99 {pct(v, 99):7.1f}  "
                  f"mean {statistics.mean(v):7.1f}")

        def cpu(pid):
            """(own, reaped children's) CPU seconds of pid."""
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            tick = os.sysconf("SC_CLK_TCK")
            return ((int(fields[11]) + int(fields[12])) / tick,
                    (int(fields[13]) + int(fields[14])) / tick)

        for label, image in (("containers", IMAGE), ("bare processes", None)):
            agent0, daemon0 = cpu(proc.pid), cpu(daemon.proc.pid)
            t0 = time.time()
            for i in range(args.count):
                submit(f"t-{label[0]}-{i}", ["/bin/true"], image=image)
            while True:
                busy = sum(len(daemon.request("GET", f"/v1/workloads?workspace=acme/research"
                                              f"&state={s}&limit=1",
                                              token=daemon.admin)[1]["items"])
                           for s in ("pending", "running"))
                if busy == 0:
                    break
                time.sleep(0.05)
            took = time.time() - t0
            agent1, daemon1 = cpu(proc.pid), cpu(daemon.proc.pid)
            print(f"== throughput, {args.count} one-GPU `true` {label} on 8 GPUs: "
                  f"{args.count / took:.1f}/s ({took:.1f} s); CPU per workload: agent "
                  f"{(agent1[0] - agent0[0]) / args.count * 1000:.1f} ms, its children "
                  f"(runtime or keeper, and the workload) "
                  f"{(agent1[1] - agent0[1]) / args.count * 1000:.1f} ms, allotd "
                  f"{(daemon1[0] - daemon0[0]) / args.count * 1000:.1f} ms")
    finally:
        if proc and proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)
        for root in (runtime_root, os.path.join(tmp, "manual", "runtime")):
            if os.path.isdir(root):
                r = subprocess.run([RUNC, "--root", root, "list", "-q"], capture_output=True,
                                   text=True)
                for cid in r.stdout.split():
                    subprocess.run([RUNC, "--root", root, "delete", "--force", cid],
                                   capture_output=True)
        for parent in glob.glob(f"/sys/fs/cgroup/*{cgroup_parent}"):
            for child in glob.glob(os.path.join(parent, "*")):
                if os.path.isdir(child):
                    os.rmdir(child)
            os.rmdir(parent)
        if daemon and daemon.proc.poll() is None:
            daemon.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
