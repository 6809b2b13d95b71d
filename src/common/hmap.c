/* Open addressing with linear probing and backward-shift deletion; FNV-1a hashes. */
#include "common/hmap.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

static uint32_t hmap_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

void hmap_init(struct hmap *m)
{
    m->slots = NULL;
    m->cap = 0;
    m->count = 0;
}

void hmap_cleanup(struct hmap *m)
{
    if (!m)
        return;
    free(m->slots);
    hmap_init(m);
}

static int hmap_grow(struct hmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    struct hmap_slot *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return -ALLOT_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        struct hmap_slot *s = &m->slots[i];
        if (!s->key)
            continue;
        size_t j = s->hash & (cap - 1);
        while (slots[j].key)
            j = (j + 1) & (cap - 1);
        slots[j] = *s;
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

static struct hmap_slot *hmap_find(const struct hmap *m, const char *key, uint32_t h)
{
    if (!m->cap)
        return NULL;
    for (size_t j = h & (m->cap - 1);; j = (j + 1) & (m->cap - 1)) {
        struct hmap_slot *s = &m->slots[j];
        if (!s->key)
            return NULL;
        if (s->hash == h && strcmp(s->key, key) == 0)
            return s;
    }
}

int hmap_put(struct hmap *m, const char *key, uint32_t value)
{
    uint32_t h = hmap_hash(key);
    if (hmap_find(m, key, h))
        return -ALLOT_EEXIST;
    if ((m->count + 1) * 4 > m->cap * 3) {
        int err = hmap_grow(m);
        if (err)
            return err;
    }
    size_t j = h & (m->cap - 1);
    while (m->slots[j].key)
        j = (j + 1) & (m->cap - 1);
    m->slots[j] = (struct hmap_slot){.key = key, .hash = h, .value = value};
    m->count++;
    return 0;
}

int hmap_get(const struct hmap *m, const char *key, uint32_t *value)
{
    struct hmap_slot *s = hmap_find(m, key, hmap_hash(key));
    if (!s)
        return -ALLOT_ENOENT;
    *value = s->value;
    return 0;
}

int hmap_del(struct hmap *m, const char *key)
{
    struct hmap_slot *s = hmap_find(m, key, hmap_hash(key));
    if (!s)
        return -ALLOT_ENOENT;
    size_t mask = m->cap - 1;
    size_t i = (size_t)(s - m->slots);
    /* Backward shift: pull later members of the probe run into the hole. */
    for (size_t j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
        size_t home = m->slots[j].hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].key = NULL;
    m->count--;
    return 0;
}
