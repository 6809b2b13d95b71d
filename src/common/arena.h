/* A bump allocator for many small objects freed all at once (names, per-request data). */
#ifndef ALLOT_COMMON_ARENA_H
#define ALLOT_COMMON_ARENA_H

#include <stddef.h>

struct arena_block;

struct arena {
    struct arena_block *head;
    size_t block_size;
};

/* Prepare an empty arena whose blocks are at least block_size bytes (0: a default). */
void arena_init(struct arena *a, size_t block_size);
/* Free every block; the arena is empty and reusable afterwards. Accepts NULL. */
void arena_cleanup(struct arena *a);
/* size bytes aligned for any type, or NULL when out of memory. Lives until cleanup. */
void *arena_alloc(struct arena *a, size_t size);
/* A copy of the first n bytes of s, NUL-terminated, or NULL when out of memory. */
char *arena_strndup(struct arena *a, const char *s, size_t n);
/* A copy of s, or NULL when out of memory. */
char *arena_strdup(struct arena *a, const char *s);

#endif
