// Results file: append + resume, a torn last line repaired, modes and the
// lock, bad lines named by line number, and the summary numbers.
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gcache/eval.h"

static char g_dir[64];

static int setup(void **st) {
    (void)st;
    snprintf(g_dir, sizeof g_dir, "/tmp/gc_results_XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **st) {
    (void)st;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *path_in(const char *name) {
    static char p[128];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    return p;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

static void append_line(gc_results *r, const char *id, bool correct, double tokens, double secs, double cost) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddBoolToObject(o, "correct", correct);
    cJSON_AddNumberToObject(o, "output_tokens", tokens);
    cJSON_AddNumberToObject(o, "seconds", secs);
    if (cost >= 0) cJSON_AddNumberToObject(o, "cost", cost);
    cJSON_AddStringToObject(o, "output", "multi\nline \"text\"");
    gc_status s = gc_results_append(r, o);
    cJSON_Delete(o);
    if (s != GC_OK) fail_msg("append: %s", gc_last_error());
}

static void test_resume_after_torn_line(void **st) {
    (void)st;
    char dir[128];
    snprintf(dir, sizeof dir, "%s/run1/sub", g_dir);  // created with parents
    gc_results *r;
    assert_int_equal(gc_results_open(dir, GC_RESULTS_NEW, &r), GC_OK);
    assert_int_equal(gc_results_done_count(r), 0);
    append_line(r, "q1", true, 100, 2.0, -1);
    append_line(r, "q2", false, 200, 4.0, -1);
    append_line(r, "q3", true, 300, 6.0, -1);
    assert_true(gc_results_done(r, "q2"));
    gc_results_close(r);

    // A kill in the middle of the 4th line's write.
    char file[160];
    snprintf(file, sizeof file, "%s/results.jsonl", dir);
    const char *torn = "{\"id\": \"q4\", \"correct\": tr";
    FILE *f = fopen(file, "ab");
    fputs(torn, f);
    fclose(f);
    struct stat sb;
    stat(file, &sb);
    off_t torn_size = sb.st_size;

    // Without resume the existing file is refused.
    assert_int_equal(gc_results_open(dir, GC_RESULTS_NEW, &r), GC_ERR_IO);
    assert_non_null(strstr(gc_last_error(), "results.jsonl"));

    assert_int_equal(gc_results_open(dir, GC_RESULTS_RESUME, &r), GC_OK);
    assert_int_equal(gc_results_done_count(r), 3);
    assert_true(gc_results_done(r, "q1") && gc_results_done(r, "q2") && gc_results_done(r, "q3"));
    assert_false(gc_results_done(r, "q4"));
    char note[64];
    snprintf(note, sizeof note, "results.jsonl:4: dropped %zu bytes of a torn last line", strlen(torn));
    assert_non_null(strstr(gc_results_note(r), note));
    stat(file, &sb);
    assert_int_equal(sb.st_size, torn_size - (off_t)strlen(torn));

    // A second writer is locked out while this one holds the file.
    gc_results *other;
    assert_int_equal(gc_results_open(dir, GC_RESULTS_RESUME, &other), GC_ERR_IO);
    assert_non_null(strstr(gc_last_error(), "another run"));

    append_line(r, "q4", true, 400, 8.0, -1);
    assert_int_equal(gc_results_done_count(r), 4);
    gc_results_close(r);

    // Every line is valid JSON with an id, in order.
    char *text = slurp(file);
    int lines = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        cJSON *o = cJSON_Parse(line);
        assert_non_null(o);
        char want[16];
        snprintf(want, sizeof want, "q%d", lines + 1);
        assert_string_equal(cJSON_GetObjectItem(o, "id")->valuestring, want);
        cJSON_Delete(o);
    }
    assert_int_equal(lines, 4);

    gc_results_summary s;
    assert_int_equal(gc_results_summarize(dir, &s), GC_OK);
    assert_int_equal(s.n, 4);
    assert_int_equal(s.n_scored, 4);
    assert_int_equal(s.n_correct, 3);
    assert_true(fabs(s.accuracy - 0.75) < 1e-12);
    assert_true(fabs(s.mean_output_tokens - 250) < 1e-9);
    assert_true(fabs(s.mean_seconds - 5.0) < 1e-9);
    assert_false(s.has_cost);
    char sfile[160];
    snprintf(sfile, sizeof sfile, "%s/summary.json", dir);
    cJSON *sj = cJSON_Parse(slurp(sfile));
    assert_non_null(sj);
    assert_int_equal(cJSON_GetObjectItem(sj, "questions")->valueint, 4);
    assert_true(fabs(cJSON_GetObjectItem(sj, "accuracy")->valuedouble - 0.75) < 1e-12);
    assert_null(cJSON_GetObjectItem(sj, "total_cost"));
    cJSON_Delete(sj);
}

// summary.json carries what produced the results, as given, beside the figures.
static void test_summary_with_run(void **st) {
    (void)st;
    gc_results *r;
    assert_int_equal(gc_results_open(g_dir, GC_RESULTS_NEW, &r), GC_OK);
    append_line(r, "a", true, 10, 1.0, -1);
    gc_results_close(r);
    cJSON *run = cJSON_Parse("{\"method\":\"latentmas\",\"model\":{\"path\":\"m.gguf\",\"bytes\":5},"
                             "\"settings\":{\"temperature\":0.6}}");
    assert_non_null(run);
    assert_int_equal(gc_results_summarize_run(g_dir, run, NULL), GC_OK);
    cJSON *sj = cJSON_Parse(slurp(path_in("summary.json")));
    assert_non_null(sj);
    assert_true(cJSON_Compare(cJSON_GetObjectItem(sj, "run"), run, true));
    assert_int_equal(cJSON_GetObjectItem(sj, "questions")->valueint, 1);
    cJSON_Delete(sj);
    // Without one there is no "run" field.
    assert_int_equal(gc_results_summarize(g_dir, NULL), GC_OK);
    sj = cJSON_Parse(slurp(path_in("summary.json")));
    assert_null(cJSON_GetObjectItem(sj, "run"));
    cJSON_Delete(sj);
    cJSON_Delete(run);
}

static void test_summary_cost_duplicates_and_table(void **st) {
    (void)st;
    gc_results *r;
    assert_int_equal(gc_results_open(g_dir, GC_RESULTS_OVERWRITE, &r), GC_OK);
    append_line(r, "a", false, 10, 1.0, 0.01);
    append_line(r, "b", true, 30, 3.0, 0.03);
    append_line(r, "a", true, 20, 2.0, 0.02);  // re-run of "a": the last line counts
    cJSON *o = cJSON_CreateObject();           // a line without score or numbers
    cJSON_AddStringToObject(o, "id", "c");
    assert_int_equal(gc_results_append(r, o), GC_OK);
    cJSON_Delete(o);
    o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "correct", 1);
    assert_int_equal(gc_results_append(r, o), GC_ERR_INVALID_ARG);  // no id
    cJSON_Delete(o);
    gc_results_close(r);

    gc_results_summary s;
    assert_int_equal(gc_results_summarize(g_dir, &s), GC_OK);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.n_scored, 2);
    assert_int_equal(s.n_correct, 2);
    assert_true(fabs(s.accuracy - 1.0) < 1e-12);
    assert_true(fabs(s.mean_output_tokens - 25) < 1e-9);
    assert_true(fabs(s.mean_seconds - 2.5) < 1e-9);
    assert_true(s.has_cost);
    assert_true(fabs(s.total_cost - 0.05) < 1e-12);
    assert_true(fabs(s.mean_cost - 0.025) < 1e-12);

    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    gc_results_summary_print(&s, mem);
    fclose(mem);
    assert_non_null(strstr(buf, "accuracy"));
    assert_non_null(strstr(buf, "100.00%"));
    assert_non_null(strstr(buf, "total cost"));
    free(buf);

    // OVERWRITE starts from nothing.
    assert_int_equal(gc_results_open(g_dir, GC_RESULTS_OVERWRITE, &r), GC_OK);
    assert_int_equal(gc_results_done_count(r), 0);
    gc_results_close(r);
    assert_string_equal(slurp(path_in("results.jsonl")), "");
}

static void test_bad_lines(void **st) {
    (void)st;
    FILE *f = fopen(path_in("results.jsonl"), "wb");
    fputs("{\"id\": \"x\"}\n{\"id\": 5}\n{\"id\": \"y\"}\n", f);
    fclose(f);
    gc_results *r;
    assert_int_equal(gc_results_open(g_dir, GC_RESULTS_RESUME, &r), GC_ERR_FORMAT);
    assert_non_null(strstr(gc_last_error(), "results.jsonl:2: field \"id\""));
    assert_int_equal(gc_results_summarize(g_dir, NULL), GC_ERR_FORMAT);

    f = fopen(path_in("results.jsonl"), "wb");
    fputs("{\"id\": \"x\"}\n{\"id\": \"y\" oops}\n{\"id\": \"z\"}\n", f);
    fclose(f);
    assert_int_equal(gc_results_open(g_dir, GC_RESULTS_RESUME, &r), GC_ERR_FORMAT);
    assert_non_null(strstr(gc_last_error(), "results.jsonl:2: invalid JSON"));

    // A complete last object lacking only its newline is kept and completed.
    f = fopen(path_in("results.jsonl"), "wb");
    fputs("{\"id\": \"x\"}\n\n{\"id\": \"y\", \"correct\": true}", f);
    fclose(f);
    assert_int_equal(gc_results_open(g_dir, GC_RESULTS_RESUME, &r), GC_OK);
    assert_int_equal(gc_results_done_count(r), 2);
    assert_non_null(strstr(gc_results_note(r), "results.jsonl:3: last line lacked its newline"));
    gc_results_close(r);
    assert_string_equal(slurp(path_in("results.jsonl")), "{\"id\": \"x\"}\n\n{\"id\": \"y\", \"correct\": true}\n");

    // A torn line is ignored (not repaired) by the summary.
    f = fopen(path_in("results.jsonl"), "ab");
    fputs("{\"id\": \"z\", \"corr", f);
    fclose(f);
    gc_results_summary s;
    assert_int_equal(gc_results_summarize(g_dir, &s), GC_OK);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.n_scored, 1);

    // A file where a directory should be.
    char notdir[160];
    snprintf(notdir, sizeof notdir, "%s/results.jsonl/x", g_dir);
    assert_int_equal(gc_results_open(notdir, GC_RESULTS_NEW, &r), GC_ERR_IO);
}

// A writer killed at an arbitrary moment: resuming finds a valid file whose
// ids are exactly its complete lines.
static void test_kill_during_appends(void **st) {
    (void)st;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        gc_results *r;
        if (gc_results_open(g_dir, GC_RESULTS_NEW, &r) != GC_OK) _exit(1);
        char id[32], big[4096];
        memset(big, 'x', sizeof big - 1);
        big[sizeof big - 1] = 0;
        for (int i = 0;; i++) {
            cJSON *o = cJSON_CreateObject();
            snprintf(id, sizeof id, "k%d", i);
            cJSON_AddStringToObject(o, "id", id);
            cJSON_AddStringToObject(o, "output", big);
            gc_results_append(r, o);
            cJSON_Delete(o);
        }
    }
    usleep(150 * 1000);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));

    gc_results *r;
    assert_int_equal(gc_results_open(g_dir, GC_RESULTS_RESUME, &r), GC_OK);
    size_t n = gc_results_done_count(r);
    assert_true(n > 0);
    char id[32];
    snprintf(id, sizeof id, "k%zu", n - 1);
    assert_true(gc_results_done(r, id));
    snprintf(id, sizeof id, "k%zu", n);
    assert_false(gc_results_done(r, id));
    gc_results_close(r);
    gc_results_summary s;
    assert_int_equal(gc_results_summarize(g_dir, &s), GC_OK);
    assert_int_equal(s.n, n);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_resume_after_torn_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_summary_cost_duplicates_and_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_summary_with_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_during_appends, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
