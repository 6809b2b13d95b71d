/* The reader of a workload submission (workload.h): the engine's request plus the image,
 * working directory, command, environment, virtual duration and idempotency key only the
 * daemon uses. */
#include "schema/workload.h"

#include <string.h>

#include "common/error.h"
#include "common/imageref.h"
#include "common/quantity.h"
#include "sched/mig.h"

/* The fields of a workload wherever it is submitted from; an API body adds api_keys, a
 * scenario's submit its own (drain, count). */
static const char *const workload_keys[] = {
    "name",  "workspace", "kind",  "priority",   "gpus",     "mig",
    "model", "replicas",  "cpu",   "memory",     "storage",  "preemptible",
    "grace", "duration",  "image", "time_limit", "topology", NULL};
static const char *const api_keys[] = {"workdir", "command", "env", "idempotency_key", NULL};
/* null as none given: a workload's view (time_limit null: none) reads back as a request */
static const char *const workload_nullable[] = {"time_limit", NULL};

/* Read `gpus`: whole GPUs per replica. A fraction is refused with a pointer to mig, since the
 * engine shares a GPU only through MIG instances. */
static int read_whole_gpus(struct reader *r, const json_t *j, uint32_t *gpus)
{
    const json_t *v = NULL;
    size_t mark;
    int64_t units = 0;
    int rc = reader_enter(r, j, "gpus", false, &v, &mark);
    if (rc == 0 && v)
        rc = reader_quantity(r, v, READER_GPU, &units);
    if (rc == 0 && v && units % QUANTITY_GPU_UNITS != 0) {
        char amount[48];
        rc = reader_fail(
            r, -ALLOT_EINVAL,
            "%s is not a whole number of GPUs; a fraction of a GPU is asked for with mig "
            "and a MIG profile (such as 3g.40gb)",
            quantity_format_gpu(units, amount, sizeof(amount)));
    }
    if (rc == 0 && v && units / QUANTITY_GPU_UNITS > SCHEMA_MAX_GPUS)
        rc = reader_fail(r, -ALLOT_ERANGE, "at most %d GPUs per replica", SCHEMA_MAX_GPUS);
    reader_pop(r, mark);
    if (rc == 0 && v)
        *gpus = (uint32_t)(units / QUANTITY_GPU_UNITS);
    return rc;
}

/* Read `mig`: one MIG profile per replica, by name; excludes gpus. */
static int read_mig(struct reader *r, const json_t *j, int *mig)
{
    const json_t *v = NULL;
    const char *s = NULL;
    size_t n = 0, mark;
    int rc = reader_enter(r, j, "mig", false, &v, &mark);
    if (rc == 0 && v)
        rc = reader_text(r, v, SCHEMA_MAX_STRING, &s, &n);
    if (rc == 0 && v) {
        char q[READER_QUOTE + 4];
        int id = mig_name_id(s); /* s is NUL-terminated and has no NUL inside (read_text) */
        if (reader_get(j, "gpus"))
            rc = reader_fail(r, -ALLOT_EINVAL,
                             "gpus and mig exclude each other: a replica has whole "
                             "GPUs or one MIG instance");
        else if (id < 0)
            rc = reader_fail(r, -ALLOT_EINVAL, "unknown MIG profile '%s'", reader_quote(s, n, q));
        else
            *mig = id;
    }
    reader_pop(r, mark);
    return rc;
}

/* Read `topology`: {required: level} or {preferred: level}, the level a gang's replicas must
 * or should share a domain of (docs/policy.md, "Topology"). The level is any label key here;
 * whether the platform declares it is the engine's to say (the daemon refuses it as
 * topology.required or topology.preferred before anything is created). */
static int read_topology(struct reader *r, const json_t *j, struct sched_workload_spec *w)
{
    static const char *const topology_keys[] = {"required", "preferred", NULL};
    const json_t *v = NULL;
    size_t mark;
    int rc = reader_enter(r, j, "topology", false, &v, &mark);
    if (rc == 0 && v)
        rc = reader_object(r, v, topology_keys, NULL);
    if (rc == 0 && v) {
        const json_t *required = reader_get(v, "required"), *preferred = reader_get(v, "preferred");
        const char *key = required ? "required" : "preferred";
        size_t inner = reader_push_key(r, key, strlen(key));
        if (required && preferred)
            rc = reader_fail(r, -ALLOT_EINVAL,
                             "required and preferred exclude each other: a gang requires one "
                             "level or prefers one");
        else if (!required && !preferred)
            rc = reader_fail(r, -ALLOT_EINVAL, "give required or preferred: a topology level");
        else
            rc = reader_string(r, required ? required : preferred, SCHEMA_MAX_LABEL, &w->topology);
        reader_pop(r, inner);
        w->topology_required = required != NULL;
    }
    reader_pop(r, mark);
    return rc;
}

/* Read `image`: an OCI image reference by the one rule of common/imageref.h. OUT *out, the
 * reference as given, in the arena (left alone when absent). */
static int read_image(struct reader *r, const json_t *j, const char **out)
{
    const json_t *v = NULL;
    const char *s = NULL;
    size_t n = 0, mark;
    int rc = reader_enter(r, j, "image", false, &v, &mark);
    if (rc == 0 && v)
        rc = reader_text(r, v, SCHEMA_MAX_STRING, &s, &n);
    if (rc == 0 && v) {
        struct imageref ref;
        char why[160];
        rc = imageref_parse(s, n, &ref, why, sizeof(why));
        rc = rc ? reader_fail(r, rc, "%s", why) : reader_keep(r, s, n, out);
    }
    reader_pop(r, mark);
    return rc;
}

/* Read `workdir`: the absolute path the workload starts in inside its image, without control
 * characters or a ".." component (the node agent resolves it inside the image's root), and
 * only with an image. */
static int read_workdir(struct reader *r, const json_t *j, struct workload_spec *out)
{
    const json_t *v = NULL;
    const char *s = NULL;
    size_t n = 0, mark;
    int rc = reader_enter(r, j, "workdir", false, &v, &mark);
    if (rc == 0 && v)
        rc = reader_text(r, v, SCHEMA_MAX_WORKDIR, &s, &n);
    if (rc == 0 && v) {
        bool control = false, dotdot = false;
        for (size_t i = 0; i < n; i++)
            control = control || (unsigned char)s[i] < ' ' || s[i] == 0x7f;
        for (size_t at = 0; at < n;) { /* each component: the bytes between two '/' */
            const char *slash = memchr(s + at, '/', n - at);
            size_t k = slash ? (size_t)(slash - (s + at)) : n - at;
            dotdot = dotdot || (k == 2 && s[at] == '.' && s[at + 1] == '.');
            at += k + 1;
        }
        if (!out->image)
            rc = reader_fail(r, -ALLOT_EINVAL,
                             "a working directory is one inside an image; give image too");
        else if (n == 0 || s[0] != '/')
            rc = reader_fail(r, -ALLOT_EINVAL, "expected an absolute path (starting with '/')");
        else if (control)
            rc = reader_fail(r, -ALLOT_EINVAL, "a working directory has no control characters");
        else if (dotdot)
            rc = reader_fail(r, -ALLOT_EINVAL,
                             "a working directory has no '..' component: it stays inside the "
                             "image");
        else
            rc = reader_keep(r, s, n, &out->workdir);
    }
    reader_pop(r, mark);
    return rc;
}

/* Read `command`: 1 to SCHEMA_MAX_COMMAND strings, the first not empty. */
static int read_command(struct reader *r, const json_t *j, struct workload_spec *out)
{
    const json_t *v = NULL;
    size_t mark;
    int rc = reader_enter(r, j, "command", false, &v, &mark);
    if (rc == 0 && v) {
        size_t n = json_is_array(v) ? json_array_size(v) : 0;
        const char **args = NULL;
        if (!json_is_array(v))
            rc = reader_fail(r, -ALLOT_EINVAL, "expected an array of strings, found %s",
                             reader_type_name(r, v));
        else if (n < 1 || n > SCHEMA_MAX_COMMAND)
            rc = reader_fail(r, -ALLOT_ERANGE, "%zu arguments; a command has 1 to %d", n,
                             SCHEMA_MAX_COMMAND);
        else if (!(args = arena_alloc(r->arena, n * sizeof(*args))))
            rc = reader_fail(r, -ALLOT_ENOMEM, "out of memory");
        for (size_t i = 0; rc == 0 && i < n; i++) {
            size_t item = reader_push_index(r, i);
            rc = reader_string(r, json_array_get(v, i), SCHEMA_MAX_ARG, &args[i]);
            if (rc == 0 && i == 0 && !*args[0])
                rc = reader_fail(r, -ALLOT_EINVAL, "the program to run is an empty string");
            reader_pop(r, item);
        }
        if (rc == 0) {
            out->command = args;
            out->n_command = (uint32_t)n;
        }
    }
    reader_pop(r, mark);
    return rc;
}

bool workload_env_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > SCHEMA_MAX_ENV_NAME || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

/* Read `env`: an object of at most SCHEMA_MAX_ENV names to string values. */
static int read_env(struct reader *r, const json_t *j, struct workload_spec *out)
{
    const json_t *v = NULL;
    size_t mark;
    int rc = reader_enter(r, j, "env", false, &v, &mark);
    if (rc == 0 && v) {
        size_t n = json_is_object(v) ? json_object_size(v) : 0, i = 0;
        struct workload_env *env = NULL;
        if (!json_is_object(v))
            rc = reader_fail(r, -ALLOT_EINVAL, "expected an object of strings, found %s",
                             reader_type_name(r, v));
        else if (n > SCHEMA_MAX_ENV)
            rc = reader_fail(r, -ALLOT_ERANGE, "%zu variables; at most %d are allowed", n,
                             SCHEMA_MAX_ENV);
        else if (n > 0 && !(env = arena_alloc(r->arena, n * sizeof(*env))))
            rc = reader_fail(r, -ALLOT_ENOMEM, "out of memory");
        for (void *it = rc ? NULL : json_object_iter((json_t *)v); rc == 0 && it;
             it = json_object_iter_next((json_t *)v, it), i++) {
            const char *key = json_object_iter_key(it);
            size_t len = json_object_iter_key_len(it), item = reader_push_key(r, key, len);
            if (!workload_env_name_ok(key, len))
                rc = reader_fail(r, -ALLOT_EINVAL,
                                 "not a variable name (1 to %d of A-Z, a-z, 0-9, '_', not starting "
                                 "with a digit)",
                                 SCHEMA_MAX_ENV_NAME);
            if (rc == 0)
                rc = reader_keep(r, key, len, &env[i].name);
            if (rc == 0)
                rc = reader_string(r, json_object_iter_value(it), SCHEMA_MAX_ENV_VALUE,
                                   &env[i].value);
            reader_pop(r, item);
        }
        if (rc == 0) {
            out->env = env;
            out->n_env = (uint32_t)n;
        }
    }
    reader_pop(r, mark);
    return rc;
}

/* Read `idempotency_key`: 1 to SCHEMA_MAX_IDEMPOTENCY printable ASCII characters. */
static int read_idempotency_key(struct reader *r, const json_t *j, const char **out)
{
    const json_t *v = NULL;
    const char *s = NULL;
    size_t n = 0, mark;
    int rc = reader_enter(r, j, "idempotency_key", false, &v, &mark);
    if (rc == 0 && v)
        rc = reader_text(r, v, SCHEMA_MAX_IDEMPOTENCY, &s, &n);
    if (rc == 0 && v) {
        bool printable = n > 0;
        for (size_t i = 0; i < n && printable; i++)
            printable = s[i] > ' ' && s[i] < 0x7f;
        rc = printable ? reader_keep(r, s, n, out)
                       : reader_fail(r, -ALLOT_EINVAL,
                                     "an idempotency key has 1 to %d printable ASCII "
                                     "characters without spaces",
                                     SCHEMA_MAX_IDEMPOTENCY);
    }
    reader_pop(r, mark);
    return rc;
}

int workload_read(struct reader *r, const json_t *j, const char *const *extra,
                  struct workload_spec *out)
{
    const char *kind_names[SCHED_KIND_COUNT];
    const char *model_names[GPU_MODEL_COUNT];
    struct workload_spec spec = {
        .w = {.kind = SCHED_KIND_TRAINING,
              .mig = -1,
              .model = -1,
              .replicas = 1,
              .preemptible = -1,
              .grace_ms = -1},
        .duration_ms = -1,
    };
    int kind = SCHED_KIND_TRAINING, model = -1;
    int64_t priority = 0, replicas = 1;
    bool preemptible = false;

    for (int k = 0; k < SCHED_KIND_COUNT; k++)
        kind_names[k] = sched_kind_name((enum sched_kind)k);
    for (int m = 0; m < GPU_MODEL_COUNT; m++)
        model_names[m] = mig_model((enum gpu_model)m)->name;
    int rc = reader_object_with(r, j, workload_keys, extra, workload_nullable);
    if (rc == 0)
        rc = reader_key_name(r, j, "name", true, &spec.w.name);
    if (rc == 0) {
        const json_t *v = NULL;
        size_t mark;
        rc = reader_enter(r, j, "workspace", true, &v, &mark);
        if (rc == 0)
            rc = reader_workspace_name(r, v, NULL, &spec.w.workspace);
        reader_pop(r, mark);
    }
    if (rc == 0)
        rc = reader_key_enum(r, j, "kind", false, kind_names, SCHED_KIND_COUNT, &kind);
    if (rc == 0)
        rc = reader_key_int(r, j, "priority", -SCHEMA_MAX_PRIORITY, SCHEMA_MAX_PRIORITY, &priority);
    if (rc == 0)
        rc = read_whole_gpus(r, j, &spec.w.gpus);
    if (rc == 0)
        rc = read_mig(r, j, &spec.w.mig);
    if (rc == 0)
        rc = reader_key_enum(r, j, "model", false, model_names, GPU_MODEL_COUNT, &model);
    if (rc == 0)
        rc = reader_key_int(r, j, "replicas", 1, SCHED_MAX_REPLICAS, &replicas);
    if (rc == 0)
        rc = reader_key_quantity(r, j, "cpu", false, READER_CPU, &spec.w.cpu);
    if (rc == 0)
        rc = reader_key_quantity(r, j, "memory", false, READER_BYTES, &spec.w.memory);
    if (rc == 0)
        rc = reader_key_quantity(r, j, "storage", false, READER_BYTES, &spec.w.storage);
    if (rc == 0)
        rc = reader_key_bool(r, j, "preemptible", &preemptible);
    if (rc == 0)
        rc = reader_key_quantity(r, j, "grace", false, READER_DURATION, &spec.w.grace_ms);
    if (rc == 0)
        rc = reader_key_quantity(r, j, "duration", false, READER_DURATION, &spec.duration_ms);
    if (rc == 0)
        rc = read_image(r, j, &spec.image);
    if (rc == 0)
        rc = reader_key_time_limit(r, j, "time_limit", &spec.w.time_limit_ms);
    if (rc == 0)
        rc = read_topology(r, j, &spec.w);
    if (rc)
        return rc;
    spec.w.has_image = spec.image != NULL;
    spec.w.kind = (enum sched_kind)kind;
    spec.w.has_priority = reader_get(j, "priority") != NULL;
    spec.w.priority = (int32_t)priority;
    spec.w.model = model;
    spec.w.replicas = (uint32_t)replicas;
    if (reader_get(j, "preemptible"))
        spec.w.preemptible = preemptible;
    *out = spec;
    return 0;
}

int workload_from_json(const json_t *j, struct arena *a, struct workload_spec *out,
                       struct schema_error *err)
{
    struct workload_spec spec;
    struct reader r;
    reader_init(&r, a, err);
    int rc = workload_read(&r, j, api_keys, &spec);
    if (rc == 0)
        rc = read_workdir(&r, j, &spec);
    if (rc == 0)
        rc = read_command(&r, j, &spec);
    if (rc == 0)
        rc = read_env(&r, j, &spec);
    if (rc == 0)
        rc = read_idempotency_key(&r, j, &spec.idempotency_key);
    if (rc == 0)
        *out = spec;
    return rc;
}
