#!/usr/bin/env python3
"""Integration tests of issue 16, one tenant cannot slow another: the queue caps (a workspace's
limits.queued and its tenant's, 429 naming the cap, nothing journaled, a neighbour unaffected),
the rate caps (429 with Retry-After, health checks never capped) and fair service (requests that
arrive together are served in turn by tenant: another tenant's request is not served behind a
flood). The real daemon on 127.0.0.1 with temporary data directories; no timing thresholds.
Usage: test_fairness.py ALLOTD SRCDIR."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import allotd_harness  # noqa: E402

ALLOTD = sys.argv[1] if len(sys.argv) > 1 else "build/allotd"
SRC = sys.argv[2] if len(sys.argv) > 2 else "."
PLATFORM = os.path.join(SRC, "examples", "platform.yaml")


def raw_request(port, method, path, token, body=None):
    """A connected socket with one whole request sent on it (read it with raw_answer)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    data = json.dumps(body).encode() if body is not None else b""
    head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n")
    s.sendall(head.encode() + data)
    return s


def raw_answer(s):
    """The status and JSON body of the one answer on socket s, which is then closed."""
    raw = b""
    while b"\r\n\r\n" not in raw:
        chunk = s.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before an answer: {raw!r}")
        raw += chunk
    head, rest = raw.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    length = next(int(x.split(":", 1)[1]) for x in lines if x.lower().startswith("content-length"))
    while len(rest) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    s.close()
    return int(lines[0].split()[1]), json.loads(rest[:length])


class Fairness(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="allot-fair-")
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            if d.proc.poll() is None:
                d.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, name="d", extra=()):
        d = allotd_harness.Daemon(ALLOTD, os.path.join(self.tmp, name), PLATFORM, extra=extra)
        self.daemons.append(d)
        return d

    def journal(self, d):
        return allotd_harness.store_sql(d.data, "SELECT count(*) FROM journal")[0][0]

    def hold_everything(self, d):
        """Drain acme's nodes: what acme submits stays pending."""
        for node in ("gpu-a", "gpu-b"):
            d.call("POST", f"/v1/nodes/{node}/drain", {})

    def submit(self, d, token, ws, name):
        return d.request("POST", "/v1/workloads",
                         {"workspace": ws, "name": name, "gpus": 1, "command": ["true"]},
                         token=token)

    def add_beta(self, d, tenant_limits=None):
        """Tenant beta (its own node, draining) with workspaces beta/lab and beta/lab2."""
        tenant = {"name": "beta"}
        if tenant_limits:
            tenant["limits"] = tenant_limits
        d.call("POST", "/v1/tenants", tenant)
        d.call("POST", "/v1/nodes", {"name": "beta-1", "cluster": "shared-1", "tenant": "beta",
                                     "cpu": 64, "memory": "512Gi",
                                     "gpus": [{"model": "H100-80GB", "count": 4}]})
        d.call("POST", "/v1/nodes/beta-1/drain", {})
        for ws in ("beta/lab", "beta/lab2"):
            d.call("POST", "/v1/workspaces", {"name": ws})

    def test_workspace_queue_cap(self):
        """limits.queued of a workspace: set by PATCH (shown in its view), a submission over it
        is answered 429 naming the cap, with Retry-After, and journals and stores nothing; its
        neighbour workspace and a neighbouring tenant still submit."""
        d = self.start(extra=["--no-virtual-nodes"])
        self.hold_everything(d)
        st, r = d.request("PATCH", "/v1/workspaces/acme/research", {"limits": {"queued": 0}},
                          token=d.admin)
        self.assertEqual((st, r["error"]["field"]), (400, "limits.queued"), r)
        ws = d.call("PATCH", "/v1/workspaces/acme/research", {"limits": {"queued": 3}})
        self.assertEqual(ws["limits"]["queued"], 3)
        self.assertEqual(d.call("GET", "/v1/workspaces/acme/prod")["limits"]["queued"], 10000)
        for i in range(3):
            st, r = self.submit(d, d.admin, "acme/research", f"r{i}")
            self.assertEqual(st, 201, r)
        before = self.journal(d)
        listed = len(d.call("GET", "/v1/workloads?workspace=acme/research")["items"])
        st, r = self.submit(d, d.admin, "acme/research", "r3")
        self.assertEqual(st, 429, r)
        e = r["error"]
        self.assertEqual((e["code"], e["field"], e["cap"], e["scope"], e["of"], e["limit"],
                          e["queued"]),
                         ("toomany", "limits.queued", "limits.queued", "workspace",
                          "acme/research", 3, 3), r)
        self.assertIn("limits.queued", e["message"])
        self.assertEqual(self.journal(d), before)
        self.assertEqual(len(d.call("GET", "/v1/workloads?workspace=acme/research")["items"]),
                         listed)
        st, r = d.request("GET", "/v1/workloads/acme/research/r3", token=d.admin)
        self.assertEqual(st, 404, r)
        # the neighbour workspace and tenant are not held by it
        self.assertEqual(self.submit(d, d.admin, "acme/prod", "p0")[0], 201)
        self.add_beta(d)
        self.assertEqual(self.submit(d, d.admin, "beta/lab", "b0")[0], 201)
        # raised: room again; and the cap is kept over a restart (journal replay)
        d.call("PATCH", "/v1/workspaces/acme/research", {"limits": {"queued": 4}})
        self.assertEqual(self.submit(d, d.admin, "acme/research", "r3")[0], 201)
        self.assertEqual(self.submit(d, d.admin, "acme/research", "r4")[0], 429)
        d.stop()
        self.daemons.remove(d)
        d2 = allotd_harness.Daemon(ALLOTD, d.data, extra=["--no-virtual-nodes"])
        self.daemons.append(d2)
        self.assertEqual(d2.call("GET", "/v1/workspaces/acme/research")["limits"]["queued"], 4)
        self.assertEqual(self.submit(d2, d2.admin, "acme/research", "r4")[0], 429)

    def test_tenant_queue_cap(self):
        """A tenant's limits.queued counts all its workspaces: the submission over it is refused
        naming the tenant; another tenant is unaffected; a member sees the same 429."""
        d = self.start(extra=["--no-virtual-nodes"])
        st, r = d.request("POST", "/v1/tenants", {"name": "bad", "limits": {"queued": -1}},
                          token=d.admin)
        self.assertEqual((st, r["error"]["field"]), (400, "limits.queued"), r)
        self.add_beta(d, {"queued": 3})
        self.assertEqual(d.call("GET", "/v1/tenants/beta")["limits"]["queued"], 3)
        self.assertEqual(d.call("GET", "/v1/tenants/acme")["limits"]["queued"], 50000)
        member = d.user_token("bob", "member", tenant="beta")
        self.assertEqual(self.submit(d, member, "beta/lab", "a")[0], 201)
        self.assertEqual(self.submit(d, member, "beta/lab", "b")[0], 201)
        self.assertEqual(self.submit(d, member, "beta/lab2", "c")[0], 201)
        before = self.journal(d)
        st, r = self.submit(d, member, "beta/lab2", "d")
        self.assertEqual(st, 429, r)
        e = r["error"]
        self.assertEqual((e["field"], e["scope"], e["of"], e["limit"], e["queued"]),
                         ("limits.queued", "tenant", "beta", 3, 3), r)
        self.assertEqual(self.journal(d), before)
        self.assertEqual(d.call("GET", "/v1/tenants/beta")["queued"], 3)
        self.hold_everything(d)
        self.assertEqual(self.submit(d, d.admin, "acme/research", "x")[0], 201)
        # only the platform admin changes a tenant's cap: not its tenant admin, nor another's
        boss = d.user_token("boss", "tenant-admin", tenant="beta")
        before = self.journal(d)
        st, r = d.request("PATCH", "/v1/tenants/beta", {"limits": {"queued": 100}}, token=boss)
        self.assertEqual(st, 403, r)
        st, r = d.request("PATCH", "/v1/tenants/beta", {"limits": {"queued": 10000001}},
                          token=d.admin)
        self.assertEqual((st, r["error"]["field"]), (400, "limits.queued"), r)
        st, r = d.request("PATCH", "/v1/tenants/beta", {"isolation": "dedicated"}, token=d.admin)
        self.assertEqual(st, 400, r)
        st, r = d.request("PATCH", "/v1/tenants/nobody", {"limits": {"queued": 5}},
                          token=d.admin)
        self.assertEqual(st, 404, r)
        self.assertEqual(self.journal(d), before)  # none of the refused changes
        t = d.call("PATCH", "/v1/tenants/beta", {"limits": {"queued": 4}})
        self.assertEqual((t["limits"]["queued"], t["queued"]), (4, 3))
        self.assertEqual(self.submit(d, member, "beta/lab2", "d")[0], 201)
        self.assertEqual(self.submit(d, member, "beta/lab2", "e")[0], 429)
        # kept over a restart (journal replay)
        d.stop()
        self.daemons.remove(d)
        d2 = allotd_harness.Daemon(ALLOTD, d.data, extra=["--no-virtual-nodes"])
        self.daemons.append(d2)
        self.assertEqual(d2.call("GET", "/v1/tenants/beta")["limits"]["queued"], 4)
        self.assertEqual(self.submit(d2, member, "beta/lab2", "e")[0], 429)

    def test_rate_cap(self):
        """--rate-per-token: the request over it is answered 429 with Retry-After in whole
        seconds and a JSON error naming the cap; another token of the same tenant and another
        tenant are not held; /healthz is never capped."""
        d = self.start(extra=["--rate-per-token", "2", "--rate-burst", "2"])
        alice = d.user_token("alice", "member", tenant="acme")
        carol = d.user_token("carol", "viewer", tenant="acme")
        answers = [d.request("GET", "/v1/workloads", token=alice) for _ in range(4)]
        refused = [r for st, r in answers if st == 429]
        self.assertTrue(refused, answers)
        self.assertEqual(answers[0][0], 200)
        e = refused[0]["error"]
        self.assertEqual((e["code"], e["cap"], e["limit"]), ("toomany", "token_rate", 2), e)
        s = raw_request(d.port, "GET", "/v1/workloads", alice)
        raw = b""
        while b"\r\n\r\n" not in raw:
            raw += s.recv(65536)
        s.close()
        head = raw.split(b"\r\n\r\n")[0].decode().lower()
        self.assertIn(" 429 ", head.split("\r\n")[0] + " ")
        retry = [x for x in head.split("\r\n") if x.startswith("retry-after:")]
        self.assertTrue(retry and int(retry[0].split(":")[1]) >= 1, head)
        self.assertEqual(d.request("GET", "/v1/workloads", token=carol)[0], 200)
        for _ in range(10):
            self.assertEqual(d.request("GET", "/healthz")[0], 200)
        self.assertEqual(d.metric("allot_requests_refused_total", '{cap="rate"}'),
                         len(refused) + 1)
        self.assertEqual(d.metric("allot_requests_waiting"), 0)

    def test_bad_rate_flags(self):
        """A rate cap that is not a whole number in range stops allotd before it starts."""
        for flag, value in (("--rate-per-token", "-1"), ("--rate-per-tenant", "x"),
                            ("--rate-burst", "0"), ("--rate-per-token", "1000001")):
            r = subprocess.run([ALLOTD, "--listen", "127.0.0.1:1", "--data",
                                os.path.join(self.tmp, "never"), flag, value],
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 2, (flag, value, r.stderr))
            self.assertIn("--rate-per-token", r.stderr)
            self.assertFalse(os.path.exists(os.path.join(self.tmp, "never")))

    def test_tenant_rate_cap(self):
        """--rate-per-tenant: all a tenant's tokens together; another tenant is not held."""
        d = self.start(extra=["--rate-per-tenant", "3", "--rate-burst", "3"])
        self.add_beta(d)
        a1 = d.user_token("a1", "viewer", tenant="acme")
        a2 = d.user_token("a2", "viewer", tenant="acme")
        b1 = d.user_token("b1", "viewer", tenant="beta")
        answers = [d.request("GET", "/v1/workloads", token=t)[0] for t in (a1, a2, a1, a2, a1)]
        self.assertIn(429, answers)
        self.assertEqual(d.request("GET", "/v1/workloads", token=b1)[0], 200)

    def test_flood_is_served_in_turn(self):
        """Requests that arrive together are served in turn by tenant: tenant A's token sends 24
        submissions at once and then tenant B one; the daemon is stopped (SIGSTOP) while they
        arrive, so that it finds them all waiting. B's submission is served first or second
        (its workload's submission number), and every request is answered."""
        d = self.start(extra=["--no-virtual-nodes"])
        self.hold_everything(d)
        self.add_beta(d)
        a = d.user_token("flood", "member", tenant="acme")
        b = d.user_token("quiet", "member", tenant="beta")
        floods = 24
        os.kill(d.proc.pid, signal.SIGSTOP)
        try:
            socks = [raw_request(d.port, "POST", "/v1/workloads", a,
                                 {"workspace": "acme/research", "name": f"a{i}", "gpus": 1,
                                  "command": ["true"]}) for i in range(floods)]
            time.sleep(0.2)  # A's are all in before B's
            socks.append(raw_request(d.port, "POST", "/v1/workloads", b,
                                     {"workspace": "beta/lab", "name": "b0", "gpus": 1,
                                      "command": ["true"]}))
            time.sleep(0.2)
        finally:
            os.kill(d.proc.pid, signal.SIGCONT)
        answers = [raw_answer(s) for s in socks]
        self.assertEqual([st for st, _ in answers], [201] * (floods + 1), answers)
        seq = {}
        for item in d.call("GET", "/v1/workloads?limit=1000")["items"]:
            seq[item["name"]] = item["seq"]
        a_seqs = sorted(seq[f"acme/research/a{i}"] for i in range(floods))
        self.assertLessEqual(seq["beta/lab/b0"], a_seqs[1],
                             f"B served behind {sum(s < seq['beta/lab/b0'] for s in a_seqs)} "
                             f"of A's requests")

    def test_client_gone_while_waiting(self):
        """Clients that close their connection while their requests wait their turn: the
        daemon drops what it cannot answer, answers the others in order and keeps serving."""
        d = self.start(extra=["--no-virtual-nodes"])
        self.hold_everything(d)
        self.add_beta(d)
        a = d.user_token("flood", "member", tenant="acme")
        b = d.user_token("quiet", "member", tenant="beta")
        os.kill(d.proc.pid, signal.SIGSTOP)
        try:
            gone = [raw_request(d.port, "GET", "/v1/workloads", a) for _ in range(8)]
            kept = [raw_request(d.port, "POST", "/v1/workloads", t,
                                {"workspace": ws, "name": f"k{i}", "gpus": 1,
                                 "command": ["true"]})
                    for i, (t, ws) in enumerate([(a, "acme/research"), (b, "beta/lab")])]
            for s in gone:
                s.close()
            time.sleep(0.2)
        finally:
            os.kill(d.proc.pid, signal.SIGCONT)
        self.assertEqual([raw_answer(s)[0] for s in kept], [201, 201])
        self.assertEqual(d.request("GET", "/healthz")[0], 200)
        self.assertEqual(d.request("GET", "/v1/workloads", token=a)[0], 200)
        self.assertIsNone(d.proc.poll())
        self.assertEqual(d.metric("allot_requests_waiting"), 0)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]], verbosity=2)
