// Multiple-choice letter extraction. Rules: gcache/eval.h.
#include "gcache/eval.h"
#include "eval/boxed.h"
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool has_ci(const char *t, size_t len, size_t i, const char *w) {
    size_t n = strlen(w);
    return i + n <= len && strncasecmp(t + i, w, n) == 0;
}

static bool valid(char c, int n) { return c >= 'A' && c < 'A' + n; }

// Skips decoration between a marker and the letter: spaces, markdown, opening
// brackets, "$", LaTeX text wrappers and the words option/choice/letter.
static size_t skip_decor(const char *t, size_t len, size_t i) {
    static const char *const wraps[] = {"\\text{", "\\textbf{", "\\mathrm{", "\\mathbf{", "\\boxed{"};
    static const char *const words[] = {"option ", "choice ", "letter "};
    for (;;) {
        size_t before = i;
        while (i < len && strchr(" \t*_$([{", t[i])) i++;
        for (size_t w = 0; w < sizeof wraps / sizeof *wraps; w++)
            if (has_ci(t, len, i, wraps[w])) i += strlen(wraps[w]);
        for (size_t w = 0; w < sizeof words / sizeof *words; w++)
            if (has_ci(t, len, i, words[w])) i += strlen(words[w]);
        if (i == before) return i;
    }
}

// A capital at t[i] standing alone: not followed by a letter or digit.
static bool standalone(const char *t, size_t len, size_t i, int n) {
    if (i >= len || !valid(t[i], n)) return false;
    return i + 1 >= len || !isalnum((unsigned char)t[i + 1]);
}

static char from_boxed(const char *t, size_t len, int n) {
    gc_span *boxes;
    size_t nb = gc_boxed_find(t, len, &boxes);
    char found = 0;
    for (size_t b = nb; b-- > 0 && !found;) {
        size_t i = skip_decor(t, boxes[b].end, boxes[b].start);
        if (standalone(t, boxes[b].end, i, n)) found = t[i];
    }
    free(boxes);
    return found;
}

// After "answer" (word start): "is", ":" or "=", then the letter.
static char from_statement(const char *t, size_t len, int n) {
    char found = 0;
    for (size_t i = 0; i + 6 <= len; i++) {
        if (strncasecmp(t + i, "answer", 6) != 0 || (i > 0 && isalpha((unsigned char)t[i - 1]))) continue;
        size_t k = i + 6;
        while (k < len && strchr(" \t*_", t[k])) k++;
        if (k < len && (t[k] == ':' || t[k] == '=')) {
            k++;
        } else if (has_ci(t, len, k, "is") && (k + 2 == len || !isalpha((unsigned char)t[k + 2]))) {
            k += 2;
            if (k < len && t[k] == ':') k++;
        } else {
            continue;
        }
        k = skip_decor(t, len, k);
        if (!standalone(t, len, k, n)) continue;
        // "the answer is I think", "Answer: A patient with": an article or pronoun.
        if ((t[k] == 'A' || t[k] == 'I') && k + 2 < len && t[k + 1] == ' ' && islower((unsigned char)t[k + 2]))
            continue;
        found = t[k];
    }
    return found;
}

// "(C)", "**C**", or at a line start "C." / "C)" / "C:" / the letter alone.
static char from_context(const char *t, size_t len, int n) {
    char found = 0;
    for (size_t i = 0; i < len; i++) {
        if (t[i] == '(' && i + 2 < len && valid(t[i + 1], n) && t[i + 2] == ')') found = t[i + 1];
        if (t[i] == '*' && i + 4 < len && t[i + 1] == '*' && valid(t[i + 2], n) && t[i + 3] == '*' &&
            t[i + 4] == '*')
            found = t[i + 2];
        if (i == 0 || t[i - 1] == '\n') {
            size_t k = i;
            while (k < len && strchr(" \t*#>", t[k]) && t[k] != '\n') k++;
            if (k < len && valid(t[k], n)) {
                size_t e = k + 1;
                if (e < len && (t[e] == '.' || t[e] == ')' || t[e] == ':')) {
                    found = t[k];
                } else {
                    while (e < len && strchr(" \t*.", t[e])) e++;
                    if (e >= len || t[e] == '\n' || t[e] == '\r') found = t[k];
                }
            }
        }
    }
    return found;
}

char gc_answer_extract_choice(const char *output, int n_choices) {
    if (!output) return 0;
    int n = (n_choices >= 2 && n_choices <= 10) ? n_choices : 10;
    size_t len = strlen(output);
    char c = from_boxed(output, len, n);
    if (!c) c = from_statement(output, len, n);
    if (!c) c = from_context(output, len, n);
    return c;
}
