/* optim.h: optimisers and learning-rate schedules.
 *
 * PyTorch's semantics, so a run can be compared with one: SGD with momentum
 * (first step: buffer = gradient; Nesterov optional) and Adam with bias
 * correction; weight decay is an L2 term added to the gradient of weights
 * only (never biases or batch norm). Each tensor's step is scaled by its
 * layer's lr_mult; frozen tensors and statistics are never touched. */
#ifndef NETC_OPTIM_H
#define NETC_OPTIM_H

#include "config.h"
#include "netc.h"

typedef struct {
    const NetcNet *net;
    const Config *cfg;
    float *m;     /* momentum buffer (SGD) or first moment (Adam), param_floats */
    float *v;     /* second moment (Adam), param_floats */
    long t;       /* steps taken */
} Optimizer;

void optim_init(Optimizer *o, const NetcNet *net, const Config *cfg);
void optim_free(Optimizer *o);
/* One step on every trainable tensor with learning rate lr. */
void optim_step(Optimizer *o, float *params, float *grads, float lr);
/* Global L2 norm of the trainable gradients (for clipping and NaN checks). */
double grad_norm(const NetcNet *net, const float *grads);

/* The learning rate at `epoch` (fractional: 2.5 is halfway through the third). */
float schedule_lr(const Config *cfg, double epoch);

#endif
