/* Logging in logfmt to stderr: one line per state change with workload, workspace, tenant
 * and reason, so that a platform team can grep and ship it. */
#ifndef ALLOT_ALLOTD_LOG_H
#define ALLOT_ALLOTD_LOG_H

#include "sched/sched.h"

/* One engine event as a logfmt line. */
void log_event(const struct sched *s, const struct sched_event *e);
/* level=info / level=error lines with the formatted text as msg="...". */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
