/* The one rule for names of tenants, workspaces, nodes, clusters, users and workloads:
 * [a-z0-9][a-z0-9._-]*, shared by the YAML loader and the API. */
#ifndef ALLOT_COMMON_NAME_H
#define ALLOT_COMMON_NAME_H

#include <stdbool.h>
#include <stddef.h>

/* Whether the n bytes at s are a name of at most max bytes. s may be NULL (false). */
bool name_is_valid(const char *s, size_t n, size_t max);

#endif
