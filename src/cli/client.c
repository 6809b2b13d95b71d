/* The `allot` client's HTTP side (libcurl easy interface): resolves the servers, token and
 * timeout (flag, then environment, then config file, then default), finds the leader among
 * the servers, sends one request at a time, keeps answers bounded and prints the daemon's
 * errors as one line. Event streams are in stream.c. */
#include "cli/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/client_internal.h"
#include "common/clock.h"
#include "common/quantity.h"

/* What the config file gave (empty strings: not given). */
struct client_config {
    char path[1024];
    char server[SERVERLIST_MAX * (CLIENT_MAX_URL + 1)]; /* a comma list */
    char token[CLIENT_MAX_TOKEN + 1];
    char timeout[64];
    char cacert[1024];
    char workspace[2 * FLAGS_MAX_NAME + 2]; /* TENANT/WS, submit's default */
    int server_line, token_line, timeout_line, cacert_line, workspace_line;
};

void client_print_clean(FILE *f, const char *s)
{
    for (; *s; s++)
        fputc(((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s, f);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* The config file's path: $ALLOT_CONFIG, else $XDG_CONFIG_HOME/allot/config, else
 * $HOME/.config/allot/config. RET false when none can be named. */
static bool config_path(char *buf, size_t len)
{
    const char *p = getenv("ALLOT_CONFIG"), *xdg = getenv("XDG_CONFIG_HOME"),
               *home = getenv("HOME");
    int n;
    if (p && *p)
        n = snprintf(buf, len, "%s", p);
    else if (xdg && *xdg)
        n = snprintf(buf, len, "%s/allot/config", xdg);
    else if (home && *home)
        n = snprintf(buf, len, "%s/.config/allot/config", home);
    else
        return false;
    return n > 0 && (size_t)n < len;
}

/* Read the config file into *cfg: "key = value" lines (server, token, timeout, cacert,
 * workspace), '#'
 * comments and blank lines. A missing file is not an error. RET 0, or FLAGS_EXIT_USAGE after
 * printing "prog: path:line: problem". */
static int config_load(struct client_config *cfg, const char *prog)
{
    int rc = 0, line = 0;
    char *text = NULL;
    struct {
        const char *key;
        char *slot;
        size_t cap;
        int *line;
    } keys[] = {
        {"server", cfg->server, sizeof(cfg->server), &cfg->server_line},
        {"token", cfg->token, sizeof(cfg->token), &cfg->token_line},
        {"timeout", cfg->timeout, sizeof(cfg->timeout), &cfg->timeout_line},
        {"cacert", cfg->cacert, sizeof(cfg->cacert), &cfg->cacert_line},
        {"workspace", cfg->workspace, sizeof(cfg->workspace), &cfg->workspace_line},
    };
    if (!config_path(cfg->path, sizeof(cfg->path)))
        return 0;
    FILE *f = fopen(cfg->path, "r");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        fprintf(stderr, "%s: %s: %s\n", prog, cfg->path, strerror(errno));
        return FLAGS_EXIT_USAGE;
    }
    struct stat st;
    text = malloc(CLIENT_MAX_CONFIG + 1);
    size_t n = text ? fread(text, 1, CLIENT_MAX_CONFIG + 1, f) : 0;
    if (!text || ferror(f) || n > CLIENT_MAX_CONFIG) {
        fprintf(stderr, "%s: %s: %s\n", prog, cfg->path,
                !text                   ? "out of memory"
                : n > CLIENT_MAX_CONFIG ? "larger than 64 KiB"
                                        : strerror(errno));
        rc = FLAGS_EXIT_USAGE;
        goto out;
    }
    text[n] = '\0';
    if (memchr(text, '\0', n)) {
        fprintf(stderr, "%s: %s: not a text file\n", prog, cfg->path);
        rc = FLAGS_EXIT_USAGE;
        goto out;
    }
    for (char *p = text, *next; p && *p; p = next) {
        next = strchr(p, '\n');
        if (next)
            *next++ = '\0';
        line++;
        char *s = trim(p);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            fprintf(stderr, "%s: %s:%d: expected 'key = value'\n", prog, cfg->path, line);
            rc = FLAGS_EXIT_USAGE;
            goto out;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        size_t vn = strlen(value);
        if (vn >= 2 && (value[0] == '"' || value[0] == '\'') && value[vn - 1] == value[0]) {
            value[vn - 1] = '\0';
            value++;
        }
        size_t k = 0;
        while (k < sizeof(keys) / sizeof(keys[0]) && strcmp(keys[k].key, key) != 0)
            k++;
        char *slot = k < sizeof(keys) / sizeof(keys[0]) ? keys[k].slot : NULL;
        if (!slot) {
            fprintf(stderr, "%s: %s:%d: unknown key '", prog, cfg->path, line);
            client_print_clean(stderr, key);
            fprintf(stderr, "' (expected server, token, timeout, cacert or workspace)\n");
            rc = FLAGS_EXIT_USAGE;
            goto out;
        }
        if (strlen(value) >= keys[k].cap) {
            fprintf(stderr, "%s: %s:%d: %s: longer than %zu bytes\n", prog, cfg->path, line, key,
                    keys[k].cap - 1);
            rc = FLAGS_EXIT_USAGE;
            goto out;
        }
        snprintf(slot, keys[k].cap, "%s", value);
        *keys[k].line = line;
    }
    static bool warned; /* submit reads the file twice (its workspace, then the rest) */
    if (cfg->token[0] && !warned && fstat(fileno(f), &st) == 0 && (st.st_mode & 077)) {
        warned = true;
        fprintf(stderr, "allot: warning: %s holds a token and others may read it (chmod 600)\n",
                cfg->path);
    }
out:
    free(text);
    fclose(f);
    return rc;
}

/* Pick the first of flag, environment variable env and config value that is set. OUT *from
 * names where it came from, for messages. RET the value or NULL. */
static const char *pick(const char *flag, const char *flag_name, const char *env,
                        const char *config, int config_line, const struct client_config *cfg,
                        char *from, size_t len)
{
    const char *e = getenv(env);
    if (flag) {
        snprintf(from, len, "--%s", flag_name);
        return flag;
    }
    if (e && *e) {
        snprintf(from, len, "%s", env);
        return e;
    }
    if (config && config[0]) {
        snprintf(from, len, "%s:%d: %s", cfg->path, config_line, flag_name);
        return config;
    }
    return NULL;
}

/* Fill cl->servers from each --server of v, else the first of ALLOT_SERVER and the config
 * file's server line, else the default; each a comma list. RET 0, or FLAGS_EXIT_USAGE after
 * printing which URL of which is bad. */
static int servers_resolve(struct client *cl, const struct flag_values *v,
                           const struct client_config *cfg)
{
    char from[1200], err[160];
    const char *list = NULL;
    for (int i = 0; i < v->n_servers; i++)
        if (serverlist_add(&cl->servers, v->servers[i], err, sizeof(err))) {
            fprintf(stderr, "%s: --server: %s\n", cl->prog, err);
            return FLAGS_EXIT_USAGE;
        }
    if (!v->n_servers)
        list = pick(NULL, "server", "ALLOT_SERVER", cfg->server, cfg->server_line, cfg, from,
                    sizeof(from));
    if (!v->n_servers && !list)
        list = CLIENT_DEFAULT_SERVER; /* always a good URL */
    if (list && serverlist_add(&cl->servers, list, err, sizeof(err))) {
        fprintf(stderr, "%s: %s: %s\n", cl->prog, from, err);
        return FLAGS_EXIT_USAGE;
    }
    cl->current = 0;
    cl->server = cl->servers.url[0];
    return 0;
}

static bool token_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CLIENT_MAX_TOKEN)
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return false;
    return true;
}

int client_default_workspace(const char *prog, char *buf, size_t len)
{
    struct client_config cfg = {0};
    char from[1200], part[2][FLAGS_MAX_NAME + 1];
    buf[0] = '\0';
    const char *env = getenv("ALLOT_WORKSPACE");
    if (!(env && *env)) {
        int rc = config_load(&cfg, prog);
        if (rc)
            return rc;
    }
    const char *ws = pick(NULL, "workspace", "ALLOT_WORKSPACE", cfg.workspace, cfg.workspace_line,
                          &cfg, from, sizeof(from));
    if (!ws)
        return 0;
    if (!flags_split_name(ws, 2, part)) {
        fprintf(stderr, "%s: %s: expected TENANT/WORKSPACE, two names of a-z 0-9 . _ - (got '",
                prog, from);
        client_print_clean(stderr, strlen(ws) > 64 ? "(a long text)" : ws);
        fprintf(stderr, "')\n");
        return FLAGS_EXIT_USAGE;
    }
    snprintf(buf, len, "%s", ws);
    return 0;
}

int client_open(struct client *cl, const struct flag_values *v)
{
    struct client_config cfg = {0};
    char from[1200];
    const char *prog = v->prog;
    memset(cl, 0, sizeof(*cl));
    cl->prog = prog;
    cl->json = v->json;
    cl->timeout_ms = CLIENT_DEFAULT_TIMEOUT_MS;
    /* the config file is read only when a flag or variable leaves something open */
    const char *env_server = getenv("ALLOT_SERVER"), *env_token = getenv("ALLOT_TOKEN");
    const char *env_timeout = getenv("ALLOT_TIMEOUT"), *env_cacert = getenv("ALLOT_CACERT");
    bool need_config = !(v->n_servers || (env_server && *env_server)) ||
                       !(v->token || (env_token && *env_token)) ||
                       !(v->timeout || (env_timeout && *env_timeout)) ||
                       !(v->cacert || (env_cacert && *env_cacert));
    if (need_config) {
        int rc = config_load(&cfg, prog);
        if (rc)
            return rc;
    }

    int rc = servers_resolve(cl, v, &cfg);
    if (rc)
        return rc;

    const char *token =
        pick(v->token, "token", "ALLOT_TOKEN", cfg.token, cfg.token_line, &cfg, from, sizeof(from));
    if (token && !token_ok(token)) {
        fprintf(stderr, "%s: %s: a token is 1 to %d printable characters without spaces\n", prog,
                from, CLIENT_MAX_TOKEN);
        return FLAGS_EXIT_USAGE;
    }
    snprintf(cl->token, sizeof(cl->token), "%s", token ? token : "");

    const char *timeout = pick(v->timeout, "timeout", "ALLOT_TIMEOUT", cfg.timeout,
                               cfg.timeout_line, &cfg, from, sizeof(from));
    if (timeout) {
        int64_t ms = 0;
        if (quantity_parse_duration(timeout, &ms) || ms < 1 || ms > CLIENT_MAX_TIMEOUT_MS) {
            fprintf(stderr, "%s: %s: expected a duration from 1ms to 1h (30s, 2m), got '", prog,
                    from);
            client_print_clean(stderr, strlen(timeout) > 64 ? "(a long text)" : timeout);
            fprintf(stderr, "'\n");
            return FLAGS_EXIT_USAGE;
        }
        cl->timeout_ms = ms;
    }
    cl->left_ms = cl->timeout_ms;

    const char *cacert = pick(v->cacert, "cacert", "ALLOT_CACERT", cfg.cacert, cfg.cacert_line,
                              &cfg, from, sizeof(from));
    if (cacert) {
        errno = 0;
        FILE *f = strlen(cacert) < sizeof(cl->cacert) ? fopen(cacert, "r") : NULL;
        if (!f) {
            fprintf(stderr, "%s: %s: cannot read the CA certificate '", prog, from);
            client_print_clean(stderr, strlen(cacert) > 64 ? "(a long text)" : cacert);
            fprintf(stderr, "': %s\n", errno ? strerror(errno) : "path too long");
            return FLAGS_EXIT_USAGE;
        }
        fclose(f);
        snprintf(cl->cacert, sizeof(cl->cacert), "%s", cacert);
    }

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "%s: cannot start libcurl\n", prog);
        return FLAGS_EXIT_FAILED;
    }
    if (!(cl->curl = curl_easy_init())) {
        curl_global_cleanup();
        fprintf(stderr, "%s: cannot start libcurl\n", prog);
        return FLAGS_EXIT_FAILED;
    }
    return 0;
}

void client_close(struct client *cl)
{
    if (!cl || !cl->curl)
        return;
    curl_easy_cleanup(cl->curl);
    cl->curl = NULL;
    curl_global_cleanup();
}

void client_answer_cleanup(struct client_answer *a)
{
    if (!a)
        return;
    free(a->text);
    json_decref(a->json);
    memset(a, 0, sizeof(*a));
}

size_t client_body_write(char *data, size_t size, size_t nmemb, void *user)
{
    struct client_body *b = user;
    size_t n = size * nmemb;
    if (n > CLIENT_MAX_ANSWER - b->len) {
        b->too_big = true;
        return 0; /* libcurl stops with CURLE_WRITE_ERROR */
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) {
            b->no_memory = true;
            return 0;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

struct curl_slist *client_add_header(struct curl_slist *list, const char *h, bool *ok)
{
    struct curl_slist *grown = *ok ? curl_slist_append(list, h) : NULL;
    if (!grown) {
        *ok = false;
        return list;
    }
    return grown;
}

int client_print_unreachable(const struct client *cl, const char *errbuf, CURLcode res)
{
    if (cl->quiet)
        return FLAGS_EXIT_UNREACHABLE;
    fprintf(stderr, "allot: cannot reach the server at ");
    client_print_clean(stderr, cl->server);
    fprintf(stderr, ": ");
    client_print_clean(stderr, errbuf[0] ? errbuf : curl_easy_strerror(res));
    fprintf(stderr, " (is allotd running there? --server and ALLOT_SERVER choose the "
                    "server)\n");
    return FLAGS_EXIT_UNREACHABLE;
}

void client_keep_header(char *buf, size_t cap, const char *line, size_t len)
{
    size_t used = strlen(buf);
    if (len > 7 && strncasecmp(line, "X-Allot-", 8) == 0 && used + len < cap) {
        memcpy(buf + used, line + 8, len - 8);
        buf[used + len - 8] = '\0';
    } else if (len > 12 && strncasecmp(line, "Retry-After:", 12) == 0 && used + len < cap) {
        memcpy(buf + used, line, len); /* a 429's or 503's: the refusal says when to retry */
        buf[used + len] = '\0';
    }
}

/* libcurl's header callback: keep the X-Allot-* lines that fit. */
static size_t on_header(char *line, size_t size, size_t n, void *arg)
{
    struct client_answer *a = arg;
    client_keep_header(a->allot_headers, sizeof(a->allot_headers), line, size * n);
    return size * n;
}

bool client_not_sent(CURL *curl, CURLcode res)
{
    curl_off_t connected = 0;
    if (res == CURLE_COULDNT_CONNECT || res == CURLE_COULDNT_RESOLVE_HOST)
        return true;
    /* a timeout before the connection was made (its time is 0 until then) */
    return res == CURLE_OPERATION_TIMEDOUT &&
           curl_easy_getinfo(curl, CURLINFO_CONNECT_TIME_T, &connected) == CURLE_OK &&
           connected == 0;
}

void client_round_start(struct client *cl, struct client_round *r)
{
    r->deadline_ms = clock_mono_ms() + cl->timeout_ms;
    r->pause_ms = CLIENT_PAUSE_MS;
    r->tried = 0;
    for (int i = 0; i < SERVERLIST_MAX; i++)
        r->said[i][0] = '\0';
    cl->left_ms = cl->timeout_ms;
    /* cl->current stays: the last server that answered as the leader is asked first */
}

/* Print what each server of cl answered in round r. RET FLAGS_EXIT_UNREACHABLE. */
static int round_print(const struct client *cl, const struct client_round *r)
{
    const char *sep = "allot: cannot reach the server at ";
    for (int i = 0; i < cl->servers.n; i++) {
        if (!r->said[i][0])
            continue;
        fprintf(stderr, "%s", sep);
        client_print_clean(stderr, cl->servers.url[i]);
        fprintf(stderr, ": ");
        client_print_clean(stderr, r->said[i]);
        sep = "; at ";
    }
    fprintf(stderr,
            " (no leader answered within %lld ms; --server and ALLOT_SERVER choose the "
            "servers)\n",
            (long long)cl->timeout_ms);
    return FLAGS_EXIT_UNREACHABLE;
}

int client_round_next(struct client *cl, struct client_round *r, bool standby, const char *leader,
                      const char *errbuf, CURLcode res)
{
    char *said = r->said[cl->current];
    size_t len = sizeof(r->said[0]);
    if (standby && leader && serverlist_find(&cl->servers, leader) < 0)
        snprintf(said, len, "a standby; the leader is %.200s, which is not among --server/%s",
                 leader, "ALLOT_SERVER");
    else if (standby && leader)
        snprintf(said, len, "a standby; the leader is %.200s", leader);
    else if (standby)
        snprintf(said, len, "a standby that knows no leader now (a takeover may be under way)");
    else
        snprintf(said, len, "%s", errbuf[0] ? errbuf : curl_easy_strerror(res));
    if (cl->servers.n == 1 && !standby)
        return client_print_unreachable(cl, errbuf, res); /* as with one server ever */
    if (cl->servers.n == 1) {
        fprintf(stderr, "allot: ");
        client_print_clean(stderr, cl->server);
        fprintf(stderr, " is ");
        client_print_clean(stderr, said);
        fprintf(stderr, "\n");
        return FLAGS_EXIT_UNREACHABLE;
    }
    r->tried |= 1u << cl->current;
    int next = serverlist_next(&cl->servers, cl->current, r->tried, leader);
    int64_t now = clock_mono_ms();
    if (next < 0) { /* none was the leader: wait a little, then ask all of them again */
        if (now + r->pause_ms >= r->deadline_ms)
            return round_print(cl, r);
        struct timespec pause = {(time_t)(r->pause_ms / 1000),
                                 (long)(r->pause_ms % 1000) * 1000000};
        nanosleep(&pause, NULL);
        r->pause_ms = r->pause_ms * 2 > CLIENT_MAX_PAUSE_MS ? CLIENT_MAX_PAUSE_MS : r->pause_ms * 2;
        r->tried = 0;
        next = 0;
        now = clock_mono_ms();
    }
    if (now >= r->deadline_ms)
        return round_print(cl, r);
    cl->current = next;
    cl->server = cl->servers.url[next];
    cl->left_ms = r->deadline_ms - now;
    return 0;
}

const char *client_answer_header(const struct client_answer *a, const char *name, char *buf,
                                 size_t len)
{
    size_t n = strlen(name);
    for (const char *p = a->allot_headers; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : "") {
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            size_t k = strcspn(v, "\r\n");
            snprintf(buf, len, "%.*s", (int)k, v);
            return buf;
        }
    }
    return NULL;
}

struct curl_slist *client_base_headers(const struct client *cl, const char *accept, bool *ok)
{
    char auth[CLIENT_MAX_TOKEN + 32];
    struct curl_slist *list = client_add_header(NULL, accept, ok);
    if (cl->token[0]) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", cl->token);
        list = client_add_header(list, auth, ok);
    }
    return list;
}

bool client_url(const struct client *cl, const char *path, char *url, size_t len)
{
    if ((size_t)snprintf(url, len, "%s%s", cl->server, path) < len)
        return true;
    fprintf(stderr, "allot: the request's URL is too long\n");
    return false;
}

void client_setopt_common(const struct client *cl, CURL *curl, const char *url,
                          struct curl_slist *headers, char *errbuf)
{
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(
        curl, CURLOPT_CONNECTTIMEOUT_MS,
        (long)(cl->left_ms < CLIENT_CONNECT_TIMEOUT_MS ? cl->left_ms : CLIENT_CONNECT_TIMEOUT_MS));
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "allot/0.1");
    if (cl->cacert[0])
        curl_easy_setopt(curl, CURLOPT_CAINFO, cl->cacert);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
}

/* One attempt of client_call at cl->server, with payload (NULL: none) as the body. OUT *a,
 * errbuf (CURL_ERROR_SIZE bytes), *res. RET 0 when an answer arrived; FLAGS_EXIT_UNREACHABLE,
 * printing nothing, when none did (*res and errbuf say why); FLAGS_EXIT_FAILED after printing
 * why when the answer was too big or memory ran out. */
static int call_once(struct client *cl, const char *method, const char *path, const char *payload,
                     struct client_answer *a, char *errbuf, CURLcode *res)
{
    CURL *curl = cl->curl;
    struct curl_slist *headers = NULL;
    struct client_body got = {0};
    char url[CLIENT_MAX_URL + 1024];
    int rc = 0;
    memset(a, 0, sizeof(*a));
    if (!client_url(cl, path, url, sizeof(url)))
        return FLAGS_EXIT_FAILED;
    bool ok = true;
    headers = client_base_headers(cl, "Accept: application/json", &ok);
    headers = client_add_header(headers, "Expect:", &ok); /* no 100-continue round trip */
    if (payload)
        headers = client_add_header(headers, "Content-Type: application/json", &ok);
    if (!ok) {
        fprintf(stderr, "allot: out of memory\n");
        rc = FLAGS_EXIT_FAILED;
        goto out;
    }

    curl_easy_reset(curl);
    client_setopt_common(cl, curl, url, headers, errbuf);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)cl->left_ms);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, client_body_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &got);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)CLIENT_MAX_ANSWER);
    if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
        if (payload || strcmp(method, "POST") == 0) {
            curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload ? payload : "");
            curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                             (curl_off_t)(payload ? strlen(payload) : 0));
        }
    }

    *res = curl_easy_perform(curl);
    if (got.too_big || *res == CURLE_FILESIZE_EXCEEDED) {
        fprintf(stderr, "allot: the server's answer is larger than %u MiB\n",
                CLIENT_MAX_ANSWER >> 20);
        rc = FLAGS_EXIT_FAILED;
        goto out;
    }
    if (got.no_memory || *res == CURLE_OUT_OF_MEMORY) {
        fprintf(stderr, "allot: out of memory\n");
        rc = FLAGS_EXIT_FAILED;
        goto out;
    }
    if (*res != CURLE_OK) {
        rc = FLAGS_EXIT_UNREACHABLE;
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a->status);
    a->text = got.data ? got.data : strdup("");
    got.data = NULL;
    if (!a->text) {
        fprintf(stderr, "allot: out of memory\n");
        rc = FLAGS_EXIT_FAILED;
        goto out;
    }
    a->len = got.len;
    a->json = json_loadb(a->text, a->len, 0, NULL);
out:
    free(got.data);
    curl_slist_free_all(headers);
    return rc;
}

int client_call(struct client *cl, const char *method, const char *path, const json_t *body,
                struct client_answer *a)
{
    struct client_round r;
    char *payload = NULL;
    int rc;
    memset(a, 0, sizeof(*a));
    if (body && !(payload = json_dumps(body, JSON_COMPACT))) {
        fprintf(stderr, "allot: out of memory\n");
        return FLAGS_EXIT_FAILED;
    }
    client_round_start(cl, &r);
    for (;;) {
        char errbuf[CURL_ERROR_SIZE] = "", role[32], leader[CLIENT_MAX_URL + 1];
        const char *named = NULL;
        CURLcode res = CURLE_OK;
        bool standby = false;
        rc = call_once(cl, method, path, payload, a, errbuf, &res);
        if (rc == FLAGS_EXIT_UNREACHABLE && !client_not_sent(cl->curl, res)) {
            rc = client_print_unreachable(cl, errbuf, res); /* it may have been sent: final */
            break;
        }
        if (rc == 0) {
            standby = serverlist_is_standby(a->status,
                                            client_answer_header(a, "Role", role, sizeof(role)));
            if (!standby)
                break; /* the leader's answer, or one that no other server would change */
            named = client_answer_header(a, "Leader", leader, sizeof(leader));
            client_answer_cleanup(a);
        } else if (rc != FLAGS_EXIT_UNREACHABLE) {
            break;
        }
        if ((rc = client_round_next(cl, &r, standby, named, errbuf, res)))
            break;
    }
    free(payload);
    return rc;
}

int client_print_refusal(const struct client *cl, const struct client_answer *a)
{
    const json_t *err = json_object_get(a->json, "error");
    const char *message = json_string_value(json_object_get(err, "message"));
    const char *field = json_string_value(json_object_get(err, "field"));
    if (cl->json && a->json)
        client_print_json(a);
    fprintf(stderr, "allot: ");
    if (message) {
        client_print_clean(stderr, message);
        if (field && *field) {
            fprintf(stderr, " (field: ");
            client_print_clean(stderr, field);
            fprintf(stderr, ")");
        }
        char retry[16];
        if ((a->status == 429 || a->status == 503) &&
            client_answer_header(a, "Retry-After", retry, sizeof(retry)))
            fprintf(stderr, "; retry after %.8s s", retry);
        if (a->status == 401 && !cl->token[0])
            fprintf(stderr, "; no token was given: use --token, ALLOT_TOKEN or the config file");
        /* the daemon answers "not yours" as "not there", so as not to tell; say both */
        if (a->status == 404)
            fprintf(stderr, "; it may not exist, or your token may not be allowed to see it "
                            "(ask your tenant's admin)");
    } else if (a->status >= 200 && a->status < 300) {
        fprintf(stderr, "the server's answer (status %ld) is not a JSON object", a->status);
    } else {
        fprintf(stderr, "the server answered with status %ld", a->status);
    }
    fprintf(stderr, "\n");
    return FLAGS_EXIT_FAILED;
}

int client_fetch(struct client *cl, const char *method, const char *path, const json_t *body,
                 struct client_answer *a)
{
    int rc = client_call(cl, method, path, body, a);
    if (rc)
        return rc;
    if (a->status >= 200 && a->status < 300 && json_is_object(a->json))
        return 0;
    return client_print_refusal(cl, a);
}

int client_fetch_all(struct client *cl, const char *path, json_t **items)
{
    *items = json_array();
    if (!*items)
        return FLAGS_EXIT_FAILED;
    long long after = -1;
    for (;;) {
        char url[1024];
        if (after >= 0)
            snprintf(url, sizeof(url), "%s%cafter=%lld", path, strchr(path, '?') ? '&' : '?',
                     after);
        else
            snprintf(url, sizeof(url), "%s", path);
        struct client_answer a = {0};
        int rc = client_fetch(cl, "GET", url, NULL, &a);
        if (rc) {
            client_answer_cleanup(&a);
            return rc;
        }
        json_array_extend(*items, json_object_get(a.json, "items"));
        const json_t *next = json_object_get(a.json, "next");
        /* a next that does not move forward ends the walk rather than looping */
        bool more = json_is_integer(next) && json_integer_value(next) > after;
        after = more ? json_integer_value(next) : after;
        client_answer_cleanup(&a);
        if (!more)
            return 0;
    }
}

int client_fetch_text(struct client *cl, const char *path, struct client_answer *a)
{
    int rc = client_call(cl, "GET", path, NULL, a);
    if (rc || (a->status >= 200 && a->status < 300))
        return rc;
    return client_print_refusal(cl, a);
}

void client_print_json(const struct client_answer *a)
{
    fwrite(a->text, 1, a->len, stdout);
    if (a->len == 0 || a->text[a->len - 1] != '\n')
        fputc('\n', stdout);
}

char *client_escape(struct client *cl, const char *s)
{
    char *e = curl_easy_escape(cl->curl, s, 0);
    char *copy = e ? strdup(e) : NULL;
    curl_free(e);
    return copy;
}
