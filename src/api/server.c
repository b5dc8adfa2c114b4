// OpenAI-compatible server for a local model (gcache/server.h), on
// libmicrohttpd with its internal polling thread: bodies are gathered per
// connection, then each complete request is answered under one mutex (the
// engine steps one request at a time), in a fresh KV cache.
#include "gcache/server.h"
#include "core/error.h"
#include "core/json.h"
#include "gcache/chat.h"
#include "gcache/generate.h"
#include "gcache/kv.h"
#include "gcache/tokenizer.h"
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CONNECTIONS 256

struct gc_server {
    struct MHD_Daemon *d;
    const gc_model *m;
    gc_engine *e;
    const gc_tokenizer *tok;
    gc_chat_style style;
    int64_t n_ctx;              // the model's context: prompt + reply positions at most
    gc_server_opts o;
    char *name;                 // owned copy of o.model_name
    pthread_mutex_t mu;         // one request on the engine at a time
    unsigned long long served;  // completion ids
    int port;
};

// A connection's request body, gathered across upload callbacks.
typedef struct body {
    char *p;
    size_t len, cap;
    bool too_big;
    bool oom;
} body;

gc_server_opts gc_server_default_opts(void) {
    return (gc_server_opts){.host = "127.0.0.1", .port = 8080, .model_name = "gcache", .default_max_tokens = 256,
                            .max_tokens_limit = 4096, .max_body_bytes = (size_t)1 << 20};
}

// ---------------------------------------------------------------- replies

// Sends obj (consumed) as JSON with the given status.
static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, cJSON *obj) {
    char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    if (!text) {
        static char oom[] = "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\"}}";
        struct MHD_Response *r = MHD_create_response_from_buffer(strlen(oom), oom, MHD_RESPMEM_PERSISTENT);
        if (!r) return MHD_NO;
        MHD_add_response_header(r, "Content-Type", "application/json");
        enum MHD_Result q = MHD_queue_response(c, MHD_HTTP_INTERNAL_SERVER_ERROR, r);
        MHD_destroy_response(r);
        return q;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result q = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return q;
}

// Length of the valid UTF-8 sequence at s[0..n) (1-4), or 0 if there is none:
// overlong forms, surrogates and code points past U+10FFFF are invalid.
static size_t utf8_seq(const unsigned char *s, size_t n) {
    if (s[0] < 0x80) return 1;
    size_t len = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
    if (!len || len > n || s[0] > 0xF4) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if (s[0] == 0xE0 && s[1] < 0xA0) return 0;   // overlong
    if (s[0] == 0xED && s[1] >= 0xA0) return 0;   // surrogate
    if (s[0] == 0xF0 && s[1] < 0x90) return 0;   // overlong
    if (s[0] == 0xF4 && s[1] >= 0x90) return 0;   // past U+10FFFF
    return len;
}

// Error messages quote request bytes (a JSON excerpt, the URL) and may be cut
// mid-character by truncation; a reply must stay valid UTF-8 JSON, so every
// byte that does not start a valid sequence becomes '?'.
static void utf8_scrub(char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq((const unsigned char *)s + i, n - i);
        if (!k) {
            s[i++] = '?';
            continue;
        }
        i += k;
    }
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    utf8_scrub(msg);
    cJSON *o = cJSON_CreateObject(), *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "type", status >= 500 ? "server_error" : "invalid_request_error");
    cJSON_AddItemToObject(o, "error", e);
    return send_json(c, status, o);
}

// ---------------------------------------------------------------- chat

typedef struct chat_req {
    gc_chat_msg *msgs;   // malloc'd; the strings point into the request's cJSON tree
    size_t n;
    gc_gen_params gp;
} chat_req;

// Validates the request body into r (strings point into root). On failure
// *status is the HTTP status and gc_last_error() the message.
static gc_status parse_chat(const gc_server *S, const cJSON *root, chat_req *r, unsigned *status) {
    *status = MHD_HTTP_BAD_REQUEST;
    const char *P = "request";
    if (!cJSON_IsObject(root)) return gc_fail(GC_ERR_INVALID_ARG, "request: expected a JSON object");
    bool stream = false;
    GC_TRY(gc_json_opt_bool(P, root, "stream", false, &stream));
    if (stream) return gc_fail(GC_ERR_UNSUPPORTED, "request: field \"stream\": streaming is not supported");
    const cJSON *msgs;
    GC_TRY(gc_json_req_array(P, root, "messages", &msgs));
    const int n = cJSON_GetArraySize(msgs);
    if (n < 1) return gc_fail(GC_ERR_INVALID_ARG, "request: field \"messages\": empty");
    if (!(r->msgs = calloc((size_t)n, sizeof *r->msgs))) {
        *status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        return gc_fail(GC_ERR_OOM, "out of memory");
    }
    r->n = 0;
    for (const cJSON *m = msgs->child; m; m = m->next) {
        char where[64];
        snprintf(where, sizeof where, "request: messages[%zu]", r->n);
        if (!cJSON_IsObject(m)) return gc_fail(GC_ERR_INVALID_ARG, "%s: expected an object", where);
        GC_TRY(gc_json_req_string(where, m, "role", &r->msgs[r->n].role));
        GC_TRY(gc_json_req_string(where, m, "content", &r->msgs[r->n].content));
        r->n++;
    }
    int64_t max_tokens, top_k, seed;
    double temperature, top_p;
    GC_TRY(gc_json_opt_int(P, root, "max_tokens", 1, S->o.max_tokens_limit, S->o.default_max_tokens, &max_tokens));
    GC_TRY(gc_json_opt_double(P, root, "temperature", 0.0, 100.0, 1.0, &temperature));
    GC_TRY(gc_json_opt_double(P, root, "top_p", 1e-9, 1.0, 1.0, &top_p));
    GC_TRY(gc_json_opt_int(P, root, "top_k", 0, 1 << 24, 0, &top_k));
    // Any integer is a seed: negative ones are taken modulo 2^64.
    GC_TRY(gc_json_opt_int(P, root, "seed", -GC_JSON_MAX_INT, GC_JSON_MAX_INT, 0, &seed));
    r->gp = gc_gen_default_params();
    r->gp.max_tokens = (int)max_tokens;
    r->gp.sampling.temperature = (float)temperature;
    r->gp.sampling.top_p = (float)top_p;
    r->gp.sampling.top_k = (int)top_k;
    r->gp.sampling.seed = (uint64_t)seed;
    *status = MHD_HTTP_OK;
    return GC_OK;
}

// Runs the request on the engine (mutex held) and builds the reply.
static gc_status complete(gc_server *S, const chat_req *r, cJSON **out, unsigned *status) {
    char *text = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    gc_kv *kv = NULL;
    gc_gen_result res = {0};
    gc_chat_opts co = {.add_generation_prompt = true, .enable_thinking = true};
    *status = MHD_HTTP_BAD_REQUEST;   // formatting / encoding failures are the request's
    gc_status s = gc_chat_format(S->style, r->msgs, r->n, &co, &text, NULL);
    if (s == GC_OK) s = gc_tokenizer_encode(S->tok, text, strlen(text), true, &ids, &n_ids);
    if (s == GC_OK && n_ids == 0) s = gc_fail(GC_ERR_INVALID_ARG, "request: the messages encode to no tokens");
    if (s == GC_OK && (int64_t)n_ids >= S->n_ctx)
        s = gc_fail(GC_ERR_INVALID_ARG, "request: field \"messages\": the prompt is %zu tokens, the model's context %lld",
                    n_ids, (long long)S->n_ctx);
    // A reply that would run past the context ends there, as "length".
    gc_gen_params gp = r->gp;
    if (s == GC_OK && gp.max_tokens > S->n_ctx - (int64_t)n_ids) gp.max_tokens = (int)(S->n_ctx - (int64_t)n_ids);
    if (s == GC_OK) {
        *status = MHD_HTTP_INTERNAL_SERVER_ERROR;   // from here on, failures are ours
        s = gc_kv_new(S->e, &kv);
    }
    if (s == GC_OK) s = gc_generate(S->e, kv, S->tok, ids, (int64_t)n_ids, &gp, NULL, NULL, &res);
    if (s == GC_OK) {
        char id[48];
        snprintf(id, sizeof id, "chatcmpl-%llu", ++S->served);
        cJSON *o = cJSON_CreateObject(), *choices = cJSON_CreateArray(), *ch = cJSON_CreateObject();
        cJSON *msg = cJSON_CreateObject(), *usage = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", id);
        cJSON_AddStringToObject(o, "object", "chat.completion");
        cJSON_AddNumberToObject(o, "created", (double)time(NULL));
        cJSON_AddStringToObject(o, "model", S->name);
        cJSON_AddNumberToObject(ch, "index", 0);
        cJSON_AddStringToObject(msg, "role", "assistant");
        cJSON_AddStringToObject(msg, "content", res.text ? res.text : "");
        cJSON_AddItemToObject(ch, "message", msg);
        cJSON_AddStringToObject(ch, "finish_reason", res.finish == GC_FINISH_LENGTH ? "length" : "stop");
        cJSON_AddItemToArray(choices, ch);
        cJSON_AddItemToObject(o, "choices", choices);
        cJSON_AddNumberToObject(usage, "prompt_tokens", (double)n_ids);
        cJSON_AddNumberToObject(usage, "completion_tokens", (double)res.n_ids);
        cJSON_AddNumberToObject(usage, "total_tokens", (double)((int64_t)n_ids + res.n_ids));
        cJSON_AddItemToObject(o, "usage", usage);
        *out = o;
        *status = MHD_HTTP_OK;
    }
    gc_gen_result_free(&res);
    gc_kv_free(kv);
    free(ids);
    free(text);
    return s;
}

static enum MHD_Result handle_chat(gc_server *S, struct MHD_Connection *c, const body *b) {
    cJSON *root = NULL, *out = NULL;
    chat_req *r = calloc(1, sizeof *r);
    if (!r) return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    unsigned status = MHD_HTTP_BAD_REQUEST;
    gc_status s = b->len ? gc_json_parse(b->p, b->len, "request", &root)
                         : gc_fail(GC_ERR_INVALID_ARG, "request: empty body (expected a JSON object)");
    if (s == GC_OK) s = parse_chat(S, root, r, &status);
    if (s == GC_OK) {
        pthread_mutex_lock(&S->mu);
        s = complete(S, r, &out, &status);
        pthread_mutex_unlock(&S->mu);
    }
    enum MHD_Result q = s == GC_OK ? send_json(c, MHD_HTTP_OK, out) : send_error(c, status, "%s", gc_last_error());
    cJSON_Delete(root);
    free(r->msgs);
    free(r);
    return q;
}

static enum MHD_Result handle_models(gc_server *S, struct MHD_Connection *c) {
    cJSON *o = cJSON_CreateObject(), *data = cJSON_CreateArray(), *m = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON_AddStringToObject(m, "id", S->name);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddStringToObject(m, "owned_by", "gcache");
    cJSON_AddItemToArray(data, m);
    cJSON_AddItemToObject(o, "data", data);
    return send_json(c, MHD_HTTP_OK, o);
}

// ---------------------------------------------------------------- routing

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    gc_server *S = cls;
    body *b = *con_cls;
    if (!b) {   // first call: headers only
        if (!(b = calloc(1, sizeof *b))) return MHD_NO;
        *con_cls = b;
        return MHD_YES;
    }
    if (*upload_size) {   // a piece of the body
        const size_t n = *upload_size;
        *upload_size = 0;
        if (b->too_big || b->oom) return MHD_YES;
        if (b->len + n > S->o.max_body_bytes) {
            b->too_big = true;
            free(b->p);
            b->p = NULL;
            b->len = b->cap = 0;
            return MHD_YES;
        }
        if (b->len + n > b->cap) {
            size_t cap = b->cap ? b->cap : 4096;
            while (cap < b->len + n) cap *= 2;
            char *p = realloc(b->p, cap);
            if (!p) {
                b->oom = true;
                return MHD_YES;
            }
            b->p = p;
            b->cap = cap;
        }
        memcpy(b->p + b->len, upload, n);
        b->len += n;
        return MHD_YES;
    }
    const bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (strcmp(url, "/v1/chat/completions") == 0) {
        if (!post) return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST for %s", url);
        if (b->too_big)
            return send_error(c, 413, "request body larger than %zu bytes", S->o.max_body_bytes);   // Content Too Large
        if (b->oom) return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return handle_chat(S, c, b);
    }
    if (strcmp(url, "/v1/models") == 0 || strcmp(url, "/health") == 0) {
        if (!get) return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET for %s", url);
        if (url[1] == 'v') return handle_models(S, c);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "status", "ok");
        return send_json(c, MHD_HTTP_OK, o);
    }
    return send_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint: %s %s", method, url);
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode why) {
    (void)cls;
    (void)c;
    (void)why;
    body *b = *con_cls;
    if (b) {
        free(b->p);
        free(b);
    }
    *con_cls = NULL;
}

// ---------------------------------------------------------------- lifecycle

gc_status gc_server_start(const gc_model *m, gc_engine *e, const gc_server_opts *o, gc_server **out) {
    *out = NULL;
    gc_server_opts d = gc_server_default_opts(), op = o ? *o : d;
    if (!op.host) op.host = d.host;
    if (!op.model_name || !*op.model_name) op.model_name = d.model_name;
    if (op.default_max_tokens <= 0) op.default_max_tokens = d.default_max_tokens;
    if (op.max_tokens_limit <= 0) op.max_tokens_limit = d.max_tokens_limit;
    if (op.default_max_tokens > op.max_tokens_limit) op.default_max_tokens = op.max_tokens_limit;
    if (!op.max_body_bytes) op.max_body_bytes = d.max_body_bytes;
    if (op.port < 0 || op.port > 65535) return gc_fail(GC_ERR_INVALID_ARG, "serve: port %d out of range", op.port);
    const gc_tokenizer *tok = gc_model_tokenizer(m);
    if (!tok) return gc_fail(GC_ERR_INVALID_ARG, "serve: the model has no tokenizer");
    const gc_chat_style style = gc_chat_detect(gc_tokenizer_chat_template(tok));
    if (style == GC_CHAT_UNKNOWN)
        return gc_fail(GC_ERR_UNSUPPORTED, "serve: the model's chat template is not one gcache can format");
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)op.port);
    if (inet_pton(AF_INET, op.host, &sa.sin_addr) != 1)
        return gc_fail(GC_ERR_INVALID_ARG, "serve: host '%s' is not an IPv4 address", op.host);
    gc_server *S = calloc(1, sizeof *S);
    if (!S || !(S->name = strdup(op.model_name))) {
        free(S);
        return gc_fail(GC_ERR_OOM, "out of memory");
    }
    S->m = m;
    S->e = e;
    S->tok = tok;
    S->style = style;
    gc_model_info mi;
    gc_model_get_info(m, &mi);
    S->n_ctx = mi.max_position;
    S->o = op;
    S->o.model_name = S->name;
    S->o.host = NULL;   // not kept: the caller's string may not outlive the server
    pthread_mutex_init(&S->mu, NULL);
    // One internal thread serves every connection (requests queue behind the
    // one generating); epoll / poll rather than select, so that many open
    // connections cannot exceed FD_SETSIZE. Idle connections are dropped
    // after 10 minutes and their number is capped.
    S->d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD, 0, NULL, NULL, on_request, S,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, on_done, S,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)MAX_CONNECTIONS, MHD_OPTION_END);
    if (!S->d) {
        pthread_mutex_destroy(&S->mu);
        free(S->name);
        free(S);
        return gc_fail(GC_ERR_IO, "serve: cannot listen on %s:%d (in use, or not allowed)", op.host, op.port);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(S->d, MHD_DAEMON_INFO_BIND_PORT);
    S->port = info ? (int)info->port : op.port;
    *out = S;
    return GC_OK;
}

int gc_server_port(const gc_server *s) { return s ? s->port : -1; }

void gc_server_stop(gc_server *s) {
    if (!s) return;
    MHD_stop_daemon(s->d);
    pthread_mutex_destroy(&s->mu);
    free(s->name);
    free(s);
}
