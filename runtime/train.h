/* train.h: one training run, from data to checkpoints.
 *
 * A Run owns what the trainer's commands share: the net and its settings,
 * the data (decoded once), the model, the optimiser, the normalisation, the
 * metrics so far and the run folder. */
#ifndef NETC_TRAIN_H
#define NETC_TRAIN_H

#include <stdbool.h>
#include <time.h>

#include "config.h"
#include "data.h"
#include "metrics.h"
#include "netc.h"
#include "optim.h"
#include "weights_meta.h"

typedef struct {
    int epoch;                 /* 1-based */
    float lr;
    double train_loss, train_top1, train_top5;
    double val_loss, val_top1, val_top5;                     /* < 0: no validation set */
    double test_loss, test_top1, test_top5, test_mean_class; /* < 0: not evaluated this epoch */
    double seconds, images_per_sec;
} EpochRow;

typedef struct Run {
    const NetcNet *net;
    Config cfg;
    char out[1024];
    Dataset train, val, test;  /* val: held out of the training images (val_split) */
    bool have_val, have_test;
    float mean[3], std[3];     /* the normalisation every image gets */
    Model *model;
    Optimizer opt;
    Metrics train_m, val_m, test_m;
    EpochRow *rows;            /* one per finished epoch */
    int n_rows, cap_rows;
    /* where the run is: epochs done, batches done in the current epoch, global step */
    int epoch, batch;
    long step;
    double part_seconds;       /* training time of the current epoch so far (train_m holds its sums) */
    /* for report.html (report_html.h); kept in checkpoints so a resumed run's report matches */
    float *first_filters;      /* the first conv's weights when training started, or NULL */
    int *test_pred;            /* the last test evaluation: predicted class per test image, or NULL */
    float *test_conf;          /* and its probability */
    int eval_epoch;            /* the epoch (1-based) of that evaluation; 0: none yet */
    bool quiet;
    bool running;              /* run_train is training it: its report reloads itself */
    bool warned_index;         /* runs/index.html could not be written (said once) */
    time_t started;            /* when the run first started (kept in checkpoints) */
    double wall_before;        /* wall-clock seconds of the run before this process (from the checkpoint) */
    double wall_t0;            /* now_seconds() when this process set the run up */
    bool failed;               /* run_train stopped on an error (NaN loss, I/O) */
} Run;

/* Applies the net's settings, then argv overrides; reads the data; builds the
 * model (initialised, pretrained tensors loaded). */
int run_setup(Run *r, const NetcNet *net, const Config *cfg, bool need_train, bool need_test, Error *e);
void run_free(Run *r);

/* Under mpirun: rank 0's weights, optimiser state, position and
 * normalisation to every process (after a resume, or init_head, on rank 0). */
void run_share_state(Run *r);

/* Trains to cfg.epochs, evaluating, logging, checkpointing; returns 0, or
 * -1 with e set (NaN loss, I/O failure), or 130 when interrupted. */
int run_train(Run *r, Error *e);

/* One pass over a data set in evaluation mode (TTA if cfg.tta). Optionally
 * the predicted class of every image and its probability (NULL: not wanted). */
void run_evaluate(Run *r, const Dataset *ds, Metrics *mt, int *predicted, float *confidence);
/* The same over images [first, first + count) of ds only, added to mt (not
 * reset) and to predicted[first ..] / confidence[first ..]: a pass can be
 * shared out in parts whose Metrics are then summed. */
void run_evaluate_range(Run *r, const Dataset *ds, int first, int count, Metrics *mt, int *predicted, float *confidence);

/* The epoch (1-based) whose weights best.ckpt holds: the best validation
 * top-1 (the first of equals) with a validation set, else the lowest
 * training loss; 0 before any epoch. */
int run_best_epoch(const Run *r);
/* Has the run ended: all its epochs done, or stopped early (early_stop
 * epochs without a better validation top-1)? */
bool run_finished(const Run *r);

/* The normalisation for cfg (given, or computed from the training set). */
void resolve_normalisation(const Config *cfg, const Dataset *train, int in_c, float mean[3], float std[3]);

/* checkpoint.c */
int checkpoint_save(const Run *r, const char *path, Error *e);
int checkpoint_load(Run *r, const char *path, Error *e);
/* Weights + what test and predict need (normalisation, class names). */
int save_final_weights(const Run *r, const char *path, Error *e);
/* checkpoint_apply_settings, weights_meta: weights_meta.h */

#endif
