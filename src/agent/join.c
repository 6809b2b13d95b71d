/* The node agent's join: the one-time join token traded for the node token, which is kept;
 * asked of the leader among the agent's servers. */
#include "agent/join.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "common/protocol.h"

struct join_answer {
    struct agent *agent;
    int status;
    char token[256];
};

static void on_joined(struct evhttp_request *req, void *arg)
{
    struct join_answer *j = arg;
    j->status = req ? evhttp_request_get_response_code(req) : 0;
    if (j->status == 201) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        json_error_t jerr;
        json_t *ans =
            json_loadb((const char *)evbuffer_pullup(in, -1), evbuffer_get_length(in), 0, &jerr);
        const char *t = json_string_value(json_object_get(ans, PROTOCOL_FIELD_TOKEN));
        snprintf(j->token, sizeof(j->token), "%s", t ? t : "");
        json_decref(ans);
    } else {
        agent_failover(j->agent, req); /* a standby, or no answer: the next server is asked */
    }
    event_base_loopbreak(j->agent->base);
}

/* Send the join request with join_token to the current server and wait for its answer.
 * OUT *j. */
static void join_ask(struct agent *a, const char *join_token, struct join_answer *j)
{
    *j = (struct join_answer){.agent = a};
    struct evhttp_request *req = evhttp_request_new(on_joined, j);
    json_t *b = json_pack("{s:s}", PROTOCOL_FIELD_TOKEN, join_token);
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host", a->host);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
    free(body);
    if (evhttp_make_request(a->conn, req, EVHTTP_REQ_POST, PROTOCOL_ROUTE_JOIN) == 0)
        event_base_dispatch(a->base);
}

int join_trade(struct agent *a, const char *join_token, const char *path, char *out, size_t len)
{
    FILE *f = fopen(path, "r");
    if (f) {
        bool ok = fgets(out, (int)len, f) != NULL;
        fclose(f);
        out[strcspn(out, "\r\n")] = '\0';
        if (ok && out[0])
            return 0;
    }
    struct join_answer j;
    /* each server at most once: a join is asked at the start, and a failed one ends the agent */
    join_ask(a, join_token, &j);
    for (int asked = 1; j.status != 201 && a->next_server >= 0 && asked < a->servers.n; asked++)
        if (agent_reconnect(a) == 0)
            join_ask(a, join_token, &j);
    agent_reconnect(a); /* a move decided by the last answer, if any */
    if (j.status != 201 || !j.token[0]) {
        fprintf(stderr,
                "allot-agent: join refused (HTTP %d): a join token is good once, for an hour\n",
                j.status);
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || fchmod(fd, 0600) != 0 ||
        write(fd, j.token, strlen(j.token)) != (ssize_t)strlen(j.token) || fsync(fd)) {
        fprintf(stderr, "allot-agent: cannot keep the node token in %s: %s\n", path,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    snprintf(out, len, "%s", j.token);
    fprintf(stderr, "allot-agent: joined as node %s; node token kept in %s\n", a->node, path);
    return 0;
}
