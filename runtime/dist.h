/* dist.h: data-parallel training over MPI: one model, N processes.
 *
 * `mpirun -np N generated/NET train` starts N copies of the trainer; each
 * holds the whole model and a share of every batch (the `batch` setting is
 * the whole batch, split as evenly as it goes). After backward the
 * processes sum their gradients (MPI_Iallreduce, in buckets of layers, each
 * started as soon as backward has finished its layers: dist_step_*), so all
 * of them take the same optimiser step and keep the same weights. Batch
 * norm sums its statistics over every share (sync_bn on, the default) or
 * keeps each process's own (off, as PyTorch's DDP does).
 *
 * Started without a launcher (no mpirun, srun, ...), a trainer never calls
 * MPI: it is one process of one, every function here a no-op or a copy, and
 * it runs exactly as a trainer without MPI would. Built with `make MPI=0`,
 * the runtime has no MPI at all and refuses to run under a launcher.
 *
 * Rank 0 alone prints, writes metrics, checkpoints and report.html; the
 * others are told what rank 0 decided (dist_agree). Only the main thread
 * calls MPI (MPI_THREAD_FUNNELED): OpenMP threads never do. */
#ifndef NETC_DIST_H
#define NETC_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "metrics.h"
#include "netc.h"
#include "util.h"

typedef struct {
    int rank, size;             /* this process among all: 0 of 1 when alone */
    int local_rank, local_size; /* among those on this host */
    int hosts;
    bool mpi;                   /* MPI_Init was called: started by a launcher */
    bool unbound;               /* dist_init undid Open MPI's default binding (dist.c, unbind_default) */
    char host[64];
} Dist;

/* The process's place, one of one until dist_init. */
extern Dist dist;

/* Initialises MPI when a launcher started this process (mpirun, srun, ...),
 * else leaves dist as one process of one. */
int dist_init(int *argc, char ***argv, Error *e);
/* MPI_Finalize when MPI was started; harmless otherwise. */
void dist_finalize(void);

/* Threads for one process when the setting is 0 (all cores): the cores it
 * may run on, shared with the other processes on its host when mpirun did
 * not bind each to its own (or dist_init undid Open MPI's default binding,
 * which would leave cores idle). */
int dist_default_threads(void);

/* Every rank's outcome of a step that may fail on some of them (reading
 * data, or rank 0 writing a file): returns 0 if all succeeded, else -1 on
 * every rank. The error is kept where it should be printed: on rank 0 if it
 * failed there, else on the ranks that failed (their message then names the
 * rank and host); the others' e->msg is emptied (netc_main prints nothing). */
int dist_agree(int rc, Error *e);

/* Rank 0's bytes to every rank. */
void dist_bcast(void *buf, size_t bytes);
/* In-place sums over every rank. */
void dist_sum_doubles(double *x, int n);
/* The same, as batch norm calls it with sync_bn on (Model.sync_bn), timed
 * into DistStats.sync_seconds. */
void dist_sync_bn(double *x, int n);
void dist_sum_longs(long *x, int n);
void dist_max_doubles(double *x, int n);
void dist_barrier(void);
/* Do all ranks hold the same value? */
bool dist_all_equal(uint64_t v);
/* Every rank's counts summed into every rank's mt (each passed over its share). */
void dist_sum_metrics(Metrics *mt);

/* This rank's share [*lo, *hi) of n items: contiguous, sizes differing by at most one. */
void dist_share(int n, int *lo, int *hi);
/* After each rank filled its share (dist_share(n)) of arr[n] (elem bytes
 * each), every rank holds all of it. */
void dist_gather_shares(void *arr, int n, size_t elem);

/* ---- the gradient allreduce of one training step -------------------------------
 *
 * Buckets: the trainable tensors from the top layer down, each bucket at
 * least bucket_mb of gradients (0: one bucket for the whole net, started
 * after backward: no overlap). During backward, netc_layer_done calls
 * dist_layer_done after each layer; once backward has finished a bucket's
 * lowest layer, its gradients are copied into the bucket's buffer and their
 * sum started (MPI_Iallreduce), and every later call gives MPI a chance to
 * progress the sums in flight (MPI_Test: Open MPI moves data only inside MPI
 * calls). dist_step_finish starts what is left, waits, and copies the sums
 * back. */
typedef struct DistStep DistStep;

/* Flags every rank reports at the end of a step; the maximum over ranks comes back. */
enum { DIST_INPUT_BAD, DIST_LOSS_BAD, DIST_STOP, DIST_NFLAGS };

DistStep *dist_step_new(const NetcNet *net, float *grads, double bucket_mb);
void dist_step_free(DistStep *s);
/* Before a step's backward: no bucket started. */
void dist_step_begin(DistStep *s);
void dist_layer_done(DistStep *s, int layer);
/* Sums what backward left, and flags[DIST_NFLAGS] (in: this rank's; out:
 * the largest over ranks, e.g. rank + 1 of a rank whose loss was NaN). */
void dist_step_finish(DistStep *s, int *flags);
/* Gradient floats summed per step, buckets, and since the last reset:
 * seconds in the layer hooks (copies into buckets, starts, tests), waiting
 * at the end, and of those two copying gradients into and out of buckets;
 * and batch norm's sums (sync_bn, in forward and backward): seconds, calls,
 * doubles summed. */
typedef struct {
    long floats;
    int buckets;
    double hook_seconds, wait_seconds, copy_seconds, sync_seconds;
    long sync_calls, sync_doubles;
    long steps;
} DistStats;
DistStats dist_step_stats(DistStep *s, bool reset);
/* Bucket i's floats (0 past the last), and in *started_after the mean
 * seconds from dist_step_begin to its sum's start over the steps since the
 * last reset (the profile's figures for bench/mpi_project.py). */
long dist_step_bucket(DistStep *s, int i, double *started_after);


/* The profile command under mpirun: a data-parallel step's compute, its
 * allreduce, and the step with and without overlap (dist_profile.c). */
int cmd_profile_dist(const NetcNet *net, Config *cfg, int iters, Error *e);

#endif
