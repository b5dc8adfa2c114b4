// The realignment matrix's disk cache: written once, reused, and rebuilt
// when the file is corrupt.
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>
#include "gcache/latent.h"

static char *only_file(const char *dir) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    char *found = NULL;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            assert_null(found);
            found = malloc(strlen(dir) + strlen(e->d_name) + 2);
            sprintf(found, "%s/%s", dir, e->d_name);
        }
    closedir(d);
    assert_non_null(found);
    return found;
}

static void test_cache_roundtrip(void **st) {
    (void)st;
    gc_model *m;
    assert_int_equal(gc_model_load("tests/data/tiny/qwen2", &m), GC_OK);
    char dir[] = "/tmp/gc_realign_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char sub[64];
    snprintf(sub, sizeof sub, "%s/a/b", dir);   // created on demand
    gc_realign *r1, *r2, *r3, *none;
    assert_int_equal(gc_realign_new_cached(m, true, sub, 0, &r1), GC_OK);
    assert_false(gc_realign_from_cache(r1));
    assert_int_equal(gc_realign_new_cached(m, true, sub, 0, &r2), GC_OK);
    assert_true(gc_realign_from_cache(r2));
    assert_int_equal(gc_realign_new_cached(m, true, NULL, 0, &none), GC_OK);
    assert_false(gc_realign_from_cache(none));
    float h[64], e1[64], e2[64], e3[64];
    for (int i = 0; i < 64; i++) h[i] = (float)((i * 37) % 11) - 5.0f;
    gc_realign_apply(r1, h, e1);
    gc_realign_apply(r2, h, e2);
    gc_realign_apply(none, h, e3);
    assert_memory_equal(e1, e2, sizeof e1);
    assert_memory_equal(e1, e3, sizeof e1);
    // Corrupt the file: it is recomputed (same values) and rewritten.
    char *f = only_file(sub);
    FILE *fp = fopen(f, "r+b");
    fseek(fp, 100, SEEK_SET);
    fputc(0x55, fp);
    fclose(fp);
    assert_int_equal(gc_realign_new_cached(m, true, sub, 0, &r3), GC_OK);
    assert_false(gc_realign_from_cache(r3));
    gc_realign_apply(r3, h, e3);
    assert_memory_equal(e1, e3, sizeof e1);
    gc_realign_free(r3);
    assert_int_equal(gc_realign_new_cached(m, true, sub, 0, &r3), GC_OK);
    assert_true(gc_realign_from_cache(r3));
    // GC_CACHE_DIR=off disables the cache.
    setenv("GC_CACHE_DIR", "off", 1);
    char *cd = gc_realign_cache_dir();
    assert_null(cd);
    setenv("GC_CACHE_DIR", "/x/y", 1);
    cd = gc_realign_cache_dir();
    assert_string_equal(cd, "/x/y");
    free(cd);
    unsetenv("GC_CACHE_DIR");
    unlink(f);
    free(f);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    gc_realign_free(r1); gc_realign_free(r2); gc_realign_free(r3); gc_realign_free(none);
    gc_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_cache_roundtrip)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
