/* test_mpi.c: data-parallel training under mpirun (runtime/dist.h).
 *
 * tests/report/tiny.net (batch norm, dropout, random crops and flips) on
 * generated JPEGs, 2 processes on this machine talking over TCP (--mca btl
 * tcp,self: the network path, not shared memory; --oversubscribe, so 2
 * processes may share fewer cores). mpirun starts this program itself: with
 * --trainer first, main() is the tiny trainer's netc_main. Checked:
 *   - 2 processes end with the weights of 1 at the same (global) batch, up to
 *     the order of float sums, with the gradients summed in buckets that
 *     start during backward and in one after it; with sync_bn off (each
 *     process's own batch norm statistics) they do not, which shows the
 *     comparison can tell;
 *   - the test pass, and a validation split's, are shared out: the same
 *     figures as 1 process's;
 *   - 2-process runs resumed on 1 process, from an epoch's end and from the
 *     middle of one (stopped by SIGTERM, as mpirun passes Ctrl-C on), end
 *     where 1 process does;
 *   - Ctrl-C to mpirun, and a rank killed with SIGKILL, end the job with a
 *     message, and last.ckpt is whole and resumes;
 *   - an error every process meets is printed once, not once per process.
 * Skipped, saying so, where mpirun is not installed. Under make test-asan
 * mpirun's processes leave Open MPI's own leaks to tests/lsan_mpi.supp. */
#include "report/harness.h"

#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define N_TRAIN 8 /* per class: 120 images, 15 batches of 8 */
#define N_TEST 3

static char data[512], self[1024];
static char lsan[PATH_MAX + 64]; /* LSAN_OPTIONS for mpirun's processes (make test-asan: tests/lsan_mpi.supp) */

/* How far two runs' weights may differ: the largest |a - b| of a tensor over
 * its largest |a|. Summing in another order rounds differently, by a few
 * float32 epsilons (1.2e-7) of a step's gradients, and SGD with momentum
 * carries those differences from step to step. Over this test's 30 to 120
 * steps they stay near 1e-6 (measured: printed by each test); over hundreds
 * they grow until the runs part ways (this net at a constant rate of 0.05:
 * 1e-5 by epoch 13, different accuracies by epoch 16), as two runs with
 * different thread counts would, so the runs compared here are short. A wrong share of a batch,
 * a dropout mask drawn for the wrong image, or batch norm statistics of half
 * the batch change the weights by 1e-2 and more. Tensors whose values are
 * rounding noise themselves (a conv's bias under batch norm gets a gradient
 * of exactly 0 in real arithmetic: its values stay below 1e-6) are compared
 * absolutely instead. */
#define MAX_REL_DIFF 1e-5
#define NOISE 1e-6

static const char *out_dir(const char *name) {
    static char ring[32][600];
    static int next;
    char *b = ring[next++ % 32];
    snprintf(b, sizeof ring[0], "%s/%s", tmp_root, name);
    return b;
}

/* Starts `mpirun -np ranks ... self --trainer ARGS` (ranks 0: this program
 * alone, as a user runs a trainer), in its own process group, output to
 * <tmp>/<log>.out and .err. */
static pid_t start(int ranks, const char *log, const char *const *args) {
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        setpgid(0, 0);
        int out = open(fmt("%s/%s.out", tmp_root, log), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(fmt("%s/%s.err", tmp_root, log), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (out < 0 || err < 0) _exit(99);
        dup2(out, 1), dup2(err, 2);
        char *argv[64];
        int argc = 0;
        if (ranks > 0) {
            if (lsan[0]) setenv("LSAN_OPTIONS", lsan, 1);
            argv[argc++] = "mpirun", argv[argc++] = "-np", argv[argc++] = (char *)fmt("%d", ranks);
            argv[argc++] = "--oversubscribe", argv[argc++] = "--mca", argv[argc++] = "btl", argv[argc++] = "tcp,self";
        }
        argv[argc++] = self;
        argv[argc++] = "--trainer";
        for (int i = 0; args[i] && argc < 63; i++) argv[argc++] = (char *)args[i];
        argv[argc] = NULL;
        execvp(argv[0], argv);
        _exit(98);
    }
    setpgid(pid, pid);
    return pid;
}

/* Exit status (128 + signal if killed); a run that takes longer than two
 * minutes is stopped (all of its processes) and fails the test. */
static int finish(pid_t pid) {
    int status;
    for (int ms = 0; ms < 120000; ms += 5) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        nap(5);
    }
    kill(-pid, SIGKILL);
    waitpid(pid, &status, 0);
    fail_msg("mpirun did not end within two minutes: stopped");
    return -1;
}

static int run(int ranks, const char *name, const char *const *extra) {
    const char *args[32] = {"train", "--data", data, "--out", out_dir(name), "--force", "--threads", "1"};
    int n = 8;
    for (int i = 0; extra && extra[i]; i++) args[n++] = extra[i];
    args[n] = NULL;
    return finish(start(ranks, name, args));
}

static char *output(const char *log, const char *stream) { return slurp(fmt("%s/%s.%s", tmp_root, log, stream), NULL); }

/* The largest difference of two weight files' tensors (see MAX_REL_DIFF). */
static double weights_diff(const char *a, const char *b) {
    StFile fa, fb;
    Error e;
    if (st_open(&fa, a, &e) < 0) fail_msg("%s", e.msg);
    if (st_open(&fb, b, &e) < 0) fail_msg("%s", e.msg);
    double worst = 0;
    const char *where = "";
    for (int i = 0; i < fa.n; i++) {
        const StTensor *t = &fa.tensors[i], *u = st_find(&fb, t->name);
        if (strcmp(t->dtype, "F32") != 0 || strncmp(t->name, "report.", 7) == 0) continue;
        assert_non_null(u);
        assert_int_equal(t->end - t->begin, u->end - u->begin);
        size_t n = (t->end - t->begin) / 4;
        float *x = malloc(4 * n + 4), *y = malloc(4 * n + 4);
        memcpy(x, st_bytes(&fa, t), 4 * n), memcpy(y, st_bytes(&fb, u), 4 * n);
        double scale = 0, diff = 0;
        for (size_t k = 0; k < n; k++) scale = fmax(scale, fabs(x[k])), diff = fmax(diff, fabs((double)x[k] - y[k]));
        double rel = scale < NOISE ? (diff < NOISE ? 0 : INFINITY) : diff / scale;
        if (rel >= worst) worst = rel, where = t->name;
        free(x), free(y);
    }
    print_message("largest relative difference of the weights: %.3g (%s)\n", worst, where);
    st_close(&fa), st_close(&fb);
    return worst;
}

/* One process's run, the reference of the comparisons (made once). */
static const char *reference(void) {
    static const char *const extra[] = {"--epochs", "2", NULL};
    static bool made;
    if (!made) assert_int_equal(run(0, "ref", extra), 0), made = true;
    return out_dir("ref");
}

/* The metrics of two runs' 2 epochs: the losses as close as the weights, the
 * counts (top-1, top-5, per class) the same; with val, the validation
 * pass's too. */
static void assert_same_metrics(const char *dir_a, const char *dir_b, bool val) {
    double a[2][METRIC_COLS], b[2][METRIC_COLS];
    assert_int_equal(read_metrics(fmt("%s/metrics.csv", dir_a), a, 2), 2);
    assert_int_equal(read_metrics(fmt("%s/metrics.csv", dir_b), b, 2), 2);
    enum { TRAIN_TOP1 = COL_TRAIN_LOSS + 1, TRAIN_TOP5, VAL_TOP5 = COL_VAL_TOP1 + 1 };
    const int losses[] = {COL_TRAIN_LOSS, COL_TEST_LOSS, COL_VAL_LOSS};
    const int counts[] = {TRAIN_TOP1, TRAIN_TOP5, COL_TEST_TOP1, COL_TEST_TOP5, COL_TEST_MEAN, COL_VAL_TOP1, VAL_TOP5};
    for (int r = 0; r < 2; r++) {
        for (int i = 0; i < (val ? 3 : 2); i++) assert_true(fabs(a[r][losses[i]] - b[r][losses[i]]) < 1e-4 * fabs(a[r][losses[i]]));
        for (int i = 0; i < (val ? 7 : 5); i++) assert_true(a[r][counts[i]] == b[r][counts[i]] && a[r][counts[i]] >= 0);
    }
}

static void two_processes_train_as_one(void **state) {
    (void)state;
    const char *ref = reference();
    static const char *const buckets[] = {"--epochs", "2", "--bucket_mb", "0.001", NULL};
    assert_int_equal(run(2, "two", buckets), 0);
    char *out = output("two", "out");
    assert_non_null(strstr(out, "2 processes: 0.0 MB of gradients summed per step in 3 buckets"));
    assert_int_equal(count_of(out, "final test top-1"), 1); /* rank 0 alone prints */
    free(out);
    assert_true(weights_diff(fmt("%s/weights.safetensors", ref), fmt("%s/weights.safetensors", out_dir("two"))) < MAX_REL_DIFF);
    /* the optimiser's state too, through the checkpoint */
    assert_true(weights_diff(fmt("%s/last.ckpt", ref), fmt("%s/last.ckpt", out_dir("two"))) < MAX_REL_DIFF);

    /* the test pass shared out: the same counts (top-1, top-5, per class) as one process's */
    assert_same_metrics(ref, out_dir("two"), false);

    static const char *const one_bucket[] = {"--epochs", "2", "--bucket_mb", "0", NULL};
    assert_int_equal(run(2, "two_one_bucket", one_bucket), 0);
    out = output("two_one_bucket", "out");
    assert_non_null(strstr(out, "in 1 bucket;"));
    free(out);
    assert_true(weights_diff(fmt("%s/weights.safetensors", ref), fmt("%s/weights.safetensors", out_dir("two_one_bucket"))) <
                MAX_REL_DIFF);
}

/* A validation split (val_split): its pass shared out like the test pass's,
 * with the same figures, and best.ckpt chosen by them alike. */
static void validation_pass_shared_out(void **state) {
    (void)state;
    static const char *const extra[] = {"--epochs", "2", "--val_split", "0.25", NULL};
    assert_int_equal(run(0, "val1", extra), 0);
    assert_int_equal(run(2, "val2", extra), 0);
    assert_same_metrics(out_dir("val1"), out_dir("val2"), true);
    assert_true(weights_diff(fmt("%s/best.ckpt", out_dir("val1")), fmt("%s/best.ckpt", out_dir("val2"))) < MAX_REL_DIFF);
}

/* Each process's own batch norm statistics (4 images of 8): another
 * training, and the comparison above sees it. */
static void sync_bn_off_trains_otherwise(void **state) {
    (void)state;
    static const char *const extra[] = {"--epochs", "2", "--sync_bn", "off", NULL};
    assert_int_equal(run(2, "no_sync", extra), 0);
    assert_true(weights_diff(fmt("%s/weights.safetensors", reference()), fmt("%s/weights.safetensors", out_dir("no_sync"))) >
                100 * MAX_REL_DIFF);
}

/* `test` under mpirun: each process evaluates a share; the same figures. */
static void test_command_shared_out(void **state) {
    (void)state;
    const char *w = fmt("%s/weights.safetensors", reference());
    const char *args[] = {"test", "--weights", w, "--data", data, "--threads", "1", NULL};
    assert_int_equal(finish(start(0, "test1", args)), 0);
    assert_int_equal(finish(start(2, "test2", args)), 0);
    char *one = output("test1", "out"), *two = output("test2", "out");
    char *a = between(one, "images): ", " ("), *b = between(two, "images): ", " (");
    assert_non_null(a), assert_non_null(b);
    assert_string_equal(a, b);
    char *ca = between(one, "per class top-1:", "\n  zebra"), *cb = between(two, "per class top-1:", "\n  zebra");
    assert_non_null(ca), assert_non_null(cb);
    assert_string_equal(ca, cb);
    assert_int_equal(count_of(two, "per class top-1"), 1);
    free(a), free(b), free(ca), free(cb), free(one), free(two);
}

/* 2 processes for 2 epochs of 4, then 1 process on: where 1 process ends. */
static void resume_two_processes_on_one(void **state) {
    (void)state;
    static const char *const ref4[] = {"--epochs", "4", "--schedule", "constant", NULL};
    assert_int_equal(run(0, "ref4", ref4), 0);
    static const char *const two[] = {"--epochs", "2", "--schedule", "constant", NULL};
    assert_int_equal(run(2, "two_then_one", two), 0);
    const char *args[] = {"train", "--resume", out_dir("two_then_one"), "--epochs", "4", "--threads", "1", NULL};
    assert_int_equal(finish(start(0, "two_then_one_resume", args)), 0);
    char *out = output("two_then_one_resume", "out");
    assert_non_null(strstr(out, "at epoch 2, batch 0"));
    free(out);
    assert_int_equal(metrics_rows(fmt("%s/metrics.csv", out_dir("two_then_one"))), 4);
    assert_true(weights_diff(fmt("%s/weights.safetensors", out_dir("ref4")),
                             fmt("%s/weights.safetensors", out_dir("two_then_one"))) < MAX_REL_DIFF);
}

/* Waits until `path` exists (with rows, until that metrics.csv has as many
 * rows); false if pid ended first. */
static bool wait_for(pid_t pid, const char *path, int rows) {
    struct stat st;
    for (int ms = 0; ms < 120000; ms += 1) {
        if (rows ? metrics_rows(path) >= rows : stat(path, &st) == 0) return true;
        if (waitpid(pid, NULL, WNOHANG) == pid) return false;
        nap(1);
    }
    return false;
}

/* The pid of rank r of a run started with NETC_TEST_PIDS set (0 if none). */
static pid_t rank_pid(int r) {
    char *text = slurp(fmt("%s/rank%d.pid", tmp_root, r), NULL);
    pid_t pid = text ? atoi(text) : 0;
    free(text);
    if (pid <= 0) fail_msg("no pid for rank %d", r); /* kill(0, ...) would signal this test */
    return pid;
}

/* Starts a 2-process run and waits until it trains (report.html is written
 * as training starts, after the signal handlers are set). */
static pid_t start_training(const char *log, const char *dir, const char *const *args) {
    if (system(fmt("rm -rf '%s' '%s'/rank*.pid", dir, tmp_root)) != 0) fail_msg("cannot clear %s", dir);
    setenv("NETC_TEST_PIDS", tmp_root, 1); /* each rank writes <tmp>/rank<r>.pid */
    pid_t pid = start(2, log, args);
    unsetenv("NETC_TEST_PIDS");
    assert_true(wait_for(pid, fmt("%s/report.html", dir), 0));
    return pid;
}

/* SIGTERM to every rank, as mpirun sends on Ctrl-C and Slurm's scancel
 * does: they stop after the same batch and rank 0 saves; resumed on 1
 * process, the run ends where 1 process's does. */
static void sigterm_then_resume_on_one(void **state) {
    (void)state;
    static const char *const ref[] = {"--epochs", "4", NULL};
    assert_int_equal(run(0, "ref4c", ref), 0);
    const char *dir = out_dir("term");
    const char *args[] = {"train", "--data", data, "--out", dir, "--force", "--threads", "1", "--epochs", "4", NULL};
    pid_t pid = start_training("term", dir, args);
    assert_true(wait_for(pid, fmt("%s/metrics.csv", dir), 1)); /* rank 1 has its handler set too */
    kill(rank_pid(0), SIGTERM), kill(rank_pid(1), SIGTERM);
    int rc = finish(pid), epoch, batch;
    print_message("mpirun ended with %d\n", rc);
    assert_int_not_equal(rc, 0);
    char *err = output("term", "err");
    assert_int_equal(count_of(err, "netc: the job is ending (Ctrl-C, or a rank failed"), 1);
    assert_non_null(strstr(err, fmt("resume with: train --resume %s", dir)));
    free(err);
    assert_int_equal(checkpoint_position(fmt("%s/last.ckpt", dir), &epoch, &batch), 0);
    print_message("stopped in epoch %d after batch %d\n", epoch + 1, batch);
    assert_true(epoch >= 1 && epoch < 4 && batch > 0);
    const char *resume[] = {"train", "--resume", dir, "--threads", "1", NULL};
    assert_int_equal(finish(start(0, "term_resume", resume)), 0);
    assert_true(weights_diff(fmt("%s/weights.safetensors", out_dir("ref4c")), fmt("%s/weights.safetensors", dir)) <
                MAX_REL_DIFF);
}

/* Ctrl-C at a terminal reaches mpirun alone (each process it starts has a
 * process group of its own); mpirun passes SIGTERM on to the processes some
 * two seconds later, and SIGKILL one second after that. The job ends with a
 * message, and last.ckpt is whole and resumes. */
static void ctrl_c_ends_the_job(void **state) {
    (void)state;
    const char *dir = out_dir("int");
    const char *args[] = {"train", "--data", data, "--out", dir, "--force", "--threads", "1", "--epochs", "10000", NULL};
    pid_t pid = start_training("int", dir, args);
    kill(pid, SIGINT);
    int rc = finish(pid), epoch, batch;
    print_message("mpirun ended with %d\n", rc);
    assert_int_not_equal(rc, 0);
    char *err = output("int", "err");
    assert_int_equal(count_of(err, "netc: the job is ending (Ctrl-C, or a rank failed"), 1);
    free(err);
    assert_int_equal(checkpoint_position(fmt("%s/last.ckpt", dir), &epoch, &batch), 0);
    print_message("stopped in epoch %d after batch %d\n", epoch + 1, batch);
    const char *resume[] = {"train", "--resume", dir, "--threads", "1", "--epochs", fmt("%d", epoch + 1), NULL};
    assert_int_equal(finish(start(0, "int_resume", resume)), 0);
    assert_int_equal(metrics_rows(fmt("%s/metrics.csv", dir)), epoch + 1);
}

/* SIGKILL to rank 1: mpirun ends the job and says which rank died; rank 0
 * says what it means for the run; last.ckpt is whole and resumes. */
static void killed_rank_ends_the_job(void **state) {
    (void)state;
    const char *dir = out_dir("kill");
    const char *args[] = {"train", "--data", data, "--out", dir, "--force", "--threads", "1", "--epochs", "10000", NULL};
    pid_t pid = start_training("kill", dir, args);
    assert_true(wait_for(pid, fmt("%s/metrics.csv", dir), 1));
    assert_int_equal(kill(rank_pid(1), SIGKILL), 0);
    int rc = finish(pid), epoch, batch;
    print_message("mpirun ended with %d\n", rc);
    assert_int_not_equal(rc, 0);
    char *err = output("kill", "err");
    assert_non_null(strstr(err, "rank 1"));
    assert_non_null(strstr(err, "signal 9"));
    /* rank 0 learns it from mpirun's SIGTERM, or from an MPI call that failed first */
    assert_true(strstr(err, "netc: the job is ending") || strstr(err, "netc: rank 0 of 2"));
    free(err);
    assert_int_equal(checkpoint_position(fmt("%s/last.ckpt", dir), &epoch, &batch), 0);
    print_message("last.ckpt: epoch %d, batch %d\n", epoch, batch);
    const char *resume[] = {"train", "--resume", dir, "--threads", "1", "--epochs", fmt("%d", epoch + 1), NULL};
    assert_int_equal(finish(start(0, "kill_resume", resume)), 0);
    assert_int_equal(metrics_rows(fmt("%s/metrics.csv", dir)), epoch + 1);
}

/* `mpirun -np 2 TRAINER profile`: the four ways of a step, each timed; the
 * buckets and batch norm's sums bench/mpi_project.py projects from. tiny's
 * gradients, top down, in buckets of 250 floats or more: fc (1920 + 15),
 * c2 (432 + 8), then bn1 (6 + 6) and c1 (6 + 450); its one batch norm sums
 * 7 and 6 doubles in forward (sums, then deviations) and 13 in backward. */
static void profile_times_the_step(void **state) {
    (void)state;
    const char *args[] = {"profile", "--iters", "2", "--threads", "1", "--bucket_mb", "0.001", NULL};
    assert_int_equal(finish(start(2, "profile", args)), 0);
    char *out = output("profile", "out");
    assert_non_null(strstr(out, "tiny: 2 processes on 1 host, 1 thread each; batch 8, 4 or 4 images per process; 2 steps"));
    assert_non_null(strstr(out, "gradients: 0.01 MB summed per step, in 3 buckets of 0.001 MB or more"));
    const char *const modes[] = {"compute alone", "allreduce alone", "no overlap: one allreduce after backward",
                                 "overlap: buckets started in backward"};
    for (int i = 0; i < 4; i++) {
        char *row = between(out, fmt("\n  %s", modes[i]), "\n");
        assert_non_null(row);
        double step = atof(row);
        print_message("%s: %s\n", modes[i], row);
        assert_true(step > 0 && step < 1e4);
        free(row);
    }
    char *bw = between(out, "when backward (", " ms");
    assert_non_null(bw);
    double backward = atof(bw), before = 0;
    free(bw);
    const char *const sizes[] = {"0.00774", "0.00176", "0.001872"};
    for (int i = 0; i < 3; i++) {
        char *at = between(out, fmt("bucket %d: %s MB, started at ", i + 1, sizes[i]), " ms");
        assert_non_null(at);
        double t = atof(at);
        free(at);
        assert_true(t >= before && t <= backward); /* in order, during backward */
        before = t;
    }
    assert_true(before > 0.5 * backward); /* the last waits for c1, backward's last layer */
    assert_null(strstr(out, "bucket 4:"));
    assert_non_null(strstr(out, "batch norm's sums per step: 3 calls, 26 doubles"));
    free(out);
    const char *no_sync[] = {"profile", "--iters", "1", "--threads", "1", "--sync_bn", "off", NULL};
    assert_int_equal(finish(start(2, "profile_no_sync", no_sync)), 0);
    out = output("profile_no_sync", "out");
    assert_non_null(strstr(out, "in 1 bucket of 4 MB or more"));
    assert_non_null(strstr(out, "batch norm's sums per step: 0 calls, 0 doubles"));
    free(out);
}

/* One process of mpirun on a host: Open MPI's default binding (one core,
 * when it starts 2 processes or fewer) is undone, so its threads take all
 * the cores this test may use (on a 1-core machine that is 1 either way); a
 * binding asked for (--bind-to core, here through its variable) is kept. */
static void default_binding_undone(void **state) {
    (void)state;
    cpu_set_t mine;
    assert_int_equal(sched_getaffinity(0, sizeof mine, &mine), 0);
    const char *args[] = {"profile", "--iters", "1", "--threads", "0", NULL}; /* tiny.net says 1 */
    assert_int_equal(finish(start(1, "bind_default", args)), 0);
    char *out = output("bind_default", "out");
    print_message("%.60s\n", out);
    assert_non_null(strstr(out, fmt("batch 8, %d threads,", CPU_COUNT(&mine))));
    free(out);
    setenv("OMPI_MCA_hwloc_base_binding_policy", "core", 1);
    pid_t pid = start(1, "bind_core", args);
    unsetenv("OMPI_MCA_hwloc_base_binding_policy");
    assert_int_equal(finish(pid), 0);
    out = output("bind_core", "out");
    assert_non_null(strstr(out, "batch 8, 1 threads,"));
    free(out);
}

/* A mistake every process makes is said once, by rank 0. */
static void errors_printed_once(void **state) {
    (void)state;
    static const char *const small[] = {"--batch", "1", NULL};
    assert_int_equal(run(2, "batch1", small), 1);
    char *err = output("batch1", "err");
    assert_int_equal(count_of(err, "netc: batch 1 is smaller than the 2 processes"), 1);
    assert_non_null(strstr(err, "HINT: --batch 2 or more, or mpirun -np 1 or fewer"));
    free(err);
    const char *args[] = {"train", "--data", fmt("%s/nowhere", tmp_root), "--out", out_dir("nodata"), NULL};
    assert_int_equal(finish(start(2, "nodata", args)), 1);
    err = output("nodata", "err");
    assert_int_equal(count_of(err, "netc: "), 1);
    assert_non_null(strstr(err, "nowhere"));
    free(err);
    const char *predict[] = {"predict", "--weights", "x.safetensors", "a.jpg", NULL};
    assert_int_equal(finish(start(2, "predict", predict)), 2);
    err = output("predict", "err");
    assert_int_equal(count_of(err, "netc: predict runs in one process, not under mpirun"), 1);
    free(err);
}

static int setup(void **state) {
    (void)state;
    harness_init(N_TRAIN, N_TEST);
    snprintf(data, sizeof data, "%s/data", tmp_root);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    harness_cleanup();
    return 0;
}

/* Is there an mpirun on PATH? */
static bool have_mpirun(void) {
    const char *path = getenv("PATH");
    char *copy = strdup(path ? path : ""), *save = NULL;
    bool found = false;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save))
        found = access(fmt("%s/mpirun", d), X_OK) == 0;
    free(copy);
    return found;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--trainer") == 0) { /* one of mpirun's processes, or the one of the reference */
        const char *dir = getenv("NETC_TEST_PIDS"), *rank = getenv("OMPI_COMM_WORLD_RANK");
        if (dir && rank) {
            char pid[32];
            snprintf(pid, sizeof pid, "%d", (int)getpid());
            write_bytes(fmt("%s/rank%s.pid", dir, rank), pid, strlen(pid));
        }
        argv[1] = "tiny";
        return netc_main(argc - 1, argv + 1, &netc_tiny);
    }
    if (!have_mpirun()) {
        printf("test_mpi: SKIPPED: no mpirun on PATH (Debian's openmpi-bin; `make` installs it)\n");
        return 0;
    }
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return perror("readlink /proc/self/exe"), 1;
    self[n] = 0;
    char supp[PATH_MAX];
    if (realpath("tests/lsan_mpi.supp", supp))
        snprintf(lsan, sizeof lsan, "suppressions=%s:fast_unwind_on_malloc=0", supp);
    /* mpirun refuses root unless told; the tests run as whoever runs make */
    if (geteuid() == 0) setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1), setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(two_processes_train_as_one), cmocka_unit_test(sync_bn_off_trains_otherwise),
        cmocka_unit_test(validation_pass_shared_out), cmocka_unit_test(test_command_shared_out),
        cmocka_unit_test(resume_two_processes_on_one),
        cmocka_unit_test(sigterm_then_resume_on_one), cmocka_unit_test(ctrl_c_ends_the_job),
        cmocka_unit_test(killed_rank_ends_the_job),
        cmocka_unit_test(errors_printed_once), cmocka_unit_test(profile_times_the_step),
        cmocka_unit_test(default_binding_undone),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
