/* Growth and trimming of arrays kept with a count and a capacity (array.h). */
#include "common/array.h"

#include <stdlib.h>

#include "common/error.h"

int array_grow(void **arr, uint32_t n, uint32_t *cap, size_t elem)
{
    if (n < *cap)
        return 0;
    uint32_t c = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, (size_t)c * elem);
    if (!p)
        return -ALLOT_ENOMEM;
    *arr = p;
    *cap = c;
    return 0;
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
