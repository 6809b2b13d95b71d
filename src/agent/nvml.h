/* GPU discovery through NVML for the node agent: the library loaded at run time and only
 * read. Rules and mapping: docs/agent-discovery.md. */
#ifndef ALLOT_AGENT_NVML_H
#define ALLOT_AGENT_NVML_H

#include <stddef.h>

#include "agent/gpuinfo.h"

/* Read the GPUs of this machine through NVML, without changing anything on them: the library
 * at nvml_path (NULL: "libnvidia-ml.so.1", found by the dynamic loader) is opened, initialised,
 * read, shut down and closed again within the call.
 * IN: nvml_path may be NULL; out is filled entirely (caller-owned, no cleanup needed).
 * RET: 0 with out->discovered true; -ALLOT_ENOENT when the library cannot be loaded (no
 * driver: declare the GPUs instead); -ALLOT_EIO when the library lacks a required function or
 * NVML fails as a whole (init, device count); -ALLOT_ERANGE when NVML reports more than
 * GPUINFO_MAX_GPUS GPUs. An error on one device does not fail the call: that GPU is reported
 * unhealthy with the failing call in health_reason. err (len bytes) gets a sentence on error. */
int nvml_discover(const char *nvml_path, struct gpuinfo *out, char *err, size_t len);

#endif
