// libFuzzer target: the input is a .env file. Every reported assignment must
// have a well-formed key and a value no longer than the input.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gcache/api.h"

typedef struct seen {
    size_t input_len;
    int n;
} seen;

static int key_ok(const char *k) {
    if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || *k == '_')) return 0;
    for (k++; *k; k++)
        if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '_')) return 0;
    return 1;
}

static void check(void *user, const char *key, const char *value) {
    seen *s = user;
    if (!key_ok(key) || strlen(key) + strlen(value) > s->input_len) abort();
    s->n++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    // Exact-size copy so reads past the end are caught by ASan.
    char *text = malloc(size ? size : 1);
    if (!text) return 0;
    if (size) memcpy(text, data, size);
    seen s = {.input_len = size};
    gc_dotenv_parse(text, size, "fuzz/.env", check, &s);
    free(text);
    return 0;
}
