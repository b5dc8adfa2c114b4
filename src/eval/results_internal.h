// Line reader shared by the results writer (resume) and the summary.
#ifndef GC_EVAL_RESULTS_INTERNAL_H
#define GC_EVAL_RESULTS_INTERNAL_H
#include "gcache/eval.h"
#include <cjson/cJSON.h>

typedef gc_status (*gc_results_line_fn)(void *user, const cJSON *obj, const char *id);

// Calls fn for every complete ('\n'-terminated, non-blank) line of d[0..len);
// a line that is not a JSON object with a string "id" is GC_ERR_FORMAT
// "<path>:<line>: ...". The tail after the last '\n' is left to the
// caller: *tail_at is its offset (len when there is none), *tail_line its line.
gc_status gc_results_each_line(const char *path, const char *d, size_t len, gc_results_line_fn fn, void *user,
                               size_t *tail_at, int64_t *tail_line);

#endif
