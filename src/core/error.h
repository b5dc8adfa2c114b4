// Internal error helpers. gc_fail() formats a message into the per-thread
// buffer and returns the status, so call sites read:
//     if (n > len) return gc_fail(GC_ERR_FORMAT, "%s: tensor '%s' past end", path, name);
#ifndef GC_CORE_ERROR_H
#define GC_CORE_ERROR_H
#include "gcache/gcache.h"

#if defined(__GNUC__)
#define GC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define GC_PRINTF(a, b)
#endif

gc_status gc_fail(gc_status s, const char *fmt, ...) GC_PRINTF(2, 3);
// Prefix the current message with "<prefix>: " (adds context on the way up).
gc_status gc_fail_wrap(gc_status s, const char *fmt, ...) GC_PRINTF(2, 3);
void gc_clear_error(void);

// Propagate a failing status.
#define GC_TRY(expr) do { gc_status gc_try_s_ = (expr); if (gc_try_s_ != GC_OK) return gc_try_s_; } while (0)

#endif
