/* Durable state of the controller: its op journal, users, tokens, events, workloads' output
 * and settings in SQLite (WAL, synchronous=FULL) or PostgreSQL (synchronous_commit=on), with
 * versioned migrations and group commit. One interface, two backends, chosen by the location
 * given to store_open. Single-threaded: the event loop that owns the model owns the store.
 * See docs/store.md. */
#ifndef ALLOT_STORE_STORE_H
#define ALLOT_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Default data directory of allotd; the database inside it is STORE_DB_FILE. */
#define STORE_DEFAULT_DIR "./allot-data"
#define STORE_DB_FILE "allot.db"
#define STORE_LOCK_FILE "allot.lock"

/* Bounds on every stored string, checked before anything is written. */
#define STORE_NAME_MAX 127          /* names, ids, roles, kinds, meta keys, bytes */
#define STORE_SPEC_MAX (64 * 1024)  /* JSON text of one user's spec or one event, bytes */
#define STORE_META_MAX 4096         /* one meta value, bytes */
#define STORE_JOURNAL_MAX (4 << 20) /* JSON text of one journal entry (an op), bytes */
#define STORE_TOKEN_HASH_LEN 32     /* SHA-256 */
#define STORE_ERRMSG_MAX 256

/* The newest schema version this code knows (PRAGMA user_version after migrating, or
 * allot_schema.version in PostgreSQL). */
#define STORE_SCHEMA_VERSION 8

struct store;

/* A user row. tenant is NULL for a platform-wide user (platform admin). The spec may name
 * the user's workspace as {"workspace": "tenant/ws"} (see store_find_user). */
struct store_user {
    const char *name;
    const char *tenant;
    const char *role;
    const char *spec_json;
};

/* An API token: its public id and the SHA-256 of its secret, never the secret itself.
 * Fixed buffers so store_find_token needs no allocation. A user's token has user set; a
 * node agent's token has node set (and user "" or the admin who made it). */
struct store_token {
    char id[STORE_NAME_MAX + 1];
    uint8_t hash[STORE_TOKEN_HASH_LEN];
    char user[STORE_NAME_MAX + 1]; /* "" for a node token without one */
    char node[STORE_NAME_MAX + 1]; /* "" unless an agent's token bound to this node */
    int64_t created_ms;
    int64_t expires_ms; /* 0: never expires */
    int64_t used_ms;    /* when it was last used, as store_token_used recorded it; 0: unknown */
};

/* An event of the stream; strings valid only during the callback. tenant may be NULL. */
struct store_event {
    int64_t seq;
    int64_t t_ms;
    const char *tenant;
    const char *kind;
    const char *json;
};

/* Callback of store_load: called for every user in creation order. A NULL callback skips
 * the users. A nonzero return stops the load and is returned by it. Borrowed strings are
 * valid only until the callback returns. */
struct store_visitor {
    int (*user)(void *ctx, const struct store_user *user);
};

/* Counters for metrics and tests. */
struct store_stats {
    uint64_t commits; /* transactions committed since open (each one fsyncs the WAL) */
    uint64_t batches; /* of those, made by store_batch_commit */
};

/* Opens (creating if missing) the store at location, which chooses the backend:
 *   "sqlite:DIR" or a bare "DIR": SQLite. Creates DIR with mode 0700 if it does not exist (its
 *     parent must), takes an exclusive lock on DIR/allot.lock so one process at a time owns
 *     the data, opens DIR/allot.db (mode 0600) in WAL mode with synchronous=FULL and applies
 *     pending migrations, one transaction each. The lock is a POSIX record lock: it keeps
 *     other processes out, so open one store per directory per process (a second open in
 *     the same process is not refused, and closing it would drop the first one's lock).
 *   "postgresql://..." or "postgres://...": a libpq connection URI. Connects, refuses a server
 *     that runs with fsync off, sets synchronous_commit on, takes a session advisory lock so
 *     one process at a time owns the database, creates or migrates the schema (one
 *     transaction per migration) and prepares the statements. A lost connection is made
 *     again by the next call outside a batch (docs/store.md, "PostgreSQL").
 * OUT *out: the store, owned by the caller (store_close). On failure *out is NULL and err
 * (if not NULL) holds a one-line message of at most len bytes.
 * The store leads (see store_lead below) from open on, with a new epoch and no URL.
 * RET 0; -ALLOT_EINVAL (bad arguments); -ALLOT_ESTATE (the data is held by another process);
 * -ALLOT_ECONFIG (the database's schema is newer than this code, or not an Allot store, or a
 * server without durable commits); -ALLOT_EIO; -ALLOT_ENOMEM. */
int store_open(const char *location, struct store **out, char *err, size_t len);

/* Leader and standbys (docs/store.md, "Leader and standbys"). The store that owns the data
 * is its leader, with an epoch: a number that every new leader increments, recorded with
 * its URL in the store. Every commit checks, in its own transaction, that the epoch is still
 * its own, so that a leader that lost its place (paused, cut off, its lock taken by another)
 * can never commit after a new one has begun: it is fenced, and stays so. store_open leads
 * at once (or fails); store_open_standby (PostgreSQL only) connects without leading, and
 * store_lead tries to take the lead, as often as the caller likes. */
#define STORE_URL_MAX 512 /* bytes of a leader's URL */
struct store_leader {
    int64_t epoch;    /* 0: no store has led yet */
    int64_t since_ms; /* when it began */
    bool alive;       /* a store holds the database now (its session is open) */
    char url[STORE_URL_MAX + 1];
};
/* Opens location as a standby: connected, leading nothing, writing nothing. RET as store_open;
 * -ALLOT_EINVAL for a location that is not PostgreSQL (a SQLite store has one process). */
int store_open_standby(const char *location, struct store **out, char *err, size_t len);
/* Take the lead: the backend's lock, the schema brought up to date, a new epoch recorded
 * with url (NULL or "": none; at most STORE_URL_MAX bytes) and now_ms. A no-op for a store
 * that leads. RET 0; -ALLOT_ESTATE (another store leads, or this one was fenced: the
 * message says which); -ALLOT_EINVAL (url too long); an error of the schema or the write
 * (close the store and open it again). */
int store_lead(struct store *st, const char *url, int64_t now_ms);
/* OUT *out: the leader as recorded (for a standby that points clients to it). RET 0;
 * -ALLOT_EIO. A database that no store has led yet gives epoch 0. */
int store_leader(struct store *st, struct store_leader *out);
/* Checks, outside a batch, that this store still leads (an idle leader learns so without a
 * commit). RET 0; -ALLOT_ESTATE (it does not lead, or was fenced now or before); -ALLOT_EIO
 * (the database cannot be reached; the next call connects again). */
int store_check_lead(struct store *st);
/* The epoch this store leads in (0: it does not lead). */
int64_t store_epoch(const struct store *st);
/* Whether this store led and lost its place to another (every write then fails with
 * -ALLOT_ESTATE): its process must stop writing for good (allotd exits). */
bool store_fenced(const struct store *st);

/* Whether location names a PostgreSQL database (a postgresql:// or postgres:// URI). */
bool store_location_is_postgres(const char *location);

/* Copies location into buf (len bytes) with any password of a URI replaced by "***", for
 * logs and messages. Never fails; truncates to len - 1 bytes. */
void store_location_redact(const char *location, char *buf, size_t len);

/* "sqlite" or "postgresql": the backend of an open store. */
const char *store_backend_name(const struct store *st);

/* Closes the store; an open batch is rolled back. NULL-safe. Every acknowledged change is
 * already durable: closing adds nothing to durability, so a crash instead of close loses
 * nothing that a commit returned 0 for. */
void store_close(struct store *st);

/* Message of the last failure of st (the database's or the store's own); "" if none. Never NULL. */
const char *store_errmsg(const struct store *st);

/* Schema version of the open database (STORE_SCHEMA_VERSION after a successful open). */
int store_schema_version(const struct store *st);

void store_stats(const struct store *st, struct store_stats *out);

/* Group commit. store_batch_begin opens a write transaction; every put/delete/append until
 * store_batch_commit joins it, and the commit makes them durable together with one fsync.
 * Without an open batch, each put/delete/append is its own durable transaction.
 * A put that fails inside a batch (for example -ALLOT_EEXIST) changes nothing and leaves
 * the batch open with its earlier changes; the caller commits or rolls back. If the database had
 * to abandon the transaction (I/O error, disk full), later calls and the commit fail with
 * -ALLOT_EIO and the batch must be rolled back.
 * RET begin: 0, -ALLOT_ESTATE (a batch is already open), -ALLOT_EIO.
 * RET commit: 0 when every change of the batch is durable; -ALLOT_ESTATE (no batch open);
 * -ALLOT_EFULL (the disk is full) or -ALLOT_EIO (nothing of the batch was committed; the
 * batch is closed); -ALLOT_ESTATE (the store was fenced: another leads; nothing committed).
 * Any write answers -ALLOT_EFULL when the database found the disk full. A write outside a
 * batch is a batch of its own (so that its commit checks the epoch too). */
int store_batch_begin(struct store *st);
int store_batch_commit(struct store *st);
/* Discards the open batch's changes. RET 0 (also when no batch is open), -ALLOT_EIO. */
int store_batch_rollback(struct store *st);
bool store_in_batch(const struct store *st);

/* Inserts a user: a name that exists is -ALLOT_EEXIST and its row is left as it was (an
 * insert never overwrites). Names are 1..STORE_NAME_MAX bytes; spec_json is a JSON object
 * of at most STORE_SPEC_MAX bytes; tenant is NULL for a platform-wide user. RET 0;
 * -ALLOT_EEXIST; -ALLOT_EINVAL (bad input, nothing written; store_errmsg names the field);
 * -ALLOT_EIO; -ALLOT_ENOMEM. */
int store_add_user(struct store *st, const struct store_user *user);
/* Change the tenant, role and spec of the existing user user->name (the caller has checked
 * that the caller may, against the user as it is and as it will be).
 * RET 0; -ALLOT_ENOENT (no such user, nothing written); -ALLOT_EINVAL; -ALLOT_EIO. */
int store_update_user(struct store *st, const struct store_user *user);

/* Deletes a user by name, and in the same transaction the tokens bound to it.
 * RET 0; -ALLOT_ENOENT; -ALLOT_EINVAL; -ALLOT_EIO. */
int store_delete_user(struct store *st, const char *name);

/* OUT the user's columns, copied into the caller's buffers: *out's name is `name`, tenant
 * points to tenant_buf (NULL for a platform-wide user), role to role_buf, spec_json is NULL;
 * workspace_buf gets the spec's "workspace" string or "". Any buffer may be NULL with its
 * length 0 when not wanted.
 * RET 0; -ALLOT_ENOENT; -ALLOT_ERANGE (a value does not fit its buffer); -ALLOT_EINVAL. */
int store_find_user(struct store *st, const char *name, struct store_user *out, char *tenant_buf,
                    size_t tenant_len, char *role_buf, size_t role_len, char *workspace_buf,
                    size_t workspace_len);

/* Tokens. put inserts (an id is never overwritten: -ALLOT_EEXIST); user or node is set.
 * find: RET 0 with *out filled; -ALLOT_ENOENT; -ALLOT_EINVAL. Expiry is not checked here:
 * the caller compares expires_ms with its clock. */
int store_add_token(struct store *st, const struct store_token *token);
int store_find_token(struct store *st, const char *id, struct store_token *out);
int store_delete_token(struct store *st, const char *id);
/* Record that token id was used at used_ms (kept only when later than what is recorded; a
 * token that is gone is no error). Joins the open batch. RET 0; -ALLOT_EINVAL; -ALLOT_EIO. */
int store_token_used(struct store *st, const char *id, int64_t used_ms);
/* Call fn(ctx, token) for every token, oldest first (by created_ms, then id), in one read
 * transaction; token is valid during the call only. RET fn's first nonzero result, else 0;
 * -ALLOT_ESTATE inside a batch; -ALLOT_EIO (a corrupt row, or the database). */
int store_each_token(struct store *st, int (*fn)(void *ctx, const struct store_token *token),
                     void *ctx);
/* Delete every token of user (a user moved to another tenant must not keep what was made
 * for the old one). OUT *deleted (may be NULL). RET 0 (also when there were none);
 * -ALLOT_EINVAL; -ALLOT_EIO. */
int store_delete_user_tokens(struct store *st, const char *user, int64_t *deleted);

/* Appends an event; tenant may be NULL (platform-wide). OUT *seq (may be NULL): its
 * sequence number, increasing, never reused. RET 0; -ALLOT_EINVAL; -ALLOT_EIO. */
int store_append_event(struct store *st, int64_t t_ms, const char *tenant, const char *kind,
                       const char *json, int64_t *seq);
/* Keeps only the keep_last_n newest events. OUT *deleted (may be NULL). */
int store_events_trim(struct store *st, int64_t keep_last_n, int64_t *deleted);
/* Calls fn for each event with seq > after_seq, oldest first, at most max events (for a
 * stream that resumes from Last-Event-ID). Returns fn's first nonzero result, else 0. */
int store_events_read(struct store *st, int64_t after_seq, int64_t max,
                      int (*fn)(void *ctx, const struct store_event *ev), void *ctx);
/* OUT *seq: the sequence number of the last event ever appended (0 when none), also after
 * a trim. RET 0 or -ALLOT_EIO. */
int store_events_last(struct store *st, int64_t *seq);
/* The retention by age (docs/store.md, "Retention"): delete at most limit (>= 1) of the
 * events stamped before before_ms, oldest first, in one statement. OUT *deleted (may be
 * NULL). RET 0; -ALLOT_EINVAL; -ALLOT_EIO. */
int store_events_trim_before(struct store *st, int64_t before_ms, int64_t limit, int64_t *deleted);
/* OUT *seq, *t_ms: the oldest stored event's number and time (0 and 0 when none are
 * stored). RET 0 or -ALLOT_EIO. */
int store_events_first(struct store *st, int64_t *seq, int64_t *t_ms);

/* The journal: an ordered log of ops (JSON text, at most STORE_JOURNAL_MAX bytes) for a
 * daemon that rebuilds its deterministic engine by replaying them. append joins the open
 * batch like any put. load calls fn for every entry after after_seq (0: all), oldest first,
 * in one read transaction, and returns fn's first nonzero result (-ALLOT_ESTATE inside a
 * batch). trim deletes the entries with seq <= through_seq (after a snapshot has made them
 * redundant); OUT *deleted (may be NULL). Sequence numbers are never reused. bounds: OUT
 * *first, the oldest entry kept (0 when none), and *last, the newest ever appended (0 when
 * none; kept by a trim). */
int store_journal_append(struct store *st, int64_t t_ms, const char *op_json);
int store_journal_load(struct store *st, int64_t after_seq,
                       int (*fn)(void *ctx, int64_t seq, int64_t t_ms, const char *op_json),
                       void *ctx);
int store_journal_trim(struct store *st, int64_t through_seq, int64_t *deleted);
int store_journal_bounds(struct store *st, int64_t *first, int64_t *last);

/* Snapshots (docs/store.md, "Snapshots"): the daemon's state (the engine's bytes and its
 * own records as JSON) as of journal entry seq, so that a start is the newest snapshot that
 * loads plus the journal after it. */
#define STORE_SNAPSHOT_MAX (1u << 30) /* bytes of each part of one snapshot */
#define STORE_SNAPSHOTS_KEPT 2        /* the newest, and one to fall back on */
struct store_snapshot {
    int64_t seq;  /* the newest journal entry it covers */
    int64_t t_ms; /* when it was written */
    uint8_t *engine;
    size_t engine_len;
    char *controller; /* JSON text */
};
/* Write a snapshot covering every journal entry appended so far (none new since the newest
 * snapshot: nothing is written), keep the newest STORE_SNAPSHOTS_KEPT, and trim the journal
 * through the oldest one kept, so that the older snapshot and the journal after it remain
 * should the newest not load. One transaction (it joins an open batch). OUT *seq (may be
 * NULL): the entry the newest snapshot covers; *trimmed (may be NULL): journal entries
 * deleted. RET 0; -ALLOT_EINVAL (a part empty, over STORE_SNAPSHOT_MAX, or the controller's
 * part not JSON); -ALLOT_EFULL; -ALLOT_EIO. */
int store_snapshot_write(struct store *st, int64_t t_ms, const void *engine, size_t engine_len,
                         const char *controller_json, int64_t *seq, int64_t *trimmed);
/* Read the k-th newest snapshot (0: the newest), in one read transaction. OUT *out (free it
 * with store_snapshot_free). RET 0; -ALLOT_ENOENT (no such one); -ALLOT_ESTATE (inside a
 * batch); -ALLOT_EIO; -ALLOT_ENOMEM. */
int store_snapshot_read(struct store *st, int k, struct store_snapshot *out);
void store_snapshot_free(struct store_snapshot *s);

/* History (docs/store.md, "History"): workloads that have ended and left the engine, each
 * with its last view (JSON, at most STORE_SPEC_MAX bytes), until the retention deletes it.
 * A name may come back (a workload submitted again under it): find gives the newest. */
struct store_history_row {
    const char *name, *tenant, *workspace, *state;
    const char *idempotency_key; /* NULL when none */
    int64_t ended_ms;
    const char *view_json;
};
/* Add one (joins the open batch like any put). RET 0; -ALLOT_EINVAL (a field missing or out
 * of bounds; store_errmsg names it); -ALLOT_EFULL; -ALLOT_EIO. */
int store_history_add(struct store *st, const struct store_history_row *row);
/* The view of the newest one named name, or of workspace's with idempotency key key. OUT
 * *view_json (malloc'd; free it). RET 0; -ALLOT_ENOENT; -ALLOT_EINVAL; -ALLOT_EIO;
 * -ALLOT_ENOMEM. */
int store_history_find(struct store *st, const char *name, char **view_json);
int store_history_find_key(struct store *st, const char *workspace, const char *key,
                           char **view_json);
/* Call fn for at most limit of them with an id above after_id, in id order, of tenant and
 * workspace when not NULL; fn's strings live until it returns; its nonzero result stops the
 * list and is returned. RET 0; -ALLOT_EINVAL; -ALLOT_EIO. */
int store_history_list(struct store *st, int64_t after_id, const char *tenant,
                       const char *workspace, int64_t limit,
                       int (*fn)(void *ctx, int64_t id, const char *tenant, const char *workspace,
                                 const char *view_json),
                       void *ctx);
/* Delete those that ended before before_ms, and their output (the logs of their name, and
 * their attempts' byte counts), in one transaction (it joins an open batch). OUT *deleted (may be
 * NULL): rows deleted. count: OUT *count, how many there are. RET 0 or a negative error. */
int store_history_trim(struct store *st, int64_t before_ms, int64_t *deleted);
int store_history_count(struct store *st, int64_t *count);

/* Workloads' output, kept as their agents ship it: chunks at byte offsets of one stream
 * (stdout or stderr) of one attempt of one replica. The caller keeps chunks contiguous
 * (store_log_end says where the next one goes). */
#define STORE_LOG_NAME_MAX 400           /* bytes of a workload's full name */
#define STORE_LOG_CHUNK_MAX (256 * 1024) /* bytes of one chunk */
struct store_log_key {
    const char *workload; /* tenant/workspace/name */
    int rank, attempt;
    const char *stream; /* "stdout" or "stderr" */
};
/* OUT *end: the offset after the last stored byte (0 when none). RET 0; -ALLOT_EINVAL;
 * -ALLOT_EIO. */
int store_log_end(struct store *st, const struct store_log_key *k, int64_t *end);
/* Store len (1..STORE_LOG_CHUNK_MAX) bytes at offset, received at t_ms, and count them in
 * the attempt's and its workspace's stored bytes (the workspace: the name up to its second
 * '/'); joins the open batch like any put (outside one, both in one transaction).
 * RET 0; -ALLOT_EINVAL; -ALLOT_EEXIST (a chunk already starts there); -ALLOT_EIO. */
int store_log_append(struct store *st, const struct store_log_key *k, int64_t t_ms, int64_t offset,
                     const void *data, size_t len);
/* Copy up to max stored bytes from offset on into buf, stopping at a hole. When nothing is
 * stored at offset but more is after it (what was before was trimmed), the bytes come from
 * the first stored after it. OUT *got: how many; *start (may be NULL): the offset of the
 * first (offset when none came). RET 0; -ALLOT_EINVAL; -ALLOT_EIO. */
int store_log_read(struct store *st, const struct store_log_key *k, int64_t offset, void *buf,
                   size_t max, size_t *got, int64_t *start);
/* OUT *trimmed: bytes of workload's attempt the retention deleted (0 when none, or when it
 * has no output). RET 0; -ALLOT_EINVAL; -ALLOT_EIO. */
int store_log_trimmed(struct store *st, const char *workload, int attempt, int64_t *trimmed);

/* The output retention (docs/store.md, "Retention") deletes whole attempts (every chunk of
 * one workload's attempt, all replicas and streams) in one transaction (it joins an open
 * batch), at most limit (>= 1) attempts per call, and says what it did. */
#define STORE_OUTPUT_TRIM_MAX 10000 /* the most attempts one call deletes */
struct store_output_trimmed {
    int64_t attempts, bytes;
};
/* Delete the attempts whose last chunk came before before_ms, oldest first. RET 0;
 * -ALLOT_EINVAL (limit out of 1..STORE_OUTPUT_TRIM_MAX); -ALLOT_EIO; -ALLOT_ENOMEM. */
int store_output_trim_age(struct store *st, int64_t before_ms, int64_t limit,
                          struct store_output_trimmed *out);
/* In each workspace whose stored bytes exceed max_bytes (>= 0), delete its attempts, oldest
 * first (by their first chunk), until it is within max_bytes; at most 64 workspaces a call.
 * RET as store_output_trim_age. */
int store_output_trim_size(struct store *st, int64_t max_bytes, int64_t limit,
                           struct store_output_trimmed *out);
/* Call fn for each workspace with stored output and its bytes, in name order; fn's nonzero
 * result stops it and is returned. RET 0; -ALLOT_EIO. */
int store_output_totals(struct store *st,
                        int (*fn)(void *ctx, const char *workspace, int64_t bytes), void *ctx);

/* The GPU-hour ledger (docs/store.md, "Usage"): a row for each ended attempt of a workload
 * that held GPUs, and hourly rollups of GPU time (GPU units of QUANTITY_GPU_UNITS per GPU,
 * times milliseconds) by tenant, workspace, submitter, GPU model, MIG profile and class.
 * Both join the open batch like any put. */
#define STORE_USAGE_READ_MAX 1000000 /* rows one read may give */
struct store_usage_attempt {
    const char *workload; /* tenant/workspace/name */
    const char *tenant, *workspace, *submitter;
    int64_t attempt;
    int64_t start_ms, end_ms;
    int64_t gpu_units, borrowed_units; /* held, and the part above the reservation */
    const char *ending;                /* finished, failed, cancelled, preempted:REASON */
    bool lost;                         /* preemption cut it short */
    int64_t reclaim_ms; /* it started after a reclaim of borrowed GPUs: how long from the
                         * reclaim's start to its own (-1: it needed none, or it is unknown) */
};
struct store_usage_hour {
    int64_t hour_ms; /* the hour's first millisecond (a multiple of 3,600,000) */
    const char *tenant, *workspace, *submitter;
    const char *model; /* GPU model name */
    const char *mig;   /* MIG profile, "" for whole GPUs */
    const char *cls;   /* guaranteed, borrowed or lost */
    int64_t unit_ms;   /* GPU units x milliseconds */
};
/* Add an attempt; add hour's unit_ms to its row (made when missing). RET 0; -ALLOT_EINVAL (a
 * field missing, out of bounds or negative; store_errmsg names it); -ALLOT_EFULL; -ALLOT_EIO. */
int store_usage_attempt_add(struct store *st, const struct store_usage_attempt *a);
int store_usage_hour_add(struct store *st, const struct store_usage_hour *h);
/* The same for the day rollups: d->hour_ms is the day's first millisecond (UTC). */
int store_usage_day_add(struct store *st, const struct store_usage_hour *d);
/* The sums of the rollups of the hours (days: of the days) in [from_ms, to_ms) by one key
 * and class, of tenant
 * and workspace when not NULL: fn gets each key (by day: key is NULL and day_ms the day's
 * first millisecond, UTC), its class and unit_ms, at most limit (1..STORE_USAGE_READ_MAX)
 * rows in no set order; its strings live until it returns, and its nonzero result stops
 * the read and is returned. RET 0; -ALLOT_EINVAL; -ALLOT_EIO. */
enum store_usage_by {
    STORE_USAGE_BY_TENANT,
    STORE_USAGE_BY_WORKSPACE,
    STORE_USAGE_BY_SUBMITTER,
    STORE_USAGE_BY_MODEL,
    STORE_USAGE_BY_MIG,
    STORE_USAGE_BY_DAY,
};
int store_usage_sum(struct store *st, enum store_usage_by by, bool days, int64_t from_ms,
                    int64_t to_ms, const char *tenant, const char *workspace, int64_t limit,
                    int (*fn)(void *ctx, const char *key, int64_t day_ms, const char *cls,
                              int64_t unit_ms),
                    void *ctx);
/* The same for the attempts that overlap [from_ms, to_ms), in the order they were added. And
 * the attempts that started in [from_ms, to_ms) after a reclaim, the newest first. */
int store_usage_reclaims_read(struct store *st, int64_t from_ms, int64_t to_ms, const char *tenant,
                              const char *workspace, int64_t limit,
                              int (*fn)(void *ctx, const struct store_usage_attempt *a), void *ctx);
int store_usage_attempts_read(struct store *st, int64_t from_ms, int64_t to_ms, const char *tenant,
                              const char *workspace, int64_t limit,
                              int (*fn)(void *ctx, const struct store_usage_attempt *a), void *ctx);
/* Add unit_ms to a workspace's total of a class ever (the metrics' counters: never trimmed).
 * Joins the open batch. RET 0; -ALLOT_EINVAL; -ALLOT_EIO. */
int store_usage_total_add(struct store *st, const char *tenant, const char *workspace,
                          const char *cls, int64_t unit_ms);
/* Call fn with every workspace's total unit_ms of each class (the metrics start from them).
 * RET 0, fn's first nonzero result, or -ALLOT_EIO. */
int store_usage_totals(struct store *st,
                       int (*fn)(void *ctx, const char *tenant, const char *workspace,
                                 const char *cls, int64_t unit_ms),
                       void *ctx);
/* Delete the rollups of hours before before_ms and the attempts that ended before it (not
 * the totals), in one transaction (it joins an open batch). OUT *deleted (may be NULL): rows
 * deleted. RET 0 or a negative error. */
int store_usage_trim(struct store *st, int64_t before_ms, int64_t *deleted);

/* Small key/value settings (e.g. "bootstrap_token_created"). get copies the value with its
 * NUL into buf. RET get: 0; -ALLOT_ENOENT; -ALLOT_ERANGE (buf too small); -ALLOT_EINVAL.
 * set: 0; -ALLOT_EINVAL (key over STORE_NAME_MAX, value over STORE_META_MAX); -ALLOT_EIO. */
int store_meta_get(struct store *st, const char *key, char *buf, size_t len);
int store_meta_set(struct store *st, const char *key, const char *value);

/* Calls v's callback for every stored user (see struct store_visitor), in one read
 * transaction, so it sees one consistent state.
 * RET 0; the first nonzero callback result; -ALLOT_ESTATE (called inside a batch);
 * -ALLOT_EIO; -ALLOT_ENOMEM. */
int store_load(struct store *st, const struct store_visitor *v, void *ctx);

#endif
