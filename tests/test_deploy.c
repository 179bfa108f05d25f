/* test_deploy.c: netc --deploy end to end, on tests/report/tiny.net.
 *
 * Trains tiny briefly on generated JPEGs (report/harness.h), deploys its
 * weights with bin/netc (NETC_BIN), builds deploy's predict with its own
 * Makefile as a user would (warnings as errors, gcc and clang), then:
 *   - exactness: `predict --test` counts as many correct test images as the
 *     trainer's `test`, and `predict --json` gives the trainer's `predict
 *     --json` classes, in the same order, with probabilities within 1e-5;
 *   - bad input: a file that is not a JPEG, an image under half the size
 *     the net resizes to, a test folder whose classes are not the net's,
 *     weights of another net, a truncated weights file (nothing written);
 *     and through the C API (a program of ours built against tiny.c): the
 *     wrong number of channels, no pixels, a NULL or misaligned arena, each
 *     an error code with its message, never a crash. */
#include "report/harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "json.h"

#define N_TRAIN 6
#define N_TEST 3

static char weights[600], deploy_dir[600];
static const char *netc_bin;

/* s in single quotes for the shell (the class folders hold quotes too). */
static char *q(const char *s) {
    static char ring[8][4096];
    static int next;
    char *out = ring[next++ % 8], *o = out;
    *o++ = '\'';
    for (; *s && o < out + 4090; s++) {
        if (*s == '\'') memcpy(o, "'\\''", 4), o += 4;
        else *o++ = *s;
    }
    *o++ = '\'', *o = 0;
    return out;
}

/* Runs a shell command; its stdout and stderr go to <tmp>/<log>.out/.err. Returns the exit code. */
static int sh(const char *log, const char *cmd) {
    size_t n = strlen(cmd) + 2 * strlen(tmp_root) + 2 * strlen(log) + 32;
    char *full = malloc(n);
    snprintf(full, n, "%s >'%s/%s.out' 2>'%s/%s.err'", cmd, tmp_root, log, tmp_root, log);
    int rc = system(full);
    free(full);
    return rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

static char *out_of(const char *log) { return slurp(fmt("%s/%s.out", tmp_root, log), NULL); }
static char *err_of(const char *log) { return slurp(fmt("%s/%s.err", tmp_root, log), NULL); }

static int setup(void **state) {
    (void)state;
    netc_bin = getenv("NETC_BIN") ? getenv("NETC_BIN") : "bin/netc";
    harness_init(N_TRAIN, N_TEST);
    static char run[580];
    snprintf(run, sizeof run, "%s/run", tmp_root);
    snprintf(weights, sizeof weights, "%s/weights.safetensors", run);
    snprintf(deploy_dir, sizeof deploy_dir, "%s/deploy", tmp_root);
    const char *args[] = {"train", "--data", fmt("%s/data", tmp_root), "--out", run, "--epochs", "3", "--threads", "1", NULL};
    if (run_trainer(fmt("%s/train", tmp_root), args) != 0) return -1;
    if (sh("deploy", fmt("%s --deploy '%s' --out-dir '%s' tests/report/tiny.net", netc_bin, weights, deploy_dir)) != 0) {
        fprintf(stderr, "netc --deploy failed:\n%s", err_of("deploy"));
        return -1;
    }
    /* as a user builds it; warnings are errors here */
    if (sh("make", fmt("make -C '%s' CFLAGS='-O2 -Werror'", deploy_dir)) != 0) {
        fprintf(stderr, "building predict failed:\n%s%s", out_of("make"), err_of("make"));
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    harness_cleanup();
    return 0;
}

static void test_report_lines(void **state) {
    (void)state;
    char *out = out_of("deploy");
    /* netc says what it wrote, the weights' size and the arena's, beside what it would be unplanned */
    assert_non_null(strstr(out, fmt("deployed tiny to %s/", deploy_dir)));
    assert_non_null(strstr(out, "  weights "));
    assert_non_null(strstr(out, "planned ("));
    assert_non_null(strstr(out, "unplanned"));
    char *h = slurp(fmt("%s/tiny.h", deploy_dir), NULL);
    assert_non_null(strstr(h, "#define TINY_ARENA_BYTES"));
    assert_non_null(strstr(h, "#define TINY_WEIGHT_BYTES"));
    assert_non_null(strstr(h, "\"say \\\"hi\\\"\"")); /* class names escaped for C */
    free(out), free(h);
}

/* The number before "%" after `key` in s, and the "(C of N images)" when asked. */
static double percent_after(const char *s, const char *key) {
    const char *p = strstr(s, key);
    if (!p) fail_msg("no '%s' in:\n%s", key, s);
    return strtod(p + strlen(key), NULL);
}

static void test_same_count_as_trainer(void **state) {
    (void)state;
    const char *args[] = {"test", "--weights", weights, "--data", fmt("%s/data", tmp_root), NULL};
    assert_int_equal(run_trainer(fmt("%s/test", tmp_root), args), 0);
    char *trainer = slurp(fmt("%s/test.out", tmp_root), NULL);
    assert_int_equal(sh("ptest", fmt("'%s/predict' --test '%s/data/test'", deploy_dir, tmp_root)), 0);
    char *ours = out_of("ptest");
    int correct, n;
    const char *line = strstr(ours, "top-1: ");
    assert_non_null(line);
    assert_int_equal(sscanf(line, "top-1: %*f%% (%d of %d images)", &correct, &n), 2);
    double theirs = percent_after(trainer, "top-1 ");
    printf("trainer's test: top-1 %.2f%%; deployed: %d of %d (%.2f%%)\n", theirs, correct, n, 100.0 * correct / n);
    assert_int_equal(n, N_CLASSES * N_TEST);
    assert_int_equal(correct, (int)lround(theirs * n / 100));
    assert_true(strstr(trainer, fmt("(%d images)", n)) != NULL);
    free(trainer), free(ours);
}

static void test_same_probabilities_as_trainer(void **state) {
    (void)state;
    char *images = strdup(""), *list[N_CLASSES * N_TEST + 8];
    int n = 0;
    for (int k = 0; k < N_CLASSES; k++)
        for (int i = 0; i < N_TEST; i++) list[n++] = strdup(fmt("%s/data/test/%s/img_%02d.jpg", tmp_root, class_dirs[k], i));
    for (int i = 0; i < n; i++) {
        const char *quoted = q(list[i]);
        char *more = malloc(strlen(images) + strlen(quoted) + 2);
        sprintf(more, "%s %s", images, quoted);
        free(images), images = more;
    }
    const char *args[64] = {"predict", "--weights", weights, "--json"};
    for (int i = 0; i < n; i++) args[4 + i] = list[i];
    args[4 + n] = NULL;
    assert_int_equal(run_trainer(fmt("%s/tpredict", tmp_root), args), 0);
    char *cmd = malloc(strlen(deploy_dir) + strlen(images) + 32);
    sprintf(cmd, "'%s/predict' --json %s", deploy_dir, images);
    assert_int_equal(sh("dpredict", cmd), 0);
    free(cmd);
    char *a = slurp(fmt("%s/tpredict.out", tmp_root), NULL), *b = out_of("dpredict");
    JsonDoc ja, jb;
    Error e;
    if (json_parse(&ja, a, strlen(a), NULL, &e) < 0) fail_msg("the trainer's JSON: %s", e.msg);
    if (json_parse(&jb, b, strlen(b), NULL, &e) < 0) fail_msg("predict --json is not JSON: %s\n%s", e.msg, b);
    assert_int_equal(ja.root->n, n), assert_int_equal(jb.root->n, n);
    double worst = 0;
    for (int i = 0; i < n; i++) {
        const Json *x = &ja.root->items[i], *y = &jb.root->items[i];
        assert_string_equal(json_get(x, "image")->str, json_get(y, "image")->str);
        const Json *tx = json_get(x, "top5"), *ty = json_get(y, "top5");
        assert_int_equal(tx->n, 5), assert_int_equal(ty->n, 5);
        for (int j = 0; j < 5; j++) {
            assert_string_equal(json_get(&tx->items[j], "class")->str, json_get(&ty->items[j], "class")->str);
            assert_true(json_get(&tx->items[j], "index")->number == json_get(&ty->items[j], "index")->number);
            worst = fmax(worst, fabs(json_get(&tx->items[j], "p")->number - json_get(&ty->items[j], "p")->number));
        }
    }
    printf("%d images: the same top-5 classes, probabilities within %.1e (printed to 6 decimals)\n", n, worst);
    assert_true(worst <= 1e-5);
    json_free(&ja), json_free(&jb);
    free(a), free(b), free(images);
    for (int i = 0; i < n; i++) free(list[i]);
}

static void test_bad_images(void **state) {
    (void)state;
    /* a PNG with a .jpg name: decoded as the PNG it is, as the trainer does; a text file is no image */
    write_bytes(fmt("%s/text.jpg", tmp_root), "hello", 5);
    assert_int_equal(sh("notjpeg", fmt("'%s/predict' '%s/text.jpg'", deploy_dir, tmp_root)), 1);
    char *err = err_of("notjpeg");
    assert_non_null(strstr(err, "text.jpg: is not a JPEG"));
    free(err);
    /* 8x8 for a net that resizes to 20x20: refused, as the trainer refuses it */
    uint8_t px[8 * 8 * 3];
    memset(px, 90, sizeof px);
    size_t len;
    uint8_t *jpg = jpeg_encode(px, 8, 8, 3, 90, &len);
    write_bytes(fmt("%s/small.jpg", tmp_root), jpg, len);
    free(jpg);
    assert_int_equal(sh("small", fmt("'%s/predict' '%s/small.jpg'", deploy_dir, tmp_root)), 1);
    err = err_of("small");
    assert_non_null(strstr(err, "small.jpg: image is 8x8, under half the 20x20 the net resizes to"));
    free(err);
    const char *args[] = {"predict", "--weights", weights, fmt("%s/small.jpg", tmp_root), NULL};
    assert_int_equal(run_trainer(fmt("%s/tsmall", tmp_root), args), 1);
    err = slurp(fmt("%s/tsmall.err", tmp_root), NULL);
    assert_non_null(strstr(err, "under half the 20x20")); /* the trainer says the same */
    free(err);
    /* a test folder with other classes */
    assert_int_equal(sh("badtest", fmt("'%s/predict' --test '%s/data'", deploy_dir, tmp_root)), 2);
    err = err_of("badtest");
    assert_non_null(strstr(err, fmt("%s/data has no folder '", tmp_root)));
    free(err);
    assert_int_equal(sh("nothing", fmt("'%s/predict'", deploy_dir)), 2);
}

static void test_bad_weights(void **state) {
    (void)state;
    /* another net's weights: the deploy says whose they are, and writes nothing */
    const char *other = fmt("%s/other", tmp_root);
    assert_int_equal(sh("other", fmt("%s -q --deploy '%s' --out-dir '%s' nets/simplenet.net", netc_bin, weights, other)), 1);
    char *err = err_of("other");
    assert_non_null(strstr(err, "these are the weights of 'tiny'"));
    free(err);
    struct stat st;
    assert_int_not_equal(stat(fmt("%s/simplenet.c", other), &st), 0);
    /* a truncated file */
    size_t len;
    char *w = slurp(weights, &len);
    write_bytes(fmt("%s/cut.safetensors", tmp_root), w, len / 2);
    free(w);
    assert_int_equal(sh("cut", fmt("%s -q --deploy '%s/cut.safetensors' --out-dir '%s' tests/report/tiny.net", netc_bin, tmp_root, other)), 1);
    err = err_of("cut");
    assert_non_null(strstr(err, "cut.safetensors"));
    free(err);
    assert_int_not_equal(stat(fmt("%s/tiny.c", other), &st), 0);
}

/* The C API's errors, from a program built against the deployed tiny.c; tiny.c and predict.c with gcc and clang, warnings as errors. */
static const char api_test[] =
    "#include <stdio.h>\n"
    "#include <stdlib.h>\n"
    "#include <string.h>\n"
    "#include \"tiny.h\"\n"
    "#define CHECK(call, want) do { int e_ = (call); if (e_ != (want)) { printf(\"%s: %d, want %d\\n\", #call, e_, want); return 1; }\\\n"
    "    printf(\"%-60s %s\\n\", #call, tiny_strerror(e_)); } while (0)\n"
    "int main(void) {\n"
    "    static float arena[TINY_ARENA_BYTES / sizeof(float) + 1];\n"
    "    static unsigned char px[24 * 24 * 4];\n"
    "    float probs[TINY_CLASSES], sum = 0;\n"
    "    int k;\n"
    "    memset(px, 100, sizeof px);\n"
    "    CHECK(tiny_predict(px, 24, 24, 3, arena, probs), TINY_OK);\n"
    "    for (k = 0; k < TINY_CLASSES; k++) sum += probs[k];\n"
    "    if (sum < 0.999f || sum > 1.001f) return printf(\"probabilities sum to %g\\n\", sum), 1;\n"
    "    CHECK(tiny_predict(px, 24, 24, 4, arena, probs), TINY_OK); /* RGBA */\n"
    "    CHECK(tiny_predict(px, 24, 24, 1, arena, probs), TINY_OK); /* gray */\n"
    "    CHECK(tiny_predict(px, 24, 24, 2, arena, probs), TINY_ECHANNELS);\n"
    "    CHECK(tiny_predict(px, 24, 24, 5, arena, probs), TINY_ECHANNELS);\n"
    "    CHECK(tiny_predict(px, 0, 24, 3, arena, probs), TINY_EARG);\n"
    "    CHECK(tiny_predict(NULL, 24, 24, 3, arena, probs), TINY_EARG);\n"
    "    CHECK(tiny_predict(px, 9, 24, 3, arena, probs), TINY_ESMALL);\n"
    "    CHECK(tiny_predict(px, 70000, 24, 3, arena, probs), TINY_ELARGE);\n"
    "    CHECK(tiny_predict(px, 24, 24, 3, NULL, probs), TINY_EARENA);\n"
    "    CHECK(tiny_predict(px, 24, 24, 3, (char *)arena + 1, probs), TINY_EARENA);\n"
    "    if (strcmp(tiny_class_name(TINY_CLASSES), \"?\") != 0) return 1;\n"
    "    return 0;\n"
    "}\n";

static void test_api_errors(void **state) {
    (void)state;
    write_bytes(fmt("%s/api.c", deploy_dir), api_test, strlen(api_test));
    for (int k = 0; k < 2; k++) {
        const char *cc = k ? "clang" : "gcc";
        int rc = sh("api_cc", fmt("%s -std=c99 -Wall -Wextra -pedantic -Werror -O2 -I'%s' '%s/api.c' '%s/tiny.c' -o '%s/api' -lm", cc,
                                  deploy_dir, deploy_dir, deploy_dir, deploy_dir));
        if (rc) fail_msg("%s on tiny.c:\n%s", cc, err_of("api_cc"));
        /* predict.c too: it copies headers of which it uses a part (clang warns of unused static functions) */
        rc = sh("predict_cc", fmt("%s -std=c99 -Wall -Wextra -pedantic -Werror -O2 -I'%s' -c '%s/predict.c' -o '%s/predict.o'", cc,
                                  deploy_dir, deploy_dir, deploy_dir));
        if (rc) fail_msg("%s on predict.c:\n%s", cc, err_of("predict_cc"));
        rc = sh("api", fmt("'%s/api'", deploy_dir));
        char *out = out_of("api");
        printf("%s:\n%s", cc, out);
        assert_int_equal(rc, 0);
        free(out);
    }
}

/* ---- --quantize int8 ------------------------------------------------------------------------ */

/* The relative error (%) of layer `name`'s row in the int8 report, or fail. */
static double report_error(const char *report, const char *name, const char *runs) {
    const char *p = strstr(report, fmt("\n  %-22s %-6s ", name, runs));
    if (!p) fail_msg("no %s row for %s in the report:\n%s", runs, name, report);
    p = strchr(p + 1, '%');
    while (p[-1] != ' ') p--; /* back to the number */
    return strtod(p, NULL);
}

/* The top-1 count of predict --test's output. */
static int top1_count(const char *out) {
    int correct, n;
    const char *line = strstr(out, "top-1: ");
    if (!line || sscanf(line, "top-1: %*f%% (%d of %d images)", &correct, &n) != 2) fail_msg("no top-1 in:\n%s", out);
    return correct;
}

static void test_int8(void **state) {
    (void)state;
    const char *qdir = fmt("%s/deploy_int8", tmp_root);
    int rc = sh("deployq", fmt("%s --deploy '%s' --quantize int8 --calibrate 60 --quantize-report --out-dir '%s' tests/report/tiny.net", netc_bin,
                               weights, qdir));
    char *out = out_of("deployq");
    if (rc) fail_msg("netc --deploy --quantize int8 failed:\n%s%s", out, err_of("deployq"));
    printf("%s", strstr(out, "calibrating"));
    /* calibrated on 60 training images, 4 of each of the 15 classes; the report on the 30 it did not use */
    assert_non_null(strstr(out, "calibrating tiny on 60 training images"));
    assert_non_null(strstr(out, "on 30 training images calibration did not use"));
    assert_non_null(strstr(out, fmt("deployed tiny (int8) to %s/", qdir)));
    /* Each int8 tensor rounds to 1/255 of its range, a relative error of a few tenths of a percent
     * per layer (more where values cluster near zero); the weights to 1/127 of each channel's
     * largest; three layers of them compound. The logits within 5% (RMS, relative) of the float
     * net's, and no layer's output beyond 10%. */
    const char *layers[] = {"c1", "p1", "c2", "p2"};
    for (int i = 0; i < 4; i++) assert_true(report_error(out, layers[i], "int8") < 10);
    double logits = report_error(out, "fc", "int8");
    assert_true(logits > 0 && logits < 5);
    /* it builds as a user builds it, warnings as errors, gcc and clang */
    if (sh("makeq", fmt("make -C '%s' CFLAGS='-O2 -Werror'", qdir)) != 0) fail_msg("building the int8 predict:\n%s", err_of("makeq"));
    assert_int_equal(sh("clangq", fmt("clang -std=c99 -Wall -Wextra -pedantic -Werror -O2 -march=native -c '%s/tiny.c' -o '%s/tiny_clang.o'", qdir, qdir)), 0);
    /* the same predict: --test within an image of the float net's count */
    assert_int_equal(sh("ptestq", fmt("'%s/predict' --test '%s/data/test'", qdir, tmp_root)), 0);
    assert_int_equal(sh("ptestf", fmt("'%s/predict' --test '%s/data/test'", deploy_dir, tmp_root)), 0);
    char *qo = out_of("ptestq"), *fo = out_of("ptestf");
    printf("predict --test: float %d, int8 %d of %d\n", top1_count(fo), top1_count(qo), N_CLASSES * N_TEST);
    assert_true(abs(top1_count(qo) - top1_count(fo)) <= 1);
    free(qo), free(fo), free(out);
    /* the weights a quarter of the float net's, plus biases and multipliers */
    char *h = slurp(fmt("%s/tiny.h", qdir), NULL), *hf = slurp(fmt("%s/tiny.h", deploy_dir), NULL);
    long qb = strtol(strstr(h, "#define TINY_WEIGHT_BYTES") + 26, NULL, 10), fb = strtol(strstr(hf, "#define TINY_WEIGHT_BYTES") + 26, NULL, 10);
    printf("weights: int8 %ld bytes, float %ld\n", qb, fb);
    assert_true(qb < fb / 3);
    free(h), free(hf);
}

static void test_int8_errors(void **state) {
    (void)state;
    const char *o = fmt("%s/qbad", tmp_root);
    /* usage errors (exit 2) */
    assert_int_equal(sh("q1", fmt("%s -q --quantize int8 tests/report/tiny.net", netc_bin)), 2);
    char *err = err_of("q1");
    assert_non_null(strstr(err, "--quantize goes with --deploy WEIGHTS"));
    free(err);
    assert_int_equal(sh("q2", fmt("%s -q --deploy '%s' --quantize int4 --out-dir '%s' tests/report/tiny.net", netc_bin, weights, o)), 2);
    err = err_of("q2");
    assert_non_null(strstr(err, "netc quantises to int8 only"));
    free(err);
    assert_int_equal(sh("q3", fmt("%s -q --deploy '%s' --quantize int8 --calibrate 0 --out-dir '%s' tests/report/tiny.net", netc_bin, weights, o)), 2);
    err = err_of("q3");
    assert_non_null(strstr(err, "--calibrate 0: give a whole number"));
    free(err);
    /* a layer to keep in float that the net does not have: did you mean */
    assert_int_equal(sh("q4", fmt("%s -q --deploy '%s' --quantize int8 --float c3 --out-dir '%s' tests/report/tiny.net", netc_bin, weights, o)), 1);
    err = err_of("q4");
    assert_non_null(strstr(err, "tiny has no layer 'c3' (did you mean 'c1'?)"));
    free(err);
    struct stat st;
    assert_int_not_equal(stat(fmt("%s/tiny.c", o), &st), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_lines),   cmocka_unit_test(test_same_count_as_trainer),
        cmocka_unit_test(test_same_probabilities_as_trainer), cmocka_unit_test(test_bad_images),
        cmocka_unit_test(test_bad_weights),    cmocka_unit_test(test_api_errors),
        cmocka_unit_test(test_int8),           cmocka_unit_test(test_int8_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
