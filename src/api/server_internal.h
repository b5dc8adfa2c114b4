// Pieces of `gcache serve` shared by its parts:
//   server.c        HTTP (libmicrohttpd, a thread per connection): routing,
//                   auth, replies, Server-Sent Events
//   server_req.c    validation of a chat-completions request body
//   server_batch.c  the engine thread: continuous batching of every request's
//                   sequences into shared engine steps
//   server_log.c    per-request log lines and ids
//
// Threads: connection threads parse, tokenize and queue a job, then wait on
// the job's condition variable; one engine thread runs every step. The
// server mutex guards the queue, the counters and every field of a job
// marked "shared"; "engine" fields are touched by the engine thread only.
#ifndef GC_API_SERVER_INTERNAL_H
#define GC_API_SERVER_INTERNAL_H
#include "core/json.h"
#include "core/strbuf.h"
#include "gcache/chat.h"
#include "gcache/generate.h"
#include "gcache/server.h"
#include <pthread.h>
#include <stdio.h>

#define SRV_MAX_STOP 4   // OpenAI's limit on stop strings

// ---------------------------------------------------------------- requests

typedef struct srv_limits {
    int default_max_tokens;   // when the request names none
    int max_tokens_limit;     // larger is 400
    int max_n;                // larger n is 400
} srv_limits;

// A validated chat-completions request. Strings point into the request's
// cJSON tree, except the texts joined from content-part arrays (owned).
typedef struct srv_request {
    gc_chat_msg *msgs;
    size_t n_msgs;
    const char *model;        // NULL when absent
    int max_tokens;           // max_completion_tokens, else max_tokens, else the default
    gc_sampler_params sampling;
    bool seed_given;          // false: the server draws a fresh seed
    int n;                    // choices
    const char *stop[SRV_MAX_STOP + 1];   // NULL-terminated
    int n_stop;
    bool stream, include_usage;
    char **owned;             // joined content parts
    size_t n_owned;
} srv_request;

// Validates `root` into r. Result-changing fields the server does not
// implement (logprobs, tools, response_format json, penalties, ...) are
// refused by name; fields that change nothing (user, metadata, ...) are
// ignored. On failure gc_last_error() names the field and *status is the
// HTTP status (400, or 500 when out of memory). Free r with srv_request_free
// either way.
gc_status srv_parse_chat(const srv_limits *lim, const cJSON *root, srv_request *r, unsigned *status);
void srv_request_free(srv_request *r);
// The last message with role "user" (the graph model's question), or NULL.
const char *srv_last_user(const srv_request *r);

// ---------------------------------------------------------------- jobs

typedef enum srv_state { SRV_QUEUED = 0, SRV_RUNNING, SRV_DONE } srv_state;

typedef struct srv_choice {
    gc_strbuf text;      // shared: final text so far (never a possible stop-string prefix)
    int64_t tokens;      // shared: completion tokens
    int finish;          // shared: -1 while running, else a gc_finish
} srv_choice;

// One request on its way through the engine. Freed when both holders (the
// connection and the engine thread) have released it.
typedef struct srv_job {
    // ---- fixed once queued
    char id[48];               // "chatcmpl-..." (also the log's request id)
    int32_t *prompt;           // owned; chat jobs only
    int64_t n_prompt;
    int max_tokens;            // clipped to the model's context
    gc_sampler_params sampling;  // seed resolved
    char *stop[SRV_MAX_STOP + 1];   // owned, NULL-terminated
    int n;                     // choices
    bool stream;
    char *question;            // graph jobs: the question (owned); NULL for chat jobs
    double t_queued;
    // ---- shared
    int refs;
    bool counted;              // in the server's n_jobs (it was queued)
    srv_state state;
    bool cancel;               // stop generating: the client left, or the server stops
    bool client_gone;          // the client left (nobody reads the reply)
    bool started;              // the first step ran (a stream may begin)
    unsigned err_status;       // != 0 when it failed (with err_msg)
    char err_msg[512];
    srv_choice *ch;            // (n)
    int64_t usage_prompt, usage_completion;
    double t_start, t_done;
    pthread_cond_t cv;         // signalled on every change
    struct srv_job *next;      // queue link
    // ---- engine
    gc_graph_answer e_answer;  // graph jobs: the method's answer, until published
    bool e_answered;
    int e_live;                // sequences still generating (graph jobs: 1 until answered)
    bool e_failed;
    unsigned e_status;
    char e_msg[512];
} srv_job;

struct gc_server {
    struct MHD_Daemon *d;
    gc_server_opts o;          // strings point at the owned copies below
    char *name, *api_key;
    int port;
    char *graph_name;          // the graph model's name, or NULL
    gc_graph_model *graph;
    // ---- the model, set once by gc_server_attach
    const gc_model *m;
    gc_engine *e;
    const gc_tokenizer *tok;
    gc_chat_style style;
    int64_t n_ctx, vocab;
    // ---- shared
    pthread_mutex_t mu;
    pthread_cond_t work;       // the engine thread waits for jobs
    pthread_cond_t idle;       // signalled when a job is freed
    bool ready, draining, stopping;
    srv_job *q_head, *q_tail;
    int n_queued;              // jobs waiting for the batch
    int queued_seqs;           // their sequences (choices)
    int n_jobs;                // jobs alive (queued, running, or a reply being sent)
    int active_seqs;           // sequences in the running batch
    unsigned cancel_status;    // != 0: cancel every running job with this status ...
    char cancel_msg[256];      // ... and message (the server stops)
    gc_server_stats st;
    double sum_job_s;          // seconds of finished jobs (Retry-After estimate)
    int64_t n_job_s;
    unsigned long long next_id;
    uint32_t id_nonce;
    pthread_t engine;
    bool engine_started;
};

// A job with n choices, held once (by its creator).
srv_job *srv_job_new(int n);
// Queues j and adds the engine's hold. On refusal (not
// ready, draining, queue full) returns false with *status / msg set and
// *retry_after (seconds, 0: none).
bool srv_submit(gc_server *S, srv_job *j, unsigned *status, char *msg, size_t msg_len, int *retry_after);
// Drops the caller's hold; the last holder frees the job.
void srv_job_release(gc_server *S, srv_job *j);
// Cancels every job (queued and running) with status / message; mu held.
void srv_cancel_all_locked(gc_server *S, unsigned status, const char *msg);
void *srv_engine_main(void *server);

// A fresh request id into id (48 bytes) and a fresh seed.
void srv_new_id(gc_server *S, char *id);
uint64_t srv_fresh_seed(void);
// The per-request log line of a finished job (no-op without a log file).
void srv_log_job(gc_server *S, const srv_job *j);
double srv_now(void);

#endif
