// Multi-agent methods on the scheduler: single agent, TextMAS and LatentMAS,
// each sequential (planner → critic → refiner → judger) or hierarchical
// (math, science, code agents → summarizer). Prompts are data files
// (prompts/<family>.json, compiled into the binary; a path to another JSON
// file of the same shape works too).
#ifndef GCACHE_MAS_H
#define GCACHE_MAS_H
#include "gcache/sched.h"
#include "gcache/chat.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gc_method { GC_METHOD_SINGLE = 0, GC_METHOD_TEXTMAS, GC_METHOD_LATENTMAS } gc_method;
typedef enum gc_mas_mode { GC_MAS_SEQUENTIAL = 0, GC_MAS_HIERARCHICAL } gc_mas_mode;

typedef struct gc_prompt_set gc_prompt_set;

// name: an embedded family ("math", "choice", "code") or a path to a .json file.
gc_status gc_prompts_load(const char *name, gc_prompt_set **out);
// The embedded family serving a task name ("gsm8k" → math, "arc" → choice, ...).
gc_status gc_prompts_for_task(const char *task, gc_prompt_set **out);
void gc_prompts_free(gc_prompt_set *p);
const char *gc_prompts_family(const gc_prompt_set *p);

typedef struct gc_mas_params {
    gc_method method;
    gc_mas_mode mode;
    int latent_steps;       // LatentMAS: per non-final agent (default 10)
    gc_pass_mode pass;      // LatentMAS: what each agent hands on (default whole cache)
    bool think;             // append "<think>\n" to prompts (Qwen3: thinking mode)
    int max_tokens;         // final answer length (default 512)
    int agent_max_tokens;   // TextMAS: each intermediate agent's text (default 256)
    gc_chat_style style;    // chat template of the model
} gc_mas_params;

gc_mas_params gc_mas_default_params(void);
gc_status gc_method_from_name(const char *name, gc_method *out);   // single | textmas | latentmas
gc_status gc_mas_mode_from_name(const char *name, gc_mas_mode *out); // sequential | hierarchical
gc_status gc_pass_from_name(const char *name, gc_pass_mode *out);    // whole | own | latent
const char *gc_method_name(gc_method m);

// Builds the agent graph of one question into *g (prompts malloc'd; release
// with gc_mas_clear).
gc_status gc_mas_build(const gc_prompt_set *ps, const gc_mas_params *p, const char *question, uint64_t seed,
                       gc_qgraph *g);
void gc_mas_clear(gc_qgraph *g);

#ifdef __cplusplus
}
#endif
#endif
