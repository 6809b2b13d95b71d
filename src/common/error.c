/* Lookup of the error table in error.h, and allot_fail. */
#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>

struct error_row {
    const char *name;
    int status;
    const char *message;
};

static const struct error_row error_rows[] = {{"OK", 200, "success"},
#define ALLOT_ERR_ROW(name, status, msg) {#name, status, msg},
                                              ALLOT_ERROR_TABLE(ALLOT_ERR_ROW)
#undef ALLOT_ERR_ROW
};

static const struct error_row *error_row(int err)
{
    if (err < 0)
        err = -err;
    if (err >= ALLOT_E_COUNT)
        return &error_rows[ALLOT_EINVAL];
    return &error_rows[err];
}

const char *allot_strerror(int err)
{
    return error_row(err)->message;
}

const char *allot_errname(int err)
{
    return error_row(err)->name;
}

int allot_http_status(int err)
{
    return error_row(err)->status;
}

int allot_fail(char *err, size_t len, int rc, const char *fmt, ...)
{
    if (err && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, len, fmt, ap);
        va_end(ap);
    }
    return rc;
}
