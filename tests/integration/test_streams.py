#!/usr/bin/env python3
"""Integration tests of the event streams (GET /v1/events) and their bounds: the caps on open
streams (429), a client that does not read (cut off with an overflow event, the daemon's
memory bounded), resuming with Last-Event-ID (no gap, no duplicate), a bad Last-Event-ID
(400) and tenant filtering. The real daemon on 127.0.0.1 with a temporary data directory.
Usage: test_streams.py ALLOTD SRCDIR."""
import http.client
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import allotd_harness  # noqa: E402

ALLOTD = sys.argv[1] if len(sys.argv) > 1 else "build/allotd"
SRC = sys.argv[2] if len(sys.argv) > 2 else "."
PLATFORM = os.path.join(SRC, "examples", "platform.yaml")
BUFFER = 16 * 1024  # --stream-buffer of these tests
# Under AddressSanitizer (make asan) freed memory is held in a quarantine of up to 256 MiB,
# which would hide what the daemon really holds from the RSS comparisons below.
os.environ["ASAN_OPTIONS"] = ":".join(
    x for x in (os.environ.get("ASAN_OPTIONS"), "quarantine_size_mb=0") if x)


class Stream:
    """One GET /v1/events on a raw socket, read only when the test says so. rcvbuf: a small
    receive buffer, so that a client that does not read is behind after a few KiB."""

    def __init__(self, port, token, last_id=None, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        req = f"GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        if last_id is not None:
            req += f"Last-Event-ID: {last_id}\r\n"
        self.sock.sendall((req + "\r\n").encode())
        self.raw = b""  # received, not yet decoded
        self.text = ""  # decoded body, not yet split into events
        self.events = []  # (id or None, event name, data)
        self.status, self.headers, self.body = None, {}, None
        self.nbytes = 0  # of the decoded body
        self.comments = 0  # comment lines (keepalives)
        self.chunked = self.ended = self.eof = False

    def close(self):
        self.sock.close()

    def _recv(self, timeout):
        """Read once. RET False at EOF or when nothing came within timeout."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(1 << 16)
        except socket.timeout:
            return False
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.raw += data
        return True

    def head(self, timeout=10):
        """Read the status line and headers (and a whole non-chunked body). RET the status."""
        deadline = time.time() + timeout
        while b"\r\n\r\n" not in self.raw:
            if not self._recv(deadline - time.time()) and (self.eof or time.time() > deadline):
                raise AssertionError(f"no response head: {self.raw!r}")
        head, self.raw = self.raw.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.strip().lower(): v.strip()
                        for k, v in (line.split(":", 1) for line in lines[1:])}
        self.chunked = self.headers.get("transfer-encoding") == "chunked"
        if not self.chunked:
            n = int(self.headers.get("content-length", "0"))
            while len(self.raw) < n and self._recv(deadline - time.time()):
                pass
            self.body = json.loads(self.raw[:n]) if n else None
        return self.status

    def _decode(self):
        while self.chunked and not self.ended:
            i = self.raw.find(b"\r\n")
            if i < 0:
                break
            size = int(self.raw[:i], 16)
            if len(self.raw) < i + 2 + size + 2:
                break
            self.text += self.raw[i + 2:i + 2 + size].decode()
            self.nbytes += size
            self.raw = self.raw[i + 4 + size:]
            self.ended = size == 0
        while "\n\n" in self.text:
            block, self.text = self.text.split("\n\n", 1)
            lines = block.split("\n")
            self.comments += sum(line.startswith(":") for line in lines)
            lines = [line for line in lines if not line.startswith(":")]
            if not lines:
                continue  # a comment alone (a keepalive)
            fields = dict(line.split(": ", 1) for line in lines)
            ev_id = int(fields["id"]) if "id" in fields else None
            self.events.append((ev_id, fields["event"], json.loads(fields["data"])))

    def read(self, idle=0.5, timeout=30):
        """Read until the response ends, EOF, or nothing comes for `idle` seconds."""
        deadline = time.time() + timeout
        while not self.ended and not self.eof and time.time() < deadline:
            if not self._recv(min(idle, deadline - time.time())):
                break
            self._decode()
        self._decode()
        return self.events


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class StreamsTest(unittest.TestCase):
    extra = ("--stream-buffer", "16Ki", "--max-streams-per-token", "128")

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="allot-streams-")
        self.d = allotd_harness.Daemon(ALLOTD, os.path.join(self.tmp, "data"), PLATFORM,
                                       self.extra)
        self.streams = []
        self.conn = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=10)

    def tearDown(self):
        for s in self.streams:
            s.close()
        self.conn.close()
        died = self.d.proc.poll() is not None
        if not died:
            self.d.stop()
        with open(self.d.data + ".log", errors="replace") as f:
            log = f.read()
        shutil.rmtree(self.tmp, ignore_errors=True)
        # it stops cleanly: under make asan, a leak (LeakSanitizer at exit) fails the test
        self.assertFalse(died or self.d.proc.returncode != 0,
                         f"allotd {'died' if died else 'exited'} with "
                         f"{self.d.proc.returncode}:\n{log[-6000:]}")

    # helpers
    def open(self, token=None, **kw):
        s = Stream(self.d.port, token or self.d.admin, **kw)
        self.streams.append(s)
        return s

    def call(self, method, path, body=None, token=None):
        """One request on a kept-alive connection (fast enough for thousands)."""
        headers = {"Authorization": f"Bearer {token or self.d.admin}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        r = self.conn.getresponse()
        text = r.read().decode()
        return r.status, (json.loads(text) if text.startswith("{") else text)

    def metric(self, name):
        st, text = self.call("GET", "/metrics")
        self.assertEqual(st, 200)
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise AssertionError(f"no metric {name}")

    def wait_metric(self, name, pred, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            v = self.metric(name)
            if pred(v):
                return v
            time.sleep(0.05)
        raise AssertionError(f"{name} is still {self.metric(name)} after {timeout} s")

    def submit(self, n, workspace, prefix):
        for i in range(n):
            st, r = self.call("POST", "/v1/workloads", {
                "name": f"{prefix}-{i}", "workspace": workspace, "gpus": 1, "duration": "1h"})
            self.assertEqual(st, 201, r)

    def toggle_nodes(self, n):
        """n node events (drain, undrain, ...): events that change nothing the daemon keeps in
        memory, so that its memory can only grow through the streams."""
        for i in range(n):
            st, r = self.call("POST", f"/v1/nodes/gpu-a/{'drain' if i % 2 == 0 else 'undrain'}")
            self.assertEqual(st, 200, r)

    def read_all(self, token, after):
        """Every event token may see after id `after`, resuming after each overflow until a
        stream is caught up. RET [(id, event, data)], the connections used and the bytes of
        the events' frames."""
        events, connections, nbytes = [], 0, 0
        while True:
            s = self.open(token, last_id=after)
            self.assertEqual(s.head(), 200)
            got = s.read()
            s.close()
            connections += 1
            nbytes += s.nbytes
            data = [e for e in got if e[1] != "overflow"]
            events += data
            if not got or got[-1][1] != "overflow":
                return events, connections, nbytes
            self.assertTrue(data, "a resume that sends nothing before its overflow event")
            self.assertEqual(got[-1][2]["last_id"], data[-1][0])
            after = data[-1][0]

    # tests
    def test_caps_answer_429_and_free_slots(self):
        self.d.stop()
        self.d = allotd_harness.Daemon(ALLOTD, os.path.join(self.tmp, "data"), PLATFORM,
                                       ("--max-streams", "4", "--max-streams-per-token", "2"))
        self.conn = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=10)
        alice = self.d.user_token("alice", "viewer", "acme")
        carol = self.d.user_token("carol", "viewer", "acme")
        admin_streams = [self.open() for _ in range(2)]
        for s in admin_streams:
            self.assertEqual(s.head(), 200)
        # a third stream of the same token: over the per-token cap
        s = self.open()
        self.assertEqual(s.head(), 429)
        self.assertGreater(int(s.headers["retry-after"]), 0)
        self.assertEqual(s.headers["content-type"], "application/json")
        self.assertEqual(s.body["error"]["code"], "toomany")
        self.assertIn("--max-streams-per-token", s.body["error"]["message"])
        # another token still has room, up to the total cap
        for _ in range(2):
            self.assertEqual(self.open(alice).head(), 200)
        s = self.open(carol)
        self.assertEqual(s.head(), 429)
        self.assertGreater(int(s.headers["retry-after"]), 0)
        self.assertEqual(s.body["error"]["code"], "toomany")
        self.assertIn("--max-streams", s.body["error"]["message"])
        self.assertEqual(self.metric("allot_event_streams_refused_total"), 2)
        # a closed stream frees its slot: the token may open another, and so may others
        admin_streams[0].close()
        self.wait_metric("allot_event_streams", lambda v: v == 3)
        self.assertEqual(self.open().head(), 200)
        admin_streams[1].close()
        self.wait_metric("allot_event_streams", lambda v: v == 3)
        self.assertEqual(self.open(carol).head(), 200)

    def test_a_quiet_stream_stays_open(self):
        """Two minutes without an event: the keepalive comments (every 15 s by default) keep
        the stream open, and an event after them still comes on it."""
        s = Stream(self.d.port, self.d.admin)
        self.streams.append(s)
        self.assertEqual(s.head(), 200)
        start = time.time()
        while time.time() - start < 125:
            s.read(idle=5, timeout=5)
            self.assertFalse(s.eof or s.ended, f"the stream ended after {time.time() - start}s")
        self.assertGreaterEqual(s.comments, 7)
        self.assertEqual(s.events, [])
        self.submit(1, "acme/research", "after-quiet")
        deadline = time.time() + 10
        while not s.events and time.time() < deadline:
            s.read(idle=0.5, timeout=1)
        self.assertEqual(s.events[0][1], "submitted")
        st, metrics = self.d.request("GET", "/metrics", token=self.d.admin)
        self.assertEqual(st, 200, metrics)
        sent = [line for line in metrics.splitlines()
                if line.startswith("allot_event_stream_keepalives_total ")]
        self.assertGreaterEqual(int(sent[0].split()[1]), 7, sent)

    def test_bad_last_event_id_is_400(self):
        self.toggle_nodes(2)  # ids 1 and 2 exist
        for bad in ("abc", "-1", "1x", "1 2", "99999999999999999999", "3", "+1", "0x1"):
            s = self.open(last_id=bad)
            self.assertEqual(s.head(), 400, bad)
            self.assertEqual(s.body["error"]["code"], "inval", bad)
            self.assertEqual(s.body["error"]["field"], "Last-Event-ID", bad)
        s = self.open(last_id=0)
        self.assertEqual(s.head(), 200)
        self.assertEqual([e[0] for e in s.read()], [1, 2])
        self.assertEqual(self.metric("allot_event_streams"), 1)  # the 400s hold no slot

    def test_non_reading_clients_are_cut_off_and_memory_stays_bounded(self):
        n = 100
        stalled = [self.open(rcvbuf=4096) for _ in range(n)]
        for s in stalled:
            self.assertEqual(s.head(), 200)
        self.wait_metric("allot_event_streams", lambda v: v == n)
        self.toggle_nodes(20)
        start_events, _, _ = self.read_all(self.d.admin, 0)
        self.assertEqual(self.metric("allot_event_stream_overflows_total"), 0)
        before = rss_kib(self.d.proc.pid)
        self.toggle_nodes(5000)
        after = rss_kib(self.d.proc.pid)
        self.assertEqual(self.metric("allot_event_stream_overflows_total"), n)
        # what each of them would hold without a bound: every event of the load
        events, connections, per_client = self.read_all(self.d.admin, start_events[-1][0])
        self.assertEqual(len(events), 5000)
        self.assertGreater(connections, 5)  # the backlog is bounded too: many resumes
        self.assertGreater(per_client, 20 * BUFFER)
        unbounded_kib = n * per_client / 1024
        grown = after - before
        self.assertLess(grown, 0.2 * unbounded_kib,
                        f"RSS grew {grown} KiB; unbounded buffering would hold "
                        f"{unbounded_kib:.0f} KiB")
        # a client that never reads does not hold its slot for long either
        self.wait_metric("allot_event_streams", lambda v: v == 0, timeout=40)

    def test_overflow_then_resume_has_no_gap_and_no_duplicate(self):
        self.d.add_tenant_beta()
        alice = self.d.user_token("alice", "member", "acme", "acme/research")
        s = self.open(alice, rcvbuf=4096)
        self.assertEqual(s.head(), 200)
        self.wait_metric("allot_event_streams", lambda v: v == 1)
        # events alice may see between others she may not, until she falls behind
        for batch in range(100):
            self.submit(20, "acme/research", f"r{batch}")
            self.submit(10, "acme/prod", f"p{batch}")
            self.submit(10, "beta/lab", f"b{batch}")
            if self.metric("allot_event_stream_overflows_total") >= 1:
                break
        else:
            self.fail("the client that does not read was never cut off")
        got = s.read()
        self.assertTrue(s.ended, "the stream does not end after its overflow event")
        self.assertEqual(got[-1][1], "overflow")
        self.assertIsNone(got[-1][0])  # the overflow event carries no id of its own
        sent = got[:-1]
        self.assertTrue(sent)
        self.assertEqual(got[-1][2]["last_id"], sent[-1][0])
        self.submit(20, "acme/research", "late")  # and more after the cut
        resumed, _, _ = self.read_all(alice, got[-1][2]["last_id"])
        everything, _, _ = self.read_all(alice, 0)
        ids = [e[0] for e in sent + resumed]
        expected = [e[0] for e in everything if e[0] >= sent[0][0]]
        self.assertEqual(ids, expected)  # in order, no gap, no duplicate
        self.assertEqual(len(set(ids)), len(ids))
        self.assertEqual({e[2]["workspace"] for e in everything}, {"acme/research"})
        self.assertIn("acme/research/late-19", {e[2]["workload"] for e in resumed})

    def test_tenant_filtering(self):
        self.d.add_tenant_beta()
        tokens = {
            "alice": self.d.user_token("alice", "member", "acme", "acme/research"),
            "carol": self.d.user_token("carol", "viewer", "acme"),
            "bob": self.d.user_token("bob", "member", "beta"),
            "admin": self.d.admin,
        }
        live = {who: self.open(t) for who, t in tokens.items()}
        for s in live.values():
            self.assertEqual(s.head(), 200)
        self.wait_metric("allot_event_streams", lambda v: v == 4)
        self.submit(3, "acme/research", "a")
        self.submit(3, "acme/prod", "p")
        self.submit(3, "beta/lab", "b")
        self.toggle_nodes(2)
        want = {
            "alice": {"acme/research"},
            "carol": {"acme/research", "acme/prod"},
            "bob": {"beta/lab"},
            "admin": {"acme/research", "acme/prod", "beta/lab", None},
        }
        for who, token in tokens.items():
            seen_live = live[who].read()
            seen_stored, _, _ = self.read_all(token, 0)  # the resume path filters the same way
            for seen in (seen_live, seen_stored):
                self.assertEqual({e[2].get("workspace") for e in seen}, want[who], who)
            self.assertTrue(seen_live, who)
            self.assertEqual([e[0] for e in seen_live],
                             [e[0] for e in seen_stored if e[0] >= seen_live[0][0]], who)

    def page_all(self, token, query=""):
        """Every stored event token may see, by GET /v1/events?format=json pages of 2 (and
        query). RET the items and the number of pages."""
        items, after, pages = [], 0, 0
        while True:
            st, r = self.call("GET", f"/v1/events?format=json&limit=2&after={after}{query}",
                              token=token)
            self.assertEqual(st, 200, r)
            pages += 1
            items += r["items"]
            if "next" not in r:
                return items, pages
            self.assertGreater(r["next"], after)
            after = r["next"]

    def test_json_pages_filter_like_the_stream(self):
        """GET /v1/events?format=json: pages of the stored events, each with its id, oldest
        first, filtered as the stream is: a tenant admin never gets another tenant's events
        nor the node events (about no tenant), which the platform admin gets, with the node's
        state before (`from`); bad parameters are 400 naming the field."""
        self.d.add_tenant_beta()
        tokens = {"acme-admin": self.d.user_token("ann", "tenant-admin", "acme"),
                  "alice": self.d.user_token("alice", "member", "acme", "acme/research"),
                  "bob": self.d.user_token("bob", "member", "beta")}
        self.submit(3, "acme/research", "a")
        self.submit(2, "acme/prod", "p")
        self.submit(3, "beta/lab", "b")
        self.toggle_nodes(2)
        everything, pages = self.page_all(self.d.admin)
        self.assertGreater(pages, 3)
        ids = [e["id"] for e in everything]
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(len(set(ids)), len(ids))
        node = [e for e in everything if e["event"] == "node_state"]
        self.assertEqual([(e["node"], e["from"], e["state"]) for e in node],
                         [("gpu-a", "ready", "draining"), ("gpu-a", "draining", "ready")])
        # the same as the stream's resume from 0 sends the admin
        streamed, _, _ = self.read_all(self.d.admin, 0)
        self.assertEqual(ids, [e[0] for e in streamed])
        want = {"acme-admin": {"acme/research", "acme/prod"}, "alice": {"acme/research"},
                "bob": {"beta/lab"}}
        for who, token in tokens.items():
            items, _ = self.page_all(token)
            self.assertTrue(items, who)
            self.assertEqual({e.get("workspace") for e in items}, want[who], who)
            self.assertNotIn("node_state", {e["event"] for e in items}, who)
            self.assertEqual([e["id"] for e in items],
                             [e["id"] for e in everything if e.get("workspace") in want[who]])
        # ?event= keeps those kinds
        items, _ = self.page_all(self.d.admin, "&event=node_state,gpu_health")
        self.assertEqual([e["id"] for e in items], [e["id"] for e in node])
        self.assertEqual(self.page_all(tokens["acme-admin"], "&event=node_state")[0], [])
        # bad parameters
        last = ids[-1]
        for query, field in (("format=xml", "format"), ("format=json&after=-1", "after"),
                             (f"format=json&after={last + 1}", "after"),
                             ("format=json&after=x", "after"), ("format=json&limit=0", "limit"),
                             ("format=json&limit=1001", "limit"),
                             ("format=json&event=nothing", "event"),
                             ("format=json&event=", "event"),
                             ("format=json&event=admitted,,queued", "event")):
            st, r = self.call("GET", "/v1/events?" + query)
            self.assertEqual((st, r["error"]["field"]), (400, field), query)
        st, r = self.call("GET", f"/v1/events?format=json&after={last}")
        self.assertEqual((st, r), (200, {"items": [], "last": last}))
        # every page says where the events end, from any tenant's view
        st, r = self.call("GET", "/v1/events?format=json&limit=1", token=tokens["acme-admin"])
        self.assertEqual((st, r["last"]), (200, last))

    def test_client_input_is_not_held(self):
        """What a stream's client sends after its request is never read into memory."""
        s = self.open()
        self.assertEqual(s.head(), 200)
        before = rss_kib(self.d.proc.pid)
        s.sock.settimeout(2)
        junk, sent = b"x" * (1 << 20), 0
        try:
            while sent < 64 << 20:
                sent += s.sock.send(junk)
        except (socket.timeout, BlockingIOError):
            pass
        time.sleep(0.5)
        grown = rss_kib(self.d.proc.pid) - before
        self.assertGreater(sent, 1 << 20)  # the kernel took some; the daemon stopped reading
        # input read into memory would grow the daemon by all of it; under ASan (PostgreSQL)
        # its allocator alone grew it by 768 KiB of 3 MiB sent once, so the bound is half
        self.assertLess(grown * 1024, sent / 2, f"RSS grew {grown} KiB after {sent} bytes sent")
        self.toggle_nodes(1)
        self.assertEqual([e[1] for e in s.read()], ["node_state"])  # the stream still works


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[3:])  # then: names of tests to run
