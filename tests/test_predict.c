/* test_predict.c: `predict --weights FILE IMAGE...`, for people and programs.
 *
 * Trains tests/report/tiny.net briefly (report/harness.h), then:
 *   - text: per image its path, then the top 5 classes, most probable first,
 *     probabilities summing to at most 100%;
 *   - --json: valid JSON (json_parse), one object per image with its path and
 *     the top 5 {index, class, p}; sorted, distinct, known classes (each
 *     index the class's place in the weights' order), sum <= 1; paths and
 *     class names with quotes and '&' survive the escaping; weights without
 *     class names give the same indices, with "class": null;
 *   - the top class and its probability are exactly the ones the training
 *     run's own evaluation of the test set gave (saved in last.ckpt), and the
 *     share of correct top-1 answers is what `test` prints;
 *   - a checkpoint works as --weights too; a missing or broken image, a
 *     truncated weights file and missing arguments give clear errors, after
 *     what was printed before them (stdout is flushed first);
 *   - `test` with another net's weights, and `train` with a missing
 *     pretrained file, fail before any image is decoded, naming the file and
 *     what to do;
 *   - `bench` takes its image counts as options (1,500 and 2,985 by default);
 *   - the probe's L2 penalty is the setting probe_l2. */
#include "report/harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "json.h"
#include "lda.h"

#define N_TRAIN 6
#define N_TEST 3
#define N_IMAGES (N_CLASSES * N_TEST)

static char run[512], weights[600];
static char *test_images[N_IMAGES]; /* in the order of the data set: class index, then file name */
static char *class_order[N_CLASSES]; /* the weights' class names, in their order */
static int test_labels[N_IMAGES];

static int class_index(const char *name) {
    for (int k = 0; k < N_CLASSES; k++)
        if (strcmp(class_dirs[k], name) == 0) return k;
    return -1;
}

static int setup(void **state) {
    (void)state;
    harness_init(N_TRAIN, N_TEST);
    snprintf(run, sizeof run, "%s/run", tmp_root);
    snprintf(weights, sizeof weights, "%s/weights.safetensors", run);
    const char *args[] = {"train", "--data", fmt("%s/data", tmp_root), "--out", run, "--epochs", "3", "--threads", "1", NULL};
    if (run_trainer(fmt("%s/train", tmp_root), args) != 0) return -1;
    /* the class order the trainer used: the weights file says it */
    StFile f;
    Error e;
    if (st_open(&f, weights, &e) < 0) return fprintf(stderr, "%s\n", e.msg), -1;
    char *classes = strdup(st_meta(&f, "classes"));
    st_close(&f);
    int n = 0, k = 0;
    for (char *save = NULL, *c = strtok_r(classes, "\n", &save); c && k < N_CLASSES; c = strtok_r(NULL, "\n", &save), k++) {
        class_order[k] = strdup(c);
        for (int i = 0; i < N_TEST; i++, n++) {
            test_images[n] = strdup(fmt("%s/data/test/%s/img_%02d.jpg", tmp_root, c, i));
            test_labels[n] = k;
        }
    }
    free(classes);
    return n == N_IMAGES ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    for (int i = 0; i < N_IMAGES; i++) free(test_images[i]);
    for (int k = 0; k < N_CLASSES; k++) free(class_order[k]);
    harness_cleanup();
    return 0;
}

/* Runs predict with the given options and images; returns its exit code and stdout/stderr. */
static int predict(const char *log, const char *const *opts, char *const *images, int n, char **out, char **err) {
    const char *args[64];
    int k = 0;
    args[k++] = "predict";
    for (int i = 0; opts[i]; i++) args[k++] = opts[i];
    for (int i = 0; i < n && k < 63; i++) args[k++] = images[i];
    args[k] = NULL;
    int rc = run_trainer(fmt("%s/%s", tmp_root, log), args);
    *out = slurp(fmt("%s/%s.out", tmp_root, log), NULL);
    *err = slurp(fmt("%s/%s.err", tmp_root, log), NULL);
    return rc;
}

static void text_output(void **state) {
    (void)state;
    char *imgs[] = {test_images[0], test_images[N_IMAGES - 1]}, *out, *err;
    const char *opts[] = {"--weights", weights, NULL};
    assert_int_equal(predict("text", opts, imgs, 2, &out, &err), 0);
    print_message("%s", out);
    char *line = out;
    for (int i = 0; i < 2; i++) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        assert_memory_equal(line, imgs[i], strlen(imgs[i])); /* the path, then five "  xx.x%  class" lines */
        line = nl + 1;
        double last = 101, sum = 0;
        for (int j = 0; j < 5; j++) {
            nl = strchr(line, '\n');
            assert_non_null(nl);
            *nl = 0;
            double p;
            int used;
            assert_int_equal(sscanf(line, " %lf%%  %n", &p, &used), 1);
            assert_true(class_index(line + used) >= 0);
            assert_true(p <= last && p >= 0);
            last = p, sum += p;
            line = nl + 1;
        }
        assert_true(sum <= 100.0 + 0.05 * 5);
    }
    assert_int_equal(*line, 0);
    free(out), free(err);
}

/* Parses predict --json output; checks its shape; fills top class and p per image. */
static void check_json(const char *out, char *const *images, int n, int *top, double *p_top) {
    JsonDoc doc;
    Error e;
    if (json_parse(&doc, out, strlen(out), NULL, &e) < 0) fail_msg("predict --json is not JSON: %s\n%s", e.msg, out);
    assert_int_equal(doc.root->type, JSON_ARRAY);
    assert_int_equal(doc.root->n, n);
    for (int i = 0; i < n; i++) {
        const Json *o = &doc.root->items[i], *img = json_get(o, "image"), *t5 = json_get(o, "top5");
        assert_non_null(img), assert_non_null(t5);
        assert_string_equal(img->str, images[i]);
        assert_int_equal(t5->type, JSON_ARRAY);
        assert_int_equal(t5->n, 5);
        double last = 2, sum = 0;
        int seen[N_CLASSES] = {0};
        for (int j = 0; j < 5; j++) {
            const Json *c = json_get(&t5->items[j], "class"), *p = json_get(&t5->items[j], "p");
            const Json *idx = json_get(&t5->items[j], "index");
            assert_non_null(c), assert_non_null(p), assert_non_null(idx);
            assert_int_equal(c->type, JSON_STRING);
            assert_int_equal(p->type, JSON_NUMBER);
            int64_t at;
            assert_int_equal(json_int64(idx, &at), JSON_INT_OK);
            assert_true(at >= 0 && at < N_CLASSES);
            assert_string_equal(c->str, class_order[at]); /* the index is the class's place in the weights' order */
            int k = class_index(c->str);
            assert_true(k >= 0);
            assert_false(seen[k]);
            seen[k] = 1;
            assert_true(p->number >= 0 && p->number <= last);
            last = p->number, sum += p->number;
            if (j == 0) top[i] = k, p_top[i] = p->number;
        }
        assert_true(sum <= 1 + 5e-6);
    }
    json_free(&doc);
}

static void json_output_matches_the_training_runs_evaluation(void **state) {
    (void)state;
    char *out, *err;
    const char *opts[] = {"--weights", weights, "--json", NULL};
    assert_int_equal(predict("json", opts, test_images, N_IMAGES, &out, &err), 0);
    int top[N_IMAGES];
    double p[N_IMAGES];
    check_json(out, test_images, N_IMAGES, top, p);
    /* images in folders named 'say "hi"' and 'kitchen & dining' came through */
    assert_non_null(strstr(out, "say \\\"hi\\\""));

    /* the run's last evaluation of the test set, as saved for the report */
    StFile f;
    Error e;
    if (st_open(&f, fmt("%s/last.ckpt", run), &e) < 0) fail_msg("%s", e.msg);
    const StTensor *tp = st_find(&f, "report.test_pred"), *tc = st_find(&f, "report.test_conf");
    assert_non_null(tp), assert_non_null(tc);
    assert_int_equal(st_numel(tp), N_IMAGES);
    const int32_t *pred = st_bytes(&f, tp);
    const float *conf = st_bytes(&f, tc);
    char *classes = strdup(st_meta(&f, "classes"));
    char *names[N_CLASSES];
    int k = 0;
    for (char *save = NULL, *c = strtok_r(classes, "\n", &save); c && k < N_CLASSES; c = strtok_r(NULL, "\n", &save)) names[k++] = c;
    int correct = 0;
    for (int i = 0; i < N_IMAGES; i++) {
        /* predict names classes; the evaluation numbers them in the file's order */
        assert_string_equal(class_dirs[top[i]], names[pred[i]]);
        assert_true(fabs(p[i] - conf[i]) <= 1e-6);
        correct += pred[i] == test_labels[i];
    }
    st_close(&f);
    free(classes), free(out), free(err);

    /* and `test` reports the same share of correct answers */
    const char *targs[] = {"test", "--weights", weights, "--data", fmt("%s/data", tmp_root), NULL};
    assert_int_equal(run_trainer(fmt("%s/test", tmp_root), targs), 0);
    char *tout = slurp(fmt("%s/test.out", tmp_root), NULL);
    assert_non_null(strstr(tout, fmt("top-1 %.2f%%", 100.0 * correct / N_IMAGES)));
    free(tout);
}

static void a_checkpoint_works_as_weights(void **state) {
    (void)state;
    char *imgs[] = {test_images[4]}, *out, *err, *out2, *err2;
    const char *opts[] = {"--weights", fmt("%s/last.ckpt", run), "--json", NULL};
    assert_int_equal(predict("ckpt", opts, imgs, 1, &out, &err), 0);
    const char *opts2[] = {"--weights", weights, "--json", NULL};
    assert_int_equal(predict("ckpt2", opts2, imgs, 1, &out2, &err2), 0);
    assert_string_equal(out, out2); /* last.ckpt and weights.safetensors hold the same weights */
    free(out), free(err), free(out2), free(err2);
}

static void bad_inputs_are_named(void **state) {
    (void)state;
    char *out, *err;
    /* one unreadable image among good ones: the others are still predicted, exit 1 */
    const char *notjpeg = fmt("%s/notes.jpg", tmp_root);
    write_bytes(notjpeg, "hello", 5);
    char missing[600];
    snprintf(missing, sizeof missing, "%s/missing.jpg", tmp_root);
    char *imgs[] = {test_images[0], (char *)strdup(notjpeg), missing, test_images[1]};
    const char *opts[] = {"--weights", weights, "--json", NULL};
    assert_int_equal(predict("bad", opts, imgs, 4, &out, &err), 1);
    print_message("%s", err);
    assert_non_null(strstr(err, notjpeg));
    assert_non_null(strstr(err, missing));
    assert_non_null(strstr(err, "2 of 4 images could not be read"));
    char *good[] = {test_images[0], test_images[1]};
    int top[2];
    double p[2];
    check_json(out, good, 2, top, p); /* still valid JSON with the readable ones */
    free(out), free(err), free(imgs[1]);

    /* truncated weights */
    size_t len;
    char *bytes = slurp(weights, &len);
    const char *cut = fmt("%s/cut.safetensors", tmp_root);
    write_bytes(cut, bytes, len / 2);
    free(bytes);
    const char *opts2[] = {"--weights", cut, NULL};
    assert_int_equal(predict("cut", opts2, good, 1, &out, &err), 1);
    assert_non_null(strstr(err, cut));
    assert_non_null(strstr(err, "truncated"));
    free(out), free(err);

    /* no weights, no images */
    const char *none[] = {NULL};
    assert_int_equal(predict("noweights", none, good, 1, &out, &err), 1);
    assert_non_null(strstr(err, "predict needs --weights FILE"));
    free(out), free(err);
    const char *opts3[] = {"--weights", weights, NULL};
    assert_int_equal(predict("noimages", opts3, good, 0, &out, &err), 1);
    assert_non_null(strstr(err, "predict needs image files"));
    free(out), free(err);
}

/* weights.safetensors without its "classes" metadata, as a file from elsewhere might be. */
static const char *weights_without_names(void) {
    static char path[700];
    snprintf(path, sizeof path, "%s/nameless.safetensors", tmp_root);
    copy_with_meta(weights, path, "classes", NULL);
    return path;
}

/* Without class names: the same classes by index, "class": null, "class K" in text. */
static void predict_without_class_names_gives_indices(void **state) {
    (void)state;
    char *imgs[] = {test_images[0], test_images[7], test_images[N_IMAGES - 1]}, *out, *err, *out2, *err2;
    const char *named[] = {"--weights", weights, "--json", NULL};
    assert_int_equal(predict("named", named, imgs, 3, &out, &err), 0);
    const char *nameless[] = {"--weights", weights_without_names(), "--json", NULL};
    assert_int_equal(predict("nameless", nameless, imgs, 3, &out2, &err2), 0);
    JsonDoc a, b;
    Error e;
    assert_int_equal(json_parse(&a, out, strlen(out), NULL, &e), 0);
    assert_int_equal(json_parse(&b, out2, strlen(out2), NULL, &e), 0);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 5; j++) {
            const Json *x = &json_get(&a.root->items[i], "top5")->items[j], *y = &json_get(&b.root->items[i], "top5")->items[j];
            int64_t ix, iy;
            assert_int_equal(json_int64(json_get(x, "index"), &ix), JSON_INT_OK);
            assert_int_equal(json_int64(json_get(y, "index"), &iy), JSON_INT_OK);
            assert_int_equal(ix, iy);
            assert_int_equal(json_get(y, "class")->type, JSON_NULL);
            assert_true(json_get(x, "p")->number == json_get(y, "p")->number);
        }
    json_free(&a), json_free(&b);
    assert_null(strstr(out2, "\"?\""));
    free(out), free(err), free(out2), free(err2);
    const char *text[] = {"--weights", weights_without_names(), NULL};
    assert_int_equal(predict("nameless_text", text, imgs, 1, &out, &err), 0);
    assert_non_null(strstr(out, "%  class "));
    free(out), free(err);
}

/* Runs tiny with ARGS, stdout and stderr into the one file <log>.all, as a
 * terminal or `2>&1` shows them; returns the exit code and the text. */
static int run_together(const char *log, const char *const *args, char **text) {
    fflush(stdout), fflush(stderr);
    char path[700];
    snprintf(path, sizeof path, "%s/%s.all", tmp_root, log);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) _exit(99);
        dup2(fd, 1), dup2(fd, 2);
        char *argv[32];
        int argc = 0;
        argv[argc++] = "tiny";
        for (int i = 0; args[i] && argc < 31; i++) argv[argc++] = (char *)args[i];
        argv[argc] = NULL;
        int rc = netc_main(argc, argv, &netc_tiny);
        fflush(stdout); /* as exit() would; what was printed before an error must have been flushed before it */
        _exit(rc);
    }
    int rc = wait_trainer(pid);
    *text = slurp(path, NULL);
    return rc;
}

/* Errors come after what was printed before them, not before. */
static void output_and_errors_keep_their_order(void **state) {
    (void)state;
    char missing[600], *text;
    snprintf(missing, sizeof missing, "%s/missing.jpg", tmp_root);
    const char *args[] = {"predict", "--weights", weights, test_images[0], missing, test_images[1], NULL};
    assert_int_equal(run_together("order", args, &text), 1);
    print_message("%s", text);
    const char *first = strstr(text, test_images[0]), *bad = strstr(text, "missing.jpg: cannot open"),
               *second = strstr(text, test_images[1]), *summary = strstr(text, "1 of 3 images could not be read");
    assert_non_null(first), assert_non_null(bad), assert_non_null(second), assert_non_null(summary);
    assert_true(first < bad && bad < second && second < summary);
    free(text);
}

/* Refused before any image is decoded: the data line never appears. */
static void wrong_weights_fail_before_the_data(void **state) {
    (void)state;
    /* weights of another net */
    char other_path[700];
    snprintf(other_path, sizeof other_path, "%s/simplenet.safetensors", tmp_root);
    copy_with_meta(weights, other_path, "netc.net", "simplenet");
    char *text;
    const char *args[] = {"test", "--weights", other_path, "--data", fmt("%s/data", tmp_root), NULL};
    assert_int_equal(run_together("other_net", args, &text), 1);
    print_message("%s", text);
    assert_null(strstr(text, "data:"));
    assert_non_null(strstr(text, fmt("netc: %s holds weights of net 'simplenet', not 'tiny'", other_path)));
    free(text);
    /* a pretrained file that is not there: the hint names that very file */
    static const char *const files[] = {"squeezenet1_0.safetensors", "alexnet.safetensors", "mine.safetensors"};
    static const char *const hints[] = {"HINT: data/get_weights.sh links the shipped ImageNet SqueezeNet 1.0 into weights/; or "
                                        "convert torchvision's checkpoint: python3 tools/pth2safetensors.py squeezenet1_0-b66bff10.pth ",
                                        "HINT: AlexNet's weights are not shipped; convert torchvision's checkpoint: python3 "
                                        "tools/pth2safetensors.py alexnet-owt-7be5be79.pth ",
                                        "HINT: make it from a PyTorch checkpoint: python3 tools/pth2safetensors.py MODEL.pth "};
    for (int i = 0; i < 3; i++) {
        char path[700];
        snprintf(path, sizeof path, "%s/nowhere/%s", tmp_root, files[i]);
        const char *train[] = {"train", "--data", fmt("%s/data", tmp_root), "--out", fmt("%s/nopre%d", tmp_root, i), "--pretrained",
                               path, NULL};
        assert_int_equal(run_together(fmt("nopre%d", i), train, &text), 1);
        assert_null(strstr(text, "data:"));
        assert_non_null(strstr(text, fmt("netc: pretrained weights %s not found", path)));
        assert_non_null(strstr(text, fmt("%s%s", hints[i], path)));
        free(text);
    }
}

/* bench's image counts and evaluation passes: options, by default 15-scene's
 * 1,500 and 2,985 images and as many passes as epochs. */
static void bench_image_counts_are_options(void **state) {
    (void)state;
    char *text;
    const char *args[] = {"bench", "--iters", "1", "--train-images", "100", "--test-images", "30", "--eval-passes", "3",
                          "--threads", "1", NULL};
    assert_int_equal(run_together("bench", args, &text), 0);
    assert_non_null(strstr(text, "\"train_images\": 100, \"test_images\": 30, \"epochs\": 1, \"eval_passes\": 3,"));
    free(text);
    const char *defaults[] = {"bench", "--iters", "1", "--threads", "1", NULL};
    assert_int_equal(run_together("bench_default", defaults, &text), 0);
    assert_non_null(strstr(text, "\"train_images\": 1500, \"test_images\": 2985, \"epochs\": 1, \"eval_passes\": 1,"));
    free(text);
    const char *no_passes[] = {"bench", "--eval-passes", "0", NULL};
    assert_int_equal(run_together("bench_no_passes", no_passes, &text), 2);
    assert_non_null(strstr(text, "--eval-passes needs a whole number from 1 to 10000000, got '0'"));
    free(text);
    const char *bad[] = {"bench", "--train-images", "0", NULL};
    assert_int_equal(run_together("bench_bad", bad, &text), 2);
    assert_non_null(strstr(text, "--train-images needs a whole number from 1 to 10000000, got '0'"));
    free(text);
}

/* probe's training loss with the penalty `l2`, from its line of output. */
static double probe_train_loss(const char *log, const char *l2) {
    char *text;
    const char *args[] = {"probe", "--at", "p2", "--weights", weights, "--data", fmt("%s/data", tmp_root),
                          "--threads", "1", "--probe_l2", l2, NULL};
    assert_int_equal(run_together(log, args, &text), 0);
    print_message("%s", strstr(text, "probe at") ? strstr(text, "probe at") : text);
    double top1 = -1, loss = -1, shown = -1;
    const char *at = strstr(text, "train top-1 ");
    assert_non_null(at);
    assert_int_equal(sscanf(at, "train top-1 %lf%% (loss %lf, probe_l2 %lf)", &top1, &loss, &shown), 3);
    assert_true(shown == atof(l2));
    free(text);
    return loss;
}

/* The probe's L2 penalty is the setting probe_l2 (init_head probe uses it
 * too): unpenalised, the linear fit on p2's 8 pooled features reaches a lower
 * training loss than under a penalty that holds every weight near zero,
 * where every class gets about the same probability (loss near ln 15 = 2.708). */
static void probe_l2_is_the_probes_penalty(void **state) {
    (void)state;
    double loose = probe_train_loss("probe_loose", "0"), tight = probe_train_loss("probe_tight", "100");
    assert_true(tight > 2.6 && tight < 2.75);
    assert_true(loose < tight - 0.2);
    char *text;
    const char *bad[] = {"probe", "--at", "p2", "--probe_l2", "-1", NULL};
    assert_int_equal(run_together("probe_bad", bad, &text), 2);
    assert_non_null(strstr(text, "setting 'probe_l2' = -1 is out of range; allowed 0 to 100"));
    free(text);
}

/* probe_fit lda: the probe says what cross-validation chose (a shrinkage of
 * the grid and a temperature, with the held-out figures) or the shrinkage it
 * was given; a method it does not know is named with the ones it does. */
static void probe_lda_says_what_it_chose(void **state) {
    (void)state;
    char *text;
    const char *args[] = {"probe", "--at", "p2", "--weights", weights, "--data", fmt("%s/data", tmp_root),
                          "--threads", "1", "--probe_fit", "lda", NULL};
    assert_int_equal(run_together("probe_lda", args, &text), 0);
    print_message("%s", strstr(text, "probe at") ? strstr(text, "probe at") : text);
    const char *at = strstr(text, "train top-1 ");
    assert_non_null(at);
    double top1, shrink, temperature, loss, cv_top1;
    assert_int_equal(sscanf(at, "train top-1 %lf%% by shrinkage LDA (shrinkage %lf and temperature %lf, chosen by 5-fold "
                                "cross-validation on the training images: held-out loss %lf, top-1 %lf%%)",
                            &top1, &shrink, &temperature, &loss, &cv_top1), 5);
    int in_grid = 0;
    for (int i = 0; i < LDA_GRID; i++) in_grid |= fabs(shrink - lda_grid[i]) < 1e-6;
    assert_true(in_grid);
    assert_true(temperature > 0.01 && temperature < 100 && loss > 0 && cv_top1 >= 0 && cv_top1 <= 100);
    free(text);
    const char *given[] = {"probe", "--at", "p2", "--weights", weights, "--data", fmt("%s/data", tmp_root),
                           "--threads", "1", "--probe_fit", "lda", "--probe_shrink", "0.5", NULL};
    assert_int_equal(run_together("probe_lda_given", given, &text), 0);
    assert_non_null(strstr(text, "by shrinkage LDA (probe_shrink 0.5), test top-1 "));
    free(text);
    const char *bad[] = {"probe", "--at", "p2", "--probe_fit", "svm", NULL};
    assert_int_equal(run_together("probe_fit_bad", bad, &text), 2);
    assert_non_null(strstr(text, "setting 'probe_fit' is one of logistic|lda, got 'svm'"));
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(text_output),
        cmocka_unit_test(json_output_matches_the_training_runs_evaluation),
        cmocka_unit_test(a_checkpoint_works_as_weights),
        cmocka_unit_test(bad_inputs_are_named),
        cmocka_unit_test(predict_without_class_names_gives_indices),
        cmocka_unit_test(output_and_errors_keep_their_order),
        cmocka_unit_test(wrong_weights_fail_before_the_data),
        cmocka_unit_test(bench_image_counts_are_options),
        cmocka_unit_test(probe_l2_is_the_probes_penalty),
        cmocka_unit_test(probe_lda_says_what_it_chose),
    };
    alarm(300); /* a hung trainer fails the test instead of stalling CI */
    return cmocka_run_group_tests_name("predict", tests, setup, teardown);
}
