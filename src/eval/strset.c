#include "eval/strset.h"
#include "core/hash.h"
#include <stdlib.h>
#include <string.h>

static size_t slot_of(char *const *slot, size_t cap, const char *k) {
    size_t i = (size_t)gc_fnv1a(GC_FNV_INIT, k, strlen(k)) & (cap - 1);
    while (slot[i] && strcmp(slot[i], k) != 0) i = (i + 1) & (cap - 1);
    return i;
}

bool gc_strset_has(const gc_strset *s, const char *k) {
    return s->cap && s->slot[slot_of(s->slot, s->cap, k)] != NULL;
}

// Keeps the load factor at most 1/2.
static bool grow(gc_strset *s) {
    size_t nc = s->cap ? s->cap * 2 : 64;
    char **ns = calloc(nc, sizeof *ns);
    if (!ns) return false;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slot[i]) ns[slot_of(ns, nc, s->slot[i])] = s->slot[i];
    free(s->slot);
    s->slot = ns;
    s->cap = nc;
    return true;
}

int gc_strset_add(gc_strset *s, const char *k) {
    if (gc_strset_has(s, k)) return 0;
    if (2 * (s->n + 1) > s->cap && !grow(s)) return -1;
    char *copy = strdup(k);
    if (!copy) return -1;
    s->slot[slot_of(s->slot, s->cap, k)] = copy;
    s->n++;
    return 1;
}

void gc_strset_free(gc_strset *s) {
    for (size_t i = 0; i < s->cap; i++) free(s->slot[i]);
    free(s->slot);
    memset(s, 0, sizeof *s);
}
