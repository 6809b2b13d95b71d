#!/usr/bin/env python3
"""Integration tests of the dashboard's static files under /ui/ (src/allotd/ui.c,
docs/dashboard.md): served without a token from --ui-dir, with a content type from the fixed
table and the security headers; every way out of the directory refused with 404 (.., encoded
dots and slashes, absolute paths, subdirectories, hidden names, symbolic links even to a file
inside, FIFOs, directories, unknown extensions, files above the size cap); only GET and HEAD.
The real allotd on 127.0.0.1 over a temporary copy of ui/. Usage: test_ui.py ALLOTD SRCDIR."""
import http.client
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import allotd_harness  # noqa: E402

ALLOTD = sys.argv[1] if len(sys.argv) > 1 else "build/allotd"
SRC = sys.argv[2] if len(sys.argv) > 2 else "."

HEADERS = {
    "Content-Security-Policy": "default-src 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def raw(port, method, target, headers=None):
    """method on target at port, sent as is (no normalisation). RET (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    finally:
        conn.close()


class UiFilesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="allot-ui-")
        cls.ui = os.path.join(cls.tmp, "ui")
        shutil.copytree(os.path.join(SRC, "ui"), cls.ui)
        with open(os.path.join(cls.tmp, "secret.js"), "w") as f:
            f.write("outside the ui directory\n")
        os.symlink(os.path.join(cls.tmp, "secret.js"), os.path.join(cls.ui, "out-link.js"))
        os.symlink("app.js", os.path.join(cls.ui, "in-link.js"))
        os.mkfifo(os.path.join(cls.ui, "fifo.js"))
        os.mkdir(os.path.join(cls.ui, "dir.js"))
        os.mkdir(os.path.join(cls.ui, "sub"))
        with open(os.path.join(cls.ui, "sub", "x.js"), "w") as f:
            f.write("in a subdirectory\n")
        with open(os.path.join(cls.ui, ".hidden.js"), "w") as f:
            f.write("hidden\n")
        with open(os.path.join(cls.ui, "notes.txt"), "w") as f:
            f.write("an unknown extension\n")
        with open(os.path.join(cls.ui, "big.js"), "wb") as f:
            f.write(b"/" * (2 * 1024 * 1024 + 1))
        with open(os.path.join(cls.ui, "edge.js"), "wb") as f:
            f.write(b"/" * (2 * 1024 * 1024))
        cls.d = allotd_harness.Daemon(ALLOTD, os.path.join(cls.tmp, "data"),
                                      extra=["--ui-dir", cls.ui])

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def raw(self, method, target, headers=None):
        return raw(self.d.port, method, target, headers)

    def test_redirect(self):
        st, h, _ = self.raw("GET", "/ui")
        self.assertEqual(st, 301)
        self.assertEqual(h["Location"], "/ui/")

    def test_files_types_and_headers(self):
        for target, ctype in (("/ui/", "text/html; charset=utf-8"),
                              ("/ui/index.html", "text/html; charset=utf-8"),
                              ("/ui/app.js", "text/javascript; charset=utf-8"),
                              ("/ui/style.css", "text/css; charset=utf-8"),
                              ("/ui/favicon.svg", "image/svg+xml"),
                              ("/ui/edge.js", "text/javascript; charset=utf-8")):
            st, h, body = self.raw("GET", target)
            self.assertEqual(st, 200, target)
            self.assertEqual(h["Content-Type"], ctype, target)
            for k, v in HEADERS.items():
                self.assertIn(v, h.get(k, ""), f"{target}: {k}")
            name = "index.html" if target == "/ui/" else target[4:]
            with open(os.path.join(self.ui, name), "rb") as f:
                self.assertEqual(body, f.read(), target)

    def test_no_token_needed_and_none_looked_at(self):
        st, _, _ = self.raw("GET", "/ui/app.js", {"Authorization": "Bearer not-a-token"})
        self.assertEqual(st, 200)

    def test_head(self):
        st, h, body = self.raw("HEAD", "/ui/app.js")
        self.assertEqual(st, 200)
        self.assertEqual(body, b"")
        self.assertEqual(int(h["Content-Length"]), os.path.getsize(os.path.join(self.ui, "app.js")))

    def test_only_get_and_head(self):
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            st, h, _ = self.raw(method, "/ui/app.js", {"Content-Length": "0"})
            self.assertEqual(st, 405, method)
            self.assertIn("GET", h["Allow"])

    def test_refusals(self):
        for target in ("/ui/../CMakeLists.txt", "/ui/..", "/ui/%2e%2e", "/ui/%2e%2e/secret.js",
                       "/ui/..%2fsecret.js", "/ui/%2e%2e%2fsecret.js", "/ui/%2Fetc%2Fpasswd",
                       "/ui//etc/passwd", "/ui/sub/x.js", "/ui/sub%2fx.js", "/ui/.hidden.js",
                       "/ui/out-link.js", "/ui/in-link.js", "/ui/fifo.js", "/ui/dir.js",
                       "/ui/notes.txt", "/ui/big.js", "/ui/missing.js", "/ui/app.js%00.js",
                       "/ui/app%20.js", "/ui/" + "a" * 70 + ".js", "/ui/app.JS.bak"):
            st, h, body = self.raw("GET", target)
            self.assertIn(st, (400, 404), target)
            self.assertNotIn(b"outside the ui directory", body, target)
            self.assertNotIn(b"root:", body, target)
            self.assertTrue(h["Content-Type"].startswith("application/json"), target)

    def test_no_ui_dir(self):
        d = allotd_harness.Daemon(ALLOTD, os.path.join(self.tmp, "data2"),
                                  extra=["--ui-dir", os.path.join(self.tmp, "nowhere")])
        try:
            self.assertEqual(raw(d.port, "GET", "/ui/")[0], 404)
        finally:
            d.stop()


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
