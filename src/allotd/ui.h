/* The dashboard's static files (docs/dashboard.md): served under /ui/ from one flat directory,
 * read-only, with no token (all data comes from the API with the user's token). */
#ifndef ALLOT_ALLOTD_UI_H
#define ALLOT_ALLOTD_UI_H

#include <stdbool.h>
#include <stddef.h>

#include "allotd/server.h"

/* A file's size at most: a larger one answers 404 (the dashboard's files are small). */
#define UI_MAX_FILE (2 << 20)
/* A file's name at most (one path segment). */
#define UI_MAX_NAME 64

/* The content type of the file named name, by its extension, from a fixed table; NULL for a
 * name this server does not serve: more than UI_MAX_NAME bytes, empty, starting with '.', a
 * byte outside [A-Za-z0-9._-] (so no '/', no '%', no "..") or an unknown extension. */
const char *ui_content_type(const char *name);

/* GET /ui: a redirect (301) to /ui/. */
void ui_get_root(struct controller *ctl, struct call *c);
/* GET /ui/: the dashboard's index.html. */
void ui_get_index(struct controller *ctl, struct call *c);
/* GET /ui/{file}: the file of that name in the controller's ui_dir, if it is a regular file
 * (not a symbolic link) of at most UI_MAX_FILE bytes with a name ui_content_type accepts;
 * else 404. Every answer carries the security headers of docs/dashboard.md. */
void ui_get_file(struct controller *ctl, struct call *c);

#endif
