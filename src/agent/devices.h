/* The device nodes of the node's GPUs, from CDI specs (schema/cdi.h): which CDI device each
 * GPU and MIG instance of the inventory is, GPUs without one reported unhealthy, and the
 * edits a replica on some of them needs (its devices' and their specs' edits), which the
 * container runtime (oci.h) applies to an OCI config and the devices cgroup (cgroup.h) to a
 * bare process. docs/agent.md, "Devices". */
#ifndef ALLOT_AGENT_DEVICES_H
#define ALLOT_AGENT_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/cgroup.h"
#include "agent/gpuinfo.h"
#include "schema/cdi.h"

/* The CDI kind of NVIDIA GPUs, the default of --cdi-kind. */
#define DEVICES_DEFAULT_KIND "nvidia.com/gpu"
/* The default of --cdi-dirs: the static then the dynamic directory (the later wins). */
#define DEVICES_DEFAULT_DIRS "/etc/cdi:/var/run/cdi"
/* Most edits one replica gets: a device's per GPU or MIG instance, plus their specs'. */
#define DEVICES_MAX_EDITS (2 * GPUINFO_MAX_GPUS)

struct devices;

/* Load the CDI specs of dirs and find each GPU of gpus in them under kind: a GPU is the device
 * named by its UUID, else by its index ("0"); a MIG instance by its UUID, else
 * "<gpu index>:<mig index>". A GPU (or one of its MIG instances) without a device, or whose
 * spec did not read, is marked unhealthy in gpus with the reason, and the problems are printed
 * on stderr (FILE:LINE: field: message). OUT *out (devices_free). RET 0; -ALLOT_EIO,
 * -ALLOT_ERANGE, -ALLOT_ENOMEM with err (len). */
int devices_load(const char *dirs, const char *kind, struct gpuinfo *gpus, struct devices **out,
                 char *err, size_t len);
void devices_free(struct devices *d);

/* The edits for a replica on the GPUs of the inventory with these indices (whole GPUs), or on
 * the MIG instance mig_uuid (n == 0): each device's edits, in the order of indices, then the
 * spec-level edits of each spec used, once, in the order of first use (left out when empty).
 * No GPU (n == 0, no mig_uuid): no edits. OUT out[0..RET), pointers into d. RET the count
 * (<= max); -ALLOT_ENOENT when a GPU or the MIG instance has no device (or is not in the
 * inventory); -ALLOT_ERANGE when more than max; -ALLOT_EINVAL for more than GPUINFO_MAX_GPUS. */
int devices_edits(const struct devices *d, const uint32_t *indices, size_t n, const char *mig_uuid,
                  const struct cdi_edits **out, size_t max);

/* Whether any spec of the kind devices_load was given was found (read, or refused while naming
 * that kind): what --devices auto decides on for declared GPUs. */
bool devices_kind_found(const struct devices *d);

/* The devices cgroup rules (cgroup.h) of the device nodes of edits[0..n): type, major and minor
 * as the spec gives them, else read from the node on the host (hostPath, else path; stat), its
 * permissions ("rwm" when not given). OUT rules[0..*n_rules) (at most max). RET 0;
 * -ALLOT_ENOENT (a node without a type, major or minor that is not on the host, or no device
 * node), -ALLOT_ERANGE (more than max), with a sentence in err. */
int devices_rules(const struct cdi_edits *const *edits, size_t n, struct cgroup_device_rule *rules,
                  size_t max, size_t *n_rules, char *err, size_t len);

#endif
