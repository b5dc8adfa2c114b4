// Shared helpers of the gcache command-line tool.
#ifndef GC_CLI_CLI_H
#define GC_CLI_CLI_H
#include "gcache/gcache.h"
#include "gcache/model.h"
#include "gcache/engine.h"
#include <stdio.h>

// Option parsing: each command walks argv; these match one option at argv[*i]
// and advance *i past its value. They print a message and return -1 on a
// missing / malformed value, 1 on a match, 0 if argv[*i] is another option.
int cli_opt_str(int argc, char **argv, int *i, const char *name, const char **out);
int cli_opt_int(int argc, char **argv, int *i, const char *name, long long lo, long long hi, long long *out);
int cli_opt_float(int argc, char **argv, int *i, const char *name, double lo, double hi, double *out);
int cli_opt_flag(char **argv, int *i, const char *name, bool *out);

// Prints "gcache <cmd>: <message from gc_last_error()>" to stderr; returns 1.
int cli_error(const char *cmd, gc_status s);
// Prints "gcache <cmd>: <fmt...>" plus a hint to run --help; returns 2.
int cli_usage_error(const char *cmd, const char *fmt, ...);

// Loads a model and creates an engine; on failure prints and returns nonzero.
int cli_open(const char *cmd, const char *path, gc_model **m, gc_engine **e);

double cli_now(void);

// Runs an external program (argv[0] looked up in PATH, NULL-terminated argv)
// and waits; true when it exited with status 0.
bool cli_run_tool(char *const argv[]);

int cmd_run(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_trace(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_graph(int argc, char **argv);
int cmd_serve(int argc, char **argv);

#endif
