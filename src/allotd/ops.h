/* What each journal op does to the controller: one table of ops (name, reader from
 * src/schema/op.c, apply), used alike by controller_apply and by the journal's replay. */
#ifndef ALLOT_ALLOTD_OPS_H
#define ALLOT_ALLOTD_OPS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct controller;

/* Read op ({"op": name, ...}) with its kind's reader and apply it to ctl's engine at time t.
 * OUT *result (may be NULL): what the op made, for the reply (a new reference or NULL).
 * RET 0, or a negative error with the field and a sentence in field/err; an op refused by
 * its reader or its apply has changed nothing. */
int ops_run(struct controller *ctl, const json_t *op, int64_t t, json_t **result, char *field,
            size_t field_len, char *err, size_t len);

/* The number of kinds of op, and the name of the i-th (for tests and help). */
size_t ops_count(void);
const char *ops_name(size_t i);

#endif
