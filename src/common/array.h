/* Growth of an array kept with its count and capacity: room for one more element, doubling
 * (from 16), the array unchanged when memory runs out. */
#ifndef ALLOT_COMMON_ARRAY_H
#define ALLOT_COMMON_ARRAY_H

#include <stddef.h>
#include <stdint.h>

/* Make room for one more element in *arr (count n, capacity *cap, elements of elem bytes).
 * RET 0, or -ALLOT_ENOMEM with nothing changed. */
int array_grow(void **arr, uint32_t n, uint32_t *cap, size_t elem);
#define ARRAY_GROW(arr, n, cap) array_grow((void **)&(arr), (n), &(cap), sizeof(*(arr)))

#endif
