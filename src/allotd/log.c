/* logfmt lines on stderr. Values that may hold spaces or quotes are quoted and escaped. */
#include "allotd/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* A line being built: written to stderr with one write when complete. */
struct line {
    char buf[2048];
    size_t n;
};

static void put(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct line *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (l->n < sizeof(l->buf)) {
        int k = vsnprintf(l->buf + l->n, sizeof(l->buf) - l->n, fmt, ap);
        l->n += k > 0 ? (size_t)k : 0;
    }
    va_end(ap);
    if (l->n >= sizeof(l->buf))
        l->n = sizeof(l->buf) - 1;
}

static void line_end(struct line *l)
{
    if (l->n >= sizeof(l->buf) - 1)
        l->n = sizeof(l->buf) - 2;
    l->buf[l->n++] = '\n';
    fwrite(l->buf, 1, l->n, stderr);
}

static void log_time(struct line *l)
{
    struct timespec ts;
    struct tm tm;
    char buf[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    put(l, "time=%s.%03ldZ ", buf, ts.tv_nsec / 1000000);
}

/* key="value" with quotes and backslashes escaped and control characters dropped. */
static void log_quoted(struct line *l, const char *key, const char *v)
{
    put(l, " %s=\"", key);
    for (; v && *v && l->n + 3 < sizeof(l->buf); v++) {
        unsigned char c = (unsigned char)*v;
        if (c == '"' || c == '\\')
            l->buf[l->n++] = '\\';
        if (c >= 0x20)
            l->buf[l->n++] = (char)c;
    }
    put(l, "\"");
}

void log_event(const struct sched *s, const struct sched_event *e)
{
    struct line l = {.n = 0};
    log_time(&l);
    put(&l, "level=info event=%s", sched_event_name(e->kind));
    if (e->workload != SCHED_NONE) {
        const struct sched_workload *w = &s->workloads[e->workload];
        log_quoted(&l, "workload", w->name);
        if (w->workspace < s->n_workspaces)
            log_quoted(&l, "workspace", s->workspaces[w->workspace].name);
    }
    if (e->tenant != SCHED_NONE && e->tenant < s->n_tenants)
        log_quoted(&l, "tenant", s->tenants[e->tenant].name);
    if (e->reason)
        put(&l, " reason=%s", reason_name(e->reason));
    if (e->other != SCHED_NONE)
        log_quoted(&l, "for", s->workloads[e->other].name);
    if (e->message[0])
        log_quoted(&l, "msg", e->message);
    line_end(&l);
}

static void log_line(const char *level, const char *fmt, va_list ap)
{
    char msg[1024];
    struct line l = {.n = 0};
    vsnprintf(msg, sizeof(msg), fmt, ap);
    log_time(&l);
    put(&l, "level=%s", level);
    log_quoted(&l, "msg", msg);
    line_end(&l);
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
