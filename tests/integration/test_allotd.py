#!/usr/bin/env python3
"""Integration tests of allotd: the real daemon on 127.0.0.1 with a temporary data
directory, driven over HTTP. Usage: test_allotd.py ALLOTD SRCDIR. Every test asserts
outcomes; the daemon is stopped and the directory removed at the end."""
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import allotd_harness  # noqa: E402

ALLOTD = sys.argv[1] if len(sys.argv) > 1 else "build/allotd"
SRC = sys.argv[2] if len(sys.argv) > 2 else "."
PLATFORM = os.path.join(SRC, "examples", "platform.yaml")


class Daemon(allotd_harness.Daemon):
    """allotd under test, with the demo platform unless told otherwise."""

    def __init__(self, data, platform=PLATFORM, extra=()):
        super().__init__(ALLOTD, data, platform, extra)


free_port = allotd_harness.free_port


class AllotdTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="allot-it-")
        self.data = os.path.join(self.tmp, "data")
        self.d = Daemon(self.data)

    def tearDown(self):
        if self.d.proc.poll() is None:
            self.d.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # helpers
    def admin(self, method, path, body=None):
        return self.d.request(method, path, body, token=self.d.admin)

    # tests
    def test_health_and_auth_required(self):
        self.assertEqual(self.d.request("GET", "/healthz")[0], 200)
        self.assertEqual(self.d.request("GET", "/readyz")[0], 200)
        st, r = self.d.request("GET", "/v1/tenants")
        self.assertEqual(st, 401)
        self.assertEqual(r["error"]["code"], "unauthorized")
        st, _ = self.d.request("GET", "/v1/tenants", token="allot_" + "0" * 16 + "_" + "0" * 40)
        self.assertEqual(st, 401)
        st, _ = self.d.request("GET", "/v1/tenants", token="not-a-token")
        self.assertEqual(st, 401)
        st, r = self.admin("GET", "/v1/tenants")
        self.assertEqual(st, 200)
        self.assertEqual([t["name"] for t in r["items"]], ["acme"])
        st, r = self.admin("GET", "/v1/nowhere")
        self.assertEqual(st, 404)

    def test_grace_capped_says_so_and_bare_durations_are_seconds(self):
        """acme's max_grace is 5m: a submission asking for more gets 5m and a warning that
        says so; one within it gets no warning; a duration without a unit is seconds."""
        st, r = self.admin("POST", "/v1/workloads", {
            "name": "long-grace", "workspace": "acme/research", "gpus": 1, "grace": "10m"})
        self.assertEqual(st, 201, r)
        self.assertEqual(r["grace"], "5m")
        self.assertEqual(r["warnings"],
                         ["grace: asked for 10m, capped at 5m, the max_grace of tenant acme"])
        st, r = self.admin("GET", "/v1/workloads/acme/research/long-grace")
        self.assertNotIn("warnings", r)  # said once, in the submission's answer
        st, r = self.admin("POST", "/v1/workloads", {
            "name": "bare", "workspace": "acme/research", "gpus": 1, "grace": "90",
            "duration": 120})
        self.assertEqual(st, 201, r)
        self.assertEqual(r["grace"], "1m30s")
        self.assertNotIn("warnings", r)
        st, r = self.admin("POST", "/v1/workloads", {
            "name": "bad", "workspace": "acme/research", "gpus": 1, "grace": "10 parsecs"})
        self.assertEqual((st, r["error"]["field"]), (400, "grace"))

    def test_time_limits(self):
        """docs/policy.md, "Time limits and backfill": a workspace's default_time_limit and
        max_time_limit (set by PATCH, shown in its view, kept over a restart); a submission
        without time_limit gets the default, one above the maximum is 400 naming time_limit
        and the maximum (nothing created); on simulated nodes a run ends failed with reason
        time_limit at its limit, not at its duration; one that ends before is unaffected;
        a neighbouring tenant cannot change acme's time limits."""
        st, r = self.admin("PATCH", "/v1/workspaces/acme/research",
                           {"default_time_limit": "2h", "max_time_limit": "1h"})
        self.assertEqual((st, r["error"]["field"]), (400, "default_time_limit"), r)
        st, r = self.admin("PATCH", "/v1/workspaces/acme/research",
                           {"max_time_limit": "400d"})
        self.assertEqual((st, r["error"]["field"]), (400, "max_time_limit"), r)
        st, r = self.admin("PATCH", "/v1/workspaces/acme/research",
                           {"default_time_limit": "30m", "max_time_limit": "1h"})
        self.assertEqual(st, 200, r)
        self.assertEqual((r["default_time_limit"], r["max_time_limit"]), ("30m", "1h"))
        st, r = self.admin("POST", "/v1/workloads", {
            "name": "dflt", "workspace": "acme/research", "gpus": 1, "duration": "1h"})
        self.assertEqual((st, r["time_limit"]), (201, "30m"), r)
        st, r = self.admin("POST", "/v1/workloads", {
            "name": "over", "workspace": "acme/research", "gpus": 1, "time_limit": "2h"})
        self.assertEqual((st, r["error"]["field"]), (400, "time_limit"), r)
        self.assertIn("max_time_limit of 1h", r["error"]["message"])
        self.assertEqual(self.admin("GET", "/v1/workloads/acme/research/over")[0], 404)
        st, r = self.admin("POST", "/v1/workloads", {
            "name": "bad", "workspace": "acme/research", "gpus": 1, "time_limit": 0})
        self.assertEqual((st, r["error"]["field"]), (400, "time_limit"), r)
        # a run that reaches its limit fails at it; one that ends before finishes
        st, r = self.admin("POST", "/v1/workloads", {
            "name": "cut", "workspace": "acme/research", "gpus": 1, "duration": "1h",
            "time_limit": "1s"})
        self.assertEqual((st, r["time_limit"], r["state"]), (201, "1s", "running"), r)
        st, r = self.admin("POST", "/v1/workloads", {
            "name": "quick", "workspace": "acme/research", "gpus": 1, "duration": "200ms",
            "time_limit": "1h"})
        self.assertEqual(st, 201, r)
        deadline = time.time() + 10
        while time.time() < deadline:
            cut = self.admin("GET", "/v1/workloads/acme/research/cut")[1]
            if cut["state"] != "running":
                break
            time.sleep(0.05)
        self.assertEqual((cut["state"], cut.get("reason")), ("failed", "time_limit"), cut)
        self.assertEqual(self.admin("GET", "/v1/workloads/acme/research/quick")[1]["state"],
                         "finished")
        # a neighbouring tenant's admin cannot change them
        self.d.add_tenant_beta()
        bob = self.d.user_token("bob", "tenant-admin", "beta")
        st, r = self.d.request("PATCH", "/v1/workspaces/acme/research", {"max_time_limit": "1d"},
                               token=bob)
        self.assertEqual(st, 404, r)
        # kept over a restart (the journal replays it: the same decisions)
        self.d.stop()
        self.d = Daemon(self.data)
        ws = self.admin("GET", "/v1/workspaces/acme/research")[1]
        self.assertEqual((ws["default_time_limit"], ws["max_time_limit"]), ("30m", "1h"))
        cut = self.admin("GET", "/v1/workloads/acme/research/cut")[1]
        self.assertEqual((cut["state"], cut.get("reason")), ("failed", "time_limit"), cut)
        # null: none again, for later submissions
        st, r = self.admin("PATCH", "/v1/workspaces/acme/research",
                           {"default_time_limit": None, "max_time_limit": None})
        self.assertEqual((st, r["default_time_limit"], r["max_time_limit"]), (200, None, None), r)
        st, r = self.admin("POST", "/v1/workloads", {
            "name": "free", "workspace": "acme/research", "gpus": 1})
        self.assertEqual((st, r["time_limit"]), (201, None), r)

    def test_a_rejected_name_can_be_used_again(self):
        """A rejected workload never ran: submitting its name again replaces it (the rejected
        one goes to the history), also after it left the engine; a name that ran stays taken."""
        st, r = self.admin("POST", "/v1/workloads", {
            "name": "huge", "workspace": "acme/research", "gpus": 8, "replicas": 3})
        self.assertEqual((st, r["state"]), (201, "rejected"))
        st, r = self.admin("POST", "/v1/workloads", {
            "name": "huge", "workspace": "acme/research", "gpus": 1})
        self.assertEqual((st, r["state"]), (201, "running"), r)
        st, r = self.admin("GET", "/v1/workloads/acme/research/huge")
        self.assertEqual((r["state"], r["gpus"]), ("running", 1))
        st, r = self.admin("GET", "/v1/workloads?history=true")
        self.assertIn(("acme/research/huge", "rejected"),
                      [(w["name"], w["state"]) for w in r["items"]])
        # a name that ran is still taken, in the engine as in the history
        st, r = self.admin("POST", "/v1/workloads", {
            "name": "huge", "workspace": "acme/research", "gpus": 1})
        self.assertEqual((st, r["error"]["field"]), (409, "name"))
        # the journal replays it: the same state after a restart
        self.d.stop()
        self.d = Daemon(self.data)
        st, r = self.admin("GET", "/v1/workloads/acme/research/huge")
        self.assertEqual((st, r["state"], r["gpus"]), (200, "running", 1))

    def test_submit_run_list_cancel(self):
        alice = self.d.user_token("alice", "member", "acme", "acme/research")
        st, r = self.d.request("POST", "/v1/workloads", {
            "name": "train-1", "workspace": "acme/research", "gpus": 4, "kind": "training"},
            token=alice)
        self.assertEqual(st, 201, r)
        self.assertEqual(r["state"], "running")
        self.assertTrue(r["borrowed"])  # research reserves nothing
        st, r = self.d.request("GET", "/v1/workloads/acme/research/train-1", token=alice)
        self.assertEqual(st, 200)
        self.assertEqual(len(r["placement"][0]["gpus"]), 4)
        st, r = self.d.request("GET", "/v1/workloads?workspace=acme/research", token=alice)
        self.assertEqual([w["name"] for w in r["items"]], ["acme/research/train-1"])
        # a workload that cannot fit waits with a reason
        st, r = self.d.request("POST", "/v1/workloads", {
            "name": "big", "workspace": "acme/research", "gpus": 8, "replicas": 2}, token=alice)
        self.assertEqual(st, 201, r)
        self.assertEqual(r["state"], "pending")
        st, r = self.d.request("GET", "/v1/workloads/acme/research/big/why", token=alice)
        self.assertEqual(r["reason"], "workspace_limit")
        # members cancel their own
        st, r = self.d.request("DELETE", "/v1/workloads/acme/research/big", token=alice)
        self.assertEqual(st, 200, r)
        self.assertEqual(r["state"], "cancelled")
        # rejected: more than the workspace limit
        st, r = self.d.request("POST", "/v1/workloads", {
            "name": "huge", "workspace": "acme/research", "gpus": 8, "replicas": 3}, token=alice)
        self.assertEqual(st, 201, r)
        self.assertEqual(r["state"], "rejected")
        self.assertEqual(r["reason"], "exceeds_limit")

    def test_list_newest_first_with_a_cursor(self):
        """order=newest lists by submission, newest first; state=active and state=ended split
        the list; before= pages give every workload once and in order while another is
        submitted between pages; a neighbouring tenant's never appear; bad parameters are 400
        naming the field; the id order with after= is unchanged."""
        self.d.add_tenant_beta()
        for name, duration in (("a-0", "1h"), ("f-0", "100ms"), ("a-1", "1h"), ("f-1", "100ms"),
                               ("a-2", "1h"), ("a-3", "1h")):
            st, r = self.admin("POST", "/v1/workloads", {"name": name, "workspace": "acme/research",
                                                         "gpus": 1, "duration": duration})
            self.assertEqual(st, 201, r)
            st, r = self.admin("POST", "/v1/workloads", {"name": "b-" + name, "workspace":
                                                         "beta/lab", "gpus": 1, "duration": "1h"})
            self.assertEqual(st, 201, r)
        deadline = time.time() + 10
        while time.time() < deadline:
            ended = self.admin("GET", "/v1/workloads?state=ended&workspace=acme/research")[1]
            if len(ended["items"]) == 2:
                break
            time.sleep(0.05)
        carol = self.d.user_token("carol", "viewer", "acme")

        def names(query, token=carol):
            st, r = self.d.request("GET", "/v1/workloads?" + query, token=token)
            self.assertEqual(st, 200, r)
            return [w["name"].split("/")[-1] for w in r["items"]], r.get("next")

        self.assertEqual(names("order=newest"),
                         (["a-3", "a-2", "f-1", "a-1", "f-0", "a-0"], None))
        self.assertEqual(names("order=newest&state=active")[0], ["a-3", "a-2", "a-1", "a-0"])
        self.assertEqual(names("order=newest&state=ended")[0], ["f-1", "f-0"])
        self.assertEqual(names("order=newest&state=finished")[0], ["f-1", "f-0"])
        self.assertEqual(names("state=active")[0], ["a-0", "a-1", "a-2", "a-3"])  # id order
        # pages of 2, newest first; one submitted between pages comes on no page
        page, nxt = names("order=newest&state=active&limit=2")
        self.assertEqual(page, ["a-3", "a-2"])
        st, r = self.admin("POST", "/v1/workloads", {"name": "late", "workspace": "acme/research",
                                                     "gpus": 1, "duration": "1h"})
        self.assertEqual(st, 201, r)
        seen = list(page)
        while nxt is not None:
            page, nxt = names(f"order=newest&state=active&limit=2&before={nxt}")
            seen += page
        self.assertEqual(seen, ["a-3", "a-2", "a-1", "a-0"])
        # every item says its seq: the newest first, each below the last
        items = self.d.request("GET", "/v1/workloads?order=newest", token=carol)[1]["items"]
        seqs = [w["seq"] for w in items]
        self.assertEqual(seqs, sorted(seqs, reverse=True))
        self.assertEqual(len(set(seqs)), len(seqs))
        # a neighbouring tenant's, on any page and in any state, never
        bob = self.d.user_token("bob", "member", "beta")
        page, nxt = names("order=newest&limit=3", token=bob)
        self.assertEqual(page, ["b-a-3", "b-a-2", "b-f-1"])
        self.assertEqual(names(f"order=newest&before={nxt}", token=bob)[0],
                         ["b-a-1", "b-f-0", "b-a-0"])
        everything, nxt = [], None
        while True:
            page, nxt = names("order=newest&limit=1" + (f"&before={nxt}" if nxt else ""), carol)
            everything += page
            if nxt is None:
                break
        self.assertEqual(everything, ["late", "a-3", "a-2", "f-1", "a-1", "f-0", "a-0"])
        self.assertEqual(names("order=newest&workspace=beta/lab")[0], [])
        # bad parameters
        for query, field in (("order=oldest", "order"), ("order=newest&after=3", "after"),
                             ("before=5", "before"), ("order=newest&before=-1", "before"),
                             ("order=newest&before=x", "before"), ("state=asleep", "state"),
                             ("order=newest&limit=1001", "limit")):
            st, r = self.admin("GET", "/v1/workloads?" + query)
            self.assertEqual((st, r["error"]["field"]), (400, field), query)
        # the id order's pages, as before
        st, r = self.admin("GET", "/v1/workloads?workspace=acme/research&limit=2")
        self.assertEqual([w["name"] for w in r["items"]],
                         ["acme/research/a-0", "acme/research/f-0"])
        self.assertGreaterEqual(r["next"], r["items"][1]["id"])
        st, r2 = self.admin("GET", f"/v1/workloads?workspace=acme/research&after={r['next']}")
        self.assertEqual(r2["items"][0]["name"], "acme/research/a-1")

    def test_reclaim_over_http(self):
        self.admin("POST", "/v1/users", {"name": "r", "role": "member", "tenant": "acme"})
        token = self.admin("POST", "/v1/tokens", {"user": "r"})[1]["token"]
        for i in range(16):
            st, r = self.d.request("POST", "/v1/workloads", {
                "name": f"exp-{i}", "workspace": "acme/research", "gpus": 1,
                "kind": "experiment", "grace": "1s"}, token=token)
            self.assertEqual(r["state"], "running")
        st, r = self.d.request("POST", "/v1/workloads", {
            "name": "serve", "workspace": "acme/prod", "gpus": 4, "kind": "inference"},
            token=token)
        self.assertEqual(st, 201, r)
        self.assertEqual(r["state"], "reclaiming")
        deadline = time.time() + 10
        while time.time() < deadline:
            r = self.d.request("GET", "/v1/workloads/acme/prod/serve", token=token)[1]
            if r["state"] == "running":
                break
            time.sleep(0.1)
        self.assertEqual(r["state"], "running")
        self.assertFalse(r["borrowed"])
        items = self.d.request("GET", "/v1/workloads?workspace=acme/research&state=pending&limit=100",
                               token=token)[1]["items"]
        self.assertEqual(len(items), 4)  # exactly the need was preempted

    def test_tenant_isolation(self):
        self.d.add_tenant_beta()
        alice = self.d.user_token("alice", "member", "acme", "acme/research")
        bob = self.d.user_token("bob", "tenant-admin", "beta")
        st, _ = self.d.request("POST", "/v1/workloads", {
            "name": "secret", "workspace": "acme/research", "gpus": 1}, token=alice)
        self.assertEqual(st, 201)
        # bob sees nothing of acme, exactly as if it did not exist
        for path in ["/v1/tenants/acme", "/v1/workspaces/acme/research",
                     "/v1/workloads/acme/research/secret", "/v1/nodes/gpu-a",
                     "/v1/workloads/acme/research/secret/why"]:
            st, r = self.d.request("GET", path, token=bob)
            self.assertEqual(st, 404, path)
        st, r = self.d.request("GET", "/v1/tenants/nope", token=bob)
        self.assertEqual(st, 404)
        st, r = self.d.request("GET", "/v1/workloads", token=bob)
        self.assertEqual(r["items"], [])
        st, r = self.d.request("GET", "/v1/tenants", token=bob)
        self.assertEqual([t["name"] for t in r["items"]], ["beta"])
        st, r = self.d.request("GET", "/v1/nodes", token=bob)
        self.assertEqual([n["name"] for n in r["items"]], ["beta-1"])
        st, r = self.d.request("DELETE", "/v1/workloads/acme/research/secret", token=bob)
        self.assertEqual(st, 404)
        st, r = self.d.request("POST", "/v1/workloads", {
            "name": "x", "workspace": "acme/research", "gpus": 1}, token=bob)
        self.assertEqual(st, 404)
        st, r = self.d.request("GET", "/metrics", token=bob)
        self.assertEqual(st, 200)
        self.assertIn('tenant="beta"', r)
        self.assertNotIn("acme", r)
        # every route that names an acme object answers bob as if it did not exist
        for method, path, body in [
                ("PATCH", "/v1/workspaces/acme/research", {"weight": 3}),
                ("POST", "/v1/users", {"name": "x", "role": "member", "tenant": "acme"}),
                ("POST", "/v1/tokens", {"user": "alice"}),
                ("GET", "/v1/workloads?workspace=acme/research", None)]:
            st, r = self.d.request(method, path, body, token=bob)
            if method == "GET":
                self.assertEqual((st, r["items"]), (200, []), path)
            else:
                self.assertEqual(st, 404, (method, path, r))
        # platform routes are the platform admin's: refused without saying more
        for method, path, body in [("POST", "/v1/nodes/gpu-a/drain", None),
                                   ("POST", "/v1/nodes/gpu-a/move", {"tenant": "beta"}),
                                   ("GET", "/v1/clusters", None)]:
            self.assertEqual(self.d.request(method, path, body, token=bob)[0], 403, path)
        # nothing of acme changed
        ws = self.admin("GET", "/v1/workspaces/acme/research")[1]
        self.assertEqual(ws["weight"], 2)  # as examples/platform.yaml set it
        # users: a tenant admin lists its own tenant's people only
        st, r = self.d.request("GET", "/v1/users", token=bob)
        self.assertEqual(st, 200, r)
        self.assertEqual(sorted(u["name"] for u in r["items"]), ["bob"])
        st, r = self.admin("GET", "/v1/users")
        self.assertEqual(sorted(u["name"] for u in r["items"]), ["admin", "alice", "bob"])
        alice_row = [u for u in r["items"] if u["name"] == "alice"][0]
        self.assertEqual(alice_row["workspace"], "acme/research")
        self.assertEqual(self.d.request("GET", "/v1/users", token=alice)[0], 403)
        # alice (acme) cannot see beta either
        self.assertEqual(self.d.request("GET", "/v1/workspaces/beta/lab", token=alice)[0], 404)

    def test_roles(self):
        viewer = self.d.user_token("vic", "viewer", "acme")
        member = self.d.user_token("meg", "member", "acme", "acme/prod")
        other = self.d.user_token("oli", "member", "acme", "acme/research")
        st, _ = self.d.request("POST", "/v1/workloads", {
            "name": "v", "workspace": "acme/prod", "gpus": 1}, token=viewer)
        self.assertEqual(st, 403)
        st, _ = self.d.request("POST", "/v1/workloads", {
            "name": "m", "workspace": "acme/prod", "gpus": 1}, token=member)
        self.assertEqual(st, 201)
        # a member of another workspace does not see it
        self.assertEqual(self.d.request("GET", "/v1/workloads/acme/prod/m", token=other)[0], 404)
        self.assertEqual(self.d.request("DELETE", "/v1/workloads/acme/prod/m", token=viewer)[0], 403)
        # only the platform admin creates tenants and nodes
        self.assertEqual(self.d.request("POST", "/v1/tenants", {"name": "z"}, token=member)[0], 403)
        # a tenant admin may not create a platform admin
        ta = self.d.user_token("tia", "tenant-admin", "acme")
        st, r = self.d.request("POST", "/v1/users", {"name": "evil", "role": "admin"}, token=ta)
        self.assertEqual(st, 403)
        # a tenant admin changes reservations, within what the tenant owns
        st, r = self.d.request("PATCH", "/v1/workspaces/acme/research", {"reserved": {"gpu": 12}},
                               token=ta)
        self.assertEqual(st, 200, r)
        st, r = self.d.request("PATCH", "/v1/workspaces/acme/research", {"reserved": {"gpu": 13}},
                               token=ta)
        self.assertEqual(st, 409, r)
        self.assertEqual(self.d.request("PATCH", "/v1/workspaces/acme/prod", {"weight": 2},
                                        token=member)[0], 403)

    def test_user_and_naming_edges(self):
        self.assertEqual(self.admin("POST", "/v1/tenants", {"name": "acm"})[0], 201)
        # a workspace of another tenant whose name merely starts the same is refused
        st, r = self.admin("POST", "/v1/users", {"name": "u", "role": "member", "tenant": "acm",
                                                 "workspace": "acme/prod"})
        self.assertEqual(st, 404, r)
        self.assertEqual(r["error"]["field"], "workspace")
        # unnamed workloads get a free name even when a user took the next one
        n = len(self.admin("GET", "/v1/workloads")[1]["items"])
        st, r = self.admin("POST", "/v1/workloads", {"name": f"w-{n + 1}",
                                                     "workspace": "acme/research", "gpus": 1})
        self.assertEqual(st, 201, r)
        st, r = self.admin("POST", "/v1/workloads", {"workspace": "acme/research", "gpus": 1})
        self.assertEqual(st, 201, r)
        self.assertNotEqual(r["name"], f"acme/research/w-{n + 1}")

    def test_bad_input(self):
        cases = [
            (b"{not json", 400, "parse", None),
            (b"[]", 400, "inval", None),
            (json.dumps({"workspace": "acme/research", "gpus": -1}).encode(), 400, None, "gpus"),
            (json.dumps({"workspace": "acme/research", "gpus": "lots"}).encode(), 400, None, "gpus"),
            (json.dumps({"workspace": "acme/research", "gpus": 1e30}).encode(), 400, None, "gpus"),
            (json.dumps({"workspace": "acme/research", "gpus": 1, "memory": "12Gx"}).encode(),
             400, None, "memory"),
            (json.dumps({"workspace": "acme/research", "gpu": 1}).encode(), 400, None, "gpu"),
            (json.dumps({"workspace": "acme/research", "name": "a'; DROP TABLE x;--",
                         "gpus": 1}).encode(), 400, None, "name"),
            (json.dumps({"workspace": "acme/research", "gpus": 1, "replicas": 0}).encode(),
             400, None, "replicas"),
            (b'{"a":' * 50 + b"1" + b"}" * 50, 400, None, None),
            (b"x" * 1000 + b'"', 400, "parse", None),
        ]
        for raw, status, code, field in cases:
            st, r = self.d.request("POST", "/v1/workloads", raw=raw, token=self.d.admin)
            self.assertEqual(st, status, (raw[:60], r))
            if isinstance(r, dict):
                self.assertIn("error", r)
                if code:
                    self.assertEqual(r["error"]["code"], code, r)
                if field:
                    self.assertEqual(r["error"].get("field"), field, r)
        # a body over 1 MiB is refused before it is read (413, or the connection is closed
        # while the client still sends)
        try:
            st, r = self.d.request("POST", "/v1/workloads", raw=b"x" * (2 << 20),
                                   token=self.d.admin)
            self.assertEqual(st, 413)
        except OSError:
            pass
        # nothing was half-applied: no workload exists
        st, r = self.admin("GET", "/v1/workloads")
        self.assertEqual(r["items"], [])
        self.assertEqual(self.d.request("GET", "/healthz")[0], 200)

    def test_idempotency_key(self):
        body = {"workspace": "acme/research", "gpus": 1, "idempotency_key": "abc-1"}
        st1, r1 = self.admin("POST", "/v1/workloads", body)
        st2, r2 = self.admin("POST", "/v1/workloads", body)
        self.assertEqual(st1, 201)
        self.assertEqual(st2, 200)
        self.assertEqual(r1["name"], r2["name"])
        self.assertEqual(len(self.admin("GET", "/v1/workloads")[1]["items"]), 1)

    def test_restart_keeps_state(self):
        self.admin("POST", "/v1/workloads", {"name": "keep", "workspace": "acme/research",
                                             "gpus": 2, "idempotency_key": "k"})
        self.admin("POST", "/v1/workloads", {"name": "wait", "workspace": "acme/research",
                                             "gpus": 8, "replicas": 2})
        before = self.admin("GET", "/v1/workloads")[1]["items"]
        self.d.stop()
        self.d = Daemon(self.data)
        after = self.admin("GET", "/v1/workloads")[1]["items"]
        self.assertEqual([(w["name"], w["state"]) for w in before],
                         [(w["name"], w["state"]) for w in after])
        # the same placement: the engine replayed the same decisions
        self.assertEqual(before[0]["placement"], after[0]["placement"])
        # the idempotency key survives the restart
        st, r = self.admin("POST", "/v1/workloads", {"name": "keep", "workspace": "acme/research",
                                                     "gpus": 2, "idempotency_key": "k"})
        self.assertEqual(st, 200)

    def test_admission_wait_is_summed(self):
        """allot_admission_wait_seconds_sum adds each admission's wait (it stayed 0 before),
        and a restart keeps it."""
        self.admin("POST", "/v1/workloads", {"name": "all", "workspace": "acme/research",
                                             "gpus": 8, "replicas": 2, "duration": "300ms"})
        r = self.admin("POST", "/v1/workloads", {"name": "next", "workspace": "acme/research",
                                                 "gpus": 1})[1]
        self.assertEqual(r["state"], "pending", r)  # until all has run its 300 ms
        deadline = time.time() + 10
        while time.time() < deadline:  # admitted at the next pass
            r = self.admin("GET", "/v1/workloads/acme/research/next")[1]
            if r["state"] == "running":
                break
            time.sleep(0.05)
        self.assertEqual(r["state"], "running", r)
        count = self.d.metric("allot_admission_wait_seconds_count")
        total = self.d.metric("allot_admission_wait_seconds_sum")
        self.assertEqual(count, 2)
        self.assertGreaterEqual(total, 0.25)  # next's wait, submitted a moment after all
        self.d.stop()
        self.d = Daemon(self.data)
        self.assertEqual(self.d.metric("allot_admission_wait_seconds_count"), 2)
        self.assertEqual(self.d.metric("allot_admission_wait_seconds_sum"), total)

    def test_check_every_pass(self):
        """With --check-every 1 every pass is followed by sched_check: a reclaim and a
        restart (replay, then the check) go through with the daemon up and no invariant
        reported broken; a bad value is refused."""
        bad = subprocess.run([ALLOTD, "--check-every", "often"], capture_output=True, text=True,
                             timeout=10)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("--check-every", bad.stderr)
        self.d.stop()
        self.d = Daemon(self.data, extra=("--check-every", "1"))
        for i in range(16):
            st, r = self.admin("POST", "/v1/workloads", {
                "name": f"exp-{i}", "workspace": "acme/research", "gpus": 1,
                "kind": "experiment", "grace": "1s"})
            self.assertEqual(r["state"], "running")
        st, r = self.admin("POST", "/v1/workloads", {
            "name": "serve", "workspace": "acme/prod", "gpus": 4, "kind": "inference"})
        self.assertEqual(r["state"], "reclaiming")
        deadline = time.time() + 10
        while time.time() < deadline and r["state"] != "running":
            time.sleep(0.1)
            r = self.admin("GET", "/v1/workloads/acme/prod/serve")[1]
        self.assertEqual(r["state"], "running")
        self.assertIsNone(self.d.proc.poll())
        # checks ran; at most one per pass (and at most 1% of the time: not timed here)
        passes = self.d.metric("allot_engine_passes_total")
        self.assertGreaterEqual(passes, 17)
        self.assertGreaterEqual(self.d.metric("allot_engine_checks_total"), 1)
        self.assertLessEqual(self.d.metric("allot_engine_checks_total"), passes)
        self.d.stop()
        self.d = Daemon(self.data, extra=("--check-every", "1"))
        self.assertEqual(self.admin("GET", "/v1/workloads/acme/prod/serve")[1]["state"], "running")
        with open(self.data + ".log", "rb") as f:
            self.assertNotIn(b"invariant broken", f.read())

    def test_node_moves_after_draining(self):
        self.assertEqual(self.admin("POST", "/v1/tenants", {"name": "beta"})[0], 201)
        st, r = self.admin("POST", "/v1/workloads", {"name": "w", "workspace": "acme/research",
                                                     "gpus": 8, "grace": "1s"})
        node = r["placement"][0]["node"]
        st, r = self.admin("POST", f"/v1/nodes/{node}/move", {"tenant": "beta"})
        self.assertEqual(st, 202, r)
        self.assertEqual(r["state"], "draining")
        self.assertEqual(r["tenant"], "acme")  # its work still runs there
        st, r = self.admin("POST", f"/v1/nodes/{node}/undrain")
        self.assertEqual(st, 409, r)
        st, r = self.admin("DELETE", "/v1/workloads/acme/research/w")
        deadline = time.time() + 10  # its grace period is 1 s
        while time.time() < deadline:
            r = self.admin("GET", f"/v1/nodes/{node}")[1]
            if r["tenant"] == "beta":
                break
            time.sleep(0.2)
        self.assertEqual(r["tenant"], "beta")
        self.assertEqual(r["state"], "ready")
        # acme keeps one node: its 4 reserved GPUs still fit, but not a move of the last one
        other = "gpu-a" if node == "gpu-b" else "gpu-b"
        st, r = self.admin("POST", f"/v1/nodes/{other}/move", {"tenant": "beta"})
        self.assertEqual(st, 409, r)
        self.assertEqual(r["error"]["field"], "tenant")

    def read_events(self, token, want, last_id=None, timeout=5):
        """Read Server-Sent Events until `want` data lines arrived or timeout."""
        req = urllib.request.Request(f"http://127.0.0.1:{self.d.port}/v1/events")
        req.add_header("Authorization", f"Bearer {token}")
        if last_id is not None:
            req.add_header("Last-Event-ID", str(last_id))
        events = []
        with urllib.request.urlopen(req, timeout=timeout) as r:
            self.assertEqual(r.headers.get("Content-Type"), "text/event-stream")
            ev_id = None
            while len(events) < want:
                try:
                    line = r.readline().decode()
                except (TimeoutError, socket.timeout):
                    break
                if line.startswith("id: "):
                    ev_id = int(line[4:])
                elif line.startswith("data: "):
                    events.append((ev_id, json.loads(line[6:])))
        return events

    def test_event_stream(self):
        self.d.add_tenant_beta()
        alice = self.d.user_token("alice", "member", "acme", "acme/research")
        bob = self.d.user_token("bob", "member", "beta")
        self.d.request("POST", "/v1/workloads", {"name": "a1", "workspace": "acme/research",
                                                 "gpus": 1}, token=alice)
        self.d.request("POST", "/v1/workloads", {"name": "b1", "workspace": "beta/lab",
                                                 "gpus": 1}, token=bob)
        # from the start of the log: each sees only its own tenant
        # (ask for more than there are: the read ends at the timeout with all visible ones)
        alice_events = self.read_events(alice, 10, last_id=0, timeout=1)
        bob_events = self.read_events(bob, 10, last_id=0, timeout=1)
        self.assertEqual({e["workload"] for _, e in alice_events}, {"acme/research/a1"})
        self.assertEqual({e["workload"] for _, e in bob_events}, {"beta/lab/b1"})
        self.assertEqual([e["event"] for _, e in alice_events], ["submitted", "admitted"])
        # resuming after the first event gives the rest, in order, with increasing ids
        first_id = alice_events[0][0]
        rest = self.read_events(alice, 1, last_id=first_id)
        self.assertEqual(rest[0][1]["event"], "admitted")
        self.assertGreater(rest[0][0], first_id)

    def test_kill9_under_burst(self):
        acked = []
        lock = threading.Lock()

        def submit(start):
            for i in range(start, start + 60):
                try:
                    st, r = self.d.request("POST", "/v1/workloads", {
                        "name": f"b-{i}", "workspace": "acme/research", "gpus": 1,
                        "duration": "1h"}, token=self.d.admin)
                except OSError:
                    return
                if st == 201:
                    with lock:
                        acked.append(r["name"])

        threads = [threading.Thread(target=submit, args=(k * 1000,)) for k in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.3)
        self.d.proc.send_signal(signal.SIGKILL)
        self.d.proc.wait()
        for t in threads:
            t.join()
        self.d.log.close()
        self.assertGreater(len(acked), 0)
        self.d = Daemon(self.data)
        names = {w["name"] for w in self.admin("GET", "/v1/workloads?limit=1000")[1]["items"]}
        missing = [n for n in acked if n not in names]
        self.assertEqual(missing, [])
        running = self.admin("GET", "/v1/workloads?state=running&limit=1000")[1]["items"]
        gpus = sum(len(w["placement"][0]["gpus"]) for w in running)
        self.assertLessEqual(gpus, 16)  # never more than the tenant's GPUs


class AgentProtocolTest(unittest.TestCase):
    """The controller's side of node agents, driven by a test that plays the agent."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="allot-agent-")
        self.d = Daemon(os.path.join(self.tmp, "data"), PLATFORM,
                        ["--no-virtual-nodes", "--unreachable-after", "400ms",
                         "--lost-after", "1200ms"])

    def tearDown(self):
        if self.d.proc.poll() is None:
            self.d.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def node_token(self, node):
        st, r = self.d.request("POST", "/v1/tokens", {"node": node}, token=self.d.admin)
        self.assertEqual(st, 201, r)
        return r["token"]

    def report(self, node, token, workloads=(), healthy=None):
        gpus = [{"index": i, "uuid": f"GPU-{node}-{i}",
                 "healthy": True if healthy is None else healthy.get(i, True)} for i in range(8)]
        return self.d.request("POST", f"/v1/nodes/{node}/report",
                              {"inventory": {"discovered": False, "gpus": gpus},
                               "workloads": list(workloads)}, token=token)

    def test_report_runs_and_finishes_work(self):
        a = self.node_token("gpu-a")
        b = self.node_token("gpu-b")
        self.report("gpu-a", a)
        self.report("gpu-b", b)
        st, w = self.d.request("POST", "/v1/workloads", {
            "name": "t", "workspace": "acme/research", "gpus": 2,
            "command": ["python", "train.py"], "env": {"LR": "0.1"}}, token=self.d.admin)
        node = w["placement"][0]["node"]
        token = a if node == "gpu-a" else b
        st, r = self.report(node, token)
        self.assertEqual(st, 200, r)
        [item] = r["workloads"]
        self.assertEqual(item["name"], "acme/research/t")
        self.assertEqual(item["command"], ["python", "train.py"])
        self.assertEqual(item["env"], {"LR": "0.1"})
        self.assertEqual(item["gpu_uuids"],
                         [f"GPU-{node}-{i}" for i in w["placement"][0]["gpus"]])
        # a node token reports for its own node only
        other = "gpu-b" if node == "gpu-a" else "gpu-a"
        self.assertEqual(self.report(other, token)[0], 404)
        # a tenant's user may not report at all
        self.assertEqual(self.d.request("POST", "/v1/users", {"name": "v", "role": "tenant-admin",
                                                              "tenant": "acme"},
                                        token=self.d.admin)[0], 201)
        viewer = self.d.request("POST", "/v1/tokens", {"user": "v"}, token=self.d.admin)[1]
        self.assertEqual(self.report(node, viewer["token"])[0], 403)
        # the process exits: the workload is finished and leaves the node's list
        st, r = self.report(node, token, [{"name": "acme/research/t", "state": "exited",
                                            "exit_code": 0}])
        self.assertEqual(r["workloads"], [])
        st, w = self.d.request("GET", "/v1/workloads/acme/research/t", token=self.d.admin)
        self.assertEqual(w["state"], "finished")
        # a GPU reported unhealthy takes no more work
        st, r = self.report(node, token, healthy={0: False})
        st, n = self.d.request("GET", f"/v1/nodes/{node}", token=self.d.admin)
        self.assertFalse(n["gpus"][0]["healthy"])
        # bad reports are refused naming the field, and change nothing
        st, r = self.d.request("POST", f"/v1/nodes/{node}/report",
                               {"workloads": [{"name": "x", "state": "weird"}]}, token=token)
        self.assertEqual((st, r["error"]["field"]), (400, "workloads[0]"))
        st, r = self.d.request("POST", f"/v1/nodes/{node}/report",
                               {"inventory": {"gpus": [{"index": 99, "healthy": True}]}},
                               token=token)
        self.assertEqual((st, r["error"]["field"]), (400, "inventory.gpus[0]"))
        # labels are read as a node's labels are everywhere: 253 bytes, no control characters
        for inv, field in (({"labels": {"k": 5}}, "inventory.labels.k"),
                           ({"labels": {"k" * 254: "v"}}, "inventory.labels." + "k" * 48),
                           ({"labels": {"zone": "a\u0001b"}}, "inventory.labels.zone"),
                           ({"cpu_millicores": -1}, "inventory.cpu_millicores"),
                           ({"memory_bytes": "lots"}, "inventory.memory_bytes")):
            st, r = self.d.request("POST", f"/v1/nodes/{node}/report", {"inventory": inv},
                                   token=token)
            self.assertEqual((st, r["error"]["field"]), (400, field), inv)
        # what the agent said is in the node's record; a node never heard of says so
        n = self.d.request("GET", f"/v1/nodes/{node}", token=self.d.admin)[1]
        self.assertEqual((n["agent"]["state"], n["agent"]["gpus"]), ("reporting", "declared"))

    def test_inventory_is_asked_for_while_unknown(self):
        """Reports are deltas: while the controller knows no inventory of a node, its
        answers say inventory_wanted; once one came, they do not."""
        a = self.node_token("gpu-a")
        st, r = self.d.request("POST", "/v1/nodes/gpu-a/report", {"workloads": []}, token=a)
        self.assertEqual(st, 200, r)
        self.assertIs(r["inventory_wanted"], True)
        st, r = self.report("gpu-a", a)
        self.assertEqual(st, 200, r)
        self.assertNotIn("inventory_wanted", r)
        st, r = self.d.request("POST", "/v1/nodes/gpu-a/report", {"workloads": []}, token=a)
        self.assertNotIn("inventory_wanted", r)

    def test_a_held_report_is_no_silence(self):
        """An agent whose report the controller holds (?wait=) is waiting on the controller, not
        silent: its node stays ready past --unreachable-after (400 ms here) while it waits."""
        a = self.node_token("gpu-a")
        st, first = self.report("gpu-a", a)
        self.assertEqual(st, 200, first)
        q = f"?wait=3000&epoch={first['epoch']}&version={first['version']}"
        held = {}
        t = threading.Thread(target=lambda: held.update(answer=self.d.request(
            "POST", f"/v1/nodes/gpu-a/report{q}", {"workloads": []},
            token=a)))
        t.start()
        time.sleep(1.5)
        n = self.d.request("GET", "/v1/nodes/gpu-a", token=self.d.admin)[1]
        t.join(timeout=10)
        self.assertEqual((n["state"], n["agent"]["state"]), ("ready", "reporting"), n)
        self.assertEqual(held["answer"][0], 200)

    def test_report_held_until_its_node_changes(self):
        a = self.node_token("gpu-a")
        st, first = self.report("gpu-a", a)
        self.assertEqual(st, 200, first)
        self.assertEqual(first["workloads"], [])
        q = f"?wait=5000&epoch={first['epoch']}&version={first['version']}"
        held = {}

        def poll():
            held["answer"] = self.d.request(
                "POST", f"/v1/nodes/gpu-a/report{q}",
                {"workloads": []}, token=a)
            held["at"] = time.time()

        admin = self.d.admin
        self.assertEqual(self.d.request("POST", "/v1/nodes/gpu-a/drain", {}, token=admin)[0], 200)
        t = threading.Thread(target=poll)
        t.start()
        # work placed on gpu-b does not wake gpu-a's held report
        st, w = self.d.request("POST", "/v1/workloads", {
            "name": "elsewhere", "workspace": "acme/research", "gpus": 8,
            "command": ["sleep", "60"]}, token=admin)
        self.assertEqual(w["placement"][0]["node"], "gpu-b")
        time.sleep(0.5)
        self.assertTrue(t.is_alive())
        self.assertNotIn("answer", held)
        self.assertEqual(self.d.request("POST", "/v1/nodes/gpu-a/undrain", {}, token=admin)[0],
                         200)
        st, w = self.d.request("POST", "/v1/workloads", {
            "name": "lp", "workspace": "acme/research", "gpus": 8,
            "command": ["sleep", "60"]}, token=admin)
        self.assertEqual(w["placement"][0]["node"], "gpu-a")
        submitted = time.time()
        t.join(timeout=10)
        self.assertFalse(t.is_alive())
        st, r = held["answer"]
        self.assertEqual(st, 200, r)
        # the new workload woke the held report: it is in the answer, with a newer version
        self.assertEqual([i["name"] for i in r["workloads"]], ["acme/research/lp"])
        self.assertEqual(r["workloads"][0]["attempt"], 1)
        self.assertGreater(r["version"], first["version"])
        # answered by the change, well before the end of the 5 s wait
        self.assertLess(held["at"] - submitted, 2.5)
        # a stale version (or another epoch) is answered at once, as are bad waits refused
        st, r = self.d.request("POST", "/v1/nodes/gpu-a/report?wait=5000&epoch=1&version=0",
                               {"workloads": []}, token=a)
        self.assertEqual(st, 200, r)
        for bad in ("wait=-1", "wait=120001", "wait=x", "epoch=1e3", "version="):
            st, r = self.d.request("POST", f"/v1/nodes/gpu-a/report?{bad}", {"workloads": []},
                                   token=a)
            self.assertEqual((st, r["error"]["field"]), (400, bad.split("=")[0]), bad)
        # a report with another inventory is answered at once: the set's GPU UUIDs follow it
        st, cur = self.report("gpu-a", a)
        q = f"?wait=5000&epoch={cur['epoch']}&version={cur['version']}"
        gpus = [{"index": i, "uuid": f"GPU-new-{i}", "healthy": True} for i in range(8)]
        st, r = self.d.request("POST", f"/v1/nodes/gpu-a/report{q}",
                               {"inventory": {"discovered": False, "gpus": gpus},
                                "workloads": []}, token=a)
        self.assertEqual(st, 200, r)
        self.assertGreater(r["version"], cur["version"])
        self.assertEqual(r["workloads"][0]["gpu_uuids"], [f"GPU-new-{i}" for i in range(8)])
        self.assertNotIn("inventory_wanted", r)

    def test_silent_node_drains_then_its_work_is_requeued(self):
        a = self.node_token("gpu-a")
        b = self.node_token("gpu-b")
        st, w = self.d.request("POST", "/v1/workloads", {
            "name": "w", "workspace": "acme/research", "gpus": 8,
            "command": ["sleep", "60"]}, token=self.d.admin)
        lost = w["placement"][0]["node"]
        alive, alive_token = ("gpu-b", b) if lost == "gpu-a" else ("gpu-a", a)
        deadline = time.time() + 10
        states = set()
        while time.time() < deadline:
            self.report(alive, alive_token)  # only one agent keeps reporting
            n = self.d.request("GET", f"/v1/nodes/{lost}", token=self.d.admin)[1]
            states.add(n["state"])
            if n["state"] == "down":
                break
            time.sleep(0.1)
        self.assertIn("draining", states)
        self.assertEqual(n["state"], "down")
        # its workload was requeued and, the other node being free, placed there
        w = self.d.request("GET", "/v1/workloads/acme/research/w", token=self.d.admin)[1]
        self.assertEqual(w["state"], "running")
        self.assertEqual(w["placement"][0]["node"], alive)
        self.assertEqual(self.d.request("GET", f"/v1/nodes/{alive}",
                                        token=self.d.admin)[1]["state"], "ready")
        # the lost node's agent comes back: ready again
        self.report(lost, a if lost == "gpu-a" else b)
        self.assertEqual(self.d.request("GET", f"/v1/nodes/{lost}",
                                        token=self.d.admin)[1]["state"], "ready")


class PlatformOptionsTest(unittest.TestCase):
    """The platform file's scheduler options reach the daemon's engine, and survive a restart."""

    def test_scheduler_options(self):
        tmp = tempfile.mkdtemp(prefix="allot-opt-")
        try:
            platform = os.path.join(tmp, "p.yaml")
            with open(platform, "w") as f:
                f.write("scheduler: {default_grace: 7s, starvation_age: 2m}\n"
                        "tenants: [{name: t, workspaces: [{name: w}]}]\n"
                        "clusters: [{name: c}]\n"
                        "nodes: [{name: n, cluster: c, tenant: t, cpu: 8, memory: 8Gi,"
                        " gpus: [{model: H100-80GB, count: 2}]}]\n")
            data = os.path.join(tmp, "data")
            d = Daemon(data, platform)
            try:
                st, r = d.request("POST", "/v1/workloads", {"workspace": "t/w", "gpus": 1},
                                  token=d.admin)
                self.assertEqual(st, 201, r)
                self.assertEqual(r["grace"], "7s")
                d.stop()
                d = Daemon(data, None)
                st, r = d.request("POST", "/v1/workloads", {"workspace": "t/w", "gpus": 1},
                                  token=d.admin)
                self.assertEqual(r["grace"], "7s")
            finally:
                if d.proc.poll() is None:
                    d.stop()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class TlsTest(unittest.TestCase):
    """allotd --tls-cert/--tls-key serves HTTPS (self-signed certificate made here)."""

    def test_https(self):
        tmp = tempfile.mkdtemp(prefix="allot-tls-")
        try:
            cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", key, "-out", cert, "-days", "1", "-subj",
                            "/CN=127.0.0.1"], check=True, capture_output=True)
            port = free_port()
            data = os.path.join(tmp, "data")
            log = open(os.path.join(tmp, "log"), "wb")
            proc = subprocess.Popen([ALLOTD, "--listen", f"127.0.0.1:{port}", "--data", data,
                                     "--tls-cert", cert, "--tls-key", key],
                                    stdout=log, stderr=log)
            try:
                ctx = ssl.create_default_context(cafile=cert)
                ctx.check_hostname = False
                body = None
                for _ in range(100):
                    try:
                        with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz",
                                                    context=ctx, timeout=5) as r:
                            body = json.loads(r.read())
                            break
                    except (OSError, urllib.error.URLError):
                        time.sleep(0.05)
                self.assertEqual(body, {"status": "ok"})
                # plain HTTP to the TLS port gets no answer
                with self.assertRaises(Exception):
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
            finally:
                proc.terminate()
                proc.wait(timeout=10)
                log.close()
            # a key that does not match is refused at start, naming the files
            other = os.path.join(tmp, "other.pem")
            subprocess.run(["openssl", "genrsa", "-out", other, "2048"], check=True,
                           capture_output=True)
            r = subprocess.run([ALLOTD, "--listen", f"127.0.0.1:{free_port()}", "--data", data,
                                "--tls-cert", cert, "--tls-key", other], capture_output=True,
                               timeout=10)
            self.assertEqual(r.returncode, 1)
            self.assertIn(b"TLS certificate", r.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
