/* Workspace accounting (docs/policy.md, "Guaranteed and borrowed"). */
#include "sched/quota.h"

#include <stdio.h>

#include "common/quantity.h"
#include "sched/event.h"

int64_t sched_workspace_position(const struct sched_workspace *ws)
{
    return quota_position(ws);
}

int64_t sched_workspace_guaranteed(const struct sched_workspace *ws)
{
    int64_t position = sched_workspace_position(ws);
    int64_t within = position < ws->reserved ? position : ws->reserved;
    return within > 0 ? within : 0;
}

int64_t sched_workspace_borrowed(const struct sched_workspace *ws)
{
    int64_t over = sched_workspace_position(ws) - ws->reserved;
    return over > 0 ? over : 0;
}

/* The field of r that holds resource which, or NULL for an unknown resource. */
static int64_t *resource_field(struct sched_resources *r, enum sched_resource which)
{
    switch (which) {
    case SCHED_RES_GPU:
        return &r->gpu;
    case SCHED_RES_CPU:
        return &r->cpu;
    case SCHED_RES_MEMORY:
        return &r->memory;
    case SCHED_RES_STORAGE:
        return &r->storage;
    case SCHED_RES_COUNT:
        break;
    }
    return NULL;
}

int64_t sched_resources_get(const struct sched_resources *r, enum sched_resource which)
{
    return quota_res(r, which);
}

void sched_resources_set(struct sched_resources *r, enum sched_resource which, int64_t v)
{
    int64_t *field = resource_field(r, which);
    if (field)
        *field = v;
}

const char *sched_resource_name(enum sched_resource r)
{
    static const char *const names[SCHED_RES_COUNT] = {"gpu", "cpu", "memory", "storage"};
    return (unsigned)r < SCHED_RES_COUNT ? names[r] : "unknown";
}

char *sched_resource_format(enum sched_resource which, int64_t v, char *buf, size_t len)
{
    if (v == SCHED_UNLIMITED) {
        snprintf(buf, len, "unlimited");
        return buf;
    }
    switch (which) {
    case SCHED_RES_GPU:
        return quantity_format_gpu(v, buf, len);
    case SCHED_RES_CPU:
        return quantity_format_cpu(v, buf, len);
    default:
        return quantity_format_bytes(v, buf, len);
    }
}

/* GPU units of ws's reservation that it does not use now and does not lend (else 0). */
static int64_t idle_unlent(const struct sched_workspace *ws)
{
    if (ws->lend)
        return 0;
    int64_t idle = ws->reserved - quota_position(ws);
    return idle > 0 ? idle : 0;
}

int64_t quota_idle_unlent(const struct sched *s, uint32_t tid)
{
    const struct sched_tenant *t = &s->tenants[tid];
    int64_t sum = 0;
    for (uint32_t i = 0; i < t->n_workspaces; i++)
        sum += idle_unlent(&s->workspaces[t->workspaces[i]]);
    return sum;
}

int64_t quota_borrowable_given(const struct sched *s, uint32_t ws, int64_t idle)
{
    const struct sched_workspace *w = &s->workspaces[ws];
    return s->tenants[w->tenant].free_units - (idle - idle_unlent(w));
}

int64_t quota_borrowable(const struct sched *s, uint32_t ws)
{
    return quota_borrowable_given(s, ws, quota_idle_unlent(s, s->workspaces[ws].tenant));
}

void quota_account(struct sched_workspace *ws, int64_t now)
{
    int64_t dt = now - ws->acct_ms;
    if (dt <= 0)
        return;
    int64_t held = ws->held.gpu;
    int64_t guaranteed = held < ws->reserved ? held : ws->reserved;
    ws->guaranteed_unit_ms += guaranteed * dt;
    ws->borrowed_unit_ms += (held - guaranteed) * dt;
    ws->acct_ms = now;
}

bool quota_over_limits(const struct sched_workspace *ws, enum sched_resource *which)
{
    struct sched_resources kept = ws->held;
    quota_add(&kept, &ws->draining, -1);
    quota_add(&kept, &ws->claimed, +1);
    for (int r = 0; r < SCHED_RES_COUNT; r++) {
        int64_t limit = sched_resources_get(&ws->limits, (enum sched_resource)r);
        if (limit != SCHED_UNLIMITED &&
            sched_resources_get(&kept, (enum sched_resource)r) > limit) {
            *which = (enum sched_resource)r;
            return true;
        }
    }
    return false;
}

void quota_degraded_check(struct sched *s, uint32_t tid, int64_t now)
{
    struct sched_tenant *t = &s->tenants[tid];
    bool degraded = t->healthy_units < t->reserved_units;
    if (degraded == t->degraded)
        return;
    t->degraded = degraded;
    struct sched_event *e =
        event_emit(s, degraded ? SCHED_EV_RESERVATION_DEGRADED : SCHED_EV_RESERVATION_RESTORED, now,
                   SCHED_NONE);
    e->tenant = tid;
    e->a = t->healthy_units;
    e->b = t->reserved_units;
    char have[32], want[32];
    quantity_format_gpu(t->healthy_units, have, sizeof(have));
    quantity_format_gpu(t->reserved_units, want, sizeof(want));
    snprintf(e->message, sizeof(e->message),
             degraded ? "tenant %s has %s healthy GPUs for %s reserved: guarantees are degraded"
                      : "tenant %s has %s healthy GPUs for %s reserved again",
             t->name, have, want);
}
