// ChatML prompt formatting, without a jinja engine: the chat templates of the
// supported model families are recognized from their raw jinja text and
// reproduced in C. Every message is
//     <|im_start|>{role}\n{content}<|im_end|>\n
// and the generation prompt is <|im_start|>assistant\n. Family differences:
//   GC_CHAT_CHATML   plain ChatML, every role rendered as is
//   GC_CHAT_SMOLLM2  SmolLM2-Instruct: when the first message is not a system
//                    message, "You are a helpful AI assistant named SmolLM,
//                    trained by Hugging Face" is inserted as one
//   GC_CHAT_QWEN25   Qwen2.5-Instruct: when messages[0] is not a system message
//                    "You are Qwen, created by Alibaba Cloud. You are a helpful
//                    assistant." is; consecutive "tool" messages are wrapped
//                    in one user turn as <tool_response>...</tool_response>;
//                    roles other than system/user/assistant/tool are dropped
//   GC_CHAT_QWEN3    Qwen3: no default system; tool turns as Qwen2.5;
//                    assistant messages before the last user query lose their
//                    <think>...</think> block, later ones get it re-emitted
//                    ("<think>\n{reasoning}\n</think>\n\n{answer}", also empty
//                    for a final assistant message); with
//                    add_generation_prompt and enable_thinking == false an
//                    empty "<think>\n\n</think>\n\n" follows the prompt
// Tool calls inside assistant messages and tool definitions are not supported.
#ifndef GCACHE_CHAT_H
#define GCACHE_CHAT_H
#include "gcache/gcache.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gc_chat_style {
    GC_CHAT_UNKNOWN = 0,  // a template that is not ChatML: gc_chat_format refuses it
    GC_CHAT_CHATML,
    GC_CHAT_SMOLLM2,
    GC_CHAT_QWEN25,
    GC_CHAT_QWEN3,
} gc_chat_style;

typedef struct gc_chat_msg {
    const char *role;     // "system", "user", "assistant", "tool", ...
    const char *content;  // UTF-8, NUL-terminated
} gc_chat_msg;

typedef struct gc_chat_opts {
    bool add_generation_prompt;  // end with "<|im_start|>assistant\n"
    bool enable_thinking;        // Qwen3 only; true is the template's default
} gc_chat_opts;

// Style of a raw jinja chat template (gc_tokenizer_chat_template). NULL
// gives GC_CHAT_CHATML; a template without "<|im_start|>" GC_CHAT_UNKNOWN.
gc_chat_style gc_chat_detect(const char *jinja);
// "chatml", "smollm2", "qwen2.5", "qwen3" or "unknown".
const char *gc_chat_style_name(gc_chat_style style);
// The default system prompt a style inserts, or NULL.
const char *gc_chat_default_system(gc_chat_style style);

// Formats n messages. opts may be NULL (generation prompt on, thinking on).
// *out is malloc'd and NUL-terminated (caller frees); *len may be NULL.
// GC_ERR_UNSUPPORTED for GC_CHAT_UNKNOWN, GC_ERR_INVALID_ARG for a NULL role
// or content.
gc_status gc_chat_format(gc_chat_style style, const gc_chat_msg *msgs, size_t n, const gc_chat_opts *opts, char **out,
                         size_t *len);

#ifdef __cplusplus
}
#endif
#endif
