/* Allot's error codes: one X-macro table gives each code its name, message and HTTP status.
 * Functions that can fail return 0 or the negative of one of these codes. */
#ifndef ALLOT_COMMON_ERROR_H
#define ALLOT_COMMON_ERROR_H

#include <stddef.h>

/* X(NAME, http_status, message) */
#define ALLOT_ERROR_TABLE(X)                                                                       \
    X(INVAL, 400, "invalid argument")                                                              \
    X(NOMEM, 500, "out of memory")                                                                 \
    X(NOENT, 404, "not found")                                                                     \
    X(EXIST, 409, "already exists")                                                                \
    X(RANGE, 400, "value out of range")                                                            \
    X(IO, 500, "input/output error")                                                               \
    X(PARSE, 400, "malformed input")                                                               \
    X(CONFIG, 400, "invalid configuration")                                                        \
    X(LIMIT, 400, "request exceeds a workspace limit")                                             \
    X(NOFIT, 400, "no node of the tenant could ever hold the request")                             \
    X(RESERVATION, 409, "reservations would exceed the tenant's GPUs")                             \
    X(STATE, 409, "not allowed in the object's current state")                                     \
    X(REJECTED, 422, "workload rejected")                                                          \
    X(CHECK, 500, "invariant violated")                                                            \
    X(UNAUTHORIZED, 401, "a valid bearer token is required")                                       \
    X(FORBIDDEN, 403, "not allowed for this role")                                                 \
    X(UNAVAILABLE, 503, "temporarily unavailable")                                                 \
    X(FULL, 503, "the disk is full")                                                               \
    X(TOOMANY, 429, "too many at once; retry later")

enum allot_err {
    ALLOT_OK = 0,
#define ALLOT_ERR_ENUM(name, status, msg) ALLOT_E##name,
    ALLOT_ERROR_TABLE(ALLOT_ERR_ENUM)
#undef ALLOT_ERR_ENUM
        ALLOT_E_COUNT
};

/* Message for err (negative or positive code); never NULL. */
const char *allot_strerror(int err);
/* Symbolic name ("INVAL") for err; never NULL. */
const char *allot_errname(int err);
/* HTTP status that answers err; 200 for 0. */
int allot_http_status(int err);

/* Write a sentence (printf format) into err (len bytes; may be NULL with len 0) and return
 * rc: the one line of a function that fails with a reason, `return allot_fail(...)`. */
int allot_fail(char *err, size_t len, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
