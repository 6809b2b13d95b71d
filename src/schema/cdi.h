/* The reader of CDI spec files (Container Device Interface: the JSON or YAML that says how to
 * give a container a device, e.g. what `nvidia-ctk cdi generate` writes to /etc/cdi and
 * /var/run/cdi; ../shared/reference/cdi.md) and the registry of the specs of a node's CDI
 * directories. A spec that does not read is refused whole with FILE:LINE: field: message; the
 * registry keeps the others and lists the refusals. docs/agent.md, "Devices". */
#ifndef ALLOT_SCHEMA_CDI_H
#define ALLOT_SCHEMA_CDI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schema/reader.h"

/* Bounds of one spec file (refused with -ALLOT_ERANGE beyond them). */
#define CDI_MAX_FILE_BYTES (4 * 1024 * 1024)
#define CDI_MAX_DEVICES 1024 /* devices of one spec */
#define CDI_MAX_EDITS 256    /* entries of each list of one containerEdits */
#define CDI_MAX_FILES 256    /* spec files read from all the directories */
#define CDI_MAX_NAME 255     /* bytes of a kind ("vendor.com/class") or a device name */

/* A device node to create in the container (and to allow in its device cgroup). */
struct cdi_device_node {
    const char *path;        /* in the container, absolute */
    const char *host_path;   /* on the host; NULL: the same as path */
    char type;               /* 'c' or 'b'; 0 when not given (read from the host node) */
    int64_t major, minor;    /* -1 when not given (read from the host node) */
    int64_t file_mode;       /* -1 when not given */
    const char *permissions; /* "r", "w", "m" in any combination; NULL: "rwm" */
    int64_t uid, gid;        /* -1 when not given */
};

struct cdi_mount {
    const char *host_path;      /* absolute */
    const char *container_path; /* absolute */
    const char *type;           /* NULL when not given ("bind" is meant) */
    const char *const *options; /* n_options strings */
    size_t n_options;
};

struct cdi_hook {
    const char *hook_name; /* prestart, createRuntime, createContainer, startContainer,
                            * poststart, poststop */
    const char *path;      /* absolute */
    const char *const *args;
    size_t n_args;
    const char *const *env; /* "KEY=VALUE" */
    size_t n_env;
    int64_t timeout; /* seconds; -1 when not given */
};

/* The edits a device (or a whole spec) makes to a container's OCI config. */
struct cdi_edits {
    const char *const *env; /* "KEY=VALUE" */
    size_t n_env;
    const struct cdi_device_node *device_nodes;
    size_t n_device_nodes;
    const struct cdi_mount *mounts;
    size_t n_mounts;
    const struct cdi_hook *hooks;
    size_t n_hooks;
    const uint32_t *additional_gids;
    size_t n_additional_gids;
};

struct cdi_device {
    const char *name; /* unique within its spec's kind: "0", "GPU-...", "0:1", "all" */
    struct cdi_edits edits;
};

/* One spec file, read. Everything lives in the arena it was read into. */
struct cdi_spec {
    const char *path;    /* the file it was read from */
    const char *version; /* cdiVersion, "0.3.0" to "0.8.x" */
    const char *kind;    /* "vendor.com/class" */
    const struct cdi_device *devices;
    size_t n_devices;
    struct cdi_edits edits; /* the spec-level containerEdits; all empty when not given */
};

/* Whether s (n bytes) is a CDI kind, "vendor.com/class": the vendor a letter first, a letter or
 * digit last, letters, digits, '-', '_' and '.' between; the class the same without '.'; at
 * most CDI_MAX_NAME bytes in all. */
bool cdi_is_kind(const char *s, size_t n);
/* Whether s (n bytes) is a device name: [A-Za-z0-9][A-Za-z0-9_.:-]*, at most CDI_MAX_NAME. */
bool cdi_is_device_name(const char *s, size_t n);

/* Read the spec in text (len bytes; JSON or YAML, told apart by the text, not by a name: JSON
 * is read as the YAML it also is), named path in errors, into a (OUT *out, all of it in a).
 * RET 0; -ALLOT_EINVAL, -ALLOT_EEXIST (a device name twice), -ALLOT_ERANGE, -ALLOT_EPARSE (not
 * YAML), -ALLOT_ENOMEM with err naming the field ("devices[2].containerEdits.deviceNodes[0].
 * path"); cdi_spec_read also names the line. On error *out is all zero. */
int cdi_spec_parse(const char *path, const char *text, size_t len, struct arena *a,
                   struct cdi_spec *out, struct schema_error *err);
/* cdi_spec_parse with the refusal written into msg (msglen bytes) as "FILE:LINE: field:
 * message" ("FILE:LINE: syntax error: ..." for text that is no YAML). */
int cdi_spec_read(const char *path, const char *text, size_t len, struct arena *a,
                  struct cdi_spec *out, char *msg, size_t msglen);

/* The specs of a node: every *.json, *.yaml and *.yml file of its directories, in the order
 * of the directories and then of the file names; for a device defined twice (same kind and
 * name), the later one wins. */
struct cdi_registry;

/* Read every spec file of dirs (a ':'-separated list; a directory that does not exist is
 * skipped). A file that does not read is left out and its error kept (cdi_registry_problem).
 * OUT *out (cdi_registry_free). RET 0; -ALLOT_ERANGE (more than CDI_MAX_FILES files),
 * -ALLOT_EIO (a directory that exists cannot be read), -ALLOT_ENOMEM; err (len) says why. */
int cdi_registry_load(const char *dirs, struct cdi_registry **out, char *err, size_t len);
void cdi_registry_free(struct cdi_registry *reg);

/* The device named `kind=name` ("nvidia.com/gpu=0"), with the spec it comes from (whose
 * spec-level edits apply as well); NULL when no spec defines it. */
const struct cdi_device *cdi_registry_find(const struct cdi_registry *reg, const char *kind,
                                           const char *name, const struct cdi_spec **spec);

/* The refusals of the load: k-th "FILE:LINE: field: message", or NULL past the last. */
const char *cdi_registry_problem(const struct cdi_registry *reg, size_t k);
size_t cdi_registry_count(const struct cdi_registry *reg); /* specs read */
/* The k-th spec read (in the order read), or NULL past the last. */
const struct cdi_spec *cdi_registry_spec(const struct cdi_registry *reg, size_t k);
/* The refusal (as cdi_registry_problem) of a spec file that did not read and that names the
 * device kind=name, as far as its kind and device names could be read; NULL when none. Such a
 * device must not be taken from an older spec: the newer one meant to redefine it. */
const char *cdi_registry_refused(const struct cdi_registry *reg, const char *kind,
                                 const char *name);

#endif
