// gcache — graph-guided KV-cache communication between LLM agents.
// Core public definitions: status codes and error reporting.
//
// Error convention: every fallible function returns gc_status. On failure it
// also records a human-readable message (naming file / field / offset where
// applicable) in a per-thread buffer readable with gc_last_error(). The
// message stays valid until the next failing gcache call on the same thread.
#ifndef GCACHE_GCACHE_H
#define GCACHE_GCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GC_VERSION_MAJOR 0
#define GC_VERSION_MINOR 1
#define GC_VERSION_PATCH 0

typedef enum gc_status {
    GC_OK = 0,
    GC_ERR_IO,          // file missing / unreadable / write failed
    GC_ERR_FORMAT,      // malformed or corrupt input file / JSON / dataset
    GC_ERR_UNSUPPORTED, // valid input we do not handle (dtype, architecture)
    GC_ERR_INVALID_ARG, // caller error: bad argument, id out of range
    GC_ERR_OOM,         // host or device allocation failed, pool exhausted
    GC_ERR_RANGE,       // prompt past context, index past end
    GC_ERR_INTERNAL,    // a bug: an invariant failed
    GC_ERR_DEVICE,      // CUDA / accelerator failure
} gc_status;

// Message of the last failure on this thread ("" if none).
const char *gc_last_error(void);
// Short name of a status code ("GC_ERR_FORMAT").
const char *gc_status_name(gc_status s);

#ifdef __cplusplus
}
#endif
#endif
