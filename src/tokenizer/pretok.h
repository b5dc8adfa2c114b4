// Pre-tokenizer: cuts normalized text into the pieces that BPE merges
// independently. A pipeline is a list of steps, each applied to every piece
// the previous step produced (HF's pre_tokenizers.Sequence):
//   Split(regex or literal, behavior Isolated | Removed, invert false)
//   Digits(individual_digits): numeric characters (\p{N}, Rust's is_numeric)
//       isolated one by one, or in runs
//   ByteLevel(add_prefix_space, use_regex): optionally prefixes a space, then
//       optionally splits with the GPT-2 regex. It must be the last step; the
//       byte -> alphabet mapping itself is left to the BPE stage, which works
//       on raw bytes.
// Regexes are PCRE2 (UTF + UCP, JIT when available). The HF patterns used by
// these families are backtracking regexes in onig/fancy-regex too, so
// alternation order and lookahead ((?!\S) on whitespace runs) behave alike.
#ifndef GC_TOKENIZER_PRETOK_H
#define GC_TOKENIZER_PRETOK_H
#include "gcache/gcache.h"

// GPT-2's pattern (HF ByteLevel use_regex).
extern const char GC_RE_GPT2[];
// Qwen2 / Qwen2.5 / Qwen3.
extern const char GC_RE_QWEN2[];
// Llama-3 (cl100k-like: digits in groups of up to three).
extern const char GC_RE_LLAMA3[];

typedef enum gc_split_behavior { GC_SPLIT_ISOLATED, GC_SPLIT_REMOVED } gc_split_behavior;

typedef struct gc_span {
    size_t off, len;
} gc_span;

// A list of pieces stored back to back in buf.
typedef struct gc_pieces {
    char *buf;
    size_t len, cap;
    gc_span *v;
    size_t n, cap_n;
} gc_pieces;

void gc_pieces_free(gc_pieces *p);

typedef struct gc_pretok gc_pretok;

// An empty pipeline (every piece passes through unchanged). NULL on OOM.
gc_pretok *gc_pretok_new(void);
void gc_pretok_free(gc_pretok *p);
// `what` names the step in error messages ("tokenizer.json: pre_tokenizer...").
gc_status gc_pretok_add_split(gc_pretok *p, const char *pattern, size_t len, bool literal,
                              gc_split_behavior behavior, const char *what);
gc_status gc_pretok_add_digits(gc_pretok *p, bool individual);
gc_status gc_pretok_add_bytelevel(gc_pretok *p, bool add_prefix_space, bool use_regex);
// True once a ByteLevel step has been added (and so no more steps may follow).
bool gc_pretok_has_bytelevel(const gc_pretok *p);

// The pipeline of a GGUF tokenizer.ggml.pre name, with the HF settings of
// that family: *nfc (normalizer NFC) and *ignore_merges. GC_ERR_UNSUPPORTED
// for unknown names.
gc_status gc_pretok_preset(const char *name, gc_pretok **out, bool *nfc, bool *ignore_merges);

// Per-call working memory (match data and two piece lists); one per thread.
typedef struct gc_pretok_scratch gc_pretok_scratch;
gc_pretok_scratch *gc_pretok_scratch_new(const gc_pretok *p);
void gc_pretok_scratch_free(gc_pretok_scratch *s);

// Splits s[0..len) (valid UTF-8) into pieces; *out points into the scratch
// and is valid until its next use. Empty pieces are dropped.
gc_status gc_pretok_run(const gc_pretok *p, gc_pretok_scratch *s, const char *text, size_t len,
                        const gc_pieces **out);

#endif
