/* The reader of a workload submission: the engine's request plus what only the daemon uses
 * (image, working directory, command, environment, virtual duration, idempotency key). */
#ifndef ALLOT_SCHEMA_WORKLOAD_H
#define ALLOT_SCHEMA_WORKLOAD_H

#include <stdint.h>

#include <jansson.h>

#include "common/arena.h"
#include "schema/reader.h"
#include "sched/sched.h"

/* One environment variable of a workload. */
struct workload_env {
    const char *name;
    const char *value;
};

/* A workload submission: the engine's request plus what only the daemon uses. */
struct workload_spec {
    struct sched_workload_spec w; /* w.has_image: image is given */
    const char *image;            /* "name[:tag]" as given (common/imageref.h); NULL: none */
    const char *workdir;        /* absolute path inside the image, only with one; NULL: not given */
    const char *const *command; /* n_command arguments; NULL when not given */
    uint32_t n_command;
    const struct workload_env *env; /* n_env variables, in the order given */
    uint32_t n_env;
    int64_t duration_ms;         /* virtual run time on simulated nodes; -1: until stopped */
    const char *idempotency_key; /* NULL when not given */
};

/* Whether s (n bytes) is an environment variable's name: [A-Za-z_][A-Za-z0-9_]*, 1 to
 * SCHEMA_MAX_ENV_NAME bytes (the rule of a workload's `env`, also the CLI's --env). */
bool workload_env_name_ok(const char *s, size_t n);

/* The fields every submission has (name, workspace, kind, priority, gpus | mig, model,
 * replicas, cpu, memory, storage, preemptible, grace, duration, image, topology) of the object j at
 * r's path; the keys in extra (NULL-terminated, or NULL) are accepted and left to the caller. OUT
 * *out with workdir, command, env and idempotency_key left empty. image is read here because
 * the engine's policy needs to know whether there is one (require_image); a scenario's
 * submit has it too. RET 0 or a negative error (r->err). */
int workload_read(struct reader *r, const json_t *j, const char *const *extra,
                  struct workload_spec *out);
/* {name, workspace: "tenant/workspace", kind?, priority?, gpus? | mig?, model?, replicas?, cpu?,
 *  memory?, storage?, preemptible?, grace?, image?: "name[:tag]", workdir?: "/path",
 *  command?: [string], env?: {name: value}, duration?, idempotency_key?,
 *  topology?: {required: level} | {preferred: level}}. gpus is whole GPUs
 * per replica (a fraction is refused with a pointer to mig). workdir is an absolute path of
 * at most SCHEMA_MAX_WORKDIR bytes without control characters or a ".." component, and only
 * with an image. command stays optional with an image (the image's own entrypoint runs). */
int workload_from_json(const json_t *j, struct arena *a, struct workload_spec *out,
                       struct schema_error *err);

#endif
