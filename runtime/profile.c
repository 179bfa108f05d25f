/* profile.c: the profile command (see profile.h). */
#include "profile.h"

#include <omp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "model.h"
#include "netc_vec.h"
#include "optim.h"
#include "rng.h"

/* One fold: layer k's evaluation forward doing its own work and that of the
 * layers whose eval_by is k, against their training forwards; each side the
 * best of the steps timed (the two alternate, so a slow minute falls on both). */
typedef struct {
    int k;
    double eval_ms, train_ms;
} Fold;

/* The folds' table (printed if print); returns how many lose (take longer than what they replace, beyond 5% for noise). */
static int print_folds(const NetcNet *net, const double *fwd, const double *ev, int iters, bool print) {
    int L = net->n_layers, n = 0, lost = 0;
    for (int k = 1; k < L; k++) n += net->layers[k].eval_by != k;
    if (!n) return 0;
    if (print) printf("\n  evaluation folds: each against the training forwards it replaces (best of %d steps)\n", iters);
    for (int k = 1; k < L; k++) {
        char joined[256] = "";
        int len = 0;
        for (int j = k + 1; j < L; j++)
            if (net->layers[j].eval_by == k && len < (int)sizeof joined)
                len += snprintf(joined + len, sizeof joined - (size_t)len, "%s%s", len ? ", " : " + ", net->layers[j].name);
        if (!len) continue;
        Fold f = {k, 1e30, 1e30};
        for (int it = 0; it < iters; it++) {
            double e = 0, t = 0;
            for (int j = k; j < L; j++)
                if (j == k || net->layers[j].eval_by == k) e += ev[(long)it * L + j], t += fwd[(long)it * L + j];
            f.eval_ms = e < f.eval_ms ? e : f.eval_ms, f.train_ms = t < f.train_ms ? t : f.train_ms;
        }
        f.eval_ms *= 1e3, f.train_ms *= 1e3;
        bool loses = f.eval_ms > 1.05 * f.train_ms;
        lost += loses;
        char what[320];
        snprintf(what, sizeof what, "%s%s", net->layers[k].name, joined);
        if (print)
            printf("    %-40s eval %8.3f ms, training %8.3f ms: %5.2fx%s\n", what, f.eval_ms, f.train_ms, f.train_ms / f.eval_ms,
                   loses ? "  <- LOSES: slower than what it replaces" : "");
    }
    if (!lost && print) printf("  all %d folded layers' work is faster in evaluation than in training\n", n);
    return lost;
}

int cmd_profile(const NetcNet *net, Config *cfg, int iters, bool check_folds, Error *e) {
    if (iters < 1) return errorf(e, "profile needs --iters 1 or more");
    if (cfg->threads <= 0) cfg->threads = omp_get_num_procs();
    omp_set_num_threads(cfg->threads);
    int B = cfg->batch, L = net->n_layers;
    Model *m = model_new(net, B, cfg->threads);
    model_init(m, cfg->seed);
    m->label_smoothing = cfg->label_smoothing, m->bn_momentum = cfg->bn_momentum, m->seed = cfg->seed;
    Optimizer opt;
    optim_init(&opt, net, cfg);
    int *labels = xmalloc(sizeof(int) * (size_t)B);
    Rng r = rng_for(cfg->seed, 77, 0);
    long in = (long)B * net->in_c * net->in_h * net->in_w;
    for (long i = 0; i < in; i++) m->input[i] = 2 * rng_uniform(&r) - 1;
    for (int i = 0; i < B; i++) labels[i] = (int)rng_below(&r, (uint32_t)net->classes);
    m->labels = labels;
    /* per step: each layer's training forward, backward (train_t) and evaluation forward (eval_t); with
     * check_folds, room for twice as many steps again: a fold that seems to lose is timed over those too
     * before it counts, since on a shared machine a slow stretch can fall on one side of a few steps */
    int room = check_folds ? 3 * iters : iters;
    double *train_t = xcalloc(2 * (size_t)L * room, sizeof(double)), *eval_t = xcalloc((size_t)L * room, sizeof(double));
    double *fwd = xcalloc((size_t)L * room, sizeof(double)), *sum = xcalloc(3 * (size_t)L, sizeof(double));
    double t_fwd = 0, t_bwd = 0, t_opt = 0, t_eval = 0;
    int steps = iters;
    for (int it = -2; it < steps; it++) { /* two warm-up steps first */
        m->profile = it >= 0 ? train_t + 2L * L * it : NULL;
        m->step = it + 2;
        double t0 = now_seconds();
        net->forward(m, B, 1);
        double t1 = now_seconds();
        net->backward(m, B);
        double t2 = now_seconds();
        optim_step(&opt, m->params, m->grads, 1e-6f);
        double t3 = now_seconds();
        m->profile = it >= 0 ? eval_t + (long)L * it : NULL;
        net->forward(m, B, 0);
        double t4 = now_seconds();
        if (it < 0) continue;
        t_fwd += t1 - t0, t_bwd += t2 - t1, t_opt += t3 - t2, t_eval += t4 - t3;
        for (int k = 0; k < L; k++) {
            fwd[(long)it * L + k] = train_t[2L * L * it + k];
            sum[k] += train_t[2L * L * it + k], sum[L + k] += train_t[2L * L * it + L + k], sum[2 * L + k] += eval_t[(long)L * it + k];
        }
        if (it == steps - 1 && steps < room && print_folds(net, fwd, eval_t, steps, false)) steps = room;
    }
    iters = steps;
    m->profile = NULL;
    double step = (t_fwd + t_bwd + t_opt) / iters;
    const char *had = netc_blas_fallback();
    printf("%s: batch %d, %d threads, %d steps timed on random data; built for %s (%d-float vectors), OpenBLAS %s kernels%s%s%s\n\n",
           net->name, B, cfg->threads, iters, NETC_ISA_NAME, NETC_VW, netc_blas_core(), had ? " (it had chosen " : "",
           had ? had : "", had ? ", not knowing this CPU)" : "");
    printf("  %-24s %-9s %14s %10s %10s %10s %7s %9s\n", "layer", "kind", "output", "fwd ms", "bwd ms", "eval ms", "share",
           "fwd GF/s");
    for (int k = 1; k < L; k++) {
        const NetcLayer *l = &net->layers[k];
        double f = 1e3 * sum[k] / iters, b = 1e3 * sum[L + k] / iters, ev = 1e3 * sum[2 * L + k] / iters;
        char shape[48], evs[16];
        snprintf(shape, sizeof shape, "%dx%dx%d", l->w, l->h, l->c);
        snprintf(evs, sizeof evs, l->eval_by != k ? "folded" : "%.3f", ev); /* its time is in the eval_by layer's */
        printf("  %-24s %-9s %14s %10.3f %10.3f %10s %6.1f%% %9.1f\n", l->name, l->kind, shape, f, b, evs,
               100 * (f + b) / (1e3 * step), f > 0 ? l->flops * B / (f * 1e-3) / 1e9 : 0);
    }
    double flops = net->flops_forward * B;
    printf("\n  train step: forward %.2f ms, backward %.2f ms, optimiser %.2f ms: %.2f ms, %.0f images/s\n",
           1e3 * t_fwd / iters, 1e3 * t_bwd / iters, 1e3 * t_opt / iters, 1e3 * step, B / step);
    printf("  evaluation: %.2f ms per batch, %.0f images/s; forward %.1f GFLOP/s\n", 1e3 * t_eval / iters, B * iters / t_eval,
           flops * iters / t_eval / 1e9);
    int lost = print_folds(net, fwd, eval_t, iters, true);
    free(train_t), free(eval_t), free(fwd), free(sum), free(labels);
    optim_free(&opt);
    model_free(m);
    if (check_folds && lost)
        return errorf(e, "%d evaluation fold%s slower than the training forward%s %s: see LOSES above", lost, lost > 1 ? "s are" : " is",
                      lost > 1 ? "s" : "", lost > 1 ? "they replace" : "it replaces"),
               error_hint(e, "a performance bug in netc's plan for this ISA (%s): please report it with this table", NETC_ISA_NAME);
    return 0;
}

#include <sys/resource.h>

/* Peak resident memory of this process, in MB. */
static double peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

int cmd_bench(const NetcNet *net, Config *cfg, int epochs, int passes, int train_images, int test_images, Error *e) {
    if (epochs < 1 || passes < 1 || train_images < 1 || test_images < 1)
        return errorf(e, "bench needs epochs, evaluation passes and image counts of 1 or more");
    if (cfg->threads <= 0) cfg->threads = omp_get_num_procs();
    omp_set_num_threads(cfg->threads);
    int B = cfg->batch;
    Model *m = model_new(net, B, cfg->threads);
    model_init(m, cfg->seed);
    m->label_smoothing = cfg->label_smoothing, m->bn_momentum = cfg->bn_momentum, m->seed = cfg->seed;
    Optimizer opt;
    optim_init(&opt, net, cfg);
    int *labels = xmalloc(sizeof(int) * (size_t)B);
    Rng r = rng_for(cfg->seed, 78, 0);
    long in = (long)B * net->in_c * net->in_h * net->in_w;
    for (long i = 0; i < in; i++) m->input[i] = 2 * rng_uniform(&r) - 1;
    for (int i = 0; i < B; i++) labels[i] = (int)rng_below(&r, (uint32_t)net->classes);
    double best_epoch = 1e30, sum_epoch = 0, t_eval;
    for (int ep = 0; ep <= epochs; ep++) { /* epoch 0 warms up and is not counted */
        double t0 = now_seconds();
        for (int start = 0; start < train_images; start += B) {
            int n = train_images - start < B ? train_images - start : B;
            m->labels = labels, m->step++;
            net->forward(m, n, 1);
            net->backward(m, n);
            optim_step(&opt, m->params, m->grads, 1e-6f);
        }
        double dt = now_seconds() - t0;
        if (ep > 0) sum_epoch += dt, best_epoch = dt < best_epoch ? dt : best_epoch;
    }
    t_eval = 1e30; /* the best pass counts: one pass is short and noisy */
    for (int pass = 0; pass < passes; pass++) {
        double t0 = now_seconds();
        for (int start = 0; start < test_images; start += B) {
            int n = test_images - start < B ? test_images - start : B;
            m->labels = labels;
            net->forward(m, n, 0);
        }
        double dt = now_seconds() - t0;
        t_eval = dt < t_eval ? dt : t_eval;
    }
    double mean_epoch = sum_epoch / epochs;
    printf("{\"net\": \"%s\", \"batch\": %d, \"threads\": %d, \"train_images\": %d, \"test_images\": %d, "
           "\"epochs\": %d, \"eval_passes\": %d, \"train_s_per_epoch\": %.4f, \"train_s_best\": %.4f, \"eval_s\": %.4f, "
           "\"train_images_per_s\": %.1f, \"eval_images_per_s\": %.1f, \"train_gflops\": %.2f, \"peak_rss_mb\": %.1f, "
           "\"isa\": \"%s\", \"vector_floats\": %d, \"blas_core\": \"%s\", \"blas_fallback\": \"%s\"}\n",
           net->name, B, cfg->threads, train_images, test_images, epochs, passes, mean_epoch, best_epoch, t_eval,
           train_images / mean_epoch, test_images / t_eval, 3 * net->flops_forward * train_images / mean_epoch / 1e9,
           peak_rss_mb(), NETC_ISA_NAME, NETC_VW, netc_blas_core(), netc_blas_fallback() ? netc_blas_fallback() : "");
    free(labels);
    optim_free(&opt);
    model_free(m);
    return 0;
}
