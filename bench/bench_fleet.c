/* The client of bench/bench_fleet.sh (not a test): N node agents impersonated in one process
 * (libevent's evhttp: one held poll connection per agent, a small shared pool for the rest),
 * to measure what an idle fleet costs allotd and how fast a placement reaches its agent. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "../src/common/protocol.h"
#include "percentile.h"

/* ---- Options: one table gives each its name, bounds and help ---- */

enum mode { MODE_LEGACY, MODE_DELTA };

struct options {
    long port, agents, interval_ms, keepalive_ms, count, joins, pool, pid, gpus;
    double idle_s, settle_s, rate, run_s, join_timeout_s;
    const char *token_file, *workspace, *mode_name, *log, *prefix;
    enum mode mode;
};

static struct options opt = {
    .port = 17290,
    .agents = 50,
    .interval_ms = 1000,
    .keepalive_ms = 30000, /* allot-agent's default --keepalive */
    .count = 200,
    .joins = 200,
    .pool = 8,
    .gpus = 8,
    .idle_s = 20,
    .settle_s = 10,
    .rate = 20,
    .run_s = 1,
    .join_timeout_s = 600,
    .workspace = "bench/work",
    .mode_name = "delta",
    .prefix = "fleet",
};

enum opt_kind { OPT_LONG, OPT_DOUBLE, OPT_STRING };

struct opt_row {
    const char *name, *arg;
    enum opt_kind kind;
    void *at;
    double min, max;
    const char *help;
};

static const struct opt_row opt_rows[] = {
    {"--port", "P", OPT_LONG, &opt.port, 1, 65535, "allotd's port on 127.0.0.1"},
    {"--token-file", "F", OPT_STRING, &opt.token_file, 0, 0,
     "the platform admin's token (makes the node tokens, submits)"},
    {"--agents", "N", OPT_LONG, &opt.agents, 1, 100000, "agents: nodes n1..nN"},
    {"--gpus", "G", OPT_LONG, &opt.gpus, 1, 16, "declared H100-80GB GPUs of each node"},
    {"--mode", "legacy|delta", OPT_STRING, &opt.mode_name, 0, 0,
     "legacy: the agent before delta reports (wait = interval, inventory and running workloads in "
     "every report); "
     "delta: inventory in the first report and when asked, running workloads until answered, "
     "wait = keepalive"},
    {"--interval", "MS", OPT_LONG, &opt.interval_ms, 100, 600000, "legacy: the held poll's wait"},
    {"--keepalive", "MS", OPT_LONG, &opt.keepalive_ms, 100, 600000, "delta: the held poll's wait"},
    {"--settle", "S", OPT_DOUBLE, &opt.settle_s, 0, 3600, "seconds after the last join"},
    {"--idle", "S", OPT_DOUBLE, &opt.idle_s, 1, 3600, "the idle window measured"},
    {"--count", "K", OPT_LONG, &opt.count, 0, 100000, "one-GPU workloads submitted"},
    {"--rate", "R", OPT_DOUBLE, &opt.rate, 0.1, 100000, "submissions per second"},
    {"--run", "S", OPT_DOUBLE, &opt.run_s, 0, 3600, "a workload runs this long, then exits 0"},
    {"--workspace", "T/W", OPT_STRING, &opt.workspace, 0, 0, "of the submissions"},
    {"--prefix", "NAME", OPT_STRING, &opt.prefix, 0, 0, "of the workloads' names (NAME-i)"},
    {"--joins", "J", OPT_LONG, &opt.joins, 1, 100000,
     "node tokens made at once, then agents sending their first report at once"},
    {"--join-timeout", "S", OPT_DOUBLE, &opt.join_timeout_s, 1, 36000,
     "for every token, then for every first report"},
    {"--pool", "C", OPT_LONG, &opt.pool, 1, 256, "shared connections (pushes, admin calls)"},
    {"--pid", "PID", OPT_LONG, &opt.pid, 0, 1e9, "allotd's, for its CPU time and RSS"},
    {"--log", "FILE", OPT_STRING, &opt.log, 0, 0, "allotd's log, for 'no report for' lines"},
};
#define N_OPT_ROWS (sizeof(opt_rows) / sizeof(opt_rows[0]))

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_fleet --token-file F [options]\n");
    for (size_t i = 0; i < N_OPT_ROWS; i++)
        fprintf(f, "  %-14s %-13s %s\n", opt_rows[i].name, opt_rows[i].arg, opt_rows[i].help);
}

/* Read argv into opt. RET 0, 1 for --help, or -1 after saying what is wrong. */
static int options_read(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
        const struct opt_row *r = NULL;
        for (size_t k = 0; k < N_OPT_ROWS && !r; k++)
            r = strcmp(argv[i], opt_rows[k].name) == 0 ? &opt_rows[k] : NULL;
        if (!r || i + 1 >= argc) {
            fprintf(stderr, "bench_fleet: %s: %s\n", argv[i], r ? "needs a value" : "unknown");
            return -1;
        }
        const char *v = argv[++i];
        char *end = NULL;
        double d = r->kind == OPT_STRING ? 0 : strtod(v, &end);
        if (r->kind != OPT_STRING && (end == v || *end || d < r->min || d > r->max ||
                                      (r->kind == OPT_LONG && d != (long)d))) {
            fprintf(stderr, "bench_fleet: %s: expected %s from %g to %g, got '%s'\n", r->name,
                    r->kind == OPT_LONG ? "a whole number" : "a number", r->min, r->max, v);
            return -1;
        }
        if (r->kind == OPT_LONG)
            *(long *)r->at = (long)d;
        else if (r->kind == OPT_DOUBLE)
            *(double *)r->at = d;
        else
            *(const char **)r->at = v;
    }
    if (strcmp(opt.mode_name, "legacy") == 0)
        opt.mode = MODE_LEGACY;
    else if (strcmp(opt.mode_name, "delta") == 0)
        opt.mode = MODE_DELTA;
    else {
        fprintf(stderr, "bench_fleet: --mode: legacy or delta, got '%s'\n", opt.mode_name);
        return -1;
    }
    if (!opt.token_file) {
        fprintf(stderr, "bench_fleet: --token-file is required\n");
        return -1;
    }
    return 0;
}

/* ---- The state of the fleet ---- */

/* Errors, counted by kind; one row names each for the output. */
enum err_kind { ERR_CONNECT, ERR_STATUS, ERR_JSON, ERR_ANSWER, ERR_SUBMIT, ERR_LOCAL, ERR_N };
static const char *const err_names[ERR_N] = {
    "connection", /* no answer: refused, reset, timed out */
    "status",     /* an answer other than the one expected (200, or 201 for a submission) */
    "json",       /* an answer that is not JSON */
    "answer",     /* JSON, but not what was asked: not the node's desired set, no token, ... */
    "submit",     /* a submission answered without being placed (pending, rejected) */
    "local",      /* the bench's own: out of memory, more workloads on one agent than it tracks */
};

/* The channels of an agent's reports: the held poll on its own connection, the push on the
 * shared pool; the join's token request rides the pool too. */
enum channel { CH_POLL, CH_PUSH, CH_TOKEN, CH_N };

#define AGENT_MAX_TASKS 32
#define NAME_MAX_LEN 96

/* A workload replica the agent runs, or has ended and not yet seen acknowledged. */
struct task {
    bool used, ended;
    bool acked; /* running and listed in a report that was answered (delta lists it no more) */
    uint8_t run_sent; /* channels whose report in flight lists it running */
    uint8_t end_sent; /* channels whose report in flight carries its end */
    int rank;
    uint32_t gen; /* tells its exit timer from a later task's in the same slot */
    const char *end_state;
    int end_signal;
    char name[NAME_MAX_LEN];
};

struct agent;
struct call {
    struct agent *agent;
    enum channel ch;
};

struct agent {
    struct bench *bench;
    uint32_t index;
    char name[24];
    char *auth;                     /* "Bearer <node token>", or NULL before the join */
    struct evhttp_connection *conn; /* its poll */
    struct call calls[CH_N];
    bool in_flight[CH_N];
    bool push_dirty;   /* a push is wanted once the one in flight is answered */
    bool joined;       /* its first report was answered */
    bool joining;      /* counted in bench.in_join */
    bool have_set;     /* epoch and version below are those of an answer */
    bool tenant_known; /* reports name the tenant the controller said it serves */
    bool inv_wanted;   /* delta: the next reports carry the inventory until one is answered */
    uint8_t inv_sent;  /* channels whose report in flight carries the inventory */
    int64_t epoch;
    uint64_t version;
    char tenant[PROTOCOL_MAX_TENANT + 1];
    struct task tasks[AGENT_MAX_TASKS];
};

/* A submission and when its placement reached its agent. */
struct submission {
    struct bench *bench;
    uint32_t index;
    double sent_at, seen_at; /* seen_at 0: not yet in an answer */
    bool answered, seen, via_push;
};

/* A timed action: a retry (token, poll or push after a failure) or a workload's exit. */
enum timed_kind { TIMED_TOKEN, TIMED_POLL, TIMED_PUSH, TIMED_EXIT };
struct timed {
    double due;
    uint32_t agent, gen;
    uint8_t kind, slot;
};

/* A queue of timed actions whose delays are all equal, so that they fall due in order. */
struct fifo {
    struct timed *v;
    size_t head, n, cap;
};

enum phase { PH_TOKENS, PH_JOIN, PH_SETTLE, PH_IDLE, PH_DISPATCH, PH_NODES, PH_WORKLOADS, PH_DONE };

/* The whole run: the agents, the submissions, the counters, the phase; one event loop owns it. */
struct bench {
    struct event_base *base;
    struct event *tick, *sigint, *sigterm;
    struct evhttp_connection **pool;
    uint32_t next_pool;
    char *admin_auth;
    char *inventory; /* the JSON of every agent's inventory, the same for all */
    struct agent *agents;
    struct submission *subs;
    struct fifo retries, exits;
    enum phase phase;
    double phase_at, start_at;
    uint32_t next_token, in_tokens, n_tokens;
    uint32_t next_join, in_join, n_joined;
    double tokens_s, join_s;
    uint32_t next_sub, subs_answered, subs_seen;
    uint32_t tasks_live; /* tasks used in all agents */
    uint32_t gen;
    uint64_t reports_sent, report_bytes, answers_ok, inventory_asked;
    uint64_t errors[ERR_N];
    uint64_t dropped; /* running workloads the controller's set no longer named */
    uint64_t stale;   /* answers older than one applied (not applied) */
    /* the idle window */
    double idle_t0, idle_t1;
    uint64_t idle_ticks0, idle_ticks1, idle_reports0, idle_reports1, idle_bytes0, idle_bytes1;
    double idle_self0, idle_self1;
    long rss_kib;
    long log_lines_join, log_lines_end;
    /* the checks at the end */
    bool page_busy;
    long long page_after;
    uint32_t nodes_listed, nodes_bad, finished_listed;
    bool interrupted;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- The timed actions ---- */

/* Append t to q. RET 0, or -1 when out of memory (the action is lost: counted by the caller). */
static int fifo_push(struct fifo *q, struct timed t)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 256;
        struct timed *v = malloc(cap * sizeof(*v));
        if (!v)
            return -1;
        for (size_t i = 0; i < q->n; i++)
            v[i] = q->v[(q->head + i) % q->cap];
        free(q->v);
        q->v = v;
        q->cap = cap;
        q->head = 0;
    }
    q->v[(q->head + q->n) % q->cap] = t;
    q->n++;
    return 0;
}

/* Take the first action of q into *out if it is due at now. RET whether it took one. */
static bool fifo_pop_due(struct fifo *q, double now, struct timed *out)
{
    if (q->n == 0 || q->v[q->head].due > now)
        return false;
    *out = q->v[q->head];
    q->head = (q->head + 1) % q->cap;
    q->n--;
    return true;
}

static void later(struct bench *b, struct fifo *q, double delay, struct timed t)
{
    t.due = now_s() + delay;
    if (fifo_push(q, t))
        b->errors[ERR_LOCAL]++;
}

/* ---- Requests ---- */

/* A request to send with cb(ctx), its headers and body (len bytes of body, none when NULL).
 * RET the request (the connection it is made on owns it), or NULL when out of memory. */
static struct evhttp_request *request_new(void (*cb)(struct evhttp_request *, void *), void *ctx,
                                          const char *auth, const char *body, size_t len)
{
    struct evhttp_request *req = auth ? evhttp_request_new(cb, ctx) : NULL;
    if (!req)
        return NULL;
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    if (evhttp_add_header(h, "Host", "127.0.0.1") || evhttp_add_header(h, "Authorization", auth) ||
        (body && (evhttp_add_header(h, "Content-Type", "application/json") ||
                  evbuffer_add(evhttp_request_get_output_buffer(req), body, len)))) {
        evhttp_request_free(req);
        return NULL;
    }
    return req;
}

static struct evhttp_connection *pool_next(struct bench *b)
{
    return b->pool[b->next_pool++ % (uint32_t)opt.pool];
}

/* The answer's status (0: no answer) and its body as JSON when the status is want. RET the
 * JSON (the caller's), or NULL after counting why. */
static json_t *answer_json(struct bench *b, struct evhttp_request *req, int want)
{
    int status = req ? evhttp_request_get_response_code(req) : 0;
    if (status != want) {
        b->errors[status ? ERR_STATUS : ERR_CONNECT]++;
        return NULL;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *text = len ? (const char *)evbuffer_pullup(in, -1) : "";
    json_t *j = text ? json_loadb(text, len, 0, NULL) : NULL;
    if (!j)
        b->errors[ERR_JSON]++;
    return j;
}

/* A name the bench can put in a report as it is: 1 to NAME_MAX_LEN - 1 bytes of
 * [A-Za-z0-9._/-] (workload names are tenant/workspace/name of such characters). */
static bool name_plain(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= NAME_MAX_LEN)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '/'))
            return false;
    }
    return true;
}

/* ---- Reports ---- */

static void on_report(struct evhttp_request *req, void *arg);
static void report_send(struct agent *a, enum channel ch);

/* The body of a's report on ch into out: {inventory?, workloads, tenant?}, by the mode's
 * rules (the options' table). Marks what it lists as sent on ch. RET 0, or -1 (no memory). */
static int report_body(struct agent *a, enum channel ch, struct evbuffer *out)
{
    struct bench *b = a->bench;
    int rc = evbuffer_add(out, "{", 1);
    if (opt.mode == MODE_LEGACY || !a->joined || a->inv_wanted) {
        rc |= evbuffer_add_printf(out, "\"" PROTOCOL_FIELD_INVENTORY "\":%s,", b->inventory) < 0;
        a->inv_sent |= (uint8_t)(1u << ch);
    }
    rc |= evbuffer_add_printf(out, "\"" PROTOCOL_FIELD_WORKLOADS "\":[") < 0;
    bool first = true;
    for (int k = 0; k < AGENT_MAX_TASKS; k++) {
        struct task *t = &a->tasks[k];
        if (!t->used || (!t->ended && opt.mode == MODE_DELTA && t->acked))
            continue;
        if (t->ended)
            t->end_sent |= (uint8_t)(1u << ch);
        else
            t->run_sent |= (uint8_t)(1u << ch);
        if (t->ended)
            rc |= evbuffer_add_printf(out,
                                      "%s{\"name\":\"%s\",\"rank\":%d,\"state\":\"%s\","
                                      "\"exit_code\":0,\"signal\":%d,\"reason\":\"\"}",
                                      first ? "" : ",", t->name, t->rank, t->end_state,
                                      t->end_signal) < 0;
        else
            rc |= evbuffer_add_printf(out, "%s{\"name\":\"%s\",\"rank\":%d,\"state\":\"running\"}",
                                      first ? "" : ",", t->name, t->rank) < 0;
        first = false;
    }
    rc |= evbuffer_add(out, "]", 1);
    if (a->tenant_known)
        rc |= a->tenant[0] ? evbuffer_add_printf(out, ",\"tenant\":\"%s\"", a->tenant) < 0
                           : evbuffer_add_printf(out, ",\"tenant\":null") < 0;
    rc |= evbuffer_add(out, "}", 1);
    return rc ? -1 : 0;
}

/* a's report on ch could not be sent: what it listed is not in flight; counted as why, and
 * sent again a second later. */
static void report_unsent(struct agent *a, enum channel ch, enum err_kind why)
{
    struct bench *b = a->bench;
    uint8_t keep = (uint8_t) ~(1u << ch);
    for (int k = 0; k < AGENT_MAX_TASKS; k++) {
        a->tasks[k].run_sent &= keep;
        a->tasks[k].end_sent &= keep;
    }
    a->inv_sent &= keep;
    b->errors[why]++;
    later(b, &b->retries, 1,
          (struct timed){0, a->index, 0, ch == CH_POLL ? TIMED_POLL : TIMED_PUSH, 0});
}

/* Send a's report on ch (CH_POLL or CH_PUSH): the poll on its own connection (held when it
 * has a set), the push on the pool. A push while one is in flight is sent after it. */
static void report_send(struct agent *a, enum channel ch)
{
    struct bench *b = a->bench;
    if (a->in_flight[ch]) {
        a->push_dirty = a->push_dirty || ch == CH_PUSH;
        return;
    }
    if (ch == CH_PUSH)
        a->push_dirty = false;
    struct evhttp_request *req = request_new(on_report, &a->calls[ch], a->auth, NULL, 0);
    struct evbuffer *body = req ? evhttp_request_get_output_buffer(req) : NULL;
    char path[160];
    if (ch == CH_POLL && a->have_set)
        snprintf(path, sizeof(path),
                 PROTOCOL_PATH_REPORT "?" PROTOCOL_QUERY_WAIT "=%ld&" PROTOCOL_QUERY_EPOCH
                                      "=%lld&" PROTOCOL_QUERY_VERSION "=%llu",
                 a->name, opt.mode == MODE_LEGACY ? opt.interval_ms : opt.keepalive_ms,
                 (long long)a->epoch, (unsigned long long)a->version);
    else
        snprintf(path, sizeof(path), PROTOCOL_PATH_REPORT, a->name);
    if (!req || report_body(a, ch, body) ||
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "application/json")) {
        if (req)
            evhttp_request_free(req);
        report_unsent(a, ch, ERR_LOCAL);
        return;
    }
    b->reports_sent++;
    b->report_bytes += evbuffer_get_length(body);
    a->in_flight[ch] = true; /* before: a refused connection may answer at once */
    if (evhttp_make_request(ch == CH_POLL ? a->conn : pool_next(b), req, EVHTTP_REQ_POST, path)) {
        a->in_flight[ch] = false; /* the request is freed: nothing of it is in flight */
        report_unsent(a, ch, ERR_CONNECT);
    }
}

static void task_drop(struct agent *a, struct task *t)
{
    t->used = false;
    a->bench->tasks_live--;
}

/* End task t as state (exited with code 0, or stopped by signal sig) and push it. */
static void task_end(struct agent *a, struct task *t, const char *state, int sig)
{
    t->ended = true;
    t->end_state = state;
    t->end_signal = sig;
    report_send(a, CH_PUSH);
}

static struct task *task_find(struct agent *a, const char *name, int rank)
{
    for (int k = 0; k < AGENT_MAX_TASKS; k++)
        if (a->tasks[k].used && a->tasks[k].rank == rank && strcmp(a->tasks[k].name, name) == 0)
            return &a->tasks[k];
    return NULL;
}

/* The submission a workload's name is, or NULL (not one of this run's). */
static struct submission *submission_of(struct bench *b, const char *name)
{
    const char *slash = strrchr(name, '/');
    const char *tail = slash ? slash + 1 : name;
    size_t n = strlen(opt.prefix);
    char *end = NULL;
    if (strncmp(tail, opt.prefix, n) != 0 || tail[n] != '-')
        return NULL;
    unsigned long i = strtoul(tail + n + 1, &end, 10);
    return end != tail + n + 1 && !*end && i < (unsigned long)opt.count ? &b->subs[i] : NULL;
}

/* A new replica in a's set: tracked, its dispatch measured (the first time its workload is
 * seen), pushed as running, and ended opt.run_s later. */
static void task_start(struct agent *a, const char *name, int rank, enum channel via)
{
    struct bench *b = a->bench;
    struct task *t = NULL;
    for (int k = 0; k < AGENT_MAX_TASKS && !t; k++)
        t = a->tasks[k].used ? NULL : &a->tasks[k];
    if (!t) {
        b->errors[ERR_LOCAL]++;
        return;
    }
    *t = (struct task){.used = true, .rank = rank, .gen = ++b->gen};
    snprintf(t->name, sizeof(t->name), "%s", name);
    b->tasks_live++;
    struct submission *s = submission_of(b, name);
    if (s && !s->seen && s->sent_at > 0) { /* a name before its submission is not ours */
        s->seen = true;
        s->seen_at = now_s();
        s->via_push = via != CH_POLL;
        b->subs_seen++;
    }
    report_send(a, CH_PUSH);
    later(b, &b->exits, opt.run_s,
          (struct timed){0, a->index, t->gen, TIMED_EXIT, (uint8_t)(t - a->tasks)});
}

/* Check that answer is a's desired set: {node: a's name, epoch, version, workloads: [{name,
 * state, rank, gpu_indices}, ...]}. RET whether it is (else counted). */
static bool desired_valid(struct bench *b, const struct agent *a, const json_t *answer)
{
    const char *node = json_string_value(json_object_get(answer, PROTOCOL_FIELD_NODE));
    const json_t *epoch = json_object_get(answer, PROTOCOL_FIELD_EPOCH);
    const json_t *version = json_object_get(answer, PROTOCOL_FIELD_VERSION);
    const json_t *wls = json_object_get(answer, PROTOCOL_FIELD_WORKLOADS);
    const json_t *tenant = json_object_get(answer, PROTOCOL_FIELD_TENANT);
    bool ok = node && strcmp(node, a->name) == 0 && json_is_integer(epoch) &&
              json_integer_value(epoch) >= 0 && json_is_integer(version) &&
              json_integer_value(version) >= 0 && json_is_array(wls) &&
              (json_is_null(tenant) ||
               (json_is_string(tenant) && json_string_length(tenant) <= PROTOCOL_MAX_TENANT &&
                name_plain(json_string_value(tenant))));
    size_t i;
    const json_t *w;
    json_array_foreach(wls, i, w)
    {
        const char *state = json_string_value(json_object_get(w, PROTOCOL_FIELD_STATE));
        const json_t *rank = json_object_get(w, PROTOCOL_FIELD_RANK);
        ok = ok && name_plain(json_string_value(json_object_get(w, PROTOCOL_FIELD_NAME))) &&
             state &&
             (strcmp(state, PROTOCOL_STATE_RUNNING) == 0 ||
              strcmp(state, PROTOCOL_STATE_DRAINING) == 0) &&
             json_is_integer(rank) && json_integer_value(rank) >= 0 &&
             json_integer_value(rank) < 100000 &&
             json_is_array(json_object_get(w, PROTOCOL_FIELD_GPU_INDICES));
    }
    if (!ok)
        b->errors[ERR_ANSWER]++;
    return ok;
}

/* Apply a's desired set (valid), unless an answer applied before was newer (answers on the
 * two channels cross, as the real agent's do): new replicas start, draining ones stop, running
 * ones the set no longer names stop (counted: the controller dropped them). */
static void desired_apply(struct agent *a, const json_t *answer, enum channel ch)
{
    struct bench *b = a->bench;
    int64_t epoch = json_integer_value(json_object_get(answer, PROTOCOL_FIELD_EPOCH));
    uint64_t version =
        (uint64_t)json_integer_value(json_object_get(answer, PROTOCOL_FIELD_VERSION));
    if (a->have_set && epoch == a->epoch && version < a->version) {
        b->stale++;
        return;
    }
    a->have_set = true;
    a->epoch = epoch;
    a->version = version;
    const json_t *tenant = json_object_get(answer, PROTOCOL_FIELD_TENANT);
    snprintf(a->tenant, sizeof(a->tenant), "%s",
             json_is_string(tenant) ? json_string_value(tenant) : "");
    a->tenant_known = true;
    if (json_is_true(json_object_get(answer, "inventory_wanted"))) {
        a->inv_wanted = true;
        b->inventory_asked++;
    }
    bool named[AGENT_MAX_TASKS] = {false};
    uint32_t gen_before = b->gen; /* replicas started below are named in this set */
    size_t i;
    const json_t *w;
    const json_t *wls = json_object_get(answer, PROTOCOL_FIELD_WORKLOADS);
    json_array_foreach(wls, i, w)
    {
        const char *name = json_string_value(json_object_get(w, PROTOCOL_FIELD_NAME));
        const char *state = json_string_value(json_object_get(w, PROTOCOL_FIELD_STATE));
        int rank = (int)json_integer_value(json_object_get(w, PROTOCOL_FIELD_RANK));
        struct task *t = task_find(a, name, rank);
        if (t)
            named[t - a->tasks] = true;
        if (!t && strcmp(state, PROTOCOL_STATE_RUNNING) == 0)
            task_start(a, name, rank, ch);
        else if (t && !t->ended && strcmp(state, PROTOCOL_STATE_DRAINING) == 0)
            task_end(a, t, PROTOCOL_STATE_STOPPED, SIGTERM);
    }
    for (int k = 0; k < AGENT_MAX_TASKS; k++) {
        struct task *t = &a->tasks[k];
        if (t->used && !t->ended && !named[k] && t->gen <= gen_before) {
            b->dropped++;
            task_end(a, t, PROTOCOL_STATE_STOPPED, SIGTERM);
        }
    }
}

static void join_done(struct agent *a)
{
    struct bench *b = a->bench;
    if (a->joining) {
        a->joining = false;
        b->in_join--;
    }
    if (!a->joined) {
        a->joined = true;
        b->n_joined++;
    }
}

/* The answer to a report of a's on ch: what its report carried is acknowledged when it is the
 * desired set (ended replicas forgotten, running ones no more listed in delta mode), else
 * listed again; the set is applied; the poll goes again at once, a failed one a second later. */
static void on_report(struct evhttp_request *req, void *arg)
{
    const struct call *call = arg;
    struct agent *a = call->agent;
    struct bench *b = a->bench;
    enum channel ch = call->ch;
    a->in_flight[ch] = false;
    json_t *answer = answer_json(b, req, 200);
    bool ok = answer && desired_valid(b, a, answer);
    uint8_t bit = (uint8_t)(1u << ch);
    for (int k = 0; k < AGENT_MAX_TASKS; k++) {
        struct task *t = &a->tasks[k];
        if (!t->used)
            continue;
        if (ok && (t->end_sent & bit))
            task_drop(a, t); /* the controller has its end: forget it */
        else if (ok && (t->run_sent & bit))
            t->acked = true; /* not its end: a report that listed it running */
        t->run_sent &= (uint8_t)~bit;
        t->end_sent &= (uint8_t)~bit;
    }
    if (ok && (a->inv_sent & bit))
        a->inv_wanted = false;
    a->inv_sent &= (uint8_t)~bit;
    if (ok) {
        b->answers_ok++;
        desired_apply(a, answer, ch);
    }
    json_decref(answer);
    if (b->phase == PH_DONE)
        return;
    if (ch == CH_POLL && ok) {
        join_done(a);
        report_send(a, CH_POLL); /* the next poll: held until a change */
    } else if (ch == CH_POLL) {
        later(b, &b->retries, 1, (struct timed){0, a->index, 0, TIMED_POLL, 0});
    } else if (!ok || a->push_dirty) {
        if (ok)
            report_send(a, CH_PUSH);
        else
            later(b, &b->retries, 1, (struct timed){0, a->index, 0, TIMED_PUSH, 0});
    }
}

/* ---- Joins: a node token (the platform admin makes it), then the first report ---- */

static void token_send(struct agent *a);

static void on_token(struct evhttp_request *req, void *arg)
{
    const struct call *call = arg;
    struct agent *a = call->agent;
    struct bench *b = a->bench;
    a->in_flight[CH_TOKEN] = false;
    json_t *answer = answer_json(b, req, 201);
    const char *token = json_string_value(json_object_get(answer, PROTOCOL_FIELD_TOKEN));
    if (answer && !token)
        b->errors[ERR_ANSWER]++;
    if (token && !a->auth && asprintf(&a->auth, "Bearer %s", token) < 0)
        a->auth = NULL;
    json_decref(answer);
    if (a->auth) {
        b->in_tokens--;
        b->n_tokens++;
    } else if (b->phase == PH_TOKENS) {
        later(b, &b->retries, 1, (struct timed){0, a->index, 0, TIMED_TOKEN, 0});
    } else {
        b->in_tokens--; /* too late: this agent does not join */
    }
}

static void token_send(struct agent *a)
{
    struct bench *b = a->bench;
    char body[96];
    int len = snprintf(body, sizeof(body), "{\"node\":\"%s\"}", a->name);
    struct evhttp_request *req =
        request_new(on_token, &a->calls[CH_TOKEN], b->admin_auth, body, (size_t)len);
    a->in_flight[CH_TOKEN] = req != NULL;
    if (!req || evhttp_make_request(pool_next(b), req, EVHTTP_REQ_POST, "/v1/tokens")) {
        a->in_flight[CH_TOKEN] = false;
        b->errors[req ? ERR_CONNECT : ERR_LOCAL]++;
        later(b, &b->retries, 1, (struct timed){0, a->index, 0, TIMED_TOKEN, 0});
    }
}

/* ---- Submissions ---- */

static void on_submit(struct evhttp_request *req, void *arg)
{
    struct submission *s = arg;
    struct bench *b = s->bench;
    json_t *answer = answer_json(b, req, 201);
    const char *state = json_string_value(json_object_get(answer, "state"));
    if (answer && !state)
        b->errors[ERR_ANSWER]++;
    else if (state && strcmp(state, "running") != 0)
        b->errors[ERR_SUBMIT]++; /* pending or rejected: a fleet this size has room */
    json_decref(answer);
    s->answered = true;
    b->subs_answered++;
}

static void submit_send(struct bench *b, struct submission *s)
{
    char body[512];
    int len =
        snprintf(body, sizeof(body),
                 "{\"name\":\"%s-%u\",\"workspace\":\"%s\",\"gpus\":1,\"command\":[\"true\"]}",
                 opt.prefix, s->index, opt.workspace);
    struct evhttp_request *req = len > 0 && len < (int)sizeof(body)
                                     ? request_new(on_submit, s, b->admin_auth, body, (size_t)len)
                                     : NULL;
    s->sent_at = now_s();
    if (!req || evhttp_make_request(pool_next(b), req, EVHTTP_REQ_POST, "/v1/workloads")) {
        b->errors[req ? ERR_CONNECT : ERR_LOCAL]++;
        s->answered = true; /* nothing will answer it */
        b->subs_answered++;
    }
}

/* ---- The checks at the end: the nodes' states, the workloads finished ---- */

static void page_send(struct bench *b);

/* A page of GET /v1/nodes or /v1/workloads?state=finished: counted, then the next one. */
static void on_page(struct evhttp_request *req, void *arg)
{
    struct bench *b = arg;
    b->page_busy = false;
    json_t *answer = answer_json(b, req, 200);
    const json_t *items = json_object_get(answer, "items");
    const json_t *next = json_object_get(answer, "next");
    if (answer && !json_is_array(items))
        b->errors[ERR_ANSWER]++;
    size_t i;
    const json_t *it;
    json_array_foreach(items, i, it)
    {
        if (b->phase == PH_NODES) {
            const char *state = json_string_value(json_object_get(it, "state"));
            const char *agent =
                json_string_value(json_object_get(json_object_get(it, "agent"), "state"));
            b->nodes_listed++;
            b->nodes_bad +=
                !state || strcmp(state, "ready") != 0 || !agent || strcmp(agent, "reporting") != 0;
        } else {
            b->finished_listed++;
        }
    }
    if (json_is_integer(next) && json_is_array(items)) {
        b->page_after = json_integer_value(next);
    } else {
        b->page_after = -1;
        b->phase = b->phase == PH_NODES ? PH_WORKLOADS : PH_DONE;
        b->phase_at = now_s();
    }
    json_decref(answer);
}

static void page_send(struct bench *b)
{
    char path[600];
    char after[32] = "";
    if (b->page_after >= 0)
        snprintf(after, sizeof(after), "&after=%lld", b->page_after);
    if (b->phase == PH_NODES)
        snprintf(path, sizeof(path), "/v1/nodes?limit=1000%s", after);
    else
        snprintf(path, sizeof(path), "/v1/workloads?workspace=%s&state=finished&limit=1000%s",
                 opt.workspace, after);
    struct evhttp_request *req = request_new(on_page, b, b->admin_auth, NULL, 0);
    b->page_busy = req != NULL;
    if (!req || evhttp_make_request(pool_next(b), req, EVHTTP_REQ_GET, path)) {
        b->page_busy = false;
        b->errors[req ? ERR_CONNECT : ERR_LOCAL]++;
        b->phase = b->phase == PH_NODES ? PH_WORKLOADS : PH_DONE; /* no retry: counted */
        b->page_after = -1;
    }
}

/* ---- allotd's figures ---- */

/* allotd's CPU time (utime + stime, clock ticks) from /proc/PID/stat. RET it, or 0. */
static uint64_t proc_ticks(long pid)
{
    char path[64], line[2048];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = pid > 0 ? fopen(path, "r") : NULL;
    size_t n = f ? fread(line, 1, sizeof(line) - 1, f) : 0;
    if (f)
        fclose(f);
    line[n] = '\0';
    const char *p = strrchr(line, ')'); /* the command's name may hold spaces */
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    return ut + st;
}

/* allotd's VmRSS (KiB) from /proc/PID/status. RET it, or -1. */
static long proc_rss_kib(long pid)
{
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    FILE *f = pid > 0 ? fopen(path, "r") : NULL;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

/* Lines of the log that say a node was silent too long (heartbeats_check). RET them, or -1. */
static long log_silent_lines(void)
{
    FILE *f = opt.log ? fopen(opt.log, "r") : NULL;
    if (!f)
        return -1;
    char line[4096];
    long n = 0;
    while (fgets(line, sizeof(line), f))
        n += strstr(line, "no report for") != NULL;
    fclose(f);
    return n;
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* ---- The phases, driven by one timer ---- */

static void phase_to(struct bench *b, enum phase p)
{
    static const char *const names[] = {"tokens",   "join",  "settle",    "idle",
                                        "dispatch", "nodes", "workloads", "done"};
    b->phase = p;
    b->phase_at = now_s();
    fprintf(stderr, "bench_fleet: %.1f s: %s (%u of %ld agents joined)\n",
            b->phase_at - b->start_at, names[p], b->n_joined, opt.agents);
}

static void timed_run(struct bench *b, struct timed t)
{
    struct agent *a = &b->agents[t.agent];
    if (t.kind == TIMED_TOKEN && b->phase != PH_TOKENS)
        b->in_tokens--; /* too late: this agent does not join */
    else if (t.kind == TIMED_TOKEN)
        token_send(a);
    else if (t.kind == TIMED_POLL)
        report_send(a, CH_POLL);
    else if (t.kind == TIMED_PUSH)
        report_send(a, CH_PUSH);
    else if (a->tasks[t.slot].used && a->tasks[t.slot].gen == t.gen && !a->tasks[t.slot].ended)
        task_end(a, &a->tasks[t.slot], PROTOCOL_STATE_EXITED, 0);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct bench *b = arg;
    double now = now_s();
    struct timed t;
    while (b->phase != PH_DONE && fifo_pop_due(&b->exits, now, &t))
        timed_run(b, t);
    while (b->phase != PH_DONE && fifo_pop_due(&b->retries, now, &t))
        timed_run(b, t);
    switch (b->phase) {
    case PH_TOKENS:
        while (b->in_tokens < (uint32_t)opt.joins && b->next_token < (uint32_t)opt.agents) {
            b->in_tokens++;
            token_send(&b->agents[b->next_token++]);
        }
        if (b->n_tokens == (uint32_t)opt.agents || now - b->phase_at > opt.join_timeout_s) {
            b->tokens_s = now - b->phase_at;
            phase_to(b, PH_JOIN);
        }
        break;
    case PH_JOIN:
        while (b->in_join < (uint32_t)opt.joins && b->next_join < (uint32_t)opt.agents) {
            struct agent *a = &b->agents[b->next_join++];
            if (!a->auth)
                continue; /* no token: counted among the errors */
            a->joining = true;
            b->in_join++;
            report_send(a, CH_POLL);
        }
        if (b->n_joined == (uint32_t)opt.agents || now - b->phase_at > opt.join_timeout_s) {
            b->join_s = now - b->phase_at;
            b->log_lines_join = log_silent_lines();
            phase_to(b, PH_SETTLE);
        }
        break;
    case PH_SETTLE:
        if (now - b->phase_at >= opt.settle_s) {
            phase_to(b, PH_IDLE);
            b->idle_t0 = now_s();
            b->idle_ticks0 = proc_ticks(opt.pid);
            b->idle_reports0 = b->reports_sent;
            b->idle_bytes0 = b->report_bytes;
            b->idle_self0 = self_cpu_s();
        }
        break;
    case PH_IDLE:
        if (now - b->idle_t0 >= opt.idle_s) {
            b->idle_t1 = now_s();
            b->idle_ticks1 = proc_ticks(opt.pid);
            b->idle_reports1 = b->reports_sent;
            b->idle_bytes1 = b->report_bytes;
            b->idle_self1 = self_cpu_s();
            b->rss_kib = proc_rss_kib(opt.pid);
            phase_to(b, PH_DISPATCH);
        }
        break;
    case PH_DISPATCH: {
        while (b->next_sub < (uint32_t)opt.count &&
               now >= b->phase_at + (double)b->next_sub / opt.rate)
            submit_send(b, &b->subs[b->next_sub++]);
        bool over = b->next_sub == (uint32_t)opt.count && b->subs_answered == (uint32_t)opt.count &&
                    b->subs_seen == b->subs_answered && b->tasks_live == 0;
        if (over || now - b->phase_at > (double)opt.count / opt.rate + opt.run_s + 60) {
            b->page_after = -1;
            phase_to(b, PH_NODES);
        }
        break;
    }
    case PH_NODES:
    case PH_WORKLOADS:
        if (!b->page_busy)
            page_send(b);
        if (now - b->phase_at > 60) { /* a page that never comes */
            b->errors[ERR_CONNECT]++;
            b->page_busy = false;
            b->page_after = -1;
            phase_to(b, b->phase == PH_NODES ? PH_WORKLOADS : PH_DONE);
        }
        break;
    case PH_DONE:
        break;
    }
    if (b->phase == PH_DONE) {
        b->log_lines_end = log_silent_lines();
        event_base_loopbreak(b->base);
    }
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct bench *b = arg;
    b->interrupted = true;
    event_base_loopbreak(b->base);
}

/* ---- Setup, the result, and the end ---- */

/* The inventory every agent reports: opt.gpus declared H100-80GB, as allot-agent --gpus
 * 8xH100-80GB reports them (gpuinfo_to_json), with the node's CPUs and memory as the platform
 * of bench/bench_fleet.sh declares them. RET it (free it), or NULL. */
static char *inventory_new(void)
{
    json_t *gpus = json_array();
    for (long i = 0; gpus && i < opt.gpus; i++) {
        char uuid[32];
        snprintf(uuid, sizeof(uuid), "DECLARED-%ld", i);
        json_array_append_new(
            gpus, json_pack("{s:I, s:s, s:s, s:s, s:I, s:b, s:[], s:n, s:n, s:n, s:b, s:n}",
                            PROTOCOL_FIELD_INDEX, (json_int_t)i, PROTOCOL_FIELD_UUID, uuid, "name",
                            "H100-80GB", "model", "H100-80GB", "memory", (json_int_t)80 << 30,
                            "mig_enabled", 0, PROTOCOL_FIELD_MIG, "utilization", "temperature",
                            "ecc_uncorrected", PROTOCOL_FIELD_HEALTHY, 1, "health_reason"));
    }
    json_t *inv = json_pack(
        "{s:b, s:n, s:o, s:I, s:I, s:{}}", PROTOCOL_FIELD_DISCOVERED, 0, PROTOCOL_FIELD_DRIVER,
        PROTOCOL_FIELD_GPUS, gpus, PROTOCOL_FIELD_CPU_MILLICORES, (json_int_t)128000,
        PROTOCOL_FIELD_MEMORY_BYTES, (json_int_t)2 << 40, PROTOCOL_FIELD_LABELS);
    char *text = inv ? json_dumps(inv, JSON_COMPACT) : NULL;
    json_decref(inv);
    return text;
}

/* The admin's token from opt.token_file as "Bearer T". RET it (free it), or NULL. */
static char *admin_auth_read(void)
{
    FILE *f = fopen(opt.token_file, "r");
    char token[512] = "", *auth = NULL;
    if (!f || !fgets(token, sizeof(token), f))
        fprintf(stderr, "bench_fleet: cannot read %s: %s\n", opt.token_file, strerror(errno));
    if (f)
        fclose(f);
    token[strcspn(token, "\r\n")] = '\0';
    if (token[0] && asprintf(&auth, "Bearer %s", token) < 0)
        auth = NULL;
    return auth;
}

/* Raise this process's open-file limit to its hard limit: a poll connection per agent. */
static void nofile_raise(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)(opt.agents + opt.pool + 64))
        fprintf(stderr,
                "bench_fleet: open-file limit %llu < %ld agents + %ld pool: joins will fail\n",
                (unsigned long long)rl.rlim_cur, opt.agents, opt.pool);
}

static int bench_init(struct bench *b)
{
    b->base = event_base_new();
    b->admin_auth = admin_auth_read();
    b->inventory = inventory_new();
    b->agents = calloc((size_t)opt.agents, sizeof(*b->agents));
    b->subs = calloc((size_t)opt.count + 1, sizeof(*b->subs));
    b->pool = calloc((size_t)opt.pool, sizeof(*b->pool));
    if (!b->base || !b->admin_auth || !b->inventory || !b->agents || !b->subs || !b->pool)
        return -1;
    for (long i = 0; i < opt.pool; i++) {
        b->pool[i] =
            evhttp_connection_base_new(b->base, NULL, "127.0.0.1", (unsigned short)opt.port);
        if (!b->pool[i])
            return -1;
        evhttp_connection_set_timeout(b->pool[i], 30);
        evhttp_connection_set_max_body_size(b->pool[i], 64 << 20); /* a page of 1000 nodes */
    }
    int poll_timeout =
        (int)((opt.mode == MODE_LEGACY ? opt.interval_ms : opt.keepalive_ms) / 1000) + 10;
    for (long i = 0; i < opt.agents; i++) {
        struct agent *a = &b->agents[i];
        a->bench = b;
        a->index = (uint32_t)i;
        snprintf(a->name, sizeof(a->name), "n%ld", i + 1);
        for (int ch = 0; ch < CH_N; ch++)
            a->calls[ch] = (struct call){a, (enum channel)ch};
        a->conn = evhttp_connection_base_new(b->base, NULL, "127.0.0.1", (unsigned short)opt.port);
        if (!a->conn)
            return -1;
        evhttp_connection_set_timeout(a->conn, poll_timeout);
        evhttp_connection_set_max_body_size(a->conn, 8 << 20); /* a desired set */
    }
    for (long i = 0; i < opt.count; i++)
        b->subs[i] = (struct submission){.bench = b, .index = (uint32_t)i};
    b->tick = event_new(b->base, -1, EV_PERSIST, tick_cb, b);
    b->sigint = evsignal_new(b->base, SIGINT, signal_cb, b);
    b->sigterm = evsignal_new(b->base, SIGTERM, signal_cb, b);
    struct timeval tv = {0, 10000};
    if (!b->tick || !b->sigint || !b->sigterm || event_add(b->tick, &tv) ||
        event_add(b->sigint, NULL) || event_add(b->sigterm, NULL))
        return -1;
    return 0;
}

/* Free everything of b (what is still in flight is dropped with its connection, without its
 * callback). Accepts a b that bench_init left half made. */
static void bench_cleanup(struct bench *b)
{
    for (long i = 0; b->agents && i < opt.agents; i++) {
        if (b->agents[i].conn)
            evhttp_connection_free(b->agents[i].conn);
        free(b->agents[i].auth);
    }
    for (long i = 0; b->pool && i < opt.pool; i++)
        if (b->pool[i])
            evhttp_connection_free(b->pool[i]);
    if (b->tick)
        event_free(b->tick);
    if (b->sigint)
        event_free(b->sigint);
    if (b->sigterm)
        event_free(b->sigterm);
    if (b->base)
        event_base_free(b->base);
    free(b->agents);
    free(b->subs);
    free(b->pool);
    free(b->admin_auth);
    free(b->inventory);
    free(b->retries.v);
    free(b->exits.v);
}

/* The result as one JSON line on stdout. RET 0, or -1 when out of memory. */
static int result_print(struct bench *b)
{
    double idle = b->idle_t1 - b->idle_t0;
    double tck = (double)sysconf(_SC_CLK_TCK);
    double *lat = calloc((size_t)opt.count + 1, sizeof(double));
    if (!lat)
        return -1;
    size_t n = 0, via_push = 0;
    for (long i = 0; i < opt.count; i++)
        if (b->subs[i].seen) {
            lat[n++] = (b->subs[i].seen_at - b->subs[i].sent_at) * 1000;
            via_push += b->subs[i].via_push;
        }
    percentile_sort(lat, n);
    json_t *errors = json_object();
    uint64_t total = 0;
    for (int k = 0; k < ERR_N; k++) {
        json_object_set_new(errors, err_names[k], json_integer((json_int_t)b->errors[k]));
        total += b->errors[k];
    }
    bool measured = idle > 0 && b->idle_t1 > 0;
    json_t *r = json_pack(
        "{s:s, s:I, s:I, s:I, s:I, s:f, s:f, s:I, s:f, s:I, s:f, s:I, s:f}", "mode", opt.mode_name,
        "agents", (json_int_t)opt.agents, "joined", (json_int_t)b->n_joined, "interval_ms",
        (json_int_t)opt.interval_ms, "keepalive_ms", (json_int_t)opt.keepalive_ms, "join_s",
        b->join_s, "idle_s", idle, "wait_ms",
        (json_int_t)(opt.mode == MODE_LEGACY ? opt.interval_ms : opt.keepalive_ms), "run_s",
        opt.run_s, "count", (json_int_t)opt.count, "rate", opt.rate, "pool", (json_int_t)opt.pool,
        "settle_s", opt.settle_s);
    if (!r) {
        free(lat);
        json_decref(errors);
        return -1;
    }
    json_object_set_new(r, "allotd_cpu_pct",
                        measured && opt.pid ? json_real((double)(b->idle_ticks1 - b->idle_ticks0) /
                                                        tck / idle * 100)
                                            : json_null());
    json_object_set_new(r, "allotd_rss_mib",
                        b->rss_kib > 0 ? json_real(b->rss_kib / 1024.0) : json_null());
    json_object_set_new(r, "bench_cpu_pct",
                        measured ? json_real((b->idle_self1 - b->idle_self0) / idle * 100)
                                 : json_null());
    json_object_set_new(r, "reports_per_s",
                        measured ? json_real((double)(b->idle_reports1 - b->idle_reports0) / idle)
                                 : json_null());
    uint64_t nrep = b->idle_reports1 - b->idle_reports0;
    json_object_set_new(
        r, "report_bytes",
        json_integer(nrep ? (json_int_t)((b->idle_bytes1 - b->idle_bytes0) / nrep) : 0));
    json_object_set_new(r, "tokens_s", json_real(b->tokens_s));
    json_object_set_new(r, "dispatched", json_integer((json_int_t)n));
    json_object_set_new(r, "dispatched_via_push", json_integer((json_int_t)via_push));
    json_object_set_new(r, "dispatch_p50_ms", n ? json_real(percentile(lat, n, 0.5)) : json_null());
    json_object_set_new(r, "dispatch_p99_ms",
                        n ? json_real(percentile(lat, n, 0.99)) : json_null());
    json_object_set_new(r, "dispatch_max_ms", n ? json_real(lat[n - 1]) : json_null());
    json_object_set_new(r, "finished", json_integer(b->finished_listed));
    json_object_set_new(r, "errors", errors);
    json_object_set_new(r, "errors_total", json_integer((json_int_t)total));
    json_object_set_new(r, "nodes_listed", json_integer(b->nodes_listed));
    json_object_set_new(r, "nodes_not_ready", json_integer(b->nodes_bad));
    json_object_set_new(r, "log_no_report_at_join", json_integer(b->log_lines_join));
    json_object_set_new(r, "log_no_report_after_join",
                        json_integer(b->log_lines_end >= 0 && b->log_lines_join >= 0
                                         ? b->log_lines_end - b->log_lines_join
                                         : -1));
    json_object_set_new(r, "dropped", json_integer((json_int_t)b->dropped));
    json_object_set_new(r, "stale_answers", json_integer((json_int_t)b->stale));
    json_object_set_new(r, "inventory_wanted", json_integer((json_int_t)b->inventory_asked));
    json_object_set_new(r, "answers_ok", json_integer((json_int_t)b->answers_ok));
    json_object_set_new(r, "interrupted", json_boolean(b->interrupted));
    char *text = json_dumps(r, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(r);
    free(lat);
    if (!text)
        return -1;
    printf("%s\n", text);
    free(text);
    return 0;
}

int main(int argc, char **argv)
{
    int rc = options_read(argc, argv);
    if (rc) {
        usage(rc > 0 ? stdout : stderr);
        return rc > 0 ? 0 : 2;
    }
    signal(SIGPIPE, SIG_IGN);
    nofile_raise();
    struct bench b = {0};
    if (bench_init(&b)) {
        fprintf(stderr, "bench_fleet: cannot set up (memory, connections or the token file)\n");
        bench_cleanup(&b);
        return 1;
    }
    b.start_at = now_s();
    phase_to(&b, PH_TOKENS);
    event_base_dispatch(b.base);
    b.phase = PH_DONE;
    rc = result_print(&b);
    bench_cleanup(&b);
    if (rc)
        return 1;
    return b.interrupted ? 130 : 0;
}
