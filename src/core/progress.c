#include "core/progress.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TTY_REDRAW_S 0.1     // at most ten redraws a second
#define PLAIN_EVERY_S 30.0   // a plain line at least this often

struct gc_progress {
    FILE *fp;
    bool tty;
    gc_progress_clock_fn clock;
    void *clock_ctx;
    size_t total, start, last_done;
    int width;
    char *label;
    char unit[8];
    double t0, last_draw;
    int last_decile;
    bool drawn;
};

static double mono_clock(void *ctx) {
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

gc_progress *gc_progress_new_opts(size_t total, const char *label, const gc_progress_opts *o) {
    gc_progress *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->label = strdup(label ? label : "");
    if (!p->label) { free(p); return NULL; }
    p->fp = (o && o->stream) ? o->stream : stderr;
    p->tty = (o && o->tty >= 0) ? o->tty != 0 : isatty(fileno(p->fp)) != 0;
    p->clock = (o && o->clock) ? o->clock : mono_clock;
    p->clock_ctx = o ? o->clock_ctx : NULL;
    p->total = total;
    p->start = o ? o->start : 0;
    p->last_done = p->start;
    p->width = (o && o->width > 0) ? o->width : 24;
    snprintf(p->unit, sizeof p->unit, "%s", (o && o->unit && *o->unit) ? o->unit : "q");
    p->t0 = p->clock(p->clock_ctx);
    p->last_draw = p->t0;
    p->last_decile = total ? (int)(p->start * 10 / total) : 0;
    return p;
}

gc_progress *gc_progress_new(size_t total, const char *label) {
    gc_progress_opts o = {NULL, -1, NULL, NULL, 0, 0, NULL};
    return gc_progress_new_opts(total, label, &o);
}

void gc_progress_fmt_duration(double s, char *buf, size_t cap) {
    if (!isfinite(s) || s < 0 || s > 1e9) { snprintf(buf, cap, "--"); return; }
    long t = lround(s);
    if (t < 60) snprintf(buf, cap, "%lds", t);
    else if (t < 3600) snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, cap, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
}

// Items per second over this run; 0 when nothing was done yet.
static double rate(const gc_progress *p, size_t done, double now) {
    double dt = now - p->t0;
    if (done <= p->start || dt <= 0) return 0;
    return (double)(done - p->start) / dt;
}

static void fmt_rate(const gc_progress *p, double r, char *buf, size_t cap) {
    if (r <= 0) snprintf(buf, cap, "-- %s/s", p->unit);
    else if (r >= 1) snprintf(buf, cap, "%.2f %s/s", r, p->unit);
    else snprintf(buf, cap, "%.1f s/%s", 1.0 / r, p->unit);
}

void gc_progress_format(const gc_progress *p, size_t done, double now, const char *extra, char *buf, size_t cap) {
    if (!p || cap == 0) return;
    size_t total = p->total;
    if (total && done > total) done = total;
    double frac = total ? (double)done / (double)total : 1.0;
    size_t k = 0;
#define OUT(...) do { int w_ = snprintf(buf + k, cap - k, __VA_ARGS__); if (w_ > 0) k += (size_t)w_; if (k >= cap) k = cap - 1; } while (0)
    if (*p->label) OUT("%s ", p->label);
    if (p->tty) {
        int fill = (int)floor(frac * p->width + 1e-9);
        OUT("[");
        for (int i = 0; i < p->width; i++) OUT("%c", i < fill ? '#' : '.');
        OUT("] ");
    }
    double r = rate(p, done, now);
    char rs[32], eta[32];
    fmt_rate(p, r, rs, sizeof rs);
    gc_progress_fmt_duration(r > 0 ? (double)(total - done) / r : -1, eta, sizeof eta);
    OUT("%zu/%zu %3.0f%% %s ETA %s", done, total, 100.0 * frac, rs, eta);
    if (extra && *extra) {
        OUT("  ");
        // One line: control characters become spaces; at most 60 bytes.
        for (size_t i = 0; extra[i] && i < 60 && k + 1 < cap; i++)
            buf[k++] = ((unsigned char)extra[i] < 0x20) ? ' ' : extra[i];
        buf[k] = 0;
    }
#undef OUT
}

static void draw(gc_progress *p, size_t done, double now, const char *extra) {
    char line[512];
    gc_progress_format(p, done, now, extra, line, sizeof line);
    if (p->tty) fprintf(p->fp, "\r%s\033[K", line);
    else fprintf(p->fp, "%s\n", line);
    fflush(p->fp);
    p->last_draw = now;
    p->drawn = true;
}

void gc_progress_tick(gc_progress *p, size_t done, const char *extra) {
    if (!p) return;
    double now = p->clock(p->clock_ctx);
    p->last_done = done;
    if (p->tty) {
        if (now - p->last_draw >= TTY_REDRAW_S || !p->drawn || done >= p->total) draw(p, done, now, extra);
        return;
    }
    int decile = p->total ? (int)((done > p->total ? p->total : done) * 10 / p->total) : 10;
    if (decile > p->last_decile || now - p->last_draw >= PLAIN_EVERY_S) {
        if (decile > p->last_decile) p->last_decile = decile;
        draw(p, done, now, extra);
    }
}

void gc_progress_done(gc_progress *p) {
    if (!p) return;
    double now = p->clock(p->clock_ctx);
    char el[32], rs[32];
    gc_progress_fmt_duration(now - p->t0, el, sizeof el);
    fmt_rate(p, rate(p, p->last_done, now), rs, sizeof rs);
    fprintf(p->fp, "%s%s%s%zu/%zu done in %s (%s)\n", p->tty && p->drawn ? "\r\033[K" : "", p->label,
            *p->label ? " " : "", p->last_done, p->total, el, rs);
    fflush(p->fp);
    free(p->label);
    free(p);
}
