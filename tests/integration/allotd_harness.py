"""Shared by the integration tests: a free loopback port, and one real allotd process over a
temporary data directory, driven over HTTP with the admin token it wrote. With
ALLOT_TEST_STORE=postgresql every daemon keeps its store in a private PostgreSQL server
(pgcluster.py), one database per data directory, passed as --store."""
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import pgcluster

STORE = os.environ.get("ALLOT_TEST_STORE", "sqlite")
if STORE not in ("sqlite", "postgresql"):
    raise SystemExit(f"ALLOT_TEST_STORE={STORE}: expected sqlite or postgresql")
if STORE == "postgresql":
    pgcluster.skip_if_missing()


def _database(data):
    """The PostgreSQL database of data directory data."""
    return "d_" + hashlib.sha256(os.path.abspath(data).encode()).hexdigest()[:20]


def store_sql(data, sql):
    """Runs sql (fixed text of the test) on the store of data directory data, outside allotd,
    with either backend. RET its rows, as tuples of ints where a value is one, else text."""
    def value(v):
        try:
            return int(v)
        except (TypeError, ValueError):
            return v
    if STORE == "postgresql":
        out = pgcluster.shared().sql(_database(data), sql)
        return [tuple(value(v) for v in line.split("|")) for line in out.splitlines() if line]
    import sqlite3
    db = sqlite3.connect(os.path.join(data, "allot.db"))
    try:
        rows = db.execute(sql).fetchall()
        db.commit()
    finally:
        db.close()
    return [tuple(value(v) for v in row) for row in rows]


def store_args(data):
    """allotd's arguments for the store of data directory data: --data alone with SQLite;
    with PostgreSQL also --store, a database of the test's server named after the directory
    (the same directory, the same database: a restarted daemon finds its state)."""
    if STORE != "postgresql":
        return ["--data", data]
    return ["--data", data, "--store", pgcluster.shared().database(_database(data))]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    """One allotd process (binary) on a free loopback port over a data directory."""

    def __init__(self, binary, data, platform=None, extra=(), port=None, nofile=None):
        """nofile: the daemon's limit of open file descriptors, when not the test's own: a
        number (soft and hard), or a pair (soft, hard)."""
        self.data = data
        self.port = port or free_port()
        args = [binary, "--listen", f"127.0.0.1:{self.port}"] + store_args(data)
        if platform:
            args += ["--platform", platform]
        args += list(extra)
        self.log = open(os.path.join(data + ".log"), "ab")
        pair = nofile if isinstance(nofile, tuple) else (nofile, nofile)
        limit = (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, pair)) if nofile else None
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log, preexec_fn=limit)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)
        else:
            self.proc.kill()  # nothing started is left behind
            self.proc.wait()
            self.log.close()
            raise RuntimeError("allotd did not start")
        with open(os.path.join(data, "admin.token")) as f:
            self.admin = f.read().strip()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def request(self, method, path, body=None, token=None, raw=None, headers=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data,
                                     method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                text = r.read().decode()
                return r.status, (json.loads(text) if text.strip() and
                                  r.headers.get("Content-Type", "").startswith("application/json")
                                  else text)
        except urllib.error.HTTPError as e:
            text = e.read().decode()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, text

    def call(self, method, path, body=None, want=(200, 201)):
        """request as the admin. RET the answer; AssertionError when its status is not in want."""
        st, r = self.request(method, path, body, token=self.admin)
        if st not in want:
            raise AssertionError(f"{method} {path}: {st} {r}")
        return r

    def metric(self, name, labels=""):
        """The value of metric name with labels (such as '{workspace="acme/prod"}') on
        /metrics, as the admin; None when it is not there."""
        st, text = self.request("GET", "/metrics", token=self.admin)
        if st != 200:
            raise AssertionError(f"GET /metrics: {st} {text}")
        m = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.M)
        return float(m.group(1)) if m else None

    def user_token(self, name, role, tenant=None, workspace=None):
        """Create user `name` with `role` (in tenant, confined to workspace if given) and a
        token for it, as the admin. RET the token."""
        body = {"name": name, "role": role}
        if tenant:
            body["tenant"] = tenant
        if workspace:
            body["workspace"] = workspace
        st, r = self.request("POST", "/v1/users", body, token=self.admin)
        if st != 201:
            raise AssertionError(f"POST /v1/users {body}: {st} {r}")
        st, r = self.request("POST", "/v1/tokens", {"user": name}, token=self.admin)
        if st != 201 or not r["token"].startswith("allot_"):
            raise AssertionError(f"POST /v1/tokens for {name}: {st} {r}")
        return r["token"]

    def add_tenant_beta(self):
        """A second tenant, beta: node beta-1 (4 GPUs) and workspace beta/lab reserving 2."""
        for path, body in (("/v1/tenants", {"name": "beta"}),
                           ("/v1/nodes", {"name": "beta-1", "cluster": "shared-1",
                                          "tenant": "beta", "cpu": 64, "memory": "512Gi",
                                          "gpus": [{"model": "H100-80GB", "count": 4}]}),
                           ("/v1/workspaces", {"name": "beta/lab", "reserved": {"gpu": 2}})):
            st, r = self.request("POST", path, body, token=self.admin)
            if st != 201:
                raise AssertionError(f"POST {path} {body}: {st} {r}")

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        self.proc.wait(timeout=10)
        self.log.close()


class DaemonCase(unittest.TestCase):
    """A test case with one allotd (self.d) over a data directory of its own (self.data, in
    self.tmp), from the platform file PLATFORM, or from PLATFORM_TEXT written there; stopped
    and removed after each test (the directory kept with KEEP=1). Subclasses set ALLOTD,
    PREFIX (of the directory's name) and one of the two platforms."""
    ALLOTD = "build/allotd"
    PREFIX = "allot-"
    PLATFORM = None
    PLATFORM_TEXT = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix=self.PREFIX)
        self.data = os.path.join(self.tmp, "data")
        self.platform = self.PLATFORM
        if self.PLATFORM_TEXT is not None:
            self.platform = os.path.join(self.tmp, "platform.yaml")
            with open(self.platform, "w") as f:
                f.write(self.PLATFORM_TEXT)
        self.d = Daemon(self.ALLOTD, self.data, self.platform)

    def tearDown(self):
        if self.d.proc.poll() is None:
            self.d.stop()
        if not os.environ.get("KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def restart(self, sig):
        """Stops the daemon with sig and starts another over the same data directory."""
        self.d.stop(sig)
        self.d = Daemon(self.ALLOTD, self.data, self.platform)
