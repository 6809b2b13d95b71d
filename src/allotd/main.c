/* allotd: the Allot controller daemon. Parses its options (one table, which also makes the
 * help), opens the controller and serves the REST API until SIGINT or SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "allotd/api.h"
#include "allotd/controller.h"
#include "allotd/log.h"
#include "allotd/server.h"
#include "common/quantity.h"

struct daemon_options {
    const char *listen;
    const char *data;
    const char *platform;
    const char *tls_cert, *tls_key;
    const char *unreachable, *lost;
    const char *max_connections, *request_timeout;
    bool real_nodes;
};

struct option_row {
    const char *name;
    const char *arg; /* NULL: a flag */
    const char *help;
};

static const struct option_row option_rows[] = {
    {"--listen", "ADDR:PORT", "where to serve the API (default 127.0.0.1:7070)"},
    {"--data", "DIR", "state directory (default ./allot-data)"},
    {"--platform", "FILE.yaml", "platform to import on the first start (docs/simulator.md)"},
    {"--tls-cert", "FILE.pem", "serve HTTPS with this certificate chain"},
    {"--tls-key", "FILE.pem", "and this private key"},
    {"--no-virtual-nodes", NULL, "do not simulate workloads on nodes (for node agents)"},
    {"--unreachable-after", "DURATION", "with agents: a silent node drains (default 15s)"},
    {"--lost-after", "DURATION", "and is down, its work requeued (default 60s)"},
    {"--max-connections", "N", "open connections at most (default: open file limit - 64)"},
    {"--request-timeout", "DURATION", "a request must arrive whole within this (default 10s)"},
    {"--help", NULL, "show this help"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: allotd [OPTIONS]\n\nThe Allot controller: REST API, durable state, "
               "scheduling.\n\n");
    for (size_t i = 0; i < sizeof(option_rows) / sizeof(option_rows[0]); i++)
        fprintf(f, "  %-18s %-10s %s\n", option_rows[i].name,
                option_rows[i].arg ? option_rows[i].arg : "", option_rows[i].help);
}

static int parse(int argc, char **argv, struct daemon_options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = strcmp(a, "--listen") == 0              ? &o->listen
                            : strcmp(a, "--data") == 0              ? &o->data
                            : strcmp(a, "--platform") == 0          ? &o->platform
                            : strcmp(a, "--tls-cert") == 0          ? &o->tls_cert
                            : strcmp(a, "--tls-key") == 0           ? &o->tls_key
                            : strcmp(a, "--unreachable-after") == 0 ? &o->unreachable
                            : strcmp(a, "--lost-after") == 0        ? &o->lost
                            : strcmp(a, "--max-connections") == 0   ? &o->max_connections
                            : strcmp(a, "--request-timeout") == 0   ? &o->request_timeout
                                                                    : NULL;
        if (slot) {
            if (i + 1 >= argc) {
                fprintf(stderr, "allotd: %s needs a value\n", a);
                return 2;
            }
            *slot = argv[++i];
        } else if (strcmp(a, "--no-virtual-nodes") == 0) {
            o->real_nodes = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 1;
        } else {
            fprintf(stderr, "allotd: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    log_info("signal %d: stopping", (int)sig);
    event_base_loopexit(arg, NULL);
}

int main(int argc, char **argv)
{
    struct daemon_options o = {.listen = "127.0.0.1:7070", .data = "./allot-data"};
    int rc = parse(argc, argv, &o);
    if (rc)
        return rc == 1 ? 0 : 2;
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
    signal(SIGPIPE, SIG_IGN);
    struct event_base *base = event_base_new();
    struct controller *ctl = NULL;
    struct server *sv = NULL;
    char err[512];
    struct controller_options copt = {
        .data_dir = o.data, .platform_path = o.platform, .virtual_nodes = !o.real_nodes};
    if ((o.unreachable && (quantity_parse_duration(o.unreachable, &copt.unreachable_ms) ||
                           copt.unreachable_ms < 100)) ||
        (o.lost && (quantity_parse_duration(o.lost, &copt.lost_ms) || copt.lost_ms < 100))) {
        fprintf(stderr, "allotd: --unreachable-after/--lost-after: a duration of 100ms or more\n");
        return 2;
    }
    struct gate_options gopt = {0};
    char *end = NULL;
    long long max_conns = o.max_connections ? strtoll(o.max_connections, &end, 10) : 0;
    if ((o.max_connections && (*end || max_conns < 16 || max_conns > 1000000)) ||
        (o.request_timeout &&
         (quantity_parse_duration(o.request_timeout, &gopt.request_ms) || gopt.request_ms < 100))) {
        fprintf(stderr, "allotd: --max-connections: 16 to 1000000; --request-timeout: a duration "
                        "of 100ms or more\n");
        return 2;
    }
    gopt.max_connections = (uint32_t)max_conns;
    if (!base || controller_open(base, &copt, &ctl, err, sizeof(err))) {
        fprintf(stderr, "allotd: %s\n", base ? err : "cannot create the event loop");
        return 1;
    }
    if (server_start(base, ctl, api_routes, addr, (uint16_t)port, &gopt, &sv, err, sizeof(err)) ||
        (o.tls_cert && server_tls(sv, o.tls_cert, o.tls_key, err, sizeof(err)))) {
        server_stop(sv);
        fprintf(stderr, "allotd: %s\n", err);
        controller_close(ctl);
        return 1;
    }
    ctl->gate = server_gate(sv);
    struct event *sigint = evsignal_new(base, SIGINT, on_signal, base);
    struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    log_info("listening on %s://%s:%ld; state in %s; %s", o.tls_cert ? "https" : "http", addr, port,
             o.data,
             o.real_nodes ? "nodes are driven by node agents"
                          : "nodes are SIMULATED: admitted workloads run no processes, they "
                            "finish after their `duration` (no node agent yet)");
    event_base_dispatch(base);
    event_free(sigint);
    event_free(sigterm);
    server_stop(sv);
    controller_close(ctl);
    event_base_free(base);
    return 0;
}
