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

/* Who holds this bearer token at now_ms? A token past its expiry, a join token (good only
 * for POST /v1/join), a token whose user is gone or has an unknown role is nobody's.
 * OUT *who. RET 0, or -ALLOT_EUNAUTHORIZED. */
int token_cache_authenticate(struct token_cache *c, const char *token, int64_t now_ms,
                             struct principal *who);

#endif
