// --device cuda|cpu for the commands that run a model (trace, generate, chat,
// bench). The default is cuda when this build has CUDA and a GPU is present.
#ifndef GC_CLI_DEVICE_H
#define GC_CLI_DEVICE_H
#include "gcache/engine.h"
#include "gcache/model.h"

// The default device (GC_DEVICE_CUDA or GC_DEVICE_CPU).
int cli_default_device(void);
// Matches --device at argv[*i] like the cli_opt_* helpers: 1 matched, 0 not
// this option, -1 bad value (message printed).
int cli_opt_device(int argc, char **argv, int *i, int *device);
// cli_open on the given device.
int cli_open_on(const char *cmd, const char *path, int device, gc_model **m, gc_engine **e);

#endif
