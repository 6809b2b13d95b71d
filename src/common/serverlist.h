/* The daemon's servers as a client knows them: a bounded list of base URLs (a leader and its
 * standbys, given as comma lists), compared in a normalized form, and the one rule that picks
 * which to ask next after a connect failure or a standby's answer. The CLI and the node agent
 * share it (docs/cli.md, "Several servers"). Pure: no I/O. */
#ifndef ALLOT_COMMON_SERVERLIST_H
#define ALLOT_COMMON_SERVERLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SERVERLIST_MAX 16       /* servers of one list */
#define SERVERLIST_MAX_URL 2048 /* bytes of one base URL */

/* The headers of a standby's answer (docs/api.md): its role, and the leader it knows. */
#define SERVERLIST_HEADER_ROLE "X-Allot-Role"
#define SERVERLIST_HEADER_LEADER "X-Allot-Leader"
#define SERVERLIST_ROLE_STANDBY "standby"

/* Configured servers, in the order given. Caller-owned; zero it to start. */
struct serverlist {
    int n;
    char url[SERVERLIST_MAX][SERVERLIST_MAX_URL + 1]; /* as given, without trailing '/' */
};

/* Add each URL of the comma list text (spaces around an item are ignored) to s, checking each:
 * http:// or https://, a host, at most SERVERLIST_MAX_URL bytes, no space or control byte.
 * Nothing is added unless every item is good. OUT err (len bytes): a sentence naming the bad
 * item. RET 0; -ALLOT_EINVAL for a bad or empty item, -ALLOT_EEXIST for a server given twice
 * (compared normalized), -ALLOT_ERANGE when s would hold more than SERVERLIST_MAX. */
int serverlist_add(struct serverlist *s, const char *text, char *err, size_t len);

/* Whether url is a server's base URL as serverlist_add takes one: http:// or https://, a host,
 * at most SERVERLIST_MAX_URL bytes, no space or control byte (allotd --advertise, and the
 * leader's URL a standby sends clients to, are held to the same rule). */
bool serverlist_url_ok(const char *url);

/* url in the form used to compare servers: scheme and host in lower case, the port always
 * written (80 or 443 when absent), no trailing '/'. OUT out (len bytes). RET 0, or
 * -ALLOT_EINVAL when url is not an http(s) URL with a host or does not fit. */
int serverlist_normalize(const char *url, char *out, size_t len);

/* The index of url in s (compared normalized), or -1 when it is not there or not a URL. */
int serverlist_find(const struct serverlist *s, const char *url);

/* Whether an answer is a standby's (status 307 or 503 with X-Allot-Role: standby). role is the
 * header's value, NULL when absent. */
bool serverlist_is_standby(long status, const char *role);

/* The rule (docs/cli.md, "Several servers"): after the server at index current answered with
 * a connect failure (leader NULL) or as a standby (leader: its X-Allot-Leader, NULL when it
 * named none), the next server to ask: the leader when it is in s and not yet tried, else the
 * first one after current in list order (wrapping) that is not yet tried. tried has bit i set
 * for each index already tried (current's bit is set by the caller or not: it counts as
 * tried). A leader that is not in s is never chosen. RET the index, or -1 when every server
 * was tried. */
int serverlist_next(const struct serverlist *s, int current, uint32_t tried, const char *leader);

#endif
