/* Topology domains (docs/policy.md, "Topology"): a tenant's nodes grouped by their label for
 * each declared level, resolved once when a node joins its tenant, and the placement of gangs
 * whose replicas must or should share one domain. */
#ifndef ALLOT_SCHED_TOPOLOGY_H
#define ALLOT_SCHED_TOPOLOGY_H

#include <stdbool.h>
#include <stdint.h>

#include "sched/sched.h"

/* Put node id, which has a tenant and is in no domain yet, in its tenant's domain of each
 * level its labels name (a domain is made for a value not seen before); its free_whole
 * counts there from now on. RET 0, or -ALLOT_ENOMEM with the node in no domain. */
int topology_node_join(struct sched *s, uint32_t id);
/* Take node id out of its domains (it is then in none). Cannot fail. */
void topology_node_leave(struct sched *s, uint32_t id);
/* Forget every domain and resolve every node's again from its labels (after a snapshot is
 * loaded, or the levels change). RET 0 or -ALLOT_ENOMEM. */
int topology_rebuild(struct sched *s);
/* Free the domains. */
void topology_free(struct sched *s);

/* Does the placement of workload id depend on topology: a gang naming a level? */
bool topology_applies(const struct sched_workload *w);
/* placement_claim for a gang that names a level (topology_applies): within one domain of
 * that level, the fullest that fits; when only preferred, then within one domain of each
 * wider level, then anywhere. RET 0, or -ALLOT_ENOFIT with nothing changed. */
int topology_claim(struct sched *s, uint32_t id);
/* Order two nodes for packing: <0 when a's domains (widest level first) have fewer free
 * whole GPUs than b's, so that work fills fuller domains and free ones stay whole; a node
 * in no domain of a level counts as having none free there. 0 when equal or no levels. */
int topology_pack_cmp(const struct sched *s, const struct sched_node *a,
                      const struct sched_node *b);
/* The domain of tenant t at level with the most free whole GPUs (ties: the first made).
 * RET its id, or SCHED_NONE when the tenant has none at that level. */
uint32_t topology_largest(const struct sched *s, uint32_t t, uint32_t level);
/* The nodes a starving gang that requires a domain should be fenced within: OUT *nodes and
 * *n of the domain of its level whose nodes able to hold a replica (fits(node) true) are at
 * least its replicas, with the most free whole GPUs among those. RET false when none is. */
bool topology_fence_domain(const struct sched *s, uint32_t id,
                           bool (*fits)(const struct sched_node *, const struct sched_workload *),
                           const uint32_t **nodes, uint32_t *n);
/* Check the domains against the nodes: every node of a tenant in the domain its label names,
 * each domain's free_whole the sum of its nodes'. RET 0, or -1 with a sentence in err. */
int topology_check(const struct sched *s, char *err, size_t len);

#endif
