// Open-addressing hash maps used by the tokenizer (linear probing,
// power-of-two capacity, load factor <= 1/2, no deletion).
//   gc_tok_strmap:  byte string -> int32. Keys are borrowed: the caller keeps
//                   them alive (the tokenizer's arena) as long as the map.
//   gc_tok_pairmap: (int32 a, int32 b) -> (int32 rank, int32 id), the merge table.
#ifndef GC_TOKENIZER_TOKENIZER_MAP_H
#define GC_TOKENIZER_TOKENIZER_MAP_H
#include "gcache/gcache.h"

typedef struct gc_tok_strslot {
    const char *key;  // NULL = empty slot
    uint32_t len;
    uint32_t hash;
    int32_t val;
} gc_tok_strslot;

typedef struct gc_tok_strmap {
    gc_tok_strslot *slots;
    size_t cap, count;
} gc_tok_strmap;

uint32_t gc_tok_hash(const void *key, size_t len);

// Sizes the table for `expected` keys (0 is fine). false on OOM.
bool gc_tok_strmap_init(gc_tok_strmap *m, size_t expected);
void gc_tok_strmap_free(gc_tok_strmap *m);
// Inserts key -> val. If the key is present, leaves the map unchanged and
// stores its value in *existing (when non-NULL) and returns true as well;
// *inserted tells which case happened. false only on OOM.
bool gc_tok_strmap_put(gc_tok_strmap *m, const char *key, size_t len, int32_t val, bool *inserted,
                       int32_t *existing);
// Value of key, or -1.
int32_t gc_tok_strmap_get(const gc_tok_strmap *m, const char *key, size_t len);

typedef struct gc_tok_pairslot {
    uint64_t key;  // UINT64_MAX = empty
    int32_t rank;
    int32_t id;
} gc_tok_pairslot;

typedef struct gc_tok_pairmap {
    gc_tok_pairslot *slots;
    size_t cap, count;
} gc_tok_pairmap;

bool gc_tok_pairmap_init(gc_tok_pairmap *m, size_t expected);
void gc_tok_pairmap_free(gc_tok_pairmap *m);
// Inserts or overwrites (a later merge of the same pair wins, as in HF). false on OOM.
bool gc_tok_pairmap_put(gc_tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t id);
// Looks up (a, b); returns false if absent.
bool gc_tok_pairmap_get(const gc_tok_pairmap *m, int32_t a, int32_t b, int32_t *rank, int32_t *id);

#endif
