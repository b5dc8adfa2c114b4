// `gcache serve`: a local model behind the OpenAI-compatible chat protocol
// of gcache/api.h (libmicrohttpd), so any OpenAI client — and gcache's own
// api_hint / hybrid modes — can use it.
//
// Endpoints: POST /v1/chat/completions (non-streaming), GET /v1/models,
// GET /health. Requests are validated; bad ones get a 4xx status and an
// OpenAI-style error body naming the field. Requests are served one at a
// time on the engine (a mutex), each in a fresh KV cache.
#ifndef GCACHE_SERVER_H
#define GCACHE_SERVER_H
#include "gcache/engine.h"
#include "gcache/model.h"
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gc_server_opts {
    const char *host;          // bind address, default "127.0.0.1"
    int port;                  // 0: an ephemeral port (gc_server_port says which), default 8080
    const char *model_name;    // "model" of /v1/models and of replies; default "gcache"
    int default_max_tokens;    // for requests without max_tokens, default 256
    int max_tokens_limit;      // requests asking for more are 400, default 4096
    size_t max_body_bytes;     // larger request bodies are 413, default 1 MiB
} gc_server_opts;

gc_server_opts gc_server_default_opts(void);

typedef struct gc_server gc_server;

// Starts serving in background threads. m and e stay owned by the caller
// and must outlive the server; the model needs a tokenizer with a chat
// template style gcache knows (gcache/chat.h).
gc_status gc_server_start(const gc_model *m, gc_engine *e, const gc_server_opts *o, gc_server **out);
int gc_server_port(const gc_server *s);
// Stops accepting, finishes the request in flight, frees the server.
void gc_server_stop(gc_server *s);

#ifdef __cplusplus
}
#endif
#endif
