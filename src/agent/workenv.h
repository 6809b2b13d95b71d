/* A workload's environment: the clean one every workload starts from (PATH, LANG), the
 * runner's own variables (HOME, TMPDIR, the deadline file) and the caller's entries, in the
 * order that decides which wins (docs/agent-running.md, "Environment"). */
#ifndef ALLOT_AGENT_WORKENV_H
#define ALLOT_AGENT_WORKENV_H

#include <stdbool.h>

/* Variables the runner makes for every workload (HOME, TMPDIR, TMP, TEMP and
 * ALLOT_PREEMPT_DEADLINE_FILE). */
#define WORKENV_N_OWN 6

/* A built environment. Caller-owned: workenv_build, workenv_cleanup. */
struct workenv {
    char **envp;                /* NULL-terminated, for execve */
    char *owned[WORKENV_N_OWN]; /* the runner's own entries, made by workenv_build */
};

/* Whether s is "KEY=value" with KEY an environment name ([A-Za-z_][A-Za-z0-9_]*). */
bool workenv_entry_valid(const char *s);

/* The environment of a workload whose directory is workdir: path_env and lang_env ("PATH=...",
 * "LANG=..."), its HOME and temporary directories (defaults that entries may replace), then
 * entries (NULL-terminated "KEY=value", may be NULL; a later one replaces an earlier one),
 * then ALLOT_PREEMPT_DEADLINE_FILE, which entries cannot override. The strings of path_env,
 * lang_env and entries are borrowed: they must outlive w. OUT *w (workenv_cleanup, also
 * after an error). RET 0 or -ALLOT_ENOMEM. */
int workenv_build(struct workenv *w, const char *path_env, const char *lang_env,
                  const char *workdir, const char *const *entries);
/* Free what workenv_build made. Accepts a zeroed w. */
void workenv_cleanup(struct workenv *w);

#endif
