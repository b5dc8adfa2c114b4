// Numeric-answer tasks: GSM8K and AIME.
#include "eval/dataset_internal.h"
#include "eval/number.h"
#include "core/error.h"
#include "core/json.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static gc_status set_gold(const gc_ds_rec *r, gc_question *q, const char *norm) {
    q->gold = gc_ds_dupn(norm, strlen(norm));
    return q->gold ? GC_OK : gc_ds_oom(r);
}

static gc_status set_question(const gc_ds_rec *r, gc_question *q, const char *text) {
    q->question = gc_ds_trim_dup(text);
    return q->question ? GC_OK : gc_ds_oom(r);
}

// GSM8K: {"question", "answer": "<solution>\n#### 1,234"}; gold follows the last "####".
gc_status gc_ds_gsm8k(const gc_ds_rec *r, const gc_dataset_options *opt, gc_question *q) {
    const char *question, *answer;
    GC_TRY(gc_ds_req_str(r, r->v, "question", false, &question));
    GC_TRY(gc_ds_req_str(r, r->v, "answer", false, &answer));
    const char *mark = NULL;
    for (const char *p = strstr(answer, "####"); p; p = strstr(p + 4, "####")) mark = p;
    if (!mark) return gc_fail(GC_ERR_FORMAT, "%s: field \"answer\": no \"####\" before the final answer", r->ctx);
    const char *g = mark + 4;
    while (*g == '#') g++;
    gc_num n;
    if (!gc_num_parse_exact(g, strlen(g), &n))
        return gc_fail(GC_ERR_FORMAT, "%s: field \"answer\": \"%.40s\" after \"####\" is not a number", r->ctx, g);
    GC_TRY(gc_ds_id(r, "id", gc_ds_get(r->v, "id", false), &q->id));
    GC_TRY(set_question(r, q, question));
    return set_gold(r, q, n.norm);
}

// AIME: keys in any case: problem|question, answer (number or numeric
// string), id (string or integer).
gc_status gc_ds_aime(const gc_ds_rec *r, const gc_dataset_options *opt, gc_question *q) {
    const char *key = gc_ds_get(r->v, "problem", true) ? "problem" : "question";
    const char *problem;
    GC_TRY(gc_ds_req_str(r, r->v, key, true, &problem));
    const cJSON *a = gc_ds_get(r->v, "answer", true);
    gc_num n;
    if (cJSON_IsNumber(a)) {
        if (!isfinite(a->valuedouble))
            return gc_fail(GC_ERR_FORMAT, "%s: field \"answer\": not a finite number", r->ctx);
        char buf[64];
        snprintf(buf, sizeof buf, "%.15g", a->valuedouble);
        if (!gc_num_parse_exact(buf, strlen(buf), &n)) gc_num_set_value(&n, a->valuedouble);
    } else {
        const char *s;
        GC_TRY(gc_ds_str_value(r, "answer", a, &s));
        if (!gc_num_parse_exact(s, strlen(s), &n))
            return gc_fail(GC_ERR_FORMAT, "%s: field \"answer\": \"%.40s\" is not a number", r->ctx, s);
    }
    GC_TRY(gc_ds_id(r, "id", gc_ds_get(r->v, "id", true), &q->id));
    GC_TRY(set_question(r, q, problem));
    return set_gold(r, q, n.norm);
}
