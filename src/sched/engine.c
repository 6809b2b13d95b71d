/* The engine's private parts (engine.h): scratch state for placement searches, the record of
 * a broken invariant, and small helpers shared by the engine's files. */
#include "sched/engine.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/error.h"
#include "sched/queue.h"

int engine_name_check(const char *name, const char *what, char *err, size_t len)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 127) {
        snprintf(err, len, "%s name must be 1 to 127 characters", what);
        return -ALLOT_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= ' ' || c >= 127 || c == '"' || c == '\\') {
            snprintf(err, len, "%s name '%.*s' has a character that is not allowed", what, (int)n,
                     name);
            return -ALLOT_EINVAL;
        }
    }
    return 0;
}

int engine_scratch_reserve(struct sched *s)
{
    struct sched_scratch *x = s->scratch;
    uint32_t cap = x->cap_workloads;
    int rc = ARRAY_RESERVE_ZEROED(x->victim_mark, cap, s->n_workloads);
    if (rc)
        return rc;
    cap = x->cap_workloads;
    rc = ARRAY_RESERVE_ZEROED(x->avoid_fence, cap, s->n_workloads);
    if (rc)
        return rc;
    cap = x->cap_workloads;
    rc = ARRAY_RESERVE_ZEROED(x->victim_usable_of, cap, s->n_workloads);
    if (rc)
        return rc;
    x->cap_workloads = cap; /* the three arrays have it now */
    rc = ARRAY_RESERVE_ZEROED(x->refresh, x->cap_workspaces, s->n_workspaces);
    if (rc)
        return rc;
    rc = ARRAY_RESERVE_ZEROED(x->victim_by_pos, x->cap_pos, s->n_nodes);
    if (rc)
        return rc;
    return ARRAY_RESERVE_ZEROED(x->node, x->cap_nodes, s->n_nodes);
}

void engine_refresh_touch(struct sched *s, uint32_t id)
{
    const struct sched_workload *w = &s->workloads[id];
    if (w->workspace >= s->scratch->cap_workspaces)
        return; /* no memo yet */
    struct engine_refresh *m = &s->scratch->refresh[w->workspace];
    if (!m->valid || queue_before(w, &s->workloads[m->ids[0]]) ||
        (!m->to_end && queue_before(&s->workloads[m->ids[m->n_ids - 1]], w)))
        return;
    m->valid = false;
}

void engine_refresh_leave(struct sched *s, uint32_t id)
{
    const struct sched_workload *w = &s->workloads[id];
    if (w->workspace >= s->scratch->cap_workspaces)
        return; /* no memo yet */
    struct engine_refresh *m = &s->scratch->refresh[w->workspace];
    if (!m->valid)
        return;
    uint32_t at = 0;
    while (at < m->n_ids && m->ids[at] != id)
        at++;
    if (at == m->n_ids) {
        engine_refresh_touch(s, id); /* not one of it: within its stretch, it ends it */
        return;
    }
    memmove(m->ids + at, m->ids + at + 1, (m->n_ids - at - 1) * sizeof(m->ids[0]));
    m->valid = --m->n_ids > 0;
}

int engine_candidates_reserve(struct sched *s, uint32_t n)
{
    struct sched_scratch *x = s->scratch;
    return ARRAY_RESERVE_ZEROED(x->candidates, x->cap_candidates, n);
}

int engine_rooms_reserve(struct sched *s, uint32_t n)
{
    struct sched_scratch *x = s->scratch;
    uint32_t cap = x->cap_rooms;
    int rc = ARRAY_RESERVE_ZEROED(x->rooms, cap, n);
    if (rc)
        return rc;
    cap = x->cap_rooms;
    rc = ARRAY_RESERVE_ZEROED(x->room_of, cap, n);
    if (rc == 0)
        x->cap_rooms = cap; /* both arrays have it now */
    return rc;
}

void engine_scratch_free(struct sched_scratch *x)
{
    if (!x)
        return;
    free(x->rooms);
    free(x->room_of);
    free(x->victim_mark);
    free(x->avoid_fence);
    free(x->victim_usable_of);
    free(x->node);
    free(x->refresh);
    free(x->victim_by_pos);
    free(x->candidates);
    free(x->victim_cands);
    free(x);
}

int engine_broken(struct sched *s, const char *fmt, ...)
{
    struct sched_scratch *x = s->scratch;
    if (!x->broken[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(x->broken, sizeof(x->broken), fmt, ap);
        va_end(ap);
    }
    return -ALLOT_ECHECK;
}
