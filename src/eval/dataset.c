// Dataset loading: picks the container reader from the first byte ('[' a
// JSON array, '{' JSON lines, else CSV for GPQA/MMLU), converts every record
// with the task's converter, collects warnings, and makes ids unique.
#include "eval/dataset_internal.h"
#include "core/error.h"
#include "core/file.h"
#include "core/vec.h"
#include "eval/strset.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct gc_dataset {
    gc_task task;
    gc_question *q;
    size_t n, cap;
    char **warn;
    size_t n_warn, cap_warn;
    size_t skipped;
};

static const struct {
    const char *name;
    gc_task task;
} k_names[] = {
    {"gsm8k", GC_TASK_GSM8K},         {"aime", GC_TASK_AIME},           {"aime2024", GC_TASK_AIME},
    {"aime2025", GC_TASK_AIME},       {"aime24", GC_TASK_AIME},         {"aime25", GC_TASK_AIME},
    {"arc", GC_TASK_ARC},             {"arc-easy", GC_TASK_ARC},        {"arc-challenge", GC_TASK_ARC},
    {"arc_easy", GC_TASK_ARC},        {"arc_challenge", GC_TASK_ARC},   {"arc-e", GC_TASK_ARC},
    {"arc-c", GC_TASK_ARC},           {"gpqa", GC_TASK_GPQA},           {"gpqa-diamond", GC_TASK_GPQA},
    {"gpqa_diamond", GC_TASK_GPQA},   {"medqa", GC_TASK_MEDQA},         {"mmlu", GC_TASK_MMLU},
    {"humaneval", GC_TASK_HUMANEVAL}, {"humaneval+", GC_TASK_HUMANEVAL}, {"humaneval-plus", GC_TASK_HUMANEVAL},
    {"mbpp", GC_TASK_MBPP},           {"mbpp+", GC_TASK_MBPP},          {"mbpp-plus", GC_TASK_MBPP},
};

static const char *const k_canonical[GC_TASK_COUNT] = {"gsm8k", "aime", "arc", "gpqa",
                                                       "medqa", "mmlu", "humaneval", "mbpp"};

gc_status gc_task_from_name(const char *name, gc_task *out) {
    for (size_t i = 0; name && i < sizeof k_names / sizeof *k_names; i++) {
        if (strcasecmp(name, k_names[i].name) == 0) { *out = k_names[i].task; return GC_OK; }
    }
    return gc_fail(GC_ERR_INVALID_ARG, "unknown task \"%s\" (known: gsm8k, aime, arc, gpqa, medqa, mmlu, humaneval, mbpp)",
                   name ? name : "(null)");
}

const char *gc_task_name(gc_task t) { return (t >= 0 && t < GC_TASK_COUNT) ? k_canonical[t] : "unknown"; }

gc_answer_kind gc_task_answer_kind(gc_task t) {
    switch (t) {
    case GC_TASK_GSM8K: case GC_TASK_AIME: return GC_ANSWER_NUMBER;
    case GC_TASK_HUMANEVAL: case GC_TASK_MBPP: return GC_ANSWER_CODE;
    default: return GC_ANSWER_CHOICE;
    }
}

static gc_ds_convert converter(gc_task t) {
    switch (t) {
    case GC_TASK_GSM8K: return gc_ds_gsm8k;
    case GC_TASK_AIME: return gc_ds_aime;
    case GC_TASK_ARC: return gc_ds_arc;
    case GC_TASK_GPQA: return gc_ds_gpqa;
    case GC_TASK_MEDQA: return gc_ds_medqa;
    case GC_TASK_MMLU: return gc_ds_mmlu;
    case GC_TASK_HUMANEVAL: return gc_ds_humaneval;
    case GC_TASK_MBPP: return gc_ds_mbpp;
    default: return NULL;
    }
}

void gc_dataset_free(gc_dataset *ds) {
    if (!ds) return;
    for (size_t i = 0; i < ds->n; i++) gc_question_clear(&ds->q[i]);
    for (size_t i = 0; i < ds->n_warn; i++) free(ds->warn[i]);
    free(ds->q);
    free(ds->warn);
    free(ds);
}

size_t gc_dataset_count(const gc_dataset *ds) { return ds ? ds->n : 0; }
const gc_question *gc_dataset_get(const gc_dataset *ds, size_t i) { return (ds && i < ds->n) ? &ds->q[i] : NULL; }
gc_task gc_dataset_task(const gc_dataset *ds) { return ds->task; }
size_t gc_dataset_skipped(const gc_dataset *ds) { return ds ? ds->skipped : 0; }
size_t gc_dataset_warning_count(const gc_dataset *ds) { return ds ? ds->n_warn : 0; }
const char *gc_dataset_warning(const gc_dataset *ds, size_t i) { return (ds && i < ds->n_warn) ? ds->warn[i] : NULL; }

static gc_status add_warning(gc_dataset *ds, const char *fmt, ...) GC_PRINTF(2, 3);
static gc_status add_warning(gc_dataset *ds, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (!GC_VEC_RESERVE(ds->warn, ds->cap_warn, ds->n_warn + 1)) return gc_fail(GC_ERR_OOM, "out of memory");
    ds->warn[ds->n_warn] = strdup(buf);
    if (!ds->warn[ds->n_warn]) return gc_fail(GC_ERR_OOM, "out of memory");
    ds->n_warn++;
    return GC_OK;
}

typedef struct load_ctx {
    gc_dataset *ds;
    const gc_dataset_options *opt;
    gc_ds_convert conv;
} load_ctx;

static gc_status on_record(void *user, gc_status st, const gc_ds_rec *r) {
    load_ctx *c = user;
    gc_dataset *ds = c->ds;
    if (st == GC_ERR_OOM) return st;
    gc_question q = {0};
    if (st == GC_OK) st = c->conv(r, c->opt, &q);
    if (st == GC_ERR_OOM) { gc_question_clear(&q); return st; }
    if (st == GC_OK && !q.id) {
        char buf[32];
        snprintf(buf, sizeof buf, "%zu", r->index);
        q.id = strdup(buf);
        if (!q.id) { gc_question_clear(&q); return gc_ds_oom(r); }
    }
    if (st == GC_OK && !GC_VEC_RESERVE(ds->q, ds->cap, ds->n + 1)) { gc_question_clear(&q); return gc_ds_oom(r); }
    if (st != GC_OK) {
        gc_question_clear(&q);
        if (c->opt->strict) return st;
        ds->skipped++;
        return add_warning(ds, "%s", gc_last_error());
    }
    q.line = r->line;
    ds->q[ds->n++] = q;
    return GC_OK;
}

typedef struct id_ref { const char *id; size_t index; } id_ref;

static int by_id_then_index(const void *a, const void *b) {
    const id_ref *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    if (c) return c;
    return (x->index > y->index) - (x->index < y->index);
}

// Later duplicates become "<id>#2", "<id>#3", ... in file order, skipping
// names any original id already has. Sorting groups the copies, so many
// copies of one id cost O(n log n), not O(n^2).
static gc_status dedupe(gc_dataset *ds, const char *path) {
    id_ref *refs = malloc(ds->n * sizeof *refs);
    char **renamed = calloc(ds->n, sizeof *renamed);
    gc_strset taken = {0};
    gc_status st = (refs && renamed) ? GC_OK : gc_fail(GC_ERR_OOM, "%s: out of memory", path);
    for (size_t i = 0; i < ds->n && st == GC_OK; i++) {
        refs[i] = (id_ref){ds->q[i].id, i};
        if (gc_strset_add(&taken, ds->q[i].id) < 0) st = gc_fail(GC_ERR_OOM, "%s: out of memory", path);
    }
    if (st == GC_OK) qsort(refs, ds->n, sizeof *refs, by_id_then_index);
    unsigned k = 2;
    for (size_t i = 1; i < ds->n && st == GC_OK; i++) {
        if (strcmp(refs[i].id, refs[i - 1].id) != 0) { k = 2; continue; }
        size_t len = strlen(refs[i].id);
        char *nid = malloc(len + 24);
        if (!nid) { st = gc_fail(GC_ERR_OOM, "%s: out of memory", path); break; }
        do snprintf(nid, len + 24, "%s#%u", refs[i].id, k++);
        while (gc_strset_has(&taken, nid));
        renamed[refs[i].index] = nid;
        if (gc_strset_add(&taken, nid) < 0) st = gc_fail(GC_ERR_OOM, "%s: out of memory", path);
    }
    for (size_t i = 0; i < ds->n && renamed; i++) {
        if (!renamed[i]) continue;
        gc_question *q = &ds->q[i];
        if (st == GC_OK)
            st = add_warning(ds, "%s:%lld: duplicate id \"%s\" renamed to \"%s\"", path, (long long)q->line, q->id,
                             renamed[i]);
        free(q->id);
        q->id = renamed[i];
    }
    free(refs);
    free(renamed);
    gc_strset_free(&taken);
    return st;
}

gc_status gc_dataset_parse(gc_task task, const char *data, size_t len, const char *name,
                           const gc_dataset_options *opt, gc_dataset **out) {
    *out = NULL;
    gc_dataset_options def = {0};
    if (!opt) opt = &def;
    if (!name) name = "(dataset)";
    gc_ds_convert conv = converter(task);
    if (!conv) return gc_fail(GC_ERR_INVALID_ARG, "%s: unknown task %d", name, (int)task);
    if (!data) len = 0;

    if (len >= 2 && (unsigned char)data[0] == 0x1f && (unsigned char)data[1] == 0x8b)
        return gc_fail(GC_ERR_FORMAT, "%s: a gzip file; decompress it first (gunzip -k %s)", name, name);
    size_t p = (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) ? 3 : 0;
    while (p < len && (data[p] == ' ' || data[p] == '\t' || data[p] == '\n' || data[p] == '\r')) p++;
    if (p >= len) return gc_fail(GC_ERR_FORMAT, "%s: empty file", name);

    gc_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return gc_fail(GC_ERR_OOM, "%s: out of memory", name);
    ds->task = task;
    load_ctx c = {ds, opt, conv};
    gc_status st;
    if (data[p] == '[') {
        st = gc_ds_read_json_array(name, data, len, on_record, &c);
    } else if (data[p] == '{') {
        st = gc_ds_read_jsonl(name, data, len, on_record, &c);
    } else if (task == GC_TASK_GPQA) {
        st = gc_ds_read_csv(name, data, len, GC_CSV_HEADER, on_record, &c);
    } else if (task == GC_TASK_MMLU) {
        st = gc_ds_read_csv(name, data, len, GC_CSV_DETECT_MMLU, on_record, &c);
    } else {
        st = gc_fail(GC_ERR_FORMAT, "%s: expected JSON lines or a JSON array for task %s", name, gc_task_name(task));
    }
    if (st == GC_OK && ds->n == 0) {
        if (ds->skipped)
            st = gc_fail(GC_ERR_FORMAT, "%s: no valid questions (%zu malformed records skipped; first: %s)", name,
                         ds->skipped, ds->warn[0]);
        else
            st = gc_fail(GC_ERR_FORMAT, "%s: no questions", name);
    }
    if (st == GC_OK) st = dedupe(ds, name);
    if (st != GC_OK) { gc_dataset_free(ds); return st; }
    *out = ds;
    return GC_OK;
}

gc_status gc_dataset_load(gc_task task, const char *path, const gc_dataset_options *opt, gc_dataset **out) {
    *out = NULL;
    char *data = NULL;
    size_t len = 0;
    GC_TRY(gc_file_read_all(path, &data, &len));
    gc_status st = gc_dataset_parse(task, data, len, path, opt, out);
    free(data);
    return st;
}
