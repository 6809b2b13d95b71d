/* A workload's environment, built by the parent before fork (the child only execs it). */
#include "agent/workenv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/runner.h"
#include "common/error.h"

bool workenv_entry_valid(const char *s)
{
    if (!s || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (s++; *s != '='; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

/* Index of the entry of env[0..n) with the same KEY as entry, or n. */
static size_t env_find(char **env, size_t n, const char *entry)
{
    size_t key = (size_t)(strchr(entry, '=') - entry);
    for (size_t i = 0; i < n; i++)
        if (strncmp(env[i], entry, key + 1) == 0)
            return i;
    return n;
}

/* Put entry in env (replacing the entry with its KEY). */
static void env_put(char **env, size_t *n, char *entry)
{
    size_t i = env_find(env, *n, entry);
    env[i] = entry;
    if (i == *n)
        (*n)++;
}

/* The variables the runner makes for a workload: its directory as HOME, its own temporary
 * directory as TMPDIR (and TMP and TEMP, which some programs read instead), the deadline
 * file and the checkpoint file. The first WORKENV_N_DEFAULTS are defaults that the caller's entries
 * may replace; the others come after them, which cannot override them. */
static const struct {
    const char *name; /* "NAME=" */
    const char *leaf; /* appended to the workload's directory */
} workenv_own[] = {
    {"HOME=", ""},
    {"TMPDIR=", "/" RUNNER_TMP_DIR},
    {"TMP=", "/" RUNNER_TMP_DIR},
    {"TEMP=", "/" RUNNER_TMP_DIR},
    {"ALLOT_PREEMPT_DEADLINE_FILE=", "/" RUNNER_DEADLINE_FILE},
    {"ALLOT_CHECKPOINT_FILE=", "/" RUNNER_CHECKPOINT_FILE},
};
_Static_assert(sizeof(workenv_own) / sizeof(workenv_own[0]) == WORKENV_N_OWN, "WORKENV_N_OWN");
#define WORKENV_N_DEFAULTS 4

/* name, workdir and leaf joined into a new string (free it); NULL when out of memory. */
static char *own_entry(const char *name, const char *workdir, const char *leaf)
{
    size_t len = strlen(name) + strlen(workdir) + strlen(leaf) + 1;
    char *s = malloc(len);
    if (s)
        snprintf(s, len, "%s%s%s", name, workdir, leaf);
    return s;
}

int workenv_build(struct workenv *w, const char *path_env, const char *lang_env,
                  const char *workdir, const char *const *entries)
{
    memset(w, 0, sizeof(*w));
    size_t n = 0, cap = 3 + WORKENV_N_OWN;
    for (size_t i = 0; entries && entries[i]; i++)
        cap++;
    char **env = calloc(cap, sizeof(*env));
    w->envp = env;
    bool made = env != NULL;
    for (size_t i = 0; i < WORKENV_N_OWN; i++)
        made = (w->owned[i] = own_entry(workenv_own[i].name, workdir, workenv_own[i].leaf)) && made;
    if (!made) {
        workenv_cleanup(w);
        return -ALLOT_ENOMEM;
    }
    env_put(env, &n, (char *)path_env);
    env_put(env, &n, (char *)lang_env);
    for (size_t i = 0; i < WORKENV_N_DEFAULTS; i++)
        env_put(env, &n, w->owned[i]);
    for (size_t i = 0; entries && entries[i]; i++)
        env_put(env, &n, (char *)entries[i]);
    for (size_t i = WORKENV_N_DEFAULTS; i < WORKENV_N_OWN; i++)
        env_put(env, &n, w->owned[i]);
    env[n] = NULL;
    return 0;
}

void workenv_cleanup(struct workenv *w)
{
    free(w->envp);
    w->envp = NULL;
    for (size_t i = 0; i < WORKENV_N_OWN; i++) {
        free(w->owned[i]);
        w->owned[i] = NULL;
    }
}
