/* Placement: which node, GPUs or MIG slices each replica of a workload gets. Best fit that
 * keeps whole nodes and whole GPUs free; gangs all or nothing (docs/policy.md). Also keeps
 * the free-capacity counters of nodes and tenants in step with every slot change. */
#ifndef ALLOT_SCHED_PLACEMENT_H
#define ALLOT_SCHED_PLACEMENT_H

#include "sched/sched.h"

/* GPU units a whole GPU or a MIG slot of this GPU is worth. */
int64_t placement_slot_units(const struct sched_gpu *g, int slot);
/* GPU units of healthy GPUs on the node (all of it, whatever is held). */
int64_t placement_node_units(const struct sched_node *n);
/* GPU units on the node free for new work now (0 unless ready). */
int64_t placement_node_free_units(const struct sched *s, const struct sched_node *n);

/* Free whole GPUs on the node now, counted from its slots (0 unless ready). */
uint32_t placement_node_free_whole(const struct sched_node *n);
/* Set the node's free_whole, keeping its tenant's free_whole and nodes_by_free in step. */
void placement_set_free_whole(struct sched *s, struct sched_node *n, uint32_t value);
/* Whether node n has whole GPUs of more than one model (placement_whole_model is -1 for it). */
bool placement_node_mixed(const struct sched_node *n);
/* Whether node n has a GPU split into MIG slices. */
uint8_t placement_node_has_mig(const struct sched_node *n);
/* Node n's locked mask (struct sched_node), counted from its GPUs. */
uint32_t placement_node_locked(const struct sched_node *n);
/* Set GPU i's bit of node n's locked mask from the GPU, after its claim or health changed. */
void placement_gpu_lock(struct sched_node *n, uint32_t i);
/* The model of every whole GPU of node n, or -1 when they differ or there is none. */
int8_t placement_whole_model(const struct sched_node *n);
/* Count node n's GPUs in tenant t's gpus_by_model (sign +1) or out of it (-1). */
void placement_count_models(struct sched_tenant *t, const struct sched_node *n, int sign);
/* Room for n nodes in tenant t's node_free and node_mig. RET 0 or -ALLOT_ENOMEM. */
int placement_tenant_reserve(struct sched_tenant *t, uint32_t n);
/* Rebuild what placement keeps beside the nodes' own counters (each node's tenant_pos, each
 * tenant's node_free), as a loaded snapshot needs. RET 0 or -ALLOT_ENOMEM. */
int placement_index_rebuild(struct sched *s);
/* Most free whole GPUs on one node of the tenant. */
uint32_t placement_max_free_whole(const struct sched_tenant *t);

/* Find room for every replica of workload id on its tenant's ready nodes (a gang naming a
 * topology level: within its domains, topology.h), treating slots
 * held by workloads marked as victims (sched_scratch) as free, and claim it: the chosen slots get
 * claim = id and the nodes' claimed CPU and memory grow. Writes w->placement.
 * RET 0, or -ALLOT_ENOFIT with nothing changed. */
int placement_claim(struct sched *s, uint32_t id);
/* Whole GPUs of replica r of a running or draining workload that a placement search may use
 * once it is marked as a victim: those of its mask that are healthy, not MIG-split and
 * unclaimed (slot_usable; it holds every GPU of its mask: sched_check). Reads the node, not
 * its GPUs (locked). */
uint32_t placement_usable_whole(const struct sched *s, const struct sched_replica *r);
/* Would one replica of workload id fit on node (treating the marked victims' slots as free),
 * as placement_claim's search over its tenant's nodes would find it? False for a node that
 * search does not read (not the tenant's). For a request of one replica, without a backfill
 * claimant, placement_claim succeeds exactly when this holds for some node of the tenant, and
 * a node's answer depends only on that node and the marks of the victims on it. Claims
 * nothing. */
bool placement_fits_on(struct sched *s, uint32_t id, uint32_t node);
/* placement_claim on the n nodes (ids of its tenant's) only, whatever its topology. */
int placement_claim_in(struct sched *s, uint32_t id, const uint32_t *nodes, uint32_t n_nodes);
/* Undo placement_claim (or what remains of it). */
void placement_unclaim(struct sched *s, uint32_t id);
/* The shadow time of reclaiming workload claimant (docs/policy.md, "Time limits and
 * backfill"): the time by which every holder of a slot it claims (its draining victims, and
 * backfills) is sure to be gone (sched_workload_end_by), so that it can start. RET that
 * time, or -1 when one of them has no known end (or none holds anything). */
int64_t placement_claim_shadow(const struct sched *s, uint32_t claimant);
/* The distinct reclaiming workloads that claim an unheld slot (a GPU or MIG slice that was
 * free when they claimed it) on tenant t's ready nodes, at most max of them, in node order:
 * where backfill into a reclaim's claim may go (docs/policy.md, "Time limits and backfill").
 * OUT out. RET their count. Costs a look at every GPU of the tenant. */
uint32_t placement_claimants(const struct sched *s, const struct sched_tenant *t, uint32_t *out,
                             uint32_t max);
/* placement_claim for pending workload id that may also use the unheld slots claimed by
 * reclaiming workload claimant (the caller has checked its shadow time): those it takes are
 * held by id at once, their claim staying the claimant's, and the caller links id to the
 * claimant (backfill_for) before it starts it. OUT *used: it took such a slot. RET 0, or
 * -ALLOT_ENOFIT with nothing changed. */
int placement_claim_into(struct sched *s, uint32_t id, uint32_t claimant, bool *used);
/* Turn the claims of id into holdings. RET 0, or -ALLOT_ECHECK with nothing changed when a
 * slot of its placement is not claimed by it or still has a holder (a double allocation). */
int placement_start(struct sched *s, uint32_t id);
/* Release everything id holds. Slots claimed by others stay claimed. */
void placement_release(struct sched *s, uint32_t id);
/* Could the request ever fit on the tenant's nodes, all of them empty and up?
 * RET 0, or the reason it never could (SCHED_REASON_NEVER_FITS, _MIG_UNSUPPORTED) with a
 * sentence in msg. */
int placement_possible(const struct sched *s, const struct sched_workload *w, char *msg,
                       size_t len);

#endif
