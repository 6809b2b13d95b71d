/* Private to the SQLite backend of the store (sqlite.c, migrate.c): its connection state and
 * the helpers its files share. */
#ifndef ALLOT_STORE_SQLITE_H
#define ALLOT_STORE_SQLITE_H

#include <sqlite3.h>

#include "store/internal.h"

/* st->conn of a store opened by store_sqlite_backend. */
struct store_sqlite {
    sqlite3 *db;
    sqlite3_stmt *stmt[STORE_STMT_COUNT];
    int lock_fd; /* holds the fcntl lock on allot.lock while open */
};

/* The SQLite handle of st. */
sqlite3 *store_sqlite_db(const struct store *st);

/* Maps a failed SQLite call to an Allot code and keeps SQLite's message. Notes when SQLite
 * rolled back an open batch on its own (I/O error, disk full, out of memory). RET < 0. */
int store_sqlite_error(struct store *st, int rc);

/* Runs a PRAGMA (or any statement) that returns one integer or text row. OUT *out (may be
 * NULL): the integer; text (may be NULL) receives the text value when it fits. */
int store_pragma(struct store *st, const char *sql, int64_t *out, char *text, size_t len);

#endif
