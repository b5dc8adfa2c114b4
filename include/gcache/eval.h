// Evaluation harness: benchmark datasets, answer extraction and scoring,
// a sandbox for generated code, and a resumable results file. Independent of
// the model engine: the caller produces the model's output text.
//
// Ownership: a gc_dataset owns every string of its questions; a
// gc_sandbox_result owns its output buffer; gc_results owns its file handle.
// Functions returning char * hand a malloc'd string to the caller.
#ifndef GCACHE_EVAL_H
#define GCACHE_EVAL_H
#include "gcache/gcache.h"
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cJSON;

// ============================== datasets ==================================

typedef enum gc_task {
    GC_TASK_GSM8K = 0,  // jsonl {question, answer "... #### 72"}
    GC_TASK_AIME,       // jsonl or JSON array {problem|question, answer, id?} (keys any case)
    GC_TASK_ARC,        // ARC-Easy/Challenge: HF jsonl or the AI2 jsonl
    GC_TASK_GPQA,       // the GPQA CSV (header row; "Question", "Correct Answer", ...)
    GC_TASK_MEDQA,      // JSON array {idx, question, options[], answer} or jsonl {question, options{}, answer_idx}
    GC_TASK_MMLU,       // headerless CSV question,A,B,C,D,answer or HF jsonl {question, choices[], answer 0-3}
    GC_TASK_HUMANEVAL,  // HumanEval(+) jsonl {task_id, prompt, entry_point, test} or MultiPL-E {name, prompt, tests|test}
    GC_TASK_MBPP,       // MBPP(+) jsonl {task_id, prompt|text, code?, test_list[]|test, entry_point?}
    GC_TASK_COUNT
} gc_task;

// How a task's answers are extracted and scored.
typedef enum gc_answer_kind {
    GC_ANSWER_NUMBER = 0,  // gold is a normalized number string
    GC_ANSWER_CHOICE,      // gold is a letter "A".."J"
    GC_ANSWER_CODE,        // gold is a Python test program (run in the sandbox)
} gc_answer_kind;

// Case-insensitive; accepts aliases ("arc-challenge", "aime2025", "humaneval+",
// "mbpp+", "mmlu-pro" is not one of them).
gc_status gc_task_from_name(const char *name, gc_task *out);
const char *gc_task_name(gc_task t);
gc_answer_kind gc_task_answer_kind(gc_task t);

typedef struct gc_question {
    char *id;           // the dataset's id field, else the record index ("0", "1", ...); unique
    char *question;     // text shown to the model; multiple choice: stem + "\nA. …\nB. …"
    char *gold;         // number string ("18", "-3.5"), a letter ("C"), or the code test program
    int n_choices;      // multiple choice only (2..10), else 0
    char *code_prompt;  // code tasks: prompt the completion continues (HumanEval), else NULL
    char *entry_point;  // code tasks: function under test, NULL if unknown
    int64_t line;       // 1-based line of the record in its file
} gc_question;

typedef struct gc_dataset_options {
    bool strict;     // the first malformed record is fatal (default: skip it with a warning)
    uint64_t seed;   // GPQA choice shuffle seed (mixed with each record id)
} gc_dataset_options;

typedef struct gc_dataset gc_dataset;

// Reads `path`. opt may be NULL (lenient, seed 0). On failure *out is NULL
// and the message names the file, line and field. A file without any valid
// question is an error in either mode. Free with gc_dataset_free.
gc_status gc_dataset_load(gc_task task, const char *path, const gc_dataset_options *opt,
                          gc_dataset **out);
// Same, from memory; `name` is used in messages and need not exist.
gc_status gc_dataset_parse(gc_task task, const char *data, size_t len, const char *name,
                           const gc_dataset_options *opt, gc_dataset **out);
void gc_dataset_free(gc_dataset *ds);

size_t gc_dataset_count(const gc_dataset *ds);
// i < count; the pointer lives as long as ds.
const gc_question *gc_dataset_get(const gc_dataset *ds, size_t i);
gc_task gc_dataset_task(const gc_dataset *ds);
// Malformed records skipped (lenient mode).
size_t gc_dataset_skipped(const gc_dataset *ds);
// Warnings: one per skipped record and per renamed duplicate id,
// "file:line: field \"answer\": ...". i < warning_count.
size_t gc_dataset_warning_count(const gc_dataset *ds);
const char *gc_dataset_warning(const gc_dataset *ds, size_t i);

// ======================= answer extraction, scoring =======================
//
// Numbers (GC_ANSWER_NUMBER), in order of preference:
//  1. the last balanced \boxed{…} (or \fbox{…}) holding a number: its first
//     number, or \frac{a}{b} / a/b when that comes first;
//  2. else after the last "answer is", "answer:", "answer =" (any case) or
//     "####" that is followed by a number: the first number after it;
//  3. else the last number in the text.
// A number is [sign] [$] digits with optional thousands commas (groups of
// three) and an optional decimal part; "-" is a sign only when not preceded
// by a letter, digit or ")" ("3-4" is 3 and 4). "%", "$" and a sentence's
// final "." are not part of the value. No exponents.
//
// Choices (GC_ANSWER_CHOICE), letters limited to the question's n_choices:
//  1. the last \boxed{…} whose content starts with a letter ("C", "(C)", "\text{C}");
//  2. else the last "answer is/:/= [option|choice] X" whose X is a standalone
//     capital ("answer is (C)", "Answer: **C**"), where "A"/"I" followed by a
//     lowercase word reads as prose ("the answer is I think") and is skipped;
//  3. else the last choice-like letter: "(C)", "**C**", or at a line start
//     "C." / "C)" / "C:" or a line that is only the letter.
// Capitals in prose ("vitamin C", "I think", "type B") are never picked.
//
// Code (GC_ANSWER_CODE): the last ```python (or ```py) fenced block, else the
// last untagged fenced block, else the whole text; an unclosed final fence
// runs to the end. With a HumanEval prompt: a completion lacking
// "def <entry_point>(" is appended to the prompt; one that has it gets the
// prompt's top-level import lines prepended.

// Writes the normalized number ("18", "-3.5", "0.5") to out; false (and
// out = "") when the text holds no number. cap >= 2.
bool gc_answer_extract_number(const char *output, char *out, size_t cap);
// 'A'.. or 0 when nothing qualifies. n_choices outside 2..10 means 10.
char gc_answer_extract_choice(const char *output, int n_choices);
// Candidate program (malloc'd; NULL on OOM). prompt / entry_point may be NULL.
char *gc_answer_extract_code(const char *output, const char *prompt, const char *entry_point);
// Equal as numbers: same normalized text, or |a-b| <= 1e-6 * max(|a|,|b|).
// Either side not a number: false.
bool gc_answer_numbers_equal(const char *a, const char *b);
// Normalizes one number given as a whole string ("1,234", "$5", "72.", "-3.50",
// "1/2", and "3.3e-22" as normalized fractions print): false if s is not
// exactly one number.
bool gc_answer_normalize_number(const char *s, char *out, size_t cap);

typedef struct gc_score {
    bool extracted;   // a prediction was found
    bool correct;
    char pred[64];    // normalized prediction ("" if none)
} gc_score;

// Scores number and choice questions. Code questions: GC_ERR_INVALID_ARG
// (build the program with gc_code_program and run it in the sandbox).
gc_status gc_answer_score(gc_answer_kind kind, const gc_question *q, const char *output, gc_score *out);

// The program to run for a code question: extracted candidate + "\n\n" + the
// question's test program (which calls check()). malloc'd; NULL on OOM.
char *gc_code_program(const gc_question *q, const char *output);

// ============================== sandbox ===================================

typedef struct gc_sandbox_limits {
    double cpu_seconds;      // RLIMIT_CPU per process (rounded up to whole seconds)
    double wall_seconds;     // the parent kills everything after this
    size_t memory_bytes;     // RLIMIT_AS
    int max_procs;           // RLIMIT_NPROC (see run_as_uid)
    size_t max_file_bytes;   // RLIMIT_FSIZE
    size_t output_cap;       // bytes of stdout+stderr kept (head + tail)
    const char *python;      // interpreter; NULL: "python3" from PATH
    const char *tmp_root;    // parent of the private work dir; NULL: $TMPDIR or /tmp
    // When started as root the program runs as this uid/gid (the kernel does
    // not apply RLIMIT_NPROC to root; it then counts every process of that
    // uid on the host). -1: stay root.
    int run_as_uid;
} gc_sandbox_limits;

// cpu 5 s, wall 10 s, 1 GiB, 64 processes, 16 MiB files, 64 KiB output, uid 65534.
void gc_sandbox_limits_default(gc_sandbox_limits *l);

typedef enum gc_sandbox_outcome {
    GC_SBX_PASSED = 0,   // exit status 0
    GC_SBX_FAILED,       // nonzero exit status (assertion, exception)
    GC_SBX_TIMEOUT,      // wall-clock limit
    GC_SBX_CPU,          // CPU-time limit
    GC_SBX_MEMORY,       // MemoryError or allocation failure under RLIMIT_AS
    GC_SBX_SIGNAL,       // killed by another signal
    GC_SBX_EXEC,         // the interpreter could not be started
} gc_sandbox_outcome;

typedef struct gc_sandbox_result {
    gc_sandbox_outcome outcome;
    bool passed;
    int exit_code;         // valid when the program exited (else -1)
    int signal;            // the killing signal, else 0
    double wall_seconds;
    double cpu_seconds;    // user + system of the program and its waited-for children
    char *output;          // captured stdout+stderr, NUL-terminated (owned)
    size_t output_len;
    size_t output_dropped; // bytes left out between head and tail
    bool net_isolated;     // ran in a new network namespace
    bool pid_isolated;     // ran in a new PID namespace (every descendant dies with it)
    bool uid_dropped;      // ran as run_as_uid instead of root
    char reason[160];      // "exit status 1", "wall-clock limit 2.0 s", "MemoryError", ...
    char workdir[256];     // the private temp dir (removed before return)
} gc_sandbox_result;

// Runs `program` with `python -I -B` in a fresh temp dir: stdin /dev/null,
// no descriptors of the caller, minimal environment, new network and PID
// namespaces where the kernel allows (else recorded as not isolated). Not
// isolated: the file system (the program may read what its uid can read and
// write world-writable dirs such as /tmp). GC_OK means it ran
// (passed or not; see out->outcome); an error means the sandbox itself
// could not be set up. lim NULL: defaults. Free with gc_sandbox_result_free.
gc_status gc_sandbox_run(const char *program, const gc_sandbox_limits *lim, gc_sandbox_result *out);
void gc_sandbox_result_free(gc_sandbox_result *r);
const char *gc_sandbox_outcome_name(gc_sandbox_outcome o);

// ========================= results file, resume ===========================
//
// DIR/results.jsonl holds one JSON object per finished question. Fields read
// back: "id" (string, required), "correct" (bool), "output_tokens",
// "seconds", "cost" (numbers, optional). Other fields are kept as written.

typedef enum gc_results_mode {
    GC_RESULTS_NEW = 0,    // error if results.jsonl already has lines
    GC_RESULTS_RESUME,     // keep existing lines, skip their ids
    GC_RESULTS_OVERWRITE,  // truncate
} gc_results_mode;

typedef struct gc_results gc_results;

// Creates DIR if missing and opens DIR/results.jsonl for appending, holding
// an exclusive lock (a second writer gets GC_ERR_IO). RESUME: a last line
// cut off mid-write is truncated away (see gc_results_note); any other bad
// line is GC_ERR_FORMAT naming its line number.
gc_status gc_results_open(const char *dir, gc_results_mode mode, gc_results **out);
// Whether `id` has a line (old or appended in this session).
bool gc_results_done(const gc_results *r, const char *id);
size_t gc_results_done_count(const gc_results *r);
// What opening repaired ("" if nothing): "results.jsonl:4: dropped 37 bytes of a torn last line".
const char *gc_results_note(const gc_results *r);
// Appends `line` (must have a string "id") as one line, then fsyncs.
gc_status gc_results_append(gc_results *r, const struct cJSON *line);
void gc_results_close(gc_results *r);

typedef struct gc_results_summary {
    size_t n;                   // distinct ids (a repeated id counts once, last line wins)
    size_t n_scored;            // of them with a "correct" field
    size_t n_correct;
    double accuracy;            // n_correct / n_scored (0 if none)
    double mean_output_tokens;  // over lines with the field (0 if none)
    double mean_seconds;
    bool has_cost;
    double total_cost, mean_cost;
} gc_results_summary;

// Reads every line of DIR/results.jsonl, writes DIR/summary.json atomically.
// out may be NULL.
gc_status gc_results_summarize(const char *dir, gc_results_summary *out);
// The same, with a copy of `run` (what produced the results: method, model,
// dataset, settings; NULL: none) as summary.json's "run" field.
gc_status gc_results_summarize_run(const char *dir, const struct cJSON *run, gc_results_summary *out);
// A small aligned table.
void gc_results_summary_print(const gc_results_summary *s, FILE *fp);

#ifdef __cplusplus
}
#endif
#endif
