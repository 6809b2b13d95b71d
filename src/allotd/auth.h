/* Access control: bearer API tokens (stored as SHA-256 hashes, compared in constant time)
 * and roles with a tenant and workspace scope (docs/api.md, "Access control"). */
#ifndef ALLOT_ALLOTD_AUTH_H
#define ALLOT_ALLOTD_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#define AUTH_HASH_LEN 32
#define AUTH_ID_LEN 16     /* hex characters of a token's public id */
#define AUTH_SECRET_LEN 40 /* hex characters of its secret */
/* "allot_" id "_" secret */
#define AUTH_TOKEN_LEN (6 + AUTH_ID_LEN + 1 + AUTH_SECRET_LEN)

/* The user of a one-time join token (names cannot start with '@'), and how long it lasts. */
#define AUTH_JOIN_USER "@join"
#define AUTH_JOIN_TTL_MS (60 * 60 * 1000)

/* Roles, least to most powerful; a role includes what every lesser one may do within its
 * scope. A node token is apart: it may only report for its own node. */
#define AUTH_ROLE_TABLE(X)                                                                         \
    X(NONE, "none", "no access")                                                                   \
    X(NODE, "node", "a node agent: reports for its own node only")                                 \
    X(VIEWER, "viewer", "reads everything in its tenant (or workspace)")                           \
    X(MEMBER, "member", "submits, lists and cancels its own workloads")                            \
    X(WORKSPACE_ADMIN, "workspace-admin", "also cancels others' workloads of its workspace")       \
    X(TENANT_ADMIN, "tenant-admin", "its tenant: workspaces, members, reservations")               \
    X(ADMIN, "admin", "the platform: everything")

enum role {
#define AUTH_ROLE_ENUM(e, name, help) ROLE_##e,
    AUTH_ROLE_TABLE(AUTH_ROLE_ENUM)
#undef AUTH_ROLE_ENUM
        ROLE_COUNT
};

/* Who makes a request. tenant and workspace are empty for the platform admin; workspace
 * is empty when the role covers the whole tenant. */
struct principal {
    enum role role;
    char token_id[AUTH_ID_LEN + 1]; /* the public id of the token it presented */
    char user[128];
    char tenant[128];
    char workspace[256]; /* "tenant/ws" */
    char node[128];      /* ROLE_NODE only */
};

const char *auth_role_name(enum role r);
/* RET 0 and *r, or -ALLOT_ENOENT. */
int auth_role_parse(const char *name, enum role *r);

/* Make a new token: writes the full token (shown once) into token (AUTH_TOKEN_LEN + 1
 * bytes), its public id into id (AUTH_ID_LEN + 1) and the hash of its secret into hash.
 * RET 0, or -ALLOT_EIO when no randomness is available. */
int auth_token_make(char *token, char *id, unsigned char hash[AUTH_HASH_LEN]);
/* Split a presented token into its id and the hash of its secret.
 * RET 0, or -ALLOT_EINVAL when it is not shaped like a token. */
int auth_token_parse(const char *token, char *id, unsigned char hash[AUTH_HASH_LEN]);
/* Constant-time equality of two hashes. */
bool auth_hash_equal(const unsigned char a[AUTH_HASH_LEN], const unsigned char b[AUTH_HASH_LEN]);

/* May p act with at least role `least` on an object of tenant (NULL: platform-wide) and
 * workspace ("tenant/ws", NULL: tenant-wide)? */
bool auth_allows(const struct principal *p, enum role least, const char *tenant,
                 const char *workspace);
/* Can p see anything of tenant at all? Objects of other tenants answer 404 to it. */
bool auth_sees_tenant(const struct principal *p, const char *tenant);

#endif
