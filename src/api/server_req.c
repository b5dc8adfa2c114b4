// Validation of a chat-completions request body (server_internal.h).
#include "api/server_internal.h"
#include "core/error.h"
#include "core/utf8.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define P "request"

// ---- fields that would change the result and are not implemented

static bool is_zero_number(const cJSON *v) { return cJSON_IsNumber(v) && v->valuedouble == 0; }
static bool is_false(const cJSON *v) { return cJSON_IsFalse(v); }
static bool is_empty(const cJSON *v) {
    return (cJSON_IsArray(v) || cJSON_IsObject(v)) && v->child == NULL;
}
static bool is_one(const cJSON *v) { return cJSON_IsNumber(v) && v->valuedouble == 1; }
static bool is_none_or_auto(const cJSON *v) {
    return cJSON_IsString(v) && (strcmp(v->valuestring, "none") == 0 || strcmp(v->valuestring, "auto") == 0);
}
static bool is_text_format(const cJSON *v) {
    const cJSON *t = gc_json_get(v, "type");
    return cJSON_IsObject(v) && cJSON_IsString(t) && strcmp(t->valuestring, "text") == 0;
}
static bool is_text_modality(const cJSON *v) {
    return cJSON_IsArray(v) && cJSON_GetArraySize(v) == 1 && cJSON_IsString(v->child) &&
           strcmp(v->child->valuestring, "text") == 0;
}
static bool never(const cJSON *v) {
    (void)v;
    return false;
}

// A field and the values of it that change nothing here (JSON null always
// counts as absent); any other value is refused with `why`.
typedef struct unsupported {
    const char *key;
    bool (*harmless)(const cJSON *v);
    const char *why;
} unsupported;

static const unsupported UNSUPPORTED[] = {
    {"logprobs", is_false, "log-probabilities are not supported"},
    {"top_logprobs", is_zero_number, "log-probabilities are not supported"},
    {"tools", is_empty, "tool calls are not supported"},
    {"tool_choice", is_none_or_auto, "tool calls are not supported"},
    {"functions", is_empty, "function calls are not supported"},
    {"function_call", is_none_or_auto, "function calls are not supported"},
    {"response_format", is_text_format, "only {\"type\": \"text\"} is supported"},
    {"logit_bias", is_empty, "logit biases are not supported"},
    {"presence_penalty", is_zero_number, "penalties are not supported (only 0)"},
    {"frequency_penalty", is_zero_number, "penalties are not supported (only 0)"},
    {"repetition_penalty", is_one, "penalties are not supported (only 1)"},
    {"min_p", is_zero_number, "min_p is not supported (only 0)"},
    {"best_of", is_one, "best_of is not supported (only 1)"},
    {"echo", is_false, "echo is not supported"},
    {"modalities", is_text_modality, "only [\"text\"] output is supported"},
    {"audio", never, "audio output is not supported"},
    {"prediction", never, "predicted outputs are not supported"},
    {"web_search_options", never, "web search is not supported"},
    {"reasoning_effort", never, "reasoning effort is not supported"},
    {"guided_json", never, "guided decoding is not supported"},
    {"guided_regex", never, "guided decoding is not supported"},
    {"guided_choice", never, "guided decoding is not supported"},
    {"guided_grammar", never, "guided decoding is not supported"},
};

static gc_status check_unsupported(const cJSON *root) {
    for (size_t i = 0; i < sizeof UNSUPPORTED / sizeof *UNSUPPORTED; i++) {
        const cJSON *v = gc_json_get(root, UNSUPPORTED[i].key);
        if (v && !UNSUPPORTED[i].harmless(v))
            return gc_fail(GC_ERR_UNSUPPORTED, P ": field \"%s\": %s", UNSUPPORTED[i].key, UNSUPPORTED[i].why);
    }
    return GC_OK;
}

// ---- messages

static char *own(srv_request *r, char *s) {
    char **o = realloc(r->owned, (r->n_owned + 1) * sizeof *o);
    if (!o) {
        free(s);
        return NULL;
    }
    r->owned = o;
    r->owned[r->n_owned++] = s;
    return s;
}

// Content as a string, or an array of {"type": "text", "text": ...} parts
// (joined with newlines); other part types are refused.
static gc_status message_content(srv_request *r, const cJSON *m, size_t i, unsigned *status, const char **out) {
    const cJSON *c = gc_json_get(m, "content");
    if (!cJSON_IsArray(c)) {
        char where[64];
        snprintf(where, sizeof where, P ": messages[%zu]", i);
        return gc_json_req_string(where, m, "content", out);
    }
    size_t total = 1;
    int k = 0;
    for (const cJSON *p = c->child; p; p = p->next, k++) {
        const cJSON *t = gc_json_get(p, "type"), *x = gc_json_get(p, "text");
        if (!cJSON_IsObject(p) || !cJSON_IsString(t))
            return gc_fail(GC_ERR_INVALID_ARG, P ": messages[%zu].content[%d]: expected an object with a \"type\"", i, k);
        if (strcmp(t->valuestring, "text") != 0)
            return gc_fail(GC_ERR_UNSUPPORTED, P ": messages[%zu].content[%d]: type \"%.40s\" is not supported (text only)",
                           i, k, t->valuestring);
        if (!cJSON_IsString(x))
            return gc_fail(GC_ERR_INVALID_ARG, P ": messages[%zu].content[%d]: field \"text\": expected a string", i, k);
        total += strlen(x->valuestring) + 1;
    }
    char *s = malloc(total), *w = s;
    if (!s || !own(r, s)) {
        *status = 500;
        return gc_fail(GC_ERR_OOM, "out of memory");
    }
    for (const cJSON *p = c->child; p; p = p->next) {
        const char *x = gc_json_get(p, "text")->valuestring;
        if (w != s) *w++ = '\n';
        memcpy(w, x, strlen(x));
        w += strlen(x);
    }
    *w = 0;
    *out = s;
    return GC_OK;
}

static gc_status parse_messages(srv_request *r, const cJSON *root, unsigned *status) {
    const cJSON *msgs;
    GC_TRY(gc_json_req_array(P, root, "messages", &msgs));
    const int n = cJSON_GetArraySize(msgs);
    if (n < 1) return gc_fail(GC_ERR_INVALID_ARG, P ": field \"messages\": empty");
    if (!(r->msgs = calloc((size_t)n, sizeof *r->msgs))) {
        *status = 500;
        return gc_fail(GC_ERR_OOM, "out of memory");
    }
    for (const cJSON *m = msgs->child; m; m = m->next) {
        const size_t i = r->n_msgs;
        char where[64];
        snprintf(where, sizeof where, P ": messages[%zu]", i);
        if (!cJSON_IsObject(m)) return gc_fail(GC_ERR_INVALID_ARG, "%s: expected an object", where);
        GC_TRY(gc_json_req_string(where, m, "role", &r->msgs[i].role));
        const cJSON *tc = gc_json_get(m, "tool_calls");
        if ((tc && !is_empty(tc)) || gc_json_get(m, "function_call"))
            return gc_fail(GC_ERR_UNSUPPORTED, "%s: tool / function calls are not supported", where);
        GC_TRY(message_content(r, m, i, status, &r->msgs[i].content));
        // OpenAI's newer name for the system role.
        if (strcmp(r->msgs[i].role, "developer") == 0) r->msgs[i].role = "system";
        r->n_msgs++;
    }
    return GC_OK;
}

// ---- the rest

static gc_status parse_stop(srv_request *r, const cJSON *root) {
    const cJSON *v = gc_json_get(root, "stop");
    if (!v) return GC_OK;
    if (cJSON_IsString(v)) {
        r->stop[r->n_stop++] = v->valuestring;
    } else if (cJSON_IsArray(v)) {
        if (cJSON_GetArraySize(v) > SRV_MAX_STOP)
            return gc_fail(GC_ERR_INVALID_ARG, P ": field \"stop\": at most %d strings", SRV_MAX_STOP);
        for (const cJSON *s = v->child; s; s = s->next) {
            if (!cJSON_IsString(s))
                return gc_fail(GC_ERR_INVALID_ARG, P ": field \"stop[%d]\": expected a string, got %s", r->n_stop,
                               gc_json_type_name(s));
            r->stop[r->n_stop++] = s->valuestring;
        }
    } else {
        return gc_fail(GC_ERR_INVALID_ARG, P ": field \"stop\": expected a string or an array of strings, got %s",
                       gc_json_type_name(v));
    }
    for (int i = 0; i < r->n_stop; i++) {
        if (!*r->stop[i]) return gc_fail(GC_ERR_INVALID_ARG, P ": field \"stop\": empty stop string");
        if (!gc_utf8_valid(r->stop[i], strlen(r->stop[i]))) return gc_fail(GC_ERR_INVALID_ARG, P ": field \"stop\": not valid UTF-8");
    }
    r->stop[r->n_stop] = NULL;
    return GC_OK;
}

static gc_status parse_stream(srv_request *r, const cJSON *root) {
    GC_TRY(gc_json_opt_bool(P, root, "stream", false, &r->stream));
    const cJSON *so;
    GC_TRY(gc_json_opt_object(P, root, "stream_options", &so));
    if (!so) return GC_OK;
    if (!r->stream)
        return gc_fail(GC_ERR_INVALID_ARG, P ": field \"stream_options\": only allowed with \"stream\": true");
    return gc_json_opt_bool(P ": stream_options", so, "include_usage", false, &r->include_usage);
}

static gc_status parse_max_tokens(const srv_limits *lim, srv_request *r, const cJSON *root) {
    int64_t a, b;
    GC_TRY(gc_json_opt_int(P, root, "max_tokens", 1, lim->max_tokens_limit, -1, &a));
    GC_TRY(gc_json_opt_int(P, root, "max_completion_tokens", 1, lim->max_tokens_limit, -1, &b));
    if (a > 0 && b > 0 && a != b)
        return gc_fail(GC_ERR_INVALID_ARG,
                       P ": fields \"max_tokens\" (%lld) and \"max_completion_tokens\" (%lld) disagree", (long long)a,
                       (long long)b);
    r->max_tokens = b > 0 ? (int)b : a > 0 ? (int)a : lim->default_max_tokens;
    return GC_OK;
}

gc_status srv_parse_chat(const srv_limits *lim, const cJSON *root, srv_request *r, unsigned *status) {
    memset(r, 0, sizeof *r);
    *status = 400;
    if (!cJSON_IsObject(root)) return gc_fail(GC_ERR_INVALID_ARG, P ": expected a JSON object");
    GC_TRY(check_unsupported(root));
    GC_TRY(parse_messages(r, root, status));
    GC_TRY(gc_json_opt_string(P, root, "model", NULL, &r->model));
    GC_TRY(parse_max_tokens(lim, r, root));
    int64_t top_k, seed, n;
    double temperature, top_p;
    GC_TRY(gc_json_opt_double(P, root, "temperature", 0.0, 100.0, 1.0, &temperature));
    GC_TRY(gc_json_opt_double(P, root, "top_p", 1e-9, 1.0, 1.0, &top_p));
    GC_TRY(gc_json_opt_int(P, root, "top_k", 0, 1 << 24, 0, &top_k));
    // Any integer is a seed: negative ones are taken modulo 2^64.
    GC_TRY(gc_json_opt_int(P, root, "seed", -GC_JSON_MAX_INT, GC_JSON_MAX_INT, 0, &seed));
    r->seed_given = gc_json_get(root, "seed") != NULL;
    GC_TRY(gc_json_opt_int(P, root, "n", 1, lim->max_n, 1, &n));
    GC_TRY(parse_stop(r, root));
    GC_TRY(parse_stream(r, root));
    r->n = (int)n;
    r->sampling = gc_sampler_default_params();
    r->sampling.temperature = (float)temperature;
    r->sampling.top_p = (float)top_p;
    r->sampling.top_k = (int)top_k;
    r->sampling.seed = (uint64_t)seed;
    *status = 200;
    return GC_OK;
}

void srv_request_free(srv_request *r) {
    free(r->msgs);
    for (size_t i = 0; i < r->n_owned; i++) free(r->owned[i]);
    free(r->owned);
    memset(r, 0, sizeof *r);
}

const char *srv_last_user(const srv_request *r) {
    for (size_t i = r->n_msgs; i-- > 0;)
        if (strcmp(r->msgs[i].role, "user") == 0) return r->msgs[i].content;
    return NULL;
}
