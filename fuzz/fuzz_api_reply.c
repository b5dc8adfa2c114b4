// libFuzzer target: the input is a chat.completion response body. A reply
// that parses must be complete (text and finish_reason set, token counts -1
// or non-negative); one that fails must leave nothing allocated.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gcache/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    // Exact-size copy so reads past the end are caught by ASan.
    char *body = malloc(size ? size : 1);
    if (!body) return 0;
    if (size) memcpy(body, data, size);
    gc_api_reply r;
    if (gc_api_parse_reply(body, size, &r) == GC_OK) {
        if (!r.text || !r.finish_reason) abort();
        if (r.prompt_tokens < -1 || r.completion_tokens < -1) abort();
        gc_api_settings s = {.price_in = 1.0, .price_out = 1.0};
        if (gc_api_cost(&s, &r) < 0) abort();
    } else if (r.text || r.finish_reason) {
        abort();
    }
    gc_api_reply_free(&r);
    free(body);
    return 0;
}
