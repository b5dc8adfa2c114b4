// Pieces shared by the single-sequence and batched generation loops.
#ifndef GC_ENGINE_GEN_INTERNAL_H
#define GC_ENGINE_GEN_INTERNAL_H
#include "gcache/generate.h"

// True for the model's EOS ids and the tokenizer's EOS / <|im_end|> / <|endoftext|>.
bool gc_gen_is_stop_id(const gc_engine *e, const gc_tokenizer *tok, int32_t id);
// Earliest occurrence of any of p's stop strings in s[0..len), or len if none.
size_t gc_gen_find_stop(const gc_gen_params *p, const char *s, size_t len);
// Bytes at the end of s[0..len) that are a proper prefix of some stop string
// of p (held back from a stream until the next token decides).
size_t gc_gen_held_back(const gc_gen_params *p, const char *s, size_t len);
// False when any of the n logits is NaN or ±Inf.
bool gc_gen_logits_finite(const float *logits, int64_t n);

#endif
