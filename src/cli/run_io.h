// What `gcache run` needs from the evaluation harness (src/eval): questions,
// answer extraction and scoring, the results file. Kept behind this small
// interface so the run loop reads as the method it implements.
#ifndef GC_CLI_RUN_IO_H
#define GC_CLI_RUN_IO_H
#include "gcache/gcache.h"
#include <cjson/cJSON.h>

typedef struct runio_q {
    const char *id, *question, *gold;
} runio_q;

typedef struct runio_set runio_set;

// Loads a task file; malformed records are reported and skipped (fatal with strict).
gc_status runio_load(const char *task, const char *path, bool strict, uint64_t seed, runio_set **out);
int64_t runio_count(const runio_set *s);
runio_q runio_get(const runio_set *s, int64_t i);
void runio_free(runio_set *s);

// Extracts the prediction from a model's text and scores it; fills pred
// (malloc'd, may be NULL) and adds task-specific details to `rec`.
bool runio_score(const char *task, const runio_set *s, int64_t i, const char *text, char **pred, cJSON *rec);

typedef struct runio_results runio_results;
// Opens DIR/results.jsonl; with resume, ids already there are reported done
// (a line torn by a kill is repaired); without, an existing file is an error.
gc_status runio_results_open(const char *dir, bool resume, runio_results **out);
bool runio_results_done(const runio_results *r, const char *id);
int64_t runio_results_count(const runio_results *r);
// Appends one line and flushes it to disk.
gc_status runio_results_append(runio_results *r, const cJSON *rec);
// Writes DIR/summary.json over every line of the file (with `run`, what
// produced them, as its "run" field) and prints a table.
gc_status runio_results_summary(runio_results *r, const char *label, const cJSON *run);
void runio_results_close(runio_results *r);

// Progress bar on stderr: `start` of the `total` items were done before this
// run (the rate counts only the rest); unit names an item in rates ("q", "it").
typedef struct runio_progress runio_progress;
runio_progress *runio_progress_new(int64_t total, int64_t start, const char *label, const char *unit);
void runio_progress_tick(runio_progress *p, int64_t done, const char *extra);
void runio_progress_done(runio_progress *p);

#endif
