/* Workspace accounting (docs/policy.md, "Guaranteed and borrowed"). */
#include "sched/quota.h"

#include <stdio.h>

#include "common/quantity.h"

void quota_add(struct sched_resources *a, const struct sched_resources *b, int sign)
{
    a->gpu += sign * b->gpu;
    a->cpu += sign * b->cpu;
    a->memory += sign * b->memory;
    a->storage += sign * b->storage;
}

int64_t quota_position(const struct sched_workspace *ws)
{
    return ws->held.gpu - ws->draining.gpu + ws->claimed.gpu;
}

int64_t quota_borrowed(const struct sched_workspace *ws)
{
    int64_t over = quota_position(ws) - ws->reserved;
    return over > 0 ? over : 0;
}

int64_t quota_get(const struct sched_resources *r, enum sched_resource which)
{
    switch (which) {
    case SCHED_RES_GPU:
        return r->gpu;
    case SCHED_RES_CPU:
        return r->cpu;
    case SCHED_RES_MEMORY:
        return r->memory;
    case SCHED_RES_STORAGE:
        return r->storage;
    }
    return 0;
}

const char *quota_resource_name(enum sched_resource r)
{
    static const char *const names[] = {"gpu", "cpu", "memory", "storage"};
    return (unsigned)r < 4 ? names[r] : "unknown";
}

char *quota_format(enum sched_resource which, int64_t v, char *buf, size_t len)
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

bool quota_fits_limits(const struct sched_workspace *ws, const struct sched_resources *more,
                       enum sched_resource *which)
{
    for (int r = SCHED_RES_GPU; r <= SCHED_RES_STORAGE; r++) {
        int64_t limit = quota_get(&ws->limits, (enum sched_resource)r);
        if (limit == SCHED_UNLIMITED)
            continue;
        int64_t have = quota_get(&ws->held, (enum sched_resource)r) +
                       quota_get(&ws->claimed, (enum sched_resource)r);
        if (have + quota_get(more, (enum sched_resource)r) > limit) {
            *which = (enum sched_resource)r;
            return false;
        }
    }
    return true;
}

int64_t quota_borrowable(const struct sched *s, uint32_t ws)
{
    const struct sched_tenant *t = &s->tenants[s->workspaces[ws].tenant];
    int64_t avail = t->free_units;
    for (uint32_t i = 0; i < t->n_workspaces; i++) {
        const struct sched_workspace *o = &s->workspaces[t->workspaces[i]];
        if (t->workspaces[i] == ws || o->lend)
            continue;
        int64_t idle = o->reserved - quota_position(o);
        if (idle > 0)
            avail -= idle;
    }
    return avail;
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
