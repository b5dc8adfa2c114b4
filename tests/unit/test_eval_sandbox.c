// Code sandbox: pass / fail / CPU and wall limits / memory bomb / loopback
// connection / fork bomb / output cap, the private dir removed afterwards,
// and the code datasets' test programs run against reference solutions.
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gcache/eval.h"

static gc_sandbox_limits small_limits(void) {
    gc_sandbox_limits l;
    gc_sandbox_limits_default(&l);
    l.cpu_seconds = 1;
    // Generous: a Python start-up alone can take seconds on a loaded machine,
    // and no test here may end by the wall clock unless it is about the wall
    // clock (those set their own 1 s limit).
    l.wall_seconds = 30;
    l.memory_bytes = (size_t)256 << 20;
    l.max_procs = 8;
    l.output_cap = 8192;
    return l;
}

static bool dir_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static gc_sandbox_result run(const char *prog, const gc_sandbox_limits *l) {
    gc_sandbox_result r;
    gc_status s = gc_sandbox_run(prog, l, &r);
    if (s != GC_OK) fail_msg("sandbox error: %s", gc_last_error());
    assert_non_null(r.output);
    assert_true(strncmp(r.workdir, "/", 1) == 0 || r.workdir[0]);
    if (dir_exists(r.workdir)) fail_msg("work dir %s still exists", r.workdir);
    return r;
}

static void expect_outcome(const gc_sandbox_result *r, gc_sandbox_outcome want) {
    if (r->outcome != want)
        fail_msg("outcome %s (%s), want %s; output:\n%s", gc_sandbox_outcome_name(r->outcome), r->reason,
                 gc_sandbox_outcome_name(want), r->output);
}

static void test_pass_and_fail(void **st) {
    (void)st;
    gc_sandbox_limits l = small_limits();
    gc_sandbox_result r = run("import sys\nprint('hello', sys.flags.isolated)\nassert sys.stdin.read() == ''\n", &l);
    expect_outcome(&r, GC_SBX_PASSED);
    assert_true(r.passed);
    assert_int_equal(r.exit_code, 0);
    assert_non_null(strstr(r.output, "hello 1"));  // python -I
    gc_sandbox_result_free(&r);

    r = run("def f(x):\n    return x + 1\nassert f(1) == 3, 'wrong answer'\n", &l);
    expect_outcome(&r, GC_SBX_FAILED);
    assert_false(r.passed);
    assert_int_equal(r.exit_code, 1);
    assert_non_null(strstr(r.output, "AssertionError: wrong answer"));
    assert_non_null(strstr(r.reason, "exit status 1"));
    gc_sandbox_result_free(&r);

    r = run("import sys\nsys.exit(7)\n", &l);
    expect_outcome(&r, GC_SBX_FAILED);
    assert_int_equal(r.exit_code, 7);
    gc_sandbox_result_free(&r);
}

static void test_files_stay_in_private_dir(void **st) {
    (void)st;
    gc_sandbox_limits l = small_limits();
    // Writes go to the cwd; a locked-up subdirectory must not stop cleanup.
    gc_sandbox_result r = run("import os\nopen('out.txt', 'w').write('x' * 1000)\nos.makedirs('a/b')\n"
                              "open('a/b/f', 'w').write('y')\nos.chmod('a', 0)\nprint(os.getcwd())\n", &l);
    expect_outcome(&r, GC_SBX_PASSED);
    assert_non_null(strstr(r.output, r.workdir));
    gc_sandbox_result_free(&r);

    l.max_file_bytes = 1 << 20;
    r = run("open('big', 'wb').write(b'0' * (2 << 20))\n", &l);
    assert_false(r.passed);
    assert_non_null(strstr(r.output, "File too large"));
    gc_sandbox_result_free(&r);
}

static void test_cpu_and_wall_limits(void **st) {
    (void)st;
    gc_sandbox_limits l = small_limits();
    // small_limits' wall limit is generous: on a loaded machine 1 s of CPU can
    // take many seconds of wall time; the outcome shows the CPU limit ended it.
    // The CPU time the kernel reports at the kill can lag the limit under load
    // (the sandbox itself accepts >= 0.5 x the limit as "CPU limit", see
    // sandbox.c), so the test asks only that the program did burn CPU. Values
    // are read and the result freed before asserting, so a failure is not
    // followed by a leak report.
    gc_sandbox_result r = run("while True:\n    pass\n", &l);
    gc_sandbox_outcome outcome = r.outcome;
    double wall = r.wall_seconds, cpu = r.cpu_seconds;
    gc_sandbox_result_free(&r);
    if (outcome != GC_SBX_CPU) fail_msg("outcome %s, want cpu", gc_sandbox_outcome_name(outcome));
    if (!(wall < 29)) fail_msg("CPU-limited program ran %.1f s of wall time", wall);
    if (!(cpu >= 0.5 * l.cpu_seconds)) fail_msg("CPU-limited program reported %.2f s of CPU", cpu);

    // The wall limit: the kill comes no earlier than 1 s. The upper bound is
    // wide (the kill, the process-group sweep and reaping can each wait on a
    // busy scheduler) and still far below the 60 s the program would sleep.
    l.wall_seconds = 1;
    r = run("import time\nprint('start', flush=True)\ntime.sleep(60)\n", &l);
    outcome = r.outcome;
    wall = r.wall_seconds;
    bool kept = strstr(r.output, "start") != NULL;  // output before the kill is kept
    bool said = strstr(r.reason, "wall-clock") != NULL;
    gc_sandbox_result_free(&r);
    if (outcome != GC_SBX_TIMEOUT) fail_msg("outcome %s, want timeout", gc_sandbox_outcome_name(outcome));
    if (!(wall >= 1.0 && wall < 30.0)) fail_msg("wall-limited program ended after %.2f s", wall);
    assert_true(kept);
    assert_true(said);
}

static void test_memory_bomb(void **st) {
    (void)st;
    gc_sandbox_limits l = small_limits();
    gc_sandbox_result r = run("x = bytearray(2 << 30)\n", &l);
    expect_outcome(&r, GC_SBX_MEMORY);
    gc_sandbox_result_free(&r);
    r = run("a = []\nwhile True:\n    a.append(bytearray(10 ** 7))\n", &l);
    expect_outcome(&r, GC_SBX_MEMORY);
    gc_sandbox_result_free(&r);
}

static void test_network(void **st) {
    (void)st;
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(ls >= 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(ls, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(ls, 4), 0);
    socklen_t al = sizeof a;
    assert_int_equal(getsockname(ls, (struct sockaddr *)&a, &al), 0);
    char prog[256];
    snprintf(prog, sizeof prog,
             "import socket\ns = socket.create_connection(('127.0.0.1', %d), timeout=1)\nprint('connected')\n",
             ntohs(a.sin_port));
    gc_sandbox_limits l = small_limits();
    gc_sandbox_result r = run(prog, &l);
    if (r.net_isolated) {
        assert_false(r.passed);
        assert_null(strstr(r.output, "connected\n"));
        int c = accept(ls, NULL, NULL);
        assert_true(c < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));  // nothing reached us
    } else {
        // Recorded, not failed: this kernel allows no network namespace.
        fprintf(stderr, "note: network isolation unavailable; connection %s\n", r.passed ? "succeeded" : "failed");
    }
    gc_sandbox_result_free(&r);
    close(ls);
}

// Descriptors the caller holds (here a listening socket and a file, both
// without close-on-exec) are not passed on.
static void test_no_inherited_descriptors(void **st) {
    (void)st;
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    int fd = open("/dev/null", O_RDONLY);
    assert_true(ls >= 0 && fd >= 0);
    gc_sandbox_limits l = small_limits();
    gc_sandbox_result r = run("import os\nprint('fds', sorted(int(x) for x in os.listdir('/proc/self/fd')))\n", &l);
    expect_outcome(&r, GC_SBX_PASSED);
    // 0-2 plus the one listdir itself opened.
    if (!strstr(r.output, "fds [0, 1, 2, 3]\n")) fail_msg("descriptors leaked: %s", r.output);
    gc_sandbox_result_free(&r);
    close(ls);
    close(fd);
}

// Any process whose cwd lies in `dir` (the sandbox's, now removed)?
static int processes_in(const char *dir) {
    DIR *d = opendir("/proc");
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    size_t dl = strlen(dir);
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        char link[300], target[512];
        snprintf(link, sizeof link, "/proc/%s/cwd", e->d_name);
        ssize_t k = readlink(link, target, sizeof target - 1);
        if (k <= 0) continue;
        target[k] = 0;
        if (strncmp(target, dir, dl) == 0) n++;
    }
    closedir(d);
    return n;
}

static void test_fork_bomb(void **st) {
    (void)st;
    gc_sandbox_limits l = small_limits();
    // Children detach into their own sessions and sleep: they must still die.
    const char *bomb = "import os, sys, time\nn = 0\ntry:\n    for i in range(500):\n        if os.fork() == 0:\n"
                       "            os.setsid()\n            time.sleep(30)\n            os._exit(0)\n        n += 1\n"
                       "except OSError:\n    print('forks', n)\n    sys.exit(3)\nprint('forks', n)\n";
    gc_sandbox_result r = run(bomb, &l);
    int forks = -1;
    const char *p = strstr(r.output, "forks ");
    if (p) forks = atoi(p + 6);
    if (forks < 0 || forks >= l.max_procs)
        fail_msg("not contained: %s (%s), output %s", gc_sandbox_outcome_name(r.outcome), r.reason, r.output);
    assert_int_equal(r.exit_code, 3);
    if (r.pid_isolated) {
        usleep(100 * 1000);
        assert_int_equal(processes_in(r.workdir), 0);
    }
    gc_sandbox_result_free(&r);
}

// The program leaves the process group and outlives the wall limit.
static void test_detached_program_is_killed(void **st) {
    (void)st;
    gc_sandbox_limits l = small_limits();
    l.wall_seconds = 1;
    gc_sandbox_result r = run("import os, time\nos.setsid()\nif os.fork() == 0:\n    os.setsid()\n"
                              "print('detached', flush=True)\ntime.sleep(60)\n", &l);
    expect_outcome(&r, GC_SBX_TIMEOUT);
    assert_non_null(strstr(r.output, "detached"));
    usleep(100 * 1000);
    if (r.pid_isolated) assert_int_equal(processes_in(r.workdir), 0);
    gc_sandbox_result_free(&r);
}

static void test_output_cap_and_exec_error(void **st) {
    (void)st;
    gc_sandbox_limits l = small_limits();
    l.output_cap = 4096;
    gc_sandbox_result r = run("print('FIRST')\nfor i in range(20000):\n    print('line', i)\nprint('LAST')\n", &l);
    expect_outcome(&r, GC_SBX_PASSED);
    assert_true(r.output_dropped > 100000);
    assert_true(r.output_len < 4096 + 64);
    assert_true(strncmp(r.output, "FIRST\n", 6) == 0);
    assert_non_null(strstr(r.output, "bytes dropped"));
    assert_non_null(strstr(r.output, "LAST\n"));
    gc_sandbox_result_free(&r);

    l.python = "/nonexistent/python3";
    r = run("print(1)\n", &l);
    expect_outcome(&r, GC_SBX_EXEC);
    assert_non_null(strstr(r.reason, "/nonexistent/python3"));
    gc_sandbox_result_free(&r);
}

// Reference solutions for tests/data/eval/{humaneval,mbpp}.jsonl, as a model
// would write them (fenced or bare), each followed by a wrong one.
static void test_dataset_programs(void **st) {
    (void)st;
    static const char *const he_ok[] = {"```python\n    return sum(xs)\n```", "    return s.upper() + '!'\n"};
    static const char *const he_bad[] = {"    return len(xs)\n", "```python\ndef shout(s):\n    return s + '!'\n```"};
    static const char *const mbpp_ok[] = {"def common_items(a, b):\n    return tuple(set(a) & set(b))\n",
                                          "```python\ndef square(n):\n    return n * n\n```",
                                          "def rev(s):\n    return s[::-1]\n",
                                          "def add_two(a, b):\n    return a + b\n"};
    gc_sandbox_limits l = small_limits();
    gc_dataset *ds;
    assert_int_equal(gc_dataset_load(GC_TASK_HUMANEVAL, "tests/data/eval/humaneval.jsonl", NULL, &ds), GC_OK);
    for (size_t i = 0; i < 2; i++) {
        for (int bad = 0; bad < 2; bad++) {
            char *prog = gc_code_program(gc_dataset_get(ds, i), bad ? he_bad[i] : he_ok[i]);
            gc_sandbox_result r = run(prog, &l);
            expect_outcome(&r, bad ? GC_SBX_FAILED : GC_SBX_PASSED);
            gc_sandbox_result_free(&r);
            free(prog);
        }
    }
    gc_dataset_free(ds);
    assert_int_equal(gc_dataset_load(GC_TASK_MBPP, "tests/data/eval/mbpp.jsonl", NULL, &ds), GC_OK);
    for (size_t i = 0; i < 4; i++) {
        char *prog = gc_code_program(gc_dataset_get(ds, i), mbpp_ok[i]);
        gc_sandbox_result r = run(prog, &l);
        expect_outcome(&r, GC_SBX_PASSED);
        gc_sandbox_result_free(&r);
        free(prog);
    }
    gc_dataset_free(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pass_and_fail),
        cmocka_unit_test(test_files_stay_in_private_dir),
        cmocka_unit_test(test_cpu_and_wall_limits),
        cmocka_unit_test(test_memory_bomb),
        cmocka_unit_test(test_network),
        cmocka_unit_test(test_no_inherited_descriptors),
        cmocka_unit_test(test_fork_bomb),
        cmocka_unit_test(test_detached_program_is_killed),
        cmocka_unit_test(test_output_cap_and_exec_error),
        cmocka_unit_test(test_dataset_programs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
