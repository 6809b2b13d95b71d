/* Human tables for the `allot` client: columns sized to their widest cell, two spaces apart,
 * numbers aligned right; cells are cleaned of bytes that could steer a terminal. */
#ifndef ALLOT_CLI_TABLE_H
#define ALLOT_CLI_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define TABLE_MAX_COLUMNS 16
#define TABLE_MAX_CELL 512 /* bytes of one cell; longer text is cut with "..." */

struct table_column {
    const char *title;
    bool right; /* align right (numbers) */
};

/* A table being filled row by row. Caller-owned: table_init, then table_cleanup. A failed
 * allocation is remembered and reported by table_print, so that filling needs no checks. */
struct table {
    const struct table_column *columns;
    size_t n_columns;
    char **cells; /* n_rows * n_columns, row-major; NULL for a cell not filled */
    size_t n_rows, cap_rows;
    size_t next; /* cells filled in the last row */
    bool failed;
};

/* Start a table of n columns (at most TABLE_MAX_COLUMNS; columns must outlive it). */
void table_init(struct table *t, const struct table_column *columns, size_t n);
/* Start a new row; its cells are filled in column order by table_cell. */
void table_row(struct table *t);
/* Fill the next cell of the current row with printf-style text. Extra cells are ignored. */
void table_cell(struct table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print the header and the rows to f. RET 0, or -ALLOT_ENOMEM when a cell could not be
 * stored (then only "allot: out of memory" is printed, to stderr). */
int table_print(const struct table *t, FILE *f);
/* Free the cells. Accepts NULL. */
void table_cleanup(struct table *t);

#endif
