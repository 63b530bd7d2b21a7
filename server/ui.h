/*
 * ui.h - the web UI's files (server/ui/), built into kos-server
 * (server/embed_ui.cmake writes ui_files.c from them), so the server
 * needs nothing installed beside it and serves exactly what it was built
 * with.
 */
#ifndef KOS_SERVER_UI_H
#define KOS_SERVER_UI_H

#include <stddef.h>

struct kos__ui_file {
    const char *path; /* "/", "/app.js" */
    const char *type; /* its Content-Type */
    const unsigned char *data;
    size_t len;
};

/* The file served at `path`, or NULL. */
const struct kos__ui_file *kos__ui_find(const char *path);

#endif
