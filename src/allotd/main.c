/* allotd: the Allot controller daemon. Parses its options (one table, which also makes the
 * help), opens the controller and serves the REST API until SIGINT or SIGTERM. */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "allotd/api.h"
#include "allotd/controller.h"
#include "allotd/fdlimit.h"
#include "allotd/fleet.h"
#include "allotd/gate.h"
#include "allotd/log.h"
#include "allotd/server.h"
#include "allotd/snapshot.h"
#include "allotd/standby.h"
#include "common/quantity.h"
#include "common/serverlist.h"
#include "store/store.h"

struct daemon_options {
    const char *listen;
    const char *data;
    const char *store;
    const char *platform;
    const char *tls_cert, *tls_key;
    const char *unreachable, *lost;
    const char *max_streams, *max_per_token, *stream_buffer, *stream_keepalive;
    const char *max_connections, *request_timeout;
    const char *rate_token, *rate_tenant, *rate_burst;
    const char *check_every;
    const char *snapshot_every;
    const char *keep_finished, *history;
    const char *advertise;
    const char *events_keep, *output_keep, *output_max, *usage_keep;
    const char *ui_dir;
    bool real_nodes;
};

/* An option: its value's place in struct daemon_options (a `const char *`), or none for a
 * flag, which parse() handles by name. */
#define OPT_FLAG SIZE_MAX
struct option_row {
    const char *name;
    const char *arg; /* NULL: a flag */
    size_t slot;     /* offsetof the value in struct daemon_options, or OPT_FLAG */
    const char *help;
};

#define OPT(field) offsetof(struct daemon_options, field)
static const struct option_row option_rows[] = {
    {"--listen", "ADDR:PORT", OPT(listen), "where to serve the API (default 127.0.0.1:7070)"},
    {"--data", "DIR", OPT(data),
     "state directory (default ./allot-data): admin.token, the SQLite store"},
    {"--store", "LOCATION", OPT(store),
     "the store: sqlite:DIR (as --data DIR) or postgresql://... (docs/store.md)"},
    {"--platform", "FILE.yaml", OPT(platform),
     "platform to import on the first start (docs/simulator.md)"},
    {"--tls-cert", "FILE.pem", OPT(tls_cert), "serve HTTPS with this certificate chain"},
    {"--tls-key", "FILE.pem", OPT(tls_key), "and this private key"},
    {"--no-virtual-nodes", NULL, OPT_FLAG, "do not simulate workloads on nodes (for node agents)"},
    {"--unreachable-after", "DURATION", OPT(unreachable),
     "with agents: a silent node drains (default 15s)"},
    {"--lost-after", "DURATION", OPT(lost), "and is down, its work requeued (default 60s)"},
    {"--max-streams", "N", OPT(max_streams),
     "event streams (GET /v1/events) open at once (default 1024)"},
    {"--max-streams-per-token", "N", OPT(max_per_token), "of them, with one token (default 16)"},
    {"--stream-buffer", "SIZE", OPT(stream_buffer),
     "bytes waiting for one stream's client before it is cut off (default 256Ki)"},
    {"--stream-keepalive", "DURATION", OPT(stream_keepalive),
     "a keepalive comment to each quiet event stream this often (default 15s)"},
    {"--max-connections", "N", OPT(max_connections),
     "open connections at most (default: open file limit - 64, raised toward 65536)"},
    {"--request-timeout", "DURATION", OPT(request_timeout),
     "a request must arrive whole within this (default 10s)"},
    {"--rate-per-token", "N", OPT(rate_token),
     "requests per second one API token may make; over it: 429 (default 0: no cap)"},
    {"--rate-per-tenant", "N", OPT(rate_tenant),
     "requests per second of all a tenant's tokens together (default 0: no cap)"},
    {"--rate-burst", "N", OPT(rate_burst),
     "requests a rate cap lets through at once (default: one second's worth)"},
    {"--check-every", "N", OPT(check_every),
     "verify the engine's invariants every N scheduling passes, at most 1% of the time; 0: never "
     "(default 100)"},
    {"--snapshot-every", "N", OPT(snapshot_every),
     "a snapshot after N committed ops, or twice the workloads if more; 0: never (10000)"},
    {"--keep-finished", "DURATION", OPT(keep_finished),
     "an ended workload leaves the engine for the history after this (default 10m)"},
    {"--history", "DURATION", OPT(history),
     "the history keeps ended workloads this long (default 30d)"},
    {"--advertise", "URL", OPT(advertise),
     "with PostgreSQL: the URL standbys send clients to while this one leads "
     "(default http[s]://the --listen address)"},
    {"--events-keep", "DURATION", OPT(events_keep),
     "events (GET /v1/events) are kept this long (default 30d; 1s or more)"},
    {"--output-keep", "DURATION", OPT(output_keep),
     "workloads' output: an attempt's, this long after its last chunk (default 30d; 1s+)"},
    {"--output-max-per-workspace", "SIZE", OPT(output_max),
     "a workspace's stored output; beyond, its oldest attempts go (default 1Gi; 1Ki+)"},
    {"--usage-keep", "DURATION", OPT(usage_keep),
     "the GPU-hour ledger (GET /v1/usage) keeps its rows this long (default 400d; 1h or more)"},
    {"--ui-dir", "DIR", OPT(ui_dir),
     "the dashboard's files, served under /ui/ (default " ALLOT_UI_DIR ")"},
    {"--help", NULL, OPT_FLAG, "show this help"},
    {"--version", NULL, OPT_FLAG, "print the version and exit"},
};
#undef OPT
#define N_OPTIONS (sizeof(option_rows) / sizeof(option_rows[0]))

static void usage(FILE *f)
{
    fprintf(f, "usage: allotd [OPTIONS]\n\nThe Allot controller: REST API, durable state, "
               "scheduling.\n\n");
    for (size_t i = 0; i < N_OPTIONS; i++)
        fprintf(f, "  %-26s %-10s %s\n", option_rows[i].name,
                option_rows[i].arg ? option_rows[i].arg : "", option_rows[i].help);
}

static int parse(int argc, char **argv, struct daemon_options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        size_t k = 0;
        while (k < N_OPTIONS && strcmp(option_rows[k].name, a) != 0)
            k++;
        if (k < N_OPTIONS && option_rows[k].slot != OPT_FLAG) {
            if (i + 1 >= argc) {
                fprintf(stderr, "allotd: %s needs a value\n", a);
                return 2;
            }
            *(const char **)((char *)o + option_rows[k].slot) = argv[++i];
        } else if (strcmp(a, "--no-virtual-nodes") == 0) {
            o->real_nodes = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 1;
        } else if (strcmp(a, "--version") == 0) {
            printf("allotd %s\n", ALLOT_VERSION);
            return 1;
        } else {
            fprintf(stderr, "allotd: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    return 0;
}

/* A whole number from 1 to max, or -1. */
static long whole(const char *s, long max)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return errno || end == s || *end || v < 1 || v > max ? -1 : v;
}

/* The event streams' caps from --max-streams, --max-streams-per-token and --stream-buffer
 * (unset: the defaults). RET 0, or 2 with a message on stderr. */
static int stream_flags(const struct daemon_options *o, struct stream_options *out)
{
    long streams = o->max_streams ? whole(o->max_streams, STREAM_MAX_STREAMS) : 0;
    long per_token = o->max_per_token ? whole(o->max_per_token, STREAM_MAX_STREAMS) : 0;
    int64_t buffer = 0;
    memset(out, 0, sizeof(*out));
    if (streams < 0 || per_token < 0) {
        fprintf(stderr,
                "allotd: --max-streams/--max-streams-per-token: a whole number from 1 "
                "to %d\n",
                STREAM_MAX_STREAMS);
        return 2;
    }
    if (o->stream_buffer && (quantity_parse_bytes(o->stream_buffer, &buffer) ||
                             buffer < STREAM_MIN_BUFFER || buffer > STREAM_MAX_BUFFER)) {
        fprintf(stderr, "allotd: --stream-buffer: a size from %dKi to %dMi, such as 256Ki\n",
                STREAM_MIN_BUFFER / 1024, STREAM_MAX_BUFFER / (1024 * 1024));
        return 2;
    }
    if (o->stream_keepalive && (quantity_parse_duration(o->stream_keepalive, &out->keepalive_ms) ||
                                out->keepalive_ms < 100 || out->keepalive_ms > 600000)) {
        fprintf(stderr, "allotd: --stream-keepalive: a duration from 100ms to 10m, such as 15s\n");
        return 2;
    }
    out->max_streams = (uint32_t)streams;
    out->max_per_token = (uint32_t)per_token;
    out->max_buffered = (size_t)buffer;
    return 0;
}

/* The connection gate's limits from --max-connections and --request-timeout (unset: the
 * defaults). RET 0, or 2 with a message on stderr. */
static int gate_flags(const struct daemon_options *o, struct gate_options *out)
{
    long conns = o->max_connections ? whole(o->max_connections, 1000000) : 0;
    memset(out, 0, sizeof(*out));
    if (conns < 0 || (o->max_connections && conns < 16) ||
        (o->request_timeout && (quantity_parse_duration(o->request_timeout, &out->request_ms) ||
                                out->request_ms < 100))) {
        fprintf(stderr, "allotd: --max-connections: 16 to 1000000; --request-timeout: a duration "
                        "of 100ms or more\n");
        return 2;
    }
    out->max_connections = (uint32_t)conns;
    return 0;
}

/* The intake's rate caps from --rate-per-token, --rate-per-tenant and --rate-burst (unset:
 * none; docs/operations.md, "Fair service"). RET 0, or 2 with a message on stderr. */
static int intake_flags(const struct daemon_options *o, struct intake_options *out)
{
    /* "0": no cap */
    long token = o->rate_token && strcmp(o->rate_token, "0") != 0
                     ? whole(o->rate_token, INTAKE_MAX_RATE)
                     : 0;
    long tenant = o->rate_tenant && strcmp(o->rate_tenant, "0") != 0
                      ? whole(o->rate_tenant, INTAKE_MAX_RATE)
                      : 0;
    long burst = o->rate_burst ? whole(o->rate_burst, INTAKE_MAX_RATE) : 0;
    memset(out, 0, sizeof(*out));
    if (token < 0 || tenant < 0 || burst < 0) {
        fprintf(stderr,
                "allotd: --rate-per-token/--rate-per-tenant: 0 (no cap) to %d requests per "
                "second; --rate-burst: 1 to %d\n",
                INTAKE_MAX_RATE, INTAKE_MAX_RATE);
        return 2;
    }
    out->token_rate = (uint32_t)token;
    out->tenant_rate = (uint32_t)tenant;
    out->burst = (uint32_t)burst;
    return 0;
}

/* The retention of events and output from --events-keep, --output-keep and
 * --output-max-per-workspace (unset: the defaults, docs/operations.md "Retention"). Short
 * limits are allowed (1s, 1Ki): tests use them; they delete what the operator asked to lose.
 * RET 0, or 2 with a message on stderr. */
static int retention_flags(const struct daemon_options *o, struct controller_options *out)
{
    if ((o->events_keep && (quantity_parse_duration(o->events_keep, &out->events_keep_ms) ||
                            out->events_keep_ms < 1000)) ||
        (o->output_keep && (quantity_parse_duration(o->output_keep, &out->output_keep_ms) ||
                            out->output_keep_ms < 1000))) {
        fprintf(stderr, "allotd: --events-keep/--output-keep: a duration of 1s or more\n");
        return 2;
    }
    if (o->usage_keep && (quantity_parse_duration(o->usage_keep, &out->usage_keep_ms) ||
                          out->usage_keep_ms < 3600 * 1000)) {
        fprintf(stderr, "allotd: --usage-keep: a duration of 1h or more, such as 400d\n");
        return 2;
    }
    if (o->output_max && (quantity_parse_bytes(o->output_max, &out->output_max_bytes) ||
                          out->output_max_bytes < 1024)) {
        fprintf(stderr, "allotd: --output-max-per-workspace: a size of 1Ki or more, such as "
                        "1Gi\n");
        return 2;
    }
    return 0;
}

/* The store's location from --store and --data: "sqlite:DIR" sets the data directory too
 * (a different --data is refused), a postgresql:// URI keeps it for admin.token. RET 0, or 2
 * with a message on stderr. */
static int store_flags(struct daemon_options *o)
{
    static const char sqlite_prefix[] = "sqlite:";
    if (!o->store) {
        o->data = o->data ? o->data : STORE_DEFAULT_DIR;
        return 0;
    }
    if (strncmp(o->store, sqlite_prefix, strlen(sqlite_prefix)) == 0) {
        const char *dir = o->store + strlen(sqlite_prefix);
        if (!*dir || (o->data && strcmp(o->data, dir) != 0)) {
            fprintf(stderr, "allotd: --store sqlite:DIR needs a DIR, and --data, if given, the"
                            " same one\n");
            return 2;
        }
        o->data = dir;
        return 0;
    }
    if (!store_location_is_postgres(o->store)) {
        fprintf(stderr, "allotd: --store: expected sqlite:DIR or a postgresql:// URI\n");
        return 2;
    }
    o->data = o->data ? o->data : STORE_DEFAULT_DIR;
    return 0;
}

/* The server's authenticator: the controller's token cache. */
static int authenticate(void *ctl, const char *token, struct principal *who)
{
    return controller_authenticate(ctl, token, who);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    log_info("signal %d: stopping", (int)sig);
    event_base_loopexit(arg, NULL);
}

int main(int argc, char **argv)
{
    struct daemon_options o = {.listen = "127.0.0.1:7070"};
    int rc = parse(argc, argv, &o);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (store_flags(&o))
        return 2;
    char addr[256];
    const char *colon = strrchr(o.listen, ':');
    long port = colon ? strtol(colon + 1, NULL, 10) : 0;
    if (!colon || colon == o.listen || (size_t)(colon - o.listen) >= sizeof(addr) || port < 1 ||
        port > 65535) {
        fprintf(stderr, "allotd: --listen: expected ADDR:PORT such as 127.0.0.1:7070\n");
        return 2;
    }
    snprintf(addr, sizeof(addr), "%.*s", (int)(colon - o.listen), o.listen);
    if (!o.tls_cert != !o.tls_key) {
        fprintf(stderr, "allotd: --tls-cert and --tls-key go together\n");
        return 2;
    }
    struct stream_options sopt;
    struct gate_options gopt;
    struct intake_options iopt;
    if (stream_flags(&o, &sopt) || gate_flags(&o, &gopt) || intake_flags(&o, &iopt))
        return 2;
    char fds[512];
    fdlimit_fit(&gopt.max_connections, GATE_FD_RESERVE, fds, sizeof(fds));
    log_info("%s", fds);
    signal(SIGPIPE, SIG_IGN);
    struct controller *ctl = NULL;
    struct server *sv = NULL;
    char err[512];
    struct controller_options copt = {.data_dir = o.data,
                                      .store = o.store,
                                      .platform_path = o.platform,
                                      .virtual_nodes = !o.real_nodes,
                                      .streams = sopt,
                                      .ui_dir = o.ui_dir ? o.ui_dir : ALLOT_UI_DIR};
    if ((o.keep_finished && (quantity_parse_duration(o.keep_finished, &copt.keep_finished_ms) ||
                             copt.keep_finished_ms < 1000)) ||
        (o.history &&
         (quantity_parse_duration(o.history, &copt.history_ms) || copt.history_ms < 60000))) {
        fprintf(stderr, "allotd: --keep-finished: a duration of 1s or more; --history: of 1m or "
                        "more\n");
        return 2;
    }
    if (retention_flags(&o, &copt))
        return 2;
    if ((o.unreachable && (quantity_parse_duration(o.unreachable, &copt.unreachable_ms) ||
                           copt.unreachable_ms < 100)) ||
        (o.lost && (quantity_parse_duration(o.lost, &copt.lost_ms) || copt.lost_ms < 100))) {
        fprintf(stderr, "allotd: --unreachable-after/--lost-after: a duration of 100ms or more\n");
        return 2;
    }
    char *end = NULL;
    long every = o.check_every ? strtol(o.check_every, &end, 10) : 100;
    if (o.check_every && (end == o.check_every || *end || every < 0 || every > 1000000000)) {
        fprintf(stderr, "allotd: --check-every: a whole number of passes from 0 (never) up\n");
        return 2;
    }
    copt.check_every = (uint32_t)every;
    long snap = o.snapshot_every ? strtol(o.snapshot_every, &end, 10) : SNAPSHOT_EVERY_DEFAULT;
    if (o.snapshot_every && (end == o.snapshot_every || *end || snap < 0 || snap > 1000000000)) {
        fprintf(stderr, "allotd: --snapshot-every: a whole number of ops from 0 (never) up\n");
        return 2;
    }
    copt.snapshot_every = (uint32_t)snap;
    char url[STORE_URL_MAX + 1];
    if (o.advertise && (strlen(o.advertise) > STORE_URL_MAX || !serverlist_url_ok(o.advertise))) {
        fprintf(stderr,
                "allotd: --advertise: an http:// or https:// URL with a host, of at most %d "
                "bytes\n",
                STORE_URL_MAX);
        return 2;
    }
    snprintf(url, sizeof(url), "%s://%s:%ld", o.tls_cert ? "https" : "http", addr, port);
    if (o.advertise)
        snprintf(url, sizeof(url), "%s", o.advertise);
    for (size_t n = strlen(url); n > 0 && url[n - 1] == '/'; n--)
        url[n - 1] = '\0';
    /* the loop once every option is known good: a refused option leaves nothing behind */
    struct event_base *base = event_base_new();
    if (!base) {
        fprintf(stderr, "allotd: cannot create the event loop\n");
        return 1;
    }
    struct event *sigint = evsignal_new(base, SIGINT, on_signal, base);
    struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    /* PostgreSQL: lead, or wait as a standby until this allotd leads (standby.h) */
    if (o.store && store_location_is_postgres(o.store)) {
        struct standby_options so = {.location = o.store,
                                     .url = url,
                                     .addr = addr,
                                     .port = (uint16_t)port,
                                     .tls_cert = o.tls_cert,
                                     .tls_key = o.tls_key,
                                     .limits = &gopt};
        rc = standby_wait(base, &so, &copt.store_open, err, sizeof(err));
        if (rc) {
            if (rc < 0)
                fprintf(stderr, "allotd: %s\n", err);
            event_free(sigint);
            event_free(sigterm);
            event_base_free(base);
            return rc < 0 ? 1 : 0;
        }
    }
    if (controller_open(base, &copt, &ctl, err, sizeof(err))) {
        fprintf(stderr, "allotd: %s\n", err);
        event_free(sigint);
        event_free(sigterm);
        event_base_free(base);
        return 1;
    }
    struct server_auth auth = {authenticate, ctl};
    if (server_start(base, ctl, api_routes, &auth, addr, (uint16_t)port, &gopt, &sv, err,
                     sizeof(err)) ||
        (o.tls_cert && server_tls(sv, o.tls_cert, o.tls_key, err, sizeof(err))) ||
        (server_set_intake(sv, &iopt) &&
         snprintf(err, sizeof(err), "cannot set the rate caps (out of memory)") > 0)) {
        server_stop(sv);
        fprintf(stderr, "allotd: %s\n", err);
        controller_close(ctl);
        event_free(sigint);
        event_free(sigterm);
        event_base_free(base);
        return 1;
    }
    ctl->gate = server_gate(sv);
    ctl->server = sv;
    server_set_guard(sv, controller_serving);
    if (o.real_nodes)
        fleet_connections_check(ctl);
    char where[512];
    store_location_redact(o.store ? o.store : o.data, where, sizeof(where));
    log_info("listening on %s://%s:%ld; state in %s; %s", o.tls_cert ? "https" : "http", addr, port,
             where,
             o.real_nodes ? "nodes are driven by node agents"
                          : "nodes are SIMULATED: admitted workloads run no processes, they "
                            "finish after their `duration` (--no-virtual-nodes for node agents)");
    event_base_dispatch(base);
    /* fail-stop: an engine invariant broke (1), or another allotd leads the store (3) */
    int status = ctl->deposed ? 3 : ctl->stopped ? 1 : 0;
    event_free(sigint);
    event_free(sigterm);
    server_stop(sv);
    controller_close(ctl);
    event_base_free(base);
    return status;
}
