/* Arrays kept with a count and a capacity: growth by one more element (doubling from 16),
 * room for an index with the new elements zeroed (doubling from 64), and trimming once mostly
 * unused. Each leaves the array unchanged when memory runs out. */
#ifndef ALLOT_COMMON_ARRAY_H
#define ALLOT_COMMON_ARRAY_H

#include <stddef.h>
#include <stdint.h>

/* Make room for one more element in *arr (count n, capacity *cap, elements of elem bytes).
 * RET 0, or -ALLOT_ENOMEM with nothing changed. array_grow_size: the same with size_t. */
int array_grow(void **arr, uint32_t n, uint32_t *cap, size_t elem);
int array_grow_size(void **arr, size_t n, size_t *cap, size_t elem);
/* array_grow or array_grow_size, as the capacity's type says. */
#define ARRAY_GROW_OF(cap) _Generic((cap), uint32_t : array_grow, size_t : array_grow_size)
#define ARRAY_GROW(arr, n, cap) ARRAY_GROW_OF(cap)((void **)&(arr), (n), &(cap), sizeof(*(arr)))

/* Make *arr (capacity *cap, elements of elem bytes) hold at least n elements, those it gains
 * zeroed. RET 0, or -ALLOT_ENOMEM with nothing changed. */
int array_reserve_zeroed(void **arr, uint32_t *cap, uint32_t n, size_t elem);
#define ARRAY_RESERVE_ZEROED(arr, cap, n)                                                          \
    array_reserve_zeroed((void **)&(arr), &(cap), (n), sizeof(*(arr)))

/* Capacities at or below this are never trimmed. */
#define ARRAY_TRIM_MIN 64u

/* Whether an array of capacity cap holding n elements should give memory back: at most a
 * quarter of it is used, above ARRAY_TRIM_MIN. Halving it then leaves room for as many again,
 * so that growth and trimming cannot alternate. */
static inline int array_trim_due(uint32_t n, uint32_t cap)
{
    return cap > ARRAY_TRIM_MIN && n <= cap / 4;
}

/* Halve the capacity of *arr (count n, capacity *cap, elements of elem bytes) when
 * array_trim_due. Unchanged when the memory cannot be given back: nothing is lost. */
void array_trim(void **arr, uint32_t n, uint32_t *cap, size_t elem);
#define ARRAY_TRIM(arr, n, cap) array_trim((void **)&(arr), (n), &(cap), sizeof(*(arr)))

#endif
