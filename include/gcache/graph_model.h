// A multi-agent method as a model: one call builds the agent graphs of a
// batch of questions (single / TextMAS / LatentMAS, or the G-cache agent
// graph with a fixed or a trained topology), runs them together on the
// scheduler, and returns each question's decision-node answer with the
// tokens of all its agents. This is what `gcache run` does per batch,
// without datasets, scoring or records; `gcache serve` uses it to answer
// requests for the model name of a method ("gcache-graph").
//
// A handle is used by one thread at a time (it holds a policy and the
// engine's caches while it runs).
#ifndef GCACHE_GRAPH_MODEL_H
#define GCACHE_GRAPH_MODEL_H
#include "gcache/engine.h"
#include "gcache/generate.h"
#include "gcache/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gc_graph_model_spec {
    const char *method;        // "single" | "textmas" | "latentmas" | "gcache"
    const char *prompts;       // prompt family ("math", "choice", "code") or a prompt-set JSON file; NULL: "math"
    const char *mode;          // textmas / latentmas: "sequential" | "hierarchical"; NULL: sequential
    const char *pass;          // "whole" | "own" | "latent"; NULL: the method's default
    int latent_steps;          // latentmas, gcache cache mode (default 10)
    int agent_max_tokens;      // textmas, gcache text mode: each agent's text (default 256)
    bool think;                // prompts end with "<think>\n"
    bool no_realign;           // latent steps without the realignment map
    // gcache only
    const char *topology;      // a fixed topology name (default "FullConnected"), or "Learned"
    const char *policy;        // Learned: a policy checkpoint (policy.ckpt of a trained run)
    bool eval_sample;          // Learned: seeded draws instead of the greedy choices
    int agents, rounds;        // default 4, 1
    bool text_mode;            // GDesigner text mode instead of cache mode
    const char *fuse;          // "concat" (default) | "wsum"
} gc_graph_model_spec;

gc_graph_model_spec gc_graph_model_default_spec(void);

typedef struct gc_graph_model gc_graph_model;

// Checks the spec and prepares what every question shares (prompts, the
// realignment map, the policy and its role embeddings). e and tok must
// outlive the handle.
gc_status gc_graph_model_open(gc_engine *e, const gc_tokenizer *tok, const gc_graph_model_spec *spec,
                              gc_graph_model **out);
// The method a `gcache run` folder ran: its run.json (method, prompts and
// settings) and, for a Learned topology, its policy.ckpt.
gc_status gc_graph_model_open_run(gc_engine *e, const gc_tokenizer *tok, const char *dir, gc_graph_model **out);
void gc_graph_model_free(gc_graph_model *g);
// A short description, e.g. "latentmas sequential (math prompts)".
const char *gc_graph_model_describe(const gc_graph_model *g);

typedef struct gc_graph_answer {
    char *text;                  // the decision node's text (malloc'd)
    gc_finish finish;            // the decision node's
    int64_t prompt_tokens;       // Σ over agents of the prompt tokens they read
    int64_t completion_tokens;   // Σ over agents of the tokens they decoded
    int64_t latent_steps;        // Σ over agents
    int agents;                  // nodes of the graph
} gc_graph_answer;

// Answers n questions in one scheduler run. seeds[i] seeds question i (its
// sampling, a random topology, a sampled policy draw); max_tokens bounds
// the decision node's answer. out (n) is filled; release each with
// gc_graph_answer_clear, also after a failure.
gc_status gc_graph_model_answer(gc_graph_model *g, const char *const *questions, const uint64_t *seeds, int n,
                                const gc_sampler_params *sampling, int max_tokens, gc_graph_answer *out);
void gc_graph_answer_clear(gc_graph_answer *a);

#ifdef __cplusplus
}
#endif
#endif
