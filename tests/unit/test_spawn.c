/* Unit tests of agent/spawn: the child of the runner's start, both ways it is started (a
 * workload alone, sharing the agent's memory until its exec; a keeper, forked). The program is
 * looked for in the workload's PATH, never the agent's; a script without "#!" runs under
 * /bin/sh; a failed step reaches the failure pipe with the shell's exit codes; and what the
 * child does (its environment, its user) never reaches the agent: its environ, its memory and
 * its threads' uids stay as they were. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/spawn.h"
#include "support.h"

#define STACK_SIZE (256 * 1024)

struct fixture {
    char dir[64];
    void *stack;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/allot-spawn-XXXXXX");
    if (!f || !mkdtemp(f->dir))
        return -1;
    f->stack = malloc(STACK_SIZE);
    *state = f;
    return f->stack ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    support_remove_tree(f->dir);
    free(f->stack);
    free(f);
    return 0;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    assert_int_equal(chmod(path, mode), 0);
}

/* The text of dir/name, or "" (at most 511 bytes). */
static const char *read_back(const struct fixture *f, const char *name)
{
    static char text[512];
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    text[0] = '\0';
    FILE *fp = fopen(path, "r");
    if (fp) {
        size_t n = fread(text, 1, sizeof(text) - 1, fp);
        text[n] = '\0';
        fclose(fp);
    }
    return text;
}

/* What a start gave: the child's exit status and what it wrote to the failure pipe. */
struct outcome {
    int status;
    bool failed;
    struct spawn_failure failure;
};

/* Run argv with envp (its PATH searched) in f->dir, as the workload alone (keeper false) or
 * under a keeper; stdout goes to dir/out. uid > 0: switch to it. */
static struct outcome run(struct fixture *f, const char *const *argv, char **envp, bool keeper,
                          uid_t uid)
{
    struct outcome o = {0};
    char out[128];
    snprintf(out, sizeof(out), "%s/out", f->dir);
    int pipefd[2];
    assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
    struct spawn_plan plan = {
        .argv = (char *const *)argv,
        .envp = envp,
        .dir_fd = spawn_fd_high(open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)),
        .out_fd = spawn_fd_high(open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)),
        .err_fd = spawn_fd_high(open("/dev/null", O_WRONLY | O_CLOEXEC)),
        .null_fd = spawn_fd_high(open("/dev/null", O_RDONLY | O_CLOEXEC)),
        .fail_fd = spawn_fd_high(pipefd[1]),
        .switch_user = uid > 0,
        .uid = uid,
        .gid = uid,
        .keeper = keeper,
    };
    for (size_t i = 0; envp[i]; i++)
        if (strncmp(envp[i], "PATH=", 5) == 0)
            plan.path = envp[i] + 5;
    pid_t pid = spawn_start(&plan, f->stack, STACK_SIZE);
    assert_true(pid > 0);
    close(plan.fail_fd);
    assert_int_equal(waitpid(pid, &o.status, 0), pid);
    o.failed = read(pipefd[0], &o.failure, sizeof(o.failure)) == (ssize_t)sizeof(o.failure);
    close(pipefd[0]);
    close(plan.dir_fd);
    close(plan.out_fd);
    close(plan.err_fd);
    close(plan.null_fd);
    return o;
}

static void test_path_is_the_workloads(void **state)
{
    struct fixture *f = *state;
    char bin[96], locked[96], path_env[256];
    snprintf(bin, sizeof(bin), "%s/bin", f->dir);
    snprintf(locked, sizeof(locked), "%s/locked", f->dir);
    assert_int_equal(mkdir(bin, 0755), 0);
    assert_int_equal(mkdir(locked, 0755), 0);
    char prog[128];
    /* found where it is executable, past a directory where it is not (EACCES) and one where it
     * is missing */
    snprintf(prog, sizeof(prog), "%s/allot-probe", locked);
    write_file(prog, "#!/bin/sh\necho locked\n", 0644);
    snprintf(prog, sizeof(prog), "%s/allot-probe", bin);
    write_file(prog, "#!/bin/sh\necho \"found $1\"\n", 0755);
    snprintf(path_env, sizeof(path_env), "PATH=/nonexistent:%s:%s", locked, bin);
    char *envp[] = {path_env, NULL};
    const char *const argv[] = {"allot-probe", "x", NULL};
    for (int keeper = 0; keeper <= 1; keeper++) {
        char *agent_environ_before = (char *)environ;
        struct outcome o = run(f, argv, envp, keeper, 0);
        assert_false(o.failed);
        assert_true(WIFEXITED(o.status));
        assert_int_equal(WEXITSTATUS(o.status), 0);
        assert_string_equal(read_back(f, "out"), "found x\n");
        /* the agent's environment is its own still: the child's was never put in its place */
        assert_ptr_equal((char *)environ, agent_environ_before);
        assert_null(getenv("ALLOT_NEVER_SET"));
    }
    /* not executable anywhere: 126, EACCES */
    chmod(prog, 0644);
    struct outcome o = run(f, argv, envp, false, 0);
    assert_true(o.failed);
    assert_int_equal(o.failure.stage, SPAWN_STAGE_EXEC);
    assert_int_equal(o.failure.err, EACCES);
    assert_int_equal(WEXITSTATUS(o.status), 126);
    /* nowhere at all: 127, ENOENT; the agent's own PATH (which has sh) is not searched */
    const char *const sh[] = {"sh", "-c", "true", NULL};
    o = run(f, sh, envp, false, 0);
    assert_true(o.failed);
    assert_int_equal(o.failure.err, ENOENT);
    assert_int_equal(WEXITSTATUS(o.status), 127);
    /* an empty entry is the working directory */
    char here[] = "PATH=/nonexistent:";
    char *in_cwd[] = {here, NULL};
    char local[128];
    snprintf(local, sizeof(local), "%s/allot-local", f->dir);
    write_file(local, "#!/bin/sh\necho cwd\n", 0755);
    const char *const cwd_argv[] = {"allot-local", NULL};
    o = run(f, cwd_argv, in_cwd, false, 0);
    assert_false(o.failed);
    assert_string_equal(read_back(f, "out"), "cwd\n");
}

static void test_script_without_interpreter_runs_under_sh(void **state)
{
    struct fixture *f = *state;
    char script[128];
    snprintf(script, sizeof(script), "%s/plain-script", f->dir);
    write_file(script, "echo \"sh ran $1 $2\"\nexit 3\n", 0755);
    char path_env[] = "PATH=/usr/bin:/bin";
    char *envp[] = {path_env, NULL};
    const char *const argv[] = {script, "a", "b", NULL};
    for (int keeper = 0; keeper <= 1; keeper++) {
        struct outcome o = run(f, argv, envp, keeper, 0);
        assert_false(o.failed);
        assert_true(WIFEXITED(o.status));
        assert_int_equal(WEXITSTATUS(o.status), 3);
        assert_string_equal(read_back(f, "out"), "sh ran a b\n");
    }
}

static void test_missing_program_by_path(void **state)
{
    struct fixture *f = *state;
    char path_env[] = "PATH=/usr/bin:/bin";
    char *envp[] = {path_env, NULL};
    const char *const argv[] = {"/nonexistent/allot-none", NULL};
    for (int keeper = 0; keeper <= 1; keeper++) {
        struct outcome o = run(f, argv, envp, keeper, 0);
        assert_true(o.failed);
        assert_int_equal(o.failure.stage, SPAWN_STAGE_EXEC);
        assert_int_equal(o.failure.err, ENOENT);
        assert_int_equal(WEXITSTATUS(o.status), 127);
    }
}

/* A thread of the "agent" that only waits: its uid must not follow the child's. */
static void *idle_thread(void *arg)
{
    pid_t *tid = arg;
    __atomic_store_n(tid, (pid_t)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
    pause();
    return NULL;
}

/* The uid field (real) of /proc/self/task/TID/status, or -1. */
static long thread_uid(pid_t tid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
    FILE *fp = fopen(path, "r");
    long uid = -1;
    while (fp && fgets(line, sizeof(line), fp))
        if (strncmp(line, "Uid:", 4) == 0)
            uid = strtol(line + 4, NULL, 10);
    if (fp)
        fclose(fp);
    return uid;
}

static void test_user_switch_is_the_childs_alone(void **state)
{
    struct fixture *f = *state;
    if (geteuid() != 0) {
        skip(); /* only root can switch users; counted as skipped, not passed */
    }
    pthread_t th;
    pid_t tid = 0;
    assert_int_equal(pthread_create(&th, NULL, idle_thread, &tid), 0);
    while (__atomic_load_n(&tid, __ATOMIC_SEQ_CST) == 0)
        support_sleep_ms(1);
    chmod(f->dir, 0777);
    char path_env[] = "PATH=/usr/bin:/bin";
    char *envp[] = {path_env, NULL};
    const char *const argv[] = {"id", "-u", NULL};
    for (int keeper = 0; keeper <= 1; keeper++) {
        struct outcome o = run(f, argv, envp, keeper, 65534);
        assert_false(o.failed);
        assert_int_equal(WEXITSTATUS(o.status), 0);
        assert_string_equal(read_back(f, "out"), "65534\n");
        /* the agent, all its threads, are root still */
        assert_int_equal(getuid(), 0);
        assert_int_equal(geteuid(), 0);
        assert_int_equal(thread_uid(tid), 0);
        assert_int_equal(thread_uid((pid_t)syscall(SYS_gettid)), 0);
    }
    pthread_cancel(th);
    pthread_join(th, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_path_is_the_workloads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_without_interpreter_runs_under_sh, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_missing_program_by_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_switch_is_the_childs_alone, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
