/* The `allot` client's event streams: a GET of text/event-stream followed on its own libcurl
 * handle (multi interface, so that the wait also watches a stop descriptor and a deadline),
 * its body split into bounded lines and Server-Sent Events. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "cli/client_internal.h"
#include "common/clock.h"

/* A followed GET of text/event-stream. The transfer runs on its own multi handle so that the
 * wait for data can also watch a stop descriptor (the SIGINT self-pipe) and a deadline. */
struct client_stream {
    struct client *cl;
    CURL *curl;
    CURLM *multi;
    struct curl_slist *headers;
    client_event_fn *on_event;
    void *arg;
    long status;    /* the final answer's status once its headers are in, else 0 */
    bool following; /* client_stream_follow runs: events may be delivered */
    bool done;      /* the transfer ended, with result */
    CURLcode result;
    int rc;                     /* the exit code that made the write callback stop the transfer */
    struct client_body refusal; /* the body of a non-2xx answer */
    char *line;                 /* the line being read: CLIENT_MAX_EVENT_LINE bytes */
    size_t line_len;
    bool after_cr;   /* the last byte was CR: a LF right after it ends no second line */
    char *data;      /* the current event's data: CLIENT_MAX_EVENT_LINE + 1 bytes */
    size_t data_len; /* each data line is followed by '\n' until the event is dispatched */
    char name[128];  /* the current event's name, "" when none */
    char id[128];    /* the last id of the stream, "" when none */
    char errbuf[CURL_ERROR_SIZE];
    char allot_headers[CLIENT_MAX_URL + 512]; /* the answer's X-Allot-* headers (a standby's) */
    char path[256];                           /* what it follows, for a reconnect */
    int stop_fd;                              /* while following: stops a reconnect too */
    bool stopped;                             /* stop_fd was readable during a reconnect */
};

/* Hand the event read so far to the callback (when it has data) and start the next.
 * RET 0 or the callback's exit code. */
static int stream_dispatch(struct client_stream *s)
{
    int rc = 0;
    if (s->data_len) {
        s->data[--s->data_len] = '\0'; /* the '\n' after the last data line */
        struct client_event ev = {s->id, s->name[0] ? s->name : "message", s->data, s->data_len};
        rc = s->on_event(s->arg, &ev);
    }
    s->data_len = 0;
    s->name[0] = '\0';
    return rc;
}

/* Copy value (vlen bytes) into slot (cap bytes) as a string. RET false when it does not fit
 * or holds a NUL. */
static bool stream_copy(char *slot, size_t cap, const char *value, size_t vlen)
{
    if (vlen >= cap || memchr(value, '\0', vlen))
        return false;
    memcpy(slot, value, vlen);
    slot[vlen] = '\0';
    return true;
}

/* One complete line of the stream (without its end): a blank line ends an event, ':' starts a
 * comment, else "field: value" (fields other than data, event and id are ignored, as the SSE
 * specification says). RET 0 or an exit code after printing why. */
static int stream_line(struct client_stream *s)
{
    const char *line = s->line;
    size_t len = s->line_len;
    if (len == 0)
        return stream_dispatch(s);
    if (line[0] == ':')
        return 0; /* a comment, e.g. a keep-alive */
    const char *colon = memchr(line, ':', len);
    size_t flen = colon ? (size_t)(colon - line) : len;
    const char *value = colon ? colon + 1 : line + len;
    size_t vlen = colon ? len - flen - 1 : 0;
    if (vlen && *value == ' ') {
        value++;
        vlen--;
    }
    if (flen == 4 && memcmp(line, "data", 4) == 0) {
        if (vlen + 1 > CLIENT_MAX_EVENT_LINE - s->data_len) {
            fprintf(stderr, "allot: an event of the stream holds more than %u KiB of data\n",
                    CLIENT_MAX_EVENT_LINE >> 10);
            return FLAGS_EXIT_FAILED;
        }
        memcpy(s->data + s->data_len, value, vlen);
        s->data_len += vlen;
        s->data[s->data_len++] = '\n';
    } else if (flen == 5 && memcmp(line, "event", 5) == 0) {
        if (!stream_copy(s->name, sizeof(s->name), value, vlen)) {
            fprintf(stderr, "allot: an event name of the stream is longer than %zu bytes\n",
                    sizeof(s->name) - 1);
            return FLAGS_EXIT_FAILED;
        }
    } else if (flen == 2 && memcmp(line, "id", 2) == 0) {
        if (!stream_copy(s->id, sizeof(s->id), value, vlen)) {
            fprintf(stderr, "allot: an event id of the stream is longer than %zu bytes\n",
                    sizeof(s->id) - 1);
            return FLAGS_EXIT_FAILED;
        }
    }
    return 0;
}

/* libcurl's header callback: note the status once the final answer's headers are complete. */
static size_t stream_on_header(char *text, size_t size, size_t nmemb, void *user)
{
    struct client_stream *s = user;
    size_t n = size * nmemb;
    client_keep_header(s->allot_headers, sizeof(s->allot_headers), text, n);
    if (n == 0 || text[0] == '\r' || text[0] == '\n') {
        long status = 0;
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200) /* not a 1xx interim answer */
            s->status = status;
    }
    return n;
}

/* libcurl's write callback: split the body into lines (LF, CRLF or CR) and the lines into
 * events. Until client_stream_follow runs, it pauses the transfer: libcurl keeps the bytes and
 * offers them again once resumed. A refusal's body is kept whole instead. */
static size_t stream_on_data(char *data, size_t size, size_t nmemb, void *user)
{
    struct client_stream *s = user;
    size_t n = size * nmemb;
    if (s->status < 200 || s->status >= 300)
        return client_body_write(data, size, nmemb, &s->refusal);
    if (!s->following)
        return CURL_WRITEFUNC_PAUSE;
    for (size_t i = 0; i < n; i++) {
        char c = data[i];
        if (c == '\n' && s->after_cr) {
            s->after_cr = false;
            continue;
        }
        s->after_cr = c == '\r';
        if (c == '\r' || c == '\n') {
            if ((s->rc = stream_line(s)))
                return 0; /* libcurl stops with CURLE_WRITE_ERROR */
            s->line_len = 0;
        } else if (s->line_len == CLIENT_MAX_EVENT_LINE) {
            fprintf(stderr, "allot: a line of the event stream is longer than %u KiB\n",
                    CLIENT_MAX_EVENT_LINE >> 10);
            s->rc = FLAGS_EXIT_FAILED;
            return 0;
        } else {
            s->line[s->line_len++] = c;
        }
    }
    return n;
}

/* Let the transfer move on without waiting, and note when it ended. */
static void stream_perform(struct client_stream *s)
{
    int running = 0, left = 0;
    CURLMsg *m;
    if (s->done)
        return;
    curl_multi_perform(s->multi, &running);
    while ((m = curl_multi_info_read(s->multi, &left)))
        if (m->msg == CURLMSG_DONE) {
            s->done = true;
            s->result = m->data.result;
        }
}

/* Whether fd (-1: none) can be read now. */
static bool readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR));
}

/* Wait at most wait_ms for the transfer's socket or for stop_fd (-1: none). */
static void stream_wait(struct client_stream *s, int stop_fd, int64_t wait_ms)
{
    struct curl_waitfd stop = {.fd = stop_fd, .events = CURL_WAIT_POLLIN};
    if (wait_ms < 0)
        wait_ms = 0;
    curl_multi_poll(s->multi, stop_fd >= 0 ? &stop : NULL, stop_fd >= 0 ? 1u : 0u,
                    (int)(wait_ms < 1000 ? wait_ms : 1000), NULL);
}

/* Make stream s's handle for GET path of cl's server and start the transfer on its multi
 * handle. RET 0, or a process exit code after printing why. */
static int stream_start(struct client_stream *s, struct client *cl, const char *path)
{
    char url[CLIENT_MAX_URL + 1024];
    bool ok = true;
    if (!client_url(cl, path, url, sizeof(url)))
        return FLAGS_EXIT_FAILED;
    s->headers = client_base_headers(cl, "Accept: text/event-stream", &ok);
    if (s->id[0]) { /* a reconnect: the events after the last one had */
        char resume[sizeof(s->id) + 20];
        snprintf(resume, sizeof(resume), "Last-Event-ID: %s", s->id);
        s->headers = client_add_header(s->headers, resume, &ok);
    }
    if (!ok) {
        fprintf(stderr, "allot: out of memory\n");
        return FLAGS_EXIT_FAILED;
    }
    CURL *curl = s->curl;
    /* no total timeout: a stream lasts as long as it is followed; connecting still has one,
     * and the answer's headers must come within cl's timeout (stream_await) */
    client_setopt_common(cl, curl, url, s->headers, s->errbuf);
    /* the daemon sends nothing while nothing happens: keep-alive probes find a dead peer */
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPINTVL, 15L);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, stream_on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, stream_on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, s);
    if (curl_multi_add_handle(s->multi, curl) != CURLM_OK) {
        fprintf(stderr, "allot: cannot start libcurl\n");
        return FLAGS_EXIT_FAILED;
    }
    return 0;
}

/* Make stream s ready for stream_start again, at another server. */
static void stream_reset(struct client_stream *s)
{
    curl_multi_remove_handle(s->multi, s->curl);
    curl_easy_reset(s->curl);
    curl_slist_free_all(s->headers);
    s->headers = NULL;
    free(s->refusal.data);
    memset(&s->refusal, 0, sizeof(s->refusal));
    s->status = 0;
    s->done = false;
    s->result = CURLE_OK;
    s->errbuf[0] = '\0';
    s->allot_headers[0] = '\0';
}

/* Wait (at most the time left to round r) until a 2xx answer's headers are in, or a refusal's
 * body is complete, and judge it. A connect failure or a standby's answer moves cl to the next
 * server of r and sets *again. RET 0 for an event stream or when *again, or a process exit
 * code after printing why. */
static int stream_await(struct client_stream *s, const char *path, struct client_round *r,
                        bool *again)
{
    struct client *cl = s->cl;
    const char *type = NULL;
    char role[32], leader[CLIENT_MAX_URL + 1];
    int64_t deadline = clock_mono_ms() + cl->left_ms;
    *again = false;
    for (;;) {
        stream_perform(s);
        if (s->done || (s->status >= 200 && s->status < 300))
            break;
        if (clock_mono_ms() >= deadline) {
            snprintf(s->errbuf, sizeof(s->errbuf), "no answer within %lld ms",
                     (long long)cl->left_ms);
            return client_print_unreachable(cl, s->errbuf, CURLE_OPERATION_TIMEDOUT);
        }
        if (readable(s->stop_fd)) {
            s->stopped = true;
            return 0;
        }
        stream_wait(s, s->stop_fd, deadline - clock_mono_ms());
    }
    if (s->status >= 200 && s->status < 300) {
        curl_easy_getinfo(s->curl, CURLINFO_CONTENT_TYPE, &type);
        if (type && strncmp(type, "text/event-stream", 17) == 0)
            return 0;
        fprintf(stderr, "allot: the server's answer to GET ");
        client_print_clean(stderr, path);
        fprintf(stderr, " is not an event stream (Content-Type: ");
        client_print_clean(stderr, type ? type : "none");
        fprintf(stderr, ")\n");
        return FLAGS_EXIT_FAILED;
    }
    if (s->refusal.too_big) {
        fprintf(stderr, "allot: the server's answer is larger than %u MiB\n",
                CLIENT_MAX_ANSWER >> 20);
        return FLAGS_EXIT_FAILED;
    }
    if (s->refusal.no_memory || s->result == CURLE_OUT_OF_MEMORY) {
        fprintf(stderr, "allot: out of memory\n");
        return FLAGS_EXIT_FAILED;
    }
    struct client_answer a = {.status = s->status};
    snprintf(a.allot_headers, sizeof(a.allot_headers), "%s", s->allot_headers);
    bool standby =
        s->result == CURLE_OK &&
        serverlist_is_standby(s->status, client_answer_header(&a, "Role", role, sizeof(role)));
    if (standby || (s->result != CURLE_OK && client_not_sent(s->curl, s->result))) {
        int rc = client_round_next(
            cl, r, standby,
            standby ? client_answer_header(&a, "Leader", leader, sizeof(leader)) : NULL, s->errbuf,
            s->result);
        *again = rc == 0;
        return rc;
    }
    if (s->result != CURLE_OK)
        return client_print_unreachable(cl, s->errbuf, s->result);
    a = (struct client_answer){
        .status = s->status, .text = s->refusal.data ? s->refusal.data : "", .len = s->refusal.len};
    a.json = json_loadb(a.text, a.len, 0, NULL);
    int rc = client_print_refusal(cl, &a);
    json_decref(a.json);
    return rc;
}

/* Ask the servers, the leader first, until one answers with the event stream (within the
 * client's timeout; see client_round_start). RET 0, or an exit code after printing why. */
static int stream_connect(struct client_stream *s)
{
    struct client_round r;
    int rc = 0;
    client_round_start(s->cl, &r);
    for (bool again = true, first = true; again; first = false) {
        if (!first)
            stream_reset(s); /* the last server was no leader: ask the next */
        rc = stream_start(s, s->cl, s->path);
        if (!rc)
            rc = stream_await(s, s->path, &r, &again);
        if (rc)
            break;
    }
    return rc;
}

int client_stream_open(struct client *cl, const char *path, client_event_fn *on_event, void *arg,
                       struct client_stream **out)
{
    struct client_stream *s = calloc(1, sizeof(*s));
    int rc = 0;
    *out = NULL;
    if (!s || !(s->line = malloc(CLIENT_MAX_EVENT_LINE)) ||
        !(s->data = malloc(CLIENT_MAX_EVENT_LINE + 1)) || !(s->curl = curl_easy_init()) ||
        !(s->multi = curl_multi_init())) {
        fprintf(stderr, "allot: out of memory\n");
        rc = FLAGS_EXIT_FAILED;
        goto out;
    }
    s->cl = cl;
    s->on_event = on_event;
    s->arg = arg;
    s->stop_fd = -1;
    if (strlen(path) >= sizeof(s->path)) {
        fprintf(stderr, "allot: the stream's path is too long\n");
        rc = FLAGS_EXIT_FAILED;
        goto out;
    }
    snprintf(s->path, sizeof(s->path), "%s", path);
    rc = stream_connect(s);
out:
    if (rc)
        client_stream_free(s);
    else
        *out = s;
    return rc;
}

/* The stream ended or dropped: say so, and open it again after the last event had
 * (Last-Event-ID), so that nothing is shown twice or missed (what the server no longer holds
 * comes as its gap event). A server that cannot be reached (restarting, a failover) is tried
 * again, the pause doubling to CLIENT_STREAM_RETRY_MAX_MS, for the client's timeout. RET 0
 * when it follows again or was stopped, else the exit code of the failed reconnect
 * (FLAGS_EXIT_UNREACHABLE when no server answered within the timeout). */
static int stream_reconnect(struct client_stream *s, int stop_fd)
{
    fprintf(stderr, "allot: the event stream of the server at ");
    client_print_clean(stderr, s->cl->server);
    if (s->result == CURLE_OK) {
        fprintf(stderr, " ended");
    } else {
        fprintf(stderr, " dropped (");
        client_print_clean(stderr, s->errbuf[0] ? s->errbuf : curl_easy_strerror(s->result));
        fprintf(stderr, ")");
    }
    fprintf(stderr, "; reconnecting%s%s\n", s->id[0] ? " after event " : "", s->id);
    int64_t give_up = clock_mono_ms() + s->cl->timeout_ms;
    int64_t pause = CLIENT_STREAM_RETRY_MS;
    int rc;
    for (;;) {
        /* a pause first: a server that ends each stream at once is not asked in a loop */
        struct pollfd p = {.fd = stop_fd, .events = POLLIN};
        if (poll(&p, stop_fd >= 0 ? 1 : 0, (int)pause) > 0)
            return 0;
        stream_reset(s);
        s->line_len = 0;
        s->after_cr = false;
        s->data_len = 0;
        s->name[0] = '\0';
        s->stop_fd = stop_fd;
        bool last = clock_mono_ms() + pause >= give_up;
        s->cl->quiet = !last; /* only the last try says that nothing answered */
        rc = stream_connect(s);
        s->cl->quiet = false;
        s->stop_fd = -1;
        if (rc != FLAGS_EXIT_UNREACHABLE || last)
            break;
        pause = pause * 2 > CLIENT_STREAM_RETRY_MAX_MS ? CLIENT_STREAM_RETRY_MAX_MS : pause * 2;
    }
    if (rc || s->stopped)
        return rc;
    fprintf(stderr, "allot: following the event stream of ");
    client_print_clean(stderr, s->cl->server);
    fprintf(stderr, " again\n");
    curl_easy_pause(s->curl, CURLPAUSE_CONT);
    return 0;
}

int client_stream_follow(struct client_stream *s, int stop_fd, int64_t deadline_ms)
{
    s->following = true;
    curl_easy_pause(s->curl, CURLPAUSE_CONT); /* offers again what came before */
    for (;;) {
        if (s->rc)
            return s->rc;
        if (s->stopped || readable(stop_fd) || (deadline_ms >= 0 && clock_mono_ms() >= deadline_ms))
            return 0;
        stream_perform(s);
        if (s->rc)
            return s->rc;
        if (s->done) {
            int rc = stream_reconnect(s, stop_fd);
            if (rc)
                return rc;
            continue;
        }
        stream_wait(s, stop_fd, deadline_ms >= 0 ? deadline_ms - clock_mono_ms() : 1000);
    }
}

void client_stream_free(struct client_stream *s)
{
    if (!s)
        return;
    if (s->multi && s->curl)
        curl_multi_remove_handle(s->multi, s->curl);
    curl_easy_cleanup(s->curl);
    curl_multi_cleanup(s->multi);
    curl_slist_free_all(s->headers);
    free(s->refusal.data);
    free(s->line);
    free(s->data);
    free(s);
}
