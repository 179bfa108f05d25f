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
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config.h"
#include "data.h"
#include "json.h"
#include "preprocess.h"
#include "weights_meta.h"

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

/* The largest error of layer `name`'s int8 row in the report, or fail. */
static double report_largest(const char *report, const char *name) {
    const char *p = strstr(report, fmt("\n  %-22s %-6s ", name, "int8")), *db = p ? strstr(p, " dB ") : NULL;
    if (!db) fail_msg("no int8 row for %s in the report:\n%s", name, report);
    return strtod(db + 4, NULL);
}

/* The top-1 count of predict --test's output. */
static int top1_count(const char *out) {
    int correct, n;
    const char *line = strstr(out, "top-1: ");
    if (!line || sscanf(line, "top-1: %*f%% (%d of %d images)", &correct, &n) != 2) fail_msg("no top-1 in:\n%s", out);
    return correct;
}

/* netc --deploy --quantize int8 of the trained tiny into <tmp>/deploy_int8 (once, for both int8
 * tests), with the report and -d quant: what it printed, for the caller to free. */
static char *int8_deploy(void) {
    static int rc = -1;
    if (rc < 0)
        rc = sh("deployq", fmt("%s --deploy '%s' --quantize int8 --calibrate 60 --quantize-report -d quant --out-dir '%s/deploy_int8' "
                               "tests/report/tiny.net", netc_bin, weights, tmp_root));
    char *out = out_of("deployq");
    if (rc) fail_msg("netc --deploy --quantize int8 failed:\n%s%s", out, err_of("deployq"));
    return out;
}

static void test_int8(void **state) {
    (void)state;
    const char *qdir = fmt("%s/deploy_int8", tmp_root);
    char *out = int8_deploy(), *dump = strstr(out, "-d quant:"), *deployed = strstr(out, "\ndeployed tiny (int8)");
    assert_true(dump && deployed && dump < deployed);
    printf("%.*s%s", (int)(dump - strstr(out, "calibrating")), strstr(out, "calibrating"), deployed + 1); /* less the dump */
    /* calibrated on 60 training images, 4 of each of the 15 classes; the report on the 30 it did not use */
    assert_non_null(strstr(out, "calibrating tiny on 60 training images"));
    assert_non_null(strstr(out, "on 30 training images calibration did not use"));
    assert_non_null(strstr(out, fmt("deployed tiny (int8) to %s/", qdir)));
    /* a row for every int8 layer, each with its error (how large the logits' may be: test_int8_bound) */
    const char *layers[] = {"c1", "p1", "c2", "p2", "fc"};
    for (int i = 0; i < 5; i++) assert_true(report_error(out, layers[i], "int8") > 0);
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

/* ---- the int8 logits within the error the int8 net's scales allow -------------------------------------
 *
 * For each image, every value of tiny three ways:
 *   y  the float net, exactly: double arithmetic on the file's float32 weights, batch norm in its
 *      evaluation form (folded: w s and (b - mean) s + beta, s = gamma / sqrt(var + eps));
 *   z  the int8 scheme less its activations' rounding: the float net with the int8 weights
 *      w^ = wscale[o] round(w' / wscale[o]), wscale[o] = max |w'[o]| / 127 (w' the weights as netc
 *      folds them, in float; wscale recomputed here and checked against netc's), every tensor
 *      clamped to what its bytes hold, [scale (lo - zp), scale (255 - zp)] (lo = zp after a relu:
 *      the range starts at 0, the clamp is the relu);
 *   e  the int8 net's value x = scale (q - zp) of its byte q, less z, as an affine form
 *      c + sum_i a_i eps_i, one symbol eps_i in [-1, 1] per rounding: x - z within c -+ sum_i |a_i|.
 * Scales, zero points and clamps are the ones netc chose (-d quant). At the logits, the int8
 * net's value lies within z + c -+ sum |a_i|, and so within max |z + c -+ sum |a_i| - y| of the
 * float net's: the weights' rounding, exactly (z - y), and a worst case of the activations'. No
 * step is first-order, and nothing assumes the images inside the calibrated ranges (z clamps
 * where the bytes do). The symbols keep a rounding's sign on each path to a logit, so an input
 * byte's error reaching a logit by many paths adds up with its signs before the absolute value
 * is taken. (Bounds by intervals, sum |w^| r layer by layer, come to 4.5 on average on these
 * logits, whose error averages 0.006 and whose spread, largest less smallest, 4.4; these forms
 * to 0.20.) Step by step:
 *
 *   input: q = clamp(round(x fl(1 / s)) + zp, 0, 255) in float: before the clamp, within
 *     s / 2 + s 2^-24 + |x| 2^-22 of x (fl(1 / s), the product and the rounding's v + 0.5f each
 *     within 2^-24 relative): a symbol of its own.
 *   conv, linear (a linear layer is a conv whose kernel is its whole input; padding is the zero
 *     point, exactly 0 in every version): the int32 sum acc = sum_k wq_k (q_k - zp_in) + B (no
 *     sum or bias saturates: checked), B = round(b' / u), u = s_in wscale[o], b' netc's float bias,
 *     stands for u acc = sum_k w^_k x_k + u B, which less z's p = sum_k w^_k z_k + b is
 *         sum_k w^_k e_k + (u B - b),
 *     u B - b a symbol of the channel's: |u B - b'| <= u / 2 and |b' - b| <= btol = 2^-22 (|(b - mean) s|
 *     + |beta|), float's rounding of the fold.
 *     Bytes out, q = clamp(zp + rq(acc), lo, 255): rq multiplies by mult 2^(shift - 31), within
 *     2^-30 relative of the ideal u / s_out (mult is it in Q31, rounded), and rounds twice (the high
 *     multiply, then the shift right by -shift): within 1/2 + 2^(shift - 1) of exact, so within
 *     1/2 + 2^k, 2^(k - 1) <= the ideal < 2^k (the shift is k, or k + 1 where mult rounded up to
 *     2^31; a shift left, only then, saturates no sum under 2^30). Before the clamp: the form
 *     above and a symbol of the value's own, s_out (1/2 + 2^k) + 2^-30 (|p| + its radius).
 *     Floats out (the logits): (float)(acc) x fl(u), three float roundings: the form above and
 *     2^-22 (|p| + its radius).
 *   a clamp to [lo, hi] (the bytes' range, with the relu): for P = p + e, e within [l - p, u - p],
 *     clamp(P) - clamp(p) is e where [l, u] lies inside the range and 0 where it lies past one end.
 *     Across the low end, clamp(P) = lo + relu(t), t = P - lo in [l - lo, u - lo], and a relu across
 *     0 lies within lambda t + [0, lambda (lo - l)], lambda = (u - lo) / (u - l): the form times
 *     lambda, a constant, and a new symbol for that [0, lambda (lo - l)] (DeepZ's relaxation). Across
 *     the high end the same, clamp(P) = hi - relu(hi - P). Across both: the range, a new symbol.
 *   max pool: bytes of one scale keep their values' order, so the window's largest byte is its
 *     largest value. The values in turn against the largest so far, a (z_a >= z_b):
 *     max(x_a, x_b) - z_a = e_a + relu(e_b - e_a - (z_a - z_b)): e_a where the relu's argument
 *     cannot be positive, e_b - (z_a - z_b) where it cannot be negative, else the relaxation above.
 *   dropout: nothing. */

/* A tensor's bytes, as netc's -d quant prints them: value = scale (q - zp), stored clamped to lo..255. */
typedef struct {
    float scale;
    int zp, lo;
} QParams;

static QParams dump_tensor(const char *dump, const char *name) {
    const char *p = strstr(dump, fmt("\n  %-22s ", name)), *end = p ? strchr(p + 1, '\n') : NULL, *s = p ? strstr(p, " scale ") : NULL;
    QParams q = {0, 0, 0};
    if (!s || !end || s > end || sscanf(s, " scale %f zp %d lo %d", &q.scale, &q.zp, &q.lo) != 3 || !(q.scale > 0))
        fail_msg("-d quant prints no scale, zero point and clamp for %s:\n%s", name, dump);
    return q;
}

static float dump_wscale(const char *dump, const char *layer, int o) {
    char key[64];
    snprintf(key, sizeof key, "\n    %s[%d] wscale ", layer, o);
    const char *p = strstr(dump, key);
    if (!p) fail_msg("-d quant prints no weight scale for %s[%d]:\n%s", layer, o, dump);
    return strtof(p + strlen(key), NULL);
}

/* An affine form: c + sum_i a[i] eps[s[i]], every eps in [-1, 1]. */
typedef struct {
    double c;
    int n;
    int *s;
    double *a;
} Form;

static double form_radius(const Form *f) {
    double r = fabs(f->c);
    for (int i = 0; i < f->n; i++) r += fabs(f->a[i]);
    return r;
}

/* One image's symbols, and a form being summed: c + acc[s] over the symbols in touched. */
typedef struct {
    int n, cap, n_touched;
    double c, *acc;
    int *touched;
    bool *in;
} Symbols;

static int symbol_new(Symbols *S) {
    if (S->n == S->cap) {
        S->cap = S->cap ? 2 * S->cap : 4096;
        S->acc = xrealloc(S->acc, sizeof(double) * (size_t)S->cap), S->touched = xrealloc(S->touched, sizeof(int) * (size_t)S->cap);
        S->in = xrealloc(S->in, sizeof(bool) * (size_t)S->cap);
        for (int s = S->n; s < S->cap; s++) S->acc[s] = 0, S->in[s] = false;
    }
    return S->n++;
}

static void sum_add(Symbols *S, int s, double a) {
    if (!S->in[s]) S->in[s] = true, S->touched[S->n_touched++] = s;
    S->acc[s] += a;
}
static void sum_add_form(Symbols *S, const Form *f, double w) {
    S->c += w * f->c;
    for (int i = 0; i < f->n; i++) sum_add(S, f->s[i], w * f->a[i]);
}
/* The sum's symbols' part of its radius (less |c|). */
static double sum_spread(const Symbols *S) {
    double r = 0;
    for (int i = 0; i < S->n_touched; i++) r += fabs(S->acc[S->touched[i]]);
    return r;
}
/* The form summed, as a Form (keep) or dropped; the sum starts again from nothing. */
static Form sum_take(Symbols *S, bool keep) {
    Form f = {keep ? S->c : 0, 0, NULL, NULL};
    if (keep) f.s = xmalloc(sizeof(int) * (size_t)(S->n_touched + 1)), f.a = xmalloc(sizeof(double) * (size_t)(S->n_touched + 1));
    for (int i = 0; i < S->n_touched; i++) {
        int s = S->touched[i];
        if (keep && S->acc[s] != 0) f.s[f.n] = s, f.a[f.n++] = S->acc[s];
        S->acc[s] = 0, S->in[s] = false;
    }
    S->n_touched = 0, S->c = 0;
    return f;
}
/* The form of a value known only to lie in [lo, hi]: its middle and a new symbol. */
static Form form_between(Symbols *S, double lo, double hi) {
    sum_take(S, false);
    S->c = (lo + hi) / 2;
    if (hi > lo) sum_add(S, symbol_new(S), (hi - lo) / 2);
    return sum_take(S, true);
}

/* clamp(P) - clamp(p) for P = p + e, e the form being summed, P in [l, u] (see above); clamp(p) into *z. */
static Form clamp_step(Symbols *S, double p, double lo, double hi, double *z) {
    double R = sum_spread(S), l = p + S->c - R, u = p + S->c + R, zc = fmin(fmax(p, lo), hi);
    *z = zc;
    if (l >= lo && u <= hi) return sum_take(S, true);
    if (u <= lo || l >= hi) return form_between(S, 0, 0);
    if (l < lo && u > hi) return form_between(S, lo - zc, hi - zc);
    bool low = l < lo; /* the end it crosses */
    double lambda = low ? (u - lo) / (u - l) : (hi - l) / (u - l), mu = low ? lambda * (lo - l) / 2 : lambda * (u - hi) / 2;
    for (int i = 0; i < S->n_touched; i++) S->acc[S->touched[i]] *= lambda;
    S->c = low ? lambda * (p + S->c - lo) + mu + lo - zc : hi - lambda * (hi - p - S->c) - mu - zc;
    sum_add(S, symbol_new(S), mu);
    return sum_take(S, true);
}

/* One tensor [c][h][w]: the float net's values y, the int8 scheme's z and the int8 net's error forms e. */
typedef struct {
    int c, h, w;
    double *y, *z;
    Form *e;
} Vals;

static Vals vals_new(int c, int h, int w) {
    size_t n = (size_t)c * h * w;
    return (Vals){c, h, w, xcalloc(n, sizeof(double)), xcalloc(n, sizeof(double)), xcalloc(n, sizeof(Form))};
}
static void vals_free(Vals *v) {
    for (long i = 0; i < (long)v->c * v->h * v->w; i++) free(v->e[i].s), free(v->e[i].a);
    free(v->y), free(v->z), free(v->e);
}

/* A conv or linear layer [oc][c][k][k], stride 1: the float net's w and b (batch norm folded in,
 * exactly), how far netc's float bias may be from b (btol), the int8 weights w^ and each output
 * channel's weight scale. */
typedef struct {
    const char *name;
    int oc, c, k, pad;
    bool relu;
    double *w, *b, *btol, *wq;
    float *wscale;
} Sums;

static float *read_tensor(StFile *f, const char *name, long n) {
    const StTensor *t = st_find(f, name);
    float *v = xmalloc(sizeof(float) * (size_t)n);
    Error e;
    if (!t || st_read_f32(f, t, v, (size_t)n, &e) < 0) fail_msg("%s: no tensor %s of %ld floats", f->path, name, n);
    return v;
}

/* Layer `name` from the weights file, batch norm `bn` (or NULL) folded in: exactly for the float
 * net; for the int8 net as netc folds it (deploy_fold_bn: float(w s), s in double) and quantises it
 * (deploy_qweights: scale max |w'| / 127 in float, round(w' / scale) to -127..127). */
static Sums sums_layer(StFile *f, const char *dump, const char *name, const char *bn, float eps, int oc, int c, int k, int pad, bool relu) {
    long per = (long)c * k * k;
    Sums L = {name, oc, c, k, pad, relu, xmalloc(sizeof(double) * (size_t)(oc * per)), xmalloc(sizeof(double) * (size_t)oc),
              xmalloc(sizeof(double) * (size_t)oc), xmalloc(sizeof(double) * (size_t)(oc * per)), xmalloc(sizeof(float) * (size_t)oc)};
    float *w = read_tensor(f, fmt("%s.weight", name), oc * per), *b = read_tensor(f, fmt("%s.bias", name), oc);
    float *gamma = bn ? read_tensor(f, fmt("%s.weight", bn), oc) : NULL, *beta = bn ? read_tensor(f, fmt("%s.bias", bn), oc) : NULL;
    float *mean = bn ? read_tensor(f, fmt("%s.running_mean", bn), oc) : NULL, *var = bn ? read_tensor(f, fmt("%s.running_var", bn), oc) : NULL;
    float *folded = xmalloc(sizeof(float) * (size_t)per);
    for (int o = 0; o < oc; o++) {
        double s = bn ? gamma[o] / sqrt((double)var[o] + eps) : 1;
        L.b[o] = bn ? ((double)b[o] - mean[o]) * s + beta[o] : b[o];
        L.btol[o] = bn ? 0x1p-22 * (fabs(((double)b[o] - mean[o]) * s) + fabs((double)beta[o])) : 0;
        float big = 0;
        for (long j = 0; j < per; j++) {
            L.w[o * per + j] = w[o * per + j] * s;
            folded[j] = bn ? (float)(w[o * per + j] * s) : w[o * per + j];
            big = fmaxf(big, fabsf(folded[j]));
        }
        L.wscale[o] = big > 0 ? big / 127 : 1;
        float netc = dump_wscale(dump, name, o);
        if (L.wscale[o] != netc)
            fail_msg("%s[%d]: weight scale %.9g from the float weights, netc's %.9g", name, o, (double)L.wscale[o], (double)netc);
        for (long j = 0; j < per; j++) {
            long q = lround(folded[j] / L.wscale[o]);
            L.wq[o * per + j] = (double)L.wscale[o] * (double)(q < -127 ? -127 : q > 127 ? 127 : q);
        }
    }
    free(w), free(b), free(gamma), free(beta), free(mean), free(var), free(folded);
    return L;
}

static void sums_free(Sums *L) { free(L->w), free(L->b), free(L->btol), free(L->wq), free(L->wscale); }

/* The net's input x [c][h][w] as the int8 net quantises it (the bytes 0..255 at q). */
static Vals input_vals(Symbols *S, const float *x, int c, int h, int w, QParams q) {
    Vals v = vals_new(c, h, w);
    double s = q.scale;
    for (long i = 0; i < (long)c * h * w; i++) {
        v.y[i] = x[i];
        sum_add(S, symbol_new(S), s / 2 + s * 0x1p-24 + fabs(x[i]) * 0x1p-22);
        v.e[i] = clamp_step(S, x[i], s * (0 - q.zp), s * (255 - q.zp), &v.z[i]);
    }
    return v;
}

/* Layer L; qin, qout: its input's and output's bytes (qout NULL: floats, the logits). */
static Vals sums_forward(Symbols *S, const Sums *L, const Vals *in, QParams qin, const QParams *qout) {
    assert_int_equal(in->c, L->c);
    int oh = in->h + 2 * L->pad - L->k + 1, ow = in->w + 2 * L->pad - L->k + 1, K = L->c * L->k * L->k;
    Vals out = vals_new(L->oc, oh, ow);
    for (int o = 0; o < L->oc; o++) {
        double u = (double)qin.scale * L->wscale[o], rho = 0, lo = 0, hi = 0;
        int bias = symbol_new(S), k2;
        if (fabs(L->b[o]) / u + 1 + K * 127.0 * (255 + qin.zp) >= 0x1p30) fail_msg("%s[%d]: its int32 sums may saturate", L->name, o);
        if (qout) {
            frexp(u / qout->scale, &k2);
            if (k2 > 0) fail_msg("%s[%d]: a multiplier of 1 or more (%g): the bound covers shifts right only", L->name, o, u / qout->scale);
            rho = qout->scale * (0.5 + ldexp(1.0, k2));
            lo = (double)qout->scale * (qout->lo - qout->zp), hi = (double)qout->scale * (255 - qout->zp);
        }
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) {
                long at = ((long)o * oh + i) * ow + j;
                double y = L->b[o], p = L->b[o];
                for (int t = 0; t < K; t++) {
                    int ci = t / (L->k * L->k), yy = i + t / L->k % L->k - L->pad, xx = j + t % L->k - L->pad;
                    if (yy < 0 || yy >= in->h || xx < 0 || xx >= in->w) continue;
                    long from = ((long)ci * in->h + yy) * in->w + xx;
                    y += L->w[o * K + t] * in->y[from], p += L->wq[o * K + t] * in->z[from];
                    sum_add_form(S, &in->e[from], L->wq[o * K + t]);
                }
                sum_add(S, bias, u / 2 + L->btol[o]);
                out.y[at] = L->relu ? fmax(y, 0) : y;
                double R = sum_spread(S) + fabs(S->c);
                if (!qout) {
                    sum_add(S, symbol_new(S), 0x1p-22 * (fabs(p) + R));
                    out.z[at] = p, out.e[at] = sum_take(S, true);
                    continue;
                }
                sum_add(S, symbol_new(S), rho + 0x1p-30 * (fabs(p) + R));
                out.e[at] = clamp_step(S, p, L->relu ? fmax(lo, 0) : lo, hi, &out.z[at]);
            }
    }
    return out;
}

/* max(x_a, x_b) - z_a for x_a = z_a + ea, x_b = z_b + eb, z_a >= z_b: ea + relu(t), t = eb - ea - (z_a - z_b)
 * in [l, u]; where that crosses 0, relu(t) within lambda t + [0, -lambda l], lambda = u / (u - l). */
static Form max_step(Symbols *S, double za, const Form *ea, double zb, const Form *eb) {
    sum_add_form(S, eb, 1), sum_add_form(S, ea, -1);
    S->c -= za - zb;
    double R = sum_spread(S), l = S->c - R, u = S->c + R;
    if (u <= 0) { /* a stays the larger */
        sum_take(S, false);
        sum_add_form(S, ea, 1);
        return sum_take(S, true);
    }
    if (l >= 0) { /* b is the larger: eb - (z_a - z_b) */
        sum_take(S, false);
        sum_add_form(S, eb, 1);
        S->c -= za - zb;
        return sum_take(S, true);
    }
    double lambda = u / (u - l), mu = -lambda * l / 2;
    for (int i = 0; i < S->n_touched; i++) S->acc[S->touched[i]] *= lambda;
    S->c = S->c * lambda + mu;
    sum_add_form(S, ea, 1), sum_add(S, symbol_new(S), mu);
    return sum_take(S, true);
}

/* A k x k max pool, stride k: the window's values in turn, each against the largest so far. */
static Vals maxpool_forward(Symbols *S, const Vals *in, int k) {
    Vals out = vals_new(in->c, in->h / k, in->w / k);
    for (int c = 0; c < out.c; c++)
        for (int i = 0; i < out.h; i++)
            for (int j = 0; j < out.w; j++) {
                long at = ((long)c * out.h + i) * out.w + j;
                double y = -INFINITY, z = -INFINITY;
                Form e = {0, 0, NULL, NULL};
                for (int t = 0; t < k * k; t++) {
                    long from = ((long)c * in->h + i * k + t / k) * in->w + j * k + t % k;
                    double zf = in->z[from];
                    Form next;
                    if (t == 0) sum_add_form(S, &in->e[from], 1), next = sum_take(S, true);
                    else next = zf > z ? max_step(S, zf, &in->e[from], z, &e) : max_step(S, z, &e, zf, &in->e[from]);
                    free(e.s), free(e.a);
                    e = next, y = fmax(y, in->y[from]), z = fmax(z, zf);
                }
                out.y[at] = y, out.z[at] = z, out.e[at] = e;
            }
    return out;
}

/* Runs the deployed int8 net's tiny_forward on n inputs ([n][3][16][16] floats in <dir>/inputs.bin), through a
 * program of ours built against its tiny.c as a user builds it; the logits [n][15] into logits. */
static const char logits_main[] =
    "#include <stdio.h>\n"
    "#include \"tiny.h\"\n"
    "int main(int argc, char **argv) {\n"
    "    static float arena[TINY_ARENA_BYTES / sizeof(float) + 1], in[TINY_INPUT_CHANNELS * TINY_INPUT_HEIGHT * TINY_INPUT_WIDTH];\n"
    "    float out[TINY_CLASSES];\n"
    "    FILE *f, *g;\n"
    "    if (argc != 3 || !(f = fopen(argv[1], \"rb\")) || !(g = fopen(argv[2], \"wb\"))) return 2;\n"
    "    while (fread(in, sizeof in, 1, f) == 1) {\n"
    "        tiny_forward(in, arena, out);\n"
    "        if (fwrite(out, sizeof out, 1, g) != 1) return 1;\n"
    "    }\n"
    "    return fclose(g) != 0;\n"
    "}\n";

static void int8_logits(const char *dir, const float *inputs, int n, float *logits) {
    write_bytes(fmt("%s/logits.c", dir), logits_main, strlen(logits_main));
    write_bytes(fmt("%s/inputs.bin", dir), inputs, sizeof(float) * 768 * (size_t)n);
    if (sh("logits_cc", fmt("cc -std=c99 -O2 -march=native -I'%s' '%s/logits.c' '%s/tiny.c' -o '%s/logits' -lm", dir, dir, dir, dir)) != 0)
        fail_msg("building a program on the int8 tiny.c:\n%s", err_of("logits_cc"));
    assert_int_equal(sh("logits", fmt("'%s/logits' '%s/inputs.bin' '%s/logits.bin'", dir, dir, dir)), 0);
    size_t len;
    char *out = slurp(fmt("%s/logits.bin", dir), &len);
    assert_true(out && len == sizeof(float) * 15 * (size_t)n);
    memcpy(logits, out, len);
    free(out);
}

static void test_int8_bound(void **state) {
    (void)state;
    char *dump = int8_deploy(), qdir[600];
    snprintf(qdir, sizeof qdir, "%s/deploy_int8", tmp_root);
    /* the int8 net the bound below models: the input quantised (0..255), c1 and c2 bytes with their relus as
     * the clamp at the zero point, the max pools at their inputs' scales with no clamp of their own, fc's
     * logits floats */
    QParams q0 = dump_tensor(dump, "input"), q1 = dump_tensor(dump, "c1"), q2 = dump_tensor(dump, "c2");
    QParams p1 = dump_tensor(dump, "p1"), p2 = dump_tensor(dump, "p2");
    assert_int_equal(q0.lo, 0);
    assert_int_equal(q1.lo, q1.zp), assert_int_equal(q2.lo, q2.zp);
    assert_true(p1.scale == q1.scale && p1.zp == q1.zp && p1.lo == 0 && p2.scale == q2.scale && p2.zp == q2.zp && p2.lo == 0);
    assert_non_null(strstr(dump, fmt("\n  %-22s %-5s floats ", "fc", "int8")));
    printf("int8 tensors (netc -d quant): input %.9g - %d, c1 and p1 %.9g - %d, c2 and p2 %.9g - %d\n", (double)q0.scale, q0.zp,
           (double)q1.scale, q1.zp, (double)q2.scale, q2.zp);

    StFile f;
    Error e;
    if (st_open(&f, weights, &e) < 0) fail_msg("%s", e.msg);
    Sums c1 = sums_layer(&f, dump, "c1", "bn1", 1e-5f /* tiny.net's bn1: batchnorm's default eps */, 6, 3, 5, 2, true);
    Sums c2 = sums_layer(&f, dump, "c2", NULL, 0, 8, 6, 3, 1, true);
    Sums fc = sums_layer(&f, dump, "fc", NULL, 0, 15, 8, 4, 0, false); /* [15][128] as [15][8][4][4] on p2's 8x4x4 */
    st_close(&f);

    /* the images: every training and test image, prepared as the trainer's test and predict prepare them */
    Config cfg;
    config_defaults(&cfg);
    float mean[3], std[3], table[3][256];
    char **classes;
    int n_classes;
    if (checkpoint_apply_settings(&cfg, weights, &e) < 0 || weights_meta(weights, mean, std, &classes, &n_classes, &e) < 0) fail_msg("%s", e.msg);
    for (int k = 0; k < n_classes; k++) free(classes[k]);
    free(classes);
    assert_true(cfg.resize_w == 20 && cfg.resize_h == 20 && cfg.channels == CH_RGB);
    pp_table(table, cfg.range, mean, std);
    int n = N_CLASSES * (N_TRAIN + N_TEST), m = 0;
    float *inputs = xmalloc(sizeof(float) * 768 * (size_t)n), *logits = xmalloc(sizeof(float) * 15 * (size_t)n);
    char *names = xmalloc(64 * (size_t)n); /* for messages: "test/coast/img_01.jpg" */
    for (int split = 0; split < 2; split++)
        for (int k = 0; k < N_CLASSES; k++)
            for (int i = 0; i < (split ? N_TEST : N_TRAIN); i++, m++) {
                uint8_t px[20 * 20 * 3];
                snprintf(names + 64 * m, 64, "%s/%s/img_%02d.jpg", split ? "test" : "train", class_dirs[k], i);
                const char *path = fmt("%s/data/%s", tmp_root, names + 64 * m);
                if (image_load(path, 20, 20, 3, px, &e) < 0) fail_msg("%s", e.msg);
                int x0 = pp_crop_origin(20, 16);
                pp_input(px + (x0 * 20 + x0) * 3, 16, 16, 20 * 3, 3, 3, PP_RGB, (const float(*)[256])table, 0, inputs + (size_t)m * 768, 256);
            }
    int8_logits(qdir, inputs, n, logits);

    /* image by image: each int8 logit within [z + c - R, z + c + R] (its form c + sum_i a_i eps_i, R = sum_i |a_i|),
     * so within the bound max(|z + c - R - y|, |z + c + R - y|) of the float net's y */
    Symbols S = {0};
    double err_sum = 0, err_max = 0, err_train = 0, bound_sum = 0, bound_max = 0, weights_sum = 0, ratio_max = 0, spread_sum = 0;
    int certified = 0, outside = 0;
    char first[600] = "";
    for (int i = 0; i < n; i++) {
        S.n = 0;
        Vals x = input_vals(&S, inputs + (size_t)i * 768, 3, 16, 16, q0);
        Vals a = sums_forward(&S, &c1, &x, q0, &q1), b = maxpool_forward(&S, &a, 2);
        Vals c = sums_forward(&S, &c2, &b, p1, &q2), d = maxpool_forward(&S, &c, 2);
        Vals g = sums_forward(&S, &fc, &d, p2, NULL);
        double bound[15], lo = INFINITY, hi = -INFINITY;
        int top = 0;
        for (int k = 0; k < 15; k++) {
            const Form *ek = &g.e[k];
            double q = logits[i * 15 + k], y = g.y[k], R = form_radius(ek) - fabs(ek->c), low = g.z[k] + ek->c - R, high = g.z[k] + ek->c + R;
            bound[k] = fmax(fabs(low - y), fabs(high - y));
            if (!(q >= low && q <= high) && !outside++)
                snprintf(first, sizeof first, "%s, logit %d: the int8 net gives %.7g, outside [%.7g, %.7g], where the float net's %.7g and "
                         "the int8 net's scales put it (%.3g from the float logit, whose bound is %.3g)", names + 64 * i, k, q, low, high, y,
                         fabs(q - y), bound[k]);
            err_sum += fabs(q - y), err_max = fmax(err_max, fabs(q - y)), ratio_max = fmax(ratio_max, fabs(q - y) / bound[k]);
            if (i < N_CLASSES * N_TRAIN) err_train = fmax(err_train, fabs(q - y));
            bound_sum += bound[k], bound_max = fmax(bound_max, bound[k]), weights_sum += fabs(g.z[k] - y);
            lo = fmin(lo, y), hi = fmax(hi, y), top = y > g.y[top] ? k : top;
        }
        spread_sum += hi - lo;
        /* the bounds prove the int8 net's class the float net's where its top logit leads every other by both bounds */
        bool sure = true;
        for (int k = 0; k < 15; k++) sure &= k == top || g.y[top] - g.y[k] > bound[top] + bound[k];
        certified += sure;
        vals_free(&x), vals_free(&a), vals_free(&b), vals_free(&c), vals_free(&d), vals_free(&g);
    }
    printf("%d images (%d training, %d test) x 15 logits: |int8 - float| mean %.4f, largest %.4f; the bound mean %.4f (the weights' rounding "
           "%.4f of it), largest %.4f; no error above %.2f of its bound\n",
           n, N_CLASSES * N_TRAIN, N_CLASSES * N_TEST, err_sum / (15 * n), err_max, bound_sum / (15 * n), weights_sum / (15 * n), bound_max, ratio_max);
    printf("the bound is %.1f%% of the logits' spread (max - min: %.3f on average); it proves the int8 net's class the float net's on %d of %d images\n",
           100 * bound_sum / (15 * n) / (spread_sum / n), spread_sum / n, certified, n);
    if (outside) fail_msg("%d of %d int8 logits outside their bounds; the first: %s", outside, 15 * n, first);
    /* and it is not vacuous: on average within a tenth of the distance between an image's smallest and largest logit */
    if (!(bound_sum / (15 * n) < 0.1 * spread_sum / n))
        fail_msg("the bound is vacuous: %.3g on average, against the logits' spread of %.3g", bound_sum / (15 * n), spread_sum / n);
    /* netc's --quantize-report measured its largest logit error on 30 of these training images (against the float net
     * in float32, within 1e-4 of this one's): no more than the largest here */
    double reported = report_largest(dump, "fc");
    printf("--quantize-report's largest logit error %.4g, on 30 of the %d training images here (largest %.4g)\n", reported,
           N_CLASSES * N_TRAIN, err_train);
    assert_true(reported > 0 && reported <= err_train + 1e-4);
    free(S.acc), free(S.touched), free(S.in);
    sums_free(&c1), sums_free(&c2), sums_free(&fc);
    free(inputs), free(logits), free(names), free(dump);
}

static void test_int8_errors(void **state) {
    (void)state;
    const char *o = fmt("%s/qbad", tmp_root);
    /* usage errors (exit 2) */
    assert_int_equal(sh("q1", fmt("%s -q --quantize int8 tests/report/tiny.net", netc_bin)), 2);
    char *err = err_of("q1");
    assert_non_null(strstr(err, "--quantize goes with --deploy WEIGHTS"));
    free(err);
    assert_int_equal(sh("q0", fmt("%s -q -d quant --deploy '%s' --out-dir '%s' tests/report/tiny.net", netc_bin, weights, o)), 2);
    err = err_of("q0");
    assert_non_null(strstr(err, "-d quant goes with --quantize int8"));
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
        cmocka_unit_test(test_int8),           cmocka_unit_test(test_int8_bound),
        cmocka_unit_test(test_int8_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
