// OpenAI-compatible chat API: a client (libcurl) for the api_hint / hybrid /
// API-only generation modes of `gcache run`, and a server (libmicrohttpd,
// `gcache serve`) that puts a local model behind the same protocol.
//
// Protocol subset (both sides): POST {base}/chat/completions with
//   {"model": s, "messages": [{"role": "system"|"user"|"assistant", "content": s}, ...],
//    "max_tokens": n, "temperature": x, "top_p": x, "seed": n, "stream": false}
// answered by
//   {"id": s, "object": "chat.completion", "created": n, "model": s,
//    "choices": [{"index": 0, "message": {"role": "assistant", "content": s},
//                 "finish_reason": "stop"|"length"}],
//    "usage": {"prompt_tokens": n, "completion_tokens": n, "total_tokens": n}}
// and errors as {"error": {"message": s, "type": s}} with a 4xx/5xx status.
#ifndef GCACHE_API_H
#define GCACHE_API_H
#include "gcache/gcache.h"
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---------------------------------------------------------------- settings

// Where the API is and what it costs. Strings are malloc'd (free with
// gc_api_settings_free).
typedef struct gc_api_settings {
    char *base_url;      // e.g. "https://api.openai.com/v1" (a trailing '/' is ignored); required
    char *api_key;       // sent as "Authorization: Bearer <key>"; NULL: no header (local servers)
    char *model;         // the "model" field of requests; required
    double timeout_s;    // per request, default 120
    int max_retries;     // extra tries after 429 / 5xx / transport errors, default 3 (backoff 1 s, 2 s, 4 s ...;
                         // a 429 / 503 with Retry-After waits what it says, at most min(60 s, timeout_s))
    double price_in;     // cost per 1M prompt tokens (any currency), default 0
    double price_out;    // cost per 1M completion tokens, default 0
} gc_api_settings;

// Reads the settings from the environment and, for keys the environment
// does not set, from the .env file `env_file` (NULL: "./.env", which may be
// absent; a named file that does not exist is GC_ERR_IO naming it, and an
// unreadable or malformed one is an error naming the file and line). Keys
// (first one found wins):
//   base URL:  API_BASE_URL, BASE_URL, OPENAI_BASE_URL
//   key:       API_KEY, OPENAI_API_KEY
//   model:     API_MODEL, MODEL_NAME
//   API_TIMEOUT (seconds), API_MAX_RETRIES, API_PRICE_IN, API_PRICE_OUT (per 1M tokens)
// A missing base URL or model is GC_ERR_INVALID_ARG with a message that
// says which variable to set. Numbers are validated: API_TIMEOUT in (0, 1e6],
// API_MAX_RETRIES in [0, 30], prices in [0, 1e12]; empty values count as unset.
gc_status gc_api_settings_load(const char *env_file, gc_api_settings *out);
void gc_api_settings_free(gc_api_settings *s);

// .env syntax, one assignment per line: optional "export ", KEY=VALUE, KEY
// [A-Za-z_][A-Za-z0-9_]*, spaces around '=' allowed, VALUE unquoted (up to
// a " #" comment, trimmed), 'single-quoted' (literal) or "double-quoted"
// (\n \t \\ \" escapes); blank lines and lines starting with '#' are
// skipped. Anything else is an error "<path>:<line>: ...". Calls
// set(user, key, value) per assignment (strings valid during the call).
gc_status gc_dotenv_parse(const char *text, size_t len, const char *path,
                          void (*set)(void *user, const char *key, const char *value), void *user);

// ---------------------------------------------------------------- client

typedef struct gc_api_msg {
    const char *role;      // "system", "user" or "assistant"
    const char *content;
} gc_api_msg;

typedef struct gc_api_request {
    const gc_api_msg *msgs;
    int n_msgs;
    int max_tokens;        // > 0
    double temperature;    // >= 0
    double top_p;          // (0, 1]; 1 = not sent
    int64_t seed;          // < 0: not sent
} gc_api_request;

typedef struct gc_api_reply {
    char *text;                 // the first choice's message content (malloc'd)
    char *finish_reason;        // malloc'd, "" when absent
    int64_t prompt_tokens;      // usage; -1 when the server did not say
    int64_t completion_tokens;
    double seconds;             // wall time of the exchange, retries included
    int attempts;               // HTTP requests made
} gc_api_reply;

typedef struct gc_api gc_api;   // a client: settings + a reusable curl handle; one thread at a time

gc_status gc_api_open(const gc_api_settings *s, gc_api **out);
void gc_api_close(gc_api *a);
// One chat completion. Errors: transport failures and non-2xx statuses
// after the retries (message: HTTP status and the server's error.message),
// malformed replies (message names the missing / invalid field).
gc_status gc_api_chat(gc_api *a, const gc_api_request *r, gc_api_reply *out);
void gc_api_reply_free(gc_api_reply *r);
// The reply parser on its own (tests, fuzzing): a chat.completion body.
gc_status gc_api_parse_reply(const char *body, size_t len, gc_api_reply *out);
// Cost of a reply under the settings' prices (0 when usage is unknown).
double gc_api_cost(const gc_api_settings *s, const gc_api_reply *r);

#ifdef __cplusplus
}
#endif
#endif
