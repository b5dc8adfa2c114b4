// The run harness and the training loop as library calls (gcache/run.h) on
// the tiny chat model: option checks, a run without an output folder
// (records and progress through callbacks only), a borrowed model and
// questions, the training loop stepped by hand, and a caller that stops a
// run. The CLI's files, resume and byte-compatibility are tests/cli's.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcache/run.h"

#define MODEL "tests/data/tiny/chat"
#define DATA "examples/gsm8k-mini.jsonl"

typedef struct seen {
    int records, begins, ticks, ends;
    int64_t last_done;
    char first_id[32];
    int stop_after;   // on_record answers false after this many (0: never)
} seen;

static bool on_record(void *user, const char *record) {
    seen *s = user;
    if (s->records++ == 0) {
        const char *id = strstr(record, "\"id\":\"");
        assert_non_null(id);
        snprintf(s->first_id, sizeof s->first_id, "%.*s", (int)strcspn(id + 6, "\""), id + 6);
    }
    assert_non_null(strstr(record, "\"correct\":"));
    return !(s->stop_after && s->records >= s->stop_after);
}

static void on_progress(void *user, const gc_run_progress *p) {
    seen *s = user;
    if (p->event == GC_RUN_BEGIN) s->begins++;
    if (p->event == GC_RUN_TICK) s->ticks++;
    if (p->event == GC_RUN_END) s->ends++;
    s->last_done = p->done;
}

static gc_run_params base(seen *s) {
    gc_run_params p = gc_run_default_params();
    p.method = "latentmas";
    p.task = "gsm8k";
    p.dataset = DATA;
    p.model = MODEL;
    p.engine.n_threads = 1;
    p.max_tokens = 3;
    p.latent_steps = 1;
    p.temperature = 0;
    p.max_samples = 3;
    p.offset = 2;
    p.batch = 2;
    p.on_record = on_record;
    p.on_progress = on_progress;
    p.user = s;
    return p;
}

static void test_params_check(void **state) {
    (void)state;
    seen s = {0};
    gc_run_params p = base(&s);
    assert_int_equal(gc_run_params_check(&p), GC_OK);
    p.method = "latentmass";
    assert_int_equal(gc_run_params_check(&p), GC_ERR_INVALID_ARG);
    assert_non_null(strstr(gc_last_error(), "unknown method 'latentmass'"));
    p = base(&s);
    p.gates = GC_RUN_GATES_OFF;
    assert_int_equal(gc_run_params_check(&p), GC_ERR_INVALID_ARG);   // gates are for the agent graph
    p.method = "gcache";
    p.text_mode = true;
    assert_int_equal(gc_run_params_check(&p), GC_ERR_INVALID_ARG);   // ... in cache mode
    assert_non_null(strstr(gc_last_error(), "cache mode"));
    p = base(&s);
    p.resume = true;
    assert_int_equal(gc_run_params_check(&p), GC_ERR_INVALID_ARG);   // nothing to resume without a folder
    p = base(&s);
    p.method = "gcache";
    p.reward = "likelihood";
    p.task = "humaneval";
    assert_int_equal(gc_run_params_check(&p), GC_ERR_INVALID_ARG);
    assert_non_null(strstr(gc_last_error(), "code tasks"));
    p = base(&s);
    p.prefill_rows = -1;
    assert_int_equal(gc_run_params_check(&p), GC_ERR_INVALID_ARG);
    assert_non_null(strstr(gc_last_error(), "prefill_rows"));
}

// No output folder: three records through the callback, one evaluation phase.
static void test_run_without_files(void **state) {
    (void)state;
    seen s = {0};
    gc_run_params p = base(&s);
    gc_run *r;
    assert_int_equal(gc_run_open(&p, &r), GC_OK);
    assert_string_equal(gc_run_label(r), "latentmas gsm8k");
    assert_null(gc_run_out_dir(r));
    assert_int_equal(gc_run_execute(r), GC_OK);
    assert_int_equal(s.records, 3);
    assert_string_equal(s.first_id, "2");   // the offset
    assert_int_equal(s.begins, 1);
    assert_int_equal(s.ends, 1);
    assert_int_equal(s.ticks, 2);            // batches of 2 and 1
    assert_int_equal(s.last_done, 3);
    gc_results_summary sum;
    assert_false(gc_run_summary(r, &sum));   // no folder, no summary.json
    gc_run_free(r);
}

// The records' "output" fields, one per line (timing fields left out).
typedef struct outputs { char text[4096]; size_t len; } outputs;

static bool keep_output(void *user, const char *record) {
    outputs *o = user;
    cJSON *j = cJSON_Parse(record);
    const char *out = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "output"));
    assert_non_null(out);
    const size_t n = strlen(out);
    assert_true(o->len + n + 1 < sizeof o->text);
    memcpy(o->text + o->len, out, n);
    o->len += n;
    o->text[o->len++] = '\n';
    cJSON_Delete(j);
    return true;
}

// Prompts fed 7 rows per engine step (each agent's ~250-token prompt over
// dozens of steps, the batch's two questions sharing each step's rows) give
// the records of prompts fed whole: the CPU engine's chunked prefill is exact.
static void test_prefill_rows(void **state) {
    (void)state;
    outputs o[2] = {{{0}, 0}, {{0}, 0}};
    for (int k = 0; k < 2; k++) {
        seen s = {0};
        gc_run_params p = base(&s);
        p.max_tokens = 6;
        p.prefill_rows = k ? 7 : 0;
        p.on_record = keep_output;
        p.user = &o[k];
        p.on_progress = NULL;
        gc_run *r;
        assert_int_equal(gc_run_open(&p, &r), GC_OK);
        assert_int_equal(gc_run_execute(r), GC_OK);
        gc_run_free(r);
    }
    assert_true(o[0].len > 20);
    o[0].text[o[0].len] = o[1].text[o[1].len] = '\0';
    assert_string_equal(o[0].text, o[1].text);
}

// A caller's model and questions stay the caller's; on_record can stop the run.
static void test_borrowed_and_stopped(void **state) {
    (void)state;
    gc_model *m;
    gc_engine *e;
    assert_int_equal(gc_model_load(MODEL, &m), GC_OK);
    gc_engine_params ep = gc_engine_default_params();
    ep.n_threads = 1;
    assert_int_equal(gc_engine_new(m, &ep, &e), GC_OK);
    gc_dataset *ds;
    assert_int_equal(gc_dataset_load(GC_TASK_GSM8K, DATA, NULL, &ds), GC_OK);
    seen s = {.stop_after = 2};
    gc_run_params p = base(&s);
    p.method = "single";
    p.model = NULL;
    p.dataset = NULL;
    p.model_handle = m;
    p.engine_handle = e;
    p.questions = ds;
    p.batch = 1;
    gc_run *r;
    assert_int_equal(gc_run_open(&p, &r), GC_OK);
    assert_int_equal(gc_run_execute(r), GC_ERR_INVALID_ARG);
    assert_non_null(strstr(gc_last_error(), "stopped by its record callback"));
    assert_int_equal(s.records, 2);
    gc_run_free(r);
    assert_int_equal(gc_engine_kv_live_blocks(e), 0);
    gc_dataset_free(ds);   // still ours: the run freed none of it
    gc_engine_free(e);
    gc_model_free(m);
}

// The training loop stepped by hand on a Learned run: two iterations, a log
// line each, the policy handed over, then nothing more to do.
static void test_train_steps(void **state) {
    (void)state;
    seen s = {0};
    gc_run_params p = base(&s);
    p.method = "gcache";
    p.topology = "Learned";
    p.agents = 2;
    p.train_iters = 2;
    p.batch_size = 2;
    p.offset = 1;
    gc_run *r;
    assert_int_equal(gc_run_open(&p, &r), GC_OK);
    gc_train *t;
    assert_int_equal(gc_train_open(r, NULL, &t), GC_OK);
    assert_int_equal(gc_train_next_offset(t), 5);   // training questions [1, 5)
    for (int i = 0; i < 2; i++) {
        gc_train_iter it;
        bool took = false;
        assert_int_equal(gc_train_step(t, &it, &took), GC_OK);
        assert_true(took);
        assert_int_equal(it.iter, i);
        assert_int_equal(it.n_iters, 2);
        assert_non_null(strstr(it.log_line, "\"utility\":"));
        assert_non_null(strstr(it.log_line, "\"roles\":"));
    }
    bool took = true;
    assert_int_equal(gc_train_step(t, NULL, &took), GC_OK);
    assert_false(took);
    gc_policy *pol = gc_train_take_policy(t);
    assert_non_null(pol);
    assert_null(gc_train_take_policy(t));   // handed over once
    gc_train_free(t);
    assert_int_equal(gc_policy_step(pol), 2);
    gc_run_free(r);
    // A run of another method has nothing to train.
    p = base(&s);
    assert_int_equal(gc_run_open(&p, &r), GC_OK);
    assert_int_equal(gc_train_open(r, pol, &t), GC_ERR_INVALID_ARG);
    gc_run_free(r);
    gc_policy_free(pol);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_check),
        cmocka_unit_test(test_run_without_files),
        cmocka_unit_test(test_prefill_rows),
        cmocka_unit_test(test_borrowed_and_stopped),
        cmocka_unit_test(test_train_steps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
