// Code extraction from model output and the program run for a code question.
// Rules: gcache/eval.h.
#include "gcache/eval.h"
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct span { size_t start, end; bool found; } span;

static size_t line_end(const char *t, size_t len, size_t i) {
    const char *nl = memchr(t + i, '\n', len - i);
    return nl ? (size_t)(nl - t) : len;
}

// Fence at the line starting at i: "```" after optional spaces. *info gets
// the start of the info string.
static bool is_fence(const char *t, size_t len, size_t i, size_t *info) {
    while (i < len && (t[i] == ' ' || t[i] == '\t')) i++;
    if (i + 3 > len || memcmp(t + i, "```", 3) != 0) return false;
    *info = i + 3;
    return true;
}

// Python-tagged info string: "python", "py", "python3" (any case, then a space or end).
static bool python_tag(const char *t, size_t a, size_t b) {
    while (a < b && (t[a] == ' ' || t[a] == '\t')) a++;
    size_t w = a;
    while (w < b && !isspace((unsigned char)t[w]) && t[w] != '{') w++;
    size_t n = w - a;
    return (n == 6 && strncasecmp(t + a, "python", 6) == 0) || (n == 2 && strncasecmp(t + a, "py", 2) == 0) ||
           (n == 7 && strncasecmp(t + a, "python3", 7) == 0);
}

static bool empty_tag(const char *t, size_t a, size_t b) {
    for (; a < b; a++)
        if (!isspace((unsigned char)t[a])) return false;
    return true;
}

static void pick_block(const char *t, size_t len, span *py, span *plain) {
    py->found = plain->found = false;
    bool inside = false, is_py = false, is_plain = false;
    size_t content = 0;
    for (size_t i = 0; i < len;) {
        size_t e = line_end(t, len, i), info;
        if (is_fence(t, len, i, &info)) {
            if (inside) {
                span s = {content, i, true};
                if (is_py) *py = s;
                else if (is_plain) *plain = s;
                inside = false;
            } else {
                inside = true;
                is_py = python_tag(t, info, e);
                is_plain = !is_py && empty_tag(t, info, e);
                content = e < len ? e + 1 : len;
            }
        }
        i = e + 1;
    }
    if (inside) {  // the text ended inside a block
        span s = {content, len, true};
        if (is_py) *py = s;
        else if (is_plain) *plain = s;
    }
}

static bool has_top_level_def(const char *code, const char *entry_point) {
    size_t len = strlen(code);
    for (size_t i = 0; i < len; i = line_end(code, len, i) + 1) {
        if (strncmp(code + i, "def ", 4) != 0 && strncmp(code + i, "async def ", 10) != 0) continue;
        if (!entry_point || !*entry_point) return true;
        const char *name = code + i + (code[i] == 'd' ? 4 : 10);
        while (*name == ' ') name++;
        size_t n = strlen(entry_point);
        if (strncmp(name, entry_point, n) == 0) {
            const char *p = name + n;
            while (*p == ' ') p++;
            if (*p == '(') return true;
        }
    }
    return false;
}

// The prompt's top-level "import ..." / "from ... import ..." lines.
static size_t prompt_imports(const char *prompt, char *out) {
    size_t len = strlen(prompt), k = 0;
    for (size_t i = 0; i < len;) {
        size_t e = line_end(prompt, len, i);
        if (strncmp(prompt + i, "import ", 7) == 0 || strncmp(prompt + i, "from ", 5) == 0) {
            if (out) { memcpy(out + k, prompt + i, e - i); out[k + e - i] = '\n'; }
            k += e - i + 1;
        }
        i = e + 1;
    }
    return k;
}

char *gc_answer_extract_code(const char *output, const char *prompt, const char *entry_point) {
    if (!output) output = "";
    size_t len = strlen(output);
    span py = {0, 0, false}, plain = {0, 0, false};
    pick_block(output, len, &py, &plain);
    span s = py.found ? py : plain.found ? plain : (span){0, len, true};
    size_t cl = s.end - s.start;
    char *code = malloc(cl + 1);
    if (!code) return NULL;
    memcpy(code, output + s.start, cl);
    code[cl] = 0;
    if (!prompt || !*prompt) return code;

    char *r;
    if (has_top_level_def(code, entry_point)) {
        size_t il = prompt_imports(prompt, NULL);
        r = malloc(il + cl + 1);
        if (!r) { free(code); return NULL; }
        prompt_imports(prompt, r);
        memcpy(r + il, code, cl + 1);
    } else {
        size_t pl = strlen(prompt);
        bool sep = prompt[pl - 1] != '\n' && code[0] != '\n';
        r = malloc(pl + sep + cl + 1);
        if (!r) { free(code); return NULL; }
        memcpy(r, prompt, pl);
        if (sep) r[pl] = '\n';
        memcpy(r + pl + sep, code, cl + 1);
    }
    free(code);
    return r;
}

char *gc_code_program(const gc_question *q, const char *output) {
    char *code = gc_answer_extract_code(output, q->code_prompt, q->entry_point);
    if (!code) return NULL;
    const char *tests = q->gold ? q->gold : "";
    size_t cl = strlen(code), tl = strlen(tests);
    char *p = malloc(cl + tl + 4);
    if (p) {
        memcpy(p, code, cl);
        memcpy(p + cl, "\n\n", 2);
        memcpy(p + cl + 2, tests, tl);
        p[cl + 2 + tl] = '\n';
        p[cl + 3 + tl] = 0;
    }
    free(code);
    return p;
}
