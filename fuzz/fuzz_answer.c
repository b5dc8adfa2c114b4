// libFuzzer target for answer extraction. Byte 0 is n_choices; the rest is
// the model output, up to an optional NUL byte after which comes a
// HumanEval prompt (its first line's "def NAME(" gives the entry point).
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gcache/eval.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int n_choices = data[0] % 12;
    const uint8_t *rest = data + 1;
    size_t rl = size - 1;
    const uint8_t *nul = rl ? memchr(rest, 0, rl) : NULL;
    size_t ol = nul ? (size_t)(nul - rest) : rl;
    char *out = malloc(ol + 1);
    char *prompt = nul ? malloc(rl - ol) : NULL;
    if (!out || (nul && !prompt)) { free(out); free(prompt); return 0; }
    memcpy(out, rest, ol);
    out[ol] = 0;
    if (prompt) {
        memcpy(prompt, nul + 1, rl - ol - 1);
        prompt[rl - ol - 1] = 0;
    }

    char num[64];
    if (gc_answer_extract_number(out, num, sizeof num)) {
        // The normalized prediction normalizes to itself and equals itself.
        char again[64];
        if (!strstr(num, "inf") && !strstr(num, "nan")) {
            if (!gc_answer_normalize_number(num, again, sizeof again) || strcmp(num, again) != 0) abort();
            if (!gc_answer_numbers_equal(num, num)) abort();
        }
    } else if (num[0]) {
        abort();
    }
    char c = gc_answer_extract_choice(out, n_choices);
    int range = (n_choices >= 2 && n_choices <= 10) ? n_choices : 10;
    if (c && (c < 'A' || c >= 'A' + range)) abort();

    char entry[32] = "";
    if (prompt && strncmp(prompt, "def ", 4) == 0) {
        size_t k = 0;
        for (const char *p = prompt + 4; *p && *p != '(' && k + 1 < sizeof entry; p++) entry[k++] = *p;
        entry[k] = 0;
    }
    char *code = gc_answer_extract_code(out, prompt, entry[0] ? entry : NULL);
    if (!code) abort();
    if (!prompt && strlen(code) > ol) abort();  // a block is part of the text
    free(code);

    gc_question q = {0};
    q.id = "fuzz";
    q.gold = num[0] ? num : "7";
    q.n_choices = n_choices;
    gc_score s;
    if (gc_answer_score(GC_ANSWER_NUMBER, &q, out, &s) != GC_OK) abort();
    if (num[0] && !s.correct && !strstr(num, "inf") && !strstr(num, "nan")) abort();
    free(out);
    free(prompt);
    return 0;
}
