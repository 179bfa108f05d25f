/* state.c: the state in which tools/torch_ref.py evaluated a net, as a
 * weights file netc --deploy reads: the portable weights (portable_init.h),
 * the batch norms' running statistics after the one training forward the
 * reference ran, class names and a neutral normalisation; and the inputs it
 * evaluated, as the tensor "deploy.input" [n][c][h][w] beside them.
 *
 *     deploy_state_<net> OUT.safetensors     (built per net with -DNET=netc_<net>)
 *
 * test_deploy_ref.c then runs the deployed net on those inputs and compares
 * its logits with the reference's evaluation logits. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "portable_init.h"
#include "safetensors.h"

extern const NetcNet NET;

static long meta_long(const StFile *f, const char *key) {
    const char *v = st_meta(f, key);
    return v ? strtol(v, NULL, 10) : 0;
}

int main(int argc, char **argv) {
    if (argc != 2) return fprintf(stderr, "usage: %s OUT.safetensors\n", argv[0]), 2;
    char path[512];
    snprintf(path, sizeof path, "tests/ref/%s.safetensors", NET.name);
    StFile ref;
    Error e;
    if (st_open(&ref, path, &e) < 0) return fprintf(stderr, "%s\n", e.msg), 1;
    int n = (int)meta_long(&ref, "batch"), k = NET.classes;
    uint64_t seed = (uint64_t)meta_long(&ref, "seed");
    const char *gain = st_meta(&ref, "gain");

    /* as test_torchref.c does it: one training forward (the running statistics move) */
    Model *m = model_new(&NET, n, omp_get_max_threads());
    pi_init_params(m, seed, gain ? strtod(gain, NULL) : 1);
    float *input = xmalloc(sizeof(float) * (size_t)n * NET.in_c * NET.in_h * NET.in_w);
    pi_init_input(input, &NET, n, seed);
    model_put_input(m, input, n);
    int *labels = xcalloc((size_t)n, sizeof(int));
    pi_init_labels(labels, n, k, seed);
    m->labels = labels;
    m->label_smoothing = pi_label_smoothing(&NET);
    m->seed = seed;
    m->step = meta_long(&ref, "step");
    NET.forward(m, n, 1);

    char *classes = xcalloc((size_t)k, 8);
    for (int c = 0; c < k; c++) sprintf(classes + strlen(classes), "%sc%d", c ? "\n" : "", c);
    /* every tensor (as model_save_weights writes them), then the inputs */
    StWrite *w = xcalloc((size_t)NET.n_tensors + 1, sizeof *w);
    for (int i = 0; i < NET.n_tensors; i++) {
        const NetcTensor *t = &NET.tensors[i];
        w[i] = (StWrite){t->name, "F32", t->ndim, {0}, m->params + t->offset, sizeof(float) * (size_t)t->size};
        for (int d = 0; d < t->ndim; d++) w[i].shape[d] = t->shape[d];
    }
    w[NET.n_tensors] = (StWrite){"deploy.input", "F32", 4, {n, NET.in_c, NET.in_h, NET.in_w}, input,
                                 sizeof(float) * (size_t)n * NET.in_c * NET.in_h * NET.in_w};
    const char *meta[] = {"netc.net", NET.name, "netc.kind", "weights", "classes", classes,
                          "norm", "0x0p+0 0x0p+0 0x0p+0 0x1p+0 0x1p+0 0x1p+0", NULL};
    int rc = st_write(argv[1], w, NET.n_tensors + 1, meta, &e);
    free(w);
    if (rc < 0) fprintf(stderr, "%s\n", e.msg);
    free(classes), free(labels), free(input);
    model_free(m);
    st_close(&ref);
    return rc < 0 ? 1 : 0;
}
