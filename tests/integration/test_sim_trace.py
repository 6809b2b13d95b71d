#!/usr/bin/env python3
"""`allot sim --trace` and `--compare` through the real binary: a generic trace made here,
the three policies, JSON figures, bad inputs, the report page, and the Philly trace when
../shared/traces is there. Usage: test_sim_trace.py ALLOT SRCDIR [basic|report|philly]
(exit 77: skipped, with the reason on stderr)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

ALLOT = sys.argv[1] if len(sys.argv) > 1 else "build/allot"
SRC = sys.argv[2] if len(sys.argv) > 2 else "."
WHAT = sys.argv[3] if len(sys.argv) > 3 else "basic"
SKIP = 77


def sim(*args, check=True):
    r = subprocess.run([ALLOT, "sim", *args], capture_output=True, text=True, timeout=300)
    if check and r.returncode != 0:
        raise AssertionError(f"allot sim {' '.join(args)}: exit {r.returncode}: {r.stderr}")
    return r


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def trace_file(tmp):
    """Two workspaces: 'prod' (a steady trickle) and 'lab' (a burst that borrows)."""
    path = os.path.join(tmp, "t.csv")
    with open(path, "w") as f:
        f.write("submit,duration,gpus,workspace,kind\n")
        for i in range(40):
            f.write(f"{i * 60},600,1,lab,\n")
        for i in range(10):
            f.write(f"{300 + i * 120},900,2,prod,\n")
        f.write("3600,300,16,lab,\n")  # a gang of two whole nodes
    return path


def basic(tmp):
    path = trace_file(tmp)
    r = sim("--trace", path, "--format", "generic", "--nodes", "2", "--reserve",
            "prod=8,lab=4", "--json", "--check")  # invariants verified after every pass
    doc = json.loads(r.stdout)
    runs = {x["label"]: x for x in doc["runs"]}
    expect(sorted(runs) == ["allot", "shared", "static"], runs.keys())
    for x in runs.values():
        expect(x["all"]["submitted"] == 51, x["all"])
        expect(x["gpus"] == 16, x)
        expect(set(x["workspaces"]) == {"trace/lab", "trace/prod"}, x["workspaces"].keys())
    # static: lab is capped at its 4 GPUs, so its gang of 16 can never run: rejected
    expect(runs["static"]["workspaces"]["trace/lab"]["rejected"] == 1, runs["static"])
    expect(runs["allot"]["all"]["rejected"] == 0, runs["allot"]["all"])
    # one kind, one priority: shared never preempts; static neither (nothing is borrowed)
    expect(runs["shared"]["all"]["preemptions"] == 0, runs["shared"]["all"])
    expect(runs["static"]["all"]["preemptions"] == 0, runs["static"]["all"])
    # prod's jobs within its reservation: allot keeps the promise, lab borrowed meanwhile
    g = runs["allot"]["workspaces"]["trace/prod"]["guarantee"]
    expect(g["jobs"] > 0 and g["late"] == 0, g)
    # --time-limit-factor: the same jobs all submitted, finished, checked after every pass
    r = sim("--trace", path, "--format", "generic", "--nodes", "2", "--reserve",
            "prod=8,lab=4", "--policy", "allot", "--time-limit-factor", "1.5", "--json",
            "--check")
    limited = json.loads(r.stdout)["runs"][0]["all"]
    expect(limited["submitted"] == 51 and limited["finished"] == 51, limited)
    # the readable output names every run and workspace
    r = sim("--trace", path, "--format", "generic", "--nodes", "2", "--reserve",
            "proportional:0.5", "--policy", "allot")
    expect("trace/lab" in r.stdout and "allot:" in r.stdout, r.stdout)
    # checkpoints: every 10s, each policy with checkpoint-aware victims and in the victim
    # order; a preempted job loses less than that (the time since its last checkpoint)
    r = sim("--trace", path, "--format", "generic", "--nodes", "2", "--reserve",
            "prod=8,lab=4", "--policy", "allot", "--checkpoint-every", "10s",
            "--checkpoint-aware", "both", "--json", "--check")
    ck = {x["label"]: x for x in json.loads(r.stdout)["runs"]}
    expect(sorted(ck) == ["allot", "allot/order"], ck.keys())
    expect(ck["allot"]["checkpoint_aware"] and not ck["allot/order"]["checkpoint_aware"], ck)
    expect(ck["allot"]["checkpoint_every_s"] == 10, ck["allot"])
    for x in ck.values():
        a = x["all"]
        expect(a["preemptions"] > 0, a)
        # each loss is under 10s of its GPUs (16 at most)
        expect(a["lost_gpu_hours"] < a["preemptions"] * 16 * 10 / 3600, a)
    expect(runs["allot"]["all"]["lost_gpu_hours"] > ck["allot"]["all"]["lost_gpu_hours"],
           (runs["allot"]["all"], ck["allot"]["all"]))
    r = sim("--trace", path, "--format", "generic", "--nodes", "2", "--policy", "allot",
            "--checkpoint-aware", "off", "--json")
    expect(not json.loads(r.stdout)["runs"][0]["checkpoint_aware"], r.stdout)
    for args, want in ((["--checkpoint-every", "0s"], "--checkpoint-every"),
                       (["--checkpoint-every", "soon"], "--checkpoint-every"),
                       (["--checkpoint-aware", "maybe"], "--checkpoint-aware")):
        r = sim("--trace", path, "--format", "generic", "--nodes", "1", *args, check=False)
        expect(r.returncode == 2 and want in r.stderr, (args, r.stderr))
    # bad inputs: exit 2, the message names the file, line and field or the flag
    bad = os.path.join(tmp, "bad.csv")
    with open(bad, "w") as f:
        f.write("submit,duration,gpus,workspace\n0,10,1,w\n5,ten,1,w\n")
    r = sim("--trace", bad, "--format", "generic", "--nodes", "1", check=False)
    expect(r.returncode == 2 and f"{bad}:3: duration:" in r.stderr, r.stderr)
    for args, want in ((["--nodes", "0"], "--nodes"), (["--format", "csv", "--nodes", "1"],
                                                       "--format"),
                       ([], "--nodes N or --platform"),
                       (["--nodes", "1", "--reserve", "nope=3"], "--reserve"),
                       (["--nodes", "1", "--policy", "fifo"], "--policy"),
                       (["--nodes", "1", "--time-limit-factor", "0.5"], "--time-limit-factor"),
                       (["--nodes", "1", "--time-limit-factor", "x"], "--time-limit-factor")):
        r = sim("--trace", path, *([] if "--format" in args else ["--format", "generic"]),
                *args, check=False)
        expect(r.returncode == 2 and want in r.stderr, (args, r.stderr))
    r = sim("--trace", os.path.join(tmp, "absent.csv"), "--nodes", "1", check=False)
    expect(r.returncode == 2 and "absent.csv" in r.stderr, r.stderr)
    # a platform file: its workspaces must hold the trace's (tenant from --tenant)
    plat = os.path.join(tmp, "platform.yaml")
    with open(plat, "w") as f:
        f.write("tenants:\n  - name: acme\n    workspaces:\n      - name: prod\n"
                "        reserved: {gpu: 8}\n      - name: lab\n"
                "clusters:\n  - name: c\nnodes:\n")
        for n in range(3):
            f.write(f"  - {{name: n{n}, cluster: c, tenant: acme, cpu: 64, memory: 1Ti, "
                    f"gpus: [{{model: H100-80GB, count: 8}}]}}\n")
    r = sim("--trace", path, "--format", "generic", "--platform", plat, "--tenant", "acme",
            "--json")
    expect(json.loads(r.stdout)["runs"][0]["gpus"] == 24, r.stdout[:200])
    r = sim("--trace", path, "--format", "generic", "--platform", plat, check=False)
    expect(r.returncode == 2 and "trace/lab" in r.stderr, r.stderr)
    # a platform file the schema refuses is bad input too: exit code 2, file:line: field
    bad = os.path.join(tmp, "bad-platform.yaml")
    with open(bad, "w") as f:
        f.write("tenants:\n  - name: acme\n    workspaces:\n      - name: prod\n"
                "        weight: 0\n")
    r = sim("--trace", path, "--format", "generic", "--platform", bad, "--tenant", "acme",
            check=False)
    expect(r.returncode == 2 and "bad-platform.yaml:5: tenants[0].workspaces[0].weight:"
           in r.stderr, r.stderr)
    # what-if: the seed example against a copy with one node more
    seed = os.path.join(SRC, "examples", "seed.yaml")
    with open(seed) as f:
        text = f.read()
    after = os.path.join(tmp, "after.yaml")
    marker = "nodes:\n"
    expect(marker in text, "seed.yaml has a nodes: section")
    extra = ("nodes:\n  - name: gpu-z\n    cluster: shared-1\n    tenant: acme\n    cpu: 128\n"
             "    memory: 1Ti\n    gpus:\n      - {model: H100-80GB, count: 8}\n")
    with open(after, "w") as f:
        f.write(text.replace(marker, extra, 1))
    r = sim("--compare", seed, after, "--json")
    runs = json.loads(r.stdout)["runs"]
    expect([x["label"] for x in runs] == ["before", "after"], runs)
    expect(runs[1]["gpus"] == runs[0]["gpus"] + 8, [x["gpus"] for x in runs])
    expect(runs[1]["all"]["preemptions"] <= runs[0]["all"]["preemptions"],
           [x["all"]["preemptions"] for x in runs])
    return 0


def report(tmp):
    if not shutil.which("gnuplot"):
        print("skipped: gnuplot is not installed (scripts/install-deps installs gnuplot-nox)",
              file=sys.stderr)
        return SKIP
    path = trace_file(tmp)
    out = os.path.join(tmp, "report")
    sim("--trace", path, "--format", "generic", "--nodes", "2", "--reserve", "prod=8,lab=4",
        "--report", out)
    for name in ("index.html", "figures.csv", "figures.json", "plots.gp"):
        expect(os.path.getsize(os.path.join(out, name)) > 0, name)
    with open(os.path.join(out, "index.html")) as f:
        html = f.read()
    expect(html.count("data:image/png;base64,iVBORw0KGgo") == 4, "four PNGs inlined")
    expect("<img" in html and "src=\"utilisation.png\"" not in html, "no links to files")
    with open(os.path.join(out, "figures.csv")) as f:
        rows = f.read().splitlines()
    expect(rows[0].startswith("run,policy,workspace,jobs"), rows[0])
    expect(len(rows) == 1 + 3 * 3, rows)  # per run: all + two workspaces
    return 0


def philly(tmp):
    trace = os.path.join(SRC, "..", "shared", "traces", "philly.csv")
    if not os.path.exists(trace):
        print(f"skipped: {trace} is not here (the traces stay outside the repository)",
              file=sys.stderr)
        return SKIP
    r = sim("--trace", trace, "--nodes", "67", "--reserve", "proportional:0.8", "--policy",
            "allot", "--json")
    x = json.loads(r.stdout)["runs"][0]
    expect(x["all"]["submitted"] == 82247, x["all"])
    expect(x["all"]["finished"] + x["all"]["rejected"] == 82247, x["all"])
    expect(len(x["workspaces"]) == 15, len(x["workspaces"]))
    # streaming: the engine never held more than the jobs in flight at once
    expect(x["peak_jobs_in_engine"] < 82247 // 2, x["peak_jobs_in_engine"])
    return 0


if __name__ == "__main__":
    tmp = tempfile.mkdtemp(prefix="allot-trace-")
    try:
        code = {"basic": basic, "report": report, "philly": philly}[WHAT](tmp)
    except AssertionError as e:
        print(f"FAIL: {e}", file=sys.stderr)
        code = 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if code == 0:
        print(f"{WHAT}: ok")
    sys.exit(code)
