// OpenAI-compatible server for a local model (gcache/server.h): the HTTP
// side on libmicrohttpd, a thread per connection. A chat request is parsed
// and tokenized on its connection's thread, queued for the engine thread
// (server_batch.c), and answered as one JSON body or as Server-Sent Events.
#define _GNU_SOURCE   // POLLRDHUP
#include "api/server_internal.h"
#include "core/error.h"
#include "core/utf8.h"
#include "core/vec.h"
#include "gcache/tokenizer.h"
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CONNECTIONS 256
#define POLL_MS 200   // how often a waiting connection checks whether its client left

gc_server_opts gc_server_default_opts(void) {
    return (gc_server_opts){.host = "127.0.0.1", .port = 8080, .model_name = "gcache", .default_max_tokens = 256,
                            .max_tokens_limit = 4096, .max_body_bytes = (size_t)1 << 20, .max_batch = 32,
                            .queue_limit = 256, .max_n = 8, .prefill_rows = 512, .api_key = NULL, .log = stderr};
}

// ---------------------------------------------------------------- replies

static enum MHD_Result queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r, int retry_after) {
    if (!r) return MHD_NO;
    if (retry_after > 0) {
        char v[16];
        snprintf(v, sizeof v, "%d", retry_after);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, v);
    }
    if (status == MHD_HTTP_UNAUTHORIZED) MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    enum MHD_Result q = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return q;
}

// Sends obj (consumed) as JSON with the given status.
static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, cJSON *obj, int retry_after) {
    char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    struct MHD_Response *r;
    if (!text) {
        static char oom[] = "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}";
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        r = MHD_create_response_from_buffer(strlen(oom), oom, MHD_RESPMEM_PERSISTENT);
    } else if (!(r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE))) {
        free(text);
    }
    if (r) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    return queue(c, status, r, retry_after);
}

// Error messages quote request bytes (a JSON excerpt, the URL) and may be cut
// mid-character by truncation; a reply must stay valid UTF-8 JSON, so every
// byte that does not start a valid sequence becomes '?'.
static void utf8_scrub(char *s) {
    const size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        const size_t k = gc_utf8_next(s + i, n - i, NULL);
        if (!k) {
            s[i++] = '?';
            continue;
        }
        i += k;
    }
}

// OpenAI's error object: {"error": {"message", "type", "param", "code"}}.
static cJSON *error_obj(unsigned status, const char *code, const char *msg) {
    char m[1024];
    snprintf(m, sizeof m, "%s", msg);
    utf8_scrub(m);
    cJSON *o = cJSON_CreateObject(), *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "message", m);
    cJSON_AddStringToObject(e, "type", status >= 500 ? "server_error" : "invalid_request_error");
    cJSON_AddNullToObject(e, "param");
    if (code) cJSON_AddStringToObject(e, "code", code);
    else cJSON_AddNullToObject(e, "code");
    cJSON_AddItemToObject(o, "error", e);
    return o;
}

static enum MHD_Result send_error_ra(struct MHD_Connection *c, unsigned status, int retry_after, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return send_json(c, status, error_obj(status, NULL, msg), retry_after);
}

#define send_error(c, status, ...) send_error_ra(c, status, 0, __VA_ARGS__)

// ---------------------------------------------------------------- connections

// A connection's request body, gathered across upload callbacks, and the job
// its reply comes from (held until the reply has been sent).
typedef struct conn {
    char *p;
    size_t len, cap;
    bool too_big, oom;
    srv_job *job;
} conn;

// True when the client closed its end (or the socket failed).
static bool peer_gone(int fd) {
    if (fd < 0) return false;
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

static int conn_fd(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *i = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return i ? i->connect_fd : -1;
}

static void deadline_in(struct timespec *ts, int ms) {
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_nsec += (long)ms * 1000000L;
    ts->tv_sec += ts->tv_nsec / 1000000000L;
    ts->tv_nsec %= 1000000000L;
}

// Marks j cancelled because its client left (mu held).
static void client_left_locked(gc_server *S, srv_job *j) {
    if (j->state == SRV_DONE) return;
    j->cancel = true;
    j->client_gone = true;
    pthread_cond_signal(&S->work);
}

// Waits until j is done, or has run its first step when until_started.
// False when the client left meanwhile (the job is then cancelled).
// *err: j's error status if it is done with one, else 0, read under mu: a
// streaming job that has only started is still written by the engine thread.
static bool wait_job(gc_server *S, srv_job *j, int fd, bool until_started, unsigned *err) {
    bool gone = false;
    *err = 0;
    pthread_mutex_lock(&S->mu);
    while (j->state != SRV_DONE && !(until_started && j->started)) {
        struct timespec ts;
        deadline_in(&ts, POLL_MS);
        pthread_cond_timedwait(&j->cv, &S->mu, &ts);
        if (j->state != SRV_DONE && peer_gone(fd)) {
            client_left_locked(S, j);
            gone = true;
            break;
        }
    }
    if (j->state == SRV_DONE) *err = j->err_status;
    pthread_mutex_unlock(&S->mu);
    return !gone;
}

// ---------------------------------------------------------------- chat

static const char *finish_name(int f) { return f == GC_FINISH_LENGTH ? "length" : "stop"; }

// The job for a validated request: the chat-formatted prompt's tokens,
// max_tokens clipped to the context, the seed, owned stop strings.
static gc_status make_job(gc_server *S, const srv_request *r, srv_job **out, unsigned *status) {
    *out = NULL;
    *status = 400;   // formatting / encoding failures are the request's
    char *text = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    gc_chat_opts co = {.add_generation_prompt = true, .enable_thinking = true};
    gc_status s = gc_chat_format(S->style, r->msgs, r->n_msgs, &co, &text, NULL);
    if (s == GC_OK) s = gc_tokenizer_encode(S->tok, text, strlen(text), true, &ids, &n_ids);
    free(text);
    if (s == GC_OK && n_ids == 0) s = gc_fail(GC_ERR_INVALID_ARG, "request: the messages encode to no tokens");
    if (s == GC_OK && (int64_t)n_ids >= S->n_ctx)
        s = gc_fail(GC_ERR_INVALID_ARG, "request: field \"messages\": the prompt is %zu tokens, the model's context %lld",
                    n_ids, (long long)S->n_ctx);
    srv_job *j = s == GC_OK ? srv_job_new(r->n) : NULL;
    if (s == GC_OK && !j) {
        *status = 500;
        s = gc_fail(GC_ERR_OOM, "out of memory");
    }
    if (s != GC_OK) {
        free(ids);
        return s;
    }
    j->prompt = ids;
    j->n_prompt = (int64_t)n_ids;
    // A reply that would run past the context ends there, as "length".
    j->max_tokens = r->max_tokens;
    if (j->max_tokens > S->n_ctx - j->n_prompt) j->max_tokens = (int)(S->n_ctx - j->n_prompt);
    j->sampling = r->sampling;
    if (!r->seed_given) j->sampling.seed = srv_fresh_seed();
    j->stream = r->stream;
    for (int i = 0; i < r->n_stop; i++)
        if (!(j->stop[i] = strdup(r->stop[i]))) {
            *status = 500;
            srv_job_release(S, j);   // never queued: the only hold
            return gc_fail(GC_ERR_OOM, "out of memory");
        }
    srv_new_id(S, j->id);
    *out = j;
    *status = 200;
    return GC_OK;
}

// A job for the graph model: the last user message is the question; one
// choice, no stop strings (the method's agents decode with their own).
static gc_status make_graph_job(gc_server *S, const srv_request *r, srv_job **out, unsigned *status) {
    *out = NULL;
    *status = 400;
    const char *q = srv_last_user(r);
    if (r->n != 1) return gc_fail(GC_ERR_INVALID_ARG, "request: field \"n\": the model \"%s\" answers with one choice", S->graph_name);
    if (r->n_stop) return gc_fail(GC_ERR_UNSUPPORTED, "request: field \"stop\": not supported by the model \"%s\"", S->graph_name);
    if (!q) return gc_fail(GC_ERR_INVALID_ARG, "request: field \"messages\": the model \"%s\" needs a user message", S->graph_name);
    srv_job *j = srv_job_new(1);
    if (!j || !(j->question = strdup(q))) {
        srv_job_release(S, j);
        *status = 500;
        return gc_fail(GC_ERR_OOM, "out of memory");
    }
    j->max_tokens = r->max_tokens;
    j->sampling = r->sampling;
    if (!r->seed_given) j->sampling.seed = srv_fresh_seed();
    j->stream = r->stream;
    srv_new_id(S, j->id);
    *out = j;
    *status = 200;
    return GC_OK;
}

static cJSON *usage_obj(const srv_job *j) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)j->usage_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)j->usage_completion);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(j->usage_prompt + j->usage_completion));
    return u;
}

// The reply of a finished job (mu not needed: the engine is done with it).
static cJSON *completion_obj(const gc_server *S, const srv_job *j) {
    cJSON *o = cJSON_CreateObject(), *choices = cJSON_CreateArray();
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "object", "chat.completion");
    cJSON_AddNumberToObject(o, "created", (double)time(NULL));
    cJSON_AddStringToObject(o, "model", j->question ? S->graph_name : S->name);
    for (int c = 0; c < j->n; c++) {
        cJSON *ch = cJSON_CreateObject(), *msg = cJSON_CreateObject();
        cJSON_AddNumberToObject(ch, "index", c);
        cJSON_AddStringToObject(msg, "role", "assistant");
        cJSON_AddStringToObject(msg, "content", j->ch[c].text.s ? j->ch[c].text.s : "");
        cJSON_AddItemToObject(ch, "message", msg);
        cJSON_AddNullToObject(ch, "logprobs");
        cJSON_AddStringToObject(ch, "finish_reason", finish_name(j->ch[c].finish));
        cJSON_AddItemToArray(choices, ch);
    }
    cJSON_AddItemToObject(o, "choices", choices);
    cJSON_AddItemToObject(o, "usage", usage_obj(j));
    return o;
}

// ---- Server-Sent Events

typedef struct sse {
    gc_server *S;
    srv_job *j;
    int fd;
    bool include_usage;
    double created;
    gc_strbuf out;        // events not yet handed to MHD
    size_t pos;
    size_t *sent;         // per choice: bytes of its text sent
    bool *fin;            // per choice: finish chunk sent
    bool end;             // the last event is in `out`
} sse;

static bool sse_event(sse *x, cJSON *o) {
    char *t = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    bool ok = t && gc_strbuf_append(&x->out, "data: ", 6) && gc_strbuf_append(&x->out, t, strlen(t)) &&
              gc_strbuf_append(&x->out, "\n\n", 2);
    free(t);
    return ok;
}

// A chat.completion.chunk for one choice: role and/or content in the delta,
// or the finish reason (finish >= 0) with an empty delta.
static bool sse_chunk(sse *x, int choice, bool role, const char *content, size_t len, int finish) {
    cJSON *o = cJSON_CreateObject(), *choices = cJSON_CreateArray(), *ch = cJSON_CreateObject(), *d = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", x->j->id);
    cJSON_AddStringToObject(o, "object", "chat.completion.chunk");
    cJSON_AddNumberToObject(o, "created", x->created);
    cJSON_AddStringToObject(o, "model", x->j->question ? x->S->graph_name : x->S->name);
    cJSON_AddNumberToObject(ch, "index", choice);
    if (role) cJSON_AddStringToObject(d, "role", "assistant");
    if (content) {
        char *c = strndup(content, len);
        if (c) cJSON_AddStringToObject(d, "content", c);
        free(c);
        if (!c) {
            cJSON_Delete(o);
            cJSON_Delete(choices);
            cJSON_Delete(ch);
            cJSON_Delete(d);
            return false;
        }
    }
    cJSON_AddItemToObject(ch, "delta", d);
    cJSON_AddNullToObject(ch, "logprobs");
    if (finish >= 0) cJSON_AddStringToObject(ch, "finish_reason", finish_name(finish));
    else cJSON_AddNullToObject(ch, "finish_reason");
    cJSON_AddItemToArray(choices, ch);
    cJSON_AddItemToObject(o, "choices", choices);
    if (x->include_usage) cJSON_AddNullToObject(o, "usage");
    return sse_event(x, o);
}

// Appends events for whatever the job has new (mu held). False when out of memory.
static bool sse_gather_locked(sse *x) {
    srv_job *j = x->j;
    for (int c = 0; c < j->n; c++) {
        const srv_choice *ch = &j->ch[c];
        if (ch->text.len > x->sent[c]) {
            if (!sse_chunk(x, c, false, ch->text.s + x->sent[c], ch->text.len - x->sent[c], -1)) return false;
            x->sent[c] = ch->text.len;
        }
        if (ch->finish >= 0 && !x->fin[c] && !j->err_status) {
            if (!sse_chunk(x, c, false, NULL, 0, ch->finish)) return false;
            x->fin[c] = true;
        }
    }
    if (j->state != SRV_DONE) return true;
    x->end = true;
    if (j->err_status) return sse_event(x, error_obj(j->err_status, NULL, j->err_msg));   // no [DONE]: the stream failed
    if (x->include_usage) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", j->id);
        cJSON_AddStringToObject(o, "object", "chat.completion.chunk");
        cJSON_AddNumberToObject(o, "created", x->created);
        cJSON_AddStringToObject(o, "model", x->j->question ? x->S->graph_name : x->S->name);
        cJSON_AddItemToObject(o, "choices", cJSON_CreateArray());
        cJSON_AddItemToObject(o, "usage", usage_obj(j));
        if (!sse_event(x, o)) return false;
    }
    return gc_strbuf_append(&x->out, "data: [DONE]\n\n", 14);
}

// Fills x->out with the next events, waiting for the engine. False when the
// client left (the job is cancelled) or memory ran out.
static bool sse_fill(sse *x) {
    gc_server *S = x->S;
    bool ok = true;
    pthread_mutex_lock(&S->mu);
    for (;;) {
        if (!sse_gather_locked(x)) {
            ok = false;
            break;
        }
        if (x->out.len > 0 || x->end) break;
        struct timespec ts;
        deadline_in(&ts, POLL_MS);
        pthread_cond_timedwait(&x->j->cv, &S->mu, &ts);
        if (peer_gone(x->fd)) {
            ok = false;
            break;
        }
    }
    if (!ok) client_left_locked(S, x->j);
    pthread_mutex_unlock(&S->mu);
    return ok;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    sse *x = cls;
    while (x->pos >= x->out.len) {
        if (x->end) return MHD_CONTENT_READER_END_OF_STREAM;
        x->out.len = 0;
        x->pos = 0;
        if (!sse_fill(x)) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = x->out.len - x->pos;
    if (n > max) n = max;
    memcpy(buf, x->out.s + x->pos, n);
    x->pos += n;
    return (ssize_t)n;
}

// The response is gone (sent, or the connection failed): a stream that did
// not reach its end cancels the job.
static void sse_free(void *cls) {
    sse *x = cls;
    pthread_mutex_lock(&x->S->mu);
    if (!x->end) client_left_locked(x->S, x->j);
    pthread_mutex_unlock(&x->S->mu);
    srv_job_release(x->S, x->j);
    free(x->out.s);
    free(x->sent);
    free(x->fin);
    free(x);
}

// Starts the event stream of a job that has run its first step; takes over
// the connection's hold on the job.
static enum MHD_Result send_stream(gc_server *S, struct MHD_Connection *c, conn *cn, bool include_usage) {
    srv_job *j = cn->job;
    sse *x = calloc(1, sizeof *x);
    if (x) {
        x->sent = calloc((size_t)j->n, sizeof *x->sent);
        x->fin = calloc((size_t)j->n, sizeof *x->fin);
    }
    if (!x || !x->sent || !x->fin) {
        if (x) {
            free(x->sent);
            free(x->fin);
            free(x);
        }
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    *x = (sse){.S = S, .j = j, .fd = conn_fd(c), .include_usage = include_usage, .created = (double)time(NULL),
               .sent = x->sent, .fin = x->fin};
    cn->job = NULL;
    // The role chunk of every choice opens the stream.
    for (int k = 0; k < j->n; k++)
        if (!sse_chunk(x, k, true, "", 0, -1)) break;
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, x, sse_free);
    if (!r) {
        sse_free(x);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, "X-Request-Id", j->id);
    return queue(c, MHD_HTTP_OK, r, 0);
}

static enum MHD_Result handle_chat(gc_server *S, struct MHD_Connection *c, conn *cn) {
    cJSON *root = NULL;
    srv_request r;
    memset(&r, 0, sizeof r);
    unsigned status = MHD_HTTP_BAD_REQUEST;
    const srv_limits lim = {S->o.default_max_tokens, S->o.max_tokens_limit, S->o.max_n};
    gc_status s = cn->len ? gc_json_parse(cn->p, cn->len, "request", &root)
                          : gc_fail(GC_ERR_INVALID_ARG, "request: empty body (expected a JSON object)");
    if (s == GC_OK) s = srv_parse_chat(&lim, root, &r, &status);
    bool ready;
    pthread_mutex_lock(&S->mu);
    ready = S->ready;
    pthread_mutex_unlock(&S->mu);
    if (s == GC_OK && !ready) {
        srv_request_free(&r);
        cJSON_Delete(root);
        return send_error_ra(c, MHD_HTTP_SERVICE_UNAVAILABLE, 5, "the model is loading");
    }
    if (s == GC_OK) {
        const bool graph = S->graph && r.model && strcmp(r.model, S->graph_name) == 0;
        s = graph ? make_graph_job(S, &r, &cn->job, &status) : make_job(S, &r, &cn->job, &status);
    }
    const bool include_usage = r.include_usage;
    srv_request_free(&r);
    cJSON_Delete(root);
    if (s != GC_OK) return send_error(c, status, "%s", gc_last_error());

    srv_job *j = cn->job;
    char msg[256];
    int retry = 0;
    j->t_queued = srv_now();
    if (!srv_submit(S, j, &status, msg, sizeof msg, &retry)) {
        cn->job = NULL;
        srv_job_release(S, j);   // never queued: the only hold
        return send_error_ra(c, status, retry, "%s", msg);
    }
    const int fd = conn_fd(c);
    unsigned err;
    if (!wait_job(S, j, fd, j->stream, &err)) return MHD_NO;   // the client left: close
    if (err) return send_error(c, err, "%s", j->err_msg);       // done: err_msg is final
    if (j->stream) return send_stream(S, c, cn, include_usage);
    struct MHD_Response *resp;
    cJSON *o = completion_obj(S, j);
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!text) return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    if (!(resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE))) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, "X-Request-Id", j->id);
    return queue(c, MHD_HTTP_OK, resp, 0);
}

// ---------------------------------------------------------------- other endpoints

static enum MHD_Result handle_models(gc_server *S, struct MHD_Connection *c) {
    cJSON *o = cJSON_CreateObject(), *data = cJSON_CreateArray();
    cJSON_AddStringToObject(o, "object", "list");
    pthread_mutex_lock(&S->mu);   // the graph model may be set while this server already answers
    const char *names[2] = {S->name, S->graph ? S->graph_name : NULL};
    const char *desc = S->graph ? gc_graph_model_describe(S->graph) : NULL;
    pthread_mutex_unlock(&S->mu);
    for (int i = 0; i < 2 && names[i]; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "id", names[i]);
        cJSON_AddStringToObject(m, "object", "model");
        cJSON_AddNumberToObject(m, "created", 0);
        cJSON_AddStringToObject(m, "owned_by", "gcache");
        if (i == 1) cJSON_AddStringToObject(m, "description", desc);
        cJSON_AddItemToArray(data, m);
    }
    cJSON_AddItemToObject(o, "data", data);
    return send_json(c, MHD_HTTP_OK, o, 0);
}

// 200 {"status": "ok", ...counters} when serving; 503 with "loading" before
// the model is attached, "draining" once stopping.
static enum MHD_Result handle_health(gc_server *S, struct MHD_Connection *c) {
    gc_server_stats st;
    pthread_mutex_lock(&S->mu);
    const char *state = !S->ready ? "loading" : (S->draining || S->stopping) ? "draining" : "ok";
    st = S->st;
    st.active_seqs = S->active_seqs;
    st.queued = S->n_queued;
    pthread_mutex_unlock(&S->mu);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", state);
    cJSON_AddStringToObject(o, "model", S->name);
    cJSON_AddNumberToObject(o, "requests", (double)st.requests);
    cJSON_AddNumberToObject(o, "active_sequences", st.active_seqs);
    cJSON_AddNumberToObject(o, "queued", st.queued);
    cJSON_AddNumberToObject(o, "steps", (double)st.steps);
    cJSON_AddNumberToObject(o, "max_step_sequences", (double)st.max_step_seqs);
    cJSON_AddNumberToObject(o, "tokens", (double)st.tokens);
    cJSON_AddNumberToObject(o, "cancelled", (double)st.cancelled);
    return send_json(c, strcmp(state, "ok") == 0 ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, o, 0);
}

// Constant-time comparison, so the key cannot be guessed byte by byte from timings.
static bool same_key(const char *a, const char *b) {
    const size_t la = strlen(a), lb = strlen(b);
    unsigned char d = (unsigned char)(la != lb);
    for (size_t i = 0; i < lb; i++) d |= (unsigned char)(a[i < la ? i : 0] ^ b[i]);
    return d == 0 && la > 0;
}

static bool authorized(const gc_server *S, struct MHD_Connection *c) {
    if (!S->api_key) return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    return h && strncmp(h, "Bearer ", 7) == 0 && same_key(h + 7, S->api_key);
}

// ---------------------------------------------------------------- routing

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    gc_server *S = cls;
    conn *b = *con_cls;
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
        if (!GC_VEC_RESERVE(b->p, b->cap, b->len + n)) {  // len + n is bounded by max_body_bytes above
            b->oom = true;
            return MHD_YES;
        }
        memcpy(b->p + b->len, upload, n);
        b->len += n;
        return MHD_YES;
    }
    const bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (strcmp(url, "/health") == 0) {
        if (!get) return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET for %s", url);
        return handle_health(S, c);
    }
    if (strncmp(url, "/v1/", 4) == 0 && !authorized(S, c))
        return send_json(c, MHD_HTTP_UNAUTHORIZED,
                         error_obj(401, "invalid_api_key",
                                   "Incorrect or missing API key: send the server's key as \"Authorization: Bearer KEY\""),
                         0);
    if (strcmp(url, "/v1/chat/completions") == 0) {
        if (!post) return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST for %s", url);
        if (b->too_big)
            return send_error(c, 413, "request body larger than %zu bytes", S->o.max_body_bytes);   // Content Too Large
        if (b->oom) return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return handle_chat(S, c, b);
    }
    if (strcmp(url, "/v1/models") == 0) {
        if (!get) return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET for %s", url);
        return handle_models(S, c);
    }
    return send_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint: %s %s", method, url);
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode why) {
    (void)c;
    gc_server *S = cls;
    conn *b = *con_cls;
    if (b) {
        if (b->job) {
            if (why != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
                pthread_mutex_lock(&S->mu);
                client_left_locked(S, b->job);
                pthread_mutex_unlock(&S->mu);
            }
            srv_job_release(S, b->job);
        }
        free(b->p);
        free(b);
    }
    *con_cls = NULL;
}

// ---------------------------------------------------------------- lifecycle

gc_status gc_server_open(const gc_server_opts *o, gc_server **out) {
    *out = NULL;
    gc_server_opts d = gc_server_default_opts(), op = o ? *o : d;
    if (!op.host) op.host = d.host;
    if (!op.model_name || !*op.model_name) op.model_name = d.model_name;
    if (op.default_max_tokens <= 0) op.default_max_tokens = d.default_max_tokens;
    if (op.max_tokens_limit <= 0) op.max_tokens_limit = d.max_tokens_limit;
    if (op.default_max_tokens > op.max_tokens_limit) op.default_max_tokens = op.max_tokens_limit;
    if (!op.max_body_bytes) op.max_body_bytes = d.max_body_bytes;
    if (op.max_batch <= 0) op.max_batch = d.max_batch;
    if (op.queue_limit < 0) op.queue_limit = d.queue_limit;
    if (op.max_n <= 0) op.max_n = d.max_n;
    if (op.prefill_rows < 0) op.prefill_rows = d.prefill_rows;
    if (op.port < 0 || op.port > 65535) return gc_fail(GC_ERR_INVALID_ARG, "serve: port %d out of range", op.port);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)op.port);
    if (inet_pton(AF_INET, op.host, &sa.sin_addr) != 1)
        return gc_fail(GC_ERR_INVALID_ARG, "serve: host '%s' is not an IPv4 address", op.host);
    gc_server *S = calloc(1, sizeof *S);
    if (!S || !(S->name = strdup(op.model_name)) || (op.api_key && *op.api_key && !(S->api_key = strdup(op.api_key)))) {
        if (S) free(S->name);
        free(S);
        return gc_fail(GC_ERR_OOM, "out of memory");
    }
    S->o = op;
    S->o.model_name = S->name;
    S->o.api_key = S->api_key;
    S->o.host = NULL;   // not kept: the caller's string may not outlive the server
    S->id_nonce = (uint32_t)srv_fresh_seed();
    pthread_mutex_init(&S->mu, NULL);
    pthread_cond_init(&S->work, NULL);
    pthread_cond_init(&S->idle, NULL);
    // A thread per connection (a reply may wait for the engine while /health
    // answers on another); poll rather than select, so that many open
    // connections cannot exceed FD_SETSIZE. Idle connections are dropped
    // after 10 minutes and their number is capped.
    S->d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL, on_request, S,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, on_done, S,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)MAX_CONNECTIONS, MHD_OPTION_END);
    if (!S->d) {
        const int err = errno;
        pthread_mutex_destroy(&S->mu);
        pthread_cond_destroy(&S->work);
        pthread_cond_destroy(&S->idle);
        free(S->api_key);
        free(S->name);
        free(S);
        return gc_fail(GC_ERR_IO, "serve: cannot listen on %s:%d (%s)", op.host, op.port,
                       err == EADDRINUSE ? "address in use" : "in use, or not allowed");
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(S->d, MHD_DAEMON_INFO_BIND_PORT);
    S->port = info ? (int)info->port : op.port;
    *out = S;
    return GC_OK;
}

gc_status gc_server_attach(gc_server *S, const gc_model *m, gc_engine *e) {
    if (S->engine_started) return gc_fail(GC_ERR_INVALID_ARG, "serve: a model is already attached");
    const gc_tokenizer *tok = gc_model_tokenizer(m);
    if (!tok) return gc_fail(GC_ERR_INVALID_ARG, "serve: the model has no tokenizer");
    const gc_chat_style style = gc_chat_detect(gc_tokenizer_chat_template(tok));
    if (style == GC_CHAT_UNKNOWN)
        return gc_fail(GC_ERR_UNSUPPORTED, "serve: the model's chat template is not one gcache can format");
    gc_model_info mi;
    gc_model_get_info(m, &mi);
    pthread_mutex_lock(&S->mu);
    S->m = m;
    S->e = e;
    S->tok = tok;
    S->style = style;
    S->n_ctx = mi.max_position;
    S->vocab = mi.vocab_size;
    const int rc = pthread_create(&S->engine, NULL, srv_engine_main, S);
    S->engine_started = rc == 0;
    S->ready = rc == 0;
    pthread_mutex_unlock(&S->mu);
    if (rc != 0) return gc_fail(GC_ERR_INTERNAL, "serve: cannot start the engine thread");
    return GC_OK;
}

gc_status gc_server_set_graph(gc_server *S, const char *name, gc_graph_model *g) {
    if (S->engine_started) return gc_fail(GC_ERR_INVALID_ARG, "serve: set the graph model before attaching the model");
    if (!name || !*name || !g) return gc_fail(GC_ERR_INVALID_ARG, "serve: the graph model needs a name and a handle");
    if (strcmp(name, S->name) == 0)
        return gc_fail(GC_ERR_INVALID_ARG, "serve: the graph model's name \"%s\" is the model's name too", name);
    if (S->graph) return gc_fail(GC_ERR_INVALID_ARG, "serve: a graph model is already set");
    char *n = strdup(name);
    if (!n) return gc_fail(GC_ERR_OOM, "out of memory");
    pthread_mutex_lock(&S->mu);   // /v1/models may be reading them already
    S->graph_name = n;
    S->graph = g;
    pthread_mutex_unlock(&S->mu);
    return GC_OK;
}

gc_status gc_server_start(const gc_model *m, gc_engine *e, const gc_server_opts *o, gc_server **out) {
    GC_TRY(gc_server_open(o, out));
    gc_status s = gc_server_attach(*out, m, e);
    if (s != GC_OK) {
        gc_server_stop(*out);
        *out = NULL;
    }
    return s;
}

int gc_server_port(const gc_server *s) { return s ? s->port : -1; }

void gc_server_get_stats(gc_server *S, gc_server_stats *out) {
    pthread_mutex_lock(&S->mu);
    *out = S->st;
    out->active_seqs = S->active_seqs;
    out->queued = S->n_queued;
    pthread_mutex_unlock(&S->mu);
}

void gc_server_drain(gc_server *S) {
    pthread_mutex_lock(&S->mu);
    S->draining = true;
    pthread_mutex_unlock(&S->mu);
}

int gc_server_in_flight(gc_server *S) {
    pthread_mutex_lock(&S->mu);
    const int n = S->n_jobs;
    pthread_mutex_unlock(&S->mu);
    return n;
}

void gc_server_stop(gc_server *S) {
    if (!S) return;
    pthread_mutex_lock(&S->mu);
    S->stopping = true;
    srv_cancel_all_locked(S, MHD_HTTP_SERVICE_UNAVAILABLE, "the server is stopping");
    pthread_cond_signal(&S->work);
    pthread_mutex_unlock(&S->mu);
    if (S->engine_started) pthread_join(S->engine, NULL);
    // The cancelled requests' replies (503, or a stream's error event) go
    // out before the connections close; bounded, for clients that stopped reading.
    struct timespec until;
    deadline_in(&until, 5000);
    pthread_mutex_lock(&S->mu);
    while (S->n_jobs > 0)
        if (pthread_cond_timedwait(&S->idle, &S->mu, &until) == ETIMEDOUT) break;
    pthread_mutex_unlock(&S->mu);
    MHD_stop_daemon(S->d);
    pthread_mutex_destroy(&S->mu);
    pthread_cond_destroy(&S->work);
    pthread_cond_destroy(&S->idle);
    free(S->graph_name);
    free(S->api_key);
    free(S->name);
    free(S);
}
