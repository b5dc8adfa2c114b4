// Progress bar: duration/rate/ETA formatting, tty redraw vs plain lines every
// 10% or 30 s, resume baseline, with a fake clock and an in-memory stream.
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/progress.h"

typedef struct fake_clock { double t; } fake_clock;
static double fake_now(void *ctx) { return ((fake_clock *)ctx)->t; }

static size_t count_of(const char *hay, const char *needle) {
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

static void test_durations(void **st) {
    (void)st;
    char b[32];
    static const struct { double s; const char *want; } cases[] = {
        {0, "0s"}, {42.4, "42s"}, {59.6, "1m00s"}, {185, "3m05s"}, {3599, "59m59s"},
        {7620, "2h07m"}, {-1, "--"}, {INFINITY, "--"}, {NAN, "--"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        gc_progress_fmt_duration(cases[i].s, b, sizeof b);
        if (strcmp(b, cases[i].want) != 0) fail_msg("%g s: \"%s\", want \"%s\"", cases[i].s, b, cases[i].want);
    }
}

static void test_format(void **st) {
    (void)st;
    fake_clock clk = {100};
    FILE *sink = fopen("/dev/null", "w");
    assert_non_null(sink);
    gc_progress_opts o = {sink, 1, fake_now, &clk, 0, 10, NULL};
    gc_progress *p = gc_progress_new_opts(100, "gsm8k", &o);
    assert_non_null(p);
    char b[256];
    gc_progress_format(p, 45, 110, NULL, b, sizeof b);
    assert_string_equal(b, "gsm8k [####......] 45/100  45% 4.50 q/s ETA 12s");
    gc_progress_format(p, 2, 110, NULL, b, sizeof b);
    assert_string_equal(b, "gsm8k [..........] 2/100   2% 5.0 s/q ETA 8m10s");
    gc_progress_format(p, 0, 110, NULL, b, sizeof b);
    assert_string_equal(b, "gsm8k [..........] 0/100   0% -- q/s ETA --");
    gc_progress_format(p, 100, 150, "acc 0.81\nnext", b, sizeof b);
    assert_string_equal(b, "gsm8k [##########] 100/100 100% 2.00 q/s ETA 0s  acc 0.81 next");
    // Small buffers truncate safely.
    char tiny[8];
    gc_progress_format(p, 45, 110, "x", tiny, sizeof tiny);
    assert_string_equal(tiny, "gsm8k [");
    gc_progress_done(p);  // prints one line to stderr

    // Resume: 50 done before; 10 more in 10 s is 1 q/s, 40 left.
    o.start = 50;
    o.tty = 0;
    p = gc_progress_new_opts(100, "", &o);
    gc_progress_format(p, 60, 110, NULL, b, sizeof b);
    assert_string_equal(b, "60/100  60% 1.00 q/s ETA 40s");
    gc_progress_done(p);

    // Another unit: training iterations.
    o.start = 0;
    o.unit = "it";
    p = gc_progress_new_opts(10, "training", &o);
    gc_progress_format(p, 2, 130, NULL, b, sizeof b);
    assert_string_equal(b, "training 2/10  20% 15.0 s/it ETA 2m00s");
    gc_progress_format(p, 0, 130, NULL, b, sizeof b);
    assert_string_equal(b, "training 0/10   0% -- it/s ETA --");
    gc_progress_done(p);
    fclose(sink);
}

static void test_plain_every_decile_or_30s(void **st) {
    (void)st;
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    fake_clock clk = {0};
    gc_progress_opts o = {mem, 0, fake_now, &clk, 0, 0, NULL};
    gc_progress *p = gc_progress_new_opts(100, "run", &o);
    for (size_t d = 1; d <= 100; d++) {
        clk.t += 1;
        gc_progress_tick(p, d, NULL);
    }
    fflush(mem);
    assert_int_equal(count_of(buf, "\n"), 10);   // at 10%, 20%, ... 100%
    assert_int_equal(count_of(buf, "\r"), 0);
    assert_non_null(strstr(buf, "run 10/100  10% 1.00 q/s ETA 1m30s\n"));
    assert_non_null(strstr(buf, "run 100/100 100%"));
    // Slow progress: one line per 30 s even within a decile.
    gc_progress *q = gc_progress_new_opts(1000, "slow", &o);
    for (size_t d = 1; d <= 3; d++) {
        clk.t += 31;
        gc_progress_tick(q, d, "x");
    }
    clk.t += 5;
    gc_progress_tick(q, 4, NULL);   // neither a new decile nor 30 s
    gc_progress_done(q);
    gc_progress_done(p);
    fclose(mem);
    assert_int_equal(count_of(buf, "slow "), 4);  // 3 ticks + the final line
    assert_non_null(strstr(buf, "slow 4/1000 done in 1m38s (24.5 s/q)\n"));
    assert_non_null(strstr(buf, "run 100/100 done in"));
    free(buf);
}

static void test_tty_redraw(void **st) {
    (void)st;
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    fake_clock clk = {0};
    gc_progress_opts o = {mem, 1, fake_now, &clk, 0, 4, NULL};
    gc_progress *p = gc_progress_new_opts(5, "t", &o);
    gc_progress_tick(p, 1, NULL);   // first draw
    gc_progress_tick(p, 2, NULL);   // same instant: throttled
    clk.t += 0.5;
    gc_progress_tick(p, 3, NULL);   // drawn
    gc_progress_tick(p, 5, NULL);   // the end is always drawn
    clk.t += 0.5;
    gc_progress_done(p);
    fclose(mem);
    assert_int_equal(count_of(buf, "\r"), 4);      // 3 draws + clearing before the final line
    assert_int_equal(count_of(buf, "\033[K"), 4);
    assert_int_equal(count_of(buf, "\n"), 1);      // only the final line ends one
    assert_null(strstr(buf, "2/5"));
    assert_non_null(strstr(buf, "\rt [##..] 3/5  60% 6.00 q/s ETA 0s\033[K"));
    assert_non_null(strstr(buf, "t 5/5 done in 1s (5.00 q/s)\n"));
    free(buf);
}

static void test_null_and_zero_total(void **st) {
    (void)st;
    gc_progress_tick(NULL, 1, "x");
    gc_progress_done(NULL);
    char b[128];
    fake_clock clk = {0};
    FILE *sink = fopen("/dev/null", "w");
    gc_progress_opts o = {sink, 0, fake_now, &clk, 0, 0, NULL};
    gc_progress *p = gc_progress_new_opts(0, "empty", &o);
    gc_progress_format(p, 0, 1, NULL, b, sizeof b);
    assert_string_equal(b, "empty 0/0 100% -- q/s ETA --");
    gc_progress_done(p);
    fclose(sink);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_plain_every_decile_or_30s),
        cmocka_unit_test(test_tty_redraw),
        cmocka_unit_test(test_null_and_zero_total),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
