/* The agenda of a virtual-time run: a binary heap ordered by (t, order). */
#include "sim/agenda.h"

#include <stdlib.h>

#include "common/array.h"
#include "common/error.h"

static int before(const struct agenda_item *x, const struct agenda_item *y)
{
    return x->t < y->t || (x->t == y->t && x->order < y->order);
}

int agenda_push(struct agenda *a, struct agenda_item x)
{
    if (ARRAY_GROW(a->items, a->n, a->cap))
        return -ALLOT_ENOMEM;
    x.order = a->order++;
    uint32_t i = a->n++;
    while (i > 0 && before(&x, &a->items[(i - 1) / 2])) {
        a->items[i] = a->items[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    a->items[i] = x;
    return 0;
}

struct agenda_item agenda_pop(struct agenda *a)
{
    struct agenda_item top = a->items[0], last = a->items[--a->n];
    uint32_t i = 0;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= a->n)
            break;
        if (c + 1 < a->n && before(&a->items[c + 1], &a->items[c]))
            c++;
        if (before(&last, &a->items[c]))
            break;
        a->items[i] = a->items[c];
        i = c;
    }
    if (a->n)
        a->items[i] = last;
    return top;
}

void agenda_cleanup(struct agenda *a)
{
    free(a->items);
    *a = (struct agenda){0};
}
