/* Prometheus metrics, built from the engine's counters at scrape time. One table names
 * each metric with its type and help text. */
#include "allotd/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "allotd/controller.h"
#include "allotd/fleet.h"
#include "allotd/server.h"
#include "allotd/usage.h"
#include "common/error.h"
#include "common/quantity.h"
#include "store/store.h"

struct metric_row {
    const char *name;
    const char *type;
    const char *help;
};

static const struct metric_row metric_rows[] = {
    {"allot_gpus", "gauge", "GPUs by tenant and state (total, allocated, free)"},
    {"allot_workspace_gpus", "gauge", "GPUs held by workspace, guaranteed or borrowed"},
    {"allot_workloads", "gauge", "workloads by tenant and state"},
    {"allot_preemptions_total", "counter", "preemptions by reason"},
    {"allot_rejections_total", "counter", "rejections by reason"},
    {"allot_admission_wait_seconds", "histogram", "time from submission to admission"},
    {"allot_store_commit_seconds", "histogram", "latency of one group commit"},
    {"allot_event_streams", "gauge", "GET /v1/events streams open, closing ones included"},
    {"allot_event_streams_refused_total", "counter", "GET /v1/events answered 429 (a cap)"},
    {"allot_event_stream_overflows_total", "counter",
     "event streams cut off for falling behind (overflow event)"},
    {"allot_http_connections", "gauge", "HTTP connections open, and their cap"},
    {"allot_http_connections_closed_total", "counter",
     "connections the daemon closed: evicted at the cap, a request not whole in time, or a "
     "reply its client did not take in time (reset)"},
    {"allot_http_accept_errors_total", "counter", "failed accepts (out of file descriptors)"},
    {"allot_snapshots_total", "counter", "snapshots of the state written (result: ok, failed)"},
    {"allot_snapshot_journal_seq", "gauge", "the journal entry the newest snapshot covers"},
    {"allot_snapshot_bytes", "gauge", "size of the newest snapshot written by this process"},
    {"allot_snapshot_seconds", "gauge", "time the newest snapshot took to write"},
    {"allot_journal_trimmed_total", "counter", "journal entries deleted behind snapshots"},
    {"allot_journal_since_snapshot", "gauge", "ops committed since the newest snapshot"},
    {"allot_workloads_forgotten_total", "counter",
     "ended workloads moved from the engine to the history"},
    {"allot_history_trimmed_total", "counter", "history rows deleted by the retention"},
    {"allot_events_trimmed_total", "counter", "events deleted by their age limit (--events-keep)"},
    {"allot_events_oldest_age_seconds", "gauge",
     "age of the oldest stored event (0: none stored), what a resume can reach back to"},
    {"allot_output_bytes", "gauge", "workloads' output stored, by workspace"},
    {"allot_output_trimmed_bytes_total", "counter",
     "output deleted by the retention (--output-keep, --output-max-per-workspace)"},
    {"allot_output_trimmed_attempts_total", "counter",
     "attempts whose output the retention deleted, whole"},
    {"allot_event_stream_keepalives_total", "counter",
     "keepalive comments sent to quiet event streams (--stream-keepalive)"},
    {"allot_gpu_seconds_total", "counter",
     "GPU-seconds held by workspace: guaranteed, borrowed, and lost to preemption"},
    {"allot_requests_refused_total", "counter",
     "requests answered 429 by a cap of the intake (cap: rate, queue)"},
    {"allot_requests_waiting", "gauge", "requests waiting their turn (fair service)"},
    {"allot_agent_reports_total", "counter",
     "node agents' reports received (inventory: whether one carried the inventory)"},
    {"allot_agent_polls_held", "gauge", "agents' polls held open until a change or keepalive"},
    {"allot_engine_passes_total", "counter", "scheduling passes after committed changes"},
    {"allot_engine_checks_total", "counter",
     "periodic invariant checks run (--check-every, at most 1% of the time)"},
};

static void header(struct evbuffer *b, int i)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", metric_rows[i].name, metric_rows[i].help,
                        metric_rows[i].name, metric_rows[i].type);
}

/* Row i of the table: a metric of one value, without labels. */
static void metric_value(struct evbuffer *b, int i, unsigned long long v)
{
    header(b, i);
    evbuffer_add_printf(b, "%s %llu\n", metric_rows[i].name, v);
}

/* A histogram from buckets whose upper bounds are base * factor^i (in microseconds or
 * milliseconds, scale converts to seconds). */
static void histogram(struct evbuffer *b, const char *name, const uint64_t *counts, int n,
                      double first, double factor, double sum)
{
    uint64_t cum = 0;
    double le = first;
    for (int i = 0; i < n; i++, le *= factor) {
        cum += counts[i];
        if (i == n - 1)
            evbuffer_add_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
        else
            evbuffer_add_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, le,
                                (unsigned long long)cum);
    }
    evbuffer_add_printf(b, "%s_sum %g\n%s_count %llu\n", name, sum, name, (unsigned long long)cum);
}

/* One workspace's stored output as a line of allot_output_bytes. */
static int output_bytes_line(void *ctx, const char *workspace, int64_t bytes)
{
    evbuffer_add_printf(ctx, "allot_output_bytes{workspace=\"%s\"} %lld\n", workspace,
                        (long long)bytes);
    return 0;
}

/* The retention of events and output (docs/operations.md, "Retention"): counters, and two
 * cheap reads of the store (the oldest event by its key; one row per workspace). */
static void retention_metrics(struct controller *ctl, struct evbuffer *b)
{
    int64_t seq = 0, t_ms = 0;
    metric_value(b, 21, ctl->events_trimmed);
    header(b, 22);
    if (store_events_first(ctl->store, &seq, &t_ms) == 0)
        evbuffer_add_printf(b, "allot_events_oldest_age_seconds %g\n",
                            seq ? (double)(controller_now(ctl) - t_ms) / 1e3 : 0.0);
    header(b, 23);
    store_output_totals(ctl->store, output_bytes_line, b);
    metric_value(b, 24, ctl->output_trimmed_bytes);
    metric_value(b, 25, ctl->output_trimmed_attempts);
    struct stream_stats ss;
    stream_stats(ctl->streams, &ss);
    metric_value(b, 26, ss.keepalives);
}

void metrics_reply(struct controller *ctl, struct call *c)
{
    const struct sched *s = ctl->engine;
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        call_error(c, -ALLOT_ENOMEM, 503, NULL, "out of memory");
        return;
    }
    header(b, 0);
    for (uint32_t t = 0; t < s->n_tenants; t++) {
        const struct sched_tenant *tn = &s->tenants[t];
        if (!auth_sees_tenant(&c->who, tn->name))
            continue;
        double total = (double)tn->healthy_units / QUANTITY_GPU_UNITS;
        double free_gpus = (double)tn->free_units / QUANTITY_GPU_UNITS;
        evbuffer_add_printf(b, "allot_gpus{tenant=\"%s\",state=\"total\"} %g\n", tn->name, total);
        evbuffer_add_printf(b, "allot_gpus{tenant=\"%s\",state=\"allocated\"} %g\n", tn->name,
                            total - free_gpus);
        evbuffer_add_printf(b, "allot_gpus{tenant=\"%s\",state=\"free\"} %g\n", tn->name,
                            free_gpus);
    }
    header(b, 1);
    for (uint32_t i = 0; i < s->n_workspaces; i++) {
        const struct sched_workspace *ws = &s->workspaces[i];
        const char *tenant = s->tenants[ws->tenant].name;
        if (!auth_sees_tenant(&c->who, tenant))
            continue;
        int64_t held = ws->held.gpu, guaranteed = held < ws->reserved ? held : ws->reserved;
        evbuffer_add_printf(
            b, "allot_workspace_gpus{tenant=\"%s\",workspace=\"%s\",kind=\"guaranteed\"} %g\n",
            tenant, ws->name, (double)guaranteed / QUANTITY_GPU_UNITS);
        evbuffer_add_printf(
            b, "allot_workspace_gpus{tenant=\"%s\",workspace=\"%s\",kind=\"borrowed\"} %g\n",
            tenant, ws->name, (double)(held - guaranteed) / QUANTITY_GPU_UNITS);
    }
    header(b, 2);
    for (uint32_t t = 0; t < s->n_tenants; t++) {
        if (!auth_sees_tenant(&c->who, s->tenants[t].name))
            continue;
        uint64_t count[SCHED_STATE_COUNT] = {0};
        for (uint32_t i = 0; i < s->n_workloads; i++)
            if (s->workloads[i].name && s->workloads[i].tenant == t &&
                !(s->workloads[i].state == SCHED_REJECTED &&
                  s->workloads[i].reason == SCHED_REASON_UNKNOWN_WORKSPACE))
                count[s->workloads[i].state]++;
        for (int st = 0; st < SCHED_STATE_COUNT; st++)
            evbuffer_add_printf(b, "allot_workloads{tenant=\"%s\",state=\"%s\"} %llu\n",
                                s->tenants[t].name, sched_state_name((enum sched_state)st),
                                (unsigned long long)count[st]);
    }
    header(b, 27);
    usage_metrics(ctl->usage, b, &c->who);
    /* platform-wide counters: the platform admin only */
    if (c->who.role == ROLE_ADMIN) {
        header(b, 3);
        for (int r = 0; r < SCHED_REASON_COUNT; r++)
            if (ctl->preemptions[r])
                evbuffer_add_printf(b, "allot_preemptions_total{reason=\"%s\"} %llu\n",
                                    reason_name((enum sched_reason)r),
                                    (unsigned long long)ctl->preemptions[r]);
        header(b, 4);
        for (int r = 0; r < SCHED_REASON_COUNT; r++)
            if (ctl->rejections[r])
                evbuffer_add_printf(b, "allot_rejections_total{reason=\"%s\"} %llu\n",
                                    reason_name((enum sched_reason)r),
                                    (unsigned long long)ctl->rejections[r]);
        header(b, 5);
        /* buckets: <= 1 ms, 4 ms, 16 ms, ... (powers of 4 in milliseconds) */
        histogram(b, "allot_admission_wait_seconds", ctl->admission_hist, 12, 0.001, 4,
                  (double)ctl->admission_ms_sum / 1e3);
        header(b, 6);
        /* buckets: <= 250 us, 500 us, 1 ms, ... (powers of 2) */
        histogram(b, "allot_store_commit_seconds", ctl->commit_hist, 12, 0.00025, 2,
                  (double)ctl->commit_us_sum / 1e6);
        struct stream_stats ss;
        stream_stats(ctl->streams, &ss);
        metric_value(b, 7, ss.open);
        metric_value(b, 8, ss.refused);
        metric_value(b, 9, ss.overflows);
        struct gate_stats g = {0};
        if (ctl->gate)
            gate_stats(ctl->gate, &g);
        header(b, 10);
        evbuffer_add_printf(b, "allot_http_connections{state=\"open\"} %u\n", g.open);
        evbuffer_add_printf(b, "allot_http_connections{state=\"max\"} %u\n", g.max);
        header(b, 11);
        evbuffer_add_printf(b, "allot_http_connections_closed_total{why=\"evicted\"} %llu\n",
                            (unsigned long long)g.evicted);
        evbuffer_add_printf(b,
                            "allot_http_connections_closed_total{why=\"request_timeout\"} %llu\n",
                            (unsigned long long)g.timed_out);
        evbuffer_add_printf(b,
                            "allot_http_connections_closed_total{why=\"reply_unfinished\"} %llu\n",
                            (unsigned long long)g.unfinished);
        metric_value(b, 12, g.accept_errors);
        header(b, 13);
        evbuffer_add_printf(b, "allot_snapshots_total{result=\"ok\"} %llu\n",
                            (unsigned long long)ctl->snapshots);
        evbuffer_add_printf(b, "allot_snapshots_total{result=\"failed\"} %llu\n",
                            (unsigned long long)ctl->snapshot_failures);
        header(b, 14);
        evbuffer_add_printf(b, "allot_snapshot_journal_seq %lld\n", (long long)ctl->snapshot_seq);
        metric_value(b, 15, ctl->snapshot_bytes);
        header(b, 16);
        evbuffer_add_printf(b, "allot_snapshot_seconds %g\n", (double)ctl->snapshot_us / 1e6);
        metric_value(b, 17, ctl->journal_trimmed);
        metric_value(b, 18, ctl->ops_since_snapshot);
        metric_value(b, 19, ctl->forgotten);
        metric_value(b, 20, ctl->history_trimmed);
        retention_metrics(ctl, b);
        struct intake_stats in = {0};
        if (ctl->server)
            server_intake_stats(ctl->server, &in);
        header(b, 28);
        evbuffer_add_printf(b, "allot_requests_refused_total{cap=\"rate\"} %llu\n",
                            (unsigned long long)in.rate_refused);
        evbuffer_add_printf(b, "allot_requests_refused_total{cap=\"queue\"} %llu\n",
                            (unsigned long long)in.queue_refused);
        metric_value(b, 29, in.waiting);
        struct fleet_stats fs = {0};
        if (ctl->fleet)
            fleet_stats(ctl->fleet, &fs);
        header(b, 30);
        evbuffer_add_printf(b, "allot_agent_reports_total{inventory=\"yes\"} %llu\n",
                            (unsigned long long)fs.inventories);
        evbuffer_add_printf(b, "allot_agent_reports_total{inventory=\"no\"} %llu\n",
                            (unsigned long long)(fs.reports - fs.inventories));
        metric_value(b, 31, fs.held);
        metric_value(b, 32, ctl->passes);
        metric_value(b, 33, ctl->checks);
    }
    call_send(c, 200, "text/plain; version=0.0.4", b);
    evbuffer_free(b);
}
