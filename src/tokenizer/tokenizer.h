// Internal layout of gc_tokenizer, shared by the core (tokenizer.c), the
// loaders (tokenizer_json.c, tokenizer_gguf.c) and the streaming detokenizer.
//
// Loading goes through the builder: gc_tok_new -> gc_tok_set_model_token /
// gc_tok_set_added for every id -> gc_tok_add_merge for every merge (by rank
// order) -> gc_tok_finish, which checks that ids are dense and derives the
// encode/decode tables.
#ifndef GC_TOKENIZER_TOKENIZER_H
#define GC_TOKENIZER_TOKENIZER_H
#include "gcache/tokenizer.h"
#include "tokenizer/pretok.h"
#include "tokenizer/tokenizer_map.h"

enum {
    GC_TOK_MODEL = 1 << 0,        // in the BPE model's vocab
    GC_TOK_ADDED = 1 << 1,        // an added token (split out before pre-tokenization)
    GC_TOK_SPECIAL = 1 << 2,      // special added token
    GC_TOK_LSTRIP = 1 << 3,       // added token swallows whitespace on its left
    GC_TOK_RSTRIP = 1 << 4,       // ... and on its right
    GC_TOK_SINGLE_WORD = 1 << 5,  // only matches outside words
    GC_TOK_NORMALIZED = 1 << 6,   // matched in normalized text (else in raw text)
};

typedef struct gc_tok_entry {
    const char *str;       // vocab string (byte-level form) or added content; NUL-terminated
    const uint8_t *bytes;  // what decode emits for this id
    uint32_t str_len, n_bytes;
    uint8_t flags;
} gc_tok_entry;

// Chunked bump allocator: token strings stay put while maps point at them.
typedef struct gc_tok_arena {
    struct gc_tok_chunk *head;
} gc_tok_arena;

char *gc_tok_arena_dup(gc_tok_arena *a, const void *s, size_t len);  // NUL-terminated copy; NULL on OOM
void gc_tok_arena_free(gc_tok_arena *a);

// Added tokens of one matching class (raw or normalized text), bucketed by
// first byte; inside a bucket longest content first (leftmost-longest match).
typedef struct gc_tok_added_index {
    int32_t *ids;
    const char **key;  // text matched (content, NFC'd for normalized tokens)
    uint32_t *key_len;
    uint32_t start[257];
} gc_tok_added_index;

struct gc_tokenizer {
    char *src;         // file name for messages
    int32_t n;         // vocab size (set by gc_tok_finish)
    int32_t cap;       // entries allocated; ids must be below it
    gc_tok_entry *tok;
    gc_tok_strmap vocab;  // model vocab string -> id
    gc_tok_strmap added;  // added-token content -> id
    gc_tok_strmap word;   // raw bytes of byte-level model tokens -> id (for ignore_merges)
    gc_tok_pairmap merges;
    int32_t byte_id[256];  // model token of each single byte, or -1
    int32_t unk_id;        // -1 if none
    bool fuse_unk;
    bool ignore_merges;
    bool nfc;
    gc_pretok *pre;
    gc_tok_added_index idx_raw, idx_norm;
    bool has_added;
    int32_t bos, eos;
    char *chat_template;
    gc_tok_arena arena;
};

// `src` names the source in messages; `cap` bounds ids (the number of vocab
// entries plus added tokens); `n_merges` sizes the merge table.
gc_status gc_tok_new(const char *src, int64_t cap, size_t n_merges, gc_tokenizer **out);
// `field` describes the entry in messages, e.g. "model.vocab[\"abc\"]".
gc_status gc_tok_set_model_token(gc_tokenizer *t, int64_t id, const char *s, size_t len, const char *field);
// An added token; if its content is already a model token it must have the same id.
gc_status gc_tok_set_added(gc_tokenizer *t, int64_t id, const char *s, size_t len, uint8_t flags,
                           const char *field);
// Merge `a b` at `rank`; a, b and their concatenation must be model tokens.
gc_status gc_tok_add_merge(gc_tokenizer *t, const char *a, size_t alen, const char *b, size_t blen, int32_t rank,
                           const char *field);
gc_status gc_tok_finish(gc_tokenizer *t);

// ---- encoding internals (tokenizer.c) ----
typedef struct gc_tok_ids {
    int32_t *v;
    size_t n, cap;
} gc_tok_ids;

bool gc_tok_ids_push(gc_tok_ids *v, int32_t id);

// Working memory of the merge loop; zero-initialize, release with _free.
typedef struct gc_tok_bpe_scratch {
    int32_t *sym, *prev, *next;
    struct gc_tok_merge *heap;
    size_t cap, heap_cap;
} gc_tok_bpe_scratch;

void gc_tok_bpe_scratch_free(gc_tok_bpe_scratch *s);
// Byte-level BPE of one pre-tokenized piece (raw bytes), ids appended to out.
gc_status gc_tok_bpe(const gc_tokenizer *t, gc_tok_bpe_scratch *s, const uint8_t *w, size_t n, gc_tok_ids *out);

#endif
