/* profile.h: where a training step's time goes, layer by layer. */
#ifndef NETC_PROFILE_H
#define NETC_PROFILE_H

#include <stdbool.h>

#include "config.h"
#include "netc.h"
#include "util.h"

/* Times `iters` training steps (forward, backward, optimiser) and
 * evaluation passes on random data of one batch, and prints a table, then
 * each evaluation fold (a conv doing its batch norm's, relu's and max pool's
 * work, NetcLayer.eval_by) against the training forwards it replaces. With
 * check_folds, a fold slower than those (by more than 5%: the best step of
 * each side counts) is an error: bench/run checks every net so. A fold that
 * seems to lose after `iters` steps is timed over 2 x iters more before it
 * counts (all the steps are then in the table), since on a shared machine a
 * slow stretch can fall on one side of a few steps. */
int cmd_profile(const NetcNet *net, Config *cfg, int iters, bool check_folds, Error *e);

/* The benchmark's half of the comparison with PyTorch: `epochs` timed epochs
 * of train_images random images (forward, backward, optimiser; after one
 * untimed warm-up epoch), then `passes` evaluation passes over test_images,
 * the best of each counted, as one JSON line with seconds, images per
 * second, GFLOP/s (3 x forward FLOPs per trained image) and peak memory. The
 * batch is made once and reused, so only the network's work is timed, as in
 * bench/torch_bench.py. */
int cmd_bench(const NetcNet *net, Config *cfg, int epochs, int passes, int train_images, int test_images, Error *e);

#endif
