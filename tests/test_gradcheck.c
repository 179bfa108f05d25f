/* test_gradcheck.c: the generated backward against finite differences.
 *
 * Built once per test net (make test): build/tests/gen/<name>.c compiled with
 * -DNETC_NO_MAIN and this file with -DNET=netc_<name> -DGEN_SRC="<that file>".
 * On the portable weights and inputs (portable_init.h), forward(train=1) and
 * backward give the analytic gradient of the mean loss; for every trainable
 * tensor, a sample of its entries (all of a small tensor, always the one with
 * the largest gradient) is checked against the central difference
 *
 *     (loss(w + eps) - loss(w - eps)) / 2 eps
 *
 * computed by the same generated forward (same dropout masks: same seed and
 * step), with the loss recomputed in double from the logits. The code is
 * float32, so eps starts large (1e-2, then 3e-3 ... 1e-4) and the error is
 * |analytic - numeric| / max(|analytic|, |numeric|, floor), the floor being
 * FLOOR * the tensor's largest gradient or the loss's measured rounding
 * noise / eps, whichever is larger. ReLU and max pooling have kinks: a
 * difference whose two forwards switch a relu on or off or move a max pool's
 * argmax is not a derivative, so it is retried with a smaller eps, and an
 * entry at a kink for every usable eps is replaced by another draw.
 *
 * Also: backward leaves frozen tensors' gradients alone; nothing runs below
 * the lowest trainable layer (read from the generated source); and two runs
 * give the same bits. */
#include <math.h>
#include <omp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model.h"
#include "portable_init.h"
#include "util.h"

#ifndef NET
#error "compile with -DNET=netc_<name> -DGEN_SRC=\"build/tests/gen/<name>.c\""
#endif
extern const NetcNet NET;

#define BATCH 4
#define SEED 1234u
#define STEP 3
#define CHECKS 24    /* entries checked per tensor (all of a smaller one) */
#define TOL 3e-2     /* largest error allowed */
#define FLOOR 5e-2   /* relative to the tensor's largest gradient */
static const float EPS[] = {1e-2f, 3e-3f, 1e-3f, 3e-4f, 1e-4f};

typedef struct {
    Model *m;
    int labels[BATCH];
    float *pristine; /* the parameters, to restore after each perturbation */
    float *analytic; /* m->grads after the first backward */
    uint8_t *kinks;  /* the relu on/off pattern and pool argmaxes of the unperturbed forward */
    long nkinks;
    double noise;    /* the loss's rounding noise, measured */
    int unchecked;   /* small tensors with every entry at a kink */
} Ctx;

static Ctx ctx;

/* Which side of every kink the forward took: relu outputs > 0, max pool argmaxes. */
static long kink_state(uint8_t *out) {
    const Model *m = ctx.m;
    long k = 0;
    for (int i = 0; i < NET.n_layers; i++) {
        const NetcLayer *l = &NET.layers[i];
        if (strcmp(l->kind, "relu") != 0) continue;
        const float *y = m->acts + l->act * (long)m->batch;
        long count = (long)BATCH * l->c * l->h * l->w;
        for (long j = 0; j < count; j++, k++)
            if (out) out[k] = y[j] > 0.0f;
    }
    long bytes = NET.index_ints * (long)m->batch * (long)sizeof(int32_t);
    if (out) memcpy(out + k, m->index, (size_t)bytes);
    return k + bytes;
}

static int same_kinks(void) {
    uint8_t *now = xmalloc((size_t)ctx.nkinks + 1);
    kink_state(now);
    int same = memcmp(now, ctx.kinks, (size_t)ctx.nkinks) == 0;
    free(now);
    return same;
}

/* The mean loss of a training forward, recomputed in double from the logits:
 * the float loss the generated code returns is quantised to 2.4e-7 near ln 15,
 * which would swamp differences of small entries. Same formula as the
 * generated loss (and PyTorch's, label smoothing included). */
static double loss_at(void) {
    Model *m = ctx.m;
    NET.forward(m, BATCH, 1);
    int k = NET.classes;
    float *logits = xmalloc(sizeof(float) * (size_t)BATCH * (size_t)k), *z = logits;
    model_get_logits(m, logits, BATCH);
    double total = 0, s = m->label_smoothing;
    for (int b = 0; b < BATCH; b++, z += k) {
        double top = z[0], sum = 0;
        for (int c = 1; c < k; c++) /* a compare, not fmax: GCC 12's aarch64 vectoriser crashes on that reduction */
            if (z[c] > top) top = z[c];
        for (int c = 0; c < k; c++) sum += exp(z[c] - top);
        double logz = top + log(sum);
        for (int c = 0; c < k; c++) total += (s / k + (c == ctx.labels[b] ? 1 - s : 0)) * (logz - z[c]);
    }
    free(logits);
    return total / BATCH;
}

/* How much float rounding moves the loss: weights nudged by a few ulps, where
 * the true change (gradient times nudge) is far below it; twice the largest
 * residual seen, sixteen times over (rounding moves more under bigger steps). A difference at step eps is then only trusted to noise / eps. */
static void measure_noise(void) {
    double l0 = loss_at(), worst = 1e-10;
    Rng r = rng_for(SEED, 0x6e, 0);
    for (int j = 0; j < 32; j++) {
        const NetcTensor *t = &NET.tensors[rng_below(&r, (uint32_t)NET.n_tensors)];
        if (!t->trainable) continue;
        long i = (long)rng_below(&r, (uint32_t)t->size);
        float *w = ctx.m->params + t->offset + i, w0 = *w;
        for (int u = 0; u < 4; u++) *w = nextafterf(*w, INFINITY);
        double predicted = (double)ctx.analytic[t->offset + i] * ((double)*w - w0);
        double residual = fabs(loss_at() - l0 - predicted);
        memcpy(ctx.m->params, ctx.pristine, sizeof(float) * (size_t)NET.param_floats);
        if (residual > worst) worst = residual;
    }
    ctx.noise = 16 * worst;
}

static int setup(void **state) {
    (void)state;
    Model *m = ctx.m = model_new(&NET, BATCH, omp_get_max_threads());
    pi_init_params(m, SEED, 1.0);
    float *nchw = xmalloc(sizeof(float) * (size_t)BATCH * NET.in_c * NET.in_h * NET.in_w);
    pi_init_input(nchw, &NET, BATCH, SEED);
    model_put_input(m, nchw, BATCH);
    free(nchw);
    pi_init_labels(ctx.labels, BATCH, NET.classes, SEED);
    m->labels = ctx.labels;
    m->label_smoothing = pi_label_smoothing(&NET);
    m->seed = SEED;
    m->step = STEP;
    ctx.pristine = xmalloc(sizeof(float) * (size_t)NET.param_floats);
    memcpy(ctx.pristine, m->params, sizeof(float) * (size_t)NET.param_floats);
    for (long i = 0; i < NET.param_floats; i++) m->grads[i] = NAN; /* frozen ones must stay NaN */
    NET.forward(m, BATCH, 1);
    ctx.nkinks = kink_state(NULL);
    ctx.kinks = xmalloc((size_t)ctx.nkinks + 1);
    kink_state(ctx.kinks);
    NET.backward(m, BATCH);
    ctx.analytic = xmalloc(sizeof(float) * (size_t)NET.param_floats);
    memcpy(ctx.analytic, m->grads, sizeof(float) * (size_t)NET.param_floats);
    memcpy(m->params, ctx.pristine, sizeof(float) * (size_t)NET.param_floats); /* undo the running statistics' update */
    measure_noise();
    printf("%s: batch %d, loss %.6f, label smoothing %g, loss rounding noise %.1e\n", NET.name, BATCH, (double)m->loss,
           (double)m->label_smoothing, ctx.noise);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    model_free(ctx.m);
    free(ctx.pristine), free(ctx.analytic), free(ctx.kinks);
    return 0;
}

/* (loss(w + eps) - loss(w - eps)) / (the true step), and whether both
 * forwards stayed on the baseline's side of every kink. */
static double central(float *w, long i, float eps, int *smooth) {
    float w0 = w[i];
    w[i] = w0 + eps;
    double lp = loss_at();
    *smooth = same_kinks();
    w[i] = w0 - eps;
    double lm = loss_at();
    *smooth = *smooth && same_kinks();
    memcpy(ctx.m->params, ctx.pristine, sizeof(float) * (size_t)NET.param_floats);
    /* (w0 + eps) - (w0 - eps) is not 2 eps in float */
    return (lp - lm) / ((double)(w0 + eps) - (double)(w0 - eps));
}

/* One trainable tensor: sampled entries against central differences. */
static void test_tensor(void **state) {
    const NetcTensor *t = *state;
    const float *g = ctx.analytic + t->offset;
    float *w = ctx.m->params + t->offset;
    float gmax = 0;
    long top = 0;
    for (long i = 0; i < t->size; i++)
        if (fabsf(g[i]) > gmax) gmax = fabsf(g[i]), top = i;
    if (!(gmax > 0)) fail_msg("%s: the gradient is all zero (or NaN): nothing to check", t->name);

    /* the largest entry, then all of a small tensor or random ones of a big one; an entry at a
     * kink for every eps is replaced by another draw */
    int target = t->size < CHECKS ? (int)t->size : CHECKS, attempts = t->size <= CHECKS ? (int)t->size + 1 : 8 * CHECKS;
    Rng r = rng_for(SEED, 0x6c, pi_name_key(t->name));
    double worst = 0;
    long worst_at = -1;
    float worst_a = 0, worst_n = 0;
    int checked = 0, skipped = 0;
    for (int c = 0; c < attempts && checked < target; c++) {
        long i = c == 0 ? top : t->size <= CHECKS ? c - 1 : (long)rng_below(&r, (uint32_t)t->size);
        if (c > 0 && t->size <= CHECKS && i == top) continue;
        float numeric = NAN, used = 0;
        for (int e = 0; e < ARRAY_LEN(EPS) && isnan(numeric); e++) {
            int smooth;
            double d = central(w, i, EPS[e], &smooth);
            if (smooth) numeric = (float)d, used = EPS[e];
        }
        /* a small eps is only worth it while the loss's rounding noise stays well below the entry */
        if (isnan(numeric) || ctx.noise / used > 0.1 * fmax(fabs(g[i]), FLOOR * gmax)) {
            skipped++;
            continue;
        }
        checked++;
        /* below the floor an entry is judged on its absolute error: FLOOR * the largest gradient,
         * or what the loss's rounding noise makes of the difference at this eps */
        double a = g[i], den = fmax(fmax(fabs(a), fabs((double)numeric)), fmax(FLOOR * gmax, ctx.noise / (used * TOL)));
        double err = fabs(a - numeric) / den;
        if (err > worst || worst_at < 0) worst = err, worst_at = i, worst_a = g[i], worst_n = numeric;
    }
    printf("  %-28s %7ld  max|g| %9.3e  %2d checked, %2d at kinks  max err %8.2e  (at %ld: %.6g vs %.6g)\n", t->name, t->size,
           (double)gmax, checked, skipped, worst, worst_at, (double)worst_a, (double)worst_n);
    /* a small tensor feeding many relus (a first layer's bias) may sit at kinks for every entry and
     * eps; test_enough_checked makes sure such tensors stay the exception */
    if (checked == 0 && t->size <= CHECKS) {
        ctx.unchecked++;
        return;
    }
    if (checked < (target + 2) / 3)
        fail_msg("%s: only %d entries could be checked away from relu and max pool kinks; make the test net smaller", t->name,
                 checked);
    if (worst > TOL)
        fail_msg("%s[%ld]: backward says %.6g, finite differences %.6g (error %.2e > %.0e)", t->name, worst_at, (double)worst_a,
                 (double)worst_n, worst, TOL);
}

/* At most one small tensor in five may go unchecked for kinks. */
static void test_enough_checked(void **state) {
    (void)state;
    int trainable = 0;
    for (int i = 0; i < NET.n_tensors; i++) trainable += NET.tensors[i].trainable;
    printf("  %d of %d trainable tensors checked\n", trainable - ctx.unchecked, trainable);
    if (ctx.unchecked * 5 > trainable) fail_msg("%d of %d tensors could not be checked for kinks", ctx.unchecked, trainable);
}

/* Backward writes every trainable tensor's gradient, and no frozen one's. */
static void test_frozen_untouched(void **state) {
    (void)state;
    int frozen = 0;
    for (int i = 0; i < NET.n_tensors; i++) {
        const NetcTensor *t = &NET.tensors[i];
        const float *g = ctx.analytic + t->offset;
        int untouched = 0;
        for (long j = 0; j < t->size; j++) untouched += isnan(g[j]);
        if (t->trainable && untouched) fail_msg("%s: backward left %d gradient entries unwritten", t->name, untouched);
        if (!t->trainable && untouched != t->size) fail_msg("%s is not trainable, but backward wrote its gradient", t->name);
        frozen += !t->trainable && t->role != ROLE_RUNNING_MEAN && t->role != ROLE_RUNNING_VAR;
    }
    printf("  %d trainable and frozen tensors as expected (%d frozen)\n", NET.n_tensors, frozen);
}

/* No layer below the lowest one that owns a trainable tensor may run backward:
 * nothing trainable lies at or under it (layers are in topological order). */
static void test_nothing_below_lowest_trainable(void **state) {
    (void)state;
    Error e;
    char *src = read_file(GEN_SRC, NULL, &e);
    if (!src) fail_msg("%s", e.msg);
    char *body = strstr(src, "static void backward(Model *m, int n) {");
    assert_non_null(body);
    char *end = strstr(body, "\n}\n");
    assert_non_null(end);
    *end = 0;
    int lowest = NET.n_layers;
    for (int i = 0; i < NET.n_tensors; i++)
        if (NET.tensors[i].trainable) {
            int l = net_layer_index(&NET, NET.tensors[i].layer);
            if (l < lowest) lowest = l;
        }
    int below = 0;
    for (int i = 1; i < lowest; i++) {
        char call[300];
        snprintf(call, sizeof call, "    %s_backward(", NET.layers[i].name);
        for (char *p = call; *p; p++)
            if (*p == '.') *p = '_';
        if (strstr(body, call)) fail_msg("layer %s is below the lowest trainable layer %s, but backward runs it", NET.layers[i].name,
                                         NET.layers[lowest].name);
        below++;
    }
    /* and the lowest trainable layer itself does run */
    char call[300];
    snprintf(call, sizeof call, "    %s_backward(", NET.layers[lowest].name);
    for (char *p = call; *p; p++)
        if (*p == '.') *p = '_';
    if (!strstr(body, call)) fail_msg("the lowest trainable layer %s never runs backward", NET.layers[lowest].name);
    printf("  backward stops at %s (%d layers below it skipped)\n", NET.layers[lowest].name, below);
    free(src);
}

/* The same inputs give the same bits: weight gradients are summed in thread order. */
static void test_reproducible(void **state) {
    (void)state;
    Model *m = ctx.m;
    NET.forward(m, BATCH, 1);
    NET.backward(m, BATCH);
    memcpy(m->params, ctx.pristine, sizeof(float) * (size_t)NET.param_floats);
    for (int i = 0; i < NET.n_tensors; i++) {
        const NetcTensor *t = &NET.tensors[i];
        if (t->trainable && memcmp(m->grads + t->offset, ctx.analytic + t->offset, sizeof(float) * (size_t)t->size) != 0)
            fail_msg("%s: a second forward and backward gave other gradients", t->name);
    }
}

int main(void) {
    struct CMUnitTest *tests = xcalloc((size_t)NET.n_tensors + 4, sizeof *tests);
    int n = 0;
    for (int i = 0; i < NET.n_tensors; i++)
        if (NET.tensors[i].trainable)
            tests[n++] = (struct CMUnitTest){NET.tensors[i].name, test_tensor, NULL, NULL, (void *)&NET.tensors[i]};
    tests[n++] = (struct CMUnitTest){"enough_checked", test_enough_checked, NULL, NULL, NULL};
    tests[n++] = (struct CMUnitTest){"frozen_untouched", test_frozen_untouched, NULL, NULL, NULL};
    tests[n++] = (struct CMUnitTest){"nothing_below_lowest_trainable", test_nothing_below_lowest_trainable, NULL, NULL, NULL};
    tests[n++] = (struct CMUnitTest){"reproducible", test_reproducible, NULL, NULL, NULL};
    int rc = _cmocka_run_group_tests(NET.name, tests, (size_t)n, setup, teardown);
    free(tests);
    return rc;
}
