// Byte-level BPE tokenizer (GPT-2 / SmolLM2 / Qwen2 / Qwen2.5 / Qwen3 / Llama-3
// families), loaded from a Hugging Face tokenizer.json or from a GGUF file's
// tokenizer.ggml.* metadata. Token ids match the Hugging Face `tokenizers`
// library called with add_special_tokens=False: encode never adds BOS/EOS.
//
// Pipeline of encode (the order of HF tokenizers):
//   1. added tokens (tokenizer.json "added_tokens"; GGUF control and
//      user-defined tokens) are split out of the raw text, longest match first;
//      special ones only when parse_special is true, otherwise they are
//      encoded as plain text (HF's encode_special_tokens = True);
//   2. the normalizer (only NFC is supported) runs on the remaining text;
//   3. the pre-tokenizer (Split regex / Digits / ByteLevel) cuts it into
//      pieces, and each piece is BPE-merged by merge rank.
//
// Ownership: a gc_tokenizer is immutable after loading and may be shared by
// threads for encode/decode/find. Strings returned by accessors live as long
// as the tokenizer. Buffers returned through out-parameters are malloc'd and
// belong to the caller unless stated otherwise.
#ifndef GCACHE_TOKENIZER_H
#define GCACHE_TOKENIZER_H
#include "gcache/gcache.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gc_tokenizer gc_tokenizer;
struct gc_gguf;

// Loads dir/tokenizer.json, plus dir/tokenizer_config.json when present
// (chat_template, bos_token, eos_token) and dir/chat_template.jinja when
// present (it takes precedence over tokenizer_config.json's template).
gc_status gc_tokenizer_load_hf(const char *dir, gc_tokenizer **out);
// Parses a tokenizer.json held in memory (need not be NUL-terminated). `path`
// names the source in error messages and may be NULL.
gc_status gc_tokenizer_load_json(const char *json, size_t len, const char *path, gc_tokenizer **out);
// Reads tokenizer.ggml.{model,pre,tokens,token_type,merges,bos_token_id,
// eos_token_id} and tokenizer.chat_template. model must be "gpt2"; pre one of
// "gpt2", "smollm", "qwen2", "deepseek-r1-qwen", "llama-bpe". Token types:
// 3 (control) become special added tokens, 4 (user-defined) non-special added
// tokens. The tokenizer copies what it needs; g may be freed afterwards.
gc_status gc_tokenizer_load_gguf(const struct gc_gguf *g, gc_tokenizer **out);
void gc_tokenizer_free(gc_tokenizer *t);

// Number of ids, added tokens included (ids are dense: 0 .. size-1).
int64_t gc_tokenizer_vocab_size(const gc_tokenizer *t);

// Encodes `len` bytes of UTF-8 text. Invalid UTF-8 is refused with
// GC_ERR_INVALID_ARG. *ids is malloc'd (never NULL on success, even when
// *n == 0); the caller frees it.
gc_status gc_tokenizer_encode(const gc_tokenizer *t, const char *text, size_t len, bool parse_special,
                              int32_t **ids, size_t *n);

// Concatenates the bytes of the tokens; skip_special drops special added
// tokens. The result is NUL-terminated (the NUL is not counted in *len) and
// malloc'd; the caller frees it. Bytes are kept exactly as the tokens give
// them: a token sequence that ends inside a UTF-8 character or is otherwise
// invalid UTF-8 yields those raw bytes (HF would substitute U+FFFD), so
// decode(encode(s)) == s for every valid UTF-8 s the normalizer leaves
// unchanged. An id outside [0, vocab_size) gives GC_ERR_INVALID_ARG.
gc_status gc_tokenizer_decode(const gc_tokenizer *t, const int32_t *ids, size_t n, bool skip_special,
                              char **text, size_t *len);

// Id of an exact added-token content or vocabulary string (vocabulary strings
// are in their byte-level form, e.g. "\xc4\xa0the" for " the"), or -1.
int32_t gc_tokenizer_find(const gc_tokenizer *t, const char *token);
// True for special added tokens (<|im_start|>, <|endoftext|>, ...).
bool gc_tokenizer_is_special(const gc_tokenizer *t, int32_t id);
// The bytes one id decodes to (not NUL-terminated), or NULL for an id out of
// range. Owned by the tokenizer.
const char *gc_tokenizer_token_bytes(const gc_tokenizer *t, int32_t id, size_t *len);
// BOS / EOS ids from tokenizer_config.json or GGUF metadata, or -1 if unknown.
int32_t gc_tokenizer_bos(const gc_tokenizer *t);
int32_t gc_tokenizer_eos(const gc_tokenizer *t);
// Raw jinja chat template (tokenizer_config.json / chat_template.jinja / GGUF
// tokenizer.chat_template), or NULL. Owned by the tokenizer.
const char *gc_tokenizer_chat_template(const gc_tokenizer *t);

// Streaming detokenizer: push ids one at a time and get back only complete
// UTF-8 characters. Concatenating every push and the final flush gives
// exactly gc_tokenizer_decode's bytes whenever those are valid UTF-8; bytes
// that can never form a valid character are replaced by U+FFFD (one per
// maximal invalid subsequence), so the output is always valid UTF-8.
// The detok borrows t, which must outlive it. Not thread-safe.
typedef struct gc_detok gc_detok;
// NULL on out-of-memory.
gc_detok *gc_detok_new(const gc_tokenizer *t, bool skip_special);
// Sets *out to the text that became complete with this id and returns its
// length (possibly 0; *out is then "" rather than NULL). The buffer is owned by
// the detok and valid until its next call. An id out of range produces
// U+FFFD; use gc_tokenizer_decode when ids are untrusted and errors matter.
size_t gc_detok_push(gc_detok *d, int32_t id, const char **out);
// Emits trailing incomplete bytes as U+FFFD and resets the state.
size_t gc_detok_flush(gc_detok *d, const char **out);
void gc_detok_free(gc_detok *d);

#ifdef __cplusplus
}
#endif
#endif
