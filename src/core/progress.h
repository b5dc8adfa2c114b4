// Progress reporting for long loops (evaluation runs), written to stderr.
//   tty:      one line redrawn in place: label [#####.....] 45/100 45% 2.10 q/s ETA 26s extra
//             (the unit, "q" for questions by default, is the caller's: "it" for iterations)
//   not tty:  the same figures as a plain line each time another 10% is done
//             or 30 s have passed, so logs stay short.
// The rate counts only work done in this run (opts.start excludes questions
// already finished before a resume).
#ifndef GC_CORE_PROGRESS_H
#define GC_CORE_PROGRESS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct gc_progress gc_progress;

typedef double (*gc_progress_clock_fn)(void *ctx);   // seconds, monotonic

typedef struct gc_progress_opts {
    FILE *stream;                // NULL: stderr
    int tty;                     // -1: isatty(stream), 0 / 1: forced
    gc_progress_clock_fn clock;  // NULL: CLOCK_MONOTONIC
    void *clock_ctx;
    size_t start;                // items done before this run
    int width;                   // bar cells; 0: 24
    const char *unit;            // what an item is in rates ("q/s", "s/q"); NULL: "q"
} gc_progress_opts;

// NULL on OOM; every function accepts a NULL progress and does nothing.
// `label` is copied.
gc_progress *gc_progress_new(size_t total, const char *label);
gc_progress *gc_progress_new_opts(size_t total, const char *label, const gc_progress_opts *opts);
// `done` items finished so far (absolute, not an increment); extra may be NULL.
void gc_progress_tick(gc_progress *p, size_t done, const char *extra);
// Prints the final line (elapsed time and rate) and frees p.
void gc_progress_done(gc_progress *p);

// ---- formatting, exposed for tests ----
// "42s", "3m05s", "2h07m", "--" for negative / non-finite.
void gc_progress_fmt_duration(double seconds, char *buf, size_t cap);
// The status text for `done` at time `now` (no "\r", no newline).
void gc_progress_format(const gc_progress *p, size_t done, double now, const char *extra, char *buf, size_t cap);

#endif
