/* Event streams: who is subscribed, what each one may see, the backlog of a resume, and the
 * fan-out in rounds after the commits, every stream bounded in count and in buffered bytes. */
#include "allotd/stream.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>

#include "allotd/auth.h"
#include "allotd/server.h"
#include "common/arena.h"
#include "common/clock.h"
#include "common/error.h"
#include "store/store.h"

/* One GET /v1/events client. It stays in the set, counted against the caps, until its
 * connection is gone: an ended stream still holds what its client has not taken. */
struct subscriber {
    struct stream *st;
    struct evhttp_request *req;
    struct evhttp_connection *conn;
    struct gate *gate; /* which calls subscriber_closed when conn closes */
    struct principal who;
    int64_t last_id; /* every event it may see up to this id was sent (or predates it) */
    bool chunked;    /* its response is sent in HTTP/1.1 chunks */
    bool ended;      /* its response is ended: nothing more is added; the request is
                      * libevent's */
    uint64_t fed;    /* the last fan-out round it had */
    struct subscriber *prev, *next;
};

/* A committed event waiting for the fan-out. */
struct frame {
    int64_t seq;
    size_t off, len;       /* its Server-Sent Events frame in its batch's text */
    const char *tenant;    /* its scope, in its batch's names: NULL when about no tenant */
    const char *workspace; /* NULL when about no workspace */
};

/* Committed events, rendered once, for one fan-out round. */
struct batch {
    struct frame *frames;
    size_t n_frames, cap_frames;
    char *text; /* the frames, one after another */
    size_t text_len, text_cap;
    struct arena names; /* the frames' scopes */
};

/* The fan-out runs in rounds at most STREAM_ROUND_MS apart: the events of the commits since
 * the last round are sent together, one write per stream, however many commits there were
 * (a write to a socket costs more than the event it carries). A round feeds STREAM_SLICE
 * streams at a time and lets the loop serve requests and commits between slices. */
#define STREAM_ROUND_MS 20
#define STREAM_SLICE 64

struct stream {
    struct store *store;
    struct stream_options opt;
    struct subscriber *subscribers;
    uint32_t n_subscribers;
    int64_t last_seq;              /* the last event id issued */
    json_t *queue;                 /* events of this iteration, not yet stored */
    struct batch pending, sending; /* committed since the round; in the round */
    struct iovec *iov; /* one stream's share of a round: a chunk head, runs of frames (as
                        * many as frames at most) and the chunk's end */
    size_t cap_runs;
    struct event *fanout; /* starts, and goes on with, a round */
    struct event *keepalive;
    uint64_t round; /* the number of the current or last round */
    bool in_round;
    int64_t round_start_ms;   /* of the last round, on the monotonic clock */
    struct evbuffer *scratch; /* the backlog of a resume */
    uint64_t refused, overflows, keepalives;
    /* what stream_store added to the pending batch, until stream_publish (stream_abort
     * takes it back when the commit fails) */
    bool storing;
    size_t mark_frames, mark_text;
    int64_t mark_seq;
};

#define FRAME_FORMAT "id: %lld\nevent: %s\ndata: %s\n\n"
#define STREAM_IOV_MAX 1024 /* pieces of one sendmsg (POSIX guarantees 16; Linux takes 1024) */

/* ---- visibility ---- */

/* May who see an event about tenant (NULL: none) and workspace (NULL: none)? Events about
 * no tenant are the platform admin's only. */
static bool stream_sees(const struct principal *who, const char *tenant, const char *workspace)
{
    if (who->role == ROLE_ADMIN)
        return true;
    if (!tenant || !auth_sees_tenant(who, tenant))
        return false;
    return !workspace || auth_allows(who, ROLE_VIEWER, tenant, workspace);
}

/* The same for a stored event, whose row has its tenant but not its workspace: the JSON is
 * read only for a principal confined to one workspace of that tenant. */
static bool stream_sees_stored(const struct principal *who, const struct store_event *ev)
{
    if (who->role == ROLE_ADMIN)
        return true;
    if (!ev->tenant || !auth_sees_tenant(who, ev->tenant))
        return false;
    if (auth_allows(who, ROLE_VIEWER, ev->tenant, NULL))
        return true; /* it reaches every workspace of the tenant */
    json_error_t jerr;
    json_t *j = json_loads(ev->json, 0, &jerr);
    bool sees =
        j && stream_sees(who, ev->tenant, json_string_value(json_object_get(j, "workspace")));
    json_decref(j);
    return sees;
}

/* ---- the set ---- */

static void fanout_cb(evutil_socket_t fd, short what, void *arg);
static void keepalive_cb(evutil_socket_t fd, short what, void *arg);

int stream_new(struct event_base *base, struct store *store, const struct stream_options *opt,
               struct stream **out)
{
    struct stream *st = calloc(1, sizeof(*st));
    if (!st)
        return -ALLOT_ENOMEM;
    st->store = store;
    st->opt = *opt;
    if (!st->opt.max_streams)
        st->opt.max_streams = STREAM_DEFAULT_MAX;
    if (!st->opt.max_per_token)
        st->opt.max_per_token = STREAM_DEFAULT_MAX_PER_TOKEN;
    if (!st->opt.max_buffered)
        st->opt.max_buffered = STREAM_DEFAULT_BUFFER;
    arena_init(&st->pending.names, 0);
    arena_init(&st->sending.names, 0);
    st->queue = json_array();
    st->scratch = evbuffer_new();
    if (st->opt.keepalive_ms <= 0)
        st->opt.keepalive_ms = STREAM_DEFAULT_KEEPALIVE_MS;
    st->fanout = evtimer_new(base, fanout_cb, st);
    st->keepalive = event_new(base, -1, EV_PERSIST, keepalive_cb, st);
    struct timeval every = {(time_t)(st->opt.keepalive_ms / 1000),
                            (suseconds_t)(st->opt.keepalive_ms % 1000) * 1000};
    int rc = st->queue && st->scratch && st->fanout && st->keepalive &&
                     event_add(st->keepalive, &every) == 0
                 ? store_events_last(store, &st->last_seq)
                 : -ALLOT_ENOMEM;
    if (rc) {
        stream_free(st);
        return rc;
    }
    *out = st;
    return 0;
}

static void subscriber_unlink(struct subscriber *sub)
{
    struct stream *st = sub->st;
    if (sub->prev)
        sub->prev->next = sub->next;
    else
        st->subscribers = sub->next;
    if (sub->next)
        sub->next->prev = sub->prev;
    st->n_subscribers--;
}

void stream_free(struct stream *st)
{
    if (!st)
        return;
    while (st->subscribers) {
        struct subscriber *sub = st->subscribers;
        subscriber_unlink(sub);
        gate_on_close(sub->gate, sub->conn, NULL, NULL);
        if (!sub->ended)
            evhttp_send_reply_end(sub->req);
        free(sub);
    }
    json_decref(st->queue);
    if (st->scratch)
        evbuffer_free(st->scratch);
    if (st->fanout)
        event_free(st->fanout);
    if (st->keepalive)
        event_free(st->keepalive);
    struct batch *batches[] = {&st->pending, &st->sending};
    for (int i = 0; i < 2; i++) {
        arena_cleanup(&batches[i]->names);
        free(batches[i]->frames);
        free(batches[i]->text);
    }
    free(st->iov);
    free(st);
}

void stream_stats(const struct stream *st, struct stream_stats *out)
{
    out->open = st->n_subscribers;
    out->refused = st->refused;
    out->overflows = st->overflows;
    out->keepalives = st->keepalives;
}

/* ---- one stream ---- */

/* Bytes waiting in its connection for its client to take. */
static size_t subscriber_waiting(const struct subscriber *sub)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(sub->conn);
    return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

/* Its connection is gone: after the end of its response, a failed write, its client
 * leaving or the closing timeout. The request of an ended stream is libevent's (it may be
 * freed already); a client that left mid-stream leaves its request to us, detached from
 * the connection. With bytes still waiting for its client, the gate has made the close a
 * reset (gate.c, on_closed), so that what the kernel holds goes too instead of lingering. */
static void subscriber_closed(struct evhttp_connection *conn, void *arg)
{
    struct subscriber *sub = arg;
    if (!sub->ended && !evhttp_request_get_connection(sub->req))
        evhttp_request_free(sub->req);
    subscriber_unlink(sub);
    free(sub);
}

/* End its response: nothing more is added, and its client has STREAM_CLOSE_TIMEOUT_S
 * seconds without progress to take what is buffered before the connection is dropped.
 * sub may be freed on return. */
static void subscriber_end(struct subscriber *sub)
{
    struct timeval tv = {STREAM_CLOSE_TIMEOUT_S, 0};
    sub->ended = true;
    bufferevent_set_timeouts(evhttp_connection_get_bufferevent(sub->conn), NULL, &tv);
    evhttp_send_reply_end(sub->req);
}

/* Send iov[1..n] as one chunk of its response; iov[0] and iov[n + 1] are for the chunk's
 * head and end. A client with nothing waiting in a plain connection gets it written at once
 * (one system call: the event loop's way adds and removes the socket's write interest as
 * well); what the socket does not take is copied into the connection's output, grown once
 * for all of it. (evhttp_send_reply_chunk moves an evbuffer's chains instead, of at least
 * 1 KiB each: an event of a hundred bytes held ten times its size in a stalled client's
 * buffer.) RET 0; -ALLOT_ENOMEM: nothing was sent; -ALLOT_EIO: part of it was sent and the
 * rest could not be kept, so the stream was ended (sub may be freed). */
static int subscriber_send(struct subscriber *sub, struct iovec *iov, size_t n)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(sub->conn);
    struct evbuffer *out = bufferevent_get_output(bev);
    char head[24];
    size_t total = 0, sent = 0;
    for (size_t i = 1; i <= n; i++)
        total += iov[i].iov_len;
    if (total == 0)
        return 0;
    iov[0] = (struct iovec){head, 0};
    iov[n + 1] = (struct iovec){"\r\n", sub->chunked ? 2 : 0};
    if (sub->chunked)
        iov[0].iov_len = (size_t)snprintf(head, sizeof(head), "%zx\r\n", total);
    total += iov[0].iov_len + iov[n + 1].iov_len;
    if (evbuffer_get_length(out) == 0 && !bufferevent_openssl_get_ssl(bev) &&
        n + 2 <= STREAM_IOV_MAX) {
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = n + 2};
        ssize_t w = sendmsg(bufferevent_getfd(bev), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
        sent = w > 0 ? (size_t)w : 0; /* an error shows again on the loop's own write */
    }
    if (sent == total)
        return 0;
    if (evbuffer_expand(out, total - sent)) {
        if (sent == 0)
            return -ALLOT_ENOMEM;
        shutdown(bufferevent_getfd(bev), SHUT_RDWR); /* half a chunk went out */
        subscriber_end(sub);
        return -ALLOT_EIO;
    }
    for (size_t i = 0; i < n + 2; i++) { /* the room is there: these copy, never allocate */
        size_t skip = sent < iov[i].iov_len ? sent : iov[i].iov_len;
        evbuffer_add(out, (const char *)iov[i].iov_base + skip, iov[i].iov_len - skip);
        sent -= skip;
    }
    return 0;
}

/* It fell behind: send the overflow event naming where to resume, and end it. sub may be
 * freed on return. */
static void subscriber_overflow(struct subscriber *sub)
{
    struct stream *st = sub->st;
    char text[320];
    int len = snprintf(text, sizeof(text),
                       "event: overflow\ndata: {\"event\":\"overflow\",\"last_id\":%lld,"
                       "\"message\":\"more than %zu bytes were waiting for this client; "
                       "resume with Last-Event-ID: %lld\"}\n\n",
                       (long long)sub->last_id, st->opt.max_buffered, (long long)sub->last_id);
    struct iovec iov[3] = {[1] = {text, len > 0 && (size_t)len < sizeof(text) ? (size_t)len : 0}};
    st->overflows++;
    /* best effort: without memory, the stream just ends */
    if (subscriber_send(sub, iov, 1) != -ALLOT_EIO)
        subscriber_end(sub);
}

/* Every keepalive_ms: a comment line to each open stream with nothing waiting for its
 * client (one that has something waiting is not idle, and a comment would only add to it).
 * SSE clients ignore comment lines. */
static void keepalive_cb(evutil_socket_t fd, short what, void *arg)
{
    static char comment[] = ": keepalive\n\n";
    struct stream *st = arg;
    struct subscriber *next;
    for (struct subscriber *sub = st->subscribers; sub; sub = next) {
        next = sub->next; /* subscriber_send may end and free sub */
        if (sub->ended || subscriber_waiting(sub) > 0)
            continue;
        struct iovec iov[3] = {[1] = {comment, sizeof(comment) - 1}};
        if (subscriber_send(sub, iov, 1) == 0)
            st->keepalives++;
    }
}

/* May a frame of len bytes join the bytes waiting for a stream's client? A client that had
 * nothing waiting (caught_up) takes a whole commit's events, however many; otherwise one
 * frame always fits an empty buffer, so that no event can stop a stream for good, and no
 * more than max_buffered bytes may wait. */
static bool frame_fits(const struct stream *st, bool caught_up, size_t waiting, size_t len)
{
    return caught_up || waiting == 0 || waiting + len <= st->opt.max_buffered;
}

/* Send it the round's frames that it may see and has not had, in one write, or as many as
 * fit followed by the overflow event. sub may be freed on return. */
static void subscriber_feed(struct subscriber *sub)
{
    struct stream *st = sub->st;
    const struct batch *b = &st->sending;
    size_t waiting = subscriber_waiting(sub), n = 0;
    bool caught_up = waiting == 0, over = false;
    int64_t before = sub->last_id;
    for (size_t i = 0; i < b->n_frames; i++) {
        const struct frame *f = &b->frames[i];
        if (f->seq <= sub->last_id || !stream_sees(&sub->who, f->tenant, f->workspace))
            continue;
        if (!frame_fits(st, caught_up, waiting, f->len)) {
            over = true;
            break;
        }
        struct iovec *run = &st->iov[n];
        if (n && (const char *)run->iov_base + run->iov_len == b->text + f->off)
            run->iov_len += f->len; /* frames one after another are one copy */
        else
            st->iov[++n] = (struct iovec){b->text + f->off, f->len};
        waiting += f->len;
        sub->last_id = f->seq;
    }
    int rc = subscriber_send(sub, st->iov, n);
    if (rc == -ALLOT_EIO)
        return;
    if (rc) {
        sub->last_id = before; /* out of memory: none of it was sent */
        over = true;
    }
    if (over)
        subscriber_overflow(sub);
}

/* A resume: the stored events after sub->last_id that it may see, as many as fit. */
struct backlog {
    struct subscriber *sub;
    size_t waiting; /* bytes in its connection and in the set's scratch */
    int64_t rows;   /* stored events looked at */
    int64_t seen;   /* the last of them */
    bool over;      /* it did not all fit */
};

static int backlog_one(void *arg, const struct store_event *ev)
{
    struct backlog *b = arg;
    struct subscriber *sub = b->sub;
    b->rows++;
    b->seen = ev->seq;
    if (!stream_sees_stored(&sub->who, ev))
        return 0;
    int len = snprintf(NULL, 0, FRAME_FORMAT, (long long)ev->seq, ev->kind, ev->json);
    if (len < 0 || !frame_fits(sub->st, false, b->waiting, (size_t)len) ||
        evbuffer_add_printf(sub->st->scratch, FRAME_FORMAT, (long long)ev->seq, ev->kind,
                            ev->json) < 0) {
        b->over = true;
        return 1; /* stops the read */
    }
    b->waiting += (size_t)len;
    sub->last_id = ev->seq;
    return 0;
}

/* A resume from an id whose successors the retention deleted (--events-keep): the gap event
 * goes first, into the scratch, naming what is missing, so that the client reloads the
 * state instead of carrying on as if it had missed nothing (docs/api.md, "Resuming").
 * Like the overflow event it has no id: the events after it carry theirs. */
static void backlog_gap(struct backlog *b)
{
    struct stream *st = b->sub->st;
    int64_t first = 0, t_ms = 0, after = b->sub->last_id;
    if (after == 0 || store_events_first(st->store, &first, &t_ms) != 0)
        return; /* 0 asks for whatever is stored; a failed read shows in the backlog's */
    int64_t next = first ? first : st->last_seq + 1;
    if (next <= after + 1)
        return;
    int len = evbuffer_add_printf(
        st->scratch,
        "event: gap\ndata: {\"event\":\"gap\",\"last_id\":%lld,\"next_id\":%lld,"
        "\"message\":\"events %lld to %lld were deleted by the retention (--events-keep): "
        "reload the state, then go on from here\"}\n\n",
        (long long)after, (long long)next, (long long)after + 1, (long long)next - 1);
    if (len > 0)
        b->waiting += (size_t)len;
}

/* Send sub the backlog of its resume. When it does not fit, or more events are stored than
 * one resume looks at, it ends with the overflow event, to resume from there. sub may be
 * freed on return. */
static void subscriber_backlog(struct subscriber *sub)
{
    struct stream *st = sub->st;
    struct backlog b = {.sub = sub, .waiting = subscriber_waiting(sub)};
    int64_t before = sub->last_id;
    backlog_gap(&b);
    int rc = store_events_read(st->store, sub->last_id, STREAM_BACKLOG_ROWS, backlog_one, &b);
    if (rc < 0) {
        b.over = true; /* the store failed: what was read is sent, the client resumes */
    } else if (!b.over && b.rows == STREAM_BACKLOG_ROWS) {
        b.over = true; /* what it may see up to the last row looked at was all sent */
        sub->last_id = b.seen;
    }
    size_t len = evbuffer_get_length(st->scratch);
    struct iovec iov[3] = {[1] = {evbuffer_pullup(st->scratch, -1), len}};
    rc = len && !iov[1].iov_base ? -ALLOT_ENOMEM : subscriber_send(sub, iov, 1);
    evbuffer_drain(st->scratch, len);
    if (rc == -ALLOT_EIO)
        return;
    if (rc) {
        sub->last_id = before; /* out of memory: none of it was sent */
        b.over = true;
    }
    if (b.over)
        subscriber_overflow(sub);
}

/* A JSON page of stored events being read (stream_page). */
struct page {
    const struct principal *who;
    const char *const *kinds; /* NULL: any */
    struct evbuffer *out;
    int64_t limit, items, rows;
    int64_t seen; /* the last row taken: the page's "next" */
    bool full;    /* one more it may see came after the limit */
};

static int page_one(void *arg, const struct store_event *ev)
{
    struct page *p = arg;
    bool wanted = !p->kinds;
    for (const char *const *k = p->kinds; k && *k && !wanted; k++)
        wanted = strcmp(*k, ev->kind) == 0;
    if (wanted && stream_sees_stored(p->who, ev)) {
        size_t len = strlen(ev->json);
        if (p->items == p->limit) {
            p->full = true;
            return 1; /* stops the read: this one starts the next page */
        }
        if (len < 2 || ev->json[0] != '{')
            return -ALLOT_EIO;
        /* {"id":N, + the event without its opening brace */
        if (evbuffer_add_printf(p->out, "%s{\"id\":%lld,", p->items ? "," : "",
                                (long long)ev->seq) < 0 ||
            evbuffer_add(p->out, ev->json + 1, len - 1))
            return -ALLOT_ENOMEM;
        p->items++;
    }
    p->rows++;
    p->seen = ev->seq;
    return 0;
}

int stream_page(struct stream *st, const struct principal *who, int64_t after, int64_t limit,
                const char *const *kinds, struct evbuffer *out)
{
    struct page p = {who, kinds, out, limit, 0, 0, after, false};
    if (evbuffer_add(out, "{\"items\":[", 10))
        return -ALLOT_ENOMEM;
    int rc = store_events_read(st->store, after, STREAM_BACKLOG_ROWS, page_one, &p);
    if (rc < 0)
        return rc;
    /* more may follow: a visible one was left for the next page, or the rows looked at ran
     * out (what it may see up to the last of them is on this page) */
    bool more = p.full || p.rows == STREAM_BACKLOG_ROWS;
    /* last: where the events end (what a client bisects up to; the stream's 400 for a
     * Last-Event-ID beyond it says as much) */
    if (evbuffer_add(out, "]", 1) ||
        (more && evbuffer_add_printf(out, ",\"next\":%lld", (long long)p.seen) < 0) ||
        evbuffer_add_printf(out, ",\"last\":%lld}", (long long)st->last_seq) < 0)
        return -ALLOT_ENOMEM;
    return 0;
}

int64_t stream_last_id(const struct stream *st)
{
    return st->last_seq;
}

/* Last-Event-ID: a whole number from 0 to the last id issued, nothing else. */
static int parse_event_id(const char *text, int64_t last, int64_t *out)
{
    size_t n = strspn(text, "0123456789");
    if (n == 0 || n > 19 || text[n] != '\0')
        return -ALLOT_EINVAL;
    errno = 0;
    long long v = strtoll(text, NULL, 10);
    if (errno || v > last)
        return -ALLOT_ERANGE;
    *out = v;
    return 0;
}

/* How many streams the holder of token_id has open. */
static uint32_t streams_of(const struct stream *st, const char *token_id)
{
    uint32_t n = 0;
    for (const struct subscriber *sub = st->subscribers; sub; sub = sub->next)
        n += strcmp(sub->who.token_id, token_id) == 0;
    return n;
}

void stream_subscribe(struct stream *st, struct call *c)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(c->req);
    const char *last =
        evhttp_find_header(evhttp_request_get_input_headers(c->req), "Last-Event-ID");
    int64_t after = st->last_seq;
    if (last && parse_event_id(last, st->last_seq, &after)) {
        call_error(c, -ALLOT_EINVAL, 400, "Last-Event-ID",
                   "expected the id of an event this daemon sent: a whole number from 0 to %lld",
                   (long long)st->last_seq);
        return;
    }
    uint32_t mine = streams_of(st, c->who.token_id);
    if (st->n_subscribers >= st->opt.max_streams || mine >= st->opt.max_per_token) {
        char retry[16];
        snprintf(retry, sizeof(retry), "%d", STREAM_RETRY_AFTER_S);
        evhttp_add_header(out, "Retry-After", retry);
        st->refused++;
        if (mine >= st->opt.max_per_token)
            call_error(c, -ALLOT_ETOOMANY, 429, NULL,
                       "this token has %u event streams open, the most allowed "
                       "(--max-streams-per-token)",
                       mine);
        else
            call_error(c, -ALLOT_ETOOMANY, 429, NULL,
                       "the daemon serves %u event streams, the most allowed (--max-streams)",
                       st->n_subscribers);
        return;
    }
    struct subscriber *sub = calloc(1, sizeof(*sub));
    if (!sub) {
        call_error(c, -ALLOT_ENOMEM, 503, NULL, "out of memory");
        return;
    }
    sub->st = st;
    sub->req = c->req;
    sub->conn = evhttp_request_get_connection(c->req);
    sub->gate = c->gate;
    sub->who = c->who;
    sub->last_id = after;
    sub->fed = st->round; /* a round under way has nothing after `after` */
    evhttp_add_header(out, "Content-Type", "text/event-stream");
    evhttp_add_header(out, "Cache-Control", "no-cache");
    evhttp_add_header(out, "Connection", "close"); /* the stream's end is the connection's */
    evhttp_send_reply_start(c->req, 200, "OK");
    sub->chunked = evhttp_find_header(out, "Transfer-Encoding") != NULL;
    gate_on_close(c->gate, sub->conn, subscriber_closed, sub); /* the gate owns evhttp's */
    struct bufferevent *bev = evhttp_connection_get_bufferevent(sub->conn);
    /* the client decides when a stream ends (evhttp's own "no timeout" is 50 s); what it
     * sends is never read, and no more than SERVER_MAX_HEADERS of it is held */
    bufferevent_set_timeouts(bev, NULL, NULL);
    bufferevent_setwatermark(bev, EV_READ, 0, SERVER_MAX_HEADERS);
    /* and the kernel holds no more for it than the daemon does (Linux doubles the figure);
     * best effort: without it the cap still holds, further from the client */
    int sndbuf = (int)st->opt.max_buffered;
    setsockopt(bufferevent_getfd(bev), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    sub->next = st->subscribers;
    if (sub->next)
        sub->next->prev = sub;
    st->subscribers = sub;
    st->n_subscribers++;
    if (last)
        subscriber_backlog(sub);
    call_done(c);
}

/* ---- the commit's events ---- */

int stream_queue_take(struct stream *st, json_t *event)
{
    return json_array_append_new(st->queue, event) ? -ALLOT_ENOMEM : 0;
}

/* Room for n more bytes of text in b. RET 0 or -ALLOT_ENOMEM. */
static int text_reserve(struct batch *b, size_t n)
{
    if (b->text_len + n <= b->text_cap)
        return 0;
    size_t cap = b->text_cap ? b->text_cap : 4096;
    while (cap < b->text_len + n)
        cap *= 2;
    char *p = realloc(b->text, cap);
    if (!p)
        return -ALLOT_ENOMEM;
    b->text = p;
    b->text_cap = cap;
    return 0;
}

/* Render the frame of stored event seq once, with its scope, for the next round. */
static int frame_add(struct stream *st, int64_t seq, const char *kind, const char *json,
                     const char *tenant, const char *workspace)
{
    struct batch *b = &st->pending;
    int len = snprintf(NULL, 0, FRAME_FORMAT, (long long)seq, kind, json);
    if (len < 0 || text_reserve(b, (size_t)len + 1))
        return -ALLOT_ENOMEM;
    if (b->n_frames == b->cap_frames) {
        size_t cap = b->cap_frames ? 2 * b->cap_frames : 64;
        struct frame *p = realloc(b->frames, cap * sizeof(*p));
        if (!p)
            return -ALLOT_ENOMEM;
        b->frames = p;
        b->cap_frames = cap;
    }
    if (b->n_frames == st->cap_runs) { /* runs for a round of as many frames as a batch */
        struct iovec *v = realloc(st->iov, (b->cap_frames + 2) * sizeof(*v));
        if (!v)
            return -ALLOT_ENOMEM;
        st->iov = v;
        st->cap_runs = b->cap_frames;
    }
    snprintf(b->text + b->text_len, (size_t)len + 1, FRAME_FORMAT, (long long)seq, kind, json);
    b->frames[b->n_frames++] = (struct frame){.seq = seq,
                                              .off = b->text_len,
                                              .len = (size_t)len,
                                              .tenant = tenant,
                                              .workspace = workspace};
    b->text_len += (size_t)len;
    return 0;
}

int stream_store(struct stream *st, int64_t t_ms)
{
    size_t i;
    json_t *ev;
    int rc = 0;
    st->storing = true;
    st->mark_frames = st->pending.n_frames;
    st->mark_text = st->pending.text_len;
    st->mark_seq = st->last_seq;
    json_array_foreach(st->queue, i, ev)
    {
        /* the scope: its tenant, named or the first part of its workspace */
        const char *ws = json_string_value(json_object_get(ev, "workspace"));
        const char *t = json_string_value(json_object_get(ev, "tenant"));
        const char *kind = json_string_value(json_object_get(ev, "event"));
        size_t tenant_len = t ? strlen(t) : ws ? strcspn(ws, "/") : 0;
        struct arena *names = &st->pending.names;
        const char *tenant = tenant_len ? arena_strndup(names, t ? t : ws, tenant_len) : NULL;
        const char *workspace = ws ? arena_strdup(names, ws) : NULL;
        char *text = json_dumps(ev, JSON_COMPACT);
        int64_t seq = 0;
        rc = !text || (tenant_len && !tenant) || (ws && !workspace)
                 ? -ALLOT_ENOMEM
                 : store_append_event(st->store, t_ms, tenant, kind, text, &seq);
        rc = rc ? rc : frame_add(st, seq, kind, text, tenant, workspace);
        free(text);
        if (rc)
            break;
        st->last_seq = seq;
    }
    json_array_clear(st->queue);
    return rc;
}

/* Start a round when the last one is STREAM_ROUND_MS old, unless one is under way or due. */
static void fanout_schedule(struct stream *st)
{
    if (st->in_round || evtimer_pending(st->fanout, NULL) || !st->pending.n_frames)
        return;
    int64_t wait = st->round_start_ms + STREAM_ROUND_MS - clock_mono_ms();
    if (wait < 0 || wait > STREAM_ROUND_MS)
        wait = 0;
    struct timeval tv = {0, (suseconds_t)wait * 1000};
    evtimer_add(st->fanout, &tv);
}

/* A round: what was committed since the last one goes to every stream, STREAM_SLICE streams
 * per call; a timer of no delay brings the next slice after the loop has looked at its
 * sockets. */
static void fanout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct stream *st = arg;
    if (!st->in_round) {
        struct batch next = st->pending;
        st->pending = st->sending; /* empty since the last round */
        st->sending = next;
        st->round++;
        st->in_round = true;
        st->round_start_ms = clock_mono_ms();
    }
    struct subscriber *sub = st->subscribers, *next;
    for (uint32_t fed = 0; sub && fed < STREAM_SLICE; sub = next) {
        next = sub->next; /* a stream that ends may be freed at once */
        if (sub->fed == st->round)
            continue;
        sub->fed = st->round;
        if (!sub->ended) {
            subscriber_feed(sub);
            fed++;
        }
    }
    if (sub) {
        struct timeval now = {0, 0};
        evtimer_add(st->fanout, &now);
        return;
    }
    st->in_round = false;
    st->sending.n_frames = 0;
    st->sending.text_len = 0;
    arena_cleanup(&st->sending.names);
    fanout_schedule(st);
}

void stream_publish(struct stream *st)
{
    st->storing = false;
    fanout_schedule(st);
}

void stream_abort(struct stream *st)
{
    json_array_clear(st->queue);
    if (!st->storing)
        return;
    st->storing = false;
    st->pending.n_frames = st->mark_frames;
    st->pending.text_len = st->mark_text;
    st->last_seq = st->mark_seq;
}
