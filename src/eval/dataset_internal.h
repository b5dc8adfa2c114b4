// Shared pieces of the dataset readers.
//
// Every file becomes a sequence of records, each a cJSON value with its line:
//   JSON lines      -> one object per non-blank line
//   JSON array      -> one object per element (line of its first byte)
//   CSV with header -> an object {column name: field text}
//   CSV without     -> an array of field texts (MMLU's original release)
// A task converter turns one record into a gc_question or fails with a
// message "<file>:<line>: field \"<name>\": ...".
#ifndef GC_EVAL_DATASET_INTERNAL_H
#define GC_EVAL_DATASET_INTERNAL_H
#include "gcache/eval.h"
#include <cjson/cJSON.h>

typedef struct gc_ds_rec {
    const cJSON *v;     // the record
    int64_t line;       // 1-based line of its first byte
    size_t index;       // 0-based among all non-blank records, malformed ones included
    const char *ctx;    // "<file>:<line>", the prefix of every message
} gc_ds_rec;

// Called once per record. st != GC_OK: the record itself is malformed (the
// message is in gc_last_error, r->v is NULL). Returning an error stops.
typedef gc_status (*gc_ds_visit)(void *user, gc_status st, const gc_ds_rec *r);

typedef enum gc_csv_header { GC_CSV_HEADER, GC_CSV_NO_HEADER, GC_CSV_DETECT_MMLU } gc_csv_header;

gc_status gc_ds_read_jsonl(const char *path, const char *data, size_t len, gc_ds_visit fn, void *user);
gc_status gc_ds_read_json_array(const char *path, const char *data, size_t len, gc_ds_visit fn, void *user);
gc_status gc_ds_read_csv(const char *path, const char *data, size_t len, gc_csv_header hdr,
                         gc_ds_visit fn, void *user);

// ---- converters (dataset_math.c, dataset_choice.c, dataset_code.c) ----
typedef gc_status (*gc_ds_convert)(const gc_ds_rec *r, const gc_dataset_options *opt, gc_question *q);
gc_status gc_ds_gsm8k(const gc_ds_rec *r, const gc_dataset_options *opt, gc_question *q);
gc_status gc_ds_aime(const gc_ds_rec *r, const gc_dataset_options *opt, gc_question *q);
gc_status gc_ds_arc(const gc_ds_rec *r, const gc_dataset_options *opt, gc_question *q);
gc_status gc_ds_gpqa(const gc_ds_rec *r, const gc_dataset_options *opt, gc_question *q);
gc_status gc_ds_medqa(const gc_ds_rec *r, const gc_dataset_options *opt, gc_question *q);
gc_status gc_ds_mmlu(const gc_ds_rec *r, const gc_dataset_options *opt, gc_question *q);
gc_status gc_ds_humaneval(const gc_ds_rec *r, const gc_dataset_options *opt, gc_question *q);
gc_status gc_ds_mbpp(const gc_ds_rec *r, const gc_dataset_options *opt, gc_question *q);

// ---- helpers (dataset_util.c) ----
gc_status gc_ds_oom(const gc_ds_rec *r);
char *gc_ds_dupn(const char *s, size_t n);
// Copy without leading/trailing whitespace.
char *gc_ds_trim_dup(const char *s);
// Member `key`; ci: any letter case. JSON null counts as absent.
const cJSON *gc_ds_get(const cJSON *obj, const char *key, bool ci);
// A required non-blank string member.
gc_status gc_ds_req_str(const gc_ds_rec *r, const cJSON *obj, const char *key, bool ci, const char **out);
// The value `v` of field `field` as a non-blank string.
gc_status gc_ds_str_value(const gc_ds_rec *r, const char *field, const cJSON *v, const char **out);
// An id: a string or an integer; v NULL leaves *out NULL (the index is used).
gc_status gc_ds_id(const gc_ds_rec *r, const char *field, const cJSON *v, char **out);
// stem + "\nA. opt0\nB. opt1..." (stem and options trimmed).
gc_status gc_ds_choice_text(const gc_ds_rec *r, const char *stem, size_t stem_len,
                            const char *const *opts, int n, char **out);
// Program text test + "\n\ncheck(<entry>)\n" unless it already calls check()
// or test_check() at top level, or defines no check().
char *gc_ds_test_program(const char *setup, const char *test, const char *entry_point);
// Name of the first top-level "def NAME(" in code (last one when `last`).
char *gc_ds_def_name(const char *code, bool last);

void gc_question_clear(gc_question *q);

#endif
