/* Workspaces: adding one, and changing its limits, reservation, lend, weight and
 * require_image (docs/policy.md, "Workspaces" and "Images"). */
#include <stdio.h>
#include <string.h>

#include "common/array.h"
#include "common/error.h"
#include "common/quantity.h"
#include "sched/engine.h"
#include "sched/event.h"
#include "sched/lifecycle.h"
#include "sched/quota.h"
#include "sched/sched.h"

/* Validate a workspace spec's numbers. */
static int workspace_spec_check(const struct sched_workspace_spec *spec, char *err, size_t len)
{
    for (int r = 0; r < SCHED_RES_COUNT; r++) {
        int64_t v = sched_resources_get(&spec->limits, (enum sched_resource)r);
        if (v < 0 || (v > QUANTITY_MAX && v != SCHED_UNLIMITED)) {
            snprintf(err, len, "workspace '%s': limit %s must be between 0 and %lld", spec->name,
                     sched_resource_name((enum sched_resource)r), (long long)QUANTITY_MAX);
            return -ALLOT_ERANGE;
        }
    }
    if (spec->reserved < 0 || spec->reserved > QUANTITY_MAX) {
        snprintf(err, len, "workspace '%s': reserved gpu may not be negative", spec->name);
        return -ALLOT_ERANGE;
    }
    if (spec->limits.gpu != SCHED_UNLIMITED && spec->reserved > spec->limits.gpu) {
        char r[32], l[32];
        snprintf(err, len, "workspace '%s': reserved gpu %s is above its gpu limit %s", spec->name,
                 quantity_format_gpu(spec->reserved, r, sizeof(r)),
                 quantity_format_gpu(spec->limits.gpu, l, sizeof(l)));
        return -ALLOT_ECONFIG;
    }
    if (spec->weight < 1 || spec->weight > 1000000) {
        snprintf(err, len, "workspace '%s': weight must be between 1 and 1000000", spec->name);
        return -ALLOT_ERANGE;
    }
    for (int k = 0; k < SCHED_KIND_COUNT; k++)
        if (spec->min_runtime_ms[k] < 0 || spec->min_runtime_ms[k] > SCHED_MAX_MIN_RUNTIME_MS) {
            snprintf(err, len, "workspace '%s': min_runtime of %s must be between 0 and 30d",
                     spec->name, sched_kind_name((enum sched_kind)k));
            return -ALLOT_ERANGE;
        }
    if (spec->default_time_limit_ms < 0 || spec->default_time_limit_ms > SCHED_MAX_TIME_LIMIT_MS ||
        spec->max_time_limit_ms < 0 || spec->max_time_limit_ms > SCHED_MAX_TIME_LIMIT_MS) {
        snprintf(err, len, "workspace '%s': time limits must be between 0 (none) and 365 days",
                 spec->name);
        return -ALLOT_ERANGE;
    }
    if (spec->max_queued > SCHED_MAX_QUEUED) {
        snprintf(err, len, "workspace '%s': limits.queued must be between 1 and %d", spec->name,
                 SCHED_MAX_QUEUED);
        return -ALLOT_ERANGE;
    }
    if (spec->max_time_limit_ms > 0 && spec->default_time_limit_ms > spec->max_time_limit_ms) {
        char d[32], m[32];
        snprintf(err, len, "workspace '%s': default_time_limit %s is above max_time_limit %s",
                 spec->name, quantity_format_duration(spec->default_time_limit_ms, d, sizeof(d)),
                 quantity_format_duration(spec->max_time_limit_ms, m, sizeof(m)));
        return -ALLOT_ECONFIG;
    }
    return 0;
}

/* Would the tenant's reservations, with `delta` more, still fit in what it owns? */
static int reservation_check(const struct sched *s, uint32_t tid, int64_t delta,
                             const char *ws_name, char *err, size_t len)
{
    const struct sched_tenant *t = &s->tenants[tid];
    if (t->reserved_units + delta <= t->owned_units)
        return 0;
    char want[32], own[32];
    snprintf(err, len,
             "workspace '%s': tenant '%s' would reserve %s GPUs but owns only %s; lower a "
             "reservation or give the tenant more nodes",
             ws_name, t->name, quantity_format_gpu(t->reserved_units + delta, want, sizeof(want)),
             quantity_format_gpu(t->owned_units, own, sizeof(own)));
    return -ALLOT_ERESERVATION;
}

int sched_workspace_add(struct sched *s, const struct sched_workspace_spec *spec, uint32_t *id,
                        char *err, size_t len)
{
    uint32_t tenant, dummy;
    int rc = engine_name_check(spec->name, "workspace", err, len);
    if (rc)
        return rc;
    const char *slash = strchr(spec->name, '/');
    if (!slash || slash == spec->name || !slash[1] || strchr(slash + 1, '/')) {
        snprintf(err, len, "workspace name '%s' must be tenant/workspace", spec->name);
        return -ALLOT_EINVAL;
    }
    char tname[128];
    snprintf(tname, sizeof(tname), "%.*s", (int)(slash - spec->name), spec->name);
    if (hmap_get(&s->tenant_ids, tname, &tenant)) {
        snprintf(err, len, "workspace '%s': unknown tenant '%s'", spec->name, tname);
        return -ALLOT_ENOENT;
    }
    if (hmap_get(&s->workspace_ids, spec->name, &dummy) == 0) {
        snprintf(err, len, "workspace '%s' already exists", spec->name);
        return -ALLOT_EEXIST;
    }
    rc = workspace_spec_check(spec, err, len);
    if (!rc)
        rc = reservation_check(s, tenant, spec->reserved, spec->name, err, len);
    if (rc)
        return rc;
    struct sched_tenant *t = &s->tenants[tenant];
    if (ARRAY_GROW(s->workspaces, s->n_workspaces, s->cap_workspaces) ||
        ARRAY_GROW(t->workspaces, t->n_workspaces, t->cap_workspaces))
        return -ALLOT_ENOMEM;
    struct sched_workspace *ws = &s->workspaces[s->n_workspaces];
    memset(ws, 0, sizeof(*ws));
    ws->name = arena_strdup(&s->names, spec->name);
    if (!ws->name || hmap_put(&s->workspace_ids, ws->name, s->n_workspaces))
        return -ALLOT_ENOMEM;
    ws->tenant = tenant;
    ws->limits = spec->limits;
    ws->reserved = spec->reserved;
    ws->lend = spec->lend;
    ws->weight = spec->weight;
    ws->require_image = spec->require_image;
    memcpy(ws->min_runtime_ms, spec->min_runtime_ms, sizeof(ws->min_runtime_ms));
    ws->default_time_limit_ms = spec->default_time_limit_ms;
    ws->max_time_limit_ms = spec->max_time_limit_ms;
    ws->max_queued = spec->max_queued ? spec->max_queued : SCHED_QUEUED_WORKSPACE_DEFAULT;
    ws->running_head = SCHED_NONE;
    ws->acct_ms = s->last_now;
    t->workspaces[t->n_workspaces++] = s->n_workspaces;
    t->reserved_units += spec->reserved;
    t->dirty = true;
    if (id)
        *id = s->n_workspaces;
    s->n_workspaces++;
    quota_degraded_check(s, tenant, s->last_now);
    return 0;
}

/* "reserved 4 -> 2, lend true -> false": what spec changes in ws. */
static void workspace_change_text(const struct sched_workspace *ws,
                                  const struct sched_workspace_spec *spec, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "%s:", ws->name);
    char a[32], b[32];
    for (int r = 0; r < SCHED_RES_COUNT && used < len; r++) {
        enum sched_resource which = (enum sched_resource)r;
        int64_t old = sched_resources_get(&ws->limits, which);
        int64_t new = sched_resources_get(&spec->limits, which);
        if (old != new)
            used += (size_t)snprintf(buf + used, len - used, " limit %s %s -> %s",
                                     sched_resource_name(which),
                                     sched_resource_format(which, old, a, sizeof(a)),
                                     sched_resource_format(which, new, b, sizeof(b)));
    }
    if (ws->reserved != spec->reserved && used < len)
        used += (size_t)snprintf(buf + used, len - used, " reserved %s -> %s",
                                 quantity_format_gpu(ws->reserved, a, sizeof(a)),
                                 quantity_format_gpu(spec->reserved, b, sizeof(b)));
    if (ws->lend != spec->lend && used < len)
        used += (size_t)snprintf(buf + used, len - used, " lend %s -> %s",
                                 ws->lend ? "true" : "false", spec->lend ? "true" : "false");
    if (ws->weight != spec->weight && used < len)
        used +=
            (size_t)snprintf(buf + used, len - used, " weight %u -> %u", ws->weight, spec->weight);
    if (ws->require_image != spec->require_image && used < len)
        used += (size_t)snprintf(buf + used, len - used, " require_image %s -> %s",
                                 ws->require_image ? "true" : "false",
                                 spec->require_image ? "true" : "false");
    for (int k = 0; k < SCHED_KIND_COUNT && used < len; k++)
        if (ws->min_runtime_ms[k] != spec->min_runtime_ms[k])
            used +=
                (size_t)snprintf(buf + used, len - used, " min_runtime %s %s -> %s",
                                 sched_kind_name((enum sched_kind)k),
                                 quantity_format_duration(ws->min_runtime_ms[k], a, sizeof(a)),
                                 quantity_format_duration(spec->min_runtime_ms[k], b, sizeof(b)));
    const struct {
        const char *key;
        int64_t old, new;
    } limits[] = {{"default_time_limit", ws->default_time_limit_ms, spec->default_time_limit_ms},
                  {"max_time_limit", ws->max_time_limit_ms, spec->max_time_limit_ms}};
    for (size_t i = 0; i < 2 && used < len; i++)
        if (limits[i].old != limits[i].new)
            used += (size_t)snprintf(
                buf + used, len - used, " %s %s -> %s", limits[i].key,
                limits[i].old ? quantity_format_duration(limits[i].old, a, sizeof(a)) : "none",
                limits[i].new ? quantity_format_duration(limits[i].new, b, sizeof(b)) : "none");
    uint32_t queued = spec->max_queued ? spec->max_queued : SCHED_QUEUED_WORKSPACE_DEFAULT;
    if (ws->max_queued != queued && used < len)
        snprintf(buf + used, len - used, " limit queued %u -> %u", ws->max_queued, queued);
}

int sched_workspace_update(struct sched *s, const struct sched_workspace_spec *spec, int64_t now,
                           char *err, size_t len)
{
    uint32_t wid;
    if (!spec->name || hmap_get(&s->workspace_ids, spec->name, &wid)) {
        snprintf(err, len, "no workspace '%s'", spec->name ? spec->name : "");
        return -ALLOT_ENOENT;
    }
    struct sched_workspace *ws = &s->workspaces[wid];
    int rc = workspace_spec_check(spec, err, len);
    if (!rc)
        rc = reservation_check(s, ws->tenant, spec->reserved - ws->reserved, spec->name, err, len);
    if (rc)
        return rc;
    struct sched_tenant *t = &s->tenants[ws->tenant];
    s->last_now = now;
    struct sched_event *e = event_emit(s, SCHED_EV_WORKSPACE_UPDATED, now, SCHED_NONE);
    e->workspace = wid;
    e->tenant = ws->tenant;
    workspace_change_text(ws, spec, e->message, sizeof(e->message));
    quota_account(ws, now);
    t->reserved_units += spec->reserved - ws->reserved;
    ws->limits = spec->limits;
    ws->reserved = spec->reserved;
    ws->lend = spec->lend;
    ws->weight = spec->weight;
    ws->require_image = spec->require_image; /* for later submissions: nothing queued changes */
    /* the next pass reads it: running work may become preemptible sooner or later */
    memcpy(ws->min_runtime_ms, spec->min_runtime_ms, sizeof(ws->min_runtime_ms));
    ws->default_time_limit_ms = spec->default_time_limit_ms; /* later submissions, likewise */
    ws->max_time_limit_ms = spec->max_time_limit_ms;
    /* later submissions: what is queued already stays */
    ws->max_queued = spec->max_queued ? spec->max_queued : SCHED_QUEUED_WORKSPACE_DEFAULT;
    t->dirty = true;
    /* A lowered limit drains the newest running workloads until what stays fits. */
    enum sched_resource which;
    while (quota_over_limits(ws, &which) && ws->running_head != SCHED_NONE) {
        /* (only reclaiming work left: it keeps its claim) */
        rc = lifecycle_drain(s, ws->running_head, SCHED_REASON_LIMIT_REDUCED, SCHED_NONE, now);
        if (rc)
            return rc;
    }
    quota_degraded_check(s, ws->tenant, now);
    return 0;
}

int sched_image_required(const struct sched *s, uint32_t ws, char *why, size_t len)
{
    if (ws >= s->n_workspaces)
        return 0;
    const struct sched_workspace *w = &s->workspaces[ws];
    const struct sched_tenant *t = &s->tenants[w->tenant];
    if (!w->require_image && !t->require_image)
        return 0;
    if (w->require_image)
        snprintf(why, len, "workspace %s requires an image (require_image) and none is given",
                 w->name);
    else
        snprintf(why, len,
                 "tenant %s requires an image (require_image) in all its workspaces and none is "
                 "given",
                 t->name);
    return -ALLOT_EINVAL;
}

int sched_tenant_set_queued(struct sched *s, uint32_t tenant, uint32_t max_queued, char *err,
                            size_t len)
{
    if (tenant >= s->n_tenants) {
        snprintf(err, len, "no such tenant");
        return -ALLOT_ENOENT;
    }
    if (max_queued > SCHED_MAX_QUEUED) {
        snprintf(err, len, "tenant '%s': limits.queued must be between 1 and %d",
                 s->tenants[tenant].name, SCHED_MAX_QUEUED);
        return -ALLOT_ERANGE;
    }
    s->tenants[tenant].max_queued = max_queued ? max_queued : SCHED_QUEUED_TENANT_DEFAULT;
    return 0;
}

int sched_queued_check(const struct sched *s, uint32_t ws, struct sched_queued_cap *full)
{
    if (ws >= s->n_workspaces)
        return -ALLOT_ENOENT;
    const struct sched_workspace *w = &s->workspaces[ws];
    const struct sched_tenant *t = &s->tenants[w->tenant];
    struct sched_queued_cap cap = {false, w->name, w->max_queued, w->n_pending};
    if (w->n_pending < w->max_queued) {
        uint64_t queued = 0; /* a tenant has few workspaces: summed, not kept */
        for (uint32_t i = 0; i < t->n_workspaces; i++)
            queued += s->workspaces[t->workspaces[i]].n_pending;
        if (queued < t->max_queued)
            return 0;
        cap = (struct sched_queued_cap){true, t->name, t->max_queued,
                                        queued > UINT32_MAX ? UINT32_MAX : (uint32_t)queued};
    }
    if (full)
        *full = cap;
    return -ALLOT_ETOOMANY;
}
