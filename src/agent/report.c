/* The node agent's reports to the controller and the desired sets that answer them: the long
 * poll, the push when a replica ends, and the order of answers across the two channels. */
#include "agent/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "agent/runner.h"
#include "agent/task.h"
#include "agent/tenancy.h"
#include "common/protocol.h"

uint64_t report_u64(const json_t *item, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(item, key));
    return v > 0 ? (uint64_t)v : 0;
}

struct evhttp_request *report_request_new(struct agent *a,
                                          void (*cb)(struct evhttp_request *, void *), void *ctx,
                                          const char *type, const void *body, size_t len)
{
    struct evhttp_request *req = evhttp_request_new(cb, ctx);
    if (!req)
        return NULL;
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    if (evhttp_add_header(h, "Host", a->host) || evhttp_add_header(h, "Authorization", a->auth) ||
        evhttp_add_header(h, "Content-Type", type) ||
        evbuffer_add(evhttp_request_get_output_buffer(req), body, len)) {
        evhttp_request_free(req);
        return NULL;
    }
    return req;
}

/* Apply the desired set answer, unless an answer on the other channel was newer: answers on
 * the two channels may arrive out of order, and one older than the last applied (same epoch,
 * lower version) could restart what has just ended. */
static void desired_apply(struct agent *a, const json_t *answer, bool carried_inventory)
{
    int64_t epoch = json_integer_value(json_object_get(answer, PROTOCOL_FIELD_EPOCH));
    uint64_t version = report_u64(answer, PROTOCOL_FIELD_VERSION);
    if (epoch == a->epoch && version < a->version)
        return;
    if (a->epoch && epoch != a->epoch)
        report_forget_told(a); /* another run of the controller: it knows nothing we said */
    /* it has no inventory of this node: the next report carries it (unless this one did: a
     * controller that cannot keep it is not sent it in a loop) */
    if (json_is_true(json_object_get(answer, PROTOCOL_FIELD_INVENTORY_WANTED)) &&
        !carried_inventory) {
        free(a->inventory_told);
        a->inventory_told = NULL;
    }
    a->epoch = epoch;
    a->version = version;
    tenancy_check(a, answer);
    tenancy_wipe_try(a); /* at once when nothing of the old tenant is left */
    task_reconcile(a, answer);
    tenancy_wipe_try(a);
}

void report_forget_told(struct agent *a)
{
    for (int k = 0; k < a->tasks_end; k++)
        a->tasks[k].run_told = false;
    free(a->inventory_told);
    a->inventory_told = NULL;
}

/* Has the controller acknowledged running replica t with its newest checkpoint? */
static bool run_told_all(const struct task *t)
{
    return t->run_told && t->told_checkpoint_ms == t->checkpoint_ms;
}

/* Whether the controller lacks running replica t's start or newest checkpoint, and no report
 * in flight carries them. */
static bool run_news(const struct task *t)
{
    if (run_told_all(t))
        return false;
    for (int ch = 0; ch < AGENT_CHANNEL_COUNT; ch++)
        if ((t->run_sent >> ch & 1) && t->run_sent_checkpoint_ms[ch] == t->checkpoint_ms)
            return false;
    return true;
}

bool report_pending(const struct agent *a)
{
    for (int k = 0; k < a->tasks_end; k++) {
        const struct task *t = &a->tasks[k];
        if (t->used && (t->ended ? !t->sent : run_news(t)))
            return true;
    }
    /* the inventory changes only when the controller forgets it (GPUs are found at the start) */
    return !a->inventory_told && !a->inventory_sent[AGENT_CHANNEL_POLL] &&
           !a->inventory_sent[AGENT_CHANNEL_PUSH];
}

static void on_answer(struct evhttp_request *req, void *arg)
{
    const struct agent_call *call = arg;
    struct agent *a = call->agent;
    enum agent_channel ch = call->channel;
    a->in_flight[ch] = false;
    int status = req ? evhttp_request_get_response_code(req) : 0;
    json_t *answer = NULL;
    if (status == 200) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        json_error_t jerr;
        answer =
            json_loadb((const char *)evbuffer_pullup(in, -1), evbuffer_get_length(in), 0, &jerr);
        if (!answer)
            fprintf(stderr, "allot-agent: bad answer: %s\n", jerr.text);
    } else if (!agent_failover(a, req)) { /* a standby's answer or none: to another server */
        fprintf(stderr, "allot-agent: report failed (HTTP %d); retrying\n", status);
    }
    bool carried_inventory = a->inventory_sent[ch] != NULL;
    if (answer && carried_inventory) { /* the controller has this inventory now */
        free(a->inventory_told);
        a->inventory_told = a->inventory_sent[ch];
    } else {
        free(a->inventory_sent[ch]);
    }
    a->inventory_sent[ch] = NULL;
    for (int k = 0; k < a->tasks_end; k++) {
        struct task *t = &a->tasks[k];
        if (!t->used)
            continue;
        if (answer && (t->run_sent >> ch & 1)) { /* it knows this replica runs */
            t->run_told = true;
            t->told_checkpoint_ms = t->run_sent_checkpoint_ms[ch];
        }
        t->run_sent &= ~(1u << ch);
        if (answer && t->ended && (t->sent >> ch & 1))
            agent_task_drop(a, t); /* the controller has what ended: forget it */
        else
            t->sent &= ~(1u << ch); /* not acknowledged: report it again */
    }
    if (!answer) {
        a->failures++;
        return; /* the timer tries again */
    }
    a->reports++;
    desired_apply(a, answer, carried_inventory);
    json_decref(answer);
    if (ch == AGENT_CHANNEL_POLL)
        report_send(a, AGENT_CHANNEL_POLL); /* the next poll: held until a change */
    else if (a->dirty || report_pending(a))
        report_send(a, AGENT_CHANNEL_PUSH);
}

bool report_checkpoints(struct agent *a)
{
    bool changed = false;
    for (int k = 0; k < a->tasks_end; k++) {
        struct task *t = &a->tasks[k];
        const char *dir = t->used && t->proc ? runner_proc_workdir(t->proc) : NULL;
        char path[4200];
        struct stat st;
        /* the file itself, never what a link there points to (lstat): a plain file only */
        if (!dir ||
            snprintf(path, sizeof(path), "%s/" RUNNER_CHECKPOINT_FILE, dir) >= (int)sizeof(path) ||
            lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        int64_t ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
        if (ms <= 0 || ms == t->checkpoint_ms)
            continue;
        t->checkpoint_ms = ms;
        changed = true;
    }
    return changed;
}

void report_unsend(struct agent *a, enum agent_channel ch)
{
    for (int k = 0; k < a->tasks_end; k++) {
        a->tasks[k].sent &= ~(1u << ch);
        a->tasks[k].run_sent &= ~(1u << ch);
    }
    free(a->inventory_sent[ch]);
    a->inventory_sent[ch] = NULL;
}

/* The body of a report on ch: {inventory, workloads, tenant}, a delta (docs/agent.md,
 * "Reports"): every ended replica not yet acknowledged, the running ones the controller has
 * not acknowledged (or not with their newest checkpoint), and the inventory only when the
 * controller lacks it. RET its text (free it), or NULL when out of memory. */
static char *report_text(struct agent *a, enum agent_channel ch)
{
    json_t *wls = json_array();
    for (int k = 0; k < a->tasks_end; k++) {
        struct task *t = &a->tasks[k];
        if (!t->used)
            continue;
        if (t->ended) {
            json_array_append_new(
                wls, json_pack("{s:s, s:i, s:s, s:i, s:i, s:s}", PROTOCOL_FIELD_NAME, t->name,
                               PROTOCOL_FIELD_RANK, t->rank, PROTOCOL_FIELD_STATE, t->end_state,
                               PROTOCOL_FIELD_EXIT_CODE, t->code, PROTOCOL_FIELD_SIGNAL, t->signal,
                               PROTOCOL_FIELD_REASON, t->reason));
            if (t->time_limited) /* the controller fails it with reason time_limit */
                json_object_set_new(json_array_get(wls, json_array_size(wls) - 1),
                                    PROTOCOL_FIELD_TIME_LIMIT, json_true());
            t->sent |= 1u << ch; /* forgotten once the controller has answered */
        } else if (!run_told_all(t)) {
            json_t *w =
                json_pack("{s:s, s:i, s:s}", PROTOCOL_FIELD_NAME, t->name, PROTOCOL_FIELD_RANK,
                          t->rank, PROTOCOL_FIELD_STATE, PROTOCOL_STATE_RUNNING);
            if (w && t->checkpoint_ms > 0) /* the controller keeps the newest it has seen */
                json_object_set_new(w, PROTOCOL_FIELD_CHECKPOINT, json_integer(t->checkpoint_ms));
            json_array_append_new(wls, w);
            t->run_sent |= 1u << ch;
            t->run_sent_checkpoint_ms[ch] = t->checkpoint_ms;
        }
    }
    json_t *body = json_pack("{s:o}", PROTOCOL_FIELD_WORKLOADS, wls);
    json_t *inventory = gpuinfo_to_json(&a->gpus);
    if (inventory)
        json_object_update(inventory, a->node_info);
    char *inv_text = inventory ? json_dumps(inventory, JSON_COMPACT) : NULL;
    if (!body || !inv_text) {
        json_decref(body);
        json_decref(inventory);
        free(inv_text);
        return NULL;
    }
    free(a->inventory_sent[ch]);
    a->inventory_sent[ch] = NULL;
    if (!a->inventory_told || strcmp(a->inventory_told, inv_text) != 0) {
        json_object_set(body, PROTOCOL_FIELD_INVENTORY, inventory);
        a->inventory_sent[ch] = inv_text;
        inv_text = NULL;
    }
    json_decref(inventory);
    free(inv_text);
    /* the tenant served: once wiped for the one the controller named, its move completes */
    if (a->tenant_known)
        json_object_set_new(body, PROTOCOL_FIELD_TENANT,
                            a->tenant[0] ? json_string(a->tenant) : json_null());
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return text;
}

void report_send(struct agent *a, enum agent_channel ch)
{
    if (a->in_flight[ch]) {
        a->dirty = a->dirty || ch == AGENT_CHANNEL_PUSH;
        return;
    }
    if (ch == AGENT_CHANNEL_PUSH)
        a->dirty = false;
    char *text = report_text(a, ch);
    a->calls[ch] = (struct agent_call){a, ch};
    struct evhttp_request *req = text ? report_request_new(a, on_answer, &a->calls[ch],
                                                           "application/json", text, strlen(text))
                                      : NULL;
    free(text);
    if (!req) { /* out of memory: nothing of it is in flight (the timer tries again) */
        report_unsend(a, ch);
        return;
    }
    char path[400];
    if (ch == AGENT_CHANNEL_POLL && a->epoch)
        snprintf(path, sizeof(path),
                 PROTOCOL_PATH_REPORT "?" PROTOCOL_QUERY_WAIT "=%lld&" PROTOCOL_QUERY_EPOCH
                                      "=%lld&" PROTOCOL_QUERY_VERSION "=%llu",
                 a->node, (long long)a->keepalive_ms, (long long)a->epoch,
                 (unsigned long long)a->version);
    else
        snprintf(path, sizeof(path), PROTOCOL_PATH_REPORT, a->node);
    a->in_flight[ch] = evhttp_make_request(ch == AGENT_CHANNEL_POLL ? a->conn : a->push, req,
                                           EVHTTP_REQ_POST, path) == 0;
    if (!a->in_flight[ch])
        report_unsend(a, ch);
}
