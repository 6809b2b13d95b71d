/* Tokens and role checks. The secret part of a token is never stored: only its SHA-256. */
#include "allotd/auth.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/error.h"

struct role_row {
    const char *name;
    const char *help;
};

static const struct role_row role_rows[] = {
#define AUTH_ROLE_ROW(e, name, help) {name, help},
    AUTH_ROLE_TABLE(AUTH_ROLE_ROW)
#undef AUTH_ROLE_ROW
};

const char *auth_role_name(enum role r)
{
    return (unsigned)r < ROLE_COUNT ? role_rows[r].name : "unknown";
}

int auth_role_parse(const char *name, enum role *r)
{
    for (int i = 0; i < ROLE_COUNT; i++) {
        if (strcmp(role_rows[i].name, name) == 0) {
            *r = (enum role)i;
            return 0;
        }
    }
    return -ALLOT_ENOENT;
}

static void hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int sha256(const char *data, size_t n, unsigned char out[AUTH_HASH_LEN])
{
    unsigned int len = 0;
    if (!EVP_Digest(data, n, out, &len, EVP_sha256(), NULL) || len != AUTH_HASH_LEN)
        return -ALLOT_EIO;
    return 0;
}

int auth_token_make(char *token, char *id, unsigned char hash[AUTH_HASH_LEN])
{
    unsigned char raw[AUTH_ID_LEN / 2 + AUTH_SECRET_LEN / 2];
    char secret[AUTH_SECRET_LEN + 1];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -ALLOT_EIO;
    hex(raw, AUTH_ID_LEN / 2, id);
    hex(raw + AUTH_ID_LEN / 2, AUTH_SECRET_LEN / 2, secret);
    snprintf(token, AUTH_TOKEN_LEN + 1, "allot_%s_%s", id, secret);
    int rc = sha256(secret, AUTH_SECRET_LEN, hash);
    OPENSSL_cleanse(secret, sizeof(secret));
    OPENSSL_cleanse(raw, sizeof(raw));
    return rc;
}

static bool is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

int auth_token_parse(const char *token, char *id, unsigned char hash[AUTH_HASH_LEN])
{
    if (!token || strlen(token) != AUTH_TOKEN_LEN || strncmp(token, "allot_", 6) != 0 ||
        token[6 + AUTH_ID_LEN] != '_' || !is_hex(token + 6, AUTH_ID_LEN) ||
        !is_hex(token + 7 + AUTH_ID_LEN, AUTH_SECRET_LEN))
        return -ALLOT_EINVAL;
    memcpy(id, token + 6, AUTH_ID_LEN);
    id[AUTH_ID_LEN] = '\0';
    return sha256(token + 7 + AUTH_ID_LEN, AUTH_SECRET_LEN, hash);
}

bool auth_hash_equal(const unsigned char a[AUTH_HASH_LEN], const unsigned char b[AUTH_HASH_LEN])
{
    return CRYPTO_memcmp(a, b, AUTH_HASH_LEN) == 0;
}

bool auth_sees_tenant(const struct principal *p, const char *tenant)
{
    if (p->role == ROLE_ADMIN)
        return true;
    if (p->role < ROLE_VIEWER || !tenant)
        return false;
    return strcmp(p->tenant, tenant) == 0;
}

bool auth_allows(const struct principal *p, enum role least, const char *tenant,
                 const char *workspace)
{
    if (p->role == ROLE_ADMIN)
        return true;
    if (p->role < least || least == ROLE_ADMIN)
        return false;
    if (p->role == ROLE_NODE)
        return least == ROLE_NODE;
    if (!tenant || strcmp(p->tenant, tenant) != 0)
        return false;
    /* a workspace-scoped role reaches only its workspace */
    if (p->workspace[0] && p->role < ROLE_TENANT_ADMIN)
        return workspace && strcmp(p->workspace, workspace) == 0;
    return true;
}
