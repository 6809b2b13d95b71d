/* A string-keyed hash map to 32-bit ids (names of tenants, workspaces, nodes, workloads). */
#ifndef ALLOT_COMMON_HMAP_H
#define ALLOT_COMMON_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct hmap_slot {
    const char *key; /* borrowed: the caller keeps it alive while it is in the map */
    uint32_t hash;
    uint32_t value;
};

struct hmap {
    struct hmap_slot *slots;
    size_t cap; /* power of two, or 0 */
    size_t count;
};

void hmap_init(struct hmap *m);
/* Free the table (not the keys). Accepts NULL. */
void hmap_cleanup(struct hmap *m);
/* Map key to value. RET: 0, -ALLOT_EEXIST if key is present, -ALLOT_ENOMEM. */
int hmap_put(struct hmap *m, const char *key, uint32_t value);
/* RET: 0 and *value set, or -ALLOT_ENOENT. */
int hmap_get(const struct hmap *m, const char *key, uint32_t *value);
/* Remove key. RET: 0, or -ALLOT_ENOENT. */
int hmap_del(struct hmap *m, const char *key);

#endif
