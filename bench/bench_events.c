/* The client of bench/bench_events.sh (not a test): durable submissions to allotd at a fixed
 * offered rate, with their latency, while N event streams read everything and M others
 * never read. One thread, epoll, plain HTTP/1.1 on 127.0.0.1; prints one JSON line. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "percentile.h"

#define MAX_TOKENS 1024
#define MAX_CONNS 256
#define MAX_STREAMS 4096
#define BUF_SIZE 65536

struct options {
    int port;
    const char *token;     /* of the submissions */
    const char *tokens;    /* file: one token a line, for the streams, used in turn */
    const char *workspace; /* of the submissions */
    const char *prefix;    /* of their names */
    double rate;           /* submissions per second, offered */
    double seconds;
    int conns;     /* connections for the submissions */
    int readers;   /* streams that read everything */
    int stalled;   /* streams that never read after their response head */
    int pid;       /* the daemon's, for its memory (0: not measured) */
    int rcvbuf;    /* SO_RCVBUF of the stalled streams (0: the system's) */
    double linger; /* seconds to wait after the load before memory is measured again */
};

/* A submission connection: one request at a time, kept alive. */
struct conn {
    int fd;
    bool busy;
    double sent_at; /* when its request was due (the schedule, not the send) */
    char buf[BUF_SIZE];
    size_t len;
};

/* An event stream. */
struct stream {
    int fd;
    bool reading; /* false: never read after its head */
    bool head;    /* its response head arrived */
    int status;
    bool overflowed, closed;
    uint64_t bytes, events;
    size_t match; /* bytes of "\ndata: " matched at the end of the last read */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_events: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* A connection to 127.0.0.1:port; rcvbuf: its SO_RCVBUF, or 0. */
static int connect_to(int port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket");
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("write");
        p += w;
        n -= (size_t)w;
    }
}

static void nonblocking(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Counts the events a stream read ("data: " at the start of a line, also across reads) and
 * notes an overflow event. */
static void stream_count(struct stream *s, const char *p, size_t n)
{
    static const char key[] = "\ndata: ";
    for (size_t i = 0; i < n; i++) {
        if (p[i] == key[s->match]) {
            if (++s->match == sizeof(key) - 1) {
                s->events++;
                s->match = 0;
            }
        } else {
            s->match = p[i] == '\n';
        }
    }
    if (memmem(p, n, "event: overflow", 15))
        s->overflowed = true;
}

/* A field of /proc/PID/status in KiB (VmRSS, VmHWM), or -1. */
static long proc_kib(int pid, const char *field)
{
    char path[64], line[256];
    long v = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = pid ? fopen(path, "r") : NULL;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, field, strlen(field)) == 0 && line[strlen(field)] == ':')
            v = atol(line + strlen(field) + 1);
    if (f)
        fclose(f);
    return v;
}

/* The kernel's memory for TCP, all sockets of the machine, in KiB (/proc/net/sockstat), or
 * -1. */
static long tcp_kib(void)
{
    char line[256];
    long pages = -1;
    FILE *f = fopen("/proc/net/sockstat", "r");
    while (f && fgets(line, sizeof(line), f)) {
        const char *m = strncmp(line, "TCP:", 4) == 0 ? strstr(line, " mem ") : NULL;
        if (m)
            pages = atol(m + 5);
    }
    if (f)
        fclose(f);
    return pages < 0 ? -1 : pages * (sysconf(_SC_PAGESIZE) / 1024);
}

/* The options: one row each, read by parse() and shown by usage(). */
enum option_kind { OPT_INT, OPT_DOUBLE, OPT_TEXT };
struct option_row {
    const char *name;
    enum option_kind kind;
    size_t offset; /* in struct options */
    const char *help;
};

static const struct option_row option_rows[] = {
    {"--port", OPT_INT, offsetof(struct options, port), "allotd's port on 127.0.0.1"},
    {"--token", OPT_TEXT, offsetof(struct options, token), "token of the submissions"},
    {"--tokens", OPT_TEXT, offsetof(struct options, tokens), "file of the streams' tokens"},
    {"--workspace", OPT_TEXT, offsetof(struct options, workspace), "of the submissions"},
    {"--prefix", OPT_TEXT, offsetof(struct options, prefix), "of the workloads' names"},
    {"--rate", OPT_DOUBLE, offsetof(struct options, rate), "submissions per second, offered"},
    {"--seconds", OPT_DOUBLE, offsetof(struct options, seconds), "of submissions"},
    {"--conns", OPT_INT, offsetof(struct options, conns), "connections submitting (32)"},
    {"--readers", OPT_INT, offsetof(struct options, readers), "streams that read all (0)"},
    {"--stalled", OPT_INT, offsetof(struct options, stalled), "streams that never read (0)"},
    {"--stalled-rcvbuf", OPT_INT, offsetof(struct options, rcvbuf),
     "their SO_RCVBUF (0: the system's)"},
    {"--pid", OPT_INT, offsetof(struct options, pid), "allotd's, for its memory (0: none)"},
    {"--linger", OPT_DOUBLE, offsetof(struct options, linger),
     "seconds after the load before memory is read again (0)"},
};
#define N_OPTIONS (sizeof(option_rows) / sizeof(option_rows[0]))

static void usage(void)
{
    fprintf(stderr, "usage: bench_events OPTION VALUE ...\n");
    for (size_t i = 0; i < N_OPTIONS; i++)
        fprintf(stderr, "  %-16s %s\n", option_rows[i].name, option_rows[i].help);
    exit(2);
}

static void parse(int argc, char **argv, struct options *o)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        size_t k = 0;
        while (k < N_OPTIONS && strcmp(option_rows[k].name, argv[i]) != 0)
            k++;
        if (k == N_OPTIONS)
            usage();
        void *slot = (char *)o + option_rows[k].offset;
        if (option_rows[k].kind == OPT_INT)
            *(int *)slot = atoi(argv[i + 1]);
        else if (option_rows[k].kind == OPT_DOUBLE)
            *(double *)slot = atof(argv[i + 1]);
        else
            *(const char **)slot = argv[i + 1];
    }
    if (argc % 2 == 0 || !o->port || !o->token || !o->workspace || !o->prefix || o->rate <= 0 ||
        o->seconds <= 0 || o->conns < 1 || o->conns > MAX_CONNS || o->readers < 0 ||
        o->stalled < 0 || o->readers + o->stalled > MAX_STREAMS ||
        ((o->readers || o->stalled) && !o->tokens))
        usage();
}

/* The streams' tokens, one a line. */
static int load_tokens(const char *path, char tokens[][128])
{
    FILE *f = fopen(path, "r");
    int n = 0;
    if (!f)
        die(path);
    while (n < MAX_TOKENS && fgets(tokens[n], 128, f)) {
        tokens[n][strcspn(tokens[n], "\r\n")] = '\0';
        if (tokens[n][0])
            n++;
    }
    fclose(f);
    if (n == 0) {
        fprintf(stderr, "bench_events: no tokens in %s\n", path);
        exit(1);
    }
    return n;
}

/* Tags of epoll events: submission connections, then streams. */
#define TAG_STREAM (1u << 30)

int main(int argc, char **argv)
{
    struct options o = {.conns = 32};
    parse(argc, argv, &o);
    static char tokens[MAX_TOKENS][128];
    int n_tokens = o.tokens ? load_tokens(o.tokens, tokens) : 0;
    int ep = epoll_create1(0);
    if (ep < 0)
        die("epoll_create1");
    /* the streams: every one must have its response head before the load starts */
    int n_streams = o.readers + o.stalled;
    struct stream *streams = calloc((size_t)n_streams + 1, sizeof(*streams));
    char req[1024];
    for (int i = 0; i < n_streams; i++) {
        struct stream *s = &streams[i];
        s->reading = i < o.readers;
        s->fd = connect_to(o.port, s->reading ? 0 : o.rcvbuf);
        int len = snprintf(req, sizeof(req),
                           "GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: "
                           "Bearer %s\r\nAccept: text/event-stream\r\n\r\n",
                           tokens[i % n_tokens]);
        send_all(s->fd, req, (size_t)len);
        nonblocking(s->fd);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = TAG_STREAM | (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev);
    }
    static char buf[BUF_SIZE];
    struct epoll_event evs[256];
    int heads = 0;
    double deadline = now_s() + 30;
    while (heads < n_streams && now_s() < deadline) {
        int n = epoll_wait(ep, evs, 256, 100);
        for (int k = 0; k < n; k++) {
            struct stream *s = &streams[evs[k].data.u32 & ~TAG_STREAM];
            /* the head only: a stalled stream reads no further */
            ssize_t r = read(s->fd, buf, s->reading ? sizeof(buf) : 64);
            if (r <= 0) {
                s->closed = true;
                epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
                heads++;
                continue;
            }
            if (!s->head) {
                s->head = true;
                heads++;
                s->status = atoi(buf + 9);
                if (!s->reading || s->status != 200)
                    epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
            }
        }
    }
    int streams_ok = 0;
    for (int i = 0; i < n_streams; i++)
        streams_ok += streams[i].status == 200;

    long rss_before = proc_kib(o.pid, "VmRSS"), tcp_before = tcp_kib();
    /* the load: request i is due at t0 + i / rate */
    struct conn *conns = calloc((size_t)o.conns, sizeof(*conns));
    for (int i = 0; i < o.conns; i++) {
        conns[i].fd = connect_to(o.port, 0);
        nonblocking(conns[i].fd);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
    }
    size_t total = (size_t)(o.rate * o.seconds);
    double *lat = calloc(total + 1, sizeof(double));
    size_t sent = 0, done = 0, ok = 0, failed = 0;
    double t0 = now_s() + 0.05, end = t0 + o.seconds + 10; /* 10 s for the last replies */
    while (done < total && now_s() < end) {
        double t = now_s();
        /* send what is due on free connections */
        for (int i = 0; i < o.conns && sent < total && t0 + (double)sent / o.rate <= t; i++) {
            struct conn *c = &conns[i];
            if (c->busy)
                continue;
            char body[256];
            int blen = snprintf(body, sizeof(body),
                                "{\"name\":\"%s-%zu\",\"workspace\":\"%s\",\"gpus\":1,"
                                "\"duration\":\"1h\"}",
                                o.prefix, sent, o.workspace);
            int len = snprintf(req, sizeof(req),
                               "POST /v1/workloads HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: "
                               "Bearer %s\r\nContent-Type: application/json\r\nContent-Length: "
                               "%d\r\n\r\n%s",
                               o.token, blen, body);
            c->busy = true;
            c->len = 0;
            c->sent_at = t0 + (double)sent / o.rate;
            sent++;
            send_all(c->fd, req, (size_t)len);
        }
        double next = sent < total ? t0 + (double)sent / o.rate : t + 0.01;
        int wait_ms = next > t ? (int)((next - t) * 1000) : 0;
        int n = epoll_wait(ep, evs, 256, wait_ms > 10 ? 10 : wait_ms);
        for (int k = 0; k < n; k++) {
            uint32_t tag = evs[k].data.u32;
            if (tag & TAG_STREAM) {
                struct stream *s = &streams[tag & ~TAG_STREAM];
                ssize_t r = read(s->fd, buf, sizeof(buf));
                if (r > 0) {
                    s->bytes += (uint64_t)r;
                    stream_count(s, buf, (size_t)r);
                } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                    s->closed = true;
                    epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
                }
                continue;
            }
            struct conn *c = &conns[tag];
            ssize_t r = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
            if (r <= 0) {
                if (r < 0 && (errno == EAGAIN || errno == EINTR))
                    continue;
                /* the daemon closes a connection idle for its request timeout: open
                 * another; a request in flight on it failed */
                if (c->busy) {
                    lat[done++] = now_s() - c->sent_at;
                    failed++;
                    c->busy = false;
                }
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                c->fd = connect_to(o.port, 0);
                nonblocking(c->fd);
                struct epoll_event ev = {.events = EPOLLIN, .data.u32 = tag};
                epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
                continue;
            }
            c->len += (size_t)r;
            c->buf[c->len] = '\0';
            char *hend = strstr(c->buf, "\r\n\r\n");
            if (!hend)
                continue;
            char *cl = strcasestr(c->buf, "\r\nContent-Length:");
            size_t body_len = cl && cl < hend ? (size_t)strtoul(cl + 17, NULL, 10) : 0;
            if (c->len < (size_t)(hend + 4 - c->buf) + body_len)
                continue;
            int status = atoi(c->buf + 9);
            lat[done++] = now_s() - c->sent_at;
            if (status == 201 || status == 200)
                ok++;
            else
                failed++;
            c->busy = false;
        }
    }
    long rss_after = proc_kib(o.pid, "VmRSS"), tcp_after = tcp_kib();
    /* the streams stay open, unread; what the daemon still holds a while later */
    for (double until = now_s() + o.linger; now_s() < until;)
        usleep(100000);
    long rss_later = proc_kib(o.pid, "VmRSS"), tcp_later = tcp_kib();
    long rss_peak = proc_kib(o.pid, "VmHWM");
    percentile_sort(lat, done);
    int open_readers = 0, overflowed = 0;
    uint64_t bytes = 0, events = 0;
    for (int i = 0; i < o.readers; i++) {
        open_readers += streams[i].status == 200 && !streams[i].closed;
        overflowed += streams[i].overflowed;
        bytes += streams[i].bytes;
        events += streams[i].events;
    }
    printf("{\"rate\": %.0f, \"seconds\": %.1f, \"sent\": %zu, \"answered\": %zu, \"ok\": %zu, "
           "\"failed\": %zu, \"p50_ms\": %.2f, \"p99_ms\": %.2f, \"max_ms\": %.2f, "
           "\"streams_asked\": %d, \"streams_ok\": %d, \"readers_open_at_end\": %d, "
           "\"readers_overflowed\": %d, \"reader_events\": %llu, \"reader_mib\": %.1f, "
           "\"rss_before_kib\": %ld, \"rss_after_kib\": %ld, \"rss_later_kib\": %ld, "
           "\"rss_peak_kib\": %ld, \"tcp_before_kib\": %ld, \"tcp_after_kib\": %ld, "
           "\"tcp_later_kib\": %ld, \"linger_s\": %.0f}\n",
           o.rate, o.seconds, sent, done, ok, failed, percentile(lat, done, 0.50) * 1000,
           percentile(lat, done, 0.99) * 1000, done ? lat[done - 1] * 1000 : 0, n_streams,
           streams_ok, open_readers, overflowed, (unsigned long long)events,
           (double)bytes / (1 << 20), rss_before, rss_after, rss_later, rss_peak, tcp_before,
           tcp_after, tcp_later, o.linger);
    return done == total ? 0 : 1;
}
