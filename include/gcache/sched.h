// The agent scheduler: runs the agent graphs of many questions together.
//
// Every question is a DAG of agent nodes. A node starts when its
// predecessors are done: its input cache is the concatenation of what each
// predecessor exposes (cache mode), or its prompt receives their text (text
// mode). It then appends its prompt, runs its latent steps, and/or decodes
// text. At every tick the scheduler puts every ready node of every question
// into ONE engine step — prompt prefills, latent steps and decode tokens
// mixed — so the weights are read once per tick for the whole batch.
#ifndef GCACHE_SCHED_H
#define GCACHE_SCHED_H
#include "gcache/engine.h"
#include "gcache/generate.h"
#include "gcache/latent.h"
#include "gcache/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GC_MAX_PREDS 16
#define GC_MAX_NODES 64

// What a finished node hands to its successors.
typedef enum gc_pass_mode {
    GC_PASS_WHOLE = 0,   // its whole cache (input + own prompt + latent steps)
    GC_PASS_OWN,         // only the positions it added (prompt + latent steps)
    GC_PASS_LATENT,      // only its latent positions
} gc_pass_mode;

// How a node combines the caches it receives (cache mode).
typedef enum gc_fuse_mode {
    GC_FUSE_CONCAT = 0,   // pred₀ ‖ pred₁ ‖ … along the sequence (zero-copy)
    GC_FUSE_WSUM,         // Σ wᵢ·predᵢ over their last min-length positions
} gc_fuse_mode;

typedef struct gc_node {
    // ---- spec (set by the caller) ----
    const char *role;          // for logs / results
    int n_preds;
    int preds[GC_MAX_PREDS];   // indices of earlier nodes of the same question
    bool text_in;              // predecessors' text replaces "{context}" in the prompt
    const char *prompt;        // chat-formatted prompt text ("{context}" allowed with text_in)
    int latent_steps;          // m latent steps after the prompt
    int max_tokens;            // > 0: decode up to this many tokens of text
    gc_pass_mode pass;
    gc_fuse_mode fuse;
    float fuse_w[GC_MAX_PREDS];  // GC_FUSE_WSUM weights, one per predecessor
    const uint8_t *gate;       // (n_layers) 0 hides the received cache in that layer; NULL = all on
    // Optional teacher-forced scoring: where decoding would begin (after the
    // prompt and latent steps), score_prefix then score_text are fed on a
    // fork of the node's cache, and the log-probabilities of score_text's
    // tokens are summed (a dense training signal: how likely the node finds
    // the known answer). Runs in the same engine steps as everything else.
    const char *score_prefix, *score_text;
    // ---- results (filled by gc_sched_run) ----
    char *text;                // decoded text (malloc'd) or NULL
    int64_t prompt_tokens, out_tokens, latent_done;
    int64_t cache_in_len;      // positions received from predecessors
    int64_t cache_out_len;     // positions exposed to successors
    size_t cache_out_bytes;
    gc_finish finish;
    double t_start, t_end;     // seconds since the run began
    double score_logp;         // Σ log p(score_text tokens), when scored
    int64_t score_tokens;      // how many tokens that sum covers (0: not scored)
} gc_node;

typedef struct gc_qgraph {
    int n_nodes;
    gc_node nodes[GC_MAX_NODES];   // in topological order (preds have lower indices)
    int output;                    // the node whose text is the answer
    uint64_t seed;                 // sampling seed of this question
    double t_done;                 // seconds since the run began when its last node finished
} gc_qgraph;

// Step-by-step events, for --trace files and live logs.
typedef enum gc_sched_event_kind { GC_EV_NODE_START, GC_EV_NODE_DONE, GC_EV_QUESTION_DONE } gc_sched_event_kind;

typedef struct gc_sched_event {
    gc_sched_event_kind kind;
    int question, node;          // indices into the graphs array / its nodes
    const gc_qgraph *graph;      // node results are filled in for NODE_DONE
    double t;                    // seconds since the run began
} gc_sched_event;

typedef void (*gc_sched_event_fn)(void *user, const gc_sched_event *ev);

typedef struct gc_sched_params {
    gc_sampler_params sampling;
    gc_sched_event_fn on_event;    // optional
    void *user;
    const gc_realign *realign;     // required when any node has latent steps
    const char *stop[GC_MAX_STOP]; // extra stop strings for decoding nodes
    int prefill_rows;              // most prompt rows in one engine step, over all nodes (prompts and scoring
                                   // text; latent and decode rows come on top): a longer prompt is fed over
                                   // several steps, so decoding nodes keep getting a token every step.
                                   // 0: unlimited (a prompt enters whole). Default GC_SCHED_PREFILL_ROWS
    bool profile;                  // a debug switch: at its end, gc_sched_run prints to stderr the seconds it spent
                                   // in engine steps, in its own work after them, and in all (default false)
} gc_sched_params;

#define GC_SCHED_PREFILL_ROWS 512

// Greedy sampling, no callback, no realignment map, no stop strings,
// prefill_rows GC_SCHED_PREFILL_ROWS, no profile.
gc_sched_params gc_sched_default_params(void);

// Node `node`'s prompt as the model reads it: its prompt text with
// "{context}" (text_in nodes) replaced by the predecessors' texts, each as
// "[role]:\n<text>\n\n". malloc'd; NULL when out of memory.
char *gc_node_prompt(const gc_qgraph *g, int node);

// Runs all graphs to completion. Node results are filled in; the caller
// frees them with gc_qgraph_clear. On failure the graphs hold partial results.
gc_status gc_sched_run(gc_engine *e, const gc_tokenizer *tok, gc_qgraph *const *graphs, int n,
                       const gc_sched_params *p);
void gc_qgraph_clear(gc_qgraph *g);

#ifdef __cplusplus
}
#endif
#endif
