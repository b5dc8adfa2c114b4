// Runs untrusted Python in a child process.
//
// Processes:
//   caller ── fork ──> helper: own process group; unshares the network and
//                      PID namespaces (directly as root, else inside a new
//                      user namespace; else neither, which is recorded)
//                      ── fork ──> program: PID 1 of the new PID namespace,
//                      so every process it starts dies with it; chdir to the
//                      private dir, rlimits, drop root, exec python -I -B.
// Without namespaces (old kernel, seccomp) a program that leaves the process
// group can outlive the run; the result says so (pid_isolated = false).
// The helper waits for the program and sends its wait status and CPU time
// back on a message pipe; the caller reads output, enforces the wall-clock
// limit by killing the process group and the program, then removes the dir.
//
// Between fork and exec only async-signal-safe calls are made (the caller
// may have other threads holding malloc's lock).
#define _GNU_SOURCE
#include "gcache/eval.h"
#include "core/error.h"
#include "eval/capture.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void gc_sandbox_limits_default(gc_sandbox_limits *l) {
    memset(l, 0, sizeof *l);
    l->cpu_seconds = 5;
    l->wall_seconds = 10;
    l->memory_bytes = (size_t)1 << 30;
    l->max_procs = 64;
    l->max_file_bytes = (size_t)16 << 20;
    l->output_cap = 64 << 10;
    l->run_as_uid = 65534;
}

const char *gc_sandbox_outcome_name(gc_sandbox_outcome o) {
    switch (o) {
    case GC_SBX_PASSED: return "passed";
    case GC_SBX_FAILED: return "failed";
    case GC_SBX_TIMEOUT: return "timeout";
    case GC_SBX_CPU: return "cpu_limit";
    case GC_SBX_MEMORY: return "memory_limit";
    case GC_SBX_SIGNAL: return "signal";
    case GC_SBX_EXEC: return "exec_error";
    }
    return "unknown";
}

void gc_sandbox_result_free(gc_sandbox_result *r) {
    if (!r) return;
    free(r->output);
    r->output = NULL;
    r->output_len = 0;
}

// ---- messages from helper/program to the caller (one write each, < PIPE_BUF) ----
enum { M_ISO = 1, M_PID, M_UID, M_FAIL, M_STATUS };
enum { ISO_NET = 1, ISO_PID = 2, ISO_USERNS = 4 };
enum { STEP_CHDIR = 1, STEP_RLIMIT, STEP_DROP, STEP_EXEC };
typedef struct msg { int32_t kind, a; int64_t b; } msg;

static void send_msg(int fd, int kind, int a, int64_t b) {
    msg m = {kind, a, b};
    ssize_t w;
    do { w = write(fd, &m, sizeof m); } while (w < 0 && errno == EINTR);
}

// Decimal text of v into buf (no stdio after fork).
static size_t fmt_uint(char *buf, unsigned long v) {
    char tmp[24];
    size_t n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    for (size_t i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
    return n;
}

static bool write_file(const char *path, const char *s, size_t n) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    bool ok = write(fd, s, n) == (ssize_t)n;
    close(fd);
    return ok;
}

// Unprivileged route: a user namespace mapping our own ids, which lets us
// create network and PID namespaces.
static bool enter_userns(void) {
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWPID) != 0) return false;
    char map[64];
    size_t k;
    write_file("/proc/self/setgroups", "deny", 4);
    k = fmt_uint(map, uid); map[k++] = ' '; k += fmt_uint(map + k, uid); memcpy(map + k, " 1\n", 3); k += 3;
    if (!write_file("/proc/self/uid_map", map, k)) return false;
    k = fmt_uint(map, gid); map[k++] = ' '; k += fmt_uint(map + k, gid); memcpy(map + k, " 1\n", 3); k += 3;
    return write_file("/proc/self/gid_map", map, k);
}

typedef struct child_args {
    const gc_sandbox_limits *lim;
    const char *workdir;
    char *const *argv;
    char *const *envp;
    int out_w, msg_w;
} child_args;

static void set_limit(int res, rlim_t v) {
    struct rlimit rl = {v, v};
    if (setrlimit(res, &rl) != 0) {
        // Hard limit already lower: lower the soft one only.
        getrlimit(res, &rl);
        if (v < rl.rlim_max) { rl.rlim_cur = v; setrlimit(res, &rl); }
    }
}

// Closes every descriptor from 3 up except `keep` (close-on-exec already),
// so that nothing the caller holds open (sockets, result files) reaches
// the program.
static void close_inherited(int keep) {
#ifdef SYS_close_range
    if (keep < 3 || (keep == 3 || syscall(SYS_close_range, 3u, (unsigned)keep - 1, 0u) == 0)) {
        unsigned from = keep < 3 ? 3u : (unsigned)keep + 1;
        if (syscall(SYS_close_range, from, ~0u, 0u) == 0) return;
    }
#endif
    struct rlimit rl;
    int max = (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536) ? (int)rl.rlim_cur : 65536;
    for (int fd = 3; fd < max; fd++)
        if (fd != keep) close(fd);
}

static void run_program(const child_args *a, int iso) {
    const gc_sandbox_limits *lim = a->lim;
    close_inherited(a->msg_w);
    if (chdir(a->workdir) != 0) { send_msg(a->msg_w, M_FAIL, STEP_CHDIR, errno); _exit(127); }
    set_limit(RLIMIT_CPU, (rlim_t)ceil(lim->cpu_seconds > 0 ? lim->cpu_seconds : 1));
    if (lim->memory_bytes) set_limit(RLIMIT_AS, (rlim_t)lim->memory_bytes);
    if (lim->max_file_bytes) set_limit(RLIMIT_FSIZE, (rlim_t)lim->max_file_bytes);
    if (lim->max_procs > 0) set_limit(RLIMIT_NPROC, (rlim_t)lim->max_procs);
    set_limit(RLIMIT_CORE, 0);
    if (geteuid() == 0 && lim->run_as_uid >= 0 && !(iso & ISO_USERNS)) {
        gid_t g = (gid_t)lim->run_as_uid;
        if (setgroups(1, &g) != 0 || setgid(g) != 0 || setuid((uid_t)lim->run_as_uid) != 0) {
            send_msg(a->msg_w, M_FAIL, STEP_DROP, errno);
            _exit(127);
        }
        send_msg(a->msg_w, M_UID, 1, 0);
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // after the uid change, which clears it
    execvpe(a->argv[0], a->argv, a->envp);
    send_msg(a->msg_w, M_FAIL, STEP_EXEC, errno);
    _exit(127);
}

static void run_helper(const child_args *a) {
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(a->out_w, 1) < 0 || dup2(a->out_w, 2) < 0) _exit(126);
    if (devnull > 2) close(devnull);
    if (a->out_w > 2) close(a->out_w);

    int iso = 0;
    if (unshare(CLONE_NEWNET | CLONE_NEWPID) == 0) iso = ISO_NET | ISO_PID;
    else if (unshare(CLONE_NEWNET) == 0) iso = ISO_NET;
    else if (enter_userns()) iso = ISO_NET | ISO_PID | ISO_USERNS;
    send_msg(a->msg_w, M_ISO, iso, 0);

    pid_t p = fork();
    if (p < 0) _exit(126);
    if (p == 0) run_program(a, iso);
    send_msg(a->msg_w, M_PID, (int)p, 0);
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    while (wait4(p, &status, 0, &ru) < 0 && errno == EINTR) {}
    int64_t cpu_us = (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec +
                     (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
    send_msg(a->msg_w, M_STATUS, status, cpu_us);
    _exit(0);
}

// ---- private directory ----

// Removes everything under dirfd/name, first making directories writable
// (the program may have chmod'ed them). Depth-limited.
static bool rm_tree_at(int at, const char *name, int depth) {
    struct stat st;
    if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return errno == ENOENT;
    if (!S_ISDIR(st.st_mode)) return unlinkat(at, name, 0) == 0;
    if (depth > 200) return false;
    fchmodat(at, name, 0700, 0);
    int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    bool ok = true;
    if (fd >= 0) {
        DIR *d = fdopendir(fd);
        if (!d) { close(fd); return false; }
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            if (!rm_tree_at(dirfd(d), e->d_name, depth + 1)) ok = false;
        }
        closedir(d);
    }
    return unlinkat(at, name, AT_REMOVEDIR) == 0 && ok;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static gc_status make_workdir(const gc_sandbox_limits *lim, const char *program, gc_sandbox_result *out,
                              bool chown_it) {
    const char *root = lim->tmp_root;
    if (!root || !*root) root = getenv("TMPDIR");
    if (!root || !*root) root = "/tmp";
    int n = snprintf(out->workdir, sizeof out->workdir, "%s/gc_sbx_XXXXXX", root);
    if (n < 0 || (size_t)n >= sizeof out->workdir)
        return gc_fail(GC_ERR_INVALID_ARG, "sandbox: temp root \"%s\" is too long", root);
    if (!mkdtemp(out->workdir))
        return gc_fail(GC_ERR_IO, "sandbox: mkdtemp in %s: %s", root, strerror(errno));
    char path[300];
    snprintf(path, sizeof path, "%s/prog.py", out->workdir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    size_t len = strlen(program), done = 0;
    while (fd >= 0 && done < len) {
        ssize_t w = write(fd, program + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        done += (size_t)w;
    }
    if (fd < 0 || done < len || close(fd) != 0) {
        gc_status s = gc_fail(GC_ERR_IO, "sandbox: cannot write %s: %s", path, strerror(errno));
        rm_tree_at(AT_FDCWD, out->workdir, 0);
        return s;
    }
    if (chown_it && (chown(out->workdir, (uid_t)lim->run_as_uid, (gid_t)lim->run_as_uid) != 0 ||
                     chown(path, (uid_t)lim->run_as_uid, (gid_t)lim->run_as_uid) != 0)) {
        gc_status s = gc_fail(GC_ERR_IO, "sandbox: chown %s: %s", out->workdir, strerror(errno));
        rm_tree_at(AT_FDCWD, out->workdir, 0);
        return s;
    }
    return GC_OK;
}

// What the caller learned from the message pipe.
typedef struct run_state {
    int iso;
    pid_t program;
    bool uid_dropped, have_status;
    int fail_step, fail_errno;
    int status;
    int64_t cpu_us;
    char partial[sizeof(msg)];
    size_t plen;
} run_state;

static void on_msgs(run_state *rs, const char *buf, size_t n) {
    for (size_t i = 0; i < n; i++) {
        rs->partial[rs->plen++] = buf[i];
        if (rs->plen < sizeof(msg)) continue;
        msg m;
        memcpy(&m, rs->partial, sizeof m);
        rs->plen = 0;
        switch (m.kind) {
        case M_ISO: rs->iso = m.a; break;
        case M_PID: rs->program = (pid_t)m.a; break;
        case M_UID: rs->uid_dropped = true; break;
        case M_FAIL: rs->fail_step = m.a; rs->fail_errno = (int)m.b; break;
        case M_STATUS: rs->have_status = true; rs->status = m.a; rs->cpu_us = m.b; break;
        default: break;
        }
    }
}

static void kill_all(pid_t helper, const run_state *rs) {
    kill(-helper, SIGKILL);
    // The program may have left the group; as PID 1 of its namespace its
    // death takes every process inside with it.
    if (rs->program > 0) kill(rs->program, SIGKILL);
}

static void classify(gc_sandbox_result *r, const run_state *rs, bool timed_out, const gc_sandbox_limits *lim,
                     const char *python) {
    r->exit_code = -1;
    if (rs->fail_step) {
        static const char *const steps[] = {"", "chdir to the work dir", "set limits", "drop privileges", "start"};
        r->outcome = GC_SBX_EXEC;
        snprintf(r->reason, sizeof r->reason, "cannot %s %s: %s", steps[rs->fail_step < 5 ? rs->fail_step : 0],
                 rs->fail_step == STEP_EXEC ? python : "", strerror(rs->fail_errno));
        return;
    }
    if (timed_out) {
        r->outcome = GC_SBX_TIMEOUT;
        r->signal = SIGKILL;
        snprintf(r->reason, sizeof r->reason, "wall-clock limit %.1f s", lim->wall_seconds);
        return;
    }
    if (!rs->have_status) {
        r->outcome = GC_SBX_SIGNAL;
        snprintf(r->reason, sizeof r->reason, "sandbox helper ended without a status");
        return;
    }
    bool memory = r->output && (strstr(r->output, "MemoryError") || strstr(r->output, "Cannot allocate memory"));
    int st = rs->status;
    if (WIFEXITED(st)) {
        r->exit_code = WEXITSTATUS(st);
        if (r->exit_code == 0) {
            r->outcome = GC_SBX_PASSED;
            r->passed = true;
            snprintf(r->reason, sizeof r->reason, "passed");
        } else if (memory) {
            r->outcome = GC_SBX_MEMORY;
            snprintf(r->reason, sizeof r->reason, "MemoryError (address-space limit %zu MiB), exit status %d",
                     lim->memory_bytes >> 20, r->exit_code);
        } else {
            r->outcome = GC_SBX_FAILED;
            snprintf(r->reason, sizeof r->reason, "exit status %d", r->exit_code);
        }
        return;
    }
    int sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    r->signal = sig;
    double cpu_limit = ceil(lim->cpu_seconds > 0 ? lim->cpu_seconds : 1);
    // The program is PID 1 of its PID namespace, where a kernel SIGXCPU with
    // the default action is ignored; the hard RLIMIT_CPU then ends it with
    // SIGKILL. Our own kills are the wall-clock ones handled above, so a
    // SIGKILL after most of the CPU budget (rusage can lag under load) is the
    // CPU limit.
    if (sig == SIGXCPU || (sig == SIGKILL && !memory && r->cpu_seconds >= 0.5 * cpu_limit)) {
        r->outcome = GC_SBX_CPU;
        snprintf(r->reason, sizeof r->reason, "CPU-time limit %.0f s", cpu_limit);
    } else if (memory) {
        r->outcome = GC_SBX_MEMORY;
        snprintf(r->reason, sizeof r->reason, "out of memory (%s)", strsignal(sig));
    } else {
        r->outcome = GC_SBX_SIGNAL;
        snprintf(r->reason, sizeof r->reason, "killed by signal %d (%s)%s", sig, strsignal(sig),
                 sig == SIGXFSZ ? ", file size limit" : "");
    }
}

gc_status gc_sandbox_run(const char *program, const gc_sandbox_limits *lim_in, gc_sandbox_result *out) {
    memset(out, 0, sizeof *out);
    out->exit_code = -1;
    gc_sandbox_limits lim;
    if (lim_in) lim = *lim_in;
    else gc_sandbox_limits_default(&lim);
    if (!program) return gc_fail(GC_ERR_INVALID_ARG, "sandbox: NULL program");
    if (lim.wall_seconds <= 0) lim.wall_seconds = 10;
    if (lim.output_cap < 1024) lim.output_cap = 1024;
    const char *python = lim.python && *lim.python ? lim.python : "python3";
    bool drop = geteuid() == 0 && lim.run_as_uid >= 0;
    GC_TRY(make_workdir(&lim, program, out, drop));

    gc_capture cap;
    int outp[2] = {-1, -1}, msgp[2] = {-1, -1};
    if (!gc_capture_init(&cap, lim.output_cap)) {
        rm_tree_at(AT_FDCWD, out->workdir, 0);
        return gc_fail(GC_ERR_OOM, "sandbox: out of memory");
    }
    if (pipe2(outp, O_CLOEXEC) != 0 || pipe2(msgp, O_CLOEXEC) != 0) {
        gc_status s = gc_fail(GC_ERR_IO, "sandbox: pipe: %s", strerror(errno));
        for (int i = 0; i < 2; i++) { if (outp[i] >= 0) close(outp[i]); if (msgp[i] >= 0) close(msgp[i]); }
        gc_capture_free(&cap);
        rm_tree_at(AT_FDCWD, out->workdir, 0);
        return s;
    }
    char *argv[] = {(char *)python, "-I", "-B", "prog.py", NULL};
    char *envp[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "PYTHONHASHSEED=0", NULL};
    child_args a = {&lim, out->workdir, argv, envp, outp[1], msgp[1]};

    double t0 = now_s();
    pid_t helper = fork();
    if (helper < 0) {
        gc_status s = gc_fail(GC_ERR_IO, "sandbox: fork: %s", strerror(errno));
        close(outp[0]); close(outp[1]); close(msgp[0]); close(msgp[1]);
        gc_capture_free(&cap);
        rm_tree_at(AT_FDCWD, out->workdir, 0);
        return s;
    }
    if (helper == 0) {
        close(outp[0]);
        close(msgp[0]);
        run_helper(&a);
    }
    setpgid(helper, helper);  // also done by the helper: whichever runs first
    close(outp[1]);
    close(msgp[1]);
    fcntl(msgp[0], F_SETFL, fcntl(msgp[0], F_GETFL) | O_NONBLOCK);

    run_state rs = {0};
    bool out_open = true, msg_open = true, exited = false, timed_out = false;
    double deadline = t0 + lim.wall_seconds, grace_end = 0;
    char buf[8192];
    for (;;) {
        double t = now_s();
        if (!exited && t >= deadline) {
            // Learn the program's pid first if its message is still unread.
            ssize_t n;
            while (msg_open && (n = read(msgp[0], buf, sizeof buf)) > 0) on_msgs(&rs, buf, (size_t)n);
            kill_all(helper, &rs);
            timed_out = true;
            exited = true;  // reaped below
            grace_end = t + 0.5;
        }
        if (!exited) {
            siginfo_t si;
            memset(&si, 0, sizeof si);
            // WNOWAIT: the helper's pid (= the group id) stays reserved until reaped.
            if (waitid(P_PID, (id_t)helper, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == helper) {
                exited = true;
                grace_end = t + 0.5;
            }
        }
        if (exited && ((!out_open && !msg_open) || t >= grace_end)) break;
        struct pollfd fds[2] = {{out_open ? outp[0] : -1, POLLIN, 0}, {msg_open ? msgp[0] : -1, POLLIN, 0}};
        double until = exited ? grace_end : deadline;
        int ms = (int)((until - t) * 1000) + 1;
        if (ms > 20) ms = 20;  // also re-check the helper's state
        int pr = poll(fds, 2, ms);
        if (pr < 0 && errno != EINTR) break;
        for (int i = 0; i < 2 && pr > 0; i++) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t n = read(fds[i].fd, buf, sizeof buf);
            if (n > 0) {
                if (i == 0) gc_capture_add(&cap, buf, (size_t)n);
                else on_msgs(&rs, buf, (size_t)n);
            } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                if (i == 0) out_open = false;
                else msg_open = false;
            }
        }
    }
    kill_all(helper, &rs);
    int hs;
    while (waitpid(helper, &hs, 0) < 0 && errno == EINTR) {}
    out->wall_seconds = now_s() - t0;
    close(outp[0]);
    close(msgp[0]);

    out->output = gc_capture_take(&cap, &out->output_len);
    out->output_dropped = cap.dropped;
    gc_capture_free(&cap);
    out->cpu_seconds = (double)rs.cpu_us * 1e-6;
    out->net_isolated = (rs.iso & ISO_NET) != 0;
    out->pid_isolated = (rs.iso & ISO_PID) != 0;
    out->uid_dropped = rs.uid_dropped;
    classify(out, &rs, timed_out && !rs.have_status, &lim, python);

    bool removed = rm_tree_at(AT_FDCWD, out->workdir, 0);
    if (!out->output) {
        gc_status s = gc_fail(GC_ERR_OOM, "sandbox: out of memory");
        return s;
    }
    if (!removed)
        return gc_fail(GC_ERR_IO, "sandbox: could not remove %s (result kept in *out)", out->workdir);
    return GC_OK;
}
