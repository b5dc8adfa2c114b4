// Whole-file helpers: read into memory, or map read-only.
#ifndef GC_CORE_FILE_H
#define GC_CORE_FILE_H
#include "gcache/gcache.h"

// A read-only mapping of a whole file. data is NULL for an empty file.
typedef struct gc_mapped_file {
    const uint8_t *data;
    size_t size;
    char *path;   // owned copy, for error messages
} gc_mapped_file;

// Maps `path` read-only. On success fills *out; release with gc_file_unmap.
gc_status gc_file_map(const char *path, gc_mapped_file *out);
void gc_file_unmap(gc_mapped_file *f);

// Reads the whole file into a malloc'd, NUL-terminated buffer (caller frees).
gc_status gc_file_read_all(const char *path, char **out, size_t *len);

// Writes `len` bytes atomically: temp file in the same directory + fsync + rename.
gc_status gc_file_write_atomic(const char *path, const void *data, size_t len);

// True if a regular file exists at path.
// mkdir -p: creates path and its missing parents (0755). 0, or -1 with errno set.
int gc_mkdir_p(const char *path);
bool gc_file_exists(const char *path);

// Joins dir and name with '/', malloc'd (caller frees); NULL on OOM.
char *gc_path_join(const char *dir, const char *name);

#endif
