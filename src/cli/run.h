// Shared state of `gcache run` (cmd_run.c: options, batches, records;
// run_gcache.c: the agent-graph method with policy training).
#ifndef GC_CLI_RUN_H
#define GC_CLI_RUN_H
#include "cli/run_io.h"
#include "gcache/api.h"
#include "gcache/graph.h"
#include <stdio.h>

// Who writes the decision node's answer (run_api.c).
typedef enum run_gen_mode { RUN_GEN_LOCAL, RUN_GEN_API_HINT, RUN_GEN_HYBRID } run_gen_mode;

typedef struct run_opts {
    const char *method, *task, *dataset, *model, *out, *prompts, *trace, *mode, *pass, *topology, *fuse, *checkpoint, *reward;
    const char *eval_policy;   // Learned topology: greedy | sample
    long long max_samples, offset, batch, seed, max_tokens, agent_max_tokens, latent_steps, top_k;
    long long agents, rounds, train_iters, batch_size;
    long long train_offset;   // Learned: first training question (-1: --offset, evaluation after the training range)
    double temperature, top_p, lr, edge_temperature;
    bool resume, strict, think, no_realign, text_mode, no_baseline, score_answer;
    int device;   // GC_DEVICE_CPU / GC_DEVICE_CUDA
    int threads;  // CPU threads (0: the usable cores)
    bool exact;   // the CPU's exact f32 path (gc_engine_params.exact)
    run_gen_mode gen_mode;
    const char *env_file;   // API settings file (NULL: ./.env)
    long long api_concurrency;   // API requests in flight at once (default 8)
} run_opts;

typedef struct run_ctx run_ctx;
// Called with each finished question's record before it is written (adds fields).
typedef void (*run_record_fn)(run_ctx *c, int64_t qi, const gc_qgraph *g, cJSON *rec);
// Builds the graph of question qi.
typedef gc_status (*run_build_fn)(run_ctx *c, int64_t qi, gc_qgraph *g, void *user);

struct run_ctx {
    const run_opts *o;
    char out_dir[1024];
    runio_set *data;
    gc_model *m;
    gc_engine *e;
    const gc_tokenizer *tok;
    gc_chat_style style;
    gc_prompt_set *ps;
    gc_realign *ra;
    runio_results *res;
    FILE *trace;
    gc_sched_params sp;
    const char **batch_ids;     // ids of the batch in flight (for trace lines)
    run_record_fn on_record;
    void *user;
    gc_api **api;               // n_api clients (one per concurrent request) when the run asks an API
    int n_api;
    gc_api_settings api_set;
    cJSON *manifest;            // what OUT/run.json records (run_manifest.c)
    char *created_from;         // while starting: the first directory of OUT this run created
    bool wrote_manifest;
};

run_opts run_default_opts(void);
int run_open(run_ctx *c, const run_opts *o);
void run_close(run_ctx *c);
gc_sched_params run_sched_params(run_ctx *c);
int64_t run_pending(run_ctx *c, int64_t first, int64_t count, int64_t *idx);
cJSON *run_record(run_ctx *c, int64_t qi, const gc_qgraph *g, double wall_s, double batch_s, int batch_n);
void run_trace_event(void *user, const gc_sched_event *ev);
int run_batches(run_ctx *c, const int64_t *idx, int64_t n, run_build_fn build, void *user, runio_progress *pb,
                int64_t *done);
int run_gcache(const run_opts *o);

// OUT/run.json (run_manifest.c): method, task, dataset, model, API and the
// settings that change results, with file fingerprints.
#define RUN_MANIFEST "run.json"
cJSON *run_manifest_new(const run_ctx *c);
gc_status run_manifest_write(const char *out_dir, const cJSON *m);
// 0 when a run described by `now` may resume into out_dir; else prints what
// differs from out_dir's run.json (or its records' method) and returns 1.
int run_manifest_check(const char *out_dir, const cJSON *now);

// API answers (run_api.c).
int run_gen_mode_from_name(const char *name, run_gen_mode *out);
const char *run_gen_mode_name(run_gen_mode m);
bool run_uses_api(const run_opts *o);
int run_api_open(run_ctx *c);
void run_api_close(run_ctx *c);
int run_chatml_split(char *text, gc_api_msg *msgs, int cap);
// Asks the API for the answers of n questions (qi[k], graph gs[k]; after
// the local graphs ran, or instead of them for --method api), up to
// n_api requests at a time. For each question k < *n_ok, in order: the
// output node's text becomes the API's, extra[k] gets the record's extra
// fields (api usage, cost, draft) and seconds[k] the exchange's wall time.
// A failure stops at that question (*n_ok of them done) with its error.
gc_status run_api_answers(run_ctx *c, const int64_t *qi, gc_qgraph *gs, int n, cJSON **extra, double *seconds,
                          int *n_ok);

#endif
