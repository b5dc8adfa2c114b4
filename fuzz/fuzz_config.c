// libFuzzer target: the input is config.json, optionally followed by a NUL
// byte and generation_config.json.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = size ? memchr(data, 0, size) : NULL;
    size_t cfg_len = nul ? (size_t)(nul - data) : size;
    // Exact-size copies so reads past either part are caught by ASan.
    char *cfg = malloc(cfg_len ? cfg_len : 1);
    char *gen = NULL;
    size_t gen_len = 0;
    if (!cfg) return 0;
    memcpy(cfg, data, cfg_len);
    if (nul) {
        gen_len = size - cfg_len - 1;
        gen = malloc(gen_len ? gen_len : 1);
        if (!gen) { free(cfg); return 0; }
        memcpy(gen, nul + 1, gen_len);
    }
    gc_model_config c;
    if (gc_config_parse_hf(cfg, cfg_len, gen, gen_len, "fuzz/config.json", &c) == GC_OK) {
        if (c.vocab_size <= 0 || c.n_heads % c.n_kv_heads != 0 || c.head_dim % 2 != 0) abort();
        if (c.n_eos < 0 || c.n_eos > GC_MAX_EOS || c.bos_id >= c.vocab_size) abort();
        for (int i = 0; i < c.n_eos; i++)
            if (c.eos_ids[i] < 0 || c.eos_ids[i] >= c.vocab_size) abort();
    }
    free(cfg);
    free(gen);
    return 0;
}
