/* The store's schema: its migrations, oldest first, and the check at open that the file is
 * an Allot store this code can bring up to date (docs/store.md, "Migrations"). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "store/sqlite.h"

/* 0x416c6c74, "Allt": marks the file as an Allot store (PRAGMA application_id). */
#define STORE_APPLICATION_ID 1097624692

/* Migrations, oldest first: migration i brings user_version from i to i + 1, in one
 * transaction. Never edit a released entry; append a new one (docs/store.md). A spec column
 * holds one JSON object; the CASE keeps json_type from ever seeing invalid text. */
static const char *const store_migrations[] = {
    /* 1: the first schema */
    "CREATE TABLE tenants ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  spec TEXT NOT NULL CONSTRAINT tenants_spec"
    "    CHECK (CASE WHEN json_valid(spec) THEN json_type(spec) = 'object' ELSE 0 END));"
    "CREATE TABLE clusters ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  spec TEXT NOT NULL CONSTRAINT clusters_spec"
    "    CHECK (CASE WHEN json_valid(spec) THEN json_type(spec) = 'object' ELSE 0 END));"
    "CREATE TABLE nodes ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  tenant TEXT,"
    "  spec TEXT NOT NULL CONSTRAINT nodes_spec"
    "    CHECK (CASE WHEN json_valid(spec) THEN json_type(spec) = 'object' ELSE 0 END));"
    "CREATE INDEX nodes_tenant ON nodes (tenant);"
    "CREATE TABLE workspaces ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  tenant TEXT NOT NULL,"
    "  spec TEXT NOT NULL CONSTRAINT workspaces_spec"
    "    CHECK (CASE WHEN json_valid(spec) THEN json_type(spec) = 'object' ELSE 0 END));"
    "CREATE INDEX workspaces_tenant ON workspaces (tenant);"
    "CREATE TABLE workloads ("
    "  id INTEGER PRIMARY KEY CONSTRAINT workloads_id CHECK (id >= 1),"
    "  name TEXT NOT NULL UNIQUE,"
    "  workspace TEXT NOT NULL,"
    "  tenant TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  spec TEXT NOT NULL CONSTRAINT workloads_spec"
    "    CHECK (CASE WHEN json_valid(spec) THEN json_type(spec) = 'object' ELSE 0 END),"
    "  submitted_ms INTEGER NOT NULL,"
    "  idempotency_key TEXT,"
    "  UNIQUE (workspace, idempotency_key));"
    "CREATE INDEX workloads_tenant_state ON workloads (tenant, state);"
    "CREATE TABLE users ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  tenant TEXT,"
    "  role TEXT NOT NULL,"
    "  spec TEXT NOT NULL CONSTRAINT users_spec"
    "    CHECK (CASE WHEN json_valid(spec) THEN json_type(spec) = 'object' ELSE 0 END));"
    "CREATE INDEX users_tenant ON users (tenant);"
    "CREATE TABLE tokens ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  token_hash BLOB NOT NULL CONSTRAINT tokens_hash"
    "    CHECK (typeof(token_hash) = 'blob' AND length(token_hash) = 32),"
    "  user TEXT,"
    "  node TEXT,"
    "  created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER,"
    "  CONSTRAINT tokens_holder CHECK (user IS NOT NULL OR node IS NOT NULL));"
    "CREATE INDEX tokens_user ON tokens (user);"
    "CREATE INDEX tokens_node ON tokens (node);"
    "CREATE TABLE events ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  t_ms INTEGER NOT NULL,"
    "  tenant TEXT,"
    "  kind TEXT NOT NULL,"
    "  json TEXT NOT NULL CONSTRAINT events_json CHECK (json_valid(json)));"
    "CREATE TABLE journal ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  t_ms INTEGER NOT NULL,"
    "  op TEXT NOT NULL CONSTRAINT journal_op CHECK (json_valid(op)));"
    "CREATE TABLE meta ("
    "  key TEXT PRIMARY KEY NOT NULL,"
    "  value TEXT NOT NULL);"
    /* a token must not outlive the user or node it acts for */
    "CREATE TRIGGER users_delete_tokens AFTER DELETE ON users BEGIN"
    "  DELETE FROM tokens WHERE user = old.name;"
    "END;"
    "CREATE TRIGGER nodes_delete_tokens AFTER DELETE ON nodes BEGIN"
    "  DELETE FROM tokens WHERE node = old.name;"
    "END;"
    /* workload ids are never reused, even after the highest one is deleted */
    "CREATE TRIGGER workloads_id_high AFTER DELETE ON workloads BEGIN"
    "  INSERT OR REPLACE INTO meta (key, value) VALUES ('store.workload_id_high',"
    "    max(old.id, coalesce((SELECT CAST(value AS INTEGER) FROM meta"
    "                          WHERE key = 'store.workload_id_high'), 0)));"
    "END;",
    /* 2: workloads' output as their agents shipped it, in chunks at byte offsets */
    "CREATE TABLE logs ("
    "  workload TEXT NOT NULL,"
    "  rank INTEGER NOT NULL,"
    "  attempt INTEGER NOT NULL,"
    "  stream TEXT NOT NULL,"
    "  off INTEGER NOT NULL,"
    "  data BLOB NOT NULL,"
    "  PRIMARY KEY (workload, rank, attempt, stream, off)) WITHOUT ROWID;",
    /* 3: the object tables go. No daemon ever wrote them (it rebuilds its state from the
     * journal), and snapshots will be journal compactions, not copies of the model
     * (docs/store.md, "Snapshots"). A table's indexes and triggers go with it. */
    "DROP TABLE tenants;"
    "DROP TABLE clusters;"
    "DROP TABLE nodes;"
    "DROP TABLE workspaces;"
    "DROP TABLE workloads;"
    "DELETE FROM meta WHERE key = 'store.workload_id_high';",
    /* 4: snapshots of the controller (docs/store.md, "Snapshots"): the engine's bytes and
     * the controller's records, each covering the journal through entry seq */
    "CREATE TABLE snapshots ("
    "  seq INTEGER PRIMARY KEY,"
    "  t_ms INTEGER NOT NULL,"
    "  engine BLOB NOT NULL,"
    "  controller TEXT NOT NULL CONSTRAINT snapshots_controller CHECK (json_valid(controller)));",
    /* 5: workloads that have ended and left the engine (docs/store.md, "History"): their
     * last view, queryable until the retention deletes them */
    "CREATE TABLE history ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL,"
    "  tenant TEXT NOT NULL,"
    "  workspace TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  ended_ms INTEGER NOT NULL,"
    "  idempotency_key TEXT,"
    "  view TEXT NOT NULL CONSTRAINT history_view CHECK (json_valid(view)));"
    "CREATE INDEX history_name ON history (name);"
    "CREATE INDEX history_key ON history (workspace, idempotency_key);"
    "CREATE INDEX history_tenant ON history (tenant, id);"
    "CREATE INDEX history_ended ON history (ended_ms);",
    /* 6: the leader's fencing epoch (docs/store.md, "Leader and standbys"): one row */
    "CREATE TABLE leader ("
    "  id INTEGER PRIMARY KEY CONSTRAINT leader_one CHECK (id = 1),"
    "  epoch INTEGER NOT NULL,"
    "  url TEXT NOT NULL,"
    "  since_ms INTEGER NOT NULL);"
    "INSERT INTO leader VALUES (1, 0, '', 0);",
    /* 7: the retention of events and output (docs/store.md, "Retention"). Each attempt of a
     * workload's output with its workspace, when its first and last chunks came, its bytes
     * stored and those trimmed; each workspace's stored bytes, kept by triggers so that the
     * size cap never sums the logs. Output stored before this counts from now, in the
     * workspace its name says (tenant/workspace/name). */
    "CREATE TABLE log_attempts ("
    "  workload TEXT NOT NULL,"
    "  attempt INTEGER NOT NULL,"
    "  workspace TEXT NOT NULL,"
    "  first_ms INTEGER NOT NULL,"
    "  last_ms INTEGER NOT NULL,"
    "  bytes INTEGER NOT NULL,"
    "  trimmed INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (workload, attempt)) WITHOUT ROWID;"
    "CREATE INDEX log_attempts_oldest ON log_attempts (workspace, first_ms) WHERE bytes > 0;"
    "CREATE INDEX log_attempts_last ON log_attempts (last_ms) WHERE bytes > 0;"
    "CREATE TABLE log_totals ("
    "  workspace TEXT PRIMARY KEY NOT NULL,"
    "  bytes INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TRIGGER log_attempts_insert AFTER INSERT ON log_attempts BEGIN"
    "  INSERT INTO log_totals (workspace, bytes) VALUES (new.workspace, new.bytes)"
    "  ON CONFLICT (workspace) DO UPDATE SET bytes = bytes + excluded.bytes;"
    "END;"
    "CREATE TRIGGER log_attempts_update AFTER UPDATE OF bytes ON log_attempts BEGIN"
    "  UPDATE log_totals SET bytes = bytes + new.bytes - old.bytes"
    "  WHERE workspace = new.workspace;"
    "END;"
    "CREATE TRIGGER log_attempts_delete AFTER DELETE ON log_attempts BEGIN"
    "  UPDATE log_totals SET bytes = bytes - old.bytes WHERE workspace = old.workspace;"
    "END;"
    "INSERT INTO log_attempts (workload, attempt, workspace, first_ms, last_ms, bytes)"
    "  SELECT workload, attempt,"
    "    CASE WHEN instr(substr(workload, instr(workload, '/') + 1), '/') > 0"
    "    THEN substr(workload, 1, instr(workload, '/')"
    "      + instr(substr(workload, instr(workload, '/') + 1), '/') - 1)"
    "    ELSE workload END,"
    "    CAST(strftime('%s', 'now') AS INTEGER) * 1000,"
    "    CAST(strftime('%s', 'now') AS INTEGER) * 1000, sum(length(data))"
    "  FROM logs GROUP BY workload, attempt;"
    "CREATE INDEX events_t ON events (t_ms);",
    /* 8: the GPU-hour ledger (docs/store.md, "Usage"): one row per ended attempt of a workload
     * that held GPUs (GPU units of QUANTITY_GPU_UNITS per GPU, the part above the reservation,
     * whether preemption cut it short), and hourly rollups of GPU unit-milliseconds by tenant,
     * workspace, submitter, GPU model, MIG profile ('' for whole GPUs) and class (guaranteed,
     * borrowed, lost) */
    "CREATE TABLE usage_attempts ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  workload TEXT NOT NULL,"
    "  attempt INTEGER NOT NULL,"
    "  tenant TEXT NOT NULL,"
    "  workspace TEXT NOT NULL,"
    "  submitter TEXT NOT NULL,"
    "  start_ms INTEGER NOT NULL,"
    "  end_ms INTEGER NOT NULL,"
    "  gpu_units INTEGER NOT NULL,"
    "  borrowed_units INTEGER NOT NULL,"
    "  ending TEXT NOT NULL,"
    "  lost INTEGER NOT NULL,"
    "  reclaim_ms INTEGER);"
    "CREATE INDEX usage_attempts_end ON usage_attempts (end_ms);"
    "CREATE TABLE usage_hours ("
    "  hour_ms INTEGER NOT NULL,"
    "  tenant TEXT NOT NULL,"
    "  workspace TEXT NOT NULL,"
    "  submitter TEXT NOT NULL,"
    "  model TEXT NOT NULL,"
    "  mig TEXT NOT NULL,"
    "  class TEXT NOT NULL,"
    "  unit_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (hour_ms, tenant, workspace, submitter, model, mig, class)) WITHOUT ROWID;"
    /* the same by day (UTC), so that a long period reads a day's row rather than 24 */
    "CREATE TABLE usage_days ("
    "  day_ms INTEGER NOT NULL,"
    "  tenant TEXT NOT NULL,"
    "  workspace TEXT NOT NULL,"
    "  submitter TEXT NOT NULL,"
    "  model TEXT NOT NULL,"
    "  mig TEXT NOT NULL,"
    "  class TEXT NOT NULL,"
    "  unit_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (day_ms, tenant, workspace, submitter, model, mig, class)) WITHOUT ROWID;"
    /* every workspace's sums of each class ever (the metrics' counters), never trimmed */
    "CREATE TABLE usage_totals ("
    "  tenant TEXT NOT NULL,"
    "  workspace TEXT NOT NULL,"
    "  class TEXT NOT NULL,"
    "  unit_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (tenant, workspace, class)) WITHOUT ROWID;"
    /* and when each token was last used, to the minute (NULL: not since this column) */
    "ALTER TABLE tokens ADD COLUMN used_ms INTEGER;",
};

_Static_assert(sizeof(store_migrations) / sizeof(store_migrations[0]) == STORE_SCHEMA_VERSION,
               "STORE_SCHEMA_VERSION must count the migrations");

/* Runs a PRAGMA that returns one integer or text row. OUT *out (may be NULL): the integer;
 * text (may be NULL) receives the text value when it fits. */
int store_pragma(struct store *st, const char *sql, int64_t *out, char *text, size_t len)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(store_sqlite_db(st), sql, -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return store_sqlite_error(st, rc);
    int err = 0;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        if (out)
            *out = sqlite3_column_int64(stmt, 0);
        if (text && len) {
            const char *t = (const char *)sqlite3_column_text(stmt, 0);
            snprintf(text, len, "%s", t ? t : "");
        }
    } else if (rc != SQLITE_DONE) {
        err = store_sqlite_error(st, rc);
    }
    sqlite3_finalize(stmt);
    return err;
}

/* Applies migration `version` (1-based) and sets user_version to it (and application_id),
 * in one transaction. */
static int store_migrate_one(struct store *st, int version)
{
    char *msg = NULL;
    char sql[128];
    int rc = sqlite3_exec(store_sqlite_db(st), "BEGIN IMMEDIATE", NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(store_sqlite_db(st), store_migrations[version - 1], NULL, NULL, &msg);
    if (rc == SQLITE_OK) {
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d; PRAGMA application_id = %d", version,
                 STORE_APPLICATION_ID);
        rc = sqlite3_exec(store_sqlite_db(st), sql, NULL, NULL, &msg);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(store_sqlite_db(st), "COMMIT", NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        return 0;
    store_set_errmsg(st, "migration to schema version %d failed: %s", version,
                     msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    if (!sqlite3_get_autocommit(store_sqlite_db(st)))
        sqlite3_exec(store_sqlite_db(st), "ROLLBACK", NULL, NULL, NULL);
    return rc == SQLITE_NOMEM ? -ALLOT_ENOMEM : -ALLOT_EIO;
}

/* Checks that the file is an Allot store this code understands, then migrates it. */
int store_migrate(struct store *st, const char *path)
{
    int64_t app = 0, version = 0, objects = 0;
    int err = store_pragma(st, "PRAGMA application_id", &app, NULL, 0);
    if (!err)
        err = store_pragma(st, "PRAGMA user_version", &version, NULL, 0);
    if (!err)
        err = store_pragma(st, "SELECT count(*) FROM sqlite_master", &objects, NULL, 0);
    if (err)
        return err;
    bool fresh = app == 0 && version == 0 && objects == 0;
    if (!fresh && app != STORE_APPLICATION_ID) {
        store_set_errmsg(st, "%s: not an Allot store (application_id %" PRId64 ")", path, app);
        return -ALLOT_ECONFIG;
    }
    return store_apply_migrations(st, path, version, store_migrate_one);
}
