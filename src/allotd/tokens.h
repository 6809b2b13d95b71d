/* The token cache: bearer tokens already checked against the store, with their principal, so
 * that a request costs one SQLite read per token until users or tokens change, not two. */
#ifndef ALLOT_ALLOTD_TOKENS_H
#define ALLOT_ALLOTD_TOKENS_H

#include <stdint.h>

#include "allotd/auth.h"

struct store;
struct token_cache;

/* Tokens a cache remembers; beyond, tokens are checked against the store every time. */
#define TOKENS_CACHE_MAX 4096

/* A cache of the tokens of store st (which must outlive it). OUT *out, owned by the caller
 * (token_cache_free). RET 0 or -ALLOT_ENOMEM. */
int token_cache_new(struct store *st, struct token_cache **out);
/* Free the cache. Accepts NULL. */
void token_cache_free(struct token_cache *c);
/* Forget every principal: call after any change to users or tokens. Cannot fail. */
void token_cache_forget(struct token_cache *c);

/* Tokens whose last use a cache holds until it writes them (token_cache_write_uses); beyond,
 * uses of further tokens wait for the next write. */
#define TOKENS_USES_MAX 65536

/* Who holds this bearer token at now_ms? It counts as used then (token_cache_used). A token past
 * its expiry, a join token (good only for POST /v1/join), a token whose user is gone or has an
 * unknown role is nobody's. OUT *who. RET 0, or -ALLOT_EUNAUTHORIZED. */
int token_cache_authenticate(struct token_cache *c, const char *token, int64_t now_ms,
                             struct principal *who);

/* When token id was last used since the uses were last written (0: not since). */
int64_t token_cache_used(const struct token_cache *c, const char *id);
/* Write the uses held to the store (store_token_used, one transaction) and forget them.
 * OUT *written (may be NULL): how many. RET 0, or the store's error (they are kept for the
 * next try). */
int token_cache_write_uses(struct token_cache *c, int64_t *written);

#endif
