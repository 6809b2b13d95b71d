/* The allocation engine: the platform model (tenants, clusters, nodes, GPUs, workspaces,
 * workloads) and the event API that decides who gets which GPUs. Pure and deterministic:
 * no I/O, no clock (callers pass `now`), no globals. The policy is in docs/policy.md. */
#ifndef ALLOT_SCHED_SCHED_H
#define ALLOT_SCHED_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/hmap.h"
#include "sched/mig.h"
#include "sched/reason.h"

#define SCHED_NONE UINT32_MAX
/* A node's moving_to when it is being given to no tenant at all. */
#define SCHED_NO_TENANT (UINT32_MAX - 1)
/* A node holds at most this many GPUs (a replica's GPUs are a bit mask). */
#define SCHED_MAX_GPUS_PER_NODE 32
/* Caps on one request, so sums over a whole platform cannot overflow. */
#define SCHED_MAX_REPLICAS 4096
#define SCHED_MAX_LABELS 32
#define SCHED_UNLIMITED INT64_MAX
/* The longest min_runtime a workspace may give a kind: 30 days. */
#define SCHED_MAX_MIN_RUNTIME_MS (30LL * 24 * 3600 * 1000)
/* The longest time limit a workload or workspace may set: 365 days. */
#define SCHED_MAX_TIME_LIMIT_MS (365LL * 24 * 3600 * 1000)
/* Caps on queued (pending) workloads (docs/policy.md, "Queue caps"): a workspace's and a
 * tenant's (all its workspaces together) when its spec gives none (0), and the most a spec
 * may give. */
#define SCHED_QUEUED_WORKSPACE_DEFAULT 10000
#define SCHED_QUEUED_TENANT_DEFAULT 50000
#define SCHED_MAX_QUEUED 10000000
/* Topology levels a platform may declare (docs/policy.md, "Topology"). */
#define SCHED_MAX_TOPOLOGY_LEVELS 4

enum sched_isolation { SCHED_ISOLATION_SHARED, SCHED_ISOLATION_DEDICATED };
enum sched_node_state { SCHED_NODE_READY, SCHED_NODE_DRAINING, SCHED_NODE_DOWN };
enum sched_kind {
    SCHED_KIND_TRAINING,
    SCHED_KIND_FINETUNE,
    SCHED_KIND_INFERENCE,
    SCHED_KIND_EXPERIMENT,
    SCHED_KIND_COUNT
};

enum sched_state {
    SCHED_PENDING,    /* queued, waiting for capacity */
    SCHED_RECLAIMING, /* placement chosen; waiting for preempted borrowers to drain */
    SCHED_RUNNING,
    SCHED_DRAINING, /* told to stop (preempted or cancelled); still holds its resources */
    SCHED_FINISHED,
    SCHED_CANCELLED,
    SCHED_REJECTED,
    SCHED_FAILED, /* its run ended badly: a non-zero exit, a signal Allot did not send, or a
                   * start failure (last: snapshots of earlier versions keep their values) */
    SCHED_STATE_COUNT
};

/* Amounts of each resource: gpu in QUANTITY_GPU_UNITS, cpu in millicores, bytes. */
struct sched_resources {
    int64_t gpu;
    int64_t cpu;
    int64_t memory;
    int64_t storage;
};

enum sched_resource {
    SCHED_RES_GPU,
    SCHED_RES_CPU,
    SCHED_RES_MEMORY,
    SCHED_RES_STORAGE,
    SCHED_RES_COUNT
};

/* Name of a resource ("gpu"); "unknown" out of range. */
const char *sched_resource_name(enum sched_resource r);
/* One resource of a set (0 for an unknown one). */
int64_t sched_resources_get(const struct sched_resources *r, enum sched_resource which);
/* Set one resource of a set (an unknown one is ignored). */
void sched_resources_set(struct sched_resources *r, enum sched_resource which, int64_t v);
/* Print an amount of a resource in its unit ("4", "64Gi", "500m", "unlimited") into buf.
 * RET buf. */
char *sched_resource_format(enum sched_resource which, int64_t v, char *buf, size_t len);

struct sched_tenant {
    const char *name;
    enum sched_isolation isolation;
    int64_t max_grace_ms;
    bool require_image; /* its workloads must name an image (docs/policy.md, "Images") */
    uint32_t *nodes;    /* ids of the nodes it owns */
    uint32_t n_nodes, cap_nodes;
    uint32_t *workspaces;
    uint32_t fifo_head, fifo_tail; /* its pending workloads, longest waiting first */
    uint32_t n_workspaces, cap_workspaces;
    int64_t owned_units;   /* GPU units on every owned node, whatever their state */
    int64_t healthy_units; /* on ready nodes, healthy GPUs */
    int64_t free_units;    /* of those, neither held nor claimed */
    uint32_t free_whole;   /* free whole GPUs among them (sum of its nodes' free_whole) */
    uint32_t nodes_by_free[SCHED_MAX_GPUS_PER_NODE + 1]; /* its nodes by their free_whole */
    /* free_whole of each of its nodes, in the order of nodes[] (node.tenant_pos): placement
     * reads this compact copy and skips the nodes without room unread */
    uint8_t *node_free;
    uint8_t *node_mig;       /* 1 where the node has a GPU split into MIG slices, same order */
    uint32_t cap_node_index; /* of node_free and node_mig */
    uint32_t n_mixed;        /* its nodes with whole GPUs of more than one model */
    int64_t reserved_units;  /* sum of its workspaces' reservations */
    bool degraded;           /* healthy_units < reserved_units, last reported */
    bool dirty;              /* something changed since its last scheduling pass */
    uint32_t n_arrivals;     /* workloads submitted since its last pass ... */
    uint32_t arrival;        /* ... the last of them */
    uint32_t held_by;        /* the starving workload its last pass held borrowing for */
    /* The nodes set aside for held_by (docs/policy.md, "Starvation"): borrowers are not
     * placed there, but go on elsewhere. n_fence 0: no fence could be made (a MIG or
     * CPU-only request, or too few nodes), and borrowing pauses in the whole tenant. */
    uint32_t *fence;
    uint32_t n_fence, cap_fence;
    uint32_t max_queued; /* pending workloads of all its workspaces together, at most */
    /* its GPUs, whole or split, of each model (placement_count_models; not saved) */
    uint32_t gpus_by_model[GPU_MODEL_COUNT];
};

struct sched_cluster {
    const char *name;
    uint32_t dedicated_to; /* tenant id or SCHED_NONE */
};

struct sched_mig_slot {
    int8_t profile; /* index in the model's profile table */
    int8_t start;
    uint32_t holder; /* workload running or draining on it, or SCHED_NONE */
    uint32_t claim;  /* workload it is promised to (reclaim), or SCHED_NONE */
};

struct sched_gpu {
    enum gpu_model model;
    bool healthy;
    uint8_t n_mig;          /* 0: a whole GPU */
    uint32_t holder, claim; /* for a whole GPU */
    struct sched_mig_slot mig[MIG_MAX_INSTANCES];
};

struct sched_label {
    const char *key;
    const char *value;
};

struct sched_node {
    const char *name;
    uint32_t cluster;
    uint32_t tenant;    /* SCHED_NONE: unowned, nothing runs on it */
    uint32_t moving_to; /* tenant it joins once its work is gone (draining until then), or
                         * SCHED_NONE */
    bool wipe;          /* its move also waits for sched_node_wiped once its work is gone */
    bool move_drained;  /* its move drained it (it was ready): a cancelled move makes it ready
                         * again (sched_node_move_cancel) */
    enum sched_node_state state;
    int64_t cpu, memory;                 /* capacity */
    int64_t cpu_used, memory_used;       /* by running and draining workloads */
    int64_t cpu_claimed, memory_claimed; /* by reclaiming workloads */
    uint32_t n_gpus;
    struct sched_gpu *gpus;
    uint32_t n_labels;
    struct sched_label *labels;
    uint32_t free_whole; /* healthy whole GPUs neither held nor claimed */
    uint32_t tenant_pos; /* its index in its tenant's nodes[] (when it has a tenant) */
    /* Its GPUs that a holder cannot pass on to a placement search (bit i: gpus[i]): split
     * into MIG slices, unhealthy or claimed. Derived (placement_node_locked), so that a search
     * for victims counts what one frees here without reading the GPUs. */
    uint32_t locked;
    int8_t whole_model; /* the model of all its whole GPUs, or -1 when they differ or it has
                         * none (placement then counts its GPUs one by one) */
    bool fenced;        /* set aside for its tenant's starving workload (tenant.fence) */
};

/* A topology domain: the nodes of one tenant whose label for one level has one value
 * (docs/policy.md, "Topology"). Derived from the nodes' labels, never saved. */
struct sched_domain {
    uint32_t tenant;
    uint32_t level;    /* index in s->opt.topology */
    const char *value; /* the label's value (in the engine's arena) */
    uint32_t *nodes;   /* ids of its nodes, in the order they joined */
    uint32_t n_nodes, cap_nodes;
    uint32_t free_whole; /* sum of its nodes' free_whole */
};

/* An entry of a workspace's queue: a pending workload and its order (copies: a walk or a
 * search of the queue reads no workload it passes over). */
struct sched_queued {
    int32_t priority;
    uint32_t id;
    uint64_t seq;
};

/* An entry of a workspace's preemptible array: a running preemptible workload and its
 * priority (a copy: the walk of the array reads no workload it passes over). */
struct sched_preemptible {
    int32_t priority;
    uint32_t id;
};

struct sched_workspace {
    const char *name; /* "tenant/workspace" */
    uint32_t tenant;
    struct sched_resources limits; /* SCHED_UNLIMITED where not set */
    int64_t reserved;              /* GPU units */
    bool lend;
    uint32_t weight;
    bool require_image;              /* its workloads must name an image (docs/policy.md) */
    struct sched_resources held;     /* running + draining */
    struct sched_resources draining; /* part of held on its way out */
    struct sched_resources claimed;  /* reclaiming workloads */
    int64_t held_fixed;              /* GPU units held by its non-preemptible workloads */
    /* Its pending workloads, highest priority first, then submission order (queue.h):
     * entries [queue_first, queue_first + n_pending) of queue, whose cap_queue is at least
     * n_live, so that a workload going back to the queue always finds room. */
    struct sched_queued *queue;
    uint32_t queue_first, cap_queue;
    uint32_t n_live; /* its workloads pending, reclaiming, running or draining */
    uint32_t n_pending;
    uint32_t pending_by_size[8]; /* pending workloads by GPU units (queue_size_bucket) */
    uint32_t pending_mig;        /* pending workloads asking for MIG slices */
    uint32_t pending_model;      /* pending whole-GPU workloads asking for a GPU model */
    uint32_t running_head;       /* running (not draining) workloads, most recently started first */
    /* The preemptible ones among them, lowest priority first and, within a priority, the most
     * recently started first: an array, so that a search for victims reads its candidates
     * without a chain of dependent loads (docs/benchmarks.md). Derived: not in snapshots. */
    struct sched_preemptible *preempt;
    uint32_t n_preempt, cap_preempt;
    /* GPU time held, split at the reservation: GPU units x milliseconds, up to acct_ms */
    int64_t guaranteed_unit_ms, borrowed_unit_ms, acct_ms;
    /* Per kind: how long its workloads run before priority preemption may take them (0: at
     * once); a reclaim for a reservation ignores it (docs/policy.md, "Minimum runtime"). */
    int64_t min_runtime_ms[SCHED_KIND_COUNT];
    /* Time limits of its later submissions (docs/policy.md, "Time limits and backfill"), 0:
     * none: the one a submission without time_limit gets, and the most one may ask for. */
    int64_t default_time_limit_ms, max_time_limit_ms;
    uint32_t max_queued; /* limits.queued: pending workloads at most (docs/policy.md) */
};

struct sched_replica {
    uint32_t node;
    uint32_t gpu_mask; /* whole GPUs on the node */
    int8_t mig_gpu;    /* MIG: GPU index and instance index, else -1 */
    int8_t mig_slot;
};

struct sched_workload {
    /* What a pass reads of each queued workload (quota checks, queue reasons, the walk of the
     * queue) comes first, together: a walk then touches two or three cache lines of each
     * workload, not five (docs/benchmarks.md, "Cache lines, not instructions"). */
    uint32_t workspace, tenant;
    int32_t priority;
    enum sched_state state;
    enum sched_reason reason; /* queue reason last reported, or why it is draining */
    uint32_t qat;             /* where it was in its workspace's queue when last looked up: a
                               * hint for the search of its place (queue.c) */
    uint32_t gpus;            /* whole GPUs per replica */
    uint32_t replicas;
    int16_t mig;   /* MIG profile name id per replica, or -1 */
    int16_t model; /* required GPU model, or -1 */
    bool preemptible;
    bool borrowed; /* admitted (at least partly) above its workspace's reservation */
    bool starving; /* holds back borrowing in its tenant (docs/policy.md) */
    /* The topology level its replicas must (topology_required) or should share a domain of
     * (index in s->opt.topology), or -1 (docs/policy.md, "Topology"). */
    int8_t topology_level;
    bool topology_required;
    /* How long a run may last before its agent stops it (reason time_limit); 0: no limit.
     * docs/policy.md, "Time limits and backfill". */
    int64_t time_limit_ms;
    int64_t grace_ms;
    struct sched_resources total; /* all replicas */
    int64_t cpu, memory, storage; /* per replica */

    const char *name;
    int64_t units_per_replica;
    uint64_t seq; /* submission order; kept when requeued */
    int64_t submit_ms, queued_ms, start_ms, deadline_ms;
    uint32_t reclaim_for;  /* draining for this claimant, or SCHED_NONE */
    uint32_t waiting_on;   /* reclaiming: victims still draining */
    uint32_t rprev, rnext; /* links in its workspace's running list */
    uint32_t fprev, fnext; /* links in its tenant's pending FIFO */
    enum sched_kind kind;
    struct sched_replica *placement; /* replicas entries */
    /* When it last saved its work, as reported (sched_checkpoint), or 0: never. Preemption
     * counts what a victim would lose from here or its start, the later (docs/policy.md,
     * "Lost work"). */
    int64_t checkpoint_ms;
    /* Running on GPUs claimed by this reclaiming workload, which waits for it as for its
     * victims (backfill: docs/policy.md, "Time limits and backfill"), or SCHED_NONE. */
    uint32_t backfill_for;
};

enum sched_event_kind {
    SCHED_EV_SUBMITTED,
    SCHED_EV_QUEUED,
    SCHED_EV_REJECTED,
    SCHED_EV_ADMITTED,
    SCHED_EV_PREEMPTING,
    SCHED_EV_STOPPED,
    SCHED_EV_FINISHED,
    SCHED_EV_CANCELLED,
    SCHED_EV_RESERVATION_DEGRADED,
    SCHED_EV_RESERVATION_RESTORED,
    SCHED_EV_NODE_STATE,        /* a node became ready, draining or down */
    SCHED_EV_GPU_HEALTH,        /* a GPU became healthy or unhealthy */
    SCHED_EV_WORKSPACE_UPDATED, /* a workspace's limits, reservation, lend, weight or
                                 * require_image changed */
    SCHED_EV_FAILED,            /* its run ended badly (sched_fail) */
    SCHED_EV_COUNT
};

/* One decision or change, in the order the engine made them. */
struct sched_event {
    enum sched_event_kind kind;
    int64_t t;         /* the `now` it was made at */
    uint32_t workload; /* or SCHED_NONE */
    uint32_t tenant;   /* for reservation events; else the workload's tenant */
    enum sched_reason reason;
    uint32_t other;     /* preempting: the workload it makes room for */
    int64_t deadline;   /* preempting: when the grace period ends; queued with reason
                         * min_runtime: when the first candidate reaches its min_runtime */
    bool borrowed;      /* admitted */
    int64_t a, b;       /* reservation events: healthy and reserved GPU units; node_state: a
                         * is the node's state before (a sched_node_state); admitted: a is
                         * the GPU units above its workspace's reservation at its start (its
                         * borrowed part, 0..total) */
    uint32_t node, gpu; /* node_state, gpu_health (SCHED_NONE otherwise) */
    uint32_t workspace; /* workspace_updated */
    char message[200];  /* a human sentence */
};

struct sched_scratch;

struct sched_options {
    int64_t default_grace_ms;  /* 30s */
    int64_t starvation_age_ms; /* 10m: see docs/policy.md, "Starvation" */
    int32_t kind_priority[SCHED_KIND_COUNT];
    /* true (the default): among the victim sets the rules allow, preemption takes the one
     * that loses the least work since the victims' last checkpoints (docs/policy.md, "Lost
     * work"); false: the victim order alone, as before checkpoints were known. */
    bool checkpoint_aware;
    /* Topology levels, widest first: the label keys that name a node's domains
     * (docs/policy.md, "Topology"). Strings are copied by sched_new. */
    const char *topology[SCHED_MAX_TOPOLOGY_LEVELS];
    uint32_t n_topology;
};

struct sched {
    struct sched_options opt;
    struct arena names;
    struct hmap tenant_ids, cluster_ids, node_ids, workspace_ids, workload_ids;
    struct sched_tenant *tenants;
    uint32_t n_tenants, cap_tenants;
    struct sched_cluster *clusters;
    uint32_t n_clusters, cap_clusters;
    struct sched_node *nodes;
    uint32_t n_nodes, cap_nodes;
    struct sched_workspace *workspaces;
    uint32_t n_workspaces, cap_workspaces;
    struct sched_workload *workloads;
    uint32_t n_workloads, cap_workloads;
    struct sched_event *events;
    uint32_t n_events, cap_events;
    uint64_t next_seq;
    int64_t last_now;
    bool oom;                       /* an allocation failed since the last sched_schedule */
    struct sched_event spare_event; /* where events go when the list cannot grow */
    uint32_t *free_ids;             /* slots of forgotten workloads, reused first */
    uint32_t n_free, cap_free;
    struct sched_scratch *scratch; /* the engine's private working state */
    struct sched_domain *domains;  /* topology domains, derived from the nodes' labels */
    uint32_t n_domains, cap_domains;
    struct hmap domain_ids; /* "tenant/level/value" -> domain id */
    /* Each node's domain at each level (opt.n_topology ids per node, in node order; NULL
     * without levels), resolved from its labels while it has a tenant: kept beside the nodes
     * so that a platform without topology reads no more of them (sched_node_domain). */
    uint32_t *node_domains;
    uint32_t cap_node_domains; /* nodes it has rows for */
};

/* Specifications for adding and changing objects. Strings are copied. */
struct sched_tenant_spec {
    const char *name;
    enum sched_isolation isolation;
    int64_t max_grace_ms; /* 0: no cap beyond the default */
    bool require_image;   /* every workload of its workspaces must name an image */
    uint32_t max_queued;  /* 0: SCHED_QUEUED_TENANT_DEFAULT; else at most SCHED_MAX_QUEUED */
};

struct sched_cluster_spec {
    const char *name;
    const char *dedicated_to; /* tenant name or NULL */
};

struct sched_workspace_spec {
    const char *name;              /* "tenant/workspace" */
    struct sched_resources limits; /* SCHED_UNLIMITED for none */
    int64_t reserved;              /* GPU units */
    bool lend;
    uint32_t weight;    /* >= 1 */
    bool require_image; /* its workloads must name an image (its tenant's may also say so) */
    int64_t min_runtime_ms[SCHED_KIND_COUNT]; /* per kind, >= 0 (SCHED_MAX_MIN_RUNTIME_MS) */
    /* 0: none; else 1ms..SCHED_MAX_TIME_LIMIT_MS, the default at most the maximum */
    int64_t default_time_limit_ms, max_time_limit_ms;
    uint32_t max_queued; /* limits.queued; 0: SCHED_QUEUED_WORKSPACE_DEFAULT */
};

struct sched_gpu_spec {
    enum gpu_model model;
    bool healthy;
    uint8_t n_mig;
    struct mig_instance_spec mig[MIG_MAX_INSTANCES]; /* starts already placed and valid */
};

struct sched_node_spec {
    const char *name;
    const char *cluster;
    const char *tenant; /* NULL: unowned */
    int64_t cpu, memory;
    enum sched_node_state state;
    uint32_t n_gpus;
    const struct sched_gpu_spec *gpus;
    uint32_t n_labels;
    const struct sched_label *labels;
};

struct sched_workload_spec {
    const char *name;
    const char *workspace; /* "tenant/workspace" */
    enum sched_kind kind;
    bool has_priority;
    int32_t priority;
    uint32_t gpus;     /* whole GPUs per replica; 0 with mig < 0: CPU only */
    int mig;           /* MIG profile name id, or -1 */
    int model;         /* enum gpu_model or -1 */
    uint32_t replicas; /* >= 1 */
    int64_t cpu, memory, storage;
    int preemptible;       /* 1, 0, or -1 for the kind's default */
    int64_t grace_ms;      /* -1: default */
    bool has_image;        /* it names an OCI image to run in (the engine needs no more of it) */
    int64_t time_limit_ms; /* 0: none given (its workspace's default applies); else
                            * 1..SCHED_MAX_TIME_LIMIT_MS */
    /* A topology level its replicas must (topology_required) or should share a domain of,
     * or NULL (docs/policy.md, "Topology"). */
    const char *topology;
    bool topology_required;
};

/* Options with their defaults. */
void sched_options_default(struct sched_options *opt);

/* IN opt (NULL: defaults; its topology names are copied). OUT *out, owned by the caller
 * (sched_free). RET 0, -ALLOT_ENOMEM, or -ALLOT_EINVAL for topology levels that
 * sched_topology_set refuses. */
int sched_new(const struct sched_options *opt, struct sched **out);
/* Declare the topology levels, widest first (docs/policy.md, "Topology"): n at most
 * SCHED_MAX_TOPOLOGY_LEVELS distinct names (copied); every node's domains are resolved again.
 * Refused (-ALLOT_EINVAL, nothing changed, a sentence in err) for a bad or repeated name, too
 * many, or a change while any workload names a level. RET 0, -ALLOT_ENOMEM. */
int sched_topology_set(struct sched *s, const char *const *levels, uint32_t n, char *err,
                       size_t len);
/* The domain of node at topology level (an index in s->domains), or SCHED_NONE: no label
 * for that level, no tenant, no such level or node. */
uint32_t sched_node_domain(const struct sched *s, uint32_t node, uint32_t level);
/* The index of topology level name in s->opt.topology. RET 0 and *level, or -ALLOT_ENOENT. */
int sched_topology_find(const struct sched *s, const char *name, uint32_t *level);
/* Free the engine and everything in it. Accepts NULL. */
void sched_free(struct sched *s);

/* Every call that changes the engine checks the invariants it relies on, in every build:
 * one that meets a broken invariant stops there and returns -ALLOT_ECHECK, with the
 * invariant named by sched_broken (below), besides the errors each lists. */

/* Configuration. Each returns 0 and the new object's id through *id (may be NULL), or a
 * negative error with a sentence in err naming the field; nothing is changed on error. */
int sched_tenant_add(struct sched *s, const struct sched_tenant_spec *spec, uint32_t *id, char *err,
                     size_t len);
int sched_cluster_add(struct sched *s, const struct sched_cluster_spec *spec, uint32_t *id,
                      char *err, size_t len);
int sched_node_add(struct sched *s, const struct sched_node_spec *spec, uint32_t *id, char *err,
                   size_t len);
int sched_workspace_add(struct sched *s, const struct sched_workspace_spec *spec, uint32_t *id,
                        char *err, size_t len);
/* Change a workspace's limits, reservation, lend, weight and require_image (spec->name names
 * it). A reservation that would exceed the tenant's GPUs is refused (-ALLOT_ERESERVATION);
 * limits lowered below what the workspace holds preempt its newest workloads
 * (limit_reduced); require_image applies to later submissions only. */
int sched_workspace_update(struct sched *s, const struct sched_workspace_spec *spec, int64_t now,
                           char *err, size_t len);
/* Set a tenant's cap on the pending workloads of all its workspaces (0: the default); what is
 * queued already stays. RET 0, -ALLOT_ENOENT (no tenant), -ALLOT_ERANGE. */
int sched_tenant_set_queued(struct sched *s, uint32_t tenant, uint32_t max_queued, char *err,
                            size_t len);
/* What a submission to workspace ws meets before anything is made (docs/policy.md, "Queue
 * caps"): the queued cap that is full, if any. */
struct sched_queued_cap {
    bool tenant;     /* the tenant's cap (all its workspaces), else the workspace's */
    const char *of;  /* the workspace's or the tenant's name (the engine's) */
    uint32_t cap;    /* the cap */
    uint32_t queued; /* pending workloads now */
};
/* Whether one more pending workload fits in workspace ws and its tenant. Pure: changes
 * nothing; the daemon asks before it journals a submission, the simulator before it submits.
 * OUT *full (may be NULL) when refused. RET 0, -ALLOT_ETOOMANY, -ALLOT_ENOENT (no such ws). */
int sched_queued_check(const struct sched *s, uint32_t ws, struct sched_queued_cap *full);
/* Node state: down stops its workloads and requeues them; draining takes no new work. A
 * node that is moving cannot be made ready (-ALLOT_ESTATE: cancel the move instead); draining
 * it then makes the drain the caller's own, so that a cancelled move leaves it draining. */
int sched_node_set_state(struct sched *s, uint32_t node, enum sched_node_state state, int64_t now);
/* sched_node_set_state with why (NULL or "": none), a sentence that the node_state event's
 * message carries in parentheses (cut to fit). The engine keeps nothing of it. */
int sched_node_set_state_why(struct sched *s, uint32_t node, enum sched_node_state state,
                             const char *why, int64_t now);
/* GPU health: an unhealthy GPU's workloads are stopped and requeued. */
int sched_gpu_set_health(struct sched *s, uint32_t node, uint32_t gpu, bool healthy, int64_t now);
/* Complete the move of node if nothing is left on it (the engine calls this whenever work
 * leaves a node; callers need not). */
void sched_node_moves_settle(struct sched *s, uint32_t node, int64_t now);
/* Give a node to another tenant (tenant name, or NULL: to nobody). It drains first: it takes
 * no new work, and joins the new tenant, ready, only when nothing of the old one runs on it
 * (at once if nothing does) and, with wipe, once sched_node_wiped says that its agent has
 * removed what the old tenant left there (docs/policy.md, "Moving a node"). Refused
 * (-ALLOT_ERESERVATION) when the old tenant's reservations would exceed what it keeps,
 * (-ALLOT_ECONFIG) when the node's cluster is dedicated to another tenant or the new tenant
 * is dedicated and the cluster is not its. */
int sched_node_move(struct sched *s, uint32_t node, const char *tenant, bool wipe, int64_t now,
                    char *err, size_t len);
/* Stop the move of node that has not completed (docs/policy.md, "Moving a node"): it stays
 * its tenant's, waits for no wipe, and is ready again if the move alone drained it (it stays
 * draining when it was draining before the move or was drained during it, and down when it is
 * down). Work that the drain already took away stays where it is now. RET 0; -ALLOT_ESTATE
 * when no move is under way (none was made, or it completed); -ALLOT_EINVAL. */
int sched_node_move_cancel(struct sched *s, uint32_t node, int64_t now);
/* The agent of node has wiped it for tenant (SCHED_NONE: for no tenant): a move to that
 * tenant that waited for it completes. RET 0; -ALLOT_ESTATE when the node waits for no such
 * wipe (no move, still draining, or a move to another tenant); -ALLOT_EINVAL. */
int sched_node_wiped(struct sched *s, uint32_t node, uint32_t tenant, int64_t now);
/* The tenant node's agent should serve now (SCHED_NONE: none): its owner, or, once the drain
 * of a move that waits for a wipe is over, the tenant it moves to. */
uint32_t sched_node_serving(const struct sched *s, uint32_t node);

/* Workloads. sched_submit queues the workload (0) or rejects it: then it exists in state
 * rejected and the return is the negative reason's error (-ALLOT_EREJECTED, -ALLOT_ELIMIT,
 * -ALLOT_ENOFIT, -ALLOT_ENOENT for an unknown workspace, -ALLOT_EINVAL, also for a workload
 * without an image where one is required: image_required); a duplicate name is -ALLOT_EEXIST
 * and creates nothing. *id is set whenever the workload was created. */
int sched_submit(struct sched *s, const struct sched_workload_spec *spec, int64_t now, uint32_t *id,
                 char *err, size_t len);
/* Whether the workloads of workspace ws must name an image: its own require_image, or its
 * tenant's (docs/policy.md, "Images"). RET 0 when they need not (or ws is no workspace);
 * -ALLOT_EINVAL when they must, with a sentence in why saying whether the tenant or the
 * workspace requires it. Cannot fail otherwise; changes nothing. */
int sched_image_required(const struct sched *s, uint32_t ws, char *why, size_t len);
/* Cancel: pending work is dropped at once; running work drains (its grace period) and is
 * cancelled when sched_stopped reports its exit. RET 0, -ALLOT_ESTATE if already over. */
int sched_cancel(struct sched *s, uint32_t id, int64_t now);
/* The workload's processes exited by themselves. RET 0, -ALLOT_ESTATE if not running. */
int sched_finish(struct sched *s, uint32_t id, int64_t now);
/* Workload id saved its work at time t (its checkpoint file changed, or the checkpoint call
 * of the API): from then on, preemption counts what it would lose from t (docs/policy.md,
 * "Lost work"). A t older than its last checkpoint changes nothing. RET 0; -ALLOT_ENOENT (no
 * such workload); -ALLOT_ESTATE (not running or draining); -ALLOT_EINVAL (t before its start
 * or after now). Changes nothing on error; no event (it changes no decision by itself). */
int sched_checkpoint(struct sched *s, uint32_t id, int64_t t, int64_t now);
/* The work workload id would lose if stopped now: GPU units x milliseconds since its last
 * checkpoint, or its start if later (0 when it is not running or draining); saturates at
 * INT64_MAX. */
int64_t sched_workload_lost(const struct sched *s, uint32_t id, int64_t now);

/* The workload's run ended badly (a non-zero exit, a signal Allot did not send, a start
 * failure, as the caller read its processes' ends): it ends failed, and its resources are
 * free again. RET 0, -ALLOT_ESTATE if not running or draining. */
int sched_fail(struct sched *s, uint32_t id, int64_t now);
/* The workload's run reached its time limit and its processes are gone (its agent stopped
 * it: docs/policy.md, "Time limits and backfill"): it ends failed with reason time_limit,
 * whatever its exit. RET 0, -ALLOT_ESTATE if not running or draining. */
int sched_time_limit_reached(struct sched *s, uint32_t id, int64_t now);
/* The time by which running or draining workload w is sure to be gone: a draining one's
 * deadline; a running one's start + time limit + grace (its agent stops it at its time
 * limit, and kills it a grace later). RET that time, or -1 when it has no time limit. */
int64_t sched_workload_end_by(const struct sched_workload *w);
/* A draining workload's processes are gone: its resources are free again, and a preempted
 * workload is queued again in its original place. RET 0, -ALLOT_ESTATE if not draining. */
int sched_stopped(struct sched *s, uint32_t id, int64_t now);

/* Forget workload id, which is over (finished, failed, cancelled or rejected): its name is free
 * again and its slot is reused by a later submission, so that an engine fed an endless
 * stream (a trace replay) holds only what is in flight. Its slot keeps its final state with
 * a NULL name. RET 0; -ALLOT_ENOENT (no such workload, or forgotten); -ALLOT_ESTATE (not
 * over); -ALLOT_ENOMEM. The controller never forgets: its ids are stable. */
int sched_workload_forget(struct sched *s, uint32_t id);

/* Run the admission pass over every tenant with changes: admit, preempt, queue. Decisions
 * are appended to the event list. RET 0, -ALLOT_ENOMEM or -ALLOT_ECHECK. */
int sched_schedule(struct sched *s, int64_t now);

/* Bring every workspace's guaranteed/borrowed GPU time up to now. */
void sched_account_flush(struct sched *s, int64_t now);

/* Have the next sched_schedule look at every tenant again, as time alone can change what
 * it decides (the starvation guard, docs/policy.md). */
void sched_touch(struct sched *s);

/* Events made since the last sched_events_clear, oldest first. */
const struct sched_event *sched_events(const struct sched *s, uint32_t *n);
void sched_events_clear(struct sched *s);

/* Look-ups by name. RET 0 and *id, or -ALLOT_ENOENT. */
int sched_workload_find(const struct sched *s, const char *name, uint32_t *id);
int sched_node_find(const struct sched *s, const char *name, uint32_t *id);
int sched_workspace_find(const struct sched *s, const char *name, uint32_t *id);
int sched_tenant_find(const struct sched *s, const char *name, uint32_t *id);

/* GPU units the workspace will hold once its draining workloads are gone and its reclaiming
 * ones run (its position: held - draining + claimed), and the parts of it within its
 * reservation (guaranteed) and above it (borrowed). docs/policy.md, "Guaranteed and
 * borrowed". */
int64_t sched_workspace_position(const struct sched_workspace *ws);
int64_t sched_workspace_guaranteed(const struct sched_workspace *ws);
int64_t sched_workspace_borrowed(const struct sched_workspace *ws);

/* Verify every invariant of docs/policy.md (no double allocation of GPU, slice, CPU or
 * memory; workspace limits; tenant isolation; consistent counters). RET 0, or -ALLOT_ECHECK
 * with the first violation described in err. */
int sched_check(const struct sched *s, char *err, size_t len);
/* The invariant the engine found broken while it worked: a call that meets one stops at
 * once and returns -ALLOT_ECHECK, and the sentence naming it is kept here (the first one
 * met). Such an engine may be half-way through a change: discard it (the daemon stops
 * before committing anything). RET NULL while none was met. */
const char *sched_broken(const struct sched *s);

/* Names for printing. */
const char *sched_state_name(enum sched_state st);
/* Whether st is an end: finished, failed, cancelled or rejected. */
bool sched_state_ended(enum sched_state st);
const char *sched_kind_name(enum sched_kind k);
int sched_kind_parse(const char *name, enum sched_kind *k);
const char *sched_event_name(enum sched_event_kind k);
int sched_event_parse(const char *name, enum sched_event_kind *k);
int sched_state_parse(const char *name, enum sched_state *st);
const char *sched_node_state_name(enum sched_node_state st);
int sched_node_state_parse(const char *name, enum sched_node_state *st);

#endif
