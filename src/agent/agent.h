/* The node agent's state: what runs here, what is shipped, and the connections to the
 * controller. One libevent loop owns all of it (docs/agent.md); the agent's modules (task,
 * report, shipment, statefile, tenancy, storage, join) are functions over it. */
#ifndef ALLOT_AGENT_AGENT_H
#define ALLOT_AGENT_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "agent/gpuinfo.h"
#include "agent/identity.h"
#include "agent/limits.h"
#include "agent/runas.h"
#include "agent/runner.h"
#include "common/serverlist.h"

/* Replicas one agent tracks (running, or ended and not yet reported). */
#define AGENT_MAX_PROCS 1024
/* Environment entries given to one replica: the workload's and Allot's. */
#define AGENT_MAX_ENV 96
/* --label's of one agent. */
#define AGENT_MAX_LABELS 32
/* A container's id in its runtime, "<node>.<id>", bytes with its NUL. */
#define AGENT_CONTAINER_ID_SIZE 176
/* Longest path of the container settings, bytes with the NUL. */
#define AGENT_PATH_SIZE 4096

/* The controller when no --server is given. */
#define AGENT_DEFAULT_SERVER "http://127.0.0.1:7070"

/* Longest tenant name the agent keeps, bytes with its NUL. */
#define AGENT_TENANT_SIZE 64

struct agent;
struct devices;
struct evhttp_request;
struct shipment;

/* Reports travel on two channels (connections): the poll, which the controller holds until
 * something changes for this node or the keepalive ends, and the push, sent at once when a
 * workload ends or the agent has other news while the poll is held. */
enum agent_channel { AGENT_CHANNEL_POLL, AGENT_CHANNEL_PUSH, AGENT_CHANNEL_COUNT };

/* One replica this agent runs (or ran and has not reported yet). */
struct task {
    bool used;
    struct agent *agent; /* whose task it is: the way back from the runner's on_exit */
    char name[256];      /* tenant/workspace/name */
    int rank;
    char id[32];              /* the runner's id: "w<N>" */
    struct runner_proc *proc; /* NULL once it has ended */
    bool stopping;            /* told to stop */
    bool ended;               /* ended; reported at the next report, then forgotten */
    unsigned sent;            /* its end is in the report in flight on these channels */
    /* Reports are deltas (docs/agent.md, "Reports"): a running replica is listed until the
     * controller has answered a report that listed it with its newest checkpoint. */
    unsigned run_sent; /* listed running in the report in flight on these channels ... */
    int64_t run_sent_checkpoint_ms[AGENT_CHANNEL_COUNT]; /* ... with this checkpoint */
    bool run_told;                                       /* answered: the controller knows ... */
    int64_t told_checkpoint_ms;                          /* ... it runs, and this checkpoint */
    int attempt;           /* the controller's count of its starts (logs are kept by it) */
    const char *end_state; /* "exited", "stopped" or "gone" (PROTOCOL_STATE_*) */
    int code, signal;
    char reason[300];
    uint64_t storage_bytes;           /* its declared storage; 0: unchecked */
    char cgroup[CGROUP_NAME_MAX + 1]; /* its cgroup under the root, "" when none */
    bool keeper;                      /* it runs under a keeper process */
    bool container;                   /* it runs in a container (its workload has an image) */
    char container_id[AGENT_CONTAINER_ID_SIZE]; /* the runtime's id of it: "<node>.<id>" */
    char limit_reason[RUNNER_REASON_MAX];       /* why the agent stopped it for a limit, or "" */
    struct shipment *ship;                      /* its output on its way to the controller */
    int64_t checkpoint_ms; /* its checkpoint file's modification time (ms), 0: none seen */
    int64_t started_at_ms; /* when the agent started it (wall clock, ms since the epoch) */
    int64_t stop_at_ms;    /* its time limit's end (wall clock, ms since the epoch), or 0 */
    int64_t grace_ms;      /* the grace of a stop at stop_at_ms */
    bool time_limited;     /* the agent stopped it at its time limit (reported so) */
};

/* The output of one replica, shipped to the controller in chunks (docs/agent-running.md,
 * "Logs"); kept after its process ends until all of it is there. */
struct shipment {
    bool used;
    bool ended;     /* its process ended: forgotten once everything is shipped */
    char name[256]; /* tenant/workspace/name */
    int rank, attempt;
    char dir[4200];     /* its working directory, which holds stdout.log and stderr.log */
    int64_t shipped[2]; /* bytes of stdout, stderr the controller has */
};

/* The context of a report in flight on a channel: the agent holds one per channel (at most one
 * report is in flight on each), so none is left to free when the loop stops with one pending. */
struct agent_call {
    struct agent *agent;
    enum agent_channel channel;
};

/* The context of the chunk of output in flight (at most one): held by the agent for the same
 * reason. */
struct agent_ship_call {
    struct agent *agent;
    struct shipment *ship;
    int stream; /* 0 stdout, 1 stderr */
};

struct agent {
    struct event_base *base;
    struct evhttp_connection *conn; /* the poll's */
    struct evhttp_connection *push; /* the push's */
    /* The controller's servers (--server: a leader and its standbys, docs/agent.md "Several
     * servers"); every channel talks to the one at index server, whose host and port these are. */
    struct serverlist servers;
    int server;
    int next_server;             /* where agent_failover moves the channels, or -1 */
    struct event *reconnect_now; /* the move, from the loop rather than inside a callback */
    char host[256];
    int port;
    char node[128];
    char auth[512];
    struct gpuinfo gpus;
    struct runner *runner;
    struct task tasks[AGENT_MAX_PROCS];
    int tasks_end; /* every task in use is below this index: loops over tasks stop there */
    uint32_t next_id;
    bool in_flight[AGENT_CHANNEL_COUNT];
    struct agent_call calls[AGENT_CHANNEL_COUNT];
    bool dirty;           /* something ended while a push was in flight */
    int64_t every_ms;     /* the period of the agent's own checks (checkpoints, retries) */
    int64_t keepalive_ms; /* the longest the controller may hold a poll (--keepalive) */
    /* The inventory (GPUs, CPUs, memory, labels) goes in a report only when the controller
     * lacks it: at the start, when it changes, and when an answer asks (inventory_wanted). */
    char *inventory_told;                      /* the text the controller has acknowledged */
    char *inventory_sent[AGENT_CHANNEL_COUNT]; /* the text in the report in flight there */
    int64_t epoch;                             /* of the last answer applied ... */
    uint64_t version;       /* ... and its version: older answers are not applied */
    struct event *timer;    /* a poll when none is in flight (after a failure) */
    struct event *push_now; /* a push, from the loop rather than inside a callback */
    struct event *save_now; /* the state file, written once per loop iteration */
    bool state_dirty;
    struct evhttp_connection *ship_conn; /* output chunks, one at a time */
    struct shipment ships[AGENT_MAX_PROCS];
    int ships_end; /* every shipment in use is below this index */
    bool ship_in_flight;
    struct agent_ship_call ship_call; /* the chunk in flight's */
    struct event *ship_timer;
    struct event *storage_timer;    /* the storage check of every running replica */
    struct event *time_limit_timer; /* the next replica's time limit (task_time_limits) */
    struct event *sigint, *sigterm;
    struct limits limits;
    int64_t keep_ms;     /* a finished replica's directory is removed this long after its end */
    json_t *node_info;   /* the system's CPUs and memory and --label's, sent in every report */
    struct runas run_as; /* who a workspace's workloads run as (--run-as) */
    struct identity identity; /* each workspace's own uid, when no --run-as rule matches */
    /* The tenant the node serves (docs/agent-running.md, "Wipe"): nothing of another is on
     * it. When the controller names another, the node is wiped before it serves that one. */
    char tenant[AGENT_TENANT_SIZE]; /* "" for none */
    bool tenant_known;              /* from the state file or a wipe; false on a first start */
    bool wiping; /* the controller named wipe_for: wipe once the old work is gone */
    char wipe_for[AGENT_TENANT_SIZE]; /* "" for none */
    int64_t wipe_since_ms;            /* when the wipe was asked for */
    const char *wipe_dirs; /* --wipe-dirs: shared directories swept of the old users' files */
    /* Containers (docs/agent.md, "Images and containers"): a replica whose workload names an
     * image runs in a container of the runtime, in the image's rootfs from the store. */
    char image_store[AGENT_PATH_SIZE];  /* --image-store */
    char runtime[AGENT_PATH_SIZE];      /* --runtime, as a path; "" when none was found */
    char runtime_root[AGENT_PATH_SIZE]; /* --runtime-root: the runtime's state of containers */
    char bundles[AGENT_PATH_SIZE];      /* work-dir/bundles: each container's config.json */
    char container_cgroups[256];        /* --container-cgroup-parent: of linux.cgroupsPath */
    uint64_t reports, failures;
    /* The GPUs' CDI devices (agent/devices.h, docs/agent.md "Devices"): what a replica's GPUs
     * give it; NULL when devices are not enforced (--devices none). */
    struct devices *devices;
    char state_path[4200]; /* work-dir/agent-state.json: what runs, for a restarted agent */
    char workdir[4096];
};

/* The wall clock in ms since the epoch (the controller's deadlines are in it). */
int64_t agent_now_ms(void);

/* A free task slot, zeroed and marked used, or NULL when all AGENT_MAX_PROCS are. The
 * lowest free one is taken, so that a->tasks_end (every loop's bound) stays near the number
 * of replicas the node has, not the most it ever had. */
struct task *agent_task_take(struct agent *a);
/* Free t's slot (the task is forgotten). */
void agent_task_drop(struct agent *a, struct task *t);
/* The same for the shipments of output. */
struct shipment *agent_ship_take(struct agent *a);
void agent_ship_drop(struct agent *a, struct shipment *sh);

/* Point a->host and a->port at a->servers.url[i] (a->server = i). RET 0, or -1 when that URL
 * is not http://HOST:PORT (HOST at most 255 bytes). */
int agent_server_use(struct agent *a, int i);

/* Make a's loop, its three connections to a->host:a->port, its timers and signals (not yet
 * started) and its runner on workdir; its own checks run every every_ms, and a poll is held
 * at most keepalive_ms (and at most PROTOCOL_MAX_WAIT_MS). RET 0, or -1 after saying why. */
int agent_open(struct agent *a, const char *workdir, int64_t every_ms, int64_t keepalive_ms);

/* Judge the failed answer req (NULL: no answer) to a request to the current server (docs/
 * agent.md, "Several servers"): no answer (refused, timed out, dropped) or a standby's (307 or
 * 503 with X-Allot-Role: standby) moves every channel to the leader it names when that is
 * among a->servers, else to the next server of the list, logging one line; the connections
 * are rebuilt from the loop (agent_reconnect), and the timers retry as after any failure.
 * Other answers change nothing, and nor does a failure while a move waits. RET true when the
 * failure was one of those that move (logged, now or when the move was decided: the caller
 * need not log it). Safe inside a request's callback. */
bool agent_failover(struct agent *a, struct evhttp_request *req);
/* Do the move agent_failover decided, if one waits: free the three connections (what was in
 * flight on them is forgotten, to be sent again) and make them to the new server. Not from
 * inside a callback of their requests. RET 0, or -1 when a connection cannot be made. */
int agent_reconnect(struct agent *a);
/* Start the timers (a poll every every_ms when none is in flight, the storage check every
 * storage_ms, shipping) and signals, send the first poll and run the loop until SIGINT or
 * SIGTERM; then write the state file if it waits. */
void agent_run(struct agent *a, int64_t every_ms, int64_t storage_ms);
/* Free what agent_open and agent_run made. The workloads keep running (for adoption). */
void agent_close(struct agent *a);

#endif
