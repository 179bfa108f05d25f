/* test_torchref.c: one generated net against PyTorch's answer for it.
 *
 * Built once per net (make test): the generated file compiled with
 * -DNETC_NO_MAIN and this file with -DNET=netc_<name>. It runs one training
 * step's forward and backward and an evaluation forward on the portable
 * weights, inputs and labels (portable_init.h), and compares them with
 * tests/ref/<name>.safetensors, which tools/torch_ref.py made from the same
 * numbers in PyTorch (float64): logits, probabilities, loss, every trainable
 * tensor's gradient (or sampled entries and the norm), the running statistics
 * after the step, and the evaluation logits.
 *
 * A difference is max |ours - ref| / max |ref| over the tensor: relative to
 * the tensor's largest magnitude, since an element-wise relative error means
 * nothing for entries near zero. Float32 against float64 lands near 1e-6;
 * the bound is 1e-4. A reference may relax the gradients' bound
 * (grad_tol) and measure them by their relative L2 distance instead
 * (grad_metric l2): tools/torch_ref.py says which nets and why. */
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
#include "safetensors.h"

#ifndef NET
#error "compile with -DNET=netc_<name>"
#endif
extern const NetcNet NET;

#define TOL 1e-4

typedef struct {
    StFile ref;
    char *used;        /* per reference tensor: compared? */
    Model *m;
    int n;
    uint64_t seed;
    double gain; /* the weights' bound, times 1 / sqrt(fan_in) */
    int *labels;
    float *logits, *probs, *eval_logits, *eval_all_logits, loss, eval_loss;
    float *input; /* NCHW */
} Ctx;

static Ctx ctx;

/* ---- reading the reference ------------------------------------------------------------- */

static const StTensor *ref_find(const char *name) {
    const StTensor *t = st_find(&ctx.ref, name);
    if (t) ctx.used[t - ctx.ref.tensors] = 1;
    return t;
}

/* The float32 tensor `name` with `count` elements, malloc'd; fails the test if absent. */
static float *ref_floats(const char *name, long count) {
    const StTensor *t = ref_find(name);
    if (!t) fail_msg("%s: the reference has no tensor '%s'; remake it with make refs", ctx.ref.path, name);
    if (st_numel(t) != count) fail_msg("%s: '%s' has %ld elements, expected %ld", ctx.ref.path, name, (long)st_numel(t), count);
    float *v = xmalloc(sizeof(float) * (size_t)(count ? count : 1));
    Error e;
    if (st_read_f32(&ctx.ref, t, v, (size_t)count, &e) < 0) fail_msg("%s", e.msg);
    return v;
}

static long meta_long(const char *key) {
    const char *v = st_meta(&ctx.ref, key);
    if (!v) fail_msg("%s: no metadata '%s'", ctx.ref.path, key);
    return strtol(v, NULL, 10);
}

/* max |ours - ref| / max |ref|, printed; NaN in ours is infinitely wrong */
static double compare_tol(const char *what, const float *ours, const float *ref, long count, double tol);
static double compare(const char *what, const float *ours, const float *ref, long count) { return compare_tol(what, ours, ref, count, TOL); }

/* ||ours - ref|| / ||ref||, with max |ours - ref| / max |ref| printed beside it */
static int by_l2;

static double compare_tol(const char *what, const float *ours, const float *ref, long count, double tol) {
    double diff = 0, top = 0, d2 = 0, r2 = 0;
    long at = 0;
    for (long i = 0; i < count; i++) {
        double d = fabs((double)ours[i] - (double)ref[i]);
        if (isnan(ours[i])) d = INFINITY;
        if (d > diff) diff = d, at = i;
        if (fabs(ref[i]) > top) top = fabs(ref[i]);
        d2 += d * d, r2 += (double)ref[i] * ref[i];
    }
    double rel = top > 0 ? diff / top : diff;
    if (by_l2) {
        double l2 = r2 > 0 ? sqrt(d2 / r2) : sqrt(d2);
        printf("  %-34s %9ld  max|ref| %9.3e  rel L2 %8.2e (max entry %8.2e)%s\n", what, count, top, l2, rel,
               l2 > tol ? "  <-- too large" : "");
        return l2;
    }
    printf("  %-34s %9ld  max|ref| %9.3e  rel diff %8.2e%s\n", what, count, top, rel, rel > tol ? "  <-- too large" : "");
    if (rel > tol)
        printf("    worst at %ld: ours %.9g, PyTorch %.9g\n", at, (double)ours[at], (double)ref[at]);
    return rel;
}

/* ---- the run ------------------------------------------------------------------------- */

static int setup(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "tests/ref/%s.safetensors", NET.name);
    Error e;
    if (st_open(&ctx.ref, path, &e) < 0) {
        fprintf(stderr, "%s\n  HINT: references are made by `make refs` (needs PyTorch) and committed\n", e.msg);
        return -1;
    }
    ctx.used = xcalloc((size_t)ctx.ref.n + 1, 1);
    const char *refnet = st_meta(&ctx.ref, "net");
    if (!refnet || strcmp(refnet, NET.name) != 0) {
        fprintf(stderr, "%s holds net '%s', not '%s'\n", path, refnet ? refnet : "?", NET.name);
        return -1;
    }
    ctx.n = (int)meta_long("batch");
    ctx.seed = (uint64_t)meta_long("seed");
    int n = ctx.n, k = NET.classes;
    printf("%s against PyTorch (%s, model %s), batch %d\n", NET.name, path, st_meta(&ctx.ref, "model"), n);

    Model *m = ctx.m = model_new(&NET, n, omp_get_max_threads());
    ctx.gain = strtod(st_meta(&ctx.ref, "gain") ? st_meta(&ctx.ref, "gain") : "1", NULL);
    pi_init_params(m, ctx.seed, ctx.gain);
    ctx.input = xmalloc(sizeof(float) * (size_t)n * NET.in_c * NET.in_h * NET.in_w); /* NCHW, as PyTorch saw it */
    pi_init_input(ctx.input, &NET, n, ctx.seed);
    model_put_input(m, ctx.input, n);
    ctx.labels = xcalloc((size_t)n, sizeof(int));
    pi_init_labels(ctx.labels, n, k, ctx.seed);
    m->labels = ctx.labels;
    m->label_smoothing = pi_label_smoothing(&NET);
    m->seed = ctx.seed;
    m->step = meta_long("step");

    /* frozen tensors' gradients must stay untouched: start them all as NaN */
    for (long i = 0; i < NET.param_floats; i++) m->grads[i] = NAN;
    NET.forward(m, n, 1);
    ctx.logits = xmalloc(sizeof(float) * (size_t)(n * k));
    ctx.probs = xmalloc(sizeof(float) * (size_t)(n * k));
    model_get_logits(m, ctx.logits, n);
    memcpy(ctx.probs, m->probs, sizeof(float) * (size_t)(n * k));
    ctx.loss = m->loss;
    NET.backward(m, n);
    NET.forward(m, n, NETC_EVAL); /* evaluation: running statistics, no dropout; batch norms folded into convs */
    ctx.eval_logits = xmalloc(sizeof(float) * (size_t)(n * k));
    model_get_logits(m, ctx.eval_logits, n);
    NET.forward(m, n, NETC_EVAL_ALL); /* the same, every layer's output written (probe) */
    ctx.eval_all_logits = xmalloc(sizeof(float) * (size_t)(n * k));
    model_get_logits(m, ctx.eval_all_logits, n);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    model_free(ctx.m);
    st_close(&ctx.ref);
    free(ctx.used), free(ctx.labels), free(ctx.logits), free(ctx.probs), free(ctx.eval_logits), free(ctx.eval_all_logits), free(ctx.input);
    return 0;
}

/* The weights, inputs and labels are the ones PyTorch saw: if not, nothing below means anything. */
static void test_same_numbers(void **state) {
    (void)state;
    float *in = ref_floats("check.input", 16);
    for (int i = 0; i < 16; i++)
        if (in[i] != ctx.input[i])
            fail_msg("input[%d] is %.9g here and %.9g in PyTorch: tests/portable_init.h and tools/portable_init.py disagree", i,
                     (double)ctx.input[i], (double)in[i]);
    free(in);
    const StTensor *t = ref_find("check.labels");
    assert_non_null(t);
    assert_int_equal(st_numel(t), ctx.n);
    const int32_t *lab = st_bytes(&ctx.ref, t);
    for (int i = 0; i < ctx.n; i++) assert_int_equal(lab[i], ctx.labels[i]);
    t = ref_find("check.param_sums");
    assert_non_null(t);
    assert_int_equal(st_numel(t), NET.n_tensors);
    /* safetensors does not align tensors: copy before reading doubles */
    double *sums = xmalloc(sizeof(double) * (size_t)NET.n_tensors);
    memcpy(sums, st_bytes(&ctx.ref, t), sizeof(double) * (size_t)NET.n_tensors);
    float *fresh = xmalloc(sizeof(float) * (size_t)NET.param_floats);
    for (int i = 0; i < NET.n_tensors; i++) {
        const NetcTensor *nt = &NET.tensors[i];
        pi_init_tensor(fresh, nt, ctx.seed, ctx.gain);
        double s = 0;
        for (long j = 0; j < nt->size; j++) s += fresh[j];
        if (fabs(s - sums[i]) > 1e-9 * (1 + fabs(sums[i])))
            fail_msg("tensor %s: sum %.12g here, %.12g in PyTorch: the portable init or the tensor table differs", nt->name, s, sums[i]);
    }
    free(fresh), free(sums);
    const char *ls = st_meta(&ctx.ref, "label_smoothing");
    assert_non_null(ls);
    assert_true(fabs(strtod(ls, NULL) - ctx.m->label_smoothing) < 1e-7);
}

static void test_forward(void **state) {
    (void)state;
    long nk = (long)ctx.n * NET.classes;
    double worst = 0, r;
    float *ref = ref_floats("logits", nk);
    r = compare("logits", ctx.logits, ref, nk), worst = r > worst ? r : worst;
    free(ref);
    ref = ref_floats("probs", nk);
    r = compare("probs", ctx.probs, ref, nk), worst = r > worst ? r : worst;
    free(ref);
    ref = ref_floats("loss", 1);
    r = compare("loss", &ctx.loss, ref, 1), worst = r > worst ? r : worst;
    free(ref);
    if (worst > TOL) fail_msg("forward differs from PyTorch by %.2e (bound %.0e)", worst, TOL);
}

static void test_gradients(void **state) {
    (void)state;
    double worst = 0;
    /* 1e-4, unless the reference says otherwise (tools/torch_ref.py explains SqueezeNet's) */
    const char *gt = st_meta(&ctx.ref, "grad_tol");
    double tol = gt ? strtod(gt, NULL) : TOL;
    const char *metric = st_meta(&ctx.ref, "grad_metric");
    by_l2 = metric && strcmp(metric, "l2") == 0;
    if (tol > 1e-2 * 5) fail_msg("%s: a gradient bound of %g would test nothing", ctx.ref.path, tol);
    char name[256];
    for (int i = 0; i < NET.n_tensors; i++) {
        const NetcTensor *t = &NET.tensors[i];
        const float *g = ctx.m->grads + t->offset;
        if (!t->trainable) {
            for (long j = 0; j < t->size; j++)
                if (!isnan(g[j])) fail_msg("%s is not trainable, but backward wrote its gradient", t->name);
            continue;
        }
        snprintf(name, sizeof name, "grad.%s", t->name);
        double r;
        if (st_find(&ctx.ref, name)) {
            float *ref = ref_floats(name, t->size);
            r = compare_tol(name, g, ref, t->size, tol);
            free(ref);
        } else {
            /* sampled: entries at the portable indices, and the norm */
            snprintf(name, sizeof name, "grad.%s.sample", t->name);
            const StTensor *st = ref_find(name);
            if (!st) fail_msg("%s: no gradient for %s", ctx.ref.path, t->name);
            int k = (int)st_numel(st);
            float *ref = ref_floats(name, k), *ours = xmalloc(sizeof(float) * (size_t)k);
            long *idx = xmalloc(sizeof(long) * (size_t)k);
            pi_sample_indices(idx, k, t->name, t->size, ctx.seed);
            int64_t isum = 0;
            for (int j = 0; j < k; j++) ours[j] = g[idx[j]], isum += idx[j];
            snprintf(name, sizeof name, "grad.%s.index_sum", t->name);
            const StTensor *is = ref_find(name);
            assert_non_null(is);
            int64_t ref_isum;
            memcpy(&ref_isum, st_bytes(&ctx.ref, is), sizeof ref_isum); /* not aligned in the file */
            if (ref_isum != isum)
                fail_msg("%s: the sampled indices differ from PyTorch's (portable_init drift)", t->name);
            snprintf(name, sizeof name, "grad.%s (%d of %ld)", t->name, k, t->size);
            r = compare_tol(name, ours, ref, k, tol);
            free(ref), free(ours), free(idx);
            double norm = 0;
            for (long j = 0; j < t->size; j++) norm += (double)g[j] * g[j];
            float ournorm = (float)sqrt(norm);
            snprintf(name, sizeof name, "grad.%s.norm", t->name);
            float *refnorm = ref_floats(name, 1);
            double rn = compare_tol(name, &ournorm, refnorm, 1, tol);
            free(refnorm);
            r = rn > r ? rn : r;
        }
        worst = r > worst ? r : worst;
    }
    int l2 = by_l2;
    by_l2 = 0;
    if (worst > tol) fail_msg("gradients differ from PyTorch by %.2e (bound %.0e%s)", worst, tol, l2 ? ", relative L2" : "");
}

static void test_running_stats(void **state) {
    (void)state;
    double worst = 0;
    char name[256];
    for (int i = 0; i < NET.n_tensors; i++) {
        const NetcTensor *t = &NET.tensors[i];
        if (t->role != ROLE_RUNNING_MEAN && t->role != ROLE_RUNNING_VAR) continue;
        snprintf(name, sizeof name, "state.%s", t->name);
        float *ref = ref_floats(name, t->size);
        double r = compare(name, ctx.m->params + t->offset, ref, t->size);
        free(ref);
        worst = r > worst ? r : worst;
    }
    if (worst > TOL) fail_msg("running statistics differ from PyTorch by %.2e", worst);
}

static void test_eval(void **state) {
    (void)state;
    long nk = (long)ctx.n * NET.classes;
    float *ref = ref_floats("eval.logits", nk);
    double r = compare("eval.logits", ctx.eval_logits, ref, nk);
    double r_all = compare("eval.logits (every output kept)", ctx.eval_all_logits, ref, nk);
    free(ref);
    if (r > TOL) fail_msg("evaluation logits differ from PyTorch by %.2e", r);
    if (r_all > TOL) fail_msg("evaluation logits, every output kept, differ from PyTorch by %.2e", r_all);
}

/* Every tensor in the reference was compared: a check PyTorch wrote must not be skipped. */
static void test_all_compared(void **state) {
    (void)state;
    for (int i = 0; i < ctx.ref.n; i++)
        if (!ctx.used[i]) fail_msg("%s: tensor '%s' was never compared", ctx.ref.path, ctx.ref.tensors[i].name);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_numbers), cmocka_unit_test(test_forward),     cmocka_unit_test(test_gradients),
        cmocka_unit_test(test_running_stats), cmocka_unit_test(test_eval),       cmocka_unit_test(test_all_compared),
    };
    return cmocka_run_group_tests_name(NET.name, tests, setup, teardown);
}
