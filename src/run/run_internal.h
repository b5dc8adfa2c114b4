// What the files of src/run/ share: the run handle and the steps that
// make up gc_run_execute.
//   run.c           params, open (the order of checks, OUT created / undone), free
//   run_manifest.c  OUT/run.json: writing it, comparing a resumed folder with it
//   run_graph.c     each question's graph: methods, fixed and learned topologies, forced gates
//   run_batch.c     batches on the scheduler, scoring, records, the trace file
//   run_api.c       answers from an OpenAI-compatible API (--gen-mode, --method api)
//   run_execute.c   the whole run: training, then the evaluation range
//   train.c         the REINFORCE loop (gc_train_*)
#ifndef GC_RUN_INTERNAL_H
#define GC_RUN_INTERNAL_H
#include "gcache/api.h"
#include "gcache/graph.h"
#include "gcache/mas.h"
#include "gcache/run.h"
#include <cjson/cJSON.h>
#include <stdio.h>

#define RUN_MANIFEST "run.json"

// How a question's graph is made.
typedef enum run_kind { RUN_MAS = 0, RUN_FIXED, RUN_LEARNED } run_kind;
// How the learned policy picks an evaluated question's topology and fuser.
typedef enum run_pick { PICK_GREEDY = 0, PICK_SAMPLE } run_pick;

struct gc_run {
    gc_run_params p;            // a copy; its strings point into `strings`
    char **strings;             // the copies of p's strings (n_strings of them)
    int n_strings;
    char *out_dir;              // NULL: no files
    char *label;
    // questions
    gc_dataset *own_ds;
    const gc_dataset *ds;
    gc_task task;
    gc_answer_kind kind;
    // model
    gc_model *m;
    gc_engine *e;
    bool own_model;
    const gc_tokenizer *tok;
    gc_chat_style style;
    gc_realign *own_ra;
    const gc_realign *ra;
    gc_prompt_set *ps;
    gc_sched_params sp;
    // the method
    run_kind how;
    gc_mas_params mp;
    gc_graph_params gp;
    gc_topology topo;
    bool score;                 // teacher-forced score of the gold answer on the decision node
    bool likelihood;            // ... and it is the training utility
    run_pick eval_pick;
    uint8_t forced_gate[GC_MAX_LAYERS];   // gates ON / OFF: the gate every layer gets
    // learned topology
    gc_policy *policy;          // the one evaluated (borrowed, or the training's)
    gc_policy *own_policy;
    double *role_emb;           // (N, D) role-description embeddings (computed once)
    int64_t D, n_layers;
    gc_sample *samples;         // evaluation: one per question of a batch (n_samples = batch)
    int n_samples;
    int64_t train_first, train_n;   // training questions [train_first, train_first + train_n)
    int64_t eval_first, eval_count; // evaluated questions
    // output
    gc_results *res;
    FILE *trace;
    const char **batch_ids;     // ids of the batch in flight (trace lines), NULL while training
    cJSON *manifest;
    char *created_from;         // while opening: the first folder of OUT this run created
    bool wrote_manifest;
    gc_results_summary summary;
    bool has_summary;
    // API
    gc_api **api;
    int n_api;
    gc_api_settings api_set;
};

// A note for the user (printf-style).
void run_note(const gc_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// Progress events.
void run_progress(const gc_run *r, gc_run_phase_event ev, const char *label, const char *unit, int64_t total,
                  int64_t start, int64_t done, const char *note);
double run_now(void);

// run_manifest.c
cJSON *run_manifest_new(const gc_run *r);
gc_status run_manifest_write(const char *out_dir, const cJSON *m);
// GC_OK when the run described by `now` may resume into out_dir; else
// GC_ERR_INVALID_ARG naming what differs from out_dir's run.json (or its
// records' method).
gc_status run_manifest_check(const gc_run *r, const char *out_dir, const cJSON *now);

// run_graph.c
// Sets up the method's parameters (names resolved, prompts loaded).
gc_status run_graph_setup(gc_run *r);
// The (N, 2D) node features of question qi: [embed(role_i) ‖ embed(question)].
gc_status run_features(gc_run *r, int64_t qi, double *x);
// The evaluated graph of question qi, k-th of its batch (a learned
// topology's choice is picked into samples[k]).
gc_status run_graph_build(gc_run *r, int k, int64_t qi, gc_qgraph *g);
// The learned topology's graph of question qi for a given choice.
gc_status run_graph_build_sample(gc_run *r, int64_t qi, const gc_sample *smp, gc_qgraph *g);
// The method's fields of an evaluated record (topology, fuser).
void run_graph_record(gc_run *r, int k, int64_t qi, cJSON *rec);
// Policy parameters of this run (N agents, 2D features, L layers, learned groups).
gc_policy_params run_policy_params(const gc_run *r);
// GC_OK when a given policy fits this model and graph (agents, features, layers).
gc_status run_check_policy(const gc_run *r, const gc_policy *pol);
cJSON *run_topo_json(const gc_topo *t);

// run_batch.c
// Extracts and scores the answer `text` of question qi; adds task details
// (the code sandbox's outcome) to rec; *pred gets the prediction (malloc'd or NULL).
bool run_score(const gc_run *r, int64_t qi, const char *text, char **pred, cJSON *rec);
// Evaluates questions idx[0..n) in batches, records each; *done counts them.
gc_status run_batches(gc_run *r, const int64_t *idx, int64_t n, int64_t *done);
void run_trace_event(void *user, const gc_sched_event *ev);

// run_api.c
bool run_uses_api(const gc_run_params *p);
const char *run_gen_mode_name(gc_run_gen_mode m);
gc_status run_api_open(gc_run *r);
void run_api_close(gc_run *r);
// Asks the API for the answers of n questions (qi[k], graph gs[k]), up to
// n_api requests at a time. For each question k < *n_ok, in order: the output
// node's text becomes the API's, extra[k] gets the record's extra fields and
// seconds[k] the exchange's wall time. A failure stops at that question.
gc_status run_api_answers(gc_run *r, const int64_t *qi, gc_qgraph *gs, int n, cJSON **extra, double *seconds,
                          int *n_ok);

#endif
