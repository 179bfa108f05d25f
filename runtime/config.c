/* config.c: the settings table and its parser (see config.h). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BIG 1e30

/* key, section, type, words, min, max, default, help */
const ConfigKey config_keys[] = {
    {"data", "train", CFG_PATH, 0, 0, 0, "data/15scene", "data folder with train/ and test/, one sub-folder per class"},
    {"out", "train", CFG_PATH, 0, 0, 0, "", "run folder for metrics, checkpoints and report.html (default runs/<net>)"},
    {"pretrained", "train", CFG_PATH, 0, 0, 0, "", "safetensors file that layers with `load` read their weights from"},
    {"epochs", "train", CFG_INT, 0, 0, 100000, "30", "passes over the training set"},
    {"batch", "train", CFG_INT, 0, 1, 4096, "50", "images per mini-batch"},
    {"seed", "train", CFG_INT, 0, 0, 1e18, "1", "seed of every random choice (initialisation, shuffles, augmentation, dropout)"},
    {"threads", "train", CFG_INT, 0, 0, 256, "0", "worker threads (0: all cores)"},
    {"eval_every", "train", CFG_INT, 0, 0, 100000, "1", "evaluate on the test set every N epochs (0: only at the end)"},
    {"test", "train", CFG_BOOL, 0, 0, 0, "on", "off: never evaluate on the test set (runs that choose a recipe on validation)"},
    {"val_split", "train", CFG_FLOAT, 0, 0, 0.9, "0",
     "fraction of each class's training images held out for validation (chosen by the seed, never augmented)"},
    {"val_fold", "train", CFG_INT, 0, 0, 99, "0",
     "which of the 1/val_split disjoint validation sets to hold out (k-fold cross-validation: 0, 1, ...)"},
    {"early_stop", "train", CFG_INT, 0, 0, 100000, "0", "stop after N epochs without a better validation top-1 (0: off)"},
    {"optimizer", "train", CFG_WORD, "sgd|adam", 0, 0, "sgd", "sgd (with momentum) or adam"},
    {"lr", "train", CFG_FLOAT, 0, 0, 100, "0.01", "peak learning rate"},
    {"momentum", "train", CFG_FLOAT, 0, 0, 1, "0.9", "SGD momentum"},
    {"nesterov", "train", CFG_BOOL, 0, 0, 0, "off", "Nesterov momentum for SGD"},
    {"weight_decay", "train", CFG_FLOAT, 0, 0, 1, "0", "L2 penalty on weights (not on biases or batch norm)"},
    {"beta1", "train", CFG_FLOAT, 0, 0, 1, "0.9", "Adam beta1"},
    {"beta2", "train", CFG_FLOAT, 0, 0, 1, "0.999", "Adam beta2"},
    {"adam_eps", "train", CFG_FLOAT, 0, 0, 1, "1e-8", "Adam epsilon"},
    {"schedule", "train", CFG_WORD, "constant|step|cosine|onecycle", 0, 0, "constant", "learning-rate schedule over the run"},
    {"step_every", "train", CFG_INT, 0, 1, 100000, "10", "step schedule: epochs between drops"},
    {"step_gamma", "train", CFG_FLOAT, 0, 0, 1, "0.1", "step schedule: factor at each drop"},
    {"warmup", "train", CFG_FLOAT, 0, 0, 100000, "0", "epochs of linear warm-up from lr/25 (onecycle: its rising part)"},
    {"final_lr", "train", CFG_FLOAT, 0, 0, 100, "0", "learning rate at the end of cosine and onecycle schedules"},
    {"label_smoothing", "train", CFG_FLOAT, 0, 0, 0.99, "0", "mix this much of a uniform target into the softmax loss"},
    {"bn_momentum", "train", CFG_FLOAT, 0, 0, 1, "0.1", "batch norm running statistics: new = (1-m) old + m batch"},
    {"clip_grad", "train", CFG_FLOAT, 0, 0, BIG, "0", "clip the global gradient norm to this (0: off)"},
    {"sync_bn", "train", CFG_BOOL, 0, 0, 0, "on",
     "under mpirun: batch norm's statistics over the whole batch (off: each process's share, as PyTorch's DDP)"},
    {"bucket_mb", "train", CFG_FLOAT, 0, 0, 1e6, "4",
     "under mpirun: gradients are summed in buckets of this many MB, each as soon as backward has made it (0: one, after backward)"},
    {"tta", "train", CFG_WORD, "off|flip", 0, 0, "off", "test-time augmentation: average over the left-right flip"},
    {"init_head", "train", CFG_WORD, "off|probe", 0, 0, "off",
     "probe: before training, fit the classifier on its input's features, as the probe command does (fine-tuning)"},
    {"probe_l2", "train", CFG_FLOAT, 0, 0, 100, "0.001",
     "L2 penalty of the linear probe (init_head probe and the probe command) on standardised features"},
    {"probe_fit", "train", CFG_WORD, "logistic|lda", 0, 0, "logistic",
     "how the probe (init_head probe, the probe command) fits its classifier: logistic (softmax regression) or lda (shrinkage LDA)"},
    {"probe_shrink", "train", CFG_FLOAT, 0, 0, 1, "0",
     "lda: shrinkage of the covariance toward the identity (0: chosen with the temperature by 5-fold cross-validation on the training images)"},
    {"resize", "preprocess", CFG_SIZE, 0, 1, 8192, "0", "decode and cache images at WxH (0: the input size)"},
    {"channels", "preprocess", CFG_WORD, "gray|rgb|bgr", 0, 0, "rgb", "channel order fed to the net (gray for depth 1)"},
    {"range", "preprocess", CFG_FLOAT, 0, 1e-6, 65535, "1", "pixel values span 0..range before mean and std"},
    {"mean", "preprocess", CFG_FLOATS, 0, -BIG, BIG, "0", "subtracted per channel, in the channel order above"},
    {"std", "preprocess", CFG_FLOATS, 0, 1e-12, BIG, "1", "divided per channel after the mean"},
    {"normalize", "preprocess", CFG_WORD, "off|auto", 0, 0, "off", "auto: mean and std per channel from the training images"},
    {"flip", "augment", CFG_BOOL, 0, 0, 0, "off", "random left-right flips"},
    {"crop", "augment", CFG_WORD, "center|random", 0, 0, "center", "where the input window is cut from the cached image"},
    {"scale", "augment", CFG_FLOATS, 0, 0.01, 1, "1", "random crop area, MIN MAX of the cached image (1 1: off)"},
    {"translate", "augment", CFG_FLOAT, 0, 0, 1000, "0", "random shift, +- pixels"},
    {"rotate", "augment", CFG_FLOAT, 0, 0, 180, "0", "random rotation, +- degrees"},
    {"brightness", "augment", CFG_FLOAT, 0, 0, 1, "0", "random brightness change, +- fraction"},
    {"contrast", "augment", CFG_FLOAT, 0, 0, 1, "0", "random contrast change, +- fraction"},
};
const int config_nkeys = ARRAY_LEN(config_keys);

const ConfigKey *config_key(const char *key) {
    for (int i = 0; i < config_nkeys; i++)
        if (strcmp(config_keys[i].key, key) == 0) return &config_keys[i];
    return NULL;
}

const char *config_suggest(const char *key) {
    const char *best = NULL;
    int bestd = 3; /* more than 2 edits away is no suggestion */
    for (int i = 0; i < config_nkeys; i++) {
        int d = edit_distance(key, config_keys[i].key);
        if (d < bestd) bestd = d, best = config_keys[i].key;
    }
    return best;
}

static int parse_double(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

/* Index of `w` in "a|b|c", or -1. */
static int word_index(const char *words, const char *w) {
    int i = 0;
    for (const char *p = words; *p; i++) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (strlen(w) == n && strncmp(p, w, n) == 0) return i;
        if (!bar) break;
        p = bar + 1;
    }
    return -1;
}

static void *field(Config *c, const char *key, ConfigType *t);

int config_set(Config *c, const char *key, const char *value, Error *e) {
    const ConfigKey *k = config_key(key);
    if (!k) {
        const char *s = config_suggest(key);
        errorf(e, "unknown setting '%s'", key);
        return s ? error_hint(e, "did you mean '%s'?", s) : error_hint(e, "`--help` lists every setting");
    }
    double v = 0;
    switch (k->type) {
    case CFG_INT:
    case CFG_FLOAT:
        if (parse_double(value, &v) < 0) return errorf(e, "setting '%s' needs a number, got '%s'", key, value);
        if (k->type == CFG_INT && v != floor(v))
            return errorf(e, "setting '%s' needs a whole number, got '%s'", key, value);
        if (v < k->min || v > k->max)
            return errorf(e, "setting '%s' = %s is out of range; allowed %g to %g", key, value, k->min, k->max);
        break;
    case CFG_BOOL:
        if (strcmp(value, "on") == 0 || strcmp(value, "1") == 0 || strcmp(value, "true") == 0) v = 1;
        else if (strcmp(value, "off") == 0 || strcmp(value, "0") == 0 || strcmp(value, "false") == 0) v = 0;
        else return errorf(e, "setting '%s' is on or off, got '%s'", key, value);
        break;
    case CFG_WORD:
        v = word_index(k->words, value);
        if (v < 0) return errorf(e, "setting '%s' is one of %s, got '%s'", key, k->words, value);
        break;
    default:
        break;
    }

    /* typed stores */
    if (strcmp(key, "data") == 0 || strcmp(key, "out") == 0 || strcmp(key, "pretrained") == 0) {
        char *dst = strcmp(key, "data") == 0 ? c->data : strcmp(key, "out") == 0 ? c->out : c->pretrained;
        if (strlen(value) >= sizeof c->data) return errorf(e, "setting '%s': path is too long", key);
        strcpy(dst, value);
        return 0;
    }
    if (k->type == CFG_SIZE) {
        int w = 0, h = 0;
        char x;
        if (sscanf(value, "%d%c%d", &w, &x, &h) == 3 && (x == 'x' || x == 'X')) {
        } else if (sscanf(value, "%d", &w) == 1 && strspn(value, "0123456789") == strlen(value)) {
            h = w;
        } else {
            return errorf(e, "setting '%s' needs a size like 72x72, got '%s'", key, value);
        }
        if ((w || h) && (w < k->min || w > k->max || h < k->min || h > k->max))
            return errorf(e, "setting '%s' = %s is out of range; sides %g to %g", key, value, k->min, k->max);
        c->resize_w = w, c->resize_h = h;
        return 0;
    }
    if (k->type == CFG_FLOATS) {
        float vals[3];
        int n = 0;
        char buf[256];
        if (strlen(value) >= sizeof buf) return errorf(e, "setting '%s': value is too long", key);
        strcpy(buf, value);
        char *save = NULL;
        for (char *tok = strtok_r(buf, " ,\t", &save); tok; tok = strtok_r(NULL, " ,\t", &save)) {
            if (n == 3) return errorf(e, "setting '%s' takes at most 3 numbers (one per channel)", key);
            if (parse_double(tok, &v) < 0) return errorf(e, "setting '%s' needs numbers, got '%s'", key, tok);
            if (v < k->min || v > k->max)
                return errorf(e, "setting '%s': %s is out of range; allowed %g to %g", key, tok, k->min, k->max);
            vals[n++] = (float)v;
        }
        if (n == 0) return errorf(e, "setting '%s' needs 1 to 3 numbers", key);
        if (strcmp(key, "mean") == 0) memcpy(c->mean, vals, sizeof vals), c->nmean = n;
        else if (strcmp(key, "std") == 0) memcpy(c->std, vals, sizeof vals), c->nstd = n;
        else {
            if (n != 2 && n != 1) return errorf(e, "setting 'scale' takes MIN MAX, e.g. scale 0.6 1");
            c->scale_min = vals[0], c->scale_max = n == 2 ? vals[1] : vals[0];
            if (c->scale_min > c->scale_max) return errorf(e, "setting 'scale': MIN %g is above MAX %g", vals[0], vals[1]);
        }
        if (n > 1)
            for (int i = n; i < 3; i++) vals[i] = vals[n - 1];
        return 0;
    }
    ConfigType t;
    void *p = field(c, key, &t);
    if (!p) return errorf(e, "internal: setting '%s' has no field", key);
    if (strcmp(key, "seed") == 0) *(uint64_t *)p = (uint64_t)v;
    else if (t == CFG_FLOAT) *(float *)p = (float)v;
    else *(int *)p = (int)v;
    return 0;
}

/* The Config field behind a scalar key. */
static void *field(Config *c, const char *key, ConfigType *t) {
    static const struct {
        const char *key;
        size_t off;
        ConfigType t;
    } map[] = {
#define F(k, f, t) {k, offsetof(Config, f), t}
        F("epochs", epochs, CFG_INT), F("batch", batch, CFG_INT), F("seed", seed, CFG_INT),
        F("threads", threads, CFG_INT), F("eval_every", eval_every, CFG_INT), F("test", test, CFG_INT),
        F("val_split", val_split, CFG_FLOAT), F("val_fold", val_fold, CFG_INT), F("early_stop", early_stop, CFG_INT), F("optimizer", optimizer, CFG_INT),
        F("lr", lr, CFG_FLOAT), F("momentum", momentum, CFG_FLOAT), F("nesterov", nesterov, CFG_INT),
        F("weight_decay", weight_decay, CFG_FLOAT), F("beta1", beta1, CFG_FLOAT), F("beta2", beta2, CFG_FLOAT),
        F("adam_eps", adam_eps, CFG_FLOAT), F("schedule", schedule, CFG_INT), F("step_every", step_every, CFG_INT),
        F("step_gamma", step_gamma, CFG_FLOAT), F("warmup", warmup, CFG_FLOAT), F("final_lr", final_lr, CFG_FLOAT),
        F("label_smoothing", label_smoothing, CFG_FLOAT), F("bn_momentum", bn_momentum, CFG_FLOAT),
        F("clip_grad", clip_grad, CFG_FLOAT), F("sync_bn", sync_bn, CFG_INT), F("bucket_mb", bucket_mb, CFG_FLOAT),
        F("tta", tta, CFG_INT), F("init_head", init_head, CFG_INT), F("probe_l2", probe_l2, CFG_FLOAT), F("probe_fit", probe_fit, CFG_INT), F("probe_shrink", probe_shrink, CFG_FLOAT), F("channels", channels, CFG_INT),
        F("range", range, CFG_FLOAT), F("normalize", normalize_auto, CFG_INT), F("flip", flip, CFG_INT),
        F("crop", crop, CFG_INT), F("translate", translate, CFG_FLOAT), F("rotate", rotate, CFG_FLOAT),
        F("brightness", brightness, CFG_FLOAT), F("contrast", contrast, CFG_FLOAT),
#undef F
    };
    for (int i = 0; i < ARRAY_LEN(map); i++)
        if (strcmp(map[i].key, key) == 0) {
            *t = map[i].t;
            return (char *)c + map[i].off;
        }
    return NULL;
}

void config_defaults(Config *c) {
    memset(c, 0, sizeof *c);
    Error e;
    for (int i = 0; i < config_nkeys; i++)
        if (config_set(c, config_keys[i].key, config_keys[i].def, &e) < 0) {
            fprintf(stderr, "netc: internal: bad default for '%s': %s\n", config_keys[i].key, e.msg);
            exit(1);
        }
}

int config_apply(Config *c, const char *const *kv, Error *e) {
    for (; kv && kv[0]; kv += 2)
        if (config_set(c, kv[0], kv[1], e) < 0) return -1;
    return 0;
}

static void format_floats(const float *v, int n, char *buf, size_t len) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < n && used < len; i++) used += (size_t)snprintf(buf + used, len - used, i ? " %g" : "%g", v[i]);
}

void config_format(const Config *c, const char *key, char *buf, size_t len) {
    const ConfigKey *k = config_key(key);
    buf[0] = 0;
    if (!k) return;
    if (strcmp(key, "data") == 0) snprintf(buf, len, "%s", c->data);
    else if (strcmp(key, "out") == 0) snprintf(buf, len, "%s", c->out);
    else if (strcmp(key, "pretrained") == 0) snprintf(buf, len, "%s", c->pretrained);
    else if (strcmp(key, "resize") == 0) snprintf(buf, len, "%dx%d", c->resize_w, c->resize_h);
    else if (strcmp(key, "mean") == 0) format_floats(c->mean, c->nmean, buf, len);
    else if (strcmp(key, "std") == 0) format_floats(c->std, c->nstd, buf, len);
    else if (strcmp(key, "scale") == 0) snprintf(buf, len, "%g %g", c->scale_min, c->scale_max);
    else if (strcmp(key, "seed") == 0) snprintf(buf, len, "%llu", (unsigned long long)c->seed);
    else {
        ConfigType t = CFG_INT;
        void *p = field((Config *)c, key, &t);
        int iv = p ? *(int *)p : 0;
        if (k->type == CFG_BOOL) snprintf(buf, len, "%s", iv ? "on" : "off");
        else if (k->type == CFG_WORD) {
            const char *w = k->words;
            for (int i = 0; i < iv && w; i++) w = strchr(w, '|') ? strchr(w, '|') + 1 : NULL;
            size_t n = w ? (strchr(w, '|') ? (size_t)(strchr(w, '|') - w) : strlen(w)) : 0;
            snprintf(buf, len, "%.*s", (int)n, w ? w : "");
        } else if (t == CFG_FLOAT) snprintf(buf, len, "%g", *(float *)p);
        else snprintf(buf, len, "%d", iv);
    }
}

void config_print(const Config *c, FILE *f) {
    char buf[1100];
    for (int i = 0; i < config_nkeys; i++) {
        config_format(c, config_keys[i].key, buf, sizeof buf);
        fprintf(f, "%-16s %s\n", config_keys[i].key, buf);
    }
}
