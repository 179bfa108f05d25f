/* dist_profile.c: `mpirun -np N generated/NET profile`: where the time of a
 * data-parallel training step goes (see dist.h).
 *
 * Every process runs the same steps on random data of its share of a batch,
 * four ways: its compute alone (forward, backward, optimiser; batch norm's
 * statistics summed over the processes when sync_bn is on, as in training);
 * the gradients' allreduce alone; a step that sums the gradients in one
 * allreduce after backward (no overlap); and a step that starts each
 * bucket's as backward finishes it (the trainer's way). A barrier starts each
 * step, so waits measure communication and not one process starting late;
 * each figure is the slowest process's mean. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "dist.h"
#include "model.h"
#include "optim.h"
#include "profile.h"
#include "rng.h"

enum { COMPUTE, ALLREDUCE, NO_OVERLAP, OVERLAP, N_MODES };
enum { T_STEP, T_FORWARD, T_BACKWARD, T_SYNC, T_HOOKS, T_WAIT, T_COPY, T_OPTIM, N_TIMES };

int cmd_profile_dist(const NetcNet *net, Config *cfg, int iters, Error *e) {
    if (iters < 1) return errorf(e, "profile needs --iters 1 or more");
    if (cfg->batch < dist.size)
        return errorf(e, "batch %d is smaller than the %d processes", cfg->batch, dist.size), error_hint(e, "--batch %d or more", dist.size);
    if (cfg->threads <= 0) cfg->threads = dist_default_threads();
    omp_set_num_threads(cfg->threads);
    int lo, hi;
    dist_share(cfg->batch, &lo, &hi);
    int n = hi - lo;
    Model *m = model_new(net, n, cfg->threads);
    model_init(m, cfg->seed);
    m->label_smoothing = cfg->label_smoothing, m->bn_momentum = cfg->bn_momentum, m->seed = cfg->seed;
    m->first_image = lo, m->batch_images = cfg->batch;
    m->sync_bn = cfg->sync_bn ? dist_sync_bn : NULL;
    bool has_bn = false;
    for (int k = 0; k < net->n_tensors; k++) has_bn |= net->tensors[k].role == ROLE_RUNNING_MEAN;
    Optimizer opt;
    optim_init(&opt, net, cfg);
    int *labels = xmalloc(sizeof(int) * (size_t)n);
    Rng r = rng_for(cfg->seed, 77, (uint64_t)dist.rank);
    long in = (long)n * net->in_c * net->in_h * net->in_w;
    for (long i = 0; i < in; i++) m->input[i] = 2 * rng_uniform(&r) - 1;
    for (int i = 0; i < n; i++) labels[i] = (int)rng_below(&r, (uint32_t)net->classes);
    m->labels = labels;
    DistStep *buckets = dist_step_new(net, m->grads, cfg->bucket_mb), *one = dist_step_new(net, m->grads, 0);
    double t[N_MODES][N_TIMES] = {{0}};
    int nb = dist_step_stats(buckets, false).buckets;
    double *started = xcalloc((size_t)nb + 1, sizeof(double)); /* overlap: each bucket's start into backward, */
    double backward_all = 0, sync_calls = 0, sync_doubles = 0; /* backward with its hooks; batch norm's sums */
    for (int mode = 0; mode < N_MODES; mode++)
        for (int it = -2; it < iters; it++) { /* two warm-up steps first */
            DistStep *s = mode == OVERLAP ? buckets : one;
            int flags[DIST_NFLAGS] = {0};
            dist_barrier();
            dist_step_stats(s, true);
            double t0 = now_seconds(), t1 = t0, t2 = t0, sync_fwd = 0;
            if (mode != ALLREDUCE) {
                m->step++;
                net->forward(m, n, 1);
                t1 = now_seconds();
                sync_fwd = dist_step_stats(s, false).sync_seconds;
                dist_step_begin(s);
                m->dist = mode == OVERLAP ? s : NULL;
                net->backward(m, n);
                m->dist = NULL;
                t2 = now_seconds();
            } else dist_step_begin(s);
            if (mode != COMPUTE) dist_step_finish(s, flags);
            double t3 = now_seconds();
            if (mode != ALLREDUCE) optim_step(&opt, m->params, m->grads, 1e-6f);
            double t4 = now_seconds();
            if (mode == OVERLAP && it >= 0) {
                for (int i = 0; i < nb; i++) {
                    double after;
                    dist_step_bucket(s, i, &after);
                    started[i] += after / iters;
                }
                backward_all += (t2 - t1) / iters;
            }
            DistStats st = dist_step_stats(s, true);
            if (mode == COMPUTE && it >= 0) sync_calls += (double)st.sync_calls / iters, sync_doubles += (double)st.sync_doubles / iters;
            double tt[N_TIMES] = {[T_STEP] = t4 - t0,
                                  [T_FORWARD] = t1 - t0 - sync_fwd,
                                  [T_BACKWARD] = t2 - t1 - st.hook_seconds - (st.sync_seconds - sync_fwd),
                                  [T_SYNC] = st.sync_seconds,
                                  [T_HOOKS] = st.hook_seconds,
                                  [T_WAIT] = t3 - t2,
                                  [T_COPY] = st.copy_seconds,
                                  [T_OPTIM] = t4 - t3};
            for (int k = 0; it >= 0 && k < N_TIMES; k++) t[mode][k] += tt[k] / iters;
        }
    dist_max_doubles(&t[0][0], N_MODES * N_TIMES);
    started[nb] = backward_all;
    dist_max_doubles(started, nb + 1);
    DistStats st = dist_step_stats(buckets, false);
    if (dist.rank == 0) {
        printf("%s: %d processes on %d host%s, %d thread%s each; batch %d, %d or %d images per process; %d steps on random data\n",
               net->name, dist.size, dist.hosts, dist.hosts == 1 ? "" : "s", cfg->threads, cfg->threads == 1 ? "" : "s",
               cfg->batch, cfg->batch / dist.size, (cfg->batch + dist.size - 1) / dist.size, iters);
        printf("gradients: %.2f MB summed per step, in %d bucket%s of %g MB or more (bucket_mb); batch norm: %s\n\n",
               4e-6 * st.floats, st.buckets, st.buckets == 1 ? "" : "s", cfg->bucket_mb,
               !has_bn ? "none" : cfg->sync_bn ? "statistics over every process (sync_bn on)" : "each process's own (sync_bn off)");
        static const char *const names[N_MODES] = {"compute alone", "allreduce alone", "no overlap: one allreduce after backward",
                                                   "overlap: buckets started in backward"};
        printf("  %-42s %8s %8s %8s %8s %8s %8s %8s %8s %8s\n", "ms per step (slowest process)", "step", "forward", "backward",
               "sync_bn", "hooks", "wait", "(copies)", "optim", "images/s");
        for (int mode = 0; mode < N_MODES; mode++) {
            const double *x = t[mode];
            printf("  %-42s %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f %8.0f\n", names[mode], 1e3 * x[T_STEP],
                   1e3 * x[T_FORWARD], 1e3 * x[T_BACKWARD], 1e3 * x[T_SYNC], 1e3 * x[T_HOOKS], 1e3 * x[T_WAIT], 1e3 * x[T_COPY],
                   1e3 * x[T_OPTIM], mode == ALLREDUCE ? 0.0 : cfg->batch / x[T_STEP]);
        }
        printf("\n  sync_bn: batch norm's sums over the processes, in forward and backward; hooks: between backward's\n"
               "  layers, copying buckets of gradients, starting their sums and testing them (MPI moves data only\n"
               "  inside MPI calls); wait: after backward, until every sum is in; copies: into and out of buckets,\n"
               "  in the hooks and the wait\n");
        /* the figures bench/mpi_project.py projects from (keep these lines' form) */
        printf("\n  overlap's buckets, top layers first: when backward (%.2f ms with its hooks) started each one's sum\n",
               1e3 * started[nb]);
        for (int i = 0; i < nb; i++)
            printf("    bucket %d: %.6g MB, started at %.2f ms\n", i + 1, 4e-6 * dist_step_bucket(buckets, i, NULL), 1e3 * started[i]);
        printf("  batch norm's sums per step: %.0f calls, %.0f doubles\n", sync_calls, sync_doubles);
    }
    free(started);
    dist_step_free(buckets), dist_step_free(one);
    free(labels);
    optim_free(&opt);
    model_free(m);
    return 0;
}
