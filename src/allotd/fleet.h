/* The controller's side of node agents: reports, the desired set of each node (answered at
 * once or held as a long poll until it changes), which workloads run where, heartbeats. The
 * fleet owns its state (struct fleet): fleet_new makes it, fleet_free frees it. */
#ifndef ALLOT_ALLOTD_FLEET_H
#define ALLOT_ALLOTD_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "allotd/controller.h"
#include "schema/nodereport.h"

struct call;
struct fleet;

/* Counters for /metrics: reports received (those that carried an inventory among them), and
 * the polls held now. */
struct fleet_stats {
    uint64_t reports, inventories;
    uint32_t held;
};

/* The fleet of ctl's node agents (ctl must outlive it), with no agent heard yet. OUT *out,
 * owned by the caller (fleet_free). RET 0 or -ALLOT_ENOMEM. */
int fleet_new(struct controller *ctl, struct fleet **out);
/* Start the heartbeat check (not with virtual nodes) and set the epoch that tells agents
 * this run of the controller from the last. RET 0, or -ALLOT_ENOMEM with a sentence. */
int fleet_start(struct fleet *f, char *err, size_t len);
/* Connections one node agent holds at most: its held poll, its push, its output. */
#define FLEET_AGENT_CONNECTIONS 3
/* Say in the log when the HTTP connection cap (ctl->gate's) is below what the agents of the
 * platform's nodes may hold (docs/operations.md, "Running agents"). */
void fleet_connections_check(struct controller *ctl);
/* The counters now. */
void fleet_stats(const struct fleet *f, struct fleet_stats *out);
/* Drop held reports unanswered and free the fleet. Accepts NULL. */
void fleet_free(struct fleet *f);

/* A node agent's report: its inventory (GPU health) and the state of its workloads, applied
 * as ops; marks the node seen. OUT *changed: whether it changed anything.
 * RET 0, or a negative error with field and sentence (nothing applied). */
int fleet_report(struct fleet *f, uint32_t node, const json_t *report, bool *changed, char *field,
                 size_t field_len, char *err, size_t len);
/* The workloads that should run on node now, for its agent: a new JSON object
 * {node, epoch, version, workloads: [...]}. */
json_t *fleet_desired(struct fleet *f, uint32_t node);

/* What node's agent last said of it, for the node's view: {state: reporting | unreachable |
 * never seen | simulated, last_report, gpus: declared | discovered, driver, cpu_millicores,
 * memory_bytes, labels}. A new object. */
json_t *fleet_node_json(struct fleet *f, uint32_t node);
/* Whether workload id runs, or last ran, on node. */
bool fleet_ran_on(const struct fleet *f, uint32_t id, uint32_t node);

/* Workload id's state may have changed: keep the set of live (running, draining) workloads
 * and the versions of the nodes they touch. Called for every event's workload. */
void fleet_track(struct fleet *f, uint32_t id);
/* Answer report call c (after the commit) with its node's desired set, or hold it until
 * that set changes or c->wait_ms passes, when the agent already has the current version.
 * Takes c. */
void fleet_reply(struct fleet *f, struct call *c);
/* Node's desired set changed for another reason than a workload's (a move: the tenant its
 * agent serves). */
void fleet_node_changed(struct fleet *f, uint32_t node);
/* After a commit: answer the held reports whose node's desired set changed. */
void fleet_wake(struct fleet *f);
/* Before the controller rebuilds its state from the store: forget which workloads run where
 * (the replay tells again). */
void fleet_forget_workloads(struct fleet *f);
/* After the engine was loaded from a snapshot (allotd/snapshot.h): track every running or
 * draining workload, and remember the nodes of every one that ran (its output may still be
 * shipped), as the replay of the journal would have. */
void fleet_restore(struct fleet *f);
/* Workload id left the engine (controller_forget): forget where it ran. */
void fleet_forget(struct fleet *f, uint32_t id);
/* After the rebuild: a new epoch, so that agents take the new desired sets over what they
 * had, and every held report answered with its node's. */
void fleet_new_epoch(struct fleet *f);
/* The controller could not hear its agents for a while (its store was unreachable, their
 * reports answered 503): count every node's silence from now, as at a start. */
void fleet_grace(struct fleet *f);

#endif
