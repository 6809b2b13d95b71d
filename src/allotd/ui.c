/* The dashboard's static files under /ui/ (docs/dashboard.md): one flat directory, names of
 * one path segment from a fixed alphabet, a fixed table of content types, regular files only
 * (never through a symbolic link), each at most UI_MAX_FILE bytes, and headers that keep the
 * pages to their own scripts and out of frames. */
#include "allotd/ui.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include <event2/buffer.h>

#include "allotd/controller.h"
#include "common/error.h"

static const struct {
    const char *ext;
    const char *type;
} ui_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".json", "application/json"},
};

const char *ui_content_type(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > UI_MAX_NAME || name[0] == '.')
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        if (!ok)
            return NULL;
    }
    for (size_t i = 0; i < sizeof(ui_types) / sizeof(ui_types[0]); i++) {
        size_t e = strlen(ui_types[i].ext);
        if (n > e && strcmp(name + n - e, ui_types[i].ext) == 0)
            return ui_types[i].type;
    }
    return NULL;
}

/* The headers of every answer under /ui: its own scripts and styles only (no inline script),
 * no sniffing of types, no referrer, never in a frame. */
static void ui_headers(struct call *c)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
    evhttp_add_header(h, "Content-Security-Policy",
                      "default-src 'self'; base-uri 'none'; form-action 'self'; "
                      "frame-ancestors 'none'");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
    evhttp_add_header(h, "X-Frame-Options", "DENY");
    evhttp_add_header(h, "Cache-Control", "no-cache");
}

void ui_get_root(struct controller *ctl, struct call *c)
{
    (void)ctl;
    ui_headers(c);
    evhttp_add_header(evhttp_request_get_output_headers(c->req), "Location", "/ui/");
    call_send(c, 301, NULL, NULL);
}

/* The content of name (checked by ui_content_type) in directory dir into b. RET 0;
 * -ALLOT_ENOENT (no such regular file, a symbolic link, larger than UI_MAX_FILE, or no dir),
 * -ALLOT_EIO or -ALLOT_ENOMEM. */
static int ui_read(const char *dir, const char *name, struct evbuffer *b)
{
    int rc = -ALLOT_ENOENT;
    int fd = -1;
    int dfd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (dfd < 0)
        goto out;
    /* O_NOFOLLOW: a link, even to a file inside, is refused; O_NONBLOCK: a FIFO never blocks */
    fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > UI_MAX_FILE)
        goto out;
    size_t left = (size_t)st.st_size;
    while (left > 0) {
        int n = evbuffer_read(b, fd, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -ALLOT_EIO;
            goto out;
        }
        if (n == 0)
            break; /* it shrank while read: serve what there is */
        left -= (size_t)n;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (dfd >= 0)
        close(dfd);
    return rc;
}

/* Answer c with the file name of the controller's ui_dir. */
static void ui_send(struct controller *ctl, struct call *c, const char *name)
{
    ui_headers(c);
    const char *type = ui_content_type(name);
    if (!type) {
        call_error(c, -ALLOT_ENOENT, 404, NULL, "no such file of the dashboard");
        return;
    }
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        call_error(c, -ALLOT_ENOMEM, 503, NULL, "out of memory");
        return;
    }
    int rc = ui_read(ctl->opt.ui_dir, name, b);
    if (rc == 0)
        call_send(c, 200, type, b);
    else
        call_error(c, rc, rc == -ALLOT_ENOENT ? 404 : 503, NULL, "%s",
                   rc == -ALLOT_ENOENT ? "no such file of the dashboard" : allot_strerror(rc));
    evbuffer_free(b);
}

void ui_get_index(struct controller *ctl, struct call *c)
{
    ui_send(ctl, c, "index.html");
}

void ui_get_file(struct controller *ctl, struct call *c)
{
    ui_send(ctl, c, c->args[0]);
}
