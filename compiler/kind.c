/* kind.c: looking kinds up, and what several kinds share: the options of
 * layers with weights, "-> N", tensors (see kind.h). */
#include "kind.h"

#include <stdlib.h>
#include <string.h>

#include "pool.h"

const Kind *kind_find(const char *word) {
    for (int i = 0; i < kind_count; i++) {
        const Kind *k = kind_table[i];
        if (strcmp(k->name, word) == 0) return k;
        for (const char *const *a = k->aliases; a && *a; a++)
            if (strcmp(*a, word) == 0) return k;
    }
    return NULL;
}

const char *const *kind_words(void) {
    static const char **list;
    if (list) return list; /* static data: never freed, the same for every compilation */
    int n = 0;
    for (int i = 0; i < kind_count; i++)
        for (const char *const *a = kind_table[i]->aliases; a && *a; a++) n++;
    list = calloc((size_t)(n + kind_count + 1), sizeof *list);
    if (!list) abort();
    n = 0;
    for (int i = 0; i < kind_count; i++) {
        list[n++] = kind_table[i]->name;
        for (const char *const *a = kind_table[i]->aliases; a && *a; a++) list[n++] = *a;
    }
    return list;
}

const char *kind_list(void) {
    char *s = pool_strdup("");
    for (int i = 0; i < kind_count; i++) s = pool_printf("%s%s%s", s, i ? ", " : "", kind_table[i]->name);
    return s;
}

bool kind_has_option(const Kind *k, const char *opt) {
    for (const KindOption *o = k->options; o && o->name; o++)
        if (strcmp(o->name, opt) == 0) return true;
    return false;
}

const void *spec_of(const Layer *l, const Kind *k) {
    if (l->kind != k) {
        fprintf(stderr, "netc: internal error: %s is a %s layer, not %s\n", l->name, l->kind->name, k->name);
        abort();
    }
    return l->spec;
}

/* ---- tensors ------------------------------------------------------------------------------- */

void tensor_set(Tensor *t, const char *suffix, NetcRole role, int ndim, const long *shape, Init init, long fan_in, long fan_out) {
    memset(t, 0, sizeof *t);
    t->suffix = suffix, t->role = role, t->ndim = ndim, t->init = init, t->fan_in = fan_in, t->fan_out = fan_out;
    t->numel = 1;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d], t->numel = shape_mul(t->numel, shape[d]);
    t->off = -1;
}

bool tensor_trainable(const Layer *l, const Tensor *t) {
    return !l->frozen && t->role != ROLE_RUNNING_MEAN && t->role != ROLE_RUNNING_VAR;
}

/* ---- options of layers with weights, and from ------------------------------------------------ */

int kopt_from(Cursor *c, Layer *l) {
    Loc at = arg_here(c);
    const Arg *t = arg_next(c);
    if (!t || t->kind != ARG_NAME) {
        diag_error(t ? t->loc : at, NULL, "%s: from needs the name of the layer to read", arg_who(c));
        return -1;
    }
    int src = arg_layer(c, t);
    if (src < 0) return -1;
    l->in[0] = src, l->in_loc[0] = t->loc, l->n_in = 1;
    return 0;
}

int kopt_load(Cursor *c, Layer *l) {
    Loc at = arg_here(c);
    const Arg *t = arg_next(c);
    if (!t || (t->kind != ARG_NAME && t->kind != ARG_STRING)) {
        diag_error(t ? t->loc : at, "e.g. load features.0", "%s: load needs the tensor name prefix in the pretrained file", arg_who(c));
        return -1;
    }
    l->load = pool_strdup(t->text);
    l->load_loc = t->loc;
    return 0;
}

int kopt_init(Cursor *c, Layer *l) { return want_init(c, &l->init); }
int kopt_bias_init(Cursor *c, Layer *l) { return want_init(c, &l->bias_init); }
int kopt_lr_mult(Cursor *c, Layer *l) { return want_float(c, "lr_mult", 0, 1e6, &l->lr_mult); }

int kopt_frozen(Cursor *c, Layer *l) {
    (void)c;
    l->frozen = true;
    return 0;
}

int want_outputs(Cursor *c, const char *example, long *out) {
    Loc at = arg_here(c);
    const Arg *a = arg_next(c);
    if (!a || a->kind != ARG_ARROW) {
        diag_error(a ? a->loc : at, pool_printf("write the outputs after an arrow: %s", example),
                   "%s: expected '->' and the number of outputs, got %s", arg_who(c), a ? a->text : "nothing");
        return -1;
    }
    return want_int(c, "the number of outputs", 1, MAX_DEPTH, out);
}
