/* model.c: arenas, initialisation and weight files (see model.h). */
#include "model.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "gemm.h"
#include "rng.h"
#include "safetensors.h"

Model *model_new(const NetcNet *net, int batch, int threads) {
    netc_blas_single_thread(); /* OpenMP owns the threads; netc_sgemm splits products itself */
    Model *m = xcalloc(1, sizeof *m);
    m->net = net;
    m->batch = batch;
    m->threads = threads;
    m->params = xalloc_floats((size_t)net->param_floats);
    m->grads = xalloc_floats((size_t)net->param_floats);
    m->acts = xalloc_floats((size_t)net->act_floats * (size_t)batch);
    m->dacts = xalloc_floats((size_t)net->grad_floats * (size_t)batch + 1);
    m->index = xcalloc((size_t)net->index_ints * (size_t)batch + 1, sizeof(int32_t));
    m->masks = xcalloc((size_t)net->mask_bytes * (size_t)batch + 1, 1);
    m->saved = xalloc_floats((size_t)net->saved_floats + 1);
    m->scratch = xalloc_floats((size_t)net->scratch_floats + (size_t)net->scratch_per_image * (size_t)batch + 1);
    m->input = m->acts;
    m->probs = m->acts + net->layers[net->n_layers - 1].act * (long)batch;
    m->bn_momentum = 0.1f;
    return m;
}

void model_free(Model *m) {
    if (!m) return;
    free(m->params), free(m->grads), free(m->acts), free(m->dacts);
    free(m->index), free(m->masks), free(m->saved), free(m->scratch);
    free(m);
}

void model_init(Model *m, uint64_t seed) {
    const NetcNet *net = m->net;
    for (int t = 0; t < net->n_tensors; t++) {
        const NetcTensor *ts = &net->tensors[t];
        float *w = m->params + ts->offset;
        Rng r = rng_for(seed, 0x1417, (uint64_t)t);
        double fan_in = ts->fan_in > 0 ? ts->fan_in : 1, fan_out = ts->fan_out > 0 ? ts->fan_out : 1;
        for (long i = 0; i < ts->size; i++) {
            float v;
            switch (ts->init) {
            case NINIT_KAIMING: v = rng_normal(&r) * (float)sqrt(2.0 / fan_in); break;
            case NINIT_XAVIER: v = rng_normal(&r) * (float)sqrt(2.0 / (fan_in + fan_out)); break;
            case NINIT_GAUSSIAN: v = rng_normal(&r) * ts->init_arg; break;
            case NINIT_UNIFORM: v = (2 * rng_uniform(&r) - 1) * ts->init_arg; break;
            case NINIT_PYTORCH: v = (2 * rng_uniform(&r) - 1) * (float)(1.0 / sqrt(fan_in)); break;
            default: v = ts->init_arg; break;
            }
            w[i] = v;
        }
    }
}

const NetcTensor *net_tensor(const NetcNet *net, const char *name) {
    for (int t = 0; t < net->n_tensors; t++)
        if (strcmp(net->tensors[t].name, name) == 0) return &net->tensors[t];
    return NULL;
}

int net_layer_index(const NetcNet *net, const char *name) {
    for (int i = 0; i < net->n_layers; i++)
        if (strcmp(net->layers[i].name, name) == 0) return i;
    /* a block instance ("fire9") means its last layer ("fire9.concat"), as in the .net file */
    size_t n = strlen(name);
    for (int i = net->n_layers - 1; i >= 0; i--)
        if (strncmp(net->layers[i].name, name, n) == 0 && net->layers[i].name[n] == '.') return i;
    return -1;
}

int shape_fits(const int64_t *fs, int fn, const int *s, int n) {
    while (fn > 1 && fs[fn - 1] == 1) fn--;
    while (n > 1 && s[n - 1] == 1) n--;
    if (fn != n) return 0;
    for (int i = 0; i < n; i++)
        if (fs[i] != s[i]) return 0;
    return 1;
}

static void our_shape_str(const NetcTensor *t, char *buf, size_t len) {
    int64_t s[4];
    for (int i = 0; i < t->ndim; i++) s[i] = t->shape[i];
    st_shape_str(s, t->ndim, buf, len);
}

/* Reads file tensor `name` into our tensor t, checking its shape. */
static int read_tensor(const StFile *f, const char *name, const NetcTensor *t, float *dst, Error *e) {
    const StTensor *ft = st_find(f, name);
    char want[96], got[96];
    our_shape_str(t, want, sizeof want);
    if (!ft) {
        errorf(e, "%s: no tensor '%s' (layer %s needs %s %s)", f->path, name, t->layer, t->name, want);
        return error_hint(e, "list the file's tensors with: python3 tools/pth2safetensors.py --list %s", f->path);
    }
    if (!shape_fits(ft->shape, ft->ndim, t->shape, t->ndim)) {
        st_shape_str(ft->shape, ft->ndim, got, sizeof got);
        errorf(e, "%s: tensor '%s' is %s, but layer %s needs %s for %s", f->path, name, got, t->layer, want, t->name);
        return error_hint(e, "the .net file and the weights describe different layers; fix the layer or its load name");
    }
    if (st_read_f32(f, ft, dst, (size_t)t->size, e) < 0) return -1;
    for (long k = 0; k < t->size; k++)
        if (!isfinite(dst[k])) { /* a diverged run's weights would train or predict garbage without a word */
            errorf(e, "%s: tensor '%s' holds %s at element %ld of %ld (layer %s)", f->path, name, isnan(dst[k]) ? "NaN" : "an infinity",
                   k, t->size, t->layer);
            return error_hint(e, "the run that wrote it had diverged; use an earlier file (a run's best.ckpt), or train again "
                                 "with a smaller learning rate");
        }
    return 0;
}

int model_load_pretrained(Model *m, const char *path, Error *e) {
    StFile f;
    if (st_open(&f, path, e) < 0) return -1;
    int loaded = 0;
    for (int i = 0; i < m->net->n_tensors; i++) {
        const NetcTensor *t = &m->net->tensors[i];
        if (!t->load) continue;
        if (read_tensor(&f, t->load, t, m->params + t->offset, e) < 0) {
            st_close(&f);
            return -1;
        }
        loaded++;
    }
    st_close(&f);
    return loaded;
}

int model_load_weights(Model *m, const char *path, Error *e) {
    StFile f;
    if (st_open(&f, path, e) < 0) return -1;
    const char *other = st_meta(&f, "netc.net");
    if (other && strcmp(other, m->net->name) != 0) {
        errorf(e, "%s holds weights of net '%s', not '%s'", path, other, m->net->name);
        st_close(&f);
        return error_hint(e, "use the weights written by this net's trainer (runs/%s/...)", m->net->name);
    }
    for (int i = 0; i < m->net->n_tensors; i++) {
        const NetcTensor *t = &m->net->tensors[i];
        if (read_tensor(&f, t->name, t, m->params + t->offset, e) < 0) {
            st_close(&f);
            return -1;
        }
    }
    st_close(&f);
    return 0;
}

int model_save_weights(const Model *m, const char *path, const char *const *meta, Error *e) {
    const NetcNet *net = m->net;
    StWrite *w = xcalloc((size_t)net->n_tensors + 1, sizeof *w);
    for (int i = 0; i < net->n_tensors; i++) {
        const NetcTensor *t = &net->tensors[i];
        w[i].name = t->name;
        w[i].dtype = "F32";
        w[i].ndim = t->ndim;
        for (int d = 0; d < t->ndim; d++) w[i].shape[d] = t->shape[d];
        w[i].data = m->params + t->offset;
        w[i].nbytes = (size_t)t->size * sizeof(float);
    }
    /* our metadata first, then the caller's */
    const char *all[64];
    int k = 0;
    all[k++] = "netc.net", all[k++] = net->name;
    all[k++] = "netc.version", all[k++] = net->netc_version;
    for (int i = 0; meta && meta[i] && k < 62; i += 2) all[k++] = meta[i], all[k++] = meta[i + 1];
    all[k] = NULL;
    int rc = st_write(path, w, net->n_tensors, all, e);
    free(w);
    return rc;
}

void netc_layer_done(Model *m, int k, int pass) {
    if (m->profile) netc_profile_tick(m, k, pass);
    if (m->dist && pass == 1) dist_layer_done(m->dist, k);
}

void netc_profile_tick(Model *m, int k, int pass) {
    double t = now_seconds();
    if (k >= 0) m->profile[pass * m->net->n_layers + k] += t - m->profile_t;
    m->profile_t = t;
}

void model_put_input(Model *m, const float *nchw, int n) {
    const NetcNet *net = m->net;
    long hw = (long)net->in_h * net->in_w;
    for (int b = 0; b < n; b++)
        for (int c = 0; c < net->in_c; c++)
            memcpy(m->input + ((long)c * m->batch + b) * hw, nchw + ((long)b * net->in_c + c) * hw, sizeof(float) * (size_t)hw);
}

void model_get_output(const Model *m, int layer, float *nchw, int n) {
    const NetcLayer *l = &m->net->layers[layer];
    long hw = (long)l->h * l->w;
    const float *a = m->acts + l->act * (long)m->batch;
    for (int b = 0; b < n; b++)
        for (int c = 0; c < l->c; c++)
            memcpy(nchw + ((long)b * l->c + c) * hw, a + ((long)c * m->batch + b) * hw, sizeof(float) * (size_t)hw);
}

void model_get_logits(const Model *m, float *out, int n) {
    const float *z = m->acts + m->net->logits * (long)m->batch;
    int k = m->net->classes;
    for (int b = 0; b < n; b++)
        for (int c = 0; c < k; c++) out[(long)b * k + c] = z[(long)c * m->batch + b];
}
