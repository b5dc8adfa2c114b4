// The evaluation harness and the policy-training loop of `gcache run`, as
// library calls.
//
// A gc_run evaluates one method on questions of one task: it builds each
// question's agent graph (gc_mas_build / gc_graph_build), runs the graphs
// `batch` at a time on the scheduler, scores the decision node's answer and
// hands one record per question (a JSON object, one line of results.jsonl)
// to on_record. With an output folder it also appends the records to
// OUT/results.jsonl (flushed as each finishes), writes OUT/run.json (the
// manifest: method, task, dataset, model, settings) when it starts and
// OUT/summary.json when it ends, and resumes an interrupted run (refusing a
// folder written by another run, naming what differs).
//
// A gc_train is the REINFORCE loop of the learned topology over a run's
// training questions: iteration `it` samples a graph for each of batch_size
// questions t0 + (it·B + k) mod n_train, runs and scores them, and takes one
// Adam step (gc_policy_update). One call per iteration (gc_train_step) or all
// of them (gc_train_all). A run with topology "Learned" and no policy of its
// own trains first (gc_run_execute), as `gcache run` does.
//
// Ownership: gc_run_open copies the params and every string in them; the
// handles under "borrowed" stay the caller's and must outlive the run. A run
// owns what it opens (dataset, model, engine, realignment, files). Records
// and log lines handed to callbacks live only during the call.
// Errors: gc_status plus gc_last_error(), as everywhere in gcache.
// A run is not thread-safe; it drives its engine from the calling thread.
#ifndef GCACHE_RUN_H
#define GCACHE_RUN_H
#include "gcache/engine.h"
#include "gcache/eval.h"
#include "gcache/latent.h"
#include "gcache/learn.h"
#include "gcache/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gc_run gc_run;
typedef struct gc_train gc_train;

// Who writes the decision node's answer: the local model, or an
// OpenAI-compatible API (settings from the environment / env_file, gcache/api.h)
// told about the cache it cannot see (API_HINT) or refining the local draft (HYBRID).
typedef enum gc_run_gen_mode { GC_RUN_GEN_LOCAL = 0, GC_RUN_GEN_API_HINT, GC_RUN_GEN_HYBRID } gc_run_gen_mode;

// The layer gates of the received caches (cache-mode agent graphs): as the
// policy chooses them (LEARNED; fixed topologies keep every gate on), or
// forced on / off in every layer of every received cache, for ablations. The
// policy is built, sampled and trained the same way in all three (it still
// learns gates); only the gates applied to the caches differ, so OFF hides
// everything the other agents hand on.
typedef enum gc_run_gates { GC_RUN_GATES_LEARNED = 0, GC_RUN_GATES_ON, GC_RUN_GATES_OFF } gc_run_gates;

// Progress of the phases of a run: "training the policy" (unit "it") and
// the evaluation (unit "q"). BEGIN gives total and start (items finished
// before this run, e.g. by a resumed one), each TICK the items done so far
// and a short note, END closes the phase.
typedef enum gc_run_phase_event { GC_RUN_BEGIN = 0, GC_RUN_TICK, GC_RUN_END } gc_run_phase_event;
typedef struct gc_run_progress {
    gc_run_phase_event event;
    const char *label;   // "latentmas gsm8k", "training the policy", ...
    const char *unit;    // "q" or "it"
    int64_t total, start, done;
    const char *note;    // TICK: "1.2 s/question", "utility 0.50 loss 0.123"; else NULL
} gc_run_progress;

// record: one results.jsonl line (a JSON object, no newline). Returning
// false stops the run (gc_run_execute fails with GC_ERR_INVALID_ARG).
typedef bool (*gc_run_record_fn)(void *user, const char *record);
typedef void (*gc_run_progress_fn)(void *user, const gc_run_progress *p);
// Notes for the user: dataset warnings, "resuming: 3 questions already done", ...
typedef void (*gc_run_note_fn)(void *user, const char *note);

// Defaults (gc_run_default_params) in parentheses; they are `gcache run`'s.
typedef struct gc_run_params {
    // ---- what runs ----
    const char *method;       // single | textmas | latentmas | gcache | api (the API alone, no model)
    const char *task;         // gsm8k aime arc gpqa medqa mmlu humaneval mbpp
    const char *dataset;      // the task file (recorded in run.json); unused when `questions` is given
    const char *model;        // model path (recorded in run.json); opened unless `model_handle` is given
    gc_engine_params engine;  // how the run opens the model (device and exact are recorded in run.json)
    const char *prompts;      // a prompt-set JSON file (NULL: the task's embedded set)
    int64_t max_samples;      // questions from offset on (-1: all)
    int64_t offset;           // (0)
    int batch;                // questions run together in one scheduler batch (8), ≥ 1
    uint64_t seed;            // (0): sampling, and per question seed·1000003 + index
    bool strict;              // a malformed dataset record is fatal (false: skipped with a note)
    // ---- decoding ----
    int max_tokens;           // final answer (512)
    int agent_max_tokens;     // TextMAS / text-mode agents (256)
    double temperature;       // (0.6), 0 = greedy
    double top_p;             // (0.95)
    int top_k;                // (0, off)
    bool think;               // prompts end with <think>
    // ---- LatentMAS / TextMAS ----
    const char *mode;         // sequential | hierarchical ("sequential")
    const char *pass;         // whole | own | latent (NULL: the method's default)
    int latent_steps;         // (10)
    bool realign;             // (true) feed hidden states back through the realignment matrix
    // ---- agent graph (method gcache) ----
    const char *topology;     // DirectAnswer FullConnected Chain Star Layered Mesh Debate Random Learned ("FullConnected")
    int agents, rounds;       // (4, 1)
    bool text_mode;           // agents exchange text (GDesigner) instead of KV caches
    const char *fuse;         // concat | wsum ("concat")
    bool score_answer;        // record the decision node's log p of the gold answer (answer_logp)
    gc_run_gates gates;       // (LEARNED)
    // ---- learned topology ----
    int64_t train_iters;      // (10)
    int batch_size;           // questions per training iteration (4)
    int64_t train_offset;     // first training question (-1: offset; evaluation follows the training range)
    double lr;                // Adam step (0.1)
    double edge_temperature;  // τ of the edge sigmoids (1)
    bool baseline;            // running-mean REINFORCE baseline (true)
    const char *reward;       // correct | likelihood ("correct")
    const char *eval_policy;  // greedy | sample ("greedy")
    // ---- output ----
    const char *out;          // results folder (NULL: no files; records go to on_record only)
    bool resume;              // continue the run in `out`
    const char *trace;        // a JSON line per scheduler event (NULL: none)
    bool profile;             // each scheduler batch prints its seconds in the engine and in the scheduler
                              // to stderr (gc_sched_params.profile; false)
    int prefill_rows;         // prompt rows one engine step feeds at most (gc_sched_params.prefill_rows);
                              // 0: the engine's default, gc_engine_prompt_rows (0)
    const char *checkpoint;   // folder of policy.ckpt + train_log.jsonl (NULL: out; neither: no files)
    // ---- API answers ----
    gc_run_gen_mode gen_mode; // (LOCAL)
    const char *env_file;     // API settings file (NULL: ./.env when present)
    int api_concurrency;      // API requests in flight at once (8)
    // ---- borrowed (NULL: opened from the paths above) ----
    gc_model *model_handle;
    gc_engine *engine_handle;       // with model_handle: both or neither
    const gc_realign *realignment;  // for `realign` on this model
    const gc_dataset *questions;    // the task's questions (`dataset` then only names them)
    gc_policy *policy;              // Learned: evaluate this policy, no training
    // ---- callbacks (each may be NULL) ----
    gc_run_record_fn on_record;
    gc_run_progress_fn on_progress;
    gc_run_note_fn on_note;
    void *user;
} gc_run_params;

gc_run_params gc_run_default_params(void);
// The option checks that need no file: names (method, task, mode, pass,
// topology, fuse, reward, eval_policy), ranges and combinations. GC_OK or
// GC_ERR_INVALID_ARG with the message. gc_run_open calls it too.
gc_status gc_run_params_check(const gc_run_params *p);

// Loads the questions, the model (unless borrowed), the prompts, the API
// settings and the realignment, checks a resumed folder against its
// run.json, then creates `out` with run.json and results.jsonl. Everything
// that can fail on the user's input fails before `out` is created; if a
// later step fails, what was created is removed again. Free with gc_run_free.
gc_status gc_run_open(const gc_run_params *p, gc_run **out);
void gc_run_free(gc_run *r);

// The whole run: trains first (topology Learned without a borrowed policy;
// resumed from the checkpoint folder's policy.ckpt), then evaluates every
// question of the range not yet in the results, then writes summary.json.
// Stops at the first failure (the records written so far stay).
gc_status gc_run_execute(gc_run *r);
// "latentmas gsm8k", "gcache Chain cache gsm8k", ...: what the run is.
const char *gc_run_label(const gc_run *r);
// The summary summary.json holds (after gc_run_execute with an output folder); false when none.
bool gc_run_summary(const gc_run *r, gc_results_summary *out);
// The folder of results.jsonl (NULL without one).
const char *gc_run_out_dir(const gc_run *r);

// One training iteration's outcome.
typedef struct gc_train_iter {
    int64_t iter;          // the iteration taken (0-based)
    int64_t n_iters;       // the run's train_iters
    gc_train_stats stats;  // utility, loss, baseline, gradient norm (gcache/learn.h)
    const char *log_line;  // its train_log.jsonl line (JSON object, no newline); valid until the next step
} gc_train_iter;
typedef void (*gc_train_iter_fn)(void *user, const gc_train_iter *it);

// The training loop of a run whose topology is Learned, on its training
// questions and settings. policy: continue training this one (borrowed, from
// its step on); NULL: a new policy seeded by the run's seed, or, when the run
// resumes, the one saved in its checkpoint folder. With a checkpoint folder
// (params checkpoint or out) policy.ckpt is rewritten after every step and
// train_log.jsonl gets one line per iteration. Free with gc_train_free.
gc_status gc_train_open(gc_run *r, gc_policy *policy, gc_train **out);

// Where a training loop gets its questions' features and its utilities from.
// A run is one such environment (features from the model's embeddings,
// utilities from running the sampled graphs and scoring their answers); a
// test or another application can bring its own.
typedef struct gc_train_env {
    int64_t first, n;      // the training questions [first, first + n), cycled through (n = 0: no training)
    int64_t n_iters;       // iterations in all (the policy's step counts those already taken)
    // Node features (N, F) of question q, written to x.
    gc_status (*features)(void *user, int64_t q, double *x);
    // u[k]: the utility of choice samples[k] for question q[k], k < n.
    gc_status (*utilities)(void *user, const int64_t *q, gc_sample *const *samples, int n, double *u);
    void *user;
    const char *const *roles;            // N role names for the log lines (NULL: none); must outlive the loop
    const char *policy_path;             // rewritten after every step (NULL: not saved)
    const char *log_path;                // a log line per iteration (NULL: none)
    bool append_log;                     // append to log_path instead of rewriting it
} gc_train_env;

// The loop on any environment: iteration `it` (= the policy's step) samples,
// with dropout, a choice for each of batch_size questions
// first + (it·B + k) mod n, asks env for their utilities and takes one Adam
// step. policy stays the caller's. Free with gc_train_free.
gc_status gc_train_open_env(gc_policy *policy, const gc_train_env *env, int batch_size, gc_train **out);
// Runs the next iteration and fills *it; *took is false (and nothing runs)
// once every iteration is done. it may be NULL.
gc_status gc_train_step(gc_train *t, gc_train_iter *it, bool *took);
// Every remaining iteration; on_iter (may be NULL) after each.
gc_status gc_train_all(gc_train *t, gc_train_iter_fn on_iter, void *user);
// The policy being trained (owned by t unless it was given to gc_train_open).
gc_policy *gc_train_policy(const gc_train *t);
// Hands the policy to the caller (who frees it); NULL when it was borrowed.
gc_policy *gc_train_take_policy(gc_train *t);
// The first question after the training range (where `gcache run` evaluates from).
int64_t gc_train_next_offset(const gc_train *t);
// Iterations taken so far, counting those of a resumed or given policy.
int64_t gc_train_iters_done(const gc_train *t);
void gc_train_free(gc_train *t);

#ifdef __cplusplus
}
#endif
#endif
