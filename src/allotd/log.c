/* logfmt lines on stderr. Values that may hold spaces or quotes are quoted and escaped. */
#include "allotd/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void log_time(void)
{
    struct timespec ts;
    struct tm tm;
    char buf[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "time=%s.%03ldZ ", buf, ts.tv_nsec / 1000000);
}

/* key="value" with quotes and backslashes escaped and control characters dropped. */
static void log_quoted(const char *key, const char *v)
{
    fprintf(stderr, " %s=\"", key);
    for (; v && *v; v++) {
        unsigned char c = (unsigned char)*v;
        if (c == '"' || c == '\\')
            fputc('\\', stderr);
        if (c >= 0x20)
            fputc(c, stderr);
    }
    fputc('"', stderr);
}

void log_event(const struct sched *s, const struct sched_event *e)
{
    log_time();
    fprintf(stderr, "level=info event=%s", sched_event_name(e->kind));
    if (e->workload != SCHED_NONE) {
        const struct sched_workload *w = &s->workloads[e->workload];
        log_quoted("workload", w->name);
        if (w->workspace < s->n_workspaces)
            log_quoted("workspace", s->workspaces[w->workspace].name);
    }
    if (e->tenant != SCHED_NONE && e->tenant < s->n_tenants)
        log_quoted("tenant", s->tenants[e->tenant].name);
    if (e->reason)
        fprintf(stderr, " reason=%s", reason_name(e->reason));
    if (e->other != SCHED_NONE)
        log_quoted("for", s->workloads[e->other].name);
    if (e->message[0])
        log_quoted("msg", e->message);
    fputc('\n', stderr);
}

static void log_line(const char *level, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    log_time();
    fprintf(stderr, "level=%s", level);
    log_quoted("msg", msg);
    fputc('\n', stderr);
}

void log_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_line("info", fmt, ap);
    va_end(ap);
}

void log_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_line("error", fmt, ap);
    va_end(ap);
}
