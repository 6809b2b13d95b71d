/* The controller: owns the engine and the store inside one event loop. Every change to the
 * engine is an op (JSON) applied in memory and appended to the journal; at the end of each
 * loop iteration the ops and one scheduling pass are committed in one transaction (group
 * commit) and only then are the requests answered. Replaying the journal into a fresh engine
 * rebuilds exactly the same state, because the engine is deterministic (docs/operations.md). */
#ifndef ALLOT_ALLOTD_CONTROLLER_H
#define ALLOT_ALLOTD_CONTROLLER_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <jansson.h>

#include "allotd/auth.h"
#include "allotd/stream.h"
#include "sched/sched.h"

struct call;
struct fleet;
struct gate;
struct server;
struct output;
struct store;
struct token_cache;
struct usage;
struct vnodes;

struct controller_options {
    const char *data_dir;          /* ./allot-data by default; holds admin.token */
    const char *store;             /* store_open's location; NULL: data_dir (SQLite) */
    struct store *store_open;      /* or the store already open and leading, taken by
                                    * controller_open (even when it fails) */
    const char *platform_path;     /* YAML imported on first start, or NULL */
    bool virtual_nodes;            /* simulate workloads (vnode.h) instead of node agents */
    int64_t unreachable_ms;        /* no report for this long: the node drains (0: 15 s) */
    int64_t lost_ms;               /* and for this long: it is down, its work requeued (0: 60 s) */
    struct stream_options streams; /* GET /v1/events caps (0s: the defaults) */
    uint32_t check_every;          /* sched_check every this many passes; 0: never */
    uint32_t snapshot_every;  /* a snapshot after this many committed ops; 0: never (snapshot.h) */
    int64_t keep_finished_ms; /* an ended workload leaves the engine for the history this long
                               * after its end (0: the default, 10 minutes) */
    int64_t history_ms;       /* and the history keeps it this long (0: 30 days) */
    int64_t events_keep_ms;   /* events older than this are deleted (0: 30 days) */
    int64_t output_keep_ms;   /* an attempt's output this long after its last chunk (0: 30 d) */
    int64_t output_max_bytes; /* a workspace's stored output at most (0: 1 GiB) */
    int64_t usage_keep_ms;    /* the GPU-hour ledger's rows this long (0: 400 days) */
    const char *ui_dir;       /* the dashboard's files served under /ui/ (ui.h) */
};

/* What the daemon keeps about a workload beyond the engine. */
struct controller_workload {
    char *owner;         /* the user who submitted it */
    int64_t duration_ms; /* virtual nodes: run time; -1 until cancelled */
    json_t *extra;       /* command, env, idempotency_key as submitted */
    char *view;          /* its JSON view (view_workload) as text, until it changes */
    json_t *exit;        /* how it ended, as its agent reported (code, signal, reason) */
    size_t view_len;
    uint32_t runs;        /* how many times it has started: its attempt number */
    uint8_t *ended;       /* a gang's replicas that ended in this attempt (1 each), or NULL */
    uint32_t n_ended;     /* how many */
    int64_t ended_ms;     /* when it finished, was cancelled or rejected; 0 while it is not over */
    int64_t confirmed_ms; /* when an agent first reported a process of this attempt running
                           * (heard by this run of the controller; not journaled), or 0 */
    bool usage_open;      /* an attempt holds GPUs (running or draining): usage.h */
    int64_t usage_borrowed;   /* its GPU units above the reservation when it started */
    int64_t usage_reclaim_ms; /* how long it waited on a reclaim before it (-1: none, unknown) */
    int64_t reclaim_ms;       /* when the first reclaim for its next start began (0: none;
                               * heard by this run of the controller, not in its snapshots) */
    /* The sentence of its last queued or rejected event (the engine keeps only the reason),
     * for its view, /why and the submit answer while that reason holds; NULL once it runs.
     * Rebuilt by a replay, and kept in the controller's snapshot. */
    char *reason_message;
    enum sched_reason message_reason; /* the reason it was said for */
};

struct controller {
    struct event_base *base;
    struct store *store;
    struct sched *engine;
    struct controller_options opt;
    json_t *pending;                       /* ops applied since the last commit */
    struct call *deferred, *deferred_tail; /* replies waiting for the commit */
    struct event *flush;
    struct event *tick;
    struct event *retention;           /* ended workloads to the history; the age and size limits */
    struct vnodes *vnodes;             /* virtual nodes' pending finishes and exits */
    struct controller_workload *extra; /* indexed like the engine's workloads */
    uint32_t cap_extra;
    json_t *idempotency; /* "workspace\x1fkey" -> workload id */
    /* node name -> {reason, by?, at}: why a node was drained or made down, as its node_state
     * op said; dropped when it is ready again. Rebuilt by replaying those ops, and kept in
     * snapshots (docs/api.md, "Node maintenance"). */
    json_t *node_reasons;
    bool replaying;
    struct fleet *fleet;        /* the node agents: reports, desired sets, heartbeats */
    struct output *output;      /* workloads' output shipped by agents, until the commit */
    struct token_cache *tokens; /* principals of tokens seen, until users or tokens change */
    struct stream *streams;     /* GET /v1/events: events are queued, stored, then sent */
    struct usage *usage;        /* the GPU-hour ledger: rows until the commit, totals */
    int64_t last_now;
    /* A commit failed (the disk is full, most likely): the state was rebuilt from the store
     * and changes are refused until a probe write succeeds (docs/operations.md). */
    int read_only; /* 0, or the error of the failed commit */
    char read_only_why[256];
    struct event *probe;
    /* and the state could not even be rebuilt (the store cannot be reached): the engine is
     * partial, so every route that needs a role answers 503 (controller_serving) until the
     * probe has rebuilt it */
    bool stale;
    /* An engine invariant broke (sched_broken): nothing more is committed and the loop stops
     * (fail-stop, docs/operations.md). 0, or -ALLOT_ECHECK. */
    int stopped;
    bool deposed;    /* stopped because another allotd leads the store (exit status 3) */
    uint64_t passes; /* scheduling passes, for check_every */
    /* The periodic check takes at most CONTROLLER_CHECK_SHARE of the time: the next one waits
     * for this many passes and this monotonic time (µs), from the last one's duration. */
    uint64_t check_pass;
    int64_t check_at_us;
    uint64_t checks;             /* periodic checks run, for /metrics */
    struct gate *gate;           /* the HTTP server's, for /metrics (set by main) */
    const struct server *server; /* likewise, for its intake's counters (fair service) */
    /* counters for /metrics */
    uint64_t commits, commit_us_sum, ops_committed;
    uint64_t commit_hist[12];    /* commit latency buckets, see metrics */
    uint64_t admission_hist[12]; /* submit-to-admit latency buckets */
    uint64_t admission_ms_sum;   /* and the sum of those latencies, in milliseconds */
    uint64_t preemptions[SCHED_REASON_COUNT], rejections[SCHED_REASON_COUNT];
    /* snapshots (snapshot.h): ops committed since the last, and figures for /metrics */
    uint64_t ops_since_snapshot, snapshots, snapshot_failures, journal_trimmed;
    int64_t snapshot_seq; /* the journal entry the newest covers (0: none) */
    json_t *history;      /* rows for the history table, written with the next commit */
    uint64_t forgotten, history_trimmed; /* for /metrics */
    uint64_t forgotten_at_trim;          /* forgotten when the heap was last trimmed */
    uint64_t usage_trimmed;              /* rows of the GPU-hour ledger past usage_keep_ms */
    /* the retention of events and output (docs/operations.md, "Retention"), for /metrics */
    uint64_t events_trimmed, output_trimmed_bytes, output_trimmed_attempts;
    uint64_t retention_runs;
    uint64_t snapshot_bytes, snapshot_us; /* its size and how long writing it took */
};

/* Open the store at opt->store (or in opt->data_dir), replay its journal into a new engine
 * (importing the platform file on a first start) and make sure an admin token exists (written once
 * to data_dir/admin.token, mode 0600). RET 0, or a negative error with a sentence in err. */
int controller_open(struct event_base *base, const struct controller_options *opt,
                    struct controller **out, char *err, size_t len);
/* Commit what is pending and free everything. Accepts NULL. */
void controller_close(struct controller *ctl);

/* Milliseconds since the epoch, never going back. */
int64_t controller_now(struct controller *ctl);

/* Whether the controller serves requests now: false (and c answered 503 with Retry-After)
 * while its state cannot be rebuilt from the store, or once it is deposed. The server asks
 * before authenticating any route that needs a role. */
bool controller_serving(struct controller *ctl, struct call *c);

/* Who holds this bearer token? RET 0 and *who, or -ALLOT_EUNAUTHORIZED. */
int controller_authenticate(struct controller *ctl, const char *token, struct principal *who);
/* What the controller keeps about workload id (grown on demand), or NULL when out of
 * memory. */
struct controller_workload *controller_extra(struct controller *ctl, uint32_t id);
/* The sentence that says why workload id waits or was rejected, when the one kept is for the
 * reason the engine reports now; else NULL. Owned by the controller. */
const char *controller_reason_message(struct controller *ctl, uint32_t id);
/* Drop workload id's cached view (controller_workload_text): it has changed. */
void controller_view_forget(struct controller *ctl, uint32_t id);

/* A new token for user (or, with user "", for node): writes the full token (shown once) to
 * token (AUTH_TOKEN_LEN + 1 bytes) and fills *row (id, hash, user, node, created, and
 * expires_ms, 0 for never) for the caller to store. RET 0, or -ALLOT_EIO without
 * randomness. */
struct store_token;
int controller_token_new(struct controller *ctl, const char *user, const char *node,
                         int64_t expires_ms, char *token, struct store_token *row);

/* Forget cached principals: call after any change to users or tokens. */
void controller_auth_changed(struct controller *ctl);

/* Apply an op ({"op": name, ...}) to the engine now and journal it with the next commit.
 * OUT *result (may be NULL): what the op made, for the reply (a new reference or NULL).
 * RET 0, or a negative error with the field and a sentence in field/err (nothing changed);
 * while the controller is read-only, the error of the commit that failed (-ALLOT_EFULL). */
int controller_apply(struct controller *ctl, json_t *op, json_t **result, char *field,
                     size_t field_len, char *err, size_t len);
/* Queue c's reply for after the next commit (call_defer has been called on it). */
void controller_defer(struct controller *ctl, struct call *c);

/* Workload id's JSON view (view_workload) with, once its agent reported its end,
 * "exit": {code, signal, reason}. A new reference. */
json_t *controller_workload_json(struct controller *ctl, uint32_t id);

/* Workload id's JSON view as compact text (cached until an event changes it; owned by the
 * controller, valid until the next change). NULL when out of memory. */
const char *controller_workload_text(struct controller *ctl, uint32_t id, size_t *len);

/* Ended workload id leaves the engine: its view is queued for the history table (written with
 * the next commit; not during a replay, which finds it there), its idempotency key and the
 * controller's records of it are dropped, and its slot is freed. RET 0 or -ALLOT_ENOMEM
 * (nothing changed). */
int controller_forget(struct controller *ctl, uint32_t id);

/* Node id's JSON view (view_node) with, while it is not ready and its drain gave one, its
 * reason: "reason", "reason_by" (the user, or null for allotd) and "reason_at" (ms). A new
 * reference, or NULL when out of memory. */
json_t *controller_node_json(struct controller *ctl, uint32_t id);

/* The workload id for an idempotency key of a workspace, or SCHED_NONE. */
uint32_t controller_idempotent(struct controller *ctl, const char *workspace, const char *key);

#endif
