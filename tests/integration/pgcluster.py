"""A private PostgreSQL server for the integration tests: initdb in a fresh temporary
directory, the server listening only on a Unix socket there (fsync on), stopped and removed
by stop(), at exit, or by a watchdog process if the test process is killed. Run as root, the
server runs as the unprivileged user nobody (initdb refuses root). Python standard library only.

    cluster = pgcluster.start()        # or pgcluster.SkipTest when not installed
    uri = cluster.database("d1")       # creates it once; a libpq URI for allotd --store
    cluster.stop()
"""
import atexit
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("ALLOT_PG_BIN", "/usr/lib/postgresql/15/bin")
USER = "nobody"  # who runs the server when the tests run as root
SKIP = 77        # ctest's SKIP_RETURN_CODE


def cleanup(directory, as_user):
    """Stops the server of directory (pg_ctl stop -m fast run as_user, SIGKILL to the
    postmaster if that fails) and removes the directory. Nothing to do when it is gone."""
    if not os.path.isdir(directory):
        return
    data = os.path.join(directory, "data")
    pidfile = os.path.join(data, "postmaster.pid")
    if os.path.exists(pidfile):
        r = subprocess.run(as_user + [os.path.join(BIN, "pg_ctl"), "stop", "-D", data, "-m",
                                      "fast", "-w"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
        if r.returncode != 0 and os.path.exists(pidfile):
            try:
                with open(pidfile) as f:
                    os.kill(int(f.readline()), signal.SIGKILL)
                time.sleep(0.5)
            except (OSError, ValueError):
                pass
    shutil.rmtree(directory, ignore_errors=True)


class SkipTest(Exception):
    """PostgreSQL is not installed: the test is skipped, not passed."""


class Cluster:
    """One running server in self.dir (data/, the socket, server.log)."""

    def __init__(self):
        if not os.access(os.path.join(BIN, "initdb"), os.X_OK):
            raise SkipTest(f"PostgreSQL is not installed ({BIN}/initdb not found); "
                           "scripts/install-deps installs postgresql-15")
        self.dir = tempfile.mkdtemp(prefix="allot-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = 20000 + os.getpid() % 20000  # names the socket file; no TCP
        self.databases = set()
        self.as_user = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam(USER)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.as_user = ["runuser", "-u", USER, "--"]
        # the watchdog: this file run with --watch; it cleans up when its stdin closes, that
        # is when this process ends, however it ends, unless stop() has already
        self.watchdog = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--watch", self.dir] + self.as_user,
            stdin=subprocess.PIPE, start_new_session=True)
        atexit.register(self.stop)
        try:
            self._run("initdb", "-D", self.data, "-U", "allot", "--auth=trust", "-E", "UTF8",
                      "--locale=C")
            with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
                f.write("\n# pgcluster.py: a private test server\nlisten_addresses = ''\n"
                        f"unix_socket_directories = '{self.dir}'\nport = {self.port}\n"
                        "fsync = on\nsynchronous_commit = on\nmax_connections = 40\n"
                        "shared_buffers = 16MB\n")
            self.ctl("start")
        except Exception:
            self.stop()
            raise

    def _run(self, prog, *args):
        r = subprocess.run(self.as_user + [os.path.join(BIN, prog), *args],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           start_new_session=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"{prog} {' '.join(args)}: exit {r.returncode}:\n"
                               + r.stdout.decode(errors="replace") + self.server_log())
        return r.stdout.decode(errors="replace")

    def server_log(self):
        try:
            with open(os.path.join(self.dir, "server.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def ctl(self, action):
        """pg_ctl start, stop or restart (stop and restart -m fast: sessions are cut)."""
        args = [action, "-D", self.data, "-w"]
        if action != "start":
            args += ["-m", "fast"]
        if action != "stop":
            args += ["-l", os.path.join(self.dir, "server.log")]
        self._run("pg_ctl", *args)

    def uri(self, db):
        return f"postgresql:///{db}?host={self.dir}&port={self.port}&user=allot"

    def sql(self, db, command):
        """Runs command (fixed text from the test, never user data) with psql on db."""
        return self._run("psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", self.dir,
                         "-p", str(self.port), "-U", "allot", "-d", db, "-c", command)

    def database(self, name):
        """The URI of database name, created on first use (name: letters, digits, _)."""
        if not name.replace("_", "").isalnum():
            raise ValueError(f"database name {name!r}")
        if name not in self.databases:
            self.sql("postgres", f"CREATE DATABASE {name}")
            self.databases.add(name)
        return self.uri(name)

    def stop(self):
        """Stops the server and removes the directory. Idempotent."""
        cleanup(self.dir, self.as_user)
        if self.watchdog.poll() is None:
            self.watchdog.stdin.close()
            self.watchdog.wait(timeout=60)


_shared = None


def shared():
    """The test process's one cluster, started on first use."""
    global _shared
    if _shared is None:
        _shared = Cluster()
    return _shared


def start():
    return Cluster()


def skip_if_missing():
    """Exits SKIP with a clear line when PostgreSQL is not installed."""
    if not os.access(os.path.join(BIN, "initdb"), os.X_OK):
        print(f"SKIPPED, NOT PASSED: PostgreSQL is not installed ({BIN}/initdb not found); "
              "scripts/install-deps installs postgresql-15", flush=True)
        sys.exit(SKIP)


if __name__ == "__main__" and len(sys.argv) >= 3 and sys.argv[1] == "--watch":
    sys.stdin.read()
    cleanup(sys.argv[2], sys.argv[3:])
