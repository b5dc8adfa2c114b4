#include "core/error.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

// Per-thread so concurrent handles on different threads do not clobber each
// other's messages (the errno model). 4 KiB holds a path plus context, and
// the list of settings a refused `gcache run --resume` names.
static _Thread_local char g_msg[4096];

const char *gc_last_error(void) { return g_msg; }

void gc_clear_error(void) { g_msg[0] = 0; }

gc_status gc_fail(gc_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    return s;
}

gc_status gc_fail_wrap(gc_status s, const char *fmt, ...) {
    char prefix[512], old[sizeof g_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, g_msg, sizeof old);
    size_t pl = strlen(prefix);
    if (pl > sizeof g_msg - 3) pl = sizeof g_msg - 3;
    memcpy(g_msg, prefix, pl);
    memcpy(g_msg + pl, ": ", 2);
    size_t room = sizeof g_msg - pl - 3, ol = strlen(old);
    if (ol > room) ol = room;
    memcpy(g_msg + pl + 2, old, ol);
    g_msg[pl + 2 + ol] = 0;
    return s;
}

const char *gc_status_name(gc_status s) {
    switch (s) {
    case GC_OK: return "GC_OK";
    case GC_ERR_IO: return "GC_ERR_IO";
    case GC_ERR_FORMAT: return "GC_ERR_FORMAT";
    case GC_ERR_UNSUPPORTED: return "GC_ERR_UNSUPPORTED";
    case GC_ERR_INVALID_ARG: return "GC_ERR_INVALID_ARG";
    case GC_ERR_OOM: return "GC_ERR_OOM";
    case GC_ERR_RANGE: return "GC_ERR_RANGE";
    case GC_ERR_INTERNAL: return "GC_ERR_INTERNAL";
    case GC_ERR_DEVICE: return "GC_ERR_DEVICE";
    }
    return "GC_ERR_UNKNOWN";
}
