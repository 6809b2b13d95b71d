/* The agenda of a virtual-time run (the scenario simulator, the trace replay): things due
 * at a time, taken earliest first, ties in the order they were added. A binary heap. */
#ifndef ALLOT_SIM_AGENDA_H
#define ALLOT_SIM_AGENDA_H

#include <stdint.h>

/* Something due at t. kind, id and run are the caller's. */
struct agenda_item {
    int64_t t;
    uint64_t order; /* set by agenda_push */
    int kind;
    uint32_t id;
    uint32_t run;
};

/* Caller-owned; zero-initialised is empty. agenda_cleanup frees it. */
struct agenda {
    struct agenda_item *items; /* items[0] is the next due when n > 0 */
    uint32_t n, cap;
    uint64_t order;
};

/* Add x (its order is set here). RET 0 or -ALLOT_ENOMEM. */
int agenda_push(struct agenda *a, struct agenda_item x);
/* Take the next due item. a must not be empty. */
struct agenda_item agenda_pop(struct agenda *a);
void agenda_cleanup(struct agenda *a);

#endif
