/* Engine snapshots (snapshot.h). One visitor per structure runs in both directions, writing
 * or reading, so that saving and loading cannot disagree on the format. Integers are
 * variable-length (LEB128, signed ones zigzag-coded): the bytes are the same on every
 * architecture, and a snapshot of 100,000 workloads stays a few megabytes. Loading trusts
 * nothing: every count is bounded by the bytes left, every id checked against what it names,
 * and the result must pass sched_check. */
#include "sched/snapshot.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "sched/engine.h"
#include "sched/lifecycle.h"
#include "sched/placement.h"
#include "sched/queue.h"
#include "sched/topology.h"

#define SNAPSHOT_MAGIC "ALLOTENG"
#define SNAPSHOT_MAGIC_LEN 8
/* Longest name or message in a snapshot (the engine's names are at most 127 bytes). */
#define SNAPSHOT_STRING_MAX 4096

/* Where the bytes go (saving) or come from (loading). */
struct io {
    bool load;
    uint8_t *buf; /* saving */
    size_t len, cap;
    bool oom;
    const uint8_t *in; /* loading */
    size_t in_len, at;
    bool bad;         /* cut short, or a value out of its range */
    char why[160];    /* the first thing found wrong */
    struct sched *s;  /* the engine being loaded: its arena holds the names */
    uint64_t version; /* of the format written or read */
    /* saving in a version before 7: the engine saved, and its preemptible arrays and queues
     * as the links of the lists they were then (per workload: previous and next in each) */
    const struct sched *saved;
    uint32_t *links;
};

static void io_bad(struct io *io, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void io_bad(struct io *io, const char *fmt, ...)
{
    if (!io->bad) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(io->why, sizeof(io->why), fmt, ap);
        va_end(ap);
    }
    io->bad = true;
}

static void put(struct io *io, const void *p, size_t n)
{
    if (io->oom)
        return;
    if (io->len + n > io->cap) {
        size_t c = io->cap ? io->cap : 4096;
        while (c < io->len + n)
            c *= 2;
        uint8_t *b = realloc(io->buf, c);
        if (!b) {
            io->oom = true;
            return;
        }
        io->buf = b;
        io->cap = c;
    }
    memcpy(io->buf + io->len, p, n);
    io->len += n;
}

/* n bytes into p, or zeros and io->bad when fewer are left. */
static void get(struct io *io, void *p, size_t n)
{
    if (io->bad || io->in_len - io->at < n) {
        io_bad(io, "cut short at byte %zu", io->at);
        memset(p, 0, n);
        return;
    }
    memcpy(p, io->in + io->at, n);
    io->at += n;
}

static void io_u64(struct io *io, uint64_t *v)
{
    if (!io->load) {
        uint8_t b[10];
        size_t n = 0;
        uint64_t x = *v;
        do {
            uint8_t c = x & 0x7f;
            x >>= 7;
            b[n++] = (uint8_t)(c | (x ? 0x80 : 0));
        } while (x);
        put(io, b, n);
        return;
    }
    uint64_t x = 0;
    for (unsigned shift = 0;; shift += 7) {
        uint8_t c;
        get(io, &c, 1);
        if (io->bad || shift > 63 || (shift == 63 && (c & 0x7e))) {
            io_bad(io, "an integer longer than 64 bits at byte %zu", io->at);
            x = 0;
            break;
        }
        x |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            break;
    }
    *v = x;
}

static void io_i64(struct io *io, int64_t *v)
{
    uint64_t u = ((uint64_t)*v << 1) ^ (uint64_t)(*v >> 63);
    io_u64(io, &u);
    *v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/* A field of any integer type, with the range a load accepts. */
#define IO_INT(f, lo, hi)                                                                          \
    do {                                                                                           \
        int64_t v_ = (int64_t)(f);                                                                 \
        io_i64(io, &v_);                                                                           \
        if (io->load) {                                                                            \
            if (v_ < (int64_t)(lo) || v_ > (int64_t)(hi))                                          \
                io_bad(io, "%s: %lld out of range", #f, (long long)v_);                            \
            else                                                                                   \
                (f) = (__typeof__(f))v_;                                                           \
        }                                                                                          \
    } while (0)
#define IO_U32(f) IO_INT(f, 0, UINT32_MAX)
#define IO_I32(f) IO_INT(f, INT32_MIN, INT32_MAX)
#define IO_BOOL(f) IO_INT(f, 0, 1)
#define IO_ENUM(f, count) IO_INT(f, 0, (count)-1)

/* A string: NULL, or at most SNAPSHOT_STRING_MAX bytes, loaded into the engine's arena (names
 * of tenants, nodes...) or the heap (a workload's name, which the engine frees itself). */
static void io_str(struct io *io, const char **s, bool arena)
{
    uint64_t n = *s ? strlen(*s) + 1 : 0;
    io_u64(io, &n);
    if (!io->load) {
        if (n)
            put(io, *s, n - 1);
        return;
    }
    *s = NULL;
    if (n == 0 || io->bad)
        return;
    if (n - 1 > SNAPSHOT_STRING_MAX || n - 1 > io->in_len - io->at) {
        io_bad(io, "a string of %llu bytes at byte %zu", (unsigned long long)(n - 1), io->at);
        return;
    }
    const char *text = (const char *)io->in + io->at;
    if (memchr(text, '\0', n - 1)) {
        io_bad(io, "a string holding a NUL at byte %zu", io->at);
        return;
    }
    char *copy = arena ? arena_strndup(&io->s->names, text, n - 1) : strndup(text, n - 1);
    if (!copy)
        io->oom = true;
    io->at += n - 1;
    *s = copy;
}

/* A fixed buffer of text (an event's message). */
static void io_text(struct io *io, char *buf, size_t size)
{
    const char *s = buf;
    uint64_t n = strnlen(buf, size - 1);
    io_u64(io, &n);
    if (!io->load) {
        put(io, s, n);
        return;
    }
    buf[0] = '\0';
    if (io->bad)
        return;
    if (n >= size || n > io->in_len - io->at) {
        io_bad(io, "a message of %llu bytes at byte %zu", (unsigned long long)n, io->at);
        return;
    }
    get(io, buf, n);
    buf[n] = '\0';
}

/* A count of elements, each at least one byte: a load cannot be made to allocate more than
 * the bytes it was given. */
static void io_count(struct io *io, uint32_t *n, const char *what)
{
    IO_U32(*n);
    if (io->load && *n > io->in_len - io->at)
        io_bad(io, "%s: %u of them in %zu bytes", what, *n, io->in_len - io->at);
}

/* A new zeroed array of n elements of size (at least one, as the engine allocates them). */
static void *io_array(struct io *io, uint32_t n, size_t size)
{
    if (io->bad)
        return NULL;
    void *p = calloc(n ? n : 1, size);
    if (!p)
        io->oom = true;
    return p;
}

/* An array of ids with its count and capacity (a tenant's nodes, workspaces, fence). */
static void io_ids(struct io *io, uint32_t **ids, uint32_t *n, uint32_t *cap, const char *what)
{
    io_count(io, n, what);
    if (io->load) {
        *ids = io_array(io, *n, sizeof(**ids));
        *cap = *ids ? (*n ? *n : 1) : 0;
        if (!*ids)
            *n = 0;
    }
    for (uint32_t i = 0; i < *n && !io->bad && !io->oom; i++)
        IO_U32((*ids)[i]);
}

static void io_resources(struct io *io, struct sched_resources *r)
{
    io_i64(io, &r->gpu);
    io_i64(io, &r->cpu);
    io_i64(io, &r->memory);
    io_i64(io, &r->storage);
}

static void io_tenant(struct io *io, struct sched_tenant *t)
{
    io_str(io, &t->name, true);
    IO_ENUM(t->isolation, 2);
    io_i64(io, &t->max_grace_ms);
    IO_BOOL(t->require_image);
    io_ids(io, &t->nodes, &t->n_nodes, &t->cap_nodes, "a tenant's nodes");
    io_ids(io, &t->workspaces, &t->n_workspaces, &t->cap_workspaces, "a tenant's workspaces");
    IO_U32(t->fifo_head);
    IO_U32(t->fifo_tail);
    io_i64(io, &t->owned_units);
    io_i64(io, &t->healthy_units);
    io_i64(io, &t->free_units);
    IO_U32(t->free_whole);
    for (int i = 0; i <= SCHED_MAX_GPUS_PER_NODE; i++)
        IO_U32(t->nodes_by_free[i]);
    io_i64(io, &t->reserved_units);
    IO_BOOL(t->degraded);
    IO_BOOL(t->dirty);
    IO_U32(t->n_arrivals);
    IO_U32(t->arrival);
    IO_U32(t->held_by);
    io_ids(io, &t->fence, &t->n_fence, &t->cap_fence, "a tenant's fence");
    if (io->version >= 6) /* earlier: the default */
        IO_INT(t->max_queued, 1, SCHED_MAX_QUEUED);
    else if (io->load)
        t->max_queued = SCHED_QUEUED_TENANT_DEFAULT;
}

static void io_cluster(struct io *io, struct sched_cluster *c)
{
    io_str(io, &c->name, true);
    IO_U32(c->dedicated_to);
}

static void io_gpu(struct io *io, struct sched_gpu *g)
{
    IO_ENUM(g->model, GPU_MODEL_COUNT);
    IO_BOOL(g->healthy);
    IO_INT(g->n_mig, 0, MIG_MAX_INSTANCES);
    IO_U32(g->holder);
    IO_U32(g->claim);
    for (int i = 0; i < MIG_MAX_INSTANCES; i++) {
        IO_INT(g->mig[i].profile, INT8_MIN, INT8_MAX);
        IO_INT(g->mig[i].start, INT8_MIN, INT8_MAX);
        IO_U32(g->mig[i].holder);
        IO_U32(g->mig[i].claim);
    }
}

static void io_node(struct io *io, struct sched_node *n)
{
    io_str(io, &n->name, true);
    IO_U32(n->cluster);
    IO_U32(n->tenant);
    IO_U32(n->moving_to);
    IO_BOOL(n->wipe);
    if (io->version >= 2)
        IO_BOOL(n->move_drained);
    IO_ENUM(n->state, 3);
    io_i64(io, &n->cpu);
    io_i64(io, &n->memory);
    io_i64(io, &n->cpu_used);
    io_i64(io, &n->memory_used);
    io_i64(io, &n->cpu_claimed);
    io_i64(io, &n->memory_claimed);
    IO_INT(n->n_gpus, 0, SCHED_MAX_GPUS_PER_NODE);
    if (io->load) {
        n->gpus = io_array(io, n->n_gpus, sizeof(*n->gpus));
        if (!n->gpus)
            n->n_gpus = 0;
    }
    for (uint32_t i = 0; i < n->n_gpus && !io->bad && !io->oom; i++)
        io_gpu(io, &n->gpus[i]);
    IO_INT(n->n_labels, 0, SCHED_MAX_LABELS);
    if (io->load) {
        n->labels = io_array(io, n->n_labels, sizeof(*n->labels));
        if (!n->labels)
            n->n_labels = 0;
    }
    for (uint32_t i = 0; i < n->n_labels && !io->bad && !io->oom; i++) {
        io_str(io, &n->labels[i].key, true);
        io_str(io, &n->labels[i].value, true);
    }
    IO_U32(n->free_whole);
    IO_BOOL(n->fenced);
}

/* A workspace's queue as versions before 7 had it: its head and tail, its index of the last
 * workload of each priority (at most OLD_QUEUE_RUNS, else OLD_RUNS_OFF) and its count; the
 * queue is derived on load since, from the pending workloads. */
enum { OLD_QUEUE_RUNS = 8, OLD_RUNS_OFF = UINT8_MAX };
static void io_old_queue(struct io *io, const struct sched_workspace *w)
{
    uint32_t head = SCHED_NONE, tail = SCHED_NONE, n = 0;
    int32_t prio[OLD_QUEUE_RUNS] = {0};
    uint32_t last[OLD_QUEUE_RUNS] = {0};
    int runs = 0;
    if (!io->load && w->n_pending) {
        const struct sched_queued *q = queue_entries(w);
        head = q[0].id;
        tail = q[w->n_pending - 1].id;
        n = w->n_pending;
        for (uint32_t k = 0; k < n && runs != OLD_RUNS_OFF; k++) {
            if (k > 0 && q[k].priority == q[k - 1].priority)
                last[runs - 1] = q[k].id;
            else if (runs == OLD_QUEUE_RUNS)
                runs = OLD_RUNS_OFF;
            else
                prio[runs] = q[k].priority, last[runs++] = q[k].id;
        }
        if (runs == OLD_RUNS_OFF)
            memset(last, 0, sizeof(last)), memset(prio, 0, sizeof(prio));
    }
    IO_U32(head);
    IO_U32(tail);
    for (int i = 0; i < OLD_QUEUE_RUNS; i++) {
        IO_I32(prio[i]);
        IO_U32(last[i]);
    }
    IO_INT(runs, 0, UINT8_MAX);
    IO_U32(n);
}

static void io_workspace(struct io *io, struct sched_workspace *w)
{
    io_str(io, &w->name, true);
    IO_U32(w->tenant);
    io_resources(io, &w->limits);
    io_i64(io, &w->reserved);
    IO_BOOL(w->lend);
    IO_U32(w->weight);
    IO_BOOL(w->require_image);
    io_resources(io, &w->held);
    io_resources(io, &w->draining);
    io_resources(io, &w->claimed);
    io_i64(io, &w->held_fixed);
    if (io->version < 7)
        io_old_queue(io, w);
    for (int i = 0; i < 8; i++)
        IO_U32(w->pending_by_size[i]);
    IO_U32(w->pending_mig);
    IO_U32(w->running_head);
    if (io->version < 7) { /* the preemptible list's head; derived on load since */
        uint32_t head = !io->load && w->n_preempt ? w->preempt[0].id : SCHED_NONE;
        IO_U32(head);
    }
    io_i64(io, &w->guaranteed_unit_ms);
    io_i64(io, &w->borrowed_unit_ms);
    io_i64(io, &w->acct_ms);
    if (io->version >= 3) /* earlier: no min_runtime (0) */
        for (int k = 0; k < SCHED_KIND_COUNT; k++)
            IO_INT(w->min_runtime_ms[k], 0, SCHED_MAX_MIN_RUNTIME_MS);
    if (io->version >= 4) { /* earlier: no time limits (0) */
        IO_INT(w->default_time_limit_ms, 0, SCHED_MAX_TIME_LIMIT_MS);
        IO_INT(w->max_time_limit_ms, 0, SCHED_MAX_TIME_LIMIT_MS);
    }
    if (io->version >= 6) /* earlier: the default */
        IO_INT(w->max_queued, 1, SCHED_MAX_QUEUED);
    else if (io->load)
        w->max_queued = SCHED_QUEUED_WORKSPACE_DEFAULT;
}

/* Workload w's links (previous, next) in one of the lists versions before 7 kept: written
 * from io->links, read and left (the arrays that replaced the lists are derived on load). */
enum old_list { OLD_PREEMPTIBLE = 0, OLD_QUEUE = 2 };
static void io_old_links(struct io *io, const struct sched_workload *w, enum old_list list)
{
    const uint32_t *l = io->load ? NULL : &io->links[4 * (size_t)(w - io->saved->workloads) + list];
    uint32_t prev = l ? l[0] : SCHED_NONE, next = l ? l[1] : SCHED_NONE;
    IO_U32(prev);
    IO_U32(next);
}

static void io_workload(struct io *io, struct sched_workload *w)
{
    io_str(io, &w->name, false);
    IO_U32(w->workspace);
    IO_U32(w->tenant);
    IO_ENUM(w->kind, SCHED_KIND_COUNT);
    IO_I32(w->priority);
    IO_BOOL(w->preemptible);
    IO_U32(w->gpus);
    IO_INT(w->mig, -1, MIG_MAX_NAMES - 1);
    IO_INT(w->model, -1, GPU_MODEL_COUNT - 1);
    IO_INT(w->replicas, 0, SCHED_MAX_REPLICAS);
    io_i64(io, &w->cpu);
    io_i64(io, &w->memory);
    io_i64(io, &w->storage);
    io_i64(io, &w->grace_ms);
    io_i64(io, &w->units_per_replica);
    io_resources(io, &w->total);
    IO_ENUM(w->state, SCHED_STATE_COUNT);
    IO_BOOL(w->borrowed);
    IO_BOOL(w->starving);
    IO_ENUM(w->reason, SCHED_REASON_COUNT);
    io_u64(io, &w->seq);
    io_i64(io, &w->submit_ms);
    io_i64(io, &w->queued_ms);
    io_i64(io, &w->start_ms);
    io_i64(io, &w->deadline_ms);
    IO_U32(w->reclaim_for);
    IO_U32(w->waiting_on);
    if (io->version < 7)
        io_old_links(io, w, OLD_QUEUE);
    IO_U32(w->rprev);
    IO_U32(w->rnext);
    if (io->version < 7)
        io_old_links(io, w, OLD_PREEMPTIBLE);
    IO_U32(w->fprev);
    IO_U32(w->fnext);
    if (w->name) { /* a forgotten workload's slot has no placement */
        if (io->load) {
            w->placement = io_array(io, w->replicas, sizeof(*w->placement));
            if (!w->placement)
                return;
        }
        for (uint32_t i = 0; i < w->replicas && !io->bad; i++) {
            struct sched_replica *r = &w->placement[i];
            IO_U32(r->node);
            IO_U32(r->gpu_mask);
            IO_INT(r->mig_gpu, -1, SCHED_MAX_GPUS_PER_NODE - 1);
            IO_INT(r->mig_slot, -1, MIG_MAX_INSTANCES - 1);
        }
    }
    if (io->version >= 3) /* earlier: no checkpoint known (0) */
        io_i64(io, &w->checkpoint_ms);
    if (io->version >= 4) { /* earlier versions: no time limit, no backfill */
        IO_INT(w->time_limit_ms, 0, SCHED_MAX_TIME_LIMIT_MS);
        IO_U32(w->backfill_for);
    } else if (io->load) {
        w->backfill_for = SCHED_NONE;
    }
    if (io->version >= 5) { /* earlier: no topology */
        IO_INT(w->topology_level, -1, SCHED_MAX_TOPOLOGY_LEVELS - 1);
        IO_BOOL(w->topology_required);
    } else if (io->load) {
        w->topology_level = -1;
    }
}

static void io_event(struct io *io, struct sched_event *e)
{
    IO_ENUM(e->kind, SCHED_EV_COUNT);
    io_i64(io, &e->t);
    IO_U32(e->workload);
    IO_U32(e->tenant);
    IO_ENUM(e->reason, SCHED_REASON_COUNT);
    IO_U32(e->other);
    io_i64(io, &e->deadline);
    IO_BOOL(e->borrowed);
    io_i64(io, &e->a);
    io_i64(io, &e->b);
    IO_U32(e->node);
    IO_U32(e->gpu);
    IO_U32(e->workspace);
    io_text(io, e->message, sizeof(e->message));
}

/* An array of the engine (tenants, nodes...): its count, then each element by visit. On load
 * the array is allocated and its count set at once, so that sched_free frees what was read. */
#define IO_TABLE(arr, n, cap, visit, what)                                                         \
    do {                                                                                           \
        io_count(io, &(n), what);                                                                  \
        if (io->load) {                                                                            \
            (arr) = io_array(io, (n), sizeof(*(arr)));                                             \
            (cap) = (arr) ? ((n) ? (n) : 1) : 0;                                                   \
            if (!(arr))                                                                            \
                (n) = 0;                                                                           \
        }                                                                                          \
        for (uint32_t i_ = 0; i_ < (n) && !io->bad && !io->oom; i_++)                              \
            visit(io, &(arr)[i_]);                                                                 \
    } while (0)

/* The whole engine, after the magic and the version. */
static void io_engine(struct io *io, struct sched *s)
{
    io_i64(io, &s->opt.default_grace_ms);
    io_i64(io, &s->opt.starvation_age_ms);
    for (int k = 0; k < SCHED_KIND_COUNT; k++)
        IO_I32(s->opt.kind_priority[k]);
    io_u64(io, &s->next_seq);
    io_i64(io, &s->last_now);
    IO_BOOL(s->oom);
    IO_TABLE(s->tenants, s->n_tenants, s->cap_tenants, io_tenant, "tenants");
    IO_TABLE(s->clusters, s->n_clusters, s->cap_clusters, io_cluster, "clusters");
    IO_TABLE(s->nodes, s->n_nodes, s->cap_nodes, io_node, "nodes");
    IO_TABLE(s->workspaces, s->n_workspaces, s->cap_workspaces, io_workspace, "workspaces");
    IO_TABLE(s->workloads, s->n_workloads, s->cap_workloads, io_workload, "workloads");
    IO_TABLE(s->events, s->n_events, s->cap_events, io_event, "events");
    io_ids(io, &s->free_ids, &s->n_free, &s->cap_free, "free workload slots");
    if (io->version >= 3) /* earlier: the default, on */
        IO_BOOL(s->opt.checkpoint_aware);
    if (io->version >= 5) { /* the topology levels; the domains are derived on load */
        IO_INT(s->opt.n_topology, 0, SCHED_MAX_TOPOLOGY_LEVELS);
        for (uint32_t l = 0; l < s->opt.n_topology && !io->bad && !io->oom; l++) {
            io_str(io, &s->opt.topology[l], true);
            if (io->load && !s->opt.topology[l])
                io_bad(io, "topology level %u without a name", l);
        }
    }
}

/* Before version 7 a workspace's preemptible workloads and its queue were linked lists:
 * io->links gets the links each array stands for. RET 0 or -ALLOT_ENOMEM. */
static int old_links(struct io *io)
{
    const struct sched *s = io->saved;
    io->links = malloc(4 * (size_t)(s->n_workloads ? s->n_workloads : 1) * sizeof(uint32_t));
    if (!io->links)
        return -ALLOT_ENOMEM;
    for (size_t i = 0; i < 4 * (size_t)s->n_workloads; i++)
        io->links[i] = SCHED_NONE;
    for (uint32_t i = 0; i < s->n_workspaces; i++) {
        const struct sched_workspace *ws = &s->workspaces[i];
        for (uint32_t k = 0; k < ws->n_preempt; k++) {
            uint32_t *l = &io->links[4 * (size_t)ws->preempt[k].id + OLD_PREEMPTIBLE];
            l[0] = k > 0 ? ws->preempt[k - 1].id : SCHED_NONE;
            l[1] = k + 1 < ws->n_preempt ? ws->preempt[k + 1].id : SCHED_NONE;
        }
        const struct sched_queued *q = queue_entries(ws);
        for (uint32_t k = 0; k < ws->n_pending; k++) {
            uint32_t *l = &io->links[4 * (size_t)q[k].id + OLD_QUEUE];
            l[0] = k > 0 ? q[k - 1].id : SCHED_NONE;
            l[1] = k + 1 < ws->n_pending ? q[k + 1].id : SCHED_NONE;
        }
    }
    return 0;
}

int sched_snapshot_save(const struct sched *s, uint8_t **buf, size_t *len)
{
    return sched_snapshot_save_version(s, SCHED_SNAPSHOT_VERSION, buf, len);
}

int sched_snapshot_save_version(const struct sched *s, uint32_t version_out, uint8_t **buf,
                                size_t *len)
{
    if (version_out < SCHED_SNAPSHOT_OLDEST || version_out > SCHED_SNAPSHOT_VERSION)
        return -ALLOT_EINVAL;
    struct io io = {.load = false, .version = version_out, .saved = s};
    uint64_t version = version_out;
    if (version_out < 7 && old_links(&io) != 0)
        return -ALLOT_ENOMEM;
    put(&io, SNAPSHOT_MAGIC, SNAPSHOT_MAGIC_LEN);
    io_u64(&io, &version);
    /* the visitors only read the engine when saving */
    io_engine(&io, (struct sched *)s);
    free(io.links);
    if (io.oom) {
        free(io.buf);
        *buf = NULL;
        *len = 0;
        return -ALLOT_ENOMEM;
    }
    *buf = io.buf;
    *len = io.len;
    return 0;
}

/* ---- loading: the ids read must name what they name ---- */

static bool in(uint32_t id, uint32_t n)
{
    return id < n;
}

static bool in_or_none(uint32_t id, uint32_t n)
{
    return id == SCHED_NONE || id < n;
}

static int check_tenants(const struct sched *s, char *err, size_t len)
{
    for (uint32_t i = 0; i < s->n_tenants; i++) {
        const struct sched_tenant *t = &s->tenants[i];
        for (uint32_t k = 0; k < t->n_nodes; k++)
            if (!in(t->nodes[k], s->n_nodes))
                return snprintf(err, len, "tenant %u: node %u", i, t->nodes[k]), -1;
        for (uint32_t k = 0; k < t->n_workspaces; k++)
            if (!in(t->workspaces[k], s->n_workspaces))
                return snprintf(err, len, "tenant %u: workspace %u", i, t->workspaces[k]), -1;
        for (uint32_t k = 0; k < t->n_fence; k++)
            if (!in(t->fence[k], s->n_nodes))
                return snprintf(err, len, "tenant %u: fenced node %u", i, t->fence[k]), -1;
        if (!in_or_none(t->fifo_head, s->n_workloads) ||
            !in_or_none(t->fifo_tail, s->n_workloads) || !in_or_none(t->held_by, s->n_workloads) ||
            (t->n_arrivals && !in(t->arrival, s->n_workloads))) /* read only after arrivals */
            return snprintf(err, len, "tenant %u: a workload out of range", i), -1;
    }
    for (uint32_t i = 0; i < s->n_clusters; i++)
        if (!in_or_none(s->clusters[i].dedicated_to, s->n_tenants))
            return snprintf(err, len, "cluster %u: tenant out of range", i), -1;
    return 0;
}

static int check_nodes(const struct sched *s, char *err, size_t len)
{
    for (uint32_t i = 0; i < s->n_nodes; i++) {
        const struct sched_node *n = &s->nodes[i];
        if (!n->name || !in(n->cluster, s->n_clusters) || !in_or_none(n->tenant, s->n_tenants) ||
            !(in_or_none(n->moving_to, s->n_tenants) || n->moving_to == SCHED_NO_TENANT))
            return snprintf(err, len, "node %u: no name, or a cluster or tenant out of range", i),
                   -1;
        if (n->move_drained && n->moving_to == SCHED_NONE)
            return snprintf(err, len, "node %u: drained by a move it does not make", i), -1;
        for (uint32_t k = 0; k < n->n_labels; k++)
            if (!n->labels[k].key || !n->labels[k].value)
                return snprintf(err, len, "node %u: label %u without text", i, k), -1;
        for (uint32_t g = 0; g < n->n_gpus; g++) {
            const struct sched_gpu *gpu = &n->gpus[g];
            const struct gpu_model_info *info = mig_model(gpu->model);
            if (!in_or_none(gpu->holder, s->n_workloads) || !in_or_none(gpu->claim, s->n_workloads))
                return snprintf(err, len, "node %u GPU %u: a workload out of range", i, g), -1;
            if (gpu->n_mig && !info->n_profiles)
                return snprintf(err, len, "node %u GPU %u: MIG slices on a model without", i, g),
                       -1;
            for (uint32_t m = 0; m < gpu->n_mig; m++) {
                const struct sched_mig_slot *slot = &gpu->mig[m];
                if (slot->profile < 0 || slot->profile >= info->n_profiles || slot->start < 0 ||
                    slot->start >= info->memory_slices ||
                    !in_or_none(slot->holder, s->n_workloads) ||
                    !in_or_none(slot->claim, s->n_workloads))
                    return snprintf(err, len, "node %u GPU %u slice %u: out of range", i, g, m), -1;
            }
        }
    }
    return 0;
}

static bool workload_ref(const struct sched *s, uint32_t id)
{
    return id == SCHED_NONE || (id < s->n_workloads && s->workloads[id].name);
}

static int check_workloads(const struct sched *s, char *err, size_t len)
{
    for (uint32_t i = 0; i < s->n_workspaces; i++) {
        const struct sched_workspace *w = &s->workspaces[i];
        bool ok = w->name && in(w->tenant, s->n_tenants) && workload_ref(s, w->running_head);
        if (!ok)
            return snprintf(err, len, "workspace %u: a tenant or workload out of range", i), -1;
    }
    for (uint32_t i = 0; i < s->n_workloads; i++) {
        const struct sched_workload *w = &s->workloads[i];
        /* a forgotten workload's slot: ended, of a workspace that exists (checks read it) */
        if (!w->name && (!in(w->workspace, s->n_workspaces) || !in(w->tenant, s->n_tenants) ||
                         !sched_state_ended(w->state)))
            return snprintf(err, len, "free slot %u: not an ended workload's", i), -1;
        if (!w->name)
            continue;
        if (w->topology_level >= (int)s->opt.n_topology)
            return snprintf(err, len, "workload %u: a topology level out of range", i), -1;
        bool ok = in(w->workspace, s->n_workspaces) && in(w->tenant, s->n_tenants) &&
                  workload_ref(s, w->reclaim_for) && workload_ref(s, w->rprev) &&
                  workload_ref(s, w->rnext) && workload_ref(s, w->fprev) &&
                  workload_ref(s, w->fnext) && workload_ref(s, w->backfill_for) &&
                  (w->mig < 0 || mig_name(w->mig)) && w->replicas >= 1;
        bool placed =
            w->state == SCHED_RUNNING || w->state == SCHED_DRAINING || w->state == SCHED_RECLAIMING;
        for (uint32_t r = 0; ok && placed && r < w->replicas; r++) {
            const struct sched_replica *p = &w->placement[r];
            uint32_t n_gpus = in(p->node, s->n_nodes) ? s->nodes[p->node].n_gpus : 0;
            ok = in(p->node, s->n_nodes) && (p->mig_gpu < 0 || (uint32_t)p->mig_gpu < n_gpus) &&
                 (n_gpus >= 32 || p->gpu_mask >> n_gpus == 0);
        }
        if (!ok)
            return snprintf(err, len, "workload %u: a reference out of range", i), -1;
    }
    for (uint32_t i = 0; i < s->n_free; i++)
        if (!in(s->free_ids[i], s->n_workloads) || s->workloads[s->free_ids[i]].name)
            return snprintf(err, len, "free slot %u: not a free workload slot", i), -1;
    for (uint32_t i = 0; i < s->n_events; i++) {
        const struct sched_event *e = &s->events[i];
        if (!in_or_none(e->workload, s->n_workloads) || !in_or_none(e->tenant, s->n_tenants) ||
            !in_or_none(e->other, s->n_workloads) || !in_or_none(e->node, s->n_nodes) ||
            !in_or_none(e->workspace, s->n_workspaces) ||
            (e->gpu != SCHED_NONE && (e->node == SCHED_NONE || e->gpu >= s->nodes[e->node].n_gpus)))
            return snprintf(err, len, "event %u: a reference out of range", i), -1;
    }
    return 0;
}

/* The name maps, rebuilt from the names read: a name twice is a corrupt snapshot. */
static int rebuild_maps(struct sched *s, char *err, size_t len)
{
    struct {
        struct hmap *map;
        const char *what;
        uint32_t n;
    } maps[] = {{&s->tenant_ids, "tenant", s->n_tenants},
                {&s->cluster_ids, "cluster", s->n_clusters},
                {&s->node_ids, "node", s->n_nodes},
                {&s->workspace_ids, "workspace", s->n_workspaces},
                {&s->workload_ids, "workload", s->n_workloads}};
    for (size_t m = 0; m < sizeof(maps) / sizeof(maps[0]); m++) {
        for (uint32_t i = 0; i < maps[m].n; i++) {
            const char *name = m == 0   ? s->tenants[i].name
                               : m == 1 ? s->clusters[i].name
                               : m == 2 ? s->nodes[i].name
                               : m == 3 ? s->workspaces[i].name
                                        : s->workloads[i].name;
            uint32_t other;
            if (!name) {
                if (m < 4)
                    return snprintf(err, len, "%s %u has no name", maps[m].what, i), -ALLOT_EPARSE;
                continue; /* a free workload slot */
            }
            if (hmap_get(maps[m].map, name, &other) == 0)
                return snprintf(err, len, "%s %s twice", maps[m].what, name), -ALLOT_EPARSE;
            if (hmap_put(maps[m].map, name, i))
                return -ALLOT_ENOMEM;
        }
    }
    return 0;
}

int sched_snapshot_load(const void *buf, size_t len, struct sched **out, char *err, size_t elen)
{
    *out = NULL;
    char magic[SNAPSHOT_MAGIC_LEN];
    uint64_t version = 0;
    struct io io = {.load = true, .in = buf, .in_len = buf ? len : 0};
    get(&io, magic, sizeof(magic));
    if (io.bad || memcmp(magic, SNAPSHOT_MAGIC, SNAPSHOT_MAGIC_LEN) != 0) {
        snprintf(err, elen, "not a snapshot of the engine");
        return -ALLOT_EPARSE;
    }
    io_u64(&io, &version);
    if (io.bad || version < SCHED_SNAPSHOT_OLDEST || version > SCHED_SNAPSHOT_VERSION) {
        snprintf(err, elen, "a snapshot of version %llu; this engine reads versions %d to %d",
                 (unsigned long long)version, SCHED_SNAPSHOT_OLDEST, SCHED_SNAPSHOT_VERSION);
        return -ALLOT_EPARSE;
    }
    io.version = version;
    struct sched *s = NULL;
    int rc = sched_new(NULL, &s);
    if (rc)
        return rc;
    io.s = s;
    io_engine(&io, s);
    if (!io.bad && !io.oom && io.at != io.in_len)
        io_bad(&io, "%zu bytes after the end", io.in_len - io.at);
    if (io.oom)
        rc = -ALLOT_ENOMEM;
    else if (io.bad)
        rc = (snprintf(err, elen, "%s", io.why), -ALLOT_EPARSE);
    else if (check_tenants(s, err, elen) || check_nodes(s, err, elen) ||
             check_workloads(s, err, elen))
        rc = -ALLOT_EPARSE;
    else
        rc = rebuild_maps(s, err, elen);
    if (rc == 0)
        rc = placement_index_rebuild(s);
    /* the queues are derived from the pending workloads, with their counts by size class
     * (earlier versions used other classes) */
    if (rc == 0)
        rc = queue_rebuild(s);
    if (rc == 0)
        rc = topology_rebuild(s);
    /* the preemptible arrays are derived from the running lists */
    for (uint32_t i = 0; rc == 0 && i < s->n_workspaces; i++)
        if ((rc = lifecycle_preemptible_rebuild(s, i)) == -ALLOT_ECHECK)
            rc = (snprintf(err, elen, "%s", sched_broken(s)), -ALLOT_EPARSE);
    if (rc == 0 && sched_check(s, err, elen) != 0)
        rc = -ALLOT_ECHECK;
    if (rc) {
        sched_free(s);
        return rc;
    }
    *out = s;
    return 0;
}
