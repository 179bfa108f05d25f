/* config.h: the run settings of a trainer, and the one table that defines them.
 *
 * A setting comes from three places, later ones winning: the table's default,
 * the .net file (netc checks it against this table at compile time and embeds
 * it in the generated code as key/value strings), and the trainer's command
 * line (--epochs 40, or --set key=value for any key). One table, one parser,
 * so the .net file and the command line can never disagree on what a key means. */
#ifndef NETC_CONFIG_H
#define NETC_CONFIG_H

#include "util.h"

typedef enum {
    CFG_INT,    /* 30 */
    CFG_FLOAT,  /* 0.01, 1e-4 */
    CFG_BOOL,   /* on | off */
    CFG_WORD,   /* one of the words in ConfigKey.words: "sgd|adam" */
    CFG_PATH,   /* a string: "data/15scene" */
    CFG_FLOATS, /* 1 to 3 numbers: mean 104 117 123 */
    CFG_SIZE,   /* WxH, or N for NxN */
} ConfigType;

typedef struct {
    const char *key;
    const char *section; /* where it belongs in a .net file: train, preprocess, augment */
    ConfigType type;
    const char *words;   /* CFG_WORD: the allowed words, '|'-separated */
    double min, max;     /* CFG_INT/FLOAT/FLOATS: allowed range */
    const char *def;     /* default, as text */
    const char *help;    /* one line for --help and the docs */
} ConfigKey;

extern const ConfigKey config_keys[];
extern const int config_nkeys;

const ConfigKey *config_key(const char *key);
/* The known key closest to `key` (edit distance), for "did you mean" hints. */
const char *config_suggest(const char *key);

enum { OPT_SGD, OPT_ADAM };
enum { SCHED_CONSTANT, SCHED_STEP, SCHED_COSINE, SCHED_ONECYCLE };
enum { CH_GRAY, CH_RGB, CH_BGR };
enum { CROP_CENTER, CROP_RANDOM };
enum { TTA_OFF, TTA_FLIP };
enum { PROBE_LOGISTIC, PROBE_LDA };

typedef struct {
    /* train */
    char data[1024];
    char out[1024];
    char pretrained[1024];
    int epochs, batch, threads, eval_every;
    int test;               /* 0: the test set is never evaluated */
    float val_split;        /* fraction of each class held out for validation */
    int val_fold;           /* which of the disjoint validation sets of that size (k-fold) */
    int early_stop;         /* epochs without a better validation top-1 before stopping; 0: never */
    uint64_t seed;
    int optimizer;
    float lr, momentum, weight_decay, beta1, beta2, adam_eps;
    int nesterov;
    int schedule, step_every;
    float step_gamma, warmup, final_lr;
    float label_smoothing, bn_momentum, clip_grad;
    int sync_bn;            /* data-parallel: batch norm statistics over every process's share */
    float bucket_mb;        /* data-parallel: gradients summed in buckets of this many MB (0: one) */
    int tta;
    int init_head;          /* 1: the classifier starts as a linear probe's solution */
    float probe_l2;         /* the probe's L2 penalty */
    int probe_fit;          /* PROBE_LOGISTIC or PROBE_LDA */
    float probe_shrink;     /* lda: the covariance's shrinkage; 0: chosen by cross-validation */
    /* preprocess */
    int resize_w, resize_h; /* images are decoded and cached at this size (0: input size) */
    int channels;           /* CH_* ; gray for depth 1 */
    float range;            /* pixel values span 0..range (1 or 255) */
    float mean[3], std[3];
    int nmean, nstd;
    int normalize_auto;     /* mean/std per channel from the training images */
    /* augment */
    int flip, crop;
    float scale_min, scale_max; /* random area scale of the crop, 1 1 = off */
    float translate;            /* pixels, in the cached image */
    float rotate;               /* degrees, +- */
    float brightness, contrast; /* +- fraction */
} Config;

/* Fills c with every key's default. */
void config_defaults(Config *c);
/* Parses `value` for `key` into c. On error returns -1 with a message that
 * names the key, what was given and what is allowed. */
int config_set(Config *c, const char *key, const char *value, Error *e);
/* Applies a NULL-terminated {key, value, key, value, ..., NULL} list. */
int config_apply(Config *c, const char *const *kv, Error *e);
/* One line per key, "key = value", in table order (for reports and checkpoints). */
void config_print(const Config *c, FILE *f);
/* The value of one key as text, as config_print shows it. */
void config_format(const Config *c, const char *key, char *buf, size_t len);

#endif
