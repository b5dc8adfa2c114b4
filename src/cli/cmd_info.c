// gcache info --model PATH
#include "cli/cli.h"
#include "gcache/tokenizer.h"
#include <string.h>

int cmd_info(int argc, char **argv) {
    const char *model = NULL;
    for (int i = 1; i < argc; i++) {
        int r;
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: gcache info --model PATH\n\n"
                   "Prints the architecture, sizes, weight dtype and tokenizer of a model\n"
                   "(a Hugging Face folder or a GGUF file) as JSON.\n\n"
                   "example: gcache info --model .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf\n");
            return 0;
        }
        if ((r = cli_opt_str(argc, argv, &i, "--model", &model)) < 0) return 2;
        if (r == 0) return cli_usage_error("info", "unknown option '%s'", argv[i]);
    }
    if (!model) return cli_usage_error("info", "--model is required");
    gc_model *m;
    gc_status s = gc_model_load(model, &m);
    if (s != GC_OK) return cli_error("info", s);
    gc_model_info in;
    gc_model_get_info(m, &in);
    const gc_tokenizer *tok = gc_model_tokenizer(m);
    int n_eos;
    const int32_t *eos = gc_model_eos_ids(m, &n_eos);
    printf("{\"path\":\"%s\",\"source\":\"%s\",\"arch\":\"%s\",\"vocab_size\":%lld,\"hidden_size\":%lld,"
           "\"intermediate_size\":%lld,\"n_layers\":%lld,\"n_heads\":%lld,\"n_kv_heads\":%lld,\"head_dim\":%lld,"
           "\"max_position\":%lld,\"rope_theta\":%g,\"rms_eps\":%g,\"tie_embeddings\":%s,\"weight_dtype\":\"%s\","
           "\"n_params\":%lld,\"weight_bytes\":%zu,\"tokenizer\":%s,\"eos_ids\":[",
           model, in.source, in.arch, (long long)in.vocab_size, (long long)in.hidden_size,
           (long long)in.intermediate_size, (long long)in.n_layers, (long long)in.n_heads, (long long)in.n_kv_heads,
           (long long)in.head_dim, (long long)in.max_position, in.rope_theta, in.rms_eps,
           in.tie_embeddings ? "true" : "false", in.weight_dtype, (long long)in.n_params, in.weight_bytes,
           tok ? "true" : "false");
    for (int i = 0; i < n_eos; i++) printf("%s%d", i ? "," : "", eos[i]);
    printf("]}\n");
    gc_model_free(m);
    return 0;
}
