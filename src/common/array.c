/* Growth, reservation and trimming of arrays kept with a count and a capacity (array.h). */
#include "common/array.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

/* *arr of capacity cap (at most max) grown, doubling from `from`, to hold at least n
 * elements of elem bytes. OUT *out: the capacity. RET 0, or -ALLOT_ENOMEM with nothing
 * changed. */
static int grow_to(void **arr, size_t n, size_t cap, size_t max, size_t from, size_t elem,
                   size_t *out)
{
    *out = cap;
    if (n <= cap)
        return 0;
    size_t c = cap ? cap : from;
    while (c < n) {
        if (c > max / 2)
            return -ALLOT_ENOMEM;
        c *= 2;
    }
    if (c > SIZE_MAX / elem)
        return -ALLOT_ENOMEM;
    void *p = realloc(*arr, c * elem);
    if (!p)
        return -ALLOT_ENOMEM;
    *arr = p;
    *out = c;
    return 0;
}

int array_grow(void **arr, uint32_t n, uint32_t *cap, size_t elem)
{
    size_t c;
    int rc = grow_to(arr, (size_t)n + 1, *cap, UINT32_MAX, 16, elem, &c);
    *cap = (uint32_t)c;
    return rc;
}

int array_grow_size(void **arr, size_t n, size_t *cap, size_t elem)
{
    if (n == SIZE_MAX)
        return -ALLOT_ENOMEM;
    return grow_to(arr, n + 1, *cap, SIZE_MAX, 16, elem, cap);
}

int array_reserve_zeroed(void **arr, uint32_t *cap, uint32_t n, size_t elem)
{
    size_t c;
    int rc = grow_to(arr, n, *cap, UINT32_MAX, 64, elem, &c);
    if (rc == 0 && c > *cap)
        memset((char *)*arr + (size_t)*cap * elem, 0, (c - *cap) * elem);
    *cap = (uint32_t)c;
    return rc;
}

void array_trim(void **arr, uint32_t n, uint32_t *cap, size_t elem)
{
    if (!array_trim_due(n, *cap))
        return;
    void *p = realloc(*arr, (size_t)(*cap / 2) * elem);
    if (!p)
        return;
    *arr = p;
    *cap /= 2;
}
