/* The CDI devices of the node's GPUs (devices.h): each GPU and MIG instance of the inventory
 * found in the registry of the CDI directories, those without one marked unhealthy, and the
 * edits and device cgroup rules of a replica's GPUs. docs/agent.md, "Devices". */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* major(), minor() */
#endif

#include "agent/devices.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "common/error.h"

/* The CDI device of one GPU or MIG instance, and the spec it comes from. */
struct devices_entry {
    char uuid[96];
    const struct cdi_device *device; /* NULL: none (the GPU is unhealthy) */
    const struct cdi_spec *spec;
};

struct devices_gpu {
    uint32_t index;
    struct devices_entry whole;
    uint32_t n_mig;
    struct devices_entry mig[MIG_MAX_INSTANCES];
};

struct devices {
    struct cdi_registry *reg;
    bool kind_found;
    uint32_t n;
    struct devices_gpu gpus[GPUINFO_MAX_GPUS];
};

/* Mark g unhealthy for why, after the reasons it already has ("; " between them). */
static void mark_unhealthy(struct gpuinfo_gpu *g, const char *why)
{
    size_t used = strlen(g->health_reason), room = sizeof(g->health_reason) - 1 - used;
    g->healthy = false;
    if (used > 0) {
        if (room < 3)
            return;
        memcpy(g->health_reason + used, "; ", 2);
        used += 2;
        room -= 2;
    }
    size_t n = strlen(why) < room ? strlen(why) : room; /* cut: the log has it whole */
    memcpy(g->health_reason + used, why, n);
    g->health_reason[used + n] = '\0';
}

/* Find the device of one GPU or MIG instance, by uuid, else by the name `by_index`, into e.
 * When a spec that did not read names either, or none is found, mark g unhealthy saying why
 * (what: "GPU 3", "MIG 3:1"). */
static void find_entry(const struct cdi_registry *reg, const char *kind, const char *uuid,
                       const char *by_index, const char *what, const char *unread,
                       struct gpuinfo_gpu *g, struct devices_entry *e)
{
    char why[256];
    snprintf(e->uuid, sizeof(e->uuid), "%s", uuid);
    const char *refused = cdi_registry_refused(reg, kind, uuid);
    if (!refused)
        refused = cdi_registry_refused(reg, kind, by_index);
    if (refused) {
        snprintf(why, sizeof(why), "%s: CDI spec refused: %s", what, refused);
        mark_unhealthy(g, why);
        return;
    }
    e->device = cdi_registry_find(reg, kind, uuid, &e->spec);
    if (!e->device)
        e->device = cdi_registry_find(reg, kind, by_index, &e->spec);
    if (e->device)
        return;
    if (unread && unread[0])
        snprintf(why, sizeof(why), "%s: no CDI device %s=%s or =%s (and %s)", what, kind, uuid,
                 by_index, unread);
    else
        snprintf(why, sizeof(why), "%s: no CDI device %s=%s or =%s", what, kind, uuid, by_index);
    mark_unhealthy(g, why);
}

int devices_load(const char *dirs, const char *kind, struct gpuinfo *gpus, struct devices **out,
                 char *err, size_t len)
{
    struct devices *d = calloc(1, sizeof(*d));
    char unread[160] = "";
    *out = NULL;
    if (!d) {
        snprintf(err, len, "out of memory");
        return -ALLOT_ENOMEM;
    }
    int rc = cdi_registry_load(dirs, &d->reg, err, len);
    if (rc) {
        free(d);
        return rc;
    }
    for (size_t k = 0; cdi_registry_problem(d->reg, k); k++) {
        const char *problem = cdi_registry_problem(d->reg, k);
        fprintf(stderr, "allot-agent: %s\n", problem);
        if (!unread[0])
            snprintf(unread, sizeof(unread), "a CDI spec did not read: %.100s", problem);
    }
    for (size_t k = 0; !d->kind_found && cdi_registry_spec(d->reg, k); k++)
        d->kind_found = strcmp(cdi_registry_spec(d->reg, k)->kind, kind) == 0;
    d->n = gpus->n;
    for (uint32_t i = 0; i < gpus->n; i++) {
        struct gpuinfo_gpu *g = &gpus->gpus[i];
        struct devices_gpu *dg = &d->gpus[i];
        char index[16], what[32];
        dg->index = g->index;
        snprintf(index, sizeof(index), "%u", g->index);
        snprintf(what, sizeof(what), "GPU %u", g->index);
        d->kind_found = d->kind_found || cdi_registry_refused(d->reg, kind, g->uuid) ||
                        cdi_registry_refused(d->reg, kind, index);
        /* A GPU split by MIG is given by its instances: its whole device is optional. */
        bool by_slices = g->mig_enabled && g->n_mig > 0;
        if (!by_slices)
            find_entry(d->reg, kind, g->uuid, index, what, unread, g, &dg->whole);
        else {
            snprintf(dg->whole.uuid, sizeof(dg->whole.uuid), "%s", g->uuid);
            dg->whole.device = cdi_registry_find(d->reg, kind, g->uuid, &dg->whole.spec);
            if (!dg->whole.device)
                dg->whole.device = cdi_registry_find(d->reg, kind, index, &dg->whole.spec);
        }
        dg->n_mig = g->n_mig <= MIG_MAX_INSTANCES ? g->n_mig : MIG_MAX_INSTANCES;
        for (uint32_t k = 0; k < dg->n_mig; k++) {
            char name[32];
            snprintf(name, sizeof(name), "%u:%u", g->index, k);
            snprintf(what, sizeof(what), "MIG %u:%u", g->index, k);
            find_entry(d->reg, kind, g->mig[k].uuid, name, what, unread, g, &dg->mig[k]);
        }
    }
    *out = d;
    return 0;
}

void devices_free(struct devices *d)
{
    if (!d)
        return;
    cdi_registry_free(d->reg);
    free(d);
}

bool devices_kind_found(const struct devices *d)
{
    return d && d->kind_found;
}

/* Append e to out[*n] (at most max). RET 0 or -ALLOT_ERANGE. */
static int put_edits(const struct cdi_edits *e, const struct cdi_edits **out, size_t max, size_t *n)
{
    if (*n == max)
        return -ALLOT_ERANGE;
    out[(*n)++] = e;
    return 0;
}

/* Whether edits holds anything. */
static bool edits_empty(const struct cdi_edits *e)
{
    return e->n_env + e->n_device_nodes + e->n_mounts + e->n_hooks + e->n_additional_gids == 0;
}

int devices_edits(const struct devices *d, const uint32_t *indices, size_t n, const char *mig_uuid,
                  const struct cdi_edits **out, size_t max)
{
    const struct devices_entry *used[GPUINFO_MAX_GPUS];
    size_t n_used = 0, count = 0;
    if (!d || (n > 0 && !indices) || n > GPUINFO_MAX_GPUS)
        return -ALLOT_EINVAL;
    if (n == 0 && mig_uuid) {
        const struct devices_entry *hit = NULL;
        for (uint32_t i = 0; i < d->n && !hit; i++)
            for (uint32_t k = 0; k < d->gpus[i].n_mig && !hit; k++)
                if (strcmp(d->gpus[i].mig[k].uuid, mig_uuid) == 0)
                    hit = &d->gpus[i].mig[k];
        if (!hit || !hit->device)
            return -ALLOT_ENOENT;
        used[n_used++] = hit;
    }
    for (size_t j = 0; j < n; j++) {
        const struct devices_entry *hit = NULL;
        for (uint32_t i = 0; i < d->n && !hit; i++)
            if (d->gpus[i].index == indices[j])
                hit = &d->gpus[i].whole;
        if (!hit || !hit->device)
            return -ALLOT_ENOENT;
        used[n_used++] = hit;
    }
    for (size_t j = 0; j < n_used; j++)
        if (put_edits(&used[j]->device->edits, out, max, &count))
            return -ALLOT_ERANGE;
    /* Each spec's own edits once, in the order its devices came. */
    for (size_t j = 0; j < n_used; j++) {
        bool seen = false;
        for (size_t k = 0; k < j && !seen; k++)
            seen = used[k]->spec == used[j]->spec;
        if (!seen && !edits_empty(&used[j]->spec->edits) &&
            put_edits(&used[j]->spec->edits, out, max, &count))
            return -ALLOT_ERANGE;
    }
    return (int)count;
}

int devices_rules(const struct cdi_edits *const *edits, size_t n, struct cgroup_device_rule *rules,
                  size_t max, size_t *n_rules, char *err, size_t len)
{
    size_t count = 0;
    *n_rules = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < edits[i]->n_device_nodes; k++) {
            const struct cdi_device_node *node = &edits[i]->device_nodes[k];
            struct cgroup_device_rule rule = {
                .type = node->type, .major = node->major, .minor = node->minor};
            if (rule.type == 0 || rule.major < 0 || rule.minor < 0) {
                const char *host = node->host_path ? node->host_path : node->path;
                struct stat sb;
                if (stat(host, &sb) != 0) {
                    snprintf(err, len,
                             "device node %s: %s (its CDI spec gives no type, major and minor)",
                             host, strerror(errno));
                    return -ALLOT_ENOENT;
                }
                if (!S_ISCHR(sb.st_mode) && !S_ISBLK(sb.st_mode)) {
                    snprintf(err, len,
                             "%s is not a device node on this host (its CDI spec gives no type, "
                             "major and minor)",
                             host);
                    return -ALLOT_ENOENT;
                }
                if (rule.type == 0)
                    rule.type = S_ISCHR(sb.st_mode) ? 'c' : 'b';
                if (rule.major < 0)
                    rule.major = major(sb.st_rdev);
                if (rule.minor < 0)
                    rule.minor = minor(sb.st_rdev);
            }
            snprintf(rule.access, sizeof(rule.access), "%s",
                     node->permissions ? node->permissions : "rwm");
            if (count == max) {
                snprintf(err, len, "more than %zu device nodes", max);
                return -ALLOT_ERANGE;
            }
            rules[count++] = rule;
        }
    }
    *n_rules = count;
    return 0;
}
