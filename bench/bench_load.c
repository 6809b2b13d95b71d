/* The compiled load generator of bench/bench_slurm.sh and bench/bench_agents.sh (not a test):
 * submits COUNT one-GPU `true` workloads to a running allotd over CONNS keep-alive HTTP/1.1
 * connections (a thread each, blocking sockets on 127.0.0.1), waits until the daemon's
 * /metrics counts them all ended, checks in the workload list that every one finished with
 * code 0, and prints one JSON line: {count, submit_s, total_s, rate, submit_rate, replies,
 * finished, listed, bad}, as bench/allot_load.py's `throughput` did (that Python client
 * took longer to submit than the daemon and agents took to run the work).
 *
 *   bench_load --port P --token T [--tenant bench] [--workspace research] --count N
 *              [--conns 16] [--timeout 600] [--poll 0.05] [--submit-only] [--duration D]
 *
 * --submit-only: submit and print {count, submit_s, submit_rate, replies} without waiting for
 * the workloads to end (bench/bench_restart.sh fills a daemon with live work that way).
 * --duration D: the workloads' run time on simulated nodes (a daemon without --no-virtual-nodes).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define MAX_CONNS 256
#define MAX_RESPONSE (64 * 1024 * 1024) /* a page of the workload list, /metrics */

struct options {
    int port;
    const char *token, *tenant, *workspace;
    long count;
    int conns;
    double timeout, poll;
    bool submit_only;
    const char *duration; /* NULL: none */
};

static struct options opt = {
    .tenant = "bench", .workspace = "research", .conns = 16, .timeout = 600, .poll = 0.05};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static _Noreturn void die(const char *what)
{
    fprintf(stderr, "bench_load: %s\n", what);
    exit(1);
}

/* A keep-alive connection and its receive buffer. */
struct client {
    int fd;
    char *buf;
    size_t len, cap;
};

static int client_connect(struct client *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->len = 0;
    return 0;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Read more into c->buf. RET bytes read; 0 at the end of the stream; -1 on error. */
static ssize_t fill(struct client *c)
{
    if (c->cap - c->len < 65536) {
        size_t cap = c->cap ? c->cap * 2 : 131072;
        if (cap > MAX_RESPONSE)
            return -1;
        char *p = realloc(c->buf, cap);
        if (!p)
            return -1;
        c->buf = p;
        c->cap = cap;
    }
    ssize_t k;
    do
        k = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
    while (k < 0 && errno == EINTR);
    if (k > 0)
        c->len += (size_t)k;
    return k;
}

/* One request and its response (Content-Length framing; allotd does not chunk). OUT
 * *status, *body (into c->buf, NUL-terminated, valid until the next call), *body_len. RET 0;
 * -1 when the connection failed (the caller reconnects once). */
static int request(struct client *c, const char *method, const char *path, const char *body,
                   int *status, const char **out, size_t *out_len)
{
    char head[1024];
    size_t blen = body ? strlen(body) : 0;
    int n = snprintf(head, sizeof(head),
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     method, path, opt.token, blen);
    if (n < 0 || (size_t)n >= sizeof(head))
        die("request head too long");
    if (send_all(c->fd, head, (size_t)n) || (blen && send_all(c->fd, body, blen)))
        return -1;
    c->len = 0;
    char *end = NULL;
    while (!end) {
        if (fill(c) <= 0)
            return -1;
        c->buf[c->len] = '\0';
        end = strstr(c->buf, "\r\n\r\n");
    }
    size_t head_len = (size_t)(end - c->buf) + 4;
    if (sscanf(c->buf, "HTTP/1.%*d %d", status) != 1)
        return -1;
    const char *cl = strcasestr(c->buf, "\r\nContent-Length:");
    if (!cl || cl > end)
        die("a response without Content-Length");
    size_t want = head_len + strtoul(cl + 17, NULL, 10);
    if (want > MAX_RESPONSE)
        die("a response too large");
    while (c->len < want)
        if (fill(c) <= 0)
            return -1;
    c->buf[want] = '\0';
    *out = c->buf + head_len;
    *out_len = want - head_len;
    return 0;
}

/* request(), reconnecting once on a connection the server closed. */
static void request_retry(struct client *c, const char *method, const char *path, const char *body,
                          int *status, const char **out, size_t *out_len)
{
    for (int attempt = 0;; attempt++) {
        if (c->fd >= 0 && request(c, method, path, body, status, out, out_len) == 0)
            return;
        if (attempt)
            die("the daemon closed the connection twice in a row");
        if (c->fd >= 0)
            close(c->fd);
        if (client_connect(c))
            die("cannot connect to the daemon");
    }
}

/* ---- submission: a thread per connection, workloads i = k, k + conns, ... ---- */

static char run_id[32];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *replies; /* {state: count} */
static long failures;
static char first_failure[512];

static void *submitter(void *arg)
{
    long k = (long)(intptr_t)arg;
    struct client c = {.fd = -1};
    char body[512], duration[64] = "";
    if (opt.duration)
        snprintf(duration, sizeof(duration), ",\"duration\":\"%s\"", opt.duration);
    for (long i = k; i < opt.count; i += opt.conns) {
        snprintf(body, sizeof(body),
                 "{\"name\":\"%s-%ld\",\"workspace\":\"%s/%s\",\"gpus\":1,\"grace\":\"5s\","
                 "\"command\":[\"true\"]%s}",
                 run_id, i, opt.tenant, opt.workspace, duration);
        int status;
        const char *text;
        size_t len;
        request_retry(&c, "POST", "/v1/workloads", body, &status, &text, &len);
        json_t *j = json_loadb(text, len, 0, NULL);
        const char *state = json_string_value(json_object_get(j, "state"));
        pthread_mutex_lock(&lock);
        if ((status == 200 || status == 201) && state) {
            json_int_t had = json_integer_value(json_object_get(replies, state));
            json_object_set_new(replies, state, json_integer(had + 1));
        } else if (failures++ == 0) {
            snprintf(first_failure, sizeof(first_failure), "HTTP %d %.400s", status, text);
        }
        pthread_mutex_unlock(&lock);
        json_decref(j);
    }
    if (c.fd >= 0)
        close(c.fd);
    free(c.buf);
    return NULL;
}

/* ---- what the daemon says ---- */

/* The tenant's workloads in state, from /metrics' allot_workloads{...} lines. */
static long metric_count(const char *text, const char *state)
{
    char tenant[128], want[160];
    snprintf(tenant, sizeof(tenant), "tenant=\"%s\"", opt.tenant);
    snprintf(want, sizeof(want), "state=\"%s\"", state);
    long total = 0;
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        if (strncmp(line, "allot_workloads{", 16) == 0) {
            const char *close = memchr(line, '}', n);
            if (close && memmem(line, (size_t)(close - line), tenant, strlen(tenant)) &&
                memmem(line, (size_t)(close - line), want, strlen(want)))
                total += (long)strtod(close + 1, NULL);
        }
        line = nl ? nl + 1 : NULL;
    }
    return total;
}

static long ended(struct client *c, long *finished)
{
    int status;
    const char *text;
    size_t len;
    request_retry(c, "GET", "/metrics", NULL, &status, &text, &len);
    if (status != 200)
        die("GET /metrics failed");
    *finished = metric_count(text, "finished");
    return *finished + metric_count(text, "cancelled");
}

/* Walk the workspace's list: how many of this run's are listed, and how many of them did not
 * finish with code 0. */
static void check_list(struct client *c, long *listed, long *bad)
{
    char after[512] = "", path[1024], prefix[48];
    snprintf(prefix, sizeof(prefix), "%s-", run_id);
    *listed = *bad = 0;
    for (;;) {
        snprintf(path, sizeof(path), "/v1/workloads?workspace=%s/%s&limit=1000%s%s", opt.tenant,
                 opt.workspace, after[0] ? "&after=" : "", after);
        int status;
        const char *text;
        size_t len;
        request_retry(c, "GET", path, NULL, &status, &text, &len);
        json_t *page = status == 200 ? json_loadb(text, len, 0, NULL) : NULL;
        if (!page)
            die("GET /v1/workloads failed");
        size_t i;
        json_t *w;
        json_array_foreach(json_object_get(page, "items"), i, w)
        {
            const char *name = json_string_value(json_object_get(w, "name"));
            const char *last = name ? strrchr(name, '/') : NULL;
            if (!last || strncmp(last + 1, prefix, strlen(prefix)) != 0)
                continue;
            (*listed)++;
            const char *state = json_string_value(json_object_get(w, "state"));
            json_t *code = json_object_get(json_object_get(w, "exit"), "code");
            if (!state || strcmp(state, "finished") != 0 || !json_is_integer(code) ||
                json_integer_value(code) != 0)
                (*bad)++;
        }
        json_t *next = json_object_get(page, "next");
        if (json_is_string(next))
            snprintf(after, sizeof(after), "%s", json_string_value(next));
        else if (json_is_integer(next))
            snprintf(after, sizeof(after), "%lld", (long long)json_integer_value(next));
        else
            after[0] = '\0';
        json_decref(page);
        if (!after[0])
            return;
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_load --port P --token T [--tenant bench] [--workspace "
                    "research] --count N [--conns 16] [--timeout 600] [--poll 0.05] "
                    "[--submit-only] [--duration D]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--submit-only") == 0) {
            opt.submit_only = true;
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        if (strcmp(argv[i], "--port") == 0)
            opt.port = atoi(v);
        else if (strcmp(argv[i], "--token") == 0)
            opt.token = v;
        else if (strcmp(argv[i], "--tenant") == 0)
            opt.tenant = v;
        else if (strcmp(argv[i], "--workspace") == 0)
            opt.workspace = v;
        else if (strcmp(argv[i], "--count") == 0)
            opt.count = atol(v);
        else if (strcmp(argv[i], "--conns") == 0)
            opt.conns = atoi(v);
        else if (strcmp(argv[i], "--timeout") == 0)
            opt.timeout = atof(v);
        else if (strcmp(argv[i], "--poll") == 0)
            opt.poll = atof(v);
        else if (strcmp(argv[i], "--duration") == 0)
            opt.duration = v;
        else
            usage();
        i++;
    }
    if (opt.port <= 0 || opt.port > 65535 || !opt.token || opt.count <= 0 || opt.conns <= 0 ||
        opt.conns > MAX_CONNS || strlen(opt.token) > 512 || strlen(opt.tenant) > 63 ||
        strlen(opt.workspace) > 63 || opt.timeout <= 0 || opt.poll <= 0 ||
        (opt.duration && strlen(opt.duration) > 32))
        usage();
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    snprintf(run_id, sizeof(run_id), "tp%lld",
             (long long)(wall.tv_sec * 1000 + wall.tv_nsec / 1000000) % 100000000);
    replies = json_object();
    struct client c = {.fd = -1};
    long finished0, done0 = ended(&c, &finished0);

    double t0 = now_s();
    pthread_t threads[MAX_CONNS];
    int started = 0;
    for (int k = 0; k < opt.conns && k < opt.count; k++, started++)
        if (pthread_create(&threads[k], NULL, submitter, (void *)(intptr_t)k) != 0)
            die("cannot start a thread");
    for (int k = 0; k < started; k++)
        pthread_join(threads[k], NULL);
    double t_sub = now_s();
    if (failures) {
        fprintf(stderr, "bench_load: %ld submissions failed, first: %s\n", failures, first_failure);
        return 1;
    }
    long finished = 0, done = 0, listed = 0, bad = 0;
    while (!opt.submit_only) {
        done = ended(&c, &finished) - done0;
        if (done >= opt.count)
            break;
        if (now_s() - t0 > opt.timeout) {
            fprintf(stderr, "bench_load: %ld of %ld ended after %.0f s\n", done, opt.count,
                    opt.timeout);
            return 1;
        }
        struct timespec ts = {(time_t)opt.poll,
                              (long)((opt.poll - (double)(time_t)opt.poll) * 1e9)};
        nanosleep(&ts, NULL);
    }
    double t_end = now_s();
    /* --submit-only: the submissions' figures alone */
    json_t *out =
        json_pack("{s:I, s:f, s:f, s:O}", "count", (json_int_t)opt.count, "submit_s", t_sub - t0,
                  "submit_rate", (double)opt.count / (t_sub - t0), "replies", replies);
    if (!opt.submit_only) {
        check_list(&c, &listed, &bad);
        json_t *more = json_pack("{s:f, s:f, s:I, s:I, s:I}", "total_s", t_end - t0, "rate",
                                 (double)opt.count / (t_end - t0), "finished",
                                 (json_int_t)(finished - finished0), "listed", (json_int_t)listed,
                                 "bad", (json_int_t)bad);
        json_object_update(out, more);
        json_decref(more);
    }
    char *text = json_dumps(out, JSON_COMPACT);
    puts(text);
    free(text);
    json_decref(out);
    json_decref(replies);
    if (c.fd >= 0)
        close(c.fd);
    free(c.buf);
    if (!opt.submit_only && (bad || listed != opt.count)) {
        fprintf(stderr, "bench_load: %ld workloads did not finish with code 0, %ld listed\n", bad,
                listed);
        return 1;
    }
    return 0;
}
