/* test_resume.c: checkpoints that resume exactly, and bad ones refused.
 *
 * One thread throughout. A reference run trains tests/report/tiny.net (batch
 * norm, dropout, a cosine rate, random crops and flips) for EPOCHS epochs
 * uninterrupted. Every other run is stopped somewhere and resumed with
 * `train --resume DIR`; the result must be the reference's, bit for bit:
 *   - every tensor of weights.safetensors, last.ckpt (optimiser buffers and
 *     the report's state included) and best.ckpt has the same bytes;
 *   - metrics.csv has the same rows, except the seconds and images/s;
 *   - report.html's curves, filters, confusion matrix and mistakes are the
 *     same HTML.
 * The stops: SIGTERM and Ctrl-C mid-epoch (the trainer saves where it is),
 * Ctrl-C twice (it quits at once), SIGKILL (it resumes from the last epoch's
 * checkpoint), and a finished run extended with more --epochs. SIGKILL at many moments never leaves a damaged last.ckpt.
 * A checkpoint of another net, of a net with other shapes, a truncated or
 * empty one, and a missing one are refused with a message naming the file
 * and saying what to do. */
#include "report/harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "model.h"

#define EPOCHS 8
#define N_TRAIN 6
#define N_TEST 3

static char reference[512]; /* the reference run's folder */
static char data[512];

/* <tmp>/<name>, in a buffer of its own (fmt's are reused after 16 calls) */
static const char *out_dir(const char *name) {
    static char ring[32][600];
    static int next;
    char *b = ring[next++ % 32];
    snprintf(b, sizeof ring[0], "%s/%s", tmp_root, name);
    return b;
}

static int train(const char *name, const char *extra1, const char *extra2) {
    const char *args[] = {"train", "--data", data, "--out", out_dir(name), "--threads", "1", "--force", extra1, extra2, NULL};
    return run_trainer(fmt("%s/%s", tmp_root, name), args);
}

static int resume(const char *name, const char *log) {
    const char *args[] = {"train", "--resume", out_dir(name), "--threads", "1", NULL};
    return run_trainer(fmt("%s/%s", tmp_root, log), args);
}

static int setup(void **state) {
    (void)state;
    harness_init(N_TRAIN, N_TEST);
    snprintf(data, sizeof data, "%s/data", tmp_root);
    snprintf(reference, sizeof reference, "%s/ref", tmp_root);
    int rc = train("ref", "--epochs", fmt("%d", EPOCHS));
    if (rc != 0) fprintf(stderr, "the reference run failed (%d): see %s/ref.err\n", rc, tmp_root);
    return rc == 0 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    harness_cleanup();
    return 0;
}

/* metrics.csv without its last two columns (seconds, images/s) */
static char *metrics_without_timing(const char *dir) {
    char *text = slurp(fmt("%s/metrics.csv", dir), NULL);
    if (!text) return NULL;
    char *out = malloc(strlen(text) + 1), *o = out;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        int commas = 0;
        size_t keep = len;
        for (size_t i = 0; i < len; i++)
            if (line[i] == ',' && ++commas == 12) keep = i;
        memcpy(o, line, keep), o += keep, *o++ = '\n';
        line += len + (nl ? 1 : 0);
    }
    *o = 0;
    free(text);
    return out;
}

static char *section(const char *html, const char *id) {
    const char *a = strstr(html, fmt("<section id=\"%s\">", id));
    if (!a) return NULL;
    const char *b = strstr(a, "</section>");
    return b ? strndup(a, (size_t)(b - a)) : NULL;
}

/* The run in `dir` ended where the run in `ref` did, bit for bit. */
static void assert_same_run(const char *ref, const char *dir) {
    assert_true(same_tensors(fmt("%s/weights.safetensors", ref), fmt("%s/weights.safetensors", dir), ""));
    assert_true(same_tensors(fmt("%s/last.ckpt", ref), fmt("%s/last.ckpt", dir), ""));
    assert_true(same_tensors(fmt("%s/best.ckpt", ref), fmt("%s/best.ckpt", dir), ""));
    /* the optimiser's state and the report's are really in there */
    assert_true(same_tensors(fmt("%s/last.ckpt", ref), fmt("%s/last.ckpt", dir), "opt.m."));
    assert_true(same_tensors(fmt("%s/last.ckpt", ref), fmt("%s/last.ckpt", dir), "report."));
    char *a = metrics_without_timing(ref), *b = metrics_without_timing(dir);
    assert_non_null(a), assert_non_null(b);
    assert_string_equal(a, b);
    assert_int_equal(metrics_rows(fmt("%s/metrics.csv", dir)), metrics_rows(fmt("%s/metrics.csv", ref)));
    free(a), free(b);
    char *ha = slurp(fmt("%s/report.html", ref), NULL), *hb = slurp(fmt("%s/report.html", dir), NULL);
    assert_non_null(ha), assert_non_null(hb);
    static const char *const same[] = {"curves", "filters", "confusion", "mistakes"};
    for (int i = 0; i < 4; i++) {
        char *sa = section(ha, same[i]), *sb = section(hb, same[i]);
        assert_non_null(sa), assert_non_null(sb);
        if (strcmp(sa, sb) != 0) print_error("report.html section '%s' differs from the uninterrupted run's\n", same[i]);
        assert_string_equal(sa, sb);
        free(sa), free(sb);
    }
    free(ha), free(hb);
}

/* Starts a full run into `name` and sends `sig` once its metrics.csv has
 * `rows` rows. Returns the exit status, or -1 if the run finished first. */
static int stop_run_with(const char *name, int sig, int rows, const char *const *extra) {
    const char *dir = out_dir(name);
    const char *args[32] = {"train", "--data", data, "--out", dir, "--epochs", fmt("%d", EPOCHS), "--threads", "1", "--force"};
    for (int i = 0, n = 10; extra && extra[i] && n < 31; i++) args[n++] = extra[i];
    pid_t pid = start_trainer(fmt("%s/%s", tmp_root, name), args);
    char csv[600];
    snprintf(csv, sizeof csv, "%s/metrics.csv", dir);
    int status;
    for (;;) {
        if (waitpid(pid, &status, WNOHANG) == pid) return -1; /* finished before we could stop it */
        if (metrics_rows(csv) >= rows) break;
        nap(1);
    }
    kill(pid, sig);
    return wait_trainer(pid);
}

static int stop_run(const char *name, int sig, int rows, const char *batch) {
    const char *extra[] = {batch ? "--batch" : NULL, batch, NULL};
    return stop_run_with(name, sig, rows, extra);
}

static void sigterm_mid_epoch_then_resume(void **state) {
    (void)state;
    int rc = -1;
    for (int attempt = 0; attempt < 3 && rc < 0; attempt++) rc = stop_run("term", SIGTERM, 2, NULL);
    assert_int_equal(rc, 130);
    const char *dir = out_dir("term");
    char *err = slurp(fmt("%s/term.err", tmp_root), NULL);
    assert_non_null(strstr(err, "interrupted in epoch"));
    assert_non_null(strstr(err, fmt("resume with: train --resume %s", dir)));
    free(err);
    int epoch, batch;
    assert_int_equal(checkpoint_position(fmt("%s/last.ckpt", dir), &epoch, &batch), 0);
    print_message("stopped in epoch %d after batch %d\n", epoch + 1, batch);
    assert_true(epoch >= 1 && epoch < EPOCHS);
    assert_true(batch > 0); /* mid-epoch: the partial sums and position are what is tested */
    char *html = slurp(fmt("%s/report.html", dir), NULL); /* the report says where the run stopped */
    assert_non_null(html);
    assert_non_null(strstr(html, fmt("stopped in epoch %d after %d batch", epoch + 1, batch)));
    free(html);
    assert_int_equal(resume("term", "term_resume"), 0);
    char *out = slurp(fmt("%s/term_resume.out", tmp_root), NULL);
    assert_non_null(strstr(out, fmt("resumed %s/last.ckpt at epoch %d, batch %d", dir, epoch, batch)));
    free(out);
    assert_same_run(reference, dir);
}

/* One batch per epoch: the stop comes after an epoch's last batch, before its
 * evaluation, and the resumed run starts by finishing that epoch. */
static void sigterm_after_the_last_batch_of_an_epoch(void **state) {
    (void)state;
    const char *args[] = {"train", "--data", data, "--out", out_dir("ref_b90"), "--epochs", fmt("%d", EPOCHS), "--batch", "90",
                          "--threads", "1", NULL};
    assert_int_equal(run_trainer(fmt("%s/ref_b90", tmp_root), args), 0);
    int rc = -1;
    for (int attempt = 0; attempt < 3 && rc < 0; attempt++) rc = stop_run("term_b90", SIGTERM, 2, "90");
    assert_int_equal(rc, 130);
    const char *dir = out_dir("term_b90");
    int epoch, batch;
    assert_int_equal(checkpoint_position(fmt("%s/last.ckpt", dir), &epoch, &batch), 0);
    assert_int_equal(batch, 1); /* = the batches of an epoch */
    assert_int_equal(metrics_rows(fmt("%s/metrics.csv", dir)), epoch); /* that epoch has no row yet */
    assert_int_equal(resume("term_b90", "term_b90_resume"), 0);
    assert_same_run(out_dir("ref_b90"), dir);
}

/* Ctrl-C: the same as SIGTERM, and it says so at once. */
static void sigint_saves_and_stops_cleanly(void **state) {
    (void)state;
    int rc = -1;
    for (int attempt = 0; attempt < 3 && rc < 0; attempt++) rc = stop_run("int", SIGINT, 2, NULL);
    assert_int_equal(rc, 130);
    const char *dir = out_dir("int");
    char *err = slurp(fmt("%s/int.err", tmp_root), NULL);
    assert_non_null(strstr(err, "netc: stopping after this batch to save a checkpoint (Ctrl-C again quits at once)\n"));
    assert_non_null(strstr(err, "interrupted in epoch"));
    free(err);
    int epoch, batch;
    assert_int_equal(checkpoint_position(fmt("%s/last.ckpt", dir), &epoch, &batch), 0);
    assert_true(epoch >= 1 && epoch < EPOCHS);
    assert_int_equal(resume("int", "int_resume"), 0);
    assert_same_run(reference, dir);
}

/* Ctrl-C twice: out at once, and last.ckpt is still a whole checkpoint the
 * run resumes from exactly. */
static void second_sigint_quits_at_once(void **state) {
    (void)state;
    const char *dir = out_dir("int2");
    const char *args[] = {"train", "--data", data, "--out", dir, "--epochs", fmt("%d", EPOCHS), "--threads", "1", "--force", NULL};
    int rc = -1;
    for (int attempt = 0; attempt < 3 && rc < 0; attempt++) {
        pid_t pid = start_trainer(fmt("%s/int2", tmp_root), args);
        char csv[600];
        snprintf(csv, sizeof csv, "%s/metrics.csv", dir);
        while (metrics_rows(csv) < 2 && waitpid(pid, NULL, WNOHANG) == 0) nap(1);
        if (metrics_rows(csv) < 2) continue; /* finished first (cannot happen at 8 epochs, but never hang) */
        kill(pid, SIGINT);
        /* the second once the first was handled (two pending signals are one) */
        for (;;) {
            char *so_far = slurp(fmt("%s/int2.err", tmp_root), NULL);
            int seen = so_far && strstr(so_far, "Ctrl-C again quits at once");
            free(so_far);
            if (seen || waitpid(pid, NULL, WNOHANG) != 0) break;
            nap(1);
        }
        kill(pid, SIGINT);
        rc = wait_trainer(pid);
    }
    assert_int_equal(rc, 130);
    char *err = slurp(fmt("%s/int2.err", tmp_root), NULL);
    assert_non_null(strstr(err, "Ctrl-C again quits at once"));
    /* out at once, or (if the save was quicker than the second signal) saved */
    assert_true(strstr(err, "netc: stopped at once; last.ckpt holds the last checkpoint saved") || strstr(err, "interrupted in epoch"));
    print_message("%s", err);
    free(err);
    int epoch, batch;
    assert_int_equal(checkpoint_position(fmt("%s/last.ckpt", dir), &epoch, &batch), 0);
    assert_true(epoch >= 1 && epoch < EPOCHS); /* metrics.csv is written just before last.ckpt */
    assert_int_equal(resume("int2", "int2_resume"), 0);
    assert_same_run(reference, dir);
}

static void sigkill_then_resume_from_epoch_checkpoint(void **state) {
    (void)state;
    int rc = -1;
    for (int attempt = 0; attempt < 3 && rc < 0; attempt++) rc = stop_run("kill", SIGKILL, 3, NULL);
    assert_int_equal(rc, 128 + SIGKILL);
    const char *dir = out_dir("kill");
    int epoch, batch;
    assert_int_equal(checkpoint_position(fmt("%s/last.ckpt", dir), &epoch, &batch), 0);
    print_message("killed; last.ckpt is from the end of epoch %d\n", epoch);
    assert_true(epoch >= 2 && epoch < EPOCHS);
    assert_int_equal(batch, 0); /* only SIGINT/SIGTERM save mid-epoch */
    assert_int_equal(resume("kill", "kill_resume"), 0);
    assert_same_run(reference, dir);
}

static void finished_run_extended_with_more_epochs(void **state) {
    (void)state;
    /* a constant rate, so 3 epochs and then 3 more are the same run as 6; --contrast comes after
     * the mean and std lists in the checkpoint's settings (a nested strtok once dropped the rest) */
    const char *args6[] = {"train", "--data", data, "--out", out_dir("const6"), "--epochs", "6", "--schedule", "constant",
                           "--contrast", "0.3", "--threads", "1", NULL};
    assert_int_equal(run_trainer(fmt("%s/const6", tmp_root), args6), 0);
    const char *args3[] = {"train", "--data", data, "--out", out_dir("const3"), "--epochs", "3", "--schedule", "constant",
                           "--contrast", "0.3", "--threads", "1", NULL};
    assert_int_equal(run_trainer(fmt("%s/const3", tmp_root), args3), 0);
    assert_int_equal(metrics_rows(fmt("%s/metrics.csv", out_dir("const3"))), 3);
    const char *more[] = {"train", "--resume", out_dir("const3"), "--epochs", "6", "--threads", "1", NULL};
    assert_int_equal(run_trainer(fmt("%s/const3_more", tmp_root), more), 0);
    assert_true(same_tensors(fmt("%s/weights.safetensors", out_dir("const6")), fmt("%s/weights.safetensors", out_dir("const3")), ""));
    assert_true(same_tensors(fmt("%s/last.ckpt", out_dir("const6")), fmt("%s/last.ckpt", out_dir("const3")), ""));
    char *a = metrics_without_timing(out_dir("const6")), *b = metrics_without_timing(out_dir("const3"));
    assert_string_equal(a, b);
    free(a), free(b);
    /* the resumed run keeps its own settings: the checkpoint says constant */
    char *out = slurp(fmt("%s/const3_more.out", tmp_root), NULL);
    assert_non_null(strstr(out, "schedule         constant"));
    if (!strstr(out, "contrast         0.3")) fail_msg("the resumed run lost --contrast 0.3:\n%s", out);
    free(out);
}

static void sigkill_never_leaves_a_damaged_checkpoint(void **state) {
    (void)state;
    /* kill at different moments: during training, evaluation and writing */
    int checked = 0;
    for (int k = 0; k < 8; k++) {
        const char *dir = out_dir(fmt("k%d", k));
        const char *args[] = {"train", "--data", data, "--out", dir, "--epochs", "50", "--threads", "1", NULL};
        pid_t pid = start_trainer(fmt("%s/k%d", tmp_root, k), args);
        char csv[600], path[600];
        snprintf(csv, sizeof csv, "%s/metrics.csv", dir);
        snprintf(path, sizeof path, "%s/last.ckpt", dir);
        while (access(path, F_OK) != 0 && waitpid(pid, NULL, WNOHANG) == 0) nap(1); /* the first epoch's checkpoint */
        nap(2 * k + (k % 3));
        kill(pid, SIGKILL);
        assert_int_equal(wait_trainer(pid), 128 + SIGKILL);
        StFile f;
        Error e;
        if (st_open(&f, path, &e) < 0) fail_msg("after SIGKILL: %s", e.msg);
        assert_non_null(st_meta(&f, "position"));
        assert_non_null(st_find(&f, "c1.weight"));
        st_close(&f);
        char *html = slurp(fmt("%s/report.html", dir), NULL); /* also written atomically */
        assert_non_null(html);
        assert_non_null(strstr(html, "</html>"));
        free(html);
        checked++;
    }
    assert_int_equal(checked, 8);
}

/* With a validation set (val_split) and early stopping: the resumed run holds
 * out the same images (its validation figures, the training set and so the
 * weights are the uninterrupted run's) and goes on counting the epochs
 * without a better validation top-1 from where it was. */
static const char *const val_args[] = {"--val_split", "0.34", "--early_stop", "2", NULL};

static void validation_split_survives_resume(void **state) {
    (void)state;
    const char *args[] = {"train", "--data", data, "--out", out_dir("ref_val"), "--epochs", fmt("%d", EPOCHS), "--threads", "1",
                          "--val_split", "0.34", "--early_stop", "2", NULL};
    assert_int_equal(run_trainer(fmt("%s/ref_val", tmp_root), args), 0);
    double rows[64][METRIC_COLS];
    int n = read_metrics(fmt("%s/metrics.csv", out_dir("ref_val")), rows, 64);
    assert_true(n >= 3);
    for (int i = 0; i < n; i++) assert_false(isnan(rows[i][COL_VAL_TOP1])); /* validated every epoch */
    char *out = slurp(fmt("%s/ref_val.out", tmp_root), NULL);
    assert_non_null(strstr(out, "(60 to train on, 30 held out for validation: val_split 0.34, seed 1)"));
    free(out);
    int rc = -1;
    for (int attempt = 0; attempt < 3 && rc < 0; attempt++) rc = stop_run_with("term_val", SIGTERM, 2, val_args);
    assert_int_equal(rc, 130);
    assert_int_equal(resume("term_val", "term_val_resume"), 0);
    assert_same_run(out_dir("ref_val"), out_dir("term_val"));
    /* another split for a run under way is refused: its figures would mean nothing */
    const char *other[] = {"train", "--resume", out_dir("term_val"), "--val_split", "0.5", NULL};
    assert_int_equal(run_trainer(fmt("%s/term_val_other", tmp_root), other), 1);
    char *err = slurp(fmt("%s/term_val_other.err", tmp_root), NULL);
    assert_non_null(strstr(err, "was started with val_split 0.34, val_fold 0 and seed 1; a resumed run keeps them"));
    free(err);
}

/* The early-stop count is in the checkpoint's epochs: with no learning (rate 0,
 * batch norm's statistics fixed) validation never improves on epoch 1, so the
 * run stops after epoch 1 + early_stop, in one go or resumed half-way. */
static void early_stop_state_survives_resume(void **state) {
    (void)state;
    const char *flat[] = {"--val_split", "0.34", "--early_stop", "3", "--lr", "0", "--bn_momentum", "0", NULL};
    const char *args[32] = {"train", "--data", data, "--out", out_dir("flat"), "--epochs", "50", "--threads", "1"};
    for (int i = 0; flat[i]; i++) args[9 + i] = flat[i];
    assert_int_equal(run_trainer(fmt("%s/flat", tmp_root), args), 0);
    assert_int_equal(metrics_rows(fmt("%s/metrics.csv", out_dir("flat"))), 4);
    char *out = slurp(fmt("%s/flat.out", tmp_root), NULL);
    assert_non_null(strstr(out, "stopped early: no better validation top-1 in the 3 epochs since epoch 1 (early_stop 3)"));
    free(out);
    char *html = slurp(fmt("%s/report.html", out_dir("flat")), NULL);
    assert_non_null(strstr(html, "stopped early after epoch 4 of 50 (early_stop 3)"));
    assert_null(strstr(html, "http-equiv=\"refresh\""));
    free(html);
    /* ended after epoch 2 (epochs 2), resumed for 50: stops at epoch 4 all the same */
    args[4] = out_dir("flat_2"), args[6] = "2";
    assert_int_equal(run_trainer(fmt("%s/flat_2", tmp_root), args), 0);
    assert_int_equal(metrics_rows(fmt("%s/metrics.csv", out_dir("flat_2"))), 2);
    const char *resumed[] = {"train", "--resume", out_dir("flat_2"), "--epochs", "50", "--threads", "1", NULL};
    assert_int_equal(run_trainer(fmt("%s/flat_2_resume", tmp_root), resumed), 0);
    assert_same_run(out_dir("flat"), out_dir("flat_2"));
    /* a stopped run resumed has nothing left to do, even with more epochs */
    const char *more[] = {"train", "--resume", out_dir("flat"), "--epochs", "60", "--threads", "1", NULL};
    assert_int_equal(run_trainer(fmt("%s/flat_more", tmp_root), more), 0);
    assert_int_equal(metrics_rows(fmt("%s/metrics.csv", out_dir("flat"))), 4);
}

/* A copy of the reference's last.ckpt in <name>/last.ckpt, with netc.net set
 * to `net` and, if reshape, c1.weight declared [3][6][5][5] (same bytes). */
static void forged_checkpoint(const char *name, const char *net, int reshape) {
    Error e;
    StFile f;
    if (st_open(&f, fmt("%s/last.ckpt", reference), &e) < 0) fail_msg("%s", e.msg);
    StWrite *w = calloc((size_t)f.n, sizeof *w);
    for (int i = 0; i < f.n; i++) {
        const StTensor *t = &f.tensors[i];
        w[i] = (StWrite){t->name, t->dtype, t->ndim, {0}, st_bytes(&f, t), t->end - t->begin};
        memcpy(w[i].shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
        if (reshape && strcmp(t->name, "c1.weight") == 0) w[i].shape[0] = 3, w[i].shape[1] = 6;
    }
    const char **meta = calloc((size_t)f.n_meta * 2 + 1, sizeof(char *));
    for (int i = 0; i < 2 * f.n_meta; i += 2) {
        meta[i] = f.meta[i];
        meta[i + 1] = strcmp(f.meta[i], "netc.net") == 0 ? net : f.meta[i + 1];
    }
    const char *dir = out_dir(name);
    assert_int_equal(make_dirs(dir, &e), 0);
    if (st_write(fmt("%s/last.ckpt", dir), w, f.n, meta, &e) < 0) fail_msg("%s", e.msg);
    st_close(&f);
    free(w), free(meta);
}

static char *resume_error(const char *name) {
    assert_int_equal(resume(name, fmt("%s_resume", name)), 1);
    char *err = slurp(fmt("%s/%s_resume.err", tmp_root, name), NULL);
    assert_non_null(err);
    print_message("%s", err);
    /* the message names the file */
    assert_non_null(strstr(err, fmt("%s/last.ckpt", out_dir(name))));
    return err;
}

static void checkpoint_of_another_net_refused(void **state) {
    (void)state;
    forged_checkpoint("other", "simplenet", 0);
    char *err = resume_error("other");
    assert_non_null(strstr(err, "is a checkpoint of net 'simplenet', not 'tiny'"));
    assert_non_null(strstr(err, "HINT"));
    free(err);
    /* same name, but a layer of another shape (the .net file was edited) */
    forged_checkpoint("reshaped", "tiny", 1);
    err = resume_error("reshaped");
    assert_non_null(strstr(err, "'c1.weight' is [3, 6, 5, 5], but layer c1 needs [6, 3, 5, 5]"));
    free(err);
}

static void truncated_checkpoint_refused(void **state) {
    (void)state;
    size_t len;
    char *bytes = slurp(fmt("%s/last.ckpt", reference), &len);
    assert_non_null(bytes);
    static const char *const names[] = {"cut_half", "cut_header", "cut_tiny", "empty"};
    size_t keep[] = {len / 2, 200, 5, 0};
    static const char *const says[] = {"is truncated", "is truncated", "too short", "too short"};
    for (int i = 0; i < 4; i++) {
        Error e;
        assert_int_equal(make_dirs(out_dir(names[i]), &e), 0);
        write_bytes(fmt("%s/last.ckpt", out_dir(names[i])), bytes, keep[i]);
        char *err = resume_error(names[i]);
        assert_non_null(strstr(err, says[i]));
        assert_non_null(strstr(err, "best.ckpt may still be whole"));
        free(err);
    }
    free(bytes);
    /* a folder with no checkpoint at all */
    Error e;
    assert_int_equal(make_dirs(out_dir("nothing"), &e), 0);
    char *err = resume_error("nothing");
    assert_non_null(strstr(err, "does not exist: there is nothing to resume"));
    free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sigterm_mid_epoch_then_resume),
        cmocka_unit_test(sigterm_after_the_last_batch_of_an_epoch),
        cmocka_unit_test(sigint_saves_and_stops_cleanly),
        cmocka_unit_test(second_sigint_quits_at_once),
        cmocka_unit_test(sigkill_then_resume_from_epoch_checkpoint),
        cmocka_unit_test(finished_run_extended_with_more_epochs),
        cmocka_unit_test(sigkill_never_leaves_a_damaged_checkpoint),
        cmocka_unit_test(validation_split_survives_resume),
        cmocka_unit_test(early_stop_state_survives_resume),
        cmocka_unit_test(checkpoint_of_another_net_refused),
        cmocka_unit_test(truncated_checkpoint_refused),
    };
    alarm(300); /* a hung trainer fails the test instead of stalling CI */
    return cmocka_run_group_tests_name("checkpoints and resume", tests, setup, teardown);
}
