// ChatML formatting for the families in gcache/chat.h. The Qwen rules mirror
// the branches of Qwen2.5's and Qwen3's jinja templates (non-tool-call path);
// tests/unit/test_chat.c compares against jinja2 renderings.
#include "gcache/chat.h"
#include "core/error.h"
#include "core/vec.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char SMOLLM2_SYSTEM[] = "You are a helpful AI assistant named SmolLM, trained by Hugging Face";
static const char QWEN25_SYSTEM[] = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

gc_chat_style gc_chat_detect(const char *jinja) {
    if (!jinja) return GC_CHAT_CHATML;
    if (!strstr(jinja, "<|im_start|>")) return GC_CHAT_UNKNOWN;
    if (strstr(jinja, SMOLLM2_SYSTEM)) return GC_CHAT_SMOLLM2;
    if (strstr(jinja, "enable_thinking") || strstr(jinja, "reasoning_content")) return GC_CHAT_QWEN3;
    if (strstr(jinja, QWEN25_SYSTEM)) return GC_CHAT_QWEN25;
    return GC_CHAT_CHATML;
}

const char *gc_chat_style_name(gc_chat_style style) {
    switch (style) {
    case GC_CHAT_CHATML: return "chatml";
    case GC_CHAT_SMOLLM2: return "smollm2";
    case GC_CHAT_QWEN25: return "qwen2.5";
    case GC_CHAT_QWEN3: return "qwen3";
    case GC_CHAT_UNKNOWN: break;
    }
    return "unknown";
}

const char *gc_chat_default_system(gc_chat_style style) {
    return style == GC_CHAT_SMOLLM2 ? SMOLLM2_SYSTEM : style == GC_CHAT_QWEN25 ? QWEN25_SYSTEM : NULL;
}

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (n >= SIZE_MAX - b->n || !GC_VEC_RESERVE(b->p, b->cap, b->n + n + 1)) {
        b->oom = true;
        return;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void puts_(sbuf *b, const char *s) { put(b, s, strlen(s)); }

static void turn(sbuf *b, const char *role, const char *content, size_t content_len) {
    puts_(b, "<|im_start|>");
    puts_(b, role);
    puts_(b, "\n");
    put(b, content, content_len);
    puts_(b, "<|im_end|>\n");
}

// A substring; Python's str methods on it are what the Qwen3 template uses.
typedef struct span {
    const char *p;
    size_t n;
} span;

// Offset of the first / last occurrence of needle in s, or -1.
static long find_first(span s, const char *needle) {
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= s.n; i++)
        if (memcmp(s.p + i, needle, k) == 0) return (long)i;
    return -1;
}

static long find_last(span s, const char *needle) {
    size_t k = strlen(needle);
    for (size_t i = s.n + 1; i-- > 0;)
        if (i + k <= s.n && memcmp(s.p + i, needle, k) == 0) return (long)i;
    return -1;
}

static span lstrip_nl(span s) {
    while (s.n && s.p[0] == '\n') s.p++, s.n--;
    return s;
}

static span rstrip_nl(span s) {
    while (s.n && s.p[s.n - 1] == '\n') s.n--;
    return s;
}

static bool starts_ends(const char *s, const char *pre, const char *post) {
    size_t n = strlen(s), a = strlen(pre), z = strlen(post);
    return n >= a && n >= z && memcmp(s, pre, a) == 0 && memcmp(s + n - z, post, z) == 0;
}

// Consecutive tool messages share one user turn.
static void tool_turn(sbuf *b, const gc_chat_msg *m, size_t n, size_t i) {
    if (i == 0 || strcmp(m[i - 1].role, "tool") != 0) puts_(b, "<|im_start|>user");
    puts_(b, "\n<tool_response>\n");
    puts_(b, m[i].content);
    puts_(b, "\n</tool_response>");
    if (i + 1 == n || strcmp(m[i + 1].role, "tool") != 0) puts_(b, "<|im_end|>\n");
}

// Qwen3's assistant turn: the reasoning is whatever sits between the last
// <think> before the first </think> and that </think>; the answer follows the
// last </think>.
static void qwen3_assistant(sbuf *b, const gc_chat_msg *m, size_t n, size_t i, size_t last_query) {
    span content = {m[i].content, strlen(m[i].content)}, reasoning = {"", 0};
    long close = find_first(content, "</think>");
    if (close >= 0) {
        span before = rstrip_nl((span){content.p, (size_t)close});
        long open = find_last(before, "<think>");
        if (open >= 0) before = (span){before.p + open + 7, before.n - (size_t)open - 7};
        reasoning = lstrip_nl(before);
        long last = find_last(content, "</think>");
        content = lstrip_nl((span){content.p + last + 8, content.n - (size_t)last - 8});
    }
    puts_(b, "<|im_start|>");
    puts_(b, m[i].role);
    puts_(b, "\n");
    if (i > last_query && (i + 1 == n || reasoning.n)) {
        reasoning = rstrip_nl(lstrip_nl(reasoning));
        puts_(b, "<think>\n");
        put(b, reasoning.p, reasoning.n);
        puts_(b, "\n</think>\n\n");
        content = lstrip_nl(content);
    }
    put(b, content.p, content.n);
    puts_(b, "<|im_end|>\n");
}

static void format_qwen(sbuf *b, gc_chat_style style, const gc_chat_msg *m, size_t n) {
    if (style == GC_CHAT_QWEN25 && (n == 0 || strcmp(m[0].role, "system") != 0))
        turn(b, "system", QWEN25_SYSTEM, strlen(QWEN25_SYSTEM));
    // The last user message that is a real query, not a wrapped tool result.
    size_t last_query = n ? n - 1 : 0;
    for (size_t i = n; i-- > 0;) {
        if (strcmp(m[i].role, "user") == 0 && !starts_ends(m[i].content, "<tool_response>", "</tool_response>")) {
            last_query = i;
            break;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const char *role = m[i].role;
        if (strcmp(role, "user") == 0 || strcmp(role, "system") == 0 ||
            (style == GC_CHAT_QWEN25 && strcmp(role, "assistant") == 0))
            turn(b, role, m[i].content, strlen(m[i].content));
        else if (strcmp(role, "assistant") == 0)
            qwen3_assistant(b, m, n, i, last_query);
        else if (strcmp(role, "tool") == 0)
            tool_turn(b, m, n, i);
        // Other roles have no branch in the Qwen templates.
    }
}

gc_status gc_chat_format(gc_chat_style style, const gc_chat_msg *msgs, size_t n, const gc_chat_opts *opts, char **out,
                         size_t *len) {
    *out = NULL;
    if (len) *len = 0;
    if (style == GC_CHAT_UNKNOWN || style > GC_CHAT_QWEN3)
        return gc_fail(GC_ERR_UNSUPPORTED, "chat: template style \"%s\" cannot be formatted (not ChatML)",
                       gc_chat_style_name(style));
    if (n && !msgs) return gc_fail(GC_ERR_INVALID_ARG, "chat: msgs is NULL");
    for (size_t i = 0; i < n; i++)
        if (!msgs[i].role || !msgs[i].content)
            return gc_fail(GC_ERR_INVALID_ARG, "chat: message %zu has a NULL %s", i, msgs[i].role ? "content" : "role");
    gc_chat_opts o = opts ? *opts : (gc_chat_opts){.add_generation_prompt = true, .enable_thinking = true};
    sbuf b = {0};
    put(&b, "", 0);  // never hand out NULL
    if (style == GC_CHAT_QWEN25 || style == GC_CHAT_QWEN3) {
        format_qwen(&b, style, msgs, n);
    } else {
        if (style == GC_CHAT_SMOLLM2 && n && strcmp(msgs[0].role, "system") != 0)
            turn(&b, "system", SMOLLM2_SYSTEM, strlen(SMOLLM2_SYSTEM));
        for (size_t i = 0; i < n; i++) turn(&b, msgs[i].role, msgs[i].content, strlen(msgs[i].content));
    }
    if (o.add_generation_prompt) {
        puts_(&b, "<|im_start|>assistant\n");
        if (style == GC_CHAT_QWEN3 && !o.enable_thinking) puts_(&b, "<think>\n\n</think>\n\n");
    }
    if (b.oom) {
        free(b.p);
        return gc_fail(GC_ERR_OOM, "chat: out of memory formatting %zu messages", n);
    }
    *out = b.p;
    if (len) *len = b.n;
    return GC_OK;
}
