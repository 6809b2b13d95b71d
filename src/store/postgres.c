/* The store's PostgreSQL backend: the connection (libpq, a URI), its durability settings,
 * the advisory lock that makes one process the owner of the database, the schema and its
 * migrations, the statements prepared per connection, reconnection after a lost connection,
 * and the server's errors mapped to Allot's codes. Design in docs/store.md, "PostgreSQL". */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "common/error.h"
#include "store/internal.h"

/* 0x416c6c74, "Allt": the key of the session advisory lock held while a store is open. */
#define STORE_PG_LOCK_KEY "1097624692"
/* Oldest server: identity columns, EXECUTE FUNCTION in triggers. */
#define STORE_PG_MIN_VERSION 110000
/* Seconds a connection attempt may take unless the URI says otherwise. */
#define STORE_PG_CONNECT_TIMEOUT "10"
#define STORE_PG_STMT_NAME_MAX 32

/* Migrations, oldest first: migration i brings allot_schema.version from i to i + 1, in one
 * transaction, to the same schema as SQLite's migration i (migrate.c). Never edit a released
 * entry; append a new one. Integers are bigint so that rows read back in one width. */
static const char *const store_pg_migrations[] = {
    /* 1: the first schema (SQLite's object tables, dropped by its migration 3, never
     * existed here) */
    "CREATE FUNCTION allot_json_object(t text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$"
    " BEGIN RETURN json_typeof(t::json) = 'object';"
    " EXCEPTION WHEN invalid_text_representation THEN RETURN false; END $$;"
    "CREATE TABLE users ("
    "  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,"
    "  name text PRIMARY KEY,"
    "  tenant text,"
    "  role text NOT NULL,"
    "  spec text NOT NULL CONSTRAINT users_spec CHECK (allot_json_object(spec)));"
    "CREATE INDEX users_tenant ON users (tenant);"
    "CREATE TABLE tokens ("
    "  id text PRIMARY KEY,"
    "  token_hash bytea NOT NULL CONSTRAINT tokens_hash CHECK (length(token_hash) = 32),"
    "  \"user\" text,"
    "  node text,"
    "  created_ms bigint NOT NULL,"
    "  expires_ms bigint,"
    "  CONSTRAINT tokens_holder CHECK (\"user\" IS NOT NULL OR node IS NOT NULL));"
    "CREATE INDEX tokens_user ON tokens (\"user\");"
    "CREATE INDEX tokens_node ON tokens (node);"
    /* the last sequence number of the journal and of the events, changed in the
     * transaction of the insert (like SQLite's sqlite_sequence, unlike a PostgreSQL
     * sequence): no gaps after a rollback, never reused after a trim */
    "CREATE TABLE counters ("
    "  name text PRIMARY KEY,"
    "  last bigint NOT NULL);"
    "INSERT INTO counters VALUES ('journal', 0), ('events', 0);"
    "CREATE TABLE events ("
    "  seq bigint PRIMARY KEY,"
    "  t_ms bigint NOT NULL,"
    "  tenant text,"
    "  kind text NOT NULL,"
    "  json json NOT NULL);"
    "CREATE TABLE journal ("
    "  seq bigint PRIMARY KEY,"
    "  t_ms bigint NOT NULL,"
    "  op json NOT NULL);"
    "CREATE TABLE meta ("
    "  key text PRIMARY KEY,"
    "  value text NOT NULL);"
    /* a token must not outlive the user it acts for */
    "CREATE FUNCTION users_delete_tokens() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN DELETE FROM tokens WHERE \"user\" = old.name; RETURN NULL; END $$;"
    "CREATE TRIGGER users_delete_tokens AFTER DELETE ON users"
    "  FOR EACH ROW EXECUTE FUNCTION users_delete_tokens();",
    /* 2: workloads' output as their agents shipped it, in chunks at byte offsets */
    "CREATE TABLE logs ("
    "  workload text NOT NULL,"
    "  rank bigint NOT NULL,"
    "  attempt bigint NOT NULL,"
    "  stream text NOT NULL,"
    "  off bigint NOT NULL,"
    "  data bytea NOT NULL,"
    "  PRIMARY KEY (workload, rank, attempt, stream, off));",
    /* 3: SQLite dropped its object tables here; nothing to do */
    "SELECT 1;",
    /* 4: snapshots of the controller (docs/store.md, "Snapshots") */
    "CREATE TABLE snapshots ("
    "  seq bigint PRIMARY KEY,"
    "  t_ms bigint NOT NULL,"
    "  engine bytea NOT NULL,"
    "  controller json NOT NULL);",
    /* 5: workloads that have ended and left the engine (docs/store.md, "History") */
    "CREATE TABLE history ("
    "  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  name text NOT NULL,"
    "  tenant text NOT NULL,"
    "  workspace text NOT NULL,"
    "  state text NOT NULL,"
    "  ended_ms bigint NOT NULL,"
    "  idempotency_key text,"
    "  view json NOT NULL);"
    "CREATE INDEX history_name ON history (name);"
    "CREATE INDEX history_key ON history (workspace, idempotency_key);"
    "CREATE INDEX history_tenant ON history (tenant, id);"
    "CREATE INDEX history_ended ON history (ended_ms);",
    /* 6: the leader's fencing epoch (docs/store.md, "Leader and standbys"): one row, which a
     * commit locks FOR SHARE while it checks the epoch, so that a new leader's increment
     * waits for the old one's commit in flight and every later one sees it */
    "CREATE TABLE leader ("
    "  id bigint PRIMARY KEY CONSTRAINT leader_one CHECK (id = 1),"
    "  epoch bigint NOT NULL,"
    "  url text NOT NULL,"
    "  since_ms bigint NOT NULL);"
    "INSERT INTO leader VALUES (1, 0, '', 0);",
    /* 7: the retention of events and output (docs/store.md, "Retention"), as SQLite's */
    "CREATE TABLE log_attempts ("
    "  workload text NOT NULL,"
    "  attempt bigint NOT NULL,"
    "  workspace text NOT NULL,"
    "  first_ms bigint NOT NULL,"
    "  last_ms bigint NOT NULL,"
    "  bytes bigint NOT NULL,"
    "  trimmed bigint NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (workload, attempt));"
    "CREATE INDEX log_attempts_oldest ON log_attempts (workspace, first_ms) WHERE bytes > 0;"
    "CREATE INDEX log_attempts_last ON log_attempts (last_ms) WHERE bytes > 0;"
    "CREATE TABLE log_totals ("
    "  workspace text PRIMARY KEY,"
    "  bytes bigint NOT NULL);"
    "CREATE FUNCTION log_attempts_total() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " IF TG_OP = 'INSERT' THEN"
    "  INSERT INTO log_totals (workspace, bytes) VALUES (new.workspace, new.bytes)"
    "  ON CONFLICT (workspace) DO UPDATE SET bytes = log_totals.bytes + excluded.bytes;"
    " ELSIF TG_OP = 'UPDATE' THEN"
    "  UPDATE log_totals SET bytes = bytes + new.bytes - old.bytes"
    "  WHERE workspace = new.workspace;"
    " ELSE"
    "  UPDATE log_totals SET bytes = bytes - old.bytes WHERE workspace = old.workspace;"
    " END IF; RETURN NULL; END $$;"
    "CREATE TRIGGER log_attempts_total AFTER INSERT OR UPDATE OF bytes OR DELETE"
    "  ON log_attempts FOR EACH ROW EXECUTE FUNCTION log_attempts_total();"
    "INSERT INTO log_attempts (workload, attempt, workspace, first_ms, last_ms, bytes)"
    "  SELECT workload, attempt,"
    "    coalesce(substring(workload FROM '^([^/]*/[^/]*)/'), workload),"
    "    (extract(epoch FROM now()) * 1000)::bigint,"
    "    (extract(epoch FROM now()) * 1000)::bigint, sum(length(data))"
    "  FROM logs GROUP BY workload, attempt;"
    "CREATE INDEX events_t ON events (t_ms);",
    /* 8: the GPU-hour ledger (docs/store.md, "Usage"), as SQLite's */
    "CREATE TABLE usage_attempts ("
    "  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  workload text NOT NULL,"
    "  attempt bigint NOT NULL,"
    "  tenant text NOT NULL,"
    "  workspace text NOT NULL,"
    "  submitter text NOT NULL,"
    "  start_ms bigint NOT NULL,"
    "  end_ms bigint NOT NULL,"
    "  gpu_units bigint NOT NULL,"
    "  borrowed_units bigint NOT NULL,"
    "  ending text NOT NULL,"
    "  lost bigint NOT NULL,"
    "  reclaim_ms bigint);"
    "CREATE INDEX usage_attempts_end ON usage_attempts (end_ms);"
    "CREATE TABLE usage_hours ("
    "  hour_ms bigint NOT NULL,"
    "  tenant text NOT NULL,"
    "  workspace text NOT NULL,"
    "  submitter text NOT NULL,"
    "  model text NOT NULL,"
    "  mig text NOT NULL,"
    "  class text NOT NULL,"
    "  unit_ms bigint NOT NULL,"
    "  PRIMARY KEY (hour_ms, tenant, workspace, submitter, model, mig, class));"
    "CREATE TABLE usage_days ("
    "  day_ms bigint NOT NULL,"
    "  tenant text NOT NULL,"
    "  workspace text NOT NULL,"
    "  submitter text NOT NULL,"
    "  model text NOT NULL,"
    "  mig text NOT NULL,"
    "  class text NOT NULL,"
    "  unit_ms bigint NOT NULL,"
    "  PRIMARY KEY (day_ms, tenant, workspace, submitter, model, mig, class));"
    "CREATE TABLE usage_totals ("
    "  tenant text NOT NULL,"
    "  workspace text NOT NULL,"
    "  class text NOT NULL,"
    "  unit_ms bigint NOT NULL,"
    "  PRIMARY KEY (tenant, workspace, class));"
    "ALTER TABLE tokens ADD COLUMN used_ms bigint;",
};

_Static_assert(sizeof(store_pg_migrations) / sizeof(store_pg_migrations[0]) == STORE_SCHEMA_VERSION,
               "STORE_SCHEMA_VERSION must count the migrations");

/* st->conn of a store opened by store_postgres_backend. */
/* Appends in a batch sent without waiting for their answers, read together at the next
 * statement that is not one (store_pg_flush); at most this many at once. */
#define STORE_PG_DEFER_MAX 256

struct store_pg {
    PGconn *conn;
    bool stale; /* the connection was lost or its session is not set up: connect again */
    char where[STORE_DIR_MAX + 1]; /* the location, password redacted, for messages */
    /* the appends in flight in pipeline mode, and for each the event number it must get
     * (0: not an event) */
    int deferred;
    int64_t expect[STORE_PG_DEFER_MAX];
    bool events_known;   /* events_last is the counter's value (this store leads and writes) */
    int64_t events_last; /* the newest event number, as the store's own appends left it */
};

static PGconn *store_pg_conn(const struct store *st)
{
    return ((const struct store_pg *)st->conn)->conn;
}

/* Notices (for example "relation exists") are not errors: the store keeps them quiet rather
 * than let libpq print them on stderr. */
static void store_pg_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Whether a failure (SQLSTATE state, NULL when nothing came back) cost the connection: the
 * server shut the session down (57P..), the connection failed (08...), or libpq lost it. */
static bool store_pg_lost(const struct store *st, const char *state)
{
    if (PQstatus(store_pg_conn(st)) != CONNECTION_OK)
        return true;
    return state && (strncmp(state, "57P", 3) == 0 || strncmp(state, "08", 2) == 0);
}

/* Copies the server's or libpq's message into st->errmsg, one line, saying so when the
 * connection is gone (and marking it for a reconnect by the next call). */
static void store_pg_message(struct store *st, const PGresult *res, const char *context)
{
    struct store_pg *pg = st->conn;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (!msg || !*msg)
        msg = PQerrorMessage(pg->conn);
    if (!msg || !*msg)
        msg = "unknown error";
    size_t n = strcspn(msg, "\n");
    bool lost = store_pg_lost(st, state);
    if (lost)
        pg->stale = true;
    store_set_errmsg(st, "%s%s%s%.*s", context ? context : "", context ? ": " : "",
                     lost ? "PostgreSQL connection lost: " : "", (int)n, msg);
}

/* Maps a failed statement (res may be NULL when nothing came back) to an Allot code and keeps
 * the server's message: a unique violation is -ALLOT_EEXIST, bad data -ALLOT_EINVAL, a full
 * disk -ALLOT_EFULL, anything else (a lost connection included) -ALLOT_EIO. RET < 0. */
static int store_pg_error(struct store *st, const PGresult *res, const char *context)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    int err = -ALLOT_EIO;
    if (state && strcmp(state, "23505") == 0)
        err = -ALLOT_EEXIST;
    else if (state && (strcmp(state, "23514") == 0 || strcmp(state, "23502") == 0 ||
                       strncmp(state, "22", 2) == 0))
        err = -ALLOT_EINVAL; /* check, not null, data exception (invalid JSON) */
    else if (state && strcmp(state, "53100") == 0)
        err = -ALLOT_EFULL;
    else if (state && strcmp(state, "53200") == 0)
        err = -ALLOT_ENOMEM;
    store_pg_message(st, res, context);
    return err;
}

/* Runs sql, fixed text without parameters (several statements allowed). RET 0 or an error
 * with the server's message after context. */
static int store_pg_exec(struct store *st, const char *sql, const char *context)
{
    PGresult *res = PQexec(store_pg_conn(st), sql);
    ExecStatusType status = PQresultStatus(res);
    int err = 0;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
        err = store_pg_error(st, res, context);
    PQclear(res);
    return err;
}

/* Runs a query of one text value without parameters. OUT buf: the value ("" when NULL). */
static int store_pg_value(struct store *st, const char *sql, char *buf, size_t len)
{
    PGresult *res = PQexec(store_pg_conn(st), sql);
    int err = 0;
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) < 1)
        err = store_pg_error(st, res, sql);
    else
        snprintf(buf, len, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return err;
}

static void store_pg_stmt_name(enum store_stmt id, char *name)
{
    snprintf(name, STORE_PG_STMT_NAME_MAX, "allot_%d", (int)id);
}

/* Everything a new connection needs before the store uses it: durable commits and UTF-8.
 * RET 0; -ALLOT_ECONFIG (a server that cannot give durable commits, or too old); -ALLOT_EIO. */
static int store_pg_session(struct store *st)
{
    struct store_pg *pg = st->conn;
    char value[64];
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        const char *why = PQerrorMessage(pg->conn);
        store_set_errmsg(st, "%s: cannot connect: %.*s", pg->where, (int)strcspn(why, "\n"), why);
        pg->stale = true;
        return -ALLOT_EIO;
    }
    PQsetNoticeProcessor(pg->conn, store_pg_notice, NULL);
    if (PQserverVersion(pg->conn) < STORE_PG_MIN_VERSION) {
        store_set_errmsg(st, "%s: PostgreSQL %d is too old; 11 or newer is needed", pg->where,
                         PQserverVersion(pg->conn) / 10000);
        return -ALLOT_ECONFIG;
    }
    int err = store_pg_value(st, "SHOW fsync", value, sizeof(value));
    if (!err && strcmp(value, "on") != 0) {
        store_set_errmsg(st, "%s: the server runs with fsync=%s: commits would not be durable",
                         pg->where, value);
        return -ALLOT_ECONFIG;
    }
    /* a commit returns once its WAL record is flushed on the server (docs/store.md) */
    err = err ? err : store_pg_exec(st, "SET synchronous_commit = on", "synchronous_commit");
    /* the store's text is UTF-8 (JSON); the server converts it to the database's encoding */
    if (!err && PQsetClientEncoding(pg->conn, "UTF8") != 0) {
        store_pg_message(st, NULL, "client_encoding UTF8");
        err = -ALLOT_EIO;
    }
    return err;
}

/* The server process that holds the lock, "?" when none is seen. */
#define STORE_PG_LOCK_HOLDER                                                                       \
    "SELECT coalesce(min(pid)::text, '?') FROM pg_locks WHERE"                                     \
    " locktype = 'advisory' AND granted AND database = (SELECT oid FROM"                           \
    " pg_database WHERE datname = current_database()) AND objid = " STORE_PG_LOCK_KEY

/* Tries for the lock while its holder is gone from pg_locks, at most this many times, this
 * many milliseconds apart: a session that has just ended (a store closed, a daemon
 * restarted) releases its lock as its server process exits, a moment after the client has
 * gone. */
#define STORE_PG_LOCK_TRIES 50
#define STORE_PG_LOCK_WAIT_MS 10

/* Takes the session advisory lock that makes this store the owner of the database.
 * RET 0; -ALLOT_ESTATE (another session holds it; the message names its server process);
 * -ALLOT_EIO. */
static int store_pg_lock(struct store *st)
{
    struct store_pg *pg = st->conn;
    for (int tries = 1;; tries++) {
        char value[64], pid[32] = "";
        int err = store_pg_value(st, "SELECT pg_try_advisory_lock(" STORE_PG_LOCK_KEY ")", value,
                                 sizeof(value));
        if (err)
            return err;
        if (strcmp(value, "t") == 0)
            return 0;
        store_pg_value(st, STORE_PG_LOCK_HOLDER, pid, sizeof(pid));
        if (strcmp(pid, "?") != 0 || tries == STORE_PG_LOCK_TRIES) {
            store_set_errmsg(st, "%s: the database is in use by another store (server process %s)",
                             pg->where, pid);
            return -ALLOT_ESTATE;
        }
        struct timespec wait = {0, STORE_PG_LOCK_WAIT_MS * 1000000L};
        nanosleep(&wait, NULL); /* its holder is exiting: try again */
    }
}

/* Prepares every statement of the table on the connection. */
static int store_pg_prepare(struct store *st)
{
    struct store_pg *pg = st->conn;
    int err = 0;
    for (int i = 0; i < STORE_STMT_COUNT && !err; i++) {
        char name[STORE_PG_STMT_NAME_MAX];
        store_pg_stmt_name((enum store_stmt)i, name);
        PGresult *res = PQprepare(pg->conn, name, store_stmt_postgres[i], 0, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            char what[96];
            snprintf(what, sizeof(what), "cannot prepare \"%.60s\"", store_stmt_postgres[i]);
            err = store_pg_error(st, res, what);
        }
        PQclear(res);
    }
    return err;
}

/* Applies migration version (1-based) and records it, in one transaction. */
static int store_pg_migrate_one(struct store *st, int version)
{
    char context[64], number[16];
    snprintf(context, sizeof(context), "migration to schema version %d failed", version);
    snprintf(number, sizeof(number), "%d", version);
    const char *values[] = {number};
    int err = store_pg_exec(st, "BEGIN", context);
    err = err ? err : store_pg_exec(st, store_pg_migrations[version - 1], context);
    if (!err) {
        PGresult *res = PQexecParams(store_pg_conn(st), "UPDATE allot_schema SET version = $1", 1,
                                     NULL, values, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            err = store_pg_error(st, res, context);
        PQclear(res);
    }
    err = err ? err : store_pg_exec(st, "COMMIT", context);
    if (err) {
        char msg[STORE_ERRMSG_MAX];
        snprintf(msg, sizeof(msg), "%s", st->errmsg);
        store_pg_exec(st, "ROLLBACK", NULL);
        store_set_errmsg(st, "%s", msg);
        return err == -ALLOT_ENOMEM ? err : -ALLOT_EIO;
    }
    return 0;
}

/* Checks that the database is empty or an Allot store this code understands (the table
 * allot_schema holds its version), then applies its missing migrations. */
static int store_pg_migrate(struct store *st)
{
    struct store_pg *pg = st->conn;
    char value[64];
    int err = store_pg_value(st,
                             "SELECT CASE WHEN to_regclass('allot_schema') IS NOT NULL THEN 'allot'"
                             " WHEN EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n"
                             " ON n.oid = c.relnamespace WHERE n.nspname = current_schema()"
                             " AND c.relkind IN ('r', 'p', 'v', 'm', 'f')) THEN 'other'"
                             " ELSE 'empty' END",
                             value, sizeof(value));
    if (err)
        return err;
    if (strcmp(value, "other") == 0) {
        store_set_errmsg(st, "%s: not an Allot store (tables and no allot_schema)", pg->where);
        return -ALLOT_ECONFIG;
    }
    if (strcmp(value, "empty") == 0)
        err = store_pg_exec(st,
                            "CREATE TABLE allot_schema (version integer NOT NULL);"
                            "INSERT INTO allot_schema VALUES (0)",
                            "cannot create allot_schema");
    err = err ? err
              : store_pg_value(st, "SELECT coalesce(max(version), -1) FROM allot_schema", value,
                               sizeof(value));
    if (err)
        return err;
    int64_t version = strtoll(value, NULL, 10);
    return store_apply_migrations(st, pg->where, version, store_pg_migrate_one);
}

/* Makes this store the owner of the database: the lock, then the schema brought up to date
 * and the statements prepared (a standby does neither before it leads). */
static int store_pg_lead(struct store *st)
{
    int err = store_pg_lock(st);
    err = err ? err : store_pg_migrate(st);
    return err ? err : store_pg_prepare(st);
}

/* Connects to the URI location (see store_open and store_open_standby). */
static int store_pg_open(struct store *st, const char *location)
{
    struct store_pg *pg = calloc(1, sizeof(*pg));
    if (!pg) {
        store_set_errmsg(st, "out of memory");
        return -ALLOT_ENOMEM;
    }
    st->conn = pg;
    store_location_redact(location, pg->where, sizeof(pg->where));
    /* keywords after dbname override the URI's, those before it are defaults */
    const char *const keys[] = {"connect_timeout", "dbname", NULL};
    const char *const values[] = {STORE_PG_CONNECT_TIMEOUT, location, NULL};
    pg->conn = PQconnectdbParams(keys, values, 1);
    if (!pg->conn) {
        store_set_errmsg(st, "out of memory");
        return -ALLOT_ENOMEM;
    }
    /* store_lead takes the lock, migrates and prepares (store_pg_lead) */
    return store_pg_session(st);
}

static int store_pg_flush(struct store *st);

/* Ends the session. What it left open is rolled back and its lock given back while the
 * client waits for the answer, so that a store opened right after this one (a restart) finds
 * the lock free: the session's server process would otherwise hold it until it has exited, a
 * moment after the client has gone (STORE_PG_LOCK_TRIES covers only the end of that moment).
 * A failure changes nothing: the session ends all the same, and with it the transaction and
 * the lock. */
static void store_pg_close(struct store *st)
{
    struct store_pg *pg = st->conn;
    if (!pg)
        return;
    if (PQstatus(pg->conn) == CONNECTION_OK) {
        store_pg_flush(st); /* the appends in flight, and out of pipeline mode */
        if (PQtransactionStatus(pg->conn) != PQTRANS_IDLE)
            PQclear(PQexec(pg->conn, "ROLLBACK"));
        PQclear(PQexec(pg->conn, "SELECT pg_advisory_unlock_all()"));
    }
    PQfinish(pg->conn);
    free(pg);
    st->conn = NULL;
}

/* Makes the connection usable: after it was lost, connects again (outside a batch: inside
 * one, the transaction went with the connection). */
static int store_pg_ready(struct store *st)
{
    struct store_pg *pg = st->conn;
    if (PQstatus(pg->conn) == CONNECTION_OK && !pg->stale)
        return 0;
    if (st->in_batch) {
        st->batch_broken = true;
        store_set_errmsg(st, "PostgreSQL connection lost inside a batch; roll it back");
        return -ALLOT_EIO;
    }
    PQreset(pg->conn); /* a new session: no pipeline, nothing in flight */
    pg->deferred = 0;
    pg->events_known = false;
    int err = store_pg_session(st);
    if (!err && st->epoch) {
        /* a leader takes its lock again, or has lost its place: another store took it */
        err = store_pg_lock(st);
        if (err == -ALLOT_ESTATE)
            store_fence_lost(st, st->errmsg);
    }
    /* a standby runs only unprepared statements (store_leader) */
    err = err || !st->epoch ? err : store_pg_prepare(st);
    pg->stale = err != 0;
    /* this store cannot write until a later call sets the session up; allotd's probe keeps
     * trying (unless it was fenced: then for good) */
    return err ? (st->fenced ? -ALLOT_ESTATE : -ALLOT_EIO) : 0;
}

/* Sends statement id with args; text and integers go as text, blobs as binary; the rows
 * come back binary. For a query, the results are read in single-row mode (PQgetResult).
 * RET 0 when sent, or the connection's error. */
static int store_pg_send(struct store *st, enum store_stmt id, const struct store_arg *args, int n,
                         bool single_row)
{
    const char *values[STORE_ARGS_MAX];
    int lengths[STORE_ARGS_MAX], formats[STORE_ARGS_MAX];
    char ints[STORE_ARGS_MAX][24], name[STORE_PG_STMT_NAME_MAX];
    if (n > STORE_ARGS_MAX) {
        store_set_errmsg(st, "too many parameters");
        return -ALLOT_EINVAL;
    }
    for (int i = 0; i < n; i++) {
        lengths[i] = (int)args[i].len;
        formats[i] = args[i].kind == STORE_ARG_BLOB;
        values[i] = args[i].p;
        if (args[i].kind == STORE_ARG_INT) {
            snprintf(ints[i], sizeof(ints[i]), "%" PRId64, args[i].i);
            values[i] = ints[i];
        } else if (args[i].kind == STORE_ARG_NULL) {
            values[i] = NULL;
        }
    }
    store_pg_stmt_name(id, name);
    PGconn *conn = store_pg_conn(st);
    if (!PQsendQueryPrepared(conn, name, n, values, lengths, formats, 1) ||
        (single_row && !PQsetSingleRowMode(conn)))
        return store_pg_error(st, NULL, NULL);
    return 0;
}

/* Reads one integer of a binary result. */
static int64_t store_pg_int(const PGresult *res, int row, int col)
{
    const unsigned char *p = (const unsigned char *)PQgetvalue(res, row, col);
    int len = PQgetlength(res, row, col);
    uint64_t v = 0;
    for (int i = 0; i < len && i < 8; i++)
        v = v << 8 | p[i];
    if (len == 4)
        return (int32_t)(uint32_t)v;
    if (len == 2)
        return (int16_t)(uint16_t)v;
    return (int64_t)v;
}

/* Sends a fixed statement without parameters into the pipeline. RET 0 or the error. */
static int store_pg_send_plain(struct store *st, const char *sql)
{
    if (!PQsendQueryParams(store_pg_conn(st), sql, 0, NULL, NULL, NULL, NULL, 0))
        return store_pg_error(st, NULL, NULL);
    return 0;
}

/* Reads the results of `queries` statements sent in pipeline mode and then its sync, or
 * (queries 0) of the one statement sent outside it; keeps the first failure (the server
 * skips a statement after a failed one in the pipeline: ABORTED); hands each statement's good
 * result, until a failure, to on_ok with the statement's index, whose nonzero return is a
 * failure too; and leaves pipeline mode. RET 0 or the first failure. */
static int store_pg_results(struct store *st, int queries,
                            int (*on_ok)(struct store *st, void *ctx, int query, PGresult *res),
                            void *ctx)
{
    PGconn *conn = store_pg_conn(st);
    int err = 0, query = 0;
    for (;;) {
        PGresult *res = PQgetResult(conn);
        if (!res) {
            /* the end of one statement's results; outside a pipeline, of everything */
            if (!queries || ++query > queries || PQstatus(conn) != CONNECTION_OK)
                break;
            continue;
        }
        ExecStatusType status = PQresultStatus(res);
        if (status == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            break;
        }
        if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
            err = err ? err : on_ok(st, ctx, query, res);
        else if (status != PGRES_PIPELINE_ABORTED && !err)
            err = store_pg_error(st, res, NULL);
        PQclear(res);
    }
    if (queries && !PQexitPipelineMode(conn) && !err) {
        store_pg_message(st, NULL, "pipeline");
        err = -ALLOT_EIO;
    }
    return err;
}

/* A write's result (store_pg_results): what the statement at index ctx->at changed. */
struct store_pg_write_result {
    int at;
    struct store_change *out;
};

static int store_pg_write_result(struct store *st, void *ctx, int query, PGresult *res)
{
    struct store_pg_write_result *w = ctx;
    (void)st;
    if (query == w->at) {
        w->out->rows = strtoll(PQcmdTuples(res), NULL, 10);
        if (PQntuples(res) > 0 && PQnfields(res) > 0)
            w->out->seq = store_pg_int(res, 0, 0);
    }
    return 0;
}

/* Whether statement id, inside a batch, is an append that cannot fail for its data alone
 * (the journal, the events, the history, the usage ledger: checked before they are sent), so that
 * it goes without waiting for its answer: a batch of N submissions costs a round trip for its
 * commit, not N. A failure of one (the connection, the disk) breaks the batch. */
static bool store_pg_deferrable(enum store_stmt id)
{
    return id == STORE_STMT_APPEND_JOURNAL || id == STORE_STMT_APPEND_EVENT ||
           id == STORE_STMT_HISTORY_ADD || id == STORE_STMT_USAGE_ATTEMPT_ADD ||
           id == STORE_STMT_USAGE_HOUR_ADD || id == STORE_STMT_USAGE_DAY_ADD ||
           id == STORE_STMT_USAGE_TOTAL_ADD || id == STORE_STMT_TOKEN_USED;
}

/* An append's result (store_pg_results): an event must have the number it was given. */
static int store_pg_append_result(struct store *st, void *ctx, int query, PGresult *res)
{
    const struct store_pg *pg = ctx;
    if (query < pg->deferred && pg->expect[query] &&
        (PQntuples(res) != 1 || store_pg_int(res, 0, 0) != pg->expect[query])) {
        store_set_errmsg(st, "event numbers out of step: another store wrote events");
        return -ALLOT_EIO;
    }
    return 0;
}

/* Reads the answers of the appends in flight and leaves pipeline mode. An event must have
 * got the number it was given (events_last + 1 at its send): another writer would be a
 * bug. RET 0; the first failure (the batch is then broken). */
static int store_pg_flush(struct store *st)
{
    struct store_pg *pg = st->conn;
    if (!pg->deferred)
        return 0;
    int err = PQpipelineSync(pg->conn) ? 0 : store_pg_error(st, NULL, "pipeline");
    int got = store_pg_results(st, pg->deferred, store_pg_append_result, pg);
    err = err ? err : got;
    pg->deferred = 0;
    if (err) {
        st->batch_broken = true;
        pg->events_known = false;
    }
    return err;
}

/* Sends append id into the batch's pipeline without reading its answer (store_pg_flush
 * does). OUT *out: one row, and for an event the number it gets. */
static int store_pg_defer(struct store *st, enum store_stmt id, const struct store_arg *args, int n,
                          struct store_change *out)
{
    struct store_pg *pg = st->conn;
    PGconn *conn = pg->conn;
    int err = 0;
    if (id == STORE_STMT_APPEND_EVENT && !pg->events_known) {
        /* once per leadership (and after a failure): the counter, outside the pipeline */
        char value[32];
        err = store_pg_flush(st);
        err = err ? err
                  : store_pg_value(st, "SELECT last FROM counters WHERE name = 'events'", value,
                                   sizeof(value));
        if (err)
            return err;
        pg->events_last = strtoll(value, NULL, 10);
        pg->events_known = true;
    }
    if (!pg->deferred && !PQenterPipelineMode(conn))
        return store_pg_error(st, NULL, "pipeline");
    err = store_pg_send(st, id, args, n, false);
    if (err) {
        pg->deferred++; /* what was sent before it is read (and its failure kept) */
        store_pg_flush(st);
        st->batch_broken = true;
        return err;
    }
    int64_t seq = id == STORE_STMT_APPEND_EVENT ? ++pg->events_last : 0;
    pg->expect[pg->deferred++] = seq;
    out->rows = 1;
    out->seq = seq;
    return pg->deferred == STORE_PG_DEFER_MAX ? store_pg_flush(st) : 0;
}

/* Runs statement id. Inside a batch it runs between a savepoint and its release, so that a
 * change can fail alone as it does in SQLite (store_batch_begin); the three go in one
 * pipeline, one round trip. A failed change is undone by ROLLBACK TO SAVEPOINT, which
 * leaves the batch's earlier changes. */
static int store_pg_write(struct store *st, enum store_stmt id, const struct store_arg *args, int n,
                          struct store_change *out)
{
    int err = store_pg_ready(st);
    if (err)
        return err;
    if (st->in_batch && !st->alone && store_pg_deferrable(id))
        return store_pg_defer(st, id, args, n, out);
    /* every other statement waits for the appends in flight (a rollback does not care how
     * they went) */
    err = store_pg_flush(st);
    if (id == STORE_STMT_ROLLBACK) {
        err = 0;
        ((struct store_pg *)st->conn)->events_known = false;
    }
    if (err)
        return err;
    PGconn *conn = store_pg_conn(st);
    bool guard = st->in_batch && !STORE_STMT_IS_CONTROL(id);
    if (guard && !PQenterPipelineMode(conn)) {
        err = store_pg_error(st, NULL, "pipeline");
        goto out;
    }
    if (guard)
        err = store_pg_send_plain(st, "SAVEPOINT allot_write");
    err = err ? err : store_pg_send(st, id, args, n, false);
    if (guard && !err)
        err = store_pg_send_plain(st, "RELEASE SAVEPOINT allot_write");
    /* the sync also after a failed send: it ends what the pipeline holds, so that
     * store_pg_results' reading ends */
    if (guard && !PQpipelineSync(conn) && !err)
        err = store_pg_error(st, NULL, NULL);
    struct store_pg_write_result result = {guard ? 1 : 0, out};
    int got = store_pg_results(st, guard ? 3 : 0, store_pg_write_result, &result);
    err = err ? err : got;
    if (err && id == STORE_STMT_COMMIT)
        ((struct store_pg *)st->conn)->events_known = false;
    if (err && guard && PQtransactionStatus(conn) == PQTRANS_INERROR) {
        char msg[STORE_ERRMSG_MAX];
        snprintf(msg, sizeof(msg), "%s", st->errmsg);
        store_pg_exec(st, "ROLLBACK TO SAVEPOINT allot_write", NULL);
        store_set_errmsg(st, "%s", msg);
    }
    if (!err && (id == STORE_STMT_COMMIT ||
                 (!STORE_STMT_IS_CONTROL(id) && PQtransactionStatus(conn) == PQTRANS_IDLE)))
        st->stats.commits++;
out:
    if (st->in_batch && !STORE_STMT_IS_CONTROL(id) && PQtransactionStatus(conn) != PQTRANS_INTRANS)
        st->batch_broken = true;
    return err;
}

static int store_pg_query(struct store *st, enum store_stmt id, const struct store_arg *args, int n,
                          store_row_fn fn, void *ctx)
{
    int err = store_pg_ready(st);
    err = err ? err : store_pg_flush(st);
    err = err ? err : store_pg_send(st, id, args, n, true);
    if (err)
        return err;
    PGconn *conn = store_pg_conn(st);
    PGresult *res;
    /* every result is read, also after fn stopped: the connection must be idle again */
    while ((res = PQgetResult(conn))) {
        ExecStatusType status = PQresultStatus(res);
        if (err) {
        } else if (status == PGRES_SINGLE_TUPLE) {
            struct store_row row = {.st = st, .cursor = res, .index = 0};
            err = fn(ctx, &row);
        } else if (status != PGRES_TUPLES_OK) {
            err = store_pg_error(st, res, NULL);
        }
        PQclear(res);
    }
    if (st->in_batch && PQtransactionStatus(conn) != PQTRANS_INTRANS)
        st->batch_broken = true;
    return err;
}

static bool store_pg_in_transaction(const struct store *st)
{
    PGTransactionStatusType status = PQtransactionStatus(store_pg_conn(st));
    return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE;
}

static bool store_pg_row_null(const struct store_row *row, int col)
{
    return PQgetisnull(row->cursor, row->index, col);
}

static int64_t store_pg_row_int(const struct store_row *row, int col)
{
    return PQgetisnull(row->cursor, row->index, col) ? 0
                                                     : store_pg_int(row->cursor, row->index, col);
}

/* Text (followed by a NUL in libpq's buffer) or bytea, raw; NULL for SQL NULL. */
static const void *store_pg_row_bytes(const struct store_row *row, int col, size_t *len)
{
    if (PQgetisnull(row->cursor, row->index, col)) {
        *len = 0;
        return NULL;
    }
    *len = (size_t)PQgetlength(row->cursor, row->index, col);
    return PQgetvalue(row->cursor, row->index, col);
}

/* The leader's row and whether a session holds the lock, in plain statements (a standby has
 * prepared none; the table is missing until a leader has migrated the schema). */
static int store_pg_peek_leader(struct store *st, struct store_leader *out)
{
    int err = store_pg_ready(st);
    char value[16];
    err = err ? err
              : store_pg_value(st,
                               "SELECT (to_regclass('leader') IS NOT NULL)::int * 2 + (EXISTS ("
                               "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
                               " AND database = (SELECT oid FROM pg_database WHERE datname ="
                               " current_database()) AND objid = " STORE_PG_LOCK_KEY "))::int",
                               value, sizeof(value));
    if (err)
        return err;
    long bits = strtol(value, NULL, 10); /* 2: the table exists; 1: the lock is held */
    out->alive = bits & 1;
    if (!(bits & 2))
        return 0;
    PGresult *res = PQexec(store_pg_conn(st), "SELECT epoch, url, since_ms FROM leader");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) != 3) {
        err = store_pg_error(st, res, "the leader's row");
    } else {
        out->epoch = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        snprintf(out->url, sizeof(out->url), "%s", PQgetvalue(res, 0, 1));
        out->since_ms = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    }
    PQclear(res);
    return err;
}

const struct store_backend store_postgres_backend = {
    .name = "postgresql",
    .open = store_pg_open,
    .close = store_pg_close,
    .write = store_pg_write,
    .query = store_pg_query,
    .in_transaction = store_pg_in_transaction,
    .row_null = store_pg_row_null,
    .row_int = store_pg_row_int,
    .row_bytes = store_pg_row_bytes,
    .lead = store_pg_lead,
    .peek_leader = store_pg_peek_leader,
};
