/* Human tables for the `allot` client: cells kept as strings until the end, then printed with
 * every column as wide as its widest cell (counted in characters, not bytes). */
#include "cli/table.h"

#include <assert.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

void table_init(struct table *t, const struct table_column *columns, size_t n)
{
    assert(n > 0 && n <= TABLE_MAX_COLUMNS);
    memset(t, 0, sizeof(*t));
    t->columns = columns;
    t->n_columns = n;
}

void table_row(struct table *t)
{
    if (t->failed)
        return;
    if (t->n_rows == t->cap_rows) {
        size_t cap = t->cap_rows ? t->cap_rows * 2 : 16;
        char **cells = realloc(t->cells, cap * t->n_columns * sizeof(*cells));
        if (!cells) {
            t->failed = true;
            return;
        }
        t->cells = cells;
        t->cap_rows = cap;
    }
    memset(&t->cells[t->n_rows * t->n_columns], 0, t->n_columns * sizeof(*t->cells));
    t->n_rows++;
    t->next = 0;
}

/* Replace control bytes with '?' (server text must not steer the terminal). */
static void clean(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

void table_cell(struct table *t, const char *fmt, ...)
{
    if (t->failed || t->n_rows == 0 || t->next == t->n_columns)
        return;
    char buf[TABLE_MAX_CELL + 1];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > TABLE_MAX_CELL)
        memcpy(buf + TABLE_MAX_CELL - 3, "...", 4);
    clean(buf);
    char *copy = strdup(buf);
    if (!copy) {
        t->failed = true;
        return;
    }
    t->cells[(t->n_rows - 1) * t->n_columns + t->next++] = copy;
}

/* Characters of UTF-8 text s: bytes that do not continue a sequence. */
static size_t width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static void pad(FILE *f, size_t n)
{
    while (n--)
        fputc(' ', f);
}

/* Print one line of cells (texts[i] for column i) with widths w. */
static void print_line(const struct table *t, const char *const *texts, const size_t *w, FILE *f)
{
    for (size_t c = 0; c < t->n_columns; c++) {
        const char *s = texts[c] ? texts[c] : "";
        size_t n = width(s);
        bool last = c + 1 == t->n_columns;
        if (c)
            fputs("  ", f);
        if (t->columns[c].right)
            pad(f, w[c] - n);
        fputs(s, f);
        if (!t->columns[c].right && !last)
            pad(f, w[c] - n);
    }
    fputc('\n', f);
}

int table_print(const struct table *t, FILE *f)
{
    if (t->failed) {
        fprintf(stderr, "allot: out of memory\n");
        return -ALLOT_ENOMEM;
    }
    size_t w[TABLE_MAX_COLUMNS];
    const char *titles[TABLE_MAX_COLUMNS];
    for (size_t c = 0; c < t->n_columns; c++) {
        titles[c] = t->columns[c].title;
        w[c] = width(titles[c]);
        for (size_t r = 0; r < t->n_rows; r++) {
            const char *s = t->cells[r * t->n_columns + c];
            if (s && width(s) > w[c])
                w[c] = width(s);
        }
    }
    print_line(t, titles, w, f);
    for (size_t r = 0; r < t->n_rows; r++)
        print_line(t, (const char *const *)&t->cells[r * t->n_columns], w, f);
    return 0;
}

void table_cleanup(struct table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_rows * t->n_columns; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof(*t));
}
