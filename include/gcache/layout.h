// Layouts of the public structs, for language bindings that mirror them
// (the Python package's ctypes structures check every field against these
// at import, so a struct changed on the C side fails loudly instead of
// corrupting memory).
#ifndef GCACHE_LAYOUT_H
#define GCACHE_LAYOUT_H
#include "gcache/gcache.h"

#ifdef __cplusplus
extern "C" {
#endif

// sizeof(struct `name`) ("gc_node", "gc_engine_params", ...), or 0 for a
// struct the table does not list.
size_t gc_struct_size(const char *name);
// offsetof(`name`, `field`), or (size_t)-1 for an unknown struct or field.
size_t gc_struct_offset(const char *name, const char *field);
// Number of fields the table lists for `name` (0 if unknown), so a binding
// can tell that it mirrors every one of them.
int gc_struct_n_fields(const char *name);

#ifdef __cplusplus
}
#endif
#endif
