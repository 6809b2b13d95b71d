/* The daemon's servers as a client knows them: comma lists of base URLs checked and kept in
 * order, compared normalized, and the rule that picks the next one to ask (serverlist.h). */
#include "common/serverlist.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"

/* A copy of the n bytes at s fit for a message: at most 64 of them, unprintable ones as '?';
 * "(a long text)" past that. */
static const char *shown(const char *s, size_t n, char buf[72])
{
    if (n > 64)
        return "(a long text)";
    for (size_t i = 0; i < n; i++)
        buf[i] = (s[i] > 0x20 && s[i] < 0x7f) ? s[i] : '?';
    buf[n] = '\0';
    return buf;
}

/* The length of the scheme's "http://" or "https://" at the start of url, or 0. */
static size_t scheme_len(const char *url)
{
    if (strncasecmp(url, "http://", 7) == 0)
        return 7;
    if (strncasecmp(url, "https://", 8) == 0)
        return 8;
    return 0;
}

int serverlist_normalize(const char *url, char *out, size_t len)
{
    size_t sl = scheme_len(url);
    if (!sl)
        return -ALLOT_EINVAL;
    const char *auth = url + sl;
    size_t alen = strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', alen);
    const char *host = at ? at + 1 : auth, *end = auth + alen, *port = NULL;
    if (*host == '[') { /* an IPv6 address */
        const char *close = memchr(host, ']', (size_t)(end - host));
        if (!close || (close + 1 < end && close[1] != ':'))
            return -ALLOT_EINVAL;
        port = close + 1 < end ? close + 2 : NULL;
    } else {
        const char *colon = memchr(host, ':', (size_t)(end - host));
        port = colon ? colon + 1 : NULL;
    }
    size_t hlen = (size_t)((port ? port - 1 : end) - host);
    long number = sl == 8 ? 443 : 80;
    if (port && port < end) {
        char *stop;
        if (!isdigit((unsigned char)*port) || (size_t)(end - port) > 5)
            return -ALLOT_EINVAL;
        number = strtol(port, &stop, 10);
        if (stop != end || number < 1 || number > 65535)
            return -ALLOT_EINVAL;
    }
    if (hlen == 0)
        return -ALLOT_EINVAL;
    const char *path = end;
    size_t plen = strlen(path);
    while (plen && path[plen - 1] == '/')
        plen--;
    int n = snprintf(out, len, "%s://%.*s%.*s:%ld%.*s", sl == 8 ? "https" : "http",
                     (int)(host - auth), auth, (int)hlen, host, number, (int)plen, path);
    if (n < 0 || (size_t)n >= len)
        return -ALLOT_EINVAL;
    for (char *p = out + (sl == 8 ? 8 : 7) + (host - auth); p < out + n - plen; p++)
        *p = (char)tolower((unsigned char)*p);
    return 0;
}

/* Whether the n bytes at s are a server's URL: an http(s) scheme, a host, at most
 * SERVERLIST_MAX_URL bytes, no space or control byte. */
static bool url_ok(const char *s, size_t n)
{
    char normal[SERVERLIST_MAX_URL + 32], copy[SERVERLIST_MAX_URL + 1];
    if (n > SERVERLIST_MAX_URL)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
            return false;
    memcpy(copy, s, n);
    copy[n] = '\0';
    return serverlist_normalize(copy, normal, sizeof(normal)) == 0;
}

bool serverlist_url_ok(const char *url)
{
    return url && url_ok(url, strnlen(url, SERVERLIST_MAX_URL + 1));
}

int serverlist_find(const struct serverlist *s, const char *url)
{
    char want[SERVERLIST_MAX_URL + 32], have[SERVERLIST_MAX_URL + 32];
    if (!url || serverlist_normalize(url, want, sizeof(want)))
        return -1;
    for (int i = 0; i < s->n; i++)
        if (serverlist_normalize(s->url[i], have, sizeof(have)) == 0 && strcmp(want, have) == 0)
            return i;
    return -1;
}

int serverlist_add(struct serverlist *s, const char *text, char *err, size_t len)
{
    char q[72];
    struct serverlist grown = *s;
    const char *p = text;
    for (;;) {
        size_t n = strcspn(p, ",");
        const char *item = p, *next = p[n] ? p + n + 1 : NULL;
        while (n && (*item == ' ' || *item == '\t'))
            item++, n--;
        while (n && (item[n - 1] == ' ' || item[n - 1] == '\t'))
            n--;
        if (n == 0)
            return allot_fail(err, len, -ALLOT_EINVAL,
                              "expected a URL such as http://127.0.0.1:7070, got an empty item");
        if (!url_ok(item, n))
            return allot_fail(err, len, -ALLOT_EINVAL,
                              "expected a URL such as http://127.0.0.1:7070, got '%s'",
                              shown(item, n, q));
        if (grown.n == SERVERLIST_MAX)
            return allot_fail(err, len, -ALLOT_ERANGE, "at most %d servers", SERVERLIST_MAX);
        char *slot = grown.url[grown.n];
        memcpy(slot, item, n);
        while (n > 0 && slot[n - 1] == '/')
            n--;
        slot[n] = '\0';
        if (serverlist_find(&grown, slot) >= 0)
            return allot_fail(err, len, -ALLOT_EEXIST, "server '%s' is given twice",
                              shown(slot, n, q));
        grown.n++;
        if (!next)
            break;
        p = next;
    }
    memcpy(s, &grown, sizeof(grown));
    return 0;
}

bool serverlist_is_standby(long status, const char *role)
{
    return (status == 307 || status == 503) && role &&
           strcasecmp(role, SERVERLIST_ROLE_STANDBY) == 0;
}

int serverlist_next(const struct serverlist *s, int current, uint32_t tried, const char *leader)
{
    if (current >= 0 && current < s->n)
        tried |= 1u << current;
    int k = serverlist_find(s, leader);
    if (k >= 0 && !(tried >> k & 1))
        return k;
    for (int step = 1; step <= s->n; step++) {
        int i = ((current < 0 ? -1 : current) + step) % s->n;
        if (!(tried >> i & 1))
            return i;
    }
    return -1;
}
