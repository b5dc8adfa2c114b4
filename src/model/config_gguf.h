// gc_model_config from GGUF metadata.
#ifndef GC_MODEL_CONFIG_GGUF_H
#define GC_MODEL_CONFIG_GGUF_H
#include "model/config.h"
#include "format/gguf.h"

// Reads general.architecture and the "<arch>.*" hyper-parameters; rope style
// NORM for llama (q/k rows are permuted by the converter), NEOX for qwen2/3.
gc_status gc_config_from_gguf(const gc_gguf *g, gc_model_config *out);

#endif
