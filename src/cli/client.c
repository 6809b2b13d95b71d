/* The `allot` client's HTTP side (libcurl easy interface): resolves the server, token and
 * timeout (flag, then environment, then config file, then default), sends one request at a
 * time, keeps answers bounded, prints the daemon's errors as one line, and follows
 * Server-Sent Event streams (multi interface, bounded lines). */
#include "cli/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <poll.h>
#include <sys/stat.h>
#include <time.h>

#include "common/quantity.h"

/* What the config file gave (empty strings: not given). */
struct client_config {
    char path[1024];
    char server[CLIENT_MAX_URL + 1];
    char token[CLIENT_MAX_TOKEN + 1];
    char timeout[64];
    char cacert[1024];
    int server_line, token_line, timeout_line, cacert_line;
};

/* Growing buffer of an answer, bounded by CLIENT_MAX_ANSWER. */
struct client_body {
    char *data;
    size_t len, cap;
    bool too_big, no_memory;
};

/* Print s to f with bytes that could steer a terminal replaced by '?'. */
static void print_clean(FILE *f, const char *s)
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

/* Read the config file into *cfg: "key = value" lines (server, token, timeout, cacert), '#'
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
            print_clean(stderr, key);
            fprintf(stderr, "' (expected server, token, timeout or cacert)\n");
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
    if (cfg->token[0] && fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
        fprintf(stderr, "allot: warning: %s holds a token and others may read it (chmod 600)\n",
                cfg->path);
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

static bool url_ok(const char *s)
{
    if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
        return false;
    if (strlen(s) > CLIENT_MAX_URL || strlen(s) <= (s[4] == 's' ? 8u : 7u))
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return false;
    return true;
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
    bool need_config = !(v->server || (env_server && *env_server)) ||
                       !(v->token || (env_token && *env_token)) ||
                       !(v->timeout || (env_timeout && *env_timeout)) ||
                       !(v->cacert || (env_cacert && *env_cacert));
    if (need_config) {
        int rc = config_load(&cfg, prog);
        if (rc)
            return rc;
    }

    const char *server = pick(v->server, "server", "ALLOT_SERVER", cfg.server, cfg.server_line,
                              &cfg, from, sizeof(from));
    if (!server)
        server = CLIENT_DEFAULT_SERVER; /* always a good URL */
    if (!url_ok(server)) {
        fprintf(stderr, "%s: %s: expected a URL such as http://127.0.0.1:7070, got '", prog, from);
        print_clean(stderr, strlen(server) > 64 ? "(a long text)" : server);
        fprintf(stderr, "'\n");
        return FLAGS_EXIT_USAGE;
    }
    snprintf(cl->server, sizeof(cl->server), "%s", server);
    for (size_t n = strlen(cl->server); n > 0 && cl->server[n - 1] == '/'; n--)
        cl->server[n - 1] = '\0';

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
            print_clean(stderr, strlen(timeout) > 64 ? "(a long text)" : timeout);
            fprintf(stderr, "'\n");
            return FLAGS_EXIT_USAGE;
        }
        cl->timeout_ms = ms;
    }

    const char *cacert = pick(v->cacert, "cacert", "ALLOT_CACERT", cfg.cacert, cfg.cacert_line,
                              &cfg, from, sizeof(from));
    if (cacert) {
        errno = 0;
        FILE *f = strlen(cacert) < sizeof(cl->cacert) ? fopen(cacert, "r") : NULL;
        if (!f) {
            fprintf(stderr, "%s: %s: cannot read the CA certificate '", prog, from);
            print_clean(stderr, strlen(cacert) > 64 ? "(a long text)" : cacert);
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

static size_t on_data(char *data, size_t size, size_t nmemb, void *user)
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

/* Append header h to list; on failure clear *ok and keep list as it was (to be freed). */
static struct curl_slist *add_header(struct curl_slist *list, const char *h, bool *ok)
{
    struct curl_slist *grown = *ok ? curl_slist_append(list, h) : NULL;
    if (!grown) {
        *ok = false;
        return list;
    }
    return grown;
}

/* Print "allot: cannot reach the server at URL: why" (libcurl's errbuf, else res's text).
 * RET FLAGS_EXIT_UNREACHABLE. */
static int print_unreachable(const struct client *cl, const char *errbuf, CURLcode res)
{
    fprintf(stderr, "allot: cannot reach the server at ");
    print_clean(stderr, cl->server);
    fprintf(stderr, ": ");
    print_clean(stderr, errbuf[0] ? errbuf : curl_easy_strerror(res));
    fprintf(stderr, " (is allotd running there? --server and ALLOT_SERVER choose the "
                    "server)\n");
    return FLAGS_EXIT_UNREACHABLE;
}

/* libcurl's header callback: keep the X-Allot-* lines that fit. */
static size_t on_header(char *line, size_t size, size_t n, void *arg)
{
    struct client_answer *a = arg;
    size_t len = size * n, used = strlen(a->allot_headers);
    if (len > 7 && strncasecmp(line, "X-Allot-", 8) == 0 && used + len < sizeof(a->allot_headers)) {
        memcpy(a->allot_headers + used, line + 8, len - 8);
        a->allot_headers[used + len - 8] = '\0';
    }
    return len;
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

int client_call(struct client *cl, const char *method, const char *path, const json_t *body,
                struct client_answer *a)
{
    CURL *curl = cl->curl;
    struct curl_slist *headers = NULL;
    struct client_body got = {0};
    char url[CLIENT_MAX_URL + 1024], auth[CLIENT_MAX_TOKEN + 32], errbuf[CURL_ERROR_SIZE] = "";
    char *payload = NULL;
    int rc = 0;
    memset(a, 0, sizeof(*a));
    if ((size_t)snprintf(url, sizeof(url), "%s%s", cl->server, path) >= sizeof(url)) {
        fprintf(stderr, "allot: the request's URL is too long\n");
        return FLAGS_EXIT_FAILED;
    }
    if (body && !(payload = json_dumps(body, JSON_COMPACT))) {
        fprintf(stderr, "allot: out of memory\n");
        return FLAGS_EXIT_FAILED;
    }
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", cl->token);
    bool ok = true;
    headers = add_header(headers, "Accept: application/json", &ok);
    headers = add_header(headers, "Expect:", &ok); /* no 100-continue round trip */
    if (cl->token[0])
        headers = add_header(headers, auth, &ok);
    if (payload)
        headers = add_header(headers, "Content-Type: application/json", &ok);
    if (!ok) {
        fprintf(stderr, "allot: out of memory\n");
        rc = FLAGS_EXIT_FAILED;
        goto out;
    }

    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)cl->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(cl->timeout_ms < CLIENT_CONNECT_TIMEOUT_MS
                                ? cl->timeout_ms
                                : CLIENT_CONNECT_TIMEOUT_MS));
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "allot/0.1");
    if (cl->cacert[0])
        curl_easy_setopt(curl, CURLOPT_CAINFO, cl->cacert);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
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

    CURLcode res = curl_easy_perform(curl);
    if (got.too_big || res == CURLE_FILESIZE_EXCEEDED) {
        fprintf(stderr, "allot: the server's answer is larger than %u MiB\n",
                CLIENT_MAX_ANSWER >> 20);
        rc = FLAGS_EXIT_FAILED;
        goto out;
    }
    if (got.no_memory || res == CURLE_OUT_OF_MEMORY) {
        fprintf(stderr, "allot: out of memory\n");
        rc = FLAGS_EXIT_FAILED;
        goto out;
    }
    if (res != CURLE_OK) {
        rc = print_unreachable(cl, errbuf, res);
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
    free(payload);
    curl_slist_free_all(headers);
    return rc;
}

/* Print answer a, which is not a 2xx JSON object, as the daemon's refusal: "allot: <message>
 * (field: <field>)" on stderr and, with -o json, its error document on stdout.
 * RET FLAGS_EXIT_FAILED. */
static int print_refusal(const struct client *cl, const struct client_answer *a)
{
    const json_t *err = json_object_get(a->json, "error");
    const char *message = json_string_value(json_object_get(err, "message"));
    const char *field = json_string_value(json_object_get(err, "field"));
    if (cl->json && a->json)
        client_print_json(a);
    fprintf(stderr, "allot: ");
    if (message) {
        print_clean(stderr, message);
        if (field && *field) {
            fprintf(stderr, " (field: ");
            print_clean(stderr, field);
            fprintf(stderr, ")");
        }
        if (a->status == 401 && !cl->token[0])
            fprintf(stderr, "; no token was given: use --token, ALLOT_TOKEN or the config file");
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
    return print_refusal(cl, a);
}

int client_fetch_text(struct client *cl, const char *path, struct client_answer *a)
{
    int rc = client_call(cl, "GET", path, NULL, a);
    if (rc || (a->status >= 200 && a->status < 300))
        return rc;
    return print_refusal(cl, a);
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

/* ---- event streams (Server-Sent Events) ------------------------------------------------ */

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
};

static int64_t monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

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
        return on_data(data, size, nmemb, &s->refusal);
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

int client_stream_open(struct client *cl, const char *path, client_event_fn *on_event, void *arg,
                       struct client_stream **out)
{
    struct client_stream *s = calloc(1, sizeof(*s));
    char url[CLIENT_MAX_URL + 1024], auth[CLIENT_MAX_TOKEN + 32];
    const char *type = NULL;
    int rc = 0;
    bool ok = true;
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
    if ((size_t)snprintf(url, sizeof(url), "%s%s", cl->server, path) >= sizeof(url)) {
        fprintf(stderr, "allot: the request's URL is too long\n");
        rc = FLAGS_EXIT_FAILED;
        goto out;
    }
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", cl->token);
    s->headers = add_header(s->headers, "Accept: text/event-stream", &ok);
    if (cl->token[0])
        s->headers = add_header(s->headers, auth, &ok);
    if (!ok) {
        fprintf(stderr, "allot: out of memory\n");
        rc = FLAGS_EXIT_FAILED;
        goto out;
    }
    CURL *curl = s->curl;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    /* no total timeout: a stream lasts as long as it is followed; connecting still has one,
     * and the answer's headers must come within cl's timeout (below) */
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(cl->timeout_ms < CLIENT_CONNECT_TIMEOUT_MS
                                ? cl->timeout_ms
                                : CLIENT_CONNECT_TIMEOUT_MS));
    /* the daemon sends nothing while nothing happens: keep-alive probes find a dead peer */
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPINTVL, 15L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "allot/0.1");
    if (cl->cacert[0])
        curl_easy_setopt(curl, CURLOPT_CAINFO, cl->cacert);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, stream_on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, stream_on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, s);
    if (curl_multi_add_handle(s->multi, curl) != CURLM_OK) {
        fprintf(stderr, "allot: cannot start libcurl\n");
        rc = FLAGS_EXIT_FAILED;
        goto out;
    }

    /* until a 2xx answer's headers are in, or a refusal's body is complete */
    int64_t deadline = monotonic_ms() + cl->timeout_ms;
    for (;;) {
        stream_perform(s);
        if (s->done || (s->status >= 200 && s->status < 300))
            break;
        if (monotonic_ms() >= deadline) {
            snprintf(s->errbuf, sizeof(s->errbuf), "no answer within %lld ms",
                     (long long)cl->timeout_ms);
            rc = print_unreachable(cl, s->errbuf, CURLE_OPERATION_TIMEDOUT);
            goto out;
        }
        stream_wait(s, -1, deadline - monotonic_ms());
    }
    if (s->status >= 200 && s->status < 300) {
        curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
        if (!type || strncmp(type, "text/event-stream", 17) != 0) {
            fprintf(stderr, "allot: the server's answer to GET ");
            print_clean(stderr, path);
            fprintf(stderr, " is not an event stream (Content-Type: ");
            print_clean(stderr, type ? type : "none");
            fprintf(stderr, ")\n");
            rc = FLAGS_EXIT_FAILED;
        }
    } else if (s->refusal.too_big) {
        fprintf(stderr, "allot: the server's answer is larger than %u MiB\n",
                CLIENT_MAX_ANSWER >> 20);
        rc = FLAGS_EXIT_FAILED;
    } else if (s->refusal.no_memory || s->result == CURLE_OUT_OF_MEMORY) {
        fprintf(stderr, "allot: out of memory\n");
        rc = FLAGS_EXIT_FAILED;
    } else if (s->result != CURLE_OK) {
        rc = print_unreachable(cl, s->errbuf, s->result);
    } else {
        struct client_answer a = {.status = s->status,
                                  .text = s->refusal.data ? s->refusal.data : "",
                                  .len = s->refusal.len};
        a.json = json_loadb(a.text, a.len, 0, NULL);
        rc = print_refusal(cl, &a);
        json_decref(a.json);
    }
out:
    if (rc)
        client_stream_free(s);
    else
        *out = s;
    return rc;
}

int client_stream_follow(struct client_stream *s, int stop_fd, int64_t deadline_ms)
{
    s->following = true;
    curl_easy_pause(s->curl, CURLPAUSE_CONT); /* offers again what came before */
    for (;;) {
        if (s->rc)
            return s->rc;
        if (readable(stop_fd) || (deadline_ms >= 0 && monotonic_ms() >= deadline_ms))
            return 0;
        stream_perform(s);
        if (s->rc)
            return s->rc;
        if (s->done)
            break;
        stream_wait(s, stop_fd, deadline_ms >= 0 ? deadline_ms - monotonic_ms() : 1000);
    }
    if (s->result == CURLE_OK) {
        fprintf(stderr, "allot: the server at ");
        print_clean(stderr, s->cl->server);
        fprintf(stderr, " ended the event stream\n");
    } else {
        fprintf(stderr, "allot: lost the event stream of the server at ");
        print_clean(stderr, s->cl->server);
        fprintf(stderr, ": ");
        print_clean(stderr, s->errbuf[0] ? s->errbuf : curl_easy_strerror(s->result));
        fprintf(stderr, "\n");
    }
    return FLAGS_EXIT_UNREACHABLE;
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
