/* optim.c: SGD, Adam and the schedules (see optim.h). */
#include "optim.h"

#include <math.h>
#include <stdlib.h>

#include "util.h"

void optim_init(Optimizer *o, const NetcNet *net, const Config *cfg) {
    o->net = net;
    o->cfg = cfg;
    o->m = xalloc_floats((size_t)net->param_floats);
    o->v = cfg->optimizer == OPT_ADAM ? xalloc_floats((size_t)net->param_floats) : NULL;
    o->t = 0;
}

void optim_free(Optimizer *o) {
    free(o->m);
    free(o->v);
    o->m = o->v = NULL;
}

static int decayed(const NetcTensor *t) { return t->role == ROLE_WEIGHT; }

void optim_step(Optimizer *o, float *params, float *grads, float lr) {
    const Config *c = o->cfg;
    o->t++;
    for (int i = 0; i < o->net->n_tensors; i++) {
        const NetcTensor *t = &o->net->tensors[i];
        if (!t->trainable) continue;
        float *w = params + t->offset, *g = grads + t->offset, *m = o->m + t->offset;
        float rate = lr * t->lr_mult, wd = decayed(t) ? c->weight_decay : 0.0f;
        long n = t->size;
        if (c->optimizer == OPT_SGD) {
            float mu = c->momentum;
            int first = o->t == 1, nesterov = c->nesterov;
#pragma omp parallel for schedule(static)
            for (long k = 0; k < n; k++) {
                float d = g[k] + wd * w[k];
                if (mu > 0) {
                    m[k] = first ? d : mu * m[k] + d;
                    d = nesterov ? d + mu * m[k] : m[k];
                }
                w[k] -= rate * d;
            }
        } else {
            float *v = o->v + t->offset, b1 = c->beta1, b2 = c->beta2, eps = c->adam_eps;
            float c1 = 1.0f - powf(b1, (float)o->t), c2 = 1.0f - powf(b2, (float)o->t);
            float step = rate / c1, root_c2 = sqrtf(c2);
#pragma omp parallel for schedule(static)
            for (long k = 0; k < n; k++) {
                float d = g[k] + wd * w[k];
                m[k] = b1 * m[k] + (1.0f - b1) * d;
                v[k] = b2 * v[k] + (1.0f - b2) * d * d;
                w[k] -= step * m[k] / (sqrtf(v[k]) / root_c2 + eps);
            }
        }
    }
}

double grad_norm(const NetcNet *net, const float *grads) {
    double s = 0;
    for (int i = 0; i < net->n_tensors; i++) {
        const NetcTensor *t = &net->tensors[i];
        if (!t->trainable) continue;
        const float *g = grads + t->offset;
        double part = 0;
#pragma omp parallel for schedule(static) reduction(+ : part)
        for (long k = 0; k < t->size; k++) part += (double)g[k] * g[k];
        s += part;
    }
    return sqrt(s);
}

/* cosine from a to b as x goes 0 -> 1 */
static double cos_anneal(double a, double b, double x) {
    if (x < 0) x = 0;
    if (x > 1) x = 1;
    return b + (a - b) * 0.5 * (1 + cos(M_PI * x));
}

float schedule_lr(const Config *c, double epoch) {
    double lr = c->lr, total = c->epochs > 0 ? c->epochs : 1, warm = c->warmup;
    double start = lr / 25; /* where warm-ups begin, as PyTorch's OneCycleLR */
    switch (c->schedule) {
    case SCHED_ONECYCLE: {
        if (warm <= 0) warm = 0.3 * total;
        double final = c->final_lr > 0 ? c->final_lr : start / 1e4;
        if (epoch < warm) return (float)cos_anneal(start, lr, epoch / warm);
        return (float)cos_anneal(lr, final, (epoch - warm) / fmax(total - warm, 1e-9));
    }
    case SCHED_COSINE:
        if (epoch < warm) return (float)(start + (lr - start) * epoch / warm);
        return (float)cos_anneal(lr, c->final_lr, (epoch - warm) / fmax(total - warm, 1e-9));
    case SCHED_STEP:
        if (epoch < warm) return (float)(start + (lr - start) * epoch / warm);
        return (float)(lr * pow(c->step_gamma, floor(epoch / c->step_every)));
    default:
        if (epoch < warm) return (float)(start + (lr - start) * epoch / warm);
        return (float)lr;
    }
}
