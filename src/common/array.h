/* Growth of an array kept with its count and capacity: room for one more element, doubling
 * (from 16), the array unchanged when memory runs out; and its trimming once mostly unused. */
#ifndef ALLOT_COMMON_ARRAY_H
#define ALLOT_COMMON_ARRAY_H

#include <stddef.h>
#include <stdint.h>

/* Make room for one more element in *arr (count n, capacity *cap, elements of elem bytes).
 * RET 0, or -ALLOT_ENOMEM with nothing changed. */
int array_grow(void **arr, uint32_t n, uint32_t *cap, size_t elem);
#define ARRAY_GROW(arr, n, cap) array_grow((void **)&(arr), (n), &(cap), sizeof(*(arr)))

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
