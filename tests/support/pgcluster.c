/* A private PostgreSQL server for the unit tests (pgcluster.h): initdb and pg_ctl run as
 * an unprivileged user when the tests run as root, and a watchdog that cleans up if the test
 * process dies before pgcluster_stop. */
#include "pgcluster.h"
#include "support.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define PGCLUSTER_USER "nobody" /* who runs the server when the tests run as root */
#define PGCLUSTER_ARGS_MAX 16

/* Runs bin/prog with args (NULL-terminated) as the cluster's user, output to dir/setup.log.
 * RET its exit status, or -1. */
static int pgcluster_run(const struct pgcluster *pg, const char *prog, const char *const *args)
{
    char path[512], log[300];
    const char *argv[PGCLUSTER_ARGS_MAX + 5];
    int n = 0;
    snprintf(path, sizeof(path), "%s/%s", pg->bin, prog);
    if (geteuid() == 0) {
        argv[n++] = "runuser";
        argv[n++] = "-u";
        argv[n++] = PGCLUSTER_USER;
        argv[n++] = "--";
    }
    argv[n++] = path;
    for (int i = 0; args[i] && i < PGCLUSTER_ARGS_MAX; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    snprintf(log, sizeof(log), "%s/setup.log", pg->dir);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        setsid(); /* the server leaves the test's process group and terminal alone */
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Prints the setup log on stderr, for a failure's reason. */
static void pgcluster_show_log(const struct pgcluster *pg, const char *name)
{
    char path[300], line[512];
    snprintf(path, sizeof(path), "%s/%s", pg->dir, name);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return;
    while (fgets(line, sizeof(line), fp))
        fprintf(stderr, "  %s: %s", name, line);
    fclose(fp);
}

static int pgcluster_ctl(const struct pgcluster *pg, const char *action)
{
    char data[300], log[300];
    snprintf(data, sizeof(data), "%s/data", pg->dir);
    snprintf(log, sizeof(log), "%s/server.log", pg->dir);
    if (strcmp(action, "stop") == 0) {
        const char *args[] = {"stop", "-D", data, "-m", "fast", "-w", NULL};
        return pgcluster_run(pg, "pg_ctl", args);
    }
    if (strcmp(action, "start") == 0) {
        const char *args[] = {"start", "-D", data, "-w", "-l", log, NULL};
        return pgcluster_run(pg, "pg_ctl", args);
    }
    const char *args[] = {action, "-D", data, "-m", "fast", "-w", "-l", log, NULL};
    return pgcluster_run(pg, "pg_ctl", args);
}

/* Kills the postmaster named in data/postmaster.pid, if it still runs. */
static void pgcluster_kill(const struct pgcluster *pg)
{
    char path[300];
    long pid = 0;
    snprintf(path, sizeof(path), "%s/data/postmaster.pid", pg->dir);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return;
    if (fscanf(fp, "%ld", &pid) == 1 && pid > 1) {
        kill((pid_t)pid, SIGKILL);
        for (int i = 0; i < 200 && !support_dead((int)pid); i++)
            support_sleep_ms(10);
    }
    fclose(fp);
}

/* Stops the server and removes the directory: pgcluster_stop's work, also the watchdog's. */
static void pgcluster_clean(struct pgcluster *pg)
{
    if (!pg->dir[0])
        return;
    struct stat sb;
    char pidfile[300];
    snprintf(pidfile, sizeof(pidfile), "%s/data/postmaster.pid", pg->dir);
    if (stat(pidfile, &sb) == 0 && pgcluster_ctl(pg, "stop") != 0)
        pgcluster_kill(pg);
    support_remove_tree(pg->dir);
    pg->dir[0] = '\0';
}

/* Forks the watchdog: it waits for the end of the pipe's write side, which only this process
 * holds, then cleans up if pgcluster_stop has not (the directory still exists). */
static void pgcluster_watch(struct pgcluster *pg)
{
    int fds[2];
    if (pipe(fds) != 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[1]);
        setsid();
        char c;
        while (read(fds[0], &c, 1) < 0 && errno == EINTR)
            ;
        pgcluster_clean(pg);
        _exit(0);
    }
    close(fds[0]);
    if (pid < 0) {
        close(fds[1]);
        return;
    }
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    pg->watchdog = (int)pid;
    pg->watch_fd = fds[1];
}

int pgcluster_start(struct pgcluster *pg)
{
    memset(pg, 0, sizeof(*pg));
    pg->watch_fd = -1;
    const char *bin = getenv("ALLOT_PG_BIN");
    snprintf(pg->bin, sizeof(pg->bin), "%s", bin && *bin ? bin : PGCLUSTER_BIN);
    char path[512];
    snprintf(path, sizeof(path), "%s/initdb", pg->bin);
    if (access(path, X_OK) != 0) {
        fprintf(stderr,
                "SKIPPED, NOT PASSED: PostgreSQL is not installed (%s not found);"
                " scripts/install-deps installs postgresql-15\n",
                path);
        return PGCLUSTER_SKIP;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(pg->dir, sizeof(pg->dir), "%s/allot-pg-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(pg->dir)) {
        fprintf(stderr, "pgcluster: mkdtemp: %s\n", strerror(errno));
        pg->dir[0] = '\0';
        return -1;
    }
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam(PGCLUSTER_USER);
        if (!pw || chown(pg->dir, pw->pw_uid, pw->pw_gid) != 0) {
            fprintf(stderr, "pgcluster: cannot give %s to user %s\n", pg->dir, PGCLUSTER_USER);
            pgcluster_clean(pg);
            return -1;
        }
    }
    pg->port = 20000 + (int)(getpid() % 20000);
    pgcluster_watch(pg);
    char data[300], conf[340];
    snprintf(data, sizeof(data), "%s/data", pg->dir);
    const char *initdb[] = {"-D", data,   "-U",         "allot", "--auth=trust",
                            "-E", "UTF8", "--locale=C", NULL};
    if (pgcluster_run(pg, "initdb", initdb) != 0) {
        fprintf(stderr, "pgcluster: initdb failed\n");
        pgcluster_show_log(pg, "setup.log");
        pgcluster_stop(pg);
        return -1;
    }
    snprintf(conf, sizeof(conf), "%s/postgresql.conf", data);
    FILE *fp = fopen(conf, "a");
    if (fp) {
        fprintf(fp,
                "\n# pgcluster.c: a private test server\nlisten_addresses = ''\n"
                "unix_socket_directories = '%s'\nport = %d\nfsync = on\n"
                "synchronous_commit = on\nmax_connections = 40\nshared_buffers = 16MB\n",
                pg->dir, pg->port);
        fclose(fp);
    }
    if (!fp || pgcluster_ctl(pg, "start") != 0) {
        fprintf(stderr, "pgcluster: the server did not start\n");
        pgcluster_show_log(pg, "setup.log");
        pgcluster_show_log(pg, "server.log");
        pgcluster_stop(pg);
        return -1;
    }
    return 0;
}

void pgcluster_stop(struct pgcluster *pg)
{
    pgcluster_clean(pg);
    if (pg->watch_fd >= 0) {
        close(pg->watch_fd); /* the watchdog wakes, finds nothing to do and ends */
        pg->watch_fd = -1;
    }
    if (pg->watchdog > 0) {
        waitpid(pg->watchdog, NULL, 0);
        pg->watchdog = 0;
    }
}

int pgcluster_restart(struct pgcluster *pg)
{
    return pgcluster_ctl(pg, "restart") == 0 ? 0 : -1;
}

int pgcluster_pause(struct pgcluster *pg)
{
    return pgcluster_ctl(pg, "stop") == 0 ? 0 : -1;
}

int pgcluster_resume(struct pgcluster *pg)
{
    return pgcluster_ctl(pg, "start") == 0 ? 0 : -1;
}

void pgcluster_uri(const struct pgcluster *pg, const char *db, char *buf, size_t len)
{
    snprintf(buf, len, "postgresql:///%s?host=%s&port=%d&user=allot", db, pg->dir, pg->port);
}
