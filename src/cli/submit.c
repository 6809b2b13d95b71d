/* `allot submit`: the submission built from -f FILE and the flags (every flag checked before
 * the file is read or anything is sent), POSTed to /v1/workloads, and the admission decision
 * shown as one line (docs/cli.md). */
#include "cli/submit.h"

#include <stdio.h>
#include <string.h>

#include "cli/client.h"
#include "cli/document.h"
#include "cli/human.h"
#include "common/error.h"
#include "common/imageref.h"
#include "sched/mig.h"
#include "sched/sched.h"
#include "schema/reader.h"
#include "schema/workload.h"

#define SUBMIT_MAX_KEY 128   /* bytes of an idempotency key (the daemon's bound) */
#define SUBMIT_MAX_GPUS 1024 /* whole GPUs per replica (the daemon's bound) */
#define SUBMIT_MAX_REPLICAS 4096
#define SUBMIT_MAX_PRIORITY 1000000 /* priorities run from minus this to this */

const struct flag submit_flags[] = {
    {"workspace", 'w', "TENANT/WS",
     "the workspace to run in (else -f's, $ALLOT_WORKSPACE, the config's workspace)"},
    {"file", 'f', "FILE", "the workload as JSON or YAML (- for stdin); flags override it"},
    {"name", 0, "NAME", "its name in the workspace (default: the daemon names it w-N)"},
    {"gpus", 0, "N", "whole GPUs per replica, 0 to 1024"},
    {"mig", 0, "PROFILE", "one MIG instance per replica instead (1g.10gb, 3g.40gb, ...)"},
    {"replicas", 0, "N", "replicas, placed all together or not at all (1 to 4096; 1)"},
    {"topology-required", 0, "LEVEL", "its replicas all within one domain of this level (block)"},
    {"topology-preferred", 0, "LEVEL", "within one domain of this level when one has room (rack)"},
    {"kind", 0, "KIND", "training (the default), finetune, inference or experiment"},
    {"priority", 0, "P", "higher goes first, -1000000 to 1000000 (default: by kind)"},
    {"cpu", 0, "CPUS", "CPUs per replica (16, 500m)"},
    {"memory", 0, "BYTES", "memory per replica (128Gi)"},
    {"storage", 0, "BYTES", "storage per replica (1Ti)"},
    {"model", 0, "MODEL", "GPU model (H100-80GB, H200-141GB, A100-80GB, ...)"},
    {"preemptible", 0, "BOOL", "true or false (default: all but inference are)"},
    {"grace", 0, "DURATION", "time to stop once preempted or cancelled (30s)"},
    {"duration", 0, "DURATION", "run time on simulated nodes (default: until cancelled)"},
    {"time-limit", 0, "DURATION",
     "stopped (and failed) this long after it starts (2h; default: the workspace's)"},
    {"idempotency-key", 0, "KEY", "a retry with the same key returns the first submission"},
    {"image", 0, "NAME:TAG", "run the command in a container of this image (busybox:1.36)"},
    {"workdir", 0, "DIR", "the directory it starts in inside the image (absolute)"},
    {"env", 'e', "NAME=VALUE" FLAGS_REPEAT,
     "a variable of its environment (repeatable; over -f's)"},
    {NULL, 0, NULL, NULL},
};

/* Flags of submit that become fields of the body as the user typed them, after a check. */
static const struct {
    const char *flag, *field;
    enum flags_quantity kind;
} submit_quantities[] = {
    {"cpu", "cpu", FLAGS_Q_CPU},
    {"memory", "memory", FLAGS_Q_BYTES},
    {"storage", "storage", FLAGS_Q_BYTES},
    {"grace", "grace", FLAGS_Q_DURATION},
    {"duration", "duration", FLAGS_Q_DURATION},
    {"time-limit", "time_limit", FLAGS_Q_DURATION},
};

/* Whether s is printable ASCII (what a key sent in JSON and shown in messages should be). */
static bool printable(const char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e)
            return false;
    return true;
}

/* Set field of body to v (taken). RET 0 or FLAGS_EXIT_FAILED when memory ran out. */
static int set_field(json_t *body, const char *field, json_t *v)
{
    if (!v || json_object_set_new(body, field, v) != 0) {
        fprintf(stderr, "allot: out of memory\n");
        return FLAGS_EXIT_FAILED;
    }
    return 0;
}

int submit_env_split(const char *assignment, size_t *name_len)
{
    const char *eq = strchr(assignment, '=');
    if (!eq || !workload_env_name_ok(assignment, (size_t)(eq - assignment)))
        return -ALLOT_EINVAL;
    *name_len = (size_t)(eq - assignment);
    return 0;
}

/* The flags of a submission, checked. Strings are v's (NULL: not given). */
struct submit_args {
    const char *file, *workspace, *name, *mig, *kind, *model, *key, *image, *workdir;
    const char *topology_required, *topology_preferred;
    const char *env[SCHEMA_MAX_ENV]; /* each --env NAME=VALUE */
    int n_env;
    int64_t gpus, replicas, priority;
    bool preemptible;
};

/* Check every flag of v, before the file is read: a usage error is cheaper.
 * OUT *a. RET 0 or a process exit code after printing why. */
static int submit_check(const struct flag_values *v, struct submit_args *a)
{
    char part[3][FLAGS_MAX_NAME + 1];
    enum sched_kind k;
    enum gpu_model m;
    int rc = 0;
    *a = (struct submit_args){
        .file = flags_get(v, "file"),
        .workspace = flags_get(v, "workspace"),
        .name = flags_get(v, "name"),
        .mig = flags_get(v, "mig"),
        .kind = flags_get(v, "kind"),
        .model = flags_get(v, "model"),
        .key = flags_get(v, "idempotency-key"),
        .image = flags_get(v, "image"),
        .workdir = flags_get(v, "workdir"),
        .topology_required = flags_get(v, "topology-required"),
        .topology_preferred = flags_get(v, "topology-preferred"),
        .replicas = 1,
        .preemptible = true,
    };
    if (a->workspace && !flags_split_name(a->workspace, 2, part))
        return flags_usage_error(v,
                                 "--workspace: expected TENANT/WORKSPACE, two names of "
                                 "a-z 0-9 . _ - (got '%.64s')",
                                 a->workspace);
    if (a->name && !flags_is_name(a->name, strlen(a->name)))
        return flags_usage_error(v,
                                 "--name: a name is 1 to %d of a-z 0-9 . _ -, starting with a "
                                 "letter or digit",
                                 FLAGS_MAX_NAME);
    if (flags_has(v, "gpus") && a->mig)
        return flags_usage_error(v, "--gpus and --mig exclude each other: a replica has whole "
                                    "GPUs or one MIG instance");
    if (a->topology_required && a->topology_preferred)
        return flags_usage_error(v, "--topology-required and --topology-preferred exclude each "
                                    "other: a gang requires one level or prefers one");
    if (a->mig && mig_name_id(a->mig) < 0)
        return flags_usage_error(v, "--mig: unknown MIG profile '%.64s' (e.g. 1g.10gb, 3g.40gb)",
                                 a->mig);
    if (a->kind && sched_kind_parse(a->kind, &k))
        return flags_usage_error(
            v, "--kind: expected training, finetune, inference or experiment, got '%.64s'",
            a->kind);
    if (a->model && mig_model_parse(a->model, &m))
        return flags_usage_error(v,
                                 "--model: unknown GPU model '%.64s' (H100-80GB, H200-141GB, "
                                 "A100-40GB, A100-80GB, A30-24GB)",
                                 a->model);
    if (a->key && (strlen(a->key) == 0 || strlen(a->key) > SUBMIT_MAX_KEY || !printable(a->key)))
        return flags_usage_error(v, "--idempotency-key: 1 to %d printable ASCII characters",
                                 SUBMIT_MAX_KEY);
    struct imageref ref;
    char why[160];
    if (a->image && imageref_parse(a->image, strlen(a->image), &ref, why, sizeof(why)))
        return flags_usage_error(v, "--image: %s", why);
    if (a->workdir && a->workdir[0] != '/')
        return flags_usage_error(v,
                                 "--workdir: expected an absolute path (starting with '/'), "
                                 "got '%.64s'",
                                 a->workdir);
    const char *env[SCHEMA_MAX_ENV + 1];
    a->n_env = flags_each(v, "env", env, SCHEMA_MAX_ENV + 1);
    if (a->n_env > SCHEMA_MAX_ENV)
        return flags_usage_error(v, "--env: at most %d variables", SCHEMA_MAX_ENV);
    for (int i = 0; i < a->n_env; i++) {
        size_t n;
        a->env[i] = env[i];
        if (submit_env_split(env[i], &n))
            return flags_usage_error(v,
                                     "--env: expected NAME=VALUE, NAME of A-Z a-z 0-9 _ not "
                                     "starting with a digit (at most %d bytes), got '%.64s'",
                                     SCHEMA_MAX_ENV_NAME, env[i]);
        for (int j = 0; j < i; j++)
            if (strncmp(env[j], env[i], n + 1) == 0)
                return flags_usage_error(v, "--env: %.*s given twice", (int)n, env[i]);
    }
    if ((rc = flags_int(v, "gpus", 0, SUBMIT_MAX_GPUS, &a->gpus)) ||
        (rc = flags_int(v, "replicas", 1, SUBMIT_MAX_REPLICAS, &a->replicas)) ||
        (rc = flags_int(v, "priority", -SUBMIT_MAX_PRIORITY, SUBMIT_MAX_PRIORITY, &a->priority)) ||
        (rc = flags_bool(v, "preemptible", &a->preemptible)))
        return rc;
    for (size_t i = 0; i < sizeof(submit_quantities) / sizeof(submit_quantities[0]); i++)
        if ((rc = flags_quantity(v, submit_quantities[i].flag, submit_quantities[i].kind, false)))
            return rc;
    return 0;
}

/* Set each --env in body's "env" (kept from the file, the flags' variables over its).
 * RET 0 or a process exit code after printing why. */
static int submit_fill_env(const struct flag_values *v, const struct submit_args *a, json_t *body)
{
    json_t *env = json_object_get(body, "env");
    int rc = 0;
    if (!json_is_object(env) && (rc = set_field(body, "env", json_object())) == 0)
        env = json_object_get(body, "env");
    for (int i = 0; !rc && i < a->n_env; i++) {
        size_t n = strcspn(a->env[i], "=");
        json_t *value = json_string(a->env[i] + n + 1);
        if (!value) {
            fprintf(stderr, "%s: --env %.*s: the value is not UTF-8 text\n", v->prog, (int)n,
                    a->env[i]);
            return FLAGS_EXIT_USAGE;
        }
        if (json_object_setn_new(env, a->env[i], n, value) != 0) {
            fprintf(stderr, "allot: out of memory\n");
            rc = FLAGS_EXIT_FAILED;
        }
    }
    return rc;
}

/* Set body's fields from the flags given (they win over the file's; --gpus and --mig each
 * drop the other). RET 0 or a process exit code after printing why. */
static int submit_fill(const struct flag_values *v, const struct submit_args *a, json_t *body)
{
    int rc = 0;
    if (a->workspace)
        rc = set_field(body, "workspace", json_string(a->workspace));
    if (!rc && a->name)
        rc = set_field(body, "name", json_string(a->name));
    if (!rc && flags_has(v, "gpus")) {
        json_object_del(body, "mig");
        rc = set_field(body, "gpus", json_integer(a->gpus));
    }
    if (!rc && a->mig) {
        json_object_del(body, "gpus");
        rc = set_field(body, "mig", json_string(a->mig));
    }
    if (!rc && flags_has(v, "replicas"))
        rc = set_field(body, "replicas", json_integer(a->replicas));
    if (!rc && (a->topology_required || a->topology_preferred)) /* the level: the daemon's */
        rc = set_field(
            body, "topology",
            json_pack("{s:s}", a->topology_required ? "required" : "preferred",
                      a->topology_required ? a->topology_required : a->topology_preferred));
    if (!rc && flags_has(v, "priority"))
        rc = set_field(body, "priority", json_integer(a->priority));
    if (!rc && a->kind)
        rc = set_field(body, "kind", json_string(a->kind));
    if (!rc && a->model)
        rc = set_field(body, "model", json_string(a->model));
    if (!rc && flags_has(v, "preemptible"))
        rc = set_field(body, "preemptible", json_boolean(a->preemptible));
    if (!rc && a->key)
        rc = set_field(body, "idempotency_key", json_string(a->key));
    if (!rc && a->image)
        rc = set_field(body, "image", json_string(a->image));
    if (!rc && a->workdir)
        rc = set_field(body, "workdir", json_string(a->workdir));
    for (size_t i = 0; !rc && i < sizeof(submit_quantities) / sizeof(submit_quantities[0]); i++) {
        const char *q = flags_get(v, submit_quantities[i].flag);
        if (q)
            rc = set_field(body, submit_quantities[i].field, json_string(q));
    }
    if (!rc && a->n_env)
        rc = submit_fill_env(v, a, body);
    if (!rc && v->n_command) {
        json_t *command = json_array();
        for (int i = 0; command && i < v->n_command; i++)
            if (json_array_append_new(command, json_string(v->command[i])) != 0) {
                json_decref(command);
                command = NULL;
                fprintf(stderr, "%s: word %d of the command is not UTF-8 text\n", v->prog, i + 1);
                rc = FLAGS_EXIT_USAGE;
            }
        if (!rc)
            rc = set_field(body, "command", command);
    }
    return rc;
}

/* Build the submission from -f and the flags (flags win over the file's fields).
 * OUT *out (a new reference). RET 0 or a process exit code after printing why. */
static int submit_body(const struct flag_values *v, json_t **out)
{
    struct submit_args a;
    char err[512];
    json_t *body = NULL;
    int rc = submit_check(v, &a);
    if (rc)
        return rc;
    if (a.file) {
        if (document_load(a.file, &body, err, sizeof(err))) {
            fprintf(stderr, "%s: %s\n", v->prog, err);
            return FLAGS_EXIT_USAGE;
        }
    } else if (!(body = json_object())) {
        fprintf(stderr, "allot: out of memory\n");
        return FLAGS_EXIT_FAILED;
    }
    rc = submit_fill(v, &a, body);
    if (!rc && !json_object_get(body, "workspace")) { /* the default, if one is set */
        char ws[2 * FLAGS_MAX_NAME + 2];
        rc = client_default_workspace(v->prog, ws, sizeof(ws));
        if (!rc && ws[0])
            rc = set_field(body, "workspace", json_string(ws));
        else if (!rc)
            rc = flags_usage_error(v, "the workspace is missing: give -w/--workspace TENANT/WS, a "
                                      "\"workspace\" field in the file, $ALLOT_WORKSPACE or a "
                                      "workspace line in the config file");
    }
    if (rc) {
        json_decref(body);
        return rc;
    }
    *out = body;
    return 0;
}

/* One line for a workload: "NAME  STATE  on PLACEMENT" or "NAME  STATE  reason: text". */
static void print_outcome(const json_t *w)
{
    char where[1024];
    const char *state = human_text(w, "state");
    printf("%s  %s", human_text(w, "name"), state);
    if (json_object_get(w, "placement"))
        printf("  on %s%s", human_placement(json_object_get(w, "placement"), where, sizeof(where)),
               json_is_true(json_object_get(w, "borrowed")) ? " (borrowed)" : "");
    /* the specific sentence when the daemon kept one (reason_message), else the rule's */
    if (json_object_get(w, "reason"))
        printf("  %s: %s", human_text(w, "reason"),
               json_is_string(json_object_get(w, "reason_message"))
                   ? human_text(w, "reason_message")
                   : human_text(w, "reason_text"));
    printf("\n");
}

int submit_run(const struct flag_values *v)
{
    struct client cl;
    struct client_answer a = {0};
    json_t *body = NULL;
    int rc = submit_body(v, &body);
    if (rc)
        return rc;
    rc = client_open(&cl, v);
    if (rc == 0)
        rc = client_fetch(&cl, "POST", "/v1/workloads", body, &a);
    if (rc)
        goto out;
    if (v->json)
        client_print_json(&a);
    else
        print_outcome(a.json);
    if (a.status == 200)
        fprintf(stderr, "allot: this idempotency key was used before: the first submission is "
                        "shown, nothing new was created\n");
    size_t i;
    json_t *warning;
    json_array_foreach(json_object_get(a.json, "warnings"), i, warning)
    {
        fprintf(stderr, "allot: warning: ");
        client_print_clean(stderr, json_is_string(warning) ? json_string_value(warning) : "?");
        fprintf(stderr, "\n");
    }
    /* a rejection is the daemon's answer, not an HTTP error; scripts still see it */
    if (strcmp(human_text(a.json, "state"), "rejected") == 0)
        rc = FLAGS_EXIT_FAILED;
out:
    json_decref(body);
    client_answer_cleanup(&a);
    client_close(&cl);
    return rc;
}
