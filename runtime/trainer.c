/* trainer.c: netc_main, the command line every generated trainer shares.
 *
 *   train    train, evaluate each epoch, checkpoint, report
 *   test     evaluate saved weights on the test split
 *   predict  top-5 classes of image files
 *   dump     one forward and backward pass on a given batch, every gradient saved
 *   probe    Strategy A: a linear classifier on features from a named layer
 *   report   the shape report and the settings
 *
 * Settings come from the table in config.c: the net's file, then the command
 * line (--KEY VALUE or --set KEY=VALUE for any key). */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dist.h"
#include "json.h"
#include "model.h"
#include "probe.h"
#include "profile.h"
#include "safetensors.h"
#include "train.h"

typedef struct {
    const char *command;
    const char *weights, *input, *output, *resume, *at;
    int iters;
    int train_images, test_images; /* bench: images per epoch and per evaluation pass */
    int eval_passes;               /* bench: evaluation passes (default: as many as epochs) */
    bool json, force, quiet, check_folds;
    const char **images;
    int n_images;
    const char **settings; /* key, value, ..., NULL: the command line's, applied last */
    int n_settings;
} Args;

static void usage(const NetcNet *net, FILE *f) {
    fprintf(f,
            "usage: %s COMMAND [options]\n"
            "\n"
            "  train    [--data DIR] [--epochs N] [--lr X] [--batch N] [--seed N] [--out DIR]\n"
            "           [--threads N] [--resume DIR] [--force] [--quiet]\n"
            "  test     --weights FILE [--data DIR]\n"
            "  predict  --weights FILE [--json] IMAGE...\n"
            "  dump     [--weights FILE] --input FILE --out FILE\n"
            "  probe    --at LAYER [--weights FILE] [--data DIR]\n"
            "  profile  [--iters N] [--check-folds]   time each layer's forward and backward, and each\n"
            "           evaluation fold against what it replaces (--check-folds: fail where one is slower);\n"
            "           under mpirun: a data-parallel step's compute and allreduce, with and without overlap\n"
            "  bench    [--iters N] [--eval-passes N] [--train-images N] [--test-images N]\n"
            "           time N epochs (1500 images) and N test passes (2985; --eval-passes: that many) on random data\n"
            "           in memory, the best of each counted (JSON; see bench/run)\n"
            "  report   the shape report and the settings\n"
            "\n"
            "Any setting can be overridden: --KEY VALUE (--flip on, --schedule cosine) or --set KEY=VALUE.\n"
            "Settings (and their values from %s):\n",
            net->name, net->source);
    Config c;
    config_defaults(&c);
    Error e;
    config_apply(&c, net->settings, &e);
    char buf[1100];
    for (int i = 0; i < config_nkeys; i++) {
        config_format(&c, config_keys[i].key, buf, sizeof buf);
        fprintf(f, "  %-16s %-14s %s\n", config_keys[i].key, buf[0] ? buf : "\"\"", config_keys[i].help);
    }
}

static int add_setting(Args *a, const char *key, const char *value, Error *e) {
    Config scratch; /* checked now, so a typo fails before any work */
    config_defaults(&scratch);
    if (config_set(&scratch, key, value, e) < 0) return -1;
    a->settings[a->n_settings++] = key;
    a->settings[a->n_settings++] = value;
    return 0;
}

/* Splits argv into options of ours, settings and positional images. */
static int parse_args(int argc, char **argv, const NetcNet *net, Args *a, Error *e) {
    memset(a, 0, sizeof *a);
    a->images = xcalloc((size_t)argc, sizeof(char *));
    a->settings = xcalloc(2 * (size_t)argc + 1, sizeof(char *));
    if (argc < 2) return errorf(e, "no command given"), error_hint(e, "%s help lists the commands", argv[0]);
    a->command = argv[1];
    static const char *const commands[] = {"train", "test", "predict", "dump", "probe", "profile", "bench", "report", "help", NULL};
    int known = 0;
    for (int i = 0; commands[i]; i++) known |= strcmp(commands[i], a->command) == 0;
    if (strcmp(a->command, "--help") == 0 || strcmp(a->command, "-h") == 0) a->command = "help", known = 1;
    if (!known) {
        errorf(e, "unknown command '%s'", a->command);
        return error_hint(e, "commands: train, test, predict, dump, probe, profile, bench, report, help");
    }
    for (int i = 2; i < argc; i++) {
        const char *s = argv[i];
        if (strncmp(s, "--", 2) != 0) {
            a->images[a->n_images++] = s;
            continue;
        }
        const char *key = s + 2;
        if (strcmp(key, "json") == 0) a->json = true;
        else if (strcmp(key, "force") == 0) a->force = true;
        else if (strcmp(key, "quiet") == 0) a->quiet = true;
        else if (strcmp(key, "check-folds") == 0) a->check_folds = true;
        else if (strcmp(key, "help") == 0) a->command = "help";
        else {
            if (i + 1 >= argc) return errorf(e, "option %s needs a value", s);
            const char *v = argv[++i];
            if (strcmp(key, "weights") == 0) a->weights = v;
            else if (strcmp(key, "input") == 0) a->input = v;
            else if (strcmp(key, "resume") == 0) a->resume = v;
            else if (strcmp(key, "at") == 0) a->at = v;
            else if (strcmp(key, "iters") == 0 || strcmp(key, "train-images") == 0 || strcmp(key, "test-images") == 0 ||
                     strcmp(key, "eval-passes") == 0) {
                char *end;
                long n = strtol(v, &end, 10);
                if (end == v || *end || n < 1 || n > 10000000)
                    return errorf(e, "%s needs a whole number from 1 to 10000000, got '%s'", s, v);
                *(strcmp(key, "iters") == 0          ? &a->iters
                  : strcmp(key, "train-images") == 0 ? &a->train_images
                  : strcmp(key, "test-images") == 0  ? &a->test_images
                                                     : &a->eval_passes) = (int)n;
            }
            else if (strcmp(key, "out") == 0 && strcmp(a->command, "dump") == 0) a->output = v;
            else if (strcmp(key, "set") == 0) {
                char k[128];
                const char *eq = strchr(v, '=');
                if (!eq || eq == v || (size_t)(eq - v) >= sizeof k)
                    return errorf(e, "--set takes KEY=VALUE, got '%s'", v), error_hint(e, "e.g. --set flip=on");
                memcpy(k, v, (size_t)(eq - v));
                k[eq - v] = 0;
                const ConfigKey *ck = config_key(k);
                if (!ck) return config_set(NULL, k, eq + 1, e);
                if (add_setting(a, ck->key, eq + 1, e) < 0) return -1;
            } else if (add_setting(a, key, v, e) < 0) {
                if (!config_key(key)) {
                    errorf(e, "unknown option '%s'", s);
                    const char *sug = config_suggest(key);
                    return sug ? error_hint(e, "did you mean --%s?", sug) : error_hint(e, "%s help lists the options", net->name);
                }
                return -1;
            }
        }
    }
    (void)net;
    return 0;
}

static const char *find_free_out(const char *name) {
    static char path[900];
    struct stat st;
    for (int k = 1; k < 10000; k++) {
        if (k == 1) snprintf(path, sizeof path, "runs/%s", name);
        else snprintf(path, sizeof path, "runs/%s-%d", name, k);
        if (stat(path, &st) != 0) return path;
    }
    return path;
}

static void print_settings(const Run *r) {
    const Config *c = &r->cfg;
    char buf[1100];
    printf("\nsettings (the .net file's, then the command line's):\n");
    for (int i = 0; i < config_nkeys; i++) {
        config_format(c, config_keys[i].key, buf, sizeof buf);
        printf("  %-16s %s\n", config_keys[i].key, buf);
    }
    printf("normalisation: mean %.4g %.4g %.4g, std %.4g %.4g %.4g%s\n", r->mean[0], r->mean[1], r->mean[2], r->std[0],
           r->std[1], r->std[2], c->normalize_auto ? " (from the training images)" : "");
    printf("threads: %d (OpenMP; OpenBLAS runs inside it)%s\n", c->threads, dist.size > 1 ? " in each process" : "");
    if (dist.size > 1)
        printf("processes: %d on %d host%s (mpirun), each with %d or %d images of every batch of %d; batch norm statistics "
               "%s; gradients summed in buckets of %g MB\n",
               dist.size, dist.hosts, dist.hosts == 1 ? "" : "s", c->batch / dist.size, (c->batch + dist.size - 1) / dist.size,
               c->batch, c->sync_bn ? "over the whole batch (sync_bn on)" : "over each process's share (sync_bn off)",
               c->bucket_mb);
}

/* A last.ckpt that cannot be read. The trainer writes checkpoints atomically,
 * so this is a copy cut short or a damaged disk: say what can still be done. */
static int damaged_checkpoint(Error *e, const char *dir) {
    char *hint = strstr(e->msg, "\n  HINT:");
    if (hint) *hint = 0;
    return error_hint(e, "%s/best.ckpt may still be whole: copy it over last.ckpt to resume from its epoch, or start again "
                         "with --out %s --force",
                      dir, dir);
}

/* The run's folder and settings: a resumed run's own, then the command
 * line's. Under mpirun rank 0 decides (the run folder is on its disk). */
static int train_folder(const NetcNet *net, Config *cfg, const Args *a, Error *e) {
    if (a->resume) { /* the run's own settings, then the command line's (e.g. more --epochs) */
        char path[1200];
        snprintf(path, sizeof path, "%s/last.ckpt", a->resume);
        struct stat ck;
        if (stat(path, &ck) != 0) {
            errorf(e, "%s does not exist: there is nothing to resume", path);
            return error_hint(e, "a run folder has one once its first epoch has ended (or it was stopped with Ctrl-C); "
                                 "to start again there: --out %s --force",
                              a->resume);
        }
        if (checkpoint_apply_settings(cfg, path, e) < 0) return damaged_checkpoint(e, a->resume);
        Config started = *cfg;
        if (config_apply(cfg, a->settings, e) < 0) return -1;
        if (cfg->val_split != started.val_split || cfg->val_fold != started.val_fold || cfg->seed != started.seed) {
            /* they decide the validation set */
            errorf(e, "%s was started with val_split %g, val_fold %d and seed %llu; a resumed run keeps them", a->resume,
                   started.val_split, started.val_fold, (unsigned long long)started.seed);
            return error_hint(e, "drop --val_split, --val_fold and --seed, or start a new run (--out DIR)");
        }
    }
    bool explicit_out = cfg->out[0] != 0;
    char out[sizeof cfg->out];
    snprintf(out, sizeof out, "%s", a->resume ? a->resume : explicit_out ? cfg->out : find_free_out(net->name));
    memcpy(cfg->out, out, sizeof out);
    char probe_path[1200];
    struct stat st;
    snprintf(probe_path, sizeof probe_path, "%s/metrics.csv", out);
    if (!a->resume && explicit_out && !a->force && stat(probe_path, &st) == 0) {
        errorf(e, "%s holds a previous run", out);
        return error_hint(e, "--resume %s continues it; --force overwrites it; another --out starts elsewhere", out);
    }
    return make_dirs(out, e);
}

static int cmd_train(const NetcNet *net, Config *cfg, const Args *a, Error *e) {
    Run r;
    if (dist_agree(dist.rank == 0 ? train_folder(net, cfg, a, e) : 0, e) < 0) return -1;
    dist_bcast(cfg, sizeof *cfg); /* rank 0's settings and run folder, to every process */
    const char *out = cfg->out;
    if (dist_agree(run_setup(&r, net, cfg, true, cfg->test, e), e) < 0) {
        run_free(&r);
        return -1;
    }
    r.quiet = a->quiet || dist.rank != 0;
    snprintf(r.out, sizeof r.out, "%s", out);
    if (a->resume) { /* rank 0 reads the checkpoint; run_share_state below gives it to the others */
        char path[1200];
        snprintf(path, sizeof path, "%s/last.ckpt", a->resume);
        if (dist_agree(dist.rank == 0 ? checkpoint_load(&r, path, e) : 0, e) < 0) {
            run_free(&r);
            return -1;
        }
        if (!r.quiet) printf("resumed %s at epoch %d, batch %d\n", path, r.epoch, r.batch);
    }
    if (!r.quiet) {
        printf("\n%s", net->report);
        print_settings(&r);
        printf("run folder: %s\n", out);
    }
    if (!a->resume && r.cfg.init_head && dist_agree(dist.rank == 0 ? probe_init_head(&r, e) : 0, e) < 0) {
        run_free(&r);
        return -1;
    }
    run_share_state(&r);
    int rc = run_train(&r, e);
    if (rc == 0 && !r.quiet) {
        int best = run_best_epoch(&r);
        printf("\nweights: %s/weights.safetensors (last), checkpoints: %s/last.ckpt, %s/best.ckpt (epoch %d, by %s)\n", out, out,
               out, best, r.have_val ? "validation top-1" : "training loss");
        if (r.have_val && best)
            printf("best validation top-1: %.2f%% (%d images) at epoch %d; its test top-1: generated/%s test --weights %s/best.ckpt\n",
                   r.rows[best - 1].val_top1, r.val.n, best, net->name, out);
        if (r.n_rows && r.rows[r.n_rows - 1].test_top1 >= 0)
            printf("final test top-1: %.2f%% (%d images), mean per class %.2f%%\n", r.rows[r.n_rows - 1].test_top1, r.test.n,
                   r.rows[r.n_rows - 1].test_mean_class);
    }
    run_free(&r);
    return rc;
}

static int cmd_test(const NetcNet *net, Config *cfg, const Args *a, Error *e) {
    if (!a->weights) return errorf(e, "test needs --weights FILE"), error_hint(e, "e.g. --weights runs/%s/weights.safetensors", net->name);
    Run r;
    float mean[3], std[3];
    char **classes;
    int n_classes;
    int has_norm = weights_meta(a->weights, mean, std, &classes, &n_classes, e);
    if (has_norm < 0) return dist_agree(-1, e);
    /* under mpirun every process reads the weights and evaluates its share of the test set */
    if (dist_agree(checkpoint_apply_settings(cfg, a->weights, e) < 0 || config_apply(cfg, a->settings, e) < 0 ? -1 : 0, e) < 0) {
        for (int i = 0; i < n_classes; i++) free(classes[i]);
        free(classes);
        return -1;
    }
    if (has_norm) cfg->normalize_auto = 0; /* the training run's numbers, not recomputed */
    cfg->pretrained[0] = 0;                /* every weight comes from the file */
    /* the weights are read (and refused if they are another net's) before any image is decoded */
    float *params = xalloc_floats((size_t)net->param_floats);
    Model weights = {.net = net, .params = params}; /* model_load_weights fills params only */
    int rc = dist_agree(model_load_weights(&weights, a->weights, e), e);
    if (rc == 0) rc = dist_agree(run_setup(&r, net, cfg, false, true, e), e);
    else memset(&r, 0, sizeof r);
    if (rc == 0 && has_norm) memcpy(r.mean, mean, sizeof mean), memcpy(r.std, std, sizeof std);
    if (rc == 0) memcpy(r.model->params, params, sizeof(float) * (size_t)net->param_floats);
    free(params);
    if (rc == 0) {
        double t0 = now_seconds();
        run_evaluate(&r, &r.test, &r.test_m, NULL, NULL);
        double dt = now_seconds() - t0;
        if (dist.rank == 0) { /* under mpirun every process has the sums: rank 0 prints them */
            printf("%s on %s/test (%d images): loss %.4f, top-1 %.2f%%, top-5 %.2f%%, mean per class %.2f%% (%.1f s, %.0f img/s)\n",
                   a->weights, cfg->data, r.test.n, metrics_loss(&r.test_m), metrics_top1(&r.test_m), metrics_top5(&r.test_m),
                   metrics_mean_class(&r.test_m), dt, r.test.n / dt);
            printf("per class top-1:\n");
            for (int c = 0; c < net->classes; c++) printf("  %-16s %6.2f%%\n", r.test.class_names[c], metrics_class_acc(&r.test_m, c));
        }
    }
    for (int i = 0; i < n_classes; i++) free(classes[i]);
    free(classes);
    run_free(&r);
    return rc;
}

static int cmd_predict(const NetcNet *net, Config *cfg, const Args *a, Error *e) {
    if (!a->weights) return errorf(e, "predict needs --weights FILE");
    if (!a->n_images) return errorf(e, "predict needs image files"), error_hint(e, "predict --weights FILE a.jpg b.jpg");
    float mean[3] = {0, 0, 0}, std[3] = {1, 1, 1};
    char **classes;
    int n_classes;
    if (weights_meta(a->weights, mean, std, &classes, &n_classes, e) < 0 ||
        checkpoint_apply_settings(cfg, a->weights, e) < 0 || config_apply(cfg, a->settings, e) < 0)
        return -1;
    if (cfg->threads <= 0) cfg->threads = omp_get_num_procs();
    omp_set_num_threads(cfg->threads);
    Model *m = model_new(net, 1, cfg->threads);
    int rc = model_load_weights(m, a->weights, e);
    int w = cfg->resize_w ? cfg->resize_w : net->in_w, h = cfg->resize_h ? cfg->resize_h : net->in_h;
    Dataset one = {.n = 1, .w = w, .h = h, .c = net->in_c, .n_classes = net->classes};
    one.pixels = xmalloc((size_t)w * (size_t)h * (size_t)net->in_c);
    int label = 0, idx = 0, failed = 0;
    one.labels = &label;
    if (a->json && rc == 0) printf("[");
    for (int i = 0; rc == 0 && i < a->n_images; i++) {
        Error ie;
        if (image_load(a->images[i], w, h, net->in_c, one.pixels, &ie) < 0) {
            fflush(stdout); /* the images before it come first when both go to one place */
            fprintf(stderr, "netc: %s\n", ie.msg);
            failed++;
            continue;
        }
        batch_fill(m->input, net->in_c, net->in_h, net->in_w, m->batch, &one, &idx, 1, cfg, mean, std, 0, 0, cfg->seed, 0);
        net->forward(m, 1, 0);
        float p[4096];
        int k = net->classes < 4096 ? net->classes : 4096;
        memcpy(p, m->probs, sizeof(float) * (size_t)k);
        if (cfg->tta == TTA_FLIP) {
            batch_fill(m->input, net->in_c, net->in_h, net->in_w, m->batch, &one, &idx, 1, cfg, mean, std, 0, 1, cfg->seed, 0);
            net->forward(m, 1, 0);
            for (int c = 0; c < k; c++) p[c] = 0.5f * (p[c] + m->probs[c]);
        }
        int top[5], nt = k < 5 ? k : 5;
        top_k(p, k, nt, top);
        if (a->json) { /* [{"image": PATH, "top5": [{"index": K, "class": NAME or null, "p": PROBABILITY}, ...]}, ...] */
            JsonBuf j = {0};
            jbuf_puts(&j, i - failed ? ",\n {\"image\": " : "\n {\"image\": ");
            jbuf_string(&j, a->images[i], strlen(a->images[i]));
            jbuf_puts(&j, ", \"top5\": [");
            for (int t = 0; t < nt; t++) {
                jbuf_printf(&j, "%s{\"index\": %d, \"class\": ", t ? ", " : "", top[t]);
                if (top[t] < n_classes) jbuf_string(&j, classes[top[t]], strlen(classes[top[t]]));
                else jbuf_puts(&j, "null"); /* weights without class names */
                jbuf_printf(&j, ", \"p\": %.6f}", p[top[t]]);
            }
            jbuf_puts(&j, "]}");
            fputs(j.data, stdout);
            jbuf_free(&j);
        } else {
            printf("%s\n", a->images[i]);
            for (int j = 0; j < nt; j++) {
                if (top[j] < n_classes) printf("  %5.1f%%  %s\n", 100 * p[top[j]], classes[top[j]]);
                else printf("  %5.1f%%  class %d\n", 100 * p[top[j]], top[j]);
            }
        }
    }
    if (a->json && rc == 0) printf("\n]\n");
    for (int i = 0; i < n_classes; i++) free(classes[i]);
    free(classes), free(one.pixels);
    model_free(m);
    if (rc == 0 && failed) return errorf(e, "%d of %d images could not be read", failed, a->n_images);
    return rc;
}

/* dump: forward and backward on a given batch, everything saved. */
static int cmd_dump(const NetcNet *net, Config *cfg, const Args *a, Error *e) {
    if (!a->input || !a->output)
        return errorf(e, "dump needs --input FILE and --out FILE"),
               error_hint(e, "the input file is safetensors with 'input' F32 [n][%d][%d][%d] and optional 'labels' [n]", net->in_c,
                          net->in_h, net->in_w);
    StFile in;
    if (st_open(&in, a->input, e) < 0) return -1;
    const StTensor *x = st_find(&in, "input"), *y = st_find(&in, "labels");
    int rc = -1;
    Model *m = NULL;
    int *labels = NULL;
    float *nchw = NULL, *logits = NULL;
    if (!x || x->ndim != 4 || x->shape[1] != net->in_c || x->shape[2] != net->in_h || x->shape[3] != net->in_w || x->shape[0] < 1 ||
        x->shape[0] > 65536) {
        errorf(e, "%s: needs a tensor 'input' of shape [n, %d, %d, %d]", a->input, net->in_c, net->in_h, net->in_w);
        goto out;
    }
    int n = (int)x->shape[0];
    if (cfg->threads <= 0) cfg->threads = omp_get_num_procs();
    omp_set_num_threads(cfg->threads);
    m = model_new(net, n, cfg->threads);
    model_init(m, cfg->seed);
    m->label_smoothing = cfg->label_smoothing, m->bn_momentum = cfg->bn_momentum, m->seed = cfg->seed;
    if (a->weights && model_load_weights(m, a->weights, e) < 0) goto out;
    nchw = xmalloc(sizeof(float) * (size_t)n * net->in_c * net->in_h * net->in_w);
    if (st_read_f32(&in, x, nchw, (size_t)n * net->in_c * net->in_h * net->in_w, e) < 0) goto out;
    model_put_input(m, nchw, n);
    labels = xcalloc((size_t)n, sizeof(int));
    if (y) {
        if (st_numel(y) != n || (strcmp(y->dtype, "I64") && strcmp(y->dtype, "I32"))) {
            errorf(e, "%s: 'labels' must be I64 or I32 with %d entries", a->input, n);
            goto out;
        }
        const uint8_t *raw = st_bytes(&in, y);
        for (int i = 0; i < n; i++) {
            int64_t v64; /* safetensors does not align tensors: copy, never dereference */
            int32_t v32;
            if (strcmp(y->dtype, "I64") == 0) memcpy(&v64, raw + 8 * (size_t)i, 8);
            else memcpy(&v32, raw + 4 * (size_t)i, 4), v64 = v32;
            long long v = v64;
            if (v < 0 || v >= net->classes) {
                errorf(e, "%s: label %lld of image %d is not a class (0..%d)", a->input, v, i, net->classes - 1);
                goto out;
            }
            labels[i] = (int)v;
        }
    }
    m->labels = labels;
    net->forward(m, n, 1);
    net->backward(m, n);
    {
        int cap = net->n_tensors * 2 + 4, k = 0;
        StWrite *w = xcalloc((size_t)cap, sizeof *w);
        char **names = xcalloc((size_t)cap, sizeof(char *));
        float loss = m->loss;
        logits = xmalloc(sizeof(float) * (size_t)n * net->classes);
        model_get_logits(m, logits, n);
        w[k++] = (StWrite){"logits", "F32", 2, {n, net->classes}, logits, sizeof(float) * (size_t)n * net->classes};
        w[k++] = (StWrite){"probs", "F32", 2, {n, net->classes}, m->probs, sizeof(float) * (size_t)n * net->classes};
        w[k++] = (StWrite){"loss", "F32", 1, {1}, &loss, sizeof(float)};
        for (int i = 0; i < net->n_tensors; i++) {
            const NetcTensor *t = &net->tensors[i];
            const float *src = t->trainable ? m->grads : m->params; /* statistics: their updated values */
            if (asprintf(&names[k], "%s%s", t->trainable ? "grad." : "", t->name) < 0) goto out;
            if (!t->trainable && t->role != ROLE_RUNNING_MEAN && t->role != ROLE_RUNNING_VAR) {
                free(names[k]);
                names[k] = NULL;
                continue;
            }
            w[k] = (StWrite){names[k], "F32", t->ndim, {0}, src + t->offset, sizeof(float) * (size_t)t->size};
            for (int d = 0; d < t->ndim; d++) w[k].shape[d] = t->shape[d];
            k++;
        }
        const char *meta[] = {"netc.net", net->name, "netc.kind", "dump", NULL};
        rc = st_write(a->output, w, k, meta, e);
        if (rc == 0) printf("wrote %s: logits, probs, loss %.6f and %d tensors\n", a->output, loss, k - 3);
        for (int i = 0; i < k; i++) free(names[i]);
        free(names), free(w);
    }
out:
    free(labels), free(nchw), free(logits);
    model_free(m);
    st_close(&in);
    return rc;
}

int netc_main(int argc, char **argv, const NetcNet *net) {
    Error e;
    if (net->abi != NETC_ABI) {
        fprintf(stderr, "netc: %s was generated for runtime ABI %d, this runtime is %d\n  HINT: run netc on %s again\n",
                net->name, net->abi, NETC_ABI, net->source);
        return 2;
    }
    if (dist_init(&argc, &argv, &e) < 0) {
        fprintf(stderr, "netc: %s\n", e.msg);
        return 2;
    }
    Config cfg;
    config_defaults(&cfg);
    Args a = {0};
    int rc = 0;
    if (config_apply(&cfg, net->settings, &e) < 0) {
        if (dist.rank == 0) fprintf(stderr, "netc: %s's settings: %s\n", net->source, e.msg);
        rc = 2;
    } else if (parse_args(argc, argv, net, &a, &e) < 0 || config_apply(&cfg, a.settings, &e) < 0) {
        if (dist.rank == 0) fprintf(stderr, "netc: %s\n", e.msg);
        rc = 2;
    } else if (dist.size > 1 && strcmp(a.command, "train") && strcmp(a.command, "test") && strcmp(a.command, "profile")) {
        /* the others are one process's work */
        if (dist.rank == 0)
            fprintf(stderr, "netc: %s runs in one process, not under mpirun (it started %d)\n  HINT: run %s %s without mpirun\n",
                    a.command, dist.size, argv[0], a.command);
        rc = 2;
    } else if (strcmp(a.command, "help") == 0) usage(net, stdout);
    else if (strcmp(a.command, "report") == 0) {
        printf("%s", net->report);
        config_print(&cfg, stdout);
    } else if (strcmp(a.command, "train") == 0) rc = cmd_train(net, &cfg, &a, &e);
    else if (strcmp(a.command, "test") == 0) rc = cmd_test(net, &cfg, &a, &e);
    else if (strcmp(a.command, "predict") == 0) rc = cmd_predict(net, &cfg, &a, &e);
    else if (strcmp(a.command, "dump") == 0) rc = cmd_dump(net, &cfg, &a, &e);
    else if (strcmp(a.command, "probe") == 0) rc = cmd_probe(net, &cfg, a.at, a.weights, &e);
    else if (strcmp(a.command, "profile") == 0 && dist.size > 1) rc = dist_agree(cmd_profile_dist(net, &cfg, a.iters ? a.iters : 10, &e), &e);
    else if (strcmp(a.command, "profile") == 0) rc = cmd_profile(net, &cfg, a.iters ? a.iters : 10, a.check_folds, &e);
    else if (strcmp(a.command, "bench") == 0) { /* by default the sizes of 15-scene's training and test sets */
        int epochs = a.iters ? a.iters : 2;
        rc = cmd_bench(net, &cfg, epochs, a.eval_passes ? a.eval_passes : epochs, a.train_images ? a.train_images : 1500,
                       a.test_images ? a.test_images : 2985, &e);
    }
    free(a.images), free(a.settings);
    fflush(stdout); /* what was printed comes before the error, also when both go to one file */
    if (rc < 0 && e.msg[0]) fprintf(stderr, "netc: %s\n", e.msg); /* under mpirun, from the rank that should say it (dist_agree) */
    /* before any process exits: mpirun ends the job when the first exits with an error */
    fflush(stderr);
    if (rc != 0) dist_barrier();
    dist_finalize();
    return rc == 130 || rc == 2 ? rc : rc < 0 ? 1 : 0;
}
