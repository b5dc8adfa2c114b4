// Text generation on one sequence: prefill a prompt into a cache, then sample
// tokens until EOS / <|im_end|> / a stop string / max_tokens, streaming text.
#ifndef GCACHE_GENERATE_H
#define GCACHE_GENERATE_H
#include "gcache/engine.h"
#include "gcache/sampler.h"
#include "gcache/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GC_MAX_STOP 8

typedef struct gc_gen_params {
    int max_tokens;                     // new tokens at most (default 256)
    gc_sampler_params sampling;
    const char *stop[GC_MAX_STOP];      // stop strings (not included in the text), NULL-terminated list
    bool ignore_eos;                    // keep going past EOS ids
} gc_gen_params;

gc_gen_params gc_gen_default_params(void);

typedef enum gc_finish { GC_FINISH_LENGTH, GC_FINISH_EOS, GC_FINISH_STOP } gc_finish;

typedef struct gc_gen_result {
    char *text;             // malloc'd, NUL-terminated; the caller frees
    size_t text_len;
    int32_t *ids;           // malloc'd generated ids (stop token excluded); the caller frees
    int64_t n_ids;
    int64_t n_prompt;
    gc_finish finish;
    int32_t unfed;          // last sampled id not fed to the cache (the stop
                            // token, or the final token), -1 if none
    double prefill_s, decode_s;
} gc_gen_result;

// Called with each piece of text as it becomes final (complete UTF-8, no
// part of a possible stop string). Return false to stop early.
typedef bool (*gc_gen_stream_fn)(void *user, const char *text, size_t len);

// Appends prompt to kv, then generates. stream may be NULL. On failure the
// result holds what was generated so far (the caller still frees it).
gc_status gc_generate(gc_engine *e, gc_kv *kv, const gc_tokenizer *tok, const int32_t *prompt, int64_t n_prompt,
                      const gc_gen_params *p, gc_gen_stream_fn stream, void *user, gc_gen_result *res);
void gc_gen_result_free(gc_gen_result *r);

// ---- batched generation ----
// One sequence of a batch: its cache, its prompt (appended to the cache
// first; may be empty when the cache's last logits are given in `logits`)
// and its own sampling seed, so results do not depend on batch composition.
typedef struct gc_gen_seq {
    gc_kv *kv;
    const int32_t *prompt;
    int64_t n_prompt;
    uint64_t seed;
    gc_gen_result res;     // out: filled like gc_generate's result
} gc_gen_seq;

// Prefills every prompt in one engine step, then decodes all unfinished
// sequences together, one token each per step, until each stops. Text is
// not streamed. On failure every result holds what was generated so far.
gc_status gc_generate_batch(gc_engine *e, const gc_tokenizer *tok, gc_gen_seq *seqs, int n,
                            const gc_gen_params *p);

#ifdef __cplusplus
}
#endif
#endif
