/* test_diverge.c: a run whose loss turns NaN or infinite, and weights that hold them.
 *
 * tests/report/tiny.net trains in a forked child, as a user runs it
 * (harness.h). A learning rate of 100 makes the loss or the weights
 * non-finite within a few batches. Then the trainer must stop with exit 1, a
 * message naming the epoch and batch and a HINT with a smaller rate; it must
 * not have touched last.ckpt, best.ckpt, weights.safetensors or metrics.csv
 * (what the previous epoch saved stays loadable and resumable); and if no
 * epoch finished yet, the hint must not send the user to a checkpoint that
 * does not exist. Weight files holding NaN or infinite values are refused
 * with the tensor's name, by test, predict and --resume. */
#include "report/harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define N_TRAIN 6
#define N_TEST 3

static char data[512];

static const char *dir_of(const char *name) {
    static char ring[16][600];
    static int next;
    char *b = ring[next++ % 16];
    snprintf(b, sizeof ring[0], "%s/%s", tmp_root, name);
    return b;
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

/* The bytes of a file (malloc'd), failing the test if it cannot be read. */
static char *bytes_of(const char *path, size_t *len) {
    char *s = slurp(path, len);
    if (!s) fail_msg("cannot read %s", path);
    return s;
}

static void assert_same_file(const char *path, const char *before, size_t len) {
    size_t n;
    char *now = bytes_of(path, &n);
    if (n != len || memcmp(now, before, len) != 0) fail_msg("%s changed", path);
    free(now);
}

/* Runs tiny's trainer with args; returns its stderr (malloc'd) and sets *rc. */
static char *trainer(const char *log, const char *const *args, int *rc) {
    *rc = run_trainer(fmt("%s/%s", tmp_root, log), args);
    char *err = bytes_of(fmt("%s/%s.err", tmp_root, log), NULL);
    print_message("[%s] exit %d\n%s", log, *rc, err);
    return err;
}

/* "epoch E, batch B: the loss is NaN" (or infinite, or the weights): E and B */
static void where(const char *err, int *epoch, int *batch) {
    const char *p = strstr(err, "error: epoch ");
    if (!p) p = strstr(err, "epoch ");
    assert_non_null(p);
    assert_int_equal(sscanf(strstr(p, "epoch "), "epoch %d, batch %d:", epoch, batch), 2);
}

/* Two good epochs, then the rate of 100: the third stops, and nothing the
 * second saved is touched. The run then resumes from it with a sane rate. */
static void nan_loss_keeps_the_last_good_checkpoint(void **state) {
    (void)state;
    const char *dir = dir_of("nan");
    int rc;
    const char *good[] = {"train", "--data", data, "--out", dir, "--epochs", "2", "--threads", "1", NULL};
    free(trainer("nan_good", good, &rc));
    assert_int_equal(rc, 0);
    static const char *const files[] = {"last.ckpt", "best.ckpt", "weights.safetensors", "metrics.csv"};
    char *saved[4];
    size_t len[4];
    for (int i = 0; i < 4; i++) saved[i] = bytes_of(fmt("%s/%s", dir, files[i]), &len[i]);

    const char *bad[] = {"train", "--resume", dir, "--epochs", "4", "--lr", "100", "--threads", "1", NULL};
    char *err = trainer("nan_bad", bad, &rc);
    assert_int_equal(rc, 1);
    int epoch, batch;
    where(err, &epoch, &batch);
    assert_int_equal(epoch, 3); /* the first epoch at the new rate */
    assert_true(batch >= 1 && batch <= (N_TRAIN * N_CLASSES + 7) / 8);
    assert_true(strstr(err, "the loss is NaN") || strstr(err, "the loss is infinite") ||
                strstr(err, "the weights became NaN or infinite"));
    assert_non_null(strstr(err, "HINT: the learning rate is probably too high"));
    assert_non_null(strstr(err, fmt("%s/last.ckpt, the last good checkpoint, is untouched", dir)));
    assert_non_null(strstr(err, fmt("train --resume %s --lr 10", dir)));
    free(err);
    for (int i = 0; i < 4; i++) {
        assert_same_file(fmt("%s/%s", dir, files[i]), saved[i], len[i]);
        free(saved[i]);
    }
    /* the report says the run ended, and no longer reloads itself */
    char *html = bytes_of(fmt("%s/report.html", dir), NULL);
    assert_non_null(strstr(html, "stopped by an error in epoch 3"));
    assert_null(strstr(html, "http-equiv=\"refresh\""));
    free(html);
    /* the checkpoint is whole and where the second epoch ended */
    StFile f;
    Error e;
    if (st_open(&f, fmt("%s/last.ckpt", dir), &e) < 0) fail_msg("%s", e.msg);
    const char *pos = st_meta(&f, "position");
    assert_non_null(pos);
    int ce, cb;
    assert_int_equal(sscanf(pos, "%d %d", &ce, &cb), 2);
    assert_int_equal(ce, 2), assert_int_equal(cb, 0);
    assert_non_null(st_find(&f, "c1.weight"));
    st_close(&f);
    /* and the run goes on from it at its own rate */
    const char *again[] = {"train", "--resume", dir, "--epochs", "4", "--threads", "1", NULL};
    free(trainer("nan_again", again, &rc));
    assert_int_equal(rc, 0);
    assert_int_equal(metrics_rows(fmt("%s/metrics.csv", dir)), 4);
    char *out = bytes_of(fmt("%s/nan_again.out", tmp_root), NULL);
    assert_non_null(strstr(out, "at epoch 2, batch 0"));
    free(out);
}

/* No epoch finished: there is no checkpoint to point at, and none appears. */
static void nan_in_the_first_epoch_names_no_checkpoint(void **state) {
    (void)state;
    const char *dir = dir_of("nan1");
    int rc;
    const char *bad[] = {"train", "--data", data, "--out", dir, "--epochs", "1", "--batch", "1", "--lr", "100", "--threads", "1", NULL};
    char *err = trainer("nan1", bad, &rc);
    assert_int_equal(rc, 1);
    int epoch, batch;
    where(err, &epoch, &batch);
    assert_int_equal(epoch, 1);
    assert_non_null(strstr(err, "no checkpoint was saved yet, so start again with a smaller rate: --lr 10"));
    assert_null(strstr(err, "last.ckpt"));
    free(err);
    assert_int_equal(access(fmt("%s/last.ckpt", dir), F_OK), -1);
    assert_int_equal(access(fmt("%s/weights.safetensors", dir), F_OK), -1);
}

/* Inputs that overflow after normalisation: not the rate's fault, and said so
 * before the first step (a relu would have hidden the NaN from the loss). */
static void non_finite_inputs_are_named(void **state) {
    (void)state;
    int rc;
    const char *args[] = {"train", "--data", data, "--out", dir_of("inf_in"), "--normalize", "off", "--mean", "1e30", "--std",
                          "1e-12", "--threads", "1", NULL};
    char *err = trainer("inf_in", args, &rc);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(err, "epoch 1, batch 1: the input images are NaN or infinite after normalisation"));
    assert_non_null(strstr(err, "HINT: check the preprocess settings: range 1, mean and std (1e+30 1e+30 1e+30, 1e-12 1e-12 1e-12)"));
    free(err);
}

/* A loss that stays finite but absurd (1e11 where guessing scores 2.7) warns
 * once, with a smaller rate to try. */
static void absurd_finite_loss_warns(void **state) {
    (void)state;
    int rc;
    const char *args[] = {"train", "--data", data, "--out", dir_of("absurd"), "--epochs", "2", "--batch", "2", "--lr", "100",
                          "--schedule", "constant", "--threads", "1", NULL};
    char *err = trainer("absurd", args, &rc);
    if (rc == 0) {
        assert_int_equal(count_of(err, "warning: "), 1);
        assert_non_null(strstr(err, "warning: epoch 1: the training loss is "));
        assert_non_null(strstr(err, "where guessing scores 2.71 (ln 15): the run has probably diverged"));
        assert_non_null(strstr(err, "HINT: try a smaller rate (--lr 10)"));
    } else { /* went all the way to NaN: then it must have said so */
        assert_int_equal(rc, 1);
        assert_non_null(strstr(err, "the weights became NaN or infinite"));
    }
    free(err);
}

/* A copy of src with element 5 of tensor `name` set to `value`. */
static void poisoned_copy(const char *src, const char *dst, const char *name, float value) {
    StFile f;
    Error e;
    if (st_open(&f, src, &e) < 0) fail_msg("%s", e.msg);
    StWrite *w = calloc((size_t)f.n, sizeof *w);
    void **copies = calloc((size_t)f.n, sizeof *copies);
    for (int i = 0; i < f.n; i++) {
        const StTensor *t = &f.tensors[i];
        size_t nb = t->end - t->begin;
        copies[i] = malloc(nb ? nb : 1);
        memcpy(copies[i], st_bytes(&f, t), nb);
        if (strcmp(t->name, name) == 0) ((float *)copies[i])[5] = value;
        w[i] = (StWrite){t->name, t->dtype, t->ndim, {0}, copies[i], nb};
        memcpy(w[i].shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
    }
    const char **meta = calloc((size_t)f.n_meta * 2 + 1, sizeof(char *));
    for (int i = 0; i < 2 * f.n_meta; i++) meta[i] = f.meta[i];
    if (st_write(dst, w, f.n, meta, &e) < 0) fail_msg("%s", e.msg);
    free(meta);
    for (int i = 0; i < f.n; i++) free(copies[i]);
    free(copies), free(w);
    st_close(&f);
}

/* Weights holding NaN or an infinity train, test and predict garbage:
 * test, predict and --resume refuse them, naming the tensor. */
static void weights_holding_nan_are_refused(void **state) {
    (void)state;
    const char *dir = dir_of("w");
    int rc;
    const char *args[] = {"train", "--data", data, "--out", dir, "--epochs", "1", "--threads", "1", NULL};
    free(trainer("w", args, &rc));
    assert_int_equal(rc, 0);
    const char *weights = dir_of("nan_weights.safetensors");
    poisoned_copy(fmt("%s/weights.safetensors", dir), weights, "c2.weight", NAN);
    const char *test[] = {"test", "--data", data, "--weights", weights, "--threads", "1", NULL};
    char *err = trainer("w_test", test, &rc);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(err, fmt("%s: tensor 'c2.weight' holds NaN at element 5 of 432 (layer c2)", weights)));
    assert_non_null(strstr(err, "HINT: the run that wrote it had diverged"));
    free(err);
    const char *predict[] = {"predict", "--weights", weights, fmt("%s/train/coast/img_00.jpg", data), NULL};
    err = trainer("w_predict", predict, &rc);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(err, "tensor 'c2.weight' holds NaN"));
    free(err);
    /* a checkpoint with an infinity, resumed */
    const char *ckpt = fmt("%s/last.ckpt", dir);
    poisoned_copy(ckpt, dir_of("tmp.ckpt"), "fc.bias", INFINITY);
    assert_int_equal(rename(dir_of("tmp.ckpt"), ckpt), 0);
    const char *resume[] = {"train", "--resume", dir, "--epochs", "2", "--threads", "1", NULL};
    err = trainer("w_resume", resume, &rc);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(err, fmt("%s: tensor 'fc.bias' holds an infinity at element 5 of 15 (layer fc)", ckpt)));
    free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nan_loss_keeps_the_last_good_checkpoint),
        cmocka_unit_test(nan_in_the_first_epoch_names_no_checkpoint),
        cmocka_unit_test(non_finite_inputs_are_named),
        cmocka_unit_test(absurd_finite_loss_warns),
        cmocka_unit_test(weights_holding_nan_are_refused),
    };
    alarm(300);
    return cmocka_run_group_tests_name("diverging runs", tests, setup, teardown);
}
