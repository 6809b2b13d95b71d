/* Lookups in the reason table of reason.h. */
#include "sched/reason.h"

#include <string.h>

#include "common/error.h"

struct reason_row {
    const char *name;
    int error;
    const char *text;
};

static const struct reason_row reason_rows[] = {
#define SCHED_REASON_ROW(e, name, err, text) {name, err, text},
    SCHED_REASON_TABLE(SCHED_REASON_ROW)
#undef SCHED_REASON_ROW
};

const char *reason_name(enum sched_reason r)
{
    return (unsigned)r < SCHED_REASON_COUNT ? reason_rows[r].name : "unknown";
}

const char *reason_text(enum sched_reason r)
{
    return (unsigned)r < SCHED_REASON_COUNT ? reason_rows[r].text : "unknown";
}

int reason_error(enum sched_reason r)
{
    return (unsigned)r < SCHED_REASON_COUNT ? reason_rows[r].error : ALLOT_EINVAL;
}

int reason_parse(const char *name, enum sched_reason *r)
{
    for (int i = 0; i < SCHED_REASON_COUNT; i++) {
        if (strcmp(reason_rows[i].name, name) == 0) {
            *r = (enum sched_reason)i;
            return 0;
        }
    }
    return -ALLOT_ENOENT;
}
