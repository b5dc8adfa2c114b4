// FNV-1a 64-bit: a fast, non-cryptographic checksum for file integrity.
#ifndef GC_CORE_HASH_H
#define GC_CORE_HASH_H
#include <stddef.h>
#include <stdint.h>

#define GC_FNV_INIT 0xcbf29ce484222325ULL

static inline uint64_t gc_fnv1a(uint64_t h, const void *data, size_t n) {
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

#endif
