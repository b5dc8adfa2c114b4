// libFuzzer target for the dataset readers. Byte 0 picks the task
// (mod GC_TASK_COUNT), bit 0 of byte 1 strict mode, byte 2 the GPQA seed;
// the rest is the file. Loaded datasets must satisfy the documented
// invariants (unique ids, gold shaped for the task).
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gcache/eval.h"

static void check(const gc_dataset *ds, gc_task task) {
    size_t n = gc_dataset_count(ds);
    if (n == 0) abort();
    gc_answer_kind kind = gc_task_answer_kind(task);
    for (size_t i = 0; i < n; i++) {
        const gc_question *q = gc_dataset_get(ds, i);
        if (!q || !q->id || !q->question || !q->gold || q->line < 1) abort();
        if (kind == GC_ANSWER_CHOICE) {
            if (q->n_choices < 2 || q->n_choices > 10) abort();
            if (q->gold[0] < 'A' || q->gold[0] >= 'A' + q->n_choices || q->gold[1]) abort();
        } else if (kind == GC_ANSWER_NUMBER) {
            char norm[64];
            if (!gc_answer_normalize_number(q->gold, norm, sizeof norm)) {
                // Only values beyond double range print as inf/nan.
                if (!strstr(q->gold, "inf") && !strstr(q->gold, "nan")) abort();
            }
        } else if (task == GC_TASK_HUMANEVAL && (!q->entry_point || !q->code_prompt)) {
            abort();
        }
    }
    // Ids are unique (quadratic, so only on small inputs).
    if (n <= 200)
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++)
                if (strcmp(gc_dataset_get(ds, i)->id, gc_dataset_get(ds, j)->id) == 0) abort();
    for (size_t i = 0; i < gc_dataset_warning_count(ds); i++)
        if (!gc_dataset_warning(ds, i)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    gc_task task = (gc_task)(data[0] % GC_TASK_COUNT);
    gc_dataset_options opt = {(data[1] & 1) != 0, data[2]};
    size_t len = size - 3;
    // Exact-size copy so reads past the end are caught.
    char *text = malloc(len ? len : 1);
    if (!text) return 0;
    memcpy(text, data + 3, len);
    gc_dataset *ds = NULL;
    if (gc_dataset_parse(task, text, len, "fuzz.dat", &opt, &ds) == GC_OK) {
        check(ds, task);
        gc_dataset_free(ds);
    } else if (ds) {
        abort();
    }
    free(text);
    return 0;
}
