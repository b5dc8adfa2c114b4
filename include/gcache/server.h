// `gcache serve`: a local model behind the OpenAI-compatible chat protocol
// of gcache/api.h (libmicrohttpd), so any OpenAI client — and gcache's own
// api_hint / hybrid modes — can use it.
//
// Endpoints: POST /v1/chat/completions (plain JSON or, with "stream": true,
// Server-Sent Events), GET /v1/models, GET /health. Requests are validated;
// bad ones get a 4xx status and an OpenAI-style error body naming the field.
//
// Concurrency: every connection has its own thread (so /health answers while
// replies generate); one engine thread runs continuous batching: each step
// feeds every running sequence (new prompts and decode tokens together) to
// one gc_engine_forward, and a request that arrives joins the next step.
// Requests past the batch wait in a queue; past the queue they get 503 with
// Retry-After. A client that disconnects cancels its generation.
#ifndef GCACHE_SERVER_H
#define GCACHE_SERVER_H
#include "gcache/engine.h"
#include "gcache/graph_model.h"
#include "gcache/model.h"
#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gc_server_opts {
    const char *host;          // bind address, default "127.0.0.1" (loopback)
    int port;                  // 0: an ephemeral port (gc_server_port says which), default 8080
    const char *model_name;    // "model" of /v1/models and of replies; default "gcache"
    int default_max_tokens;    // for requests without max_tokens, default 256
    int max_tokens_limit;      // requests asking for more are 400, default 4096
    size_t max_body_bytes;     // larger request bodies are 413, default 1 MiB
    int max_batch;             // sequences generated together at most, default 32
    int queue_limit;           // requests waiting for a full batch at most (more: 503), default 256
    int max_n;                 // choices per request at most (more: 400), default 8
    int prefill_rows;          // prompt rows in one engine step at most, over all new requests (decode rows
                               // come on top): a longer prompt enters over several steps, so running
                               // replies keep getting a token every step. 0: unlimited. Default 512
    const char *api_key;       // non-empty: /v1/* need "Authorization: Bearer <key>" (401 otherwise)
    FILE *log;                 // one line per chat request; NULL: none. Default stderr
} gc_server_opts;

gc_server_opts gc_server_default_opts(void);

typedef struct gc_server gc_server;

// Counters for /health and tests.
typedef struct gc_server_stats {
    int64_t requests;        // chat requests accepted
    int64_t steps;           // engine steps run
    int64_t max_step_seqs;   // most sequences in one step
    int64_t tokens;          // completion tokens generated
    int64_t cancelled;       // jobs cancelled (client gone or server stopping)
    int active_seqs;         // sequences in the running batch now
    int queued;              // requests waiting for the batch now
} gc_server_stats;

// Listens (a background thread accepts and a thread per connection answers)
// with no model yet: /health says "loading" (503) and chat requests get 503
// until gc_server_attach. Fails on a bad host or a port in use.
gc_status gc_server_open(const gc_server_opts *o, gc_server **out);
// Hands the server its model and starts the engine thread. m and e stay
// owned by the caller and must outlive the server; the model needs a
// tokenizer with a chat template style gcache knows (gcache/chat.h).
gc_status gc_server_attach(gc_server *s, const gc_model *m, gc_engine *e);
// Serves a multi-agent method (gcache/graph_model.h) under the model name
// `name` as well: a request for that model runs the method on its last user
// message and answers with the decision node's text, usage summed over the
// agents (n = 1, no stop strings). Call before gc_server_attach; g stays
// the caller's and must outlive the server. Its requests run on the engine
// thread in batches of their own, between the steps of the other requests.
gc_status gc_server_set_graph(gc_server *s, const char *name, gc_graph_model *g);
// gc_server_open + gc_server_attach.
gc_status gc_server_start(const gc_model *m, gc_engine *e, const gc_server_opts *o, gc_server **out);
int gc_server_port(const gc_server *s);
void gc_server_get_stats(gc_server *s, gc_server_stats *out);

// Draining: new chat requests get 503 ("draining"), those accepted go on.
void gc_server_drain(gc_server *s);
// Requests accepted and not yet answered (replies still being sent count).
int gc_server_in_flight(gc_server *s);
// Stops: cancels whatever is still running or queued (those clients get
// 503, or an error event on a stream), waits for the replies to go out,
// stops listening, frees the server.
void gc_server_stop(gc_server *s);

#ifdef __cplusplus
}
#endif
#endif
