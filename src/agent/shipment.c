/* The node agent's shipping of replicas' output: read from each replica's log files past what
 * the controller has, posted in chunks, and forgotten once its process ended and all of it is
 * there. */
#include "agent/shipment.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "agent/report.h"
#include "common/protocol.h"

void shipment_start(struct agent *a, struct task *t)
{
    struct shipment *sh = agent_ship_take(a);
    if (!sh)
        return;
    sh->rank = t->rank;
    sh->attempt = t->attempt > 0 ? t->attempt : 1;
    snprintf(sh->name, sizeof(sh->name), "%s", t->name);
    snprintf(sh->dir, sizeof(sh->dir), "%s", runner_proc_workdir(t->proc));
    t->ship = sh;
}

static void on_shipped(struct evhttp_request *req, void *arg)
{
    struct agent_ship_call *sc = arg;
    struct agent *a = sc->agent;
    a->ship_in_flight = false;
    int status = req ? evhttp_request_get_response_code(req) : 0;
    if (status == 200) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        json_t *ans =
            json_loadb((const char *)evbuffer_pullup(in, -1), evbuffer_get_length(in), 0, NULL);
        /* the controller's end is the truth: past a gap it asks for the bytes from there */
        json_t *end = json_object_get(ans, PROTOCOL_FIELD_END);
        if (json_is_integer(end) && json_integer_value(end) >= 0)
            sc->ship->shipped[sc->stream] = json_integer_value(end);
        json_decref(ans);
    } else if (status == 404 || status == 400) {
        /* the controller will never take it (the workload is gone, or not ours) */
        fprintf(stderr, "allot-agent: output of %s (rank %d) refused (HTTP %d); not shipped\n",
                sc->ship->name, sc->ship->rank, status);
        agent_ship_drop(a, sc->ship);
    } else if (!agent_failover(a, req)) { /* a standby's answer or none: to another server */
        fprintf(stderr, "allot-agent: output of %s (rank %d) not shipped (HTTP %d); retrying\n",
                sc->ship->name, sc->ship->rank, status);
    }
    if (status == 200)
        shipment_next(a); /* more may wait: go on at once */
}

void shipment_next(struct agent *a)
{
    static const char *const files[2] = {RUNNER_STDOUT_LOG, RUNNER_STDERR_LOG};
    static const char *const streams[2] = {PROTOCOL_STREAM_STDOUT, PROTOCOL_STREAM_STDERR};
    static char chunk[PROTOCOL_MAX_LOG_CHUNK];
    if (a->ship_in_flight)
        return;
    for (int i = 0; i < a->ships_end; i++) {
        struct shipment *sh = &a->ships[i];
        if (!sh->used)
            continue;
        for (int k = 0; k < 2; k++) {
            char path[4300];
            snprintf(path, sizeof(path), "%s/%s", sh->dir, files[k]);
            /* the file is the workload's: no links, no FIFOs */
            int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
            struct stat sb;
            if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
                sb.st_size <= sh->shipped[k]) {
                if (fd >= 0)
                    close(fd);
                continue;
            }
            ssize_t n = pread(fd, chunk, sizeof(chunk), sh->shipped[k]);
            close(fd);
            if (n <= 0)
                continue;
            char *name = evhttp_uriencode(sh->name, -1, 0);
            struct agent_ship_call *sc = &a->ship_call;
            struct evhttp_request *req =
                name ? report_request_new(a, on_shipped, sc, "application/octet-stream", chunk,
                                          (size_t)n)
                     : NULL;
            if (!req) {
                free(name);
                return;
            }
            *sc = (struct agent_ship_call){a, sh, k};
            char uri[1400];
            snprintf(uri, sizeof(uri),
                     PROTOCOL_PATH_LOGS "?" PROTOCOL_QUERY_WORKLOAD "=%s&" PROTOCOL_QUERY_RANK
                                        "=%d&" PROTOCOL_QUERY_ATTEMPT "=%d&" PROTOCOL_QUERY_STREAM
                                        "=%s&" PROTOCOL_QUERY_OFFSET "=%lld",
                     a->node, name, sh->rank, sh->attempt, streams[k], (long long)sh->shipped[k]);
            free(name);
            a->ship_in_flight = evhttp_make_request(a->ship_conn, req, EVHTTP_REQ_POST, uri) == 0;
            return;
        }
        if (sh->ended)
            agent_ship_drop(a, sh); /* ended and all shipped */
    }
}
