/* A private PostgreSQL server for the unit tests: initdb in a fresh temporary directory, the
 * server listening only on a Unix socket there, stopped and removed at the end, also when
 * the test process dies (a watchdog process does it then). */
#ifndef ALLOT_TESTS_PGCLUSTER_H
#define ALLOT_TESTS_PGCLUSTER_H

#include <stddef.h>

/* Where the server programs are; ALLOT_PG_BIN overrides. */
#define PGCLUSTER_BIN "/usr/lib/postgresql/15/bin"
/* pgcluster_start's answer when PostgreSQL is not installed: the test's exit code for ctest's
 * SKIP_RETURN_CODE. */
#define PGCLUSTER_SKIP 77

struct pgcluster {
    char dir[256]; /* the temporary directory: data/, the socket, server.log */
    char bin[256]; /* the server programs' directory */
    int port;      /* names the socket file only: nothing listens on TCP */
    int watchdog;  /* pid of the process that cleans up if this one dies, or 0 */
    int watch_fd;  /* the pipe whose closing wakes the watchdog */
};

/* Creates and starts a server: initdb (as the unprivileged user nobody when run as root,
 * which initdb requires), fsync on, listen_addresses '' and the socket in pg->dir, a port
 * derived from the pid. RET 0; PGCLUSTER_SKIP (with a "SKIPPED, NOT PASSED" line on stderr)
 * when PostgreSQL is not installed; -1 with the reason on stderr (nothing left behind). */
int pgcluster_start(struct pgcluster *pg);

/* Stops the server (pg_ctl stop -m fast, then SIGKILL to the postmaster if that fails) and
 * removes pg->dir. Safe to call twice and on a cluster that never started. */
void pgcluster_stop(struct pgcluster *pg);

/* Restarts the server (pg_ctl restart -m fast): every open connection is cut. RET 0 or -1. */
int pgcluster_restart(struct pgcluster *pg);
/* Stops the server without removing anything (pgcluster_resume starts it again). */
int pgcluster_pause(struct pgcluster *pg);
int pgcluster_resume(struct pgcluster *pg);

/* A libpq URI for database db of the cluster (superuser "allot", no password). */
void pgcluster_uri(const struct pgcluster *pg, const char *db, char *buf, size_t len);

#endif
