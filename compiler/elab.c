/* elab.c: from syntax tree to network.
 *
 * Expands blocks, resolves every layer's inputs, reads each layer's arguments
 * and options and checks the settings sections against the runtime's table.
 * Every mistake is reported at the token that is wrong, with the layer's name. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"
#include "config.h"
#include "net.h"
#include "pool.h"

const char *const layer_kind_name[L_NKINDS] = {
    "input", "conv", "linear", "maxpool", "avgpool", "relu", "dropout", "batchnorm", "flatten", "concat", "add", "softmax",
};
const char *const init_kind_name[] = {"kaiming", "xavier", "gaussian", "uniform", "pytorch", "constant"};

/* The words a layer line may start with, and the kind each means. */
static const struct {
    const char *word;
    LayerKind kind;
} kind_words[] = {
    {"conv", L_CONV},       {"linear", L_LINEAR},     {"fc", L_LINEAR},    {"maxpool", L_MAXPOOL},
    {"avgpool", L_AVGPOOL}, {"relu", L_RELU},         {"dropout", L_DROPOUT}, {"batchnorm", L_BATCHNORM},
    {"bn", L_BATCHNORM},    {"flatten", L_FLATTEN},   {"concat", L_CONCAT}, {"add", L_ADD},
    {"softmax", L_SOFTMAX},
};

/* Hard limits: beyond them a net cannot be trained on any machine we know, and
 * refusing early keeps every later size computation inside 64-bit integers. */
enum { MAX_SIDE = 65536, MAX_DEPTH = 1 << 20, MAX_BLOCK_NESTING = 8, MAX_LAYERS = 10000 };

/* The scope a statement is elaborated in: the file, or one block instance. */
typedef struct Scope {
    const char *prefix;    /* "" or "fire2." */
    const Stmt *block;     /* the block definition, or NULL */
    const ArgList *bound;  /* its arguments, by parameter position */
    const char *load;      /* the instance's load prefix, or NULL */
    bool frozen;
    float lr_mult;
    int depth;
    const struct Scope *parent; /* the scope the block was used in */
} Scope;

typedef struct {
    char *name;
    int layer;
    Loc loc;
} NameEntry;

typedef struct {
    Net *net;
    const Ast *ast;
    const Stmt **blocks;
    int nblocks, capblocks;
    /* name -> layer, including block instance names (which mean their last layer) */
    NameEntry *names;
    int nnames, capnames;
    int prev; /* the layer a layer reads when it names no input */
} Elab;

/* ---- small helpers --------------------------------------------------------- */

/* "did you mean 'x'?" among a NULL-terminated list, or NULL */
static const char *closest(const char *word, const char *const *list) {
    const char *best = NULL;
    int bestd = (int)strlen(word) <= 3 ? 2 : 3;
    for (; *list; list++) {
        int d = edit_distance(word, *list);
        if (d < bestd) bestd = d, best = *list;
    }
    return best;
}

static const char *did_you_mean(const char *word, const char *const *list) {
    const char *c = closest(word, list);
    return c ? pool_printf("did you mean '%s'?", c) : NULL;
}

static int kind_of_word(const char *w) {
    for (int i = 0; i < ARRAY_LEN(kind_words); i++)
        if (strcmp(kind_words[i].word, w) == 0) return kind_words[i].kind;
    return -1;
}

static const char *const *kind_word_list(void) {
    static const char *list[ARRAY_LEN(kind_words) + 1];
    for (int i = 0; i < ARRAY_LEN(kind_words); i++) list[i] = kind_words[i].word;
    return list;
}

static const char *arg_kind_text(ArgKind k) {
    static const char *t[] = {"a number", "a size", "a name", "a string", "'->'", "','"};
    return t[k];
}

static void add_name(Elab *el, const char *name, int layer, Loc loc) {
    NameEntry e = {pool_strdup(name), layer, loc};
    POOL_PUSH(el->names, el->nnames, el->capnames, e);
}

static int find_name(const Elab *el, const char *name) {
    for (int i = 0; i < el->nnames; i++)
        if (strcmp(el->names[i].name, name) == 0) return i;
    return -1;
}

static const char *suggest_name(const Elab *el, const char *name) {
    const char **list = pool_alloc(sizeof(char *) * (size_t)(el->nnames + 1));
    for (int i = 0; i < el->nnames; i++) list[i] = el->names[i].name;
    return did_you_mean(name, list);
}

/* Resolves a name used in `scope` (block-local names first). */
static int resolve(Elab *el, const Scope *sc, const Arg *a, const char *who) {
    if (sc->prefix[0]) {
        int i = find_name(el, pool_printf("%s%s", sc->prefix, a->text));
        if (i >= 0) return el->names[i].layer;
    }
    int i = find_name(el, a->text);
    if (i >= 0) return el->names[i].layer;
    const char *hint = suggest_name(el, a->text);
    const StmtList *here = sc->block ? &sc->block->body : &el->ast->stmts;
    for (int j = 0; j < here->n; j++) {
        const Stmt *s = here->v[j];
        if ((s->kind != ST_LAYER && s->kind != ST_USE) || strcmp(s->name, a->text) != 0) continue;
        if (s->name_loc.line == a->loc.line) hint = "a layer cannot read its own output";
        else if (s->name_loc.line > a->loc.line)
            hint = pool_printf("'%s' is defined below, on line %d; only layers above this line can be named here", a->text,
                               s->name_loc.line);
    }
    diag_error(a->loc, hint, "%s: no layer named '%s' above this line", who, a->text);
    return -1;
}

/* ---- reading arguments --------------------------------------------------------- */

/* Walks a layer's argument list, with block parameters replaced by their values. */
typedef struct {
    Elab *el;
    const Scope *sc;
    const ArgList *args;
    int i;
    const char *who; /* layer name, for messages */
    Loc end;         /* where "missing ..." points */
} Cursor;

static const Arg *peek(Cursor *c) {
    while (c->i < c->args->n && c->args->v[c->i].kind == ARG_COMMA) c->i++; /* commas only separate */
    if (c->i >= c->args->n) return NULL;
    const Arg *a = &c->args->v[c->i];
    if (a->kind == ARG_NAME && c->sc->block) {
        const ArgList *params = &c->sc->block->call;
        for (int p = 0; p < params->n; p++)
            if (strcmp(params->v[p].text, a->text) == 0) {
                /* the bound value, located at the use */
                Arg *v = pool_alloc(sizeof *v);
                *v = c->sc->bound->v[p];
                v->loc = a->loc;
                return v;
            }
    }
    return a;
}

static const Arg *next(Cursor *c) {
    const Arg *a = peek(c);
    if (a) c->i++;
    return a;
}

static Loc here(Cursor *c) {
    const Arg *a = peek(c);
    return a ? a->loc : c->end;
}

/* For a word where a value belongs: in a block, the parameters it could be. */
static const char *param_hint(const Cursor *c, const Arg *a) {
    if (!a || a->kind != ARG_NAME || !c->sc->block) return NULL;
    const Stmt *b = c->sc->block;
    char *params = pool_strdup("");
    for (int i = 0; i < b->call.n; i++) params = pool_printf("%s%s%s", params, i ? ", " : "", b->call.v[i].text);
    return pool_printf("'%s' is not a parameter of block %s(%s)", a->text, b->name, params);
}

/* A whole number in [lo, hi]; `what` names it in messages. */
static int want_int(Cursor *c, const char *what, long lo, long hi, long *out) {
    Loc at = here(c);
    const Arg *a = next(c);
    if (!a || a->kind != ARG_NUMBER) {
        diag_error(at, param_hint(c, a), "%s: %s needs a whole number here, got %s", c->who, what, a ? arg_kind_text(a->kind) : "nothing");
        return -1;
    }
    if (a->num != floor(a->num) || a->num < lo || a->num > hi) {
        diag_error(a->loc, NULL, "%s: %s must be a whole number from %ld to %ld, got %s", c->who, what, lo, hi, a->text);
        return -1;
    }
    *out = (long)a->num;
    return 0;
}

static int want_float(Cursor *c, const char *what, double lo, double hi, float *out) {
    Loc at = here(c);
    const Arg *a = next(c);
    if (!a || a->kind != ARG_NUMBER) {
        diag_error(at, NULL, "%s: %s needs a number here, got %s", c->who, what, a ? arg_kind_text(a->kind) : "nothing");
        return -1;
    }
    if (!(a->num >= lo && a->num <= hi)) {
        diag_error(a->loc, NULL, "%s: %s must be from %.10g to %.10g, got %s", c->who, what, lo, hi, a->text);
        return -1;
    }
    *out = (float)a->num;
    return 0;
}

/* A 2-D size: "3x3", "5x3" (width x height) or "3" (square). */
static int want_size2(Cursor *c, const char *what, long lo, long *w, long *h) {
    Loc at = here(c);
    const Arg *a = next(c);
    if (a && a->kind == ARG_NUMBER && a->num == floor(a->num) && a->num >= lo && a->num <= MAX_SIDE) {
        *w = *h = (long)a->num;
        return 0;
    }
    if (a && a->kind == ARG_SIZE && a->ndims == 2) {
        if (a->dims[0] < lo || a->dims[1] < lo || a->dims[0] > MAX_SIDE || a->dims[1] > MAX_SIDE) {
            diag_error(a->loc, NULL, "%s: %s %s is out of range; each side from %ld to %d", c->who, what, a->text, lo, MAX_SIDE);
            return -1;
        }
        *w = a->dims[0], *h = a->dims[1];
        return 0;
    }
    if (a && a->kind == ARG_SIZE)
        diag_error(a->loc, "write width x height, e.g. 3x3", "%s: %s takes two sides, got %s", c->who, what, a->text);
    else if (a && a->kind == ARG_NUMBER)
        diag_error(a->loc, NULL, "%s: %s must be a whole number from %ld to %d, got %s", c->who, what, lo, MAX_SIDE, a->text);
    else if (a && a->kind == ARG_NAME && strcmp(a->text, "global") == 0)
        diag_error(a->loc, "global pooling is average pooling: avgpool global", "%s: only avgpool takes 'global'", c->who);
    else {
        const char *hint = param_hint(c, a);
        if (!hint) hint = what[0] == 't' ? "e.g. 3x3" : pool_printf("e.g. %s 2 (both sides) or %s 2x1 (width x height)", what, what);
        diag_error(at, hint, "%s: %s needs a size here, got %s", c->who, what, a ? arg_kind_text(a->kind) : "nothing");
    }
    return -1;
}

static int want_onoff(Cursor *c, const char *what, bool *out) {
    Loc at = here(c);
    const Arg *a = next(c);
    if (a && a->kind == ARG_NAME && (strcmp(a->text, "on") == 0 || strcmp(a->text, "off") == 0)) {
        *out = strcmp(a->text, "on") == 0;
        return 0;
    }
    diag_error(a ? a->loc : at, NULL, "%s: %s is on or off, got %s%s%s", c->who, what, a ? "'" : "", a ? a->text : "nothing", a ? "'" : "");
    return -1;
}

/* init kaiming | xavier | pytorch | gaussian STD | uniform A | constant V | zeros */
static int want_init(Cursor *c, Init *init) {
    Loc at = here(c);
    const Arg *a = next(c);
    static const char *const words[] = {"kaiming", "xavier", "pytorch", "gaussian", "uniform", "constant", "zeros", NULL};
    if (!a || a->kind != ARG_NAME) {
        diag_error(at, "one of kaiming, xavier, pytorch, gaussian STD, uniform A, constant V, zeros",
                   "%s: init needs a method here", c->who);
        return -1;
    }
    if (strcmp(a->text, "kaiming") == 0) *init = (Init){INIT_KAIMING, 0};
    else if (strcmp(a->text, "xavier") == 0) *init = (Init){INIT_XAVIER, 0};
    else if (strcmp(a->text, "pytorch") == 0) *init = (Init){INIT_PYTORCH, 0};
    else if (strcmp(a->text, "zeros") == 0) *init = (Init){INIT_CONSTANT, 0};
    else if (strcmp(a->text, "gaussian") == 0) {
        *init = (Init){INIT_GAUSSIAN, 0};
        return want_float(c, "init gaussian's standard deviation", 0, 1e6, &init->arg);
    } else if (strcmp(a->text, "uniform") == 0) {
        *init = (Init){INIT_UNIFORM, 0};
        return want_float(c, "init uniform's bound", 0, 1e6, &init->arg);
    } else if (strcmp(a->text, "constant") == 0) {
        *init = (Init){INIT_CONSTANT, 0};
        return want_float(c, "init constant's value", -1e6, 1e6, &init->arg);
    } else {
        diag_error(a->loc, did_you_mean(a->text, words), "%s: unknown init '%s'; known: kaiming, xavier, pytorch, gaussian STD, uniform A, constant V, zeros",
                   c->who, a->text);
        return -1;
    }
    return 0;
}

/* ---- layers ----------------------------------------------------------------------- */

static Layer *new_layer(Net *net, const char *name, LayerKind kind, Loc loc, Loc kind_loc) {
    if (net->n >= MAX_LAYERS) {
        diag_error(loc, "blocks that use blocks multiply: check how often each block is used",
                   "%s: the net has more than %d layers", name, MAX_LAYERS);
        return NULL;
    }
    Layer l;
    memset(&l, 0, sizeof l);
    l.name = pool_strdup(name);
    l.kind = kind;
    l.loc = loc;
    l.kind_loc = kind_loc;
    l.lr_mult = 1;
    l.init = (Init){INIT_KAIMING, 0};
    l.bias_init = (Init){INIT_CONSTANT, 0};
    l.eps = 1e-5f;
    POOL_PUSH(net->layers, net->n, net->cap, l);
    return &net->layers[net->n - 1];
}

/* The options each kind accepts, beyond its positional arguments. */
static const char *const *options_of(LayerKind k) {
    static const char *const conv[] = {"stride", "pad", "groups", "bias", "init", "bias_init", "load", "frozen", "lr_mult", "from", NULL};
    static const char *const linear[] = {"bias", "init", "bias_init", "load", "frozen", "lr_mult", "from", NULL};
    static const char *const pool[] = {"stride", "pad", "ceil", "from", NULL};
    static const char *const bn[] = {"eps", "load", "frozen", "lr_mult", "from", NULL};
    static const char *const plain[] = {"from", NULL};
    static const char *const none[] = {NULL};
    switch (k) {
    case L_CONV: return conv;
    case L_LINEAR: return linear;
    case L_MAXPOOL:
    case L_AVGPOOL: return pool;
    case L_BATCHNORM: return bn;
    case L_CONCAT:
    case L_ADD: return none;
    default: return plain;
    }
}

static bool has_option(LayerKind k, const char *opt) {
    for (const char *const *o = options_of(k); *o; o++)
        if (strcmp(*o, opt) == 0) return true;
    return false;
}

static char *option_list(LayerKind k) {
    char *s = pool_strdup("");
    for (const char *const *o = options_of(k); *o; o++) s = pool_printf("%s%s%s", s, s[0] ? ", " : "", *o);
    return s[0] ? s : pool_strdup("none");
}

/* Positional arguments of each kind. */
static int read_positional(Cursor *c, Layer *l) {
    const Arg *a;
    switch (l->kind) {
    case L_CONV:
        l->size_loc = here(c);
        if (want_size2(c, "the kernel", 1, &l->conv.kw, &l->conv.kh) < 0) return -1;
        l->conv.sw = l->conv.sh = 1;
        /* fallthrough: conv and linear both end in "-> N" */
        __attribute__((fallthrough));
    case L_LINEAR: {
        Loc at = here(c);
        a = next(c);
        if (!a || a->kind != ARG_ARROW) {
            const char *hint = l->kind == L_CONV ? "write the outputs after an arrow: conv 3x3 -> 64" : "write the outputs after an arrow: linear -> 4096";
            diag_error(a ? a->loc : at, hint, "%s: expected '->' and the number of outputs, got %s", c->who,
                       a ? a->text : "nothing");
            return -1;
        }
        long *out = l->kind == L_CONV ? &l->conv.out : &l->linear.out;
        if (want_int(c, "the number of outputs", 1, MAX_DEPTH, out) < 0) return -1;
        l->conv.groups = 1;
        l->conv.bias = l->linear.bias = true;
        return 0;
    }
    case L_MAXPOOL:
    case L_AVGPOOL:
        a = peek(c);
        if (l->kind == L_AVGPOOL && a && a->kind == ARG_NAME && strcmp(a->text, "global") == 0) {
            next(c);
            l->pool.global = true;
            return 0;
        }
        l->size_loc = here(c);
        if (want_size2(c, "the window", 1, &l->pool.kw, &l->pool.kh) < 0) return -1;
        l->pool.sw = l->pool.kw, l->pool.sh = l->pool.kh; /* PyTorch's default stride is the window */
        return 0;
    case L_DROPOUT:
        l->p = 0.5f;
        a = peek(c);
        if (a && a->kind == ARG_NUMBER) {
            if (want_float(c, "the dropout probability", 0, 0.999, &l->p) < 0) return -1;
        }
        return 0;
    case L_CONCAT:
    case L_ADD:
        while ((a = peek(c)) && a->kind == ARG_NAME) {
            next(c);
            if (l->n_in == MAX_INPUTS) {
                diag_error(a->loc, "join in steps: ab: concat a b, then concat ab c ...", "%s: at most %d inputs", c->who, MAX_INPUTS);
                return -1;
            }
            int src = resolve(c->el, c->sc, a, c->who);
            if (src < 0) return -1;
            l->in_loc[l->n_in] = a->loc;
            l->in[l->n_in++] = src;
        }
        if (l->n_in < 2) {
            diag_error(l->n_in ? l->in_loc[0] : l->kind_loc, "name the layers to join: concat a b",
                       "%s: %s needs at least two inputs", c->who, layer_kind_name[l->kind]);
            return -1;
        }
        return 0;
    default:
        return 0;
    }
}

static int read_options(Cursor *c, Layer *l) {
    const Arg *a;
    while ((a = next(c))) {
        if (a->kind != ARG_NAME) {
            static const char *const noun[] = {"number ", "size ", "name ", "string ", "", ""};
            diag_error(a->loc, pool_printf("options of %s: %s", layer_kind_name[l->kind], option_list(l->kind)),
                       "%s: unexpected %s'%s'", c->who, noun[a->kind], a->text);
            return -1;
        }
        const char *o = a->text;
        if (!has_option(l->kind, o) && has_option(L_CONV, o) && !has_option(l->kind, "frozen") && strcmp(o, "stride") &&
            strcmp(o, "pad") && strcmp(o, "groups")) {
            /* load, init, bias, frozen, lr_mult on a layer without weights */
            char *kinds = pool_strdup("");
            for (int k = 0; k < L_NKINDS; k++)
                if (has_option((LayerKind)k, o)) kinds = pool_printf("%s%s%s", kinds, kinds[0] ? ", " : "", layer_kind_name[k]);
            diag_error(a->loc, pool_printf("'%s' applies to layers with weights: %s", o, kinds),
                       "%s: a %s layer has no weights, so '%s' does not apply", c->who, layer_kind_name[l->kind], o);
            return -1;
        }
        if (!has_option(l->kind, o)) {
            const char *s = closest(o, options_of(l->kind));
            diag_error(a->loc,
                       s ? pool_printf("did you mean '%s'?", s)
                         : pool_printf("options of %s: %s", layer_kind_name[l->kind], option_list(l->kind)),
                       "%s: %s has no option '%s'", c->who, layer_kind_name[l->kind], o);
            return -1;
        }
        int rc = 0;
        long *sw = l->kind == L_CONV ? &l->conv.sw : &l->pool.sw, *sh = l->kind == L_CONV ? &l->conv.sh : &l->pool.sh;
        long *pw = l->kind == L_CONV ? &l->conv.pw : &l->pool.pw, *ph = l->kind == L_CONV ? &l->conv.ph : &l->pool.ph;
        if (strcmp(o, "stride") == 0) rc = want_size2(c, "stride", 1, sw, sh);
        else if (strcmp(o, "pad") == 0) rc = want_size2(c, "pad", 0, pw, ph);
        else if (strcmp(o, "groups") == 0) rc = want_int(c, "groups", 1, MAX_DEPTH, &l->conv.groups);
        else if (strcmp(o, "bias") == 0) rc = want_onoff(c, "bias", l->kind == L_CONV ? &l->conv.bias : &l->linear.bias);
        else if (strcmp(o, "ceil") == 0) l->pool.ceil = true;
        else if (strcmp(o, "eps") == 0) rc = want_float(c, "eps", 1e-12, 1, &l->eps);
        else if (strcmp(o, "init") == 0) rc = want_init(c, &l->init);
        else if (strcmp(o, "bias_init") == 0) rc = want_init(c, &l->bias_init);
        else if (strcmp(o, "frozen") == 0) l->frozen = true;
        else if (strcmp(o, "lr_mult") == 0) rc = want_float(c, "lr_mult", 0, 1e6, &l->lr_mult);
        else if (strcmp(o, "load") == 0) {
            Loc at = here(c);
            const Arg *t = next(c);
            if (!t || (t->kind != ARG_NAME && t->kind != ARG_STRING)) {
                diag_error(t ? t->loc : at, "e.g. load features.0", "%s: load needs the tensor name prefix in the pretrained file", c->who);
                return -1;
            }
            l->load = pool_strdup(t->text);
            l->load_loc = t->loc;
        } else if (strcmp(o, "from") == 0) {
            Loc at = here(c);
            const Arg *t = next(c);
            if (!t || t->kind != ARG_NAME) {
                diag_error(t ? t->loc : at, NULL, "%s: from needs the name of the layer to read", c->who);
                return -1;
            }
            int src = resolve(c->el, c->sc, t, c->who);
            if (src < 0) return -1;
            l->in[0] = src, l->in_loc[0] = t->loc, l->n_in = 1;
        }
        if (rc < 0) return -1;
    }
    return 0;
}

static bool valid_ident(const char *s) {
    if (!(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) return false;
    for (; *s; s++)
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9'))) return false;
    return true;
}

/* The text of a layer line after its name, for reports: "conv 9x9 -> 10 stride 2" */
static char *describe(const Stmt *s, const Cursor *c) {
    char *d = pool_strdup(s->op);
    Cursor copy = *c;
    copy.i = 0;
    const Arg *a;
    while ((a = peek(&copy))) {
        const char *w = copy.args->v[copy.i].kind == ARG_NAME ? copy.args->v[copy.i].text : "";
        if (strcmp(w, "from") == 0 || strcmp(w, "load") == 0 || strcmp(w, "lr_mult") == 0) {
            copy.i += 2; /* the report shows inputs, loads and rates in columns of their own */
            continue;
        }
        d = pool_printf("%s %s", d, a->kind == ARG_STRING ? pool_printf("\"%s\"", a->text) : a->text);
        copy.i++;
    }
    return d;
}

static int check_new_name(Elab *el, const char *full, Loc loc) {
    int dup = find_name(el, full);
    if (dup >= 0 && el->names[dup].loc.line == 0) {
        diag_error(loc, "layers read the input by this name (from input); give this layer another name",
                   "%s: this name is taken by the net's input", full);
        return -1;
    }
    if (dup >= 0) {
        diag_error(loc, pool_printf("the first '%s' is on line %d; give this one another name", full, el->names[dup].loc.line),
                   "%s: this name is already used", full);
        return -1;
    }
    return 0;
}

/* name: kind args... */
static int elab_layer(Elab *el, const Scope *sc, const Stmt *s) {
    const char *full = pool_printf("%s%s", sc->prefix, s->name);
    int kind = kind_of_word(s->op);
    if (kind < 0) {
        const char *hint = did_you_mean(s->op, kind_word_list());
        for (int b = 0; !hint && b < el->nblocks; b++)
            if (strcmp(el->blocks[b]->name, s->op) == 0) hint = pool_printf("'%s' is a block; use it with arguments: %s(...)", s->op, s->op);
        diag_error(s->op_loc, hint ? hint : "layer kinds: conv, linear, maxpool, avgpool, relu, dropout, batchnorm, flatten, concat, add, softmax",
                   "%s: unknown layer kind '%s'", full, s->op);
        return -1;
    }
    if (!valid_ident(s->name)) {
        diag_error(s->name_loc, "use letters, digits and '_'", "'%s': a layer name cannot contain '.'", s->name);
        return -1;
    }
    if (check_new_name(el, full, s->name_loc) < 0) return -1;
    Layer *l = new_layer(el->net, full, (LayerKind)kind, s->name_loc, s->op_loc);
    if (!l) return -1;
    int idx = el->net->n - 1;
    l->block = sc->prefix[0] ? pool_strdup(sc->prefix) : NULL;
    if (l->block) l->block[strlen(l->block) - 1] = 0;
    l->in[0] = el->prev, l->in_loc[0] = s->name_loc, l->n_in = 1;
    if (kind == L_CONCAT || kind == L_ADD) l->n_in = 0;

    Cursor c = {el, sc, &s->args, 0, full, s->end_loc};
    if (read_positional(&c, l) < 0) return -1;
    l = &el->net->layers[idx]; /* resolve() never grows layers, but be safe */
    if (read_options(&c, l) < 0) return -1;
    l->desc = describe(s, &c);

    /* what the enclosing block instance says applies to every layer in it */
    if (sc->frozen) l->frozen = true;
    l->lr_mult *= sc->lr_mult;
    if (sc->load && (kind == L_CONV || kind == L_LINEAR || kind == L_BATCHNORM))
        l->load = pool_printf("%s.%s", sc->load, l->load ? l->load : s->name);
    if (l->load && !(kind == L_CONV || kind == L_LINEAR || kind == L_BATCHNORM)) {
        diag_error(l->load_loc, NULL, "%s: a %s layer has no weights to load", full, layer_kind_name[kind]);
        return -1;
    }
    add_name(el, full, idx, s->name_loc);
    el->prev = idx;
    return 0;
}

static int elab_stmts(Elab *el, const Scope *sc, const StmtList *l);

/* name: block(args) options... */
static int elab_use(Elab *el, const Scope *sc, const Stmt *s) {
    const Stmt *def = NULL;
    for (int b = 0; b < el->nblocks; b++)
        if (strcmp(el->blocks[b]->name, s->op) == 0) def = el->blocks[b];
    const char *full = pool_printf("%s%s", sc->prefix, s->name);
    if (!def) {
        const char **names = pool_alloc(sizeof(char *) * (size_t)(el->nblocks + 1));
        for (int b = 0; b < el->nblocks; b++) names[b] = el->blocks[b]->name;
        const char *hint = did_you_mean(s->op, names);
        if (!hint && kind_of_word(s->op) >= 0) hint = pool_printf("'%s' is a layer kind; write it without parentheses", s->op);
        diag_error(s->op_loc, hint ? hint : pool_printf("define it: block %s(params) { layers }", s->op), "%s: no block named '%s'", full, s->op);
        return -1;
    }
    for (const Scope *up = sc; up; up = up->parent)
        if (up->block == def) {
            diag_error(s->op_loc, "a block cannot use itself, directly or through another block", "%s: block %s uses itself", full,
                       def->name);
            return -1;
        }
    if (sc->depth >= MAX_BLOCK_NESTING) {
        diag_error(s->op_loc, "use blocks inside blocks at most 8 levels deep", "%s: blocks nested more than %d deep", full, MAX_BLOCK_NESTING);
        return -1;
    }
    if (!valid_ident(s->name)) {
        diag_error(s->name_loc, "use letters, digits and '_'", "'%s': a name cannot contain '.'", s->name);
        return -1;
    }
    /* arguments: numbers or sizes (commas separate); inside a block, its parameters */
    ArgList *bound = pool_alloc(sizeof *bound);
    for (int i = 0; i < s->call.n; i++) {
        const Arg *a = &s->call.v[i];
        if (a->kind == ARG_COMMA) continue;
        for (int p = 0; a->kind == ARG_NAME && sc->block && p < sc->block->call.n; p++)
            if (strcmp(sc->block->call.v[p].text, a->text) == 0) {
                Arg *v = pool_alloc(sizeof *v);
                *v = sc->bound->v[p];
                v->loc = a->loc;
                a = v;
                break;
            }
        if (a->kind != ARG_NUMBER && a->kind != ARG_SIZE) {
            diag_error(a->loc, NULL, "%s: block arguments are numbers or sizes, got '%s'", full, a->text);
            return -1;
        }
        args_push(bound, *a);
    }
    if (bound->n != def->call.n) {
        char *params = pool_strdup("");
        for (int i = 0; i < def->call.n; i++) params = pool_printf("%s%s%s", params, i ? ", " : "", def->call.v[i].text);
        diag_error(s->op_loc, pool_printf("%s takes (%s), defined on line %d", def->name, params, def->name_loc.line),
                   "%s: block %s needs %d argument%s, got %d", full, def->name, def->call.n, def->call.n == 1 ? "" : "s", bound->n);
        return -1;
    }
    if (check_new_name(el, full, s->name_loc) < 0) return -1;

    Scope inner = {pool_printf("%s.", full), def, bound, NULL, sc->frozen, sc->lr_mult, sc->depth + 1, sc};
    if (sc->load) inner.load = pool_printf("%s.%s", sc->load, s->name); /* nested: the outer prefix, then this instance */
    /* options of the instance: load, frozen, lr_mult, from */
    for (int i = 0; i < s->args.n; i++) {
        const Arg *a = &s->args.v[i];
        if (a->kind == ARG_COMMA) continue;
        if (a->kind == ARG_NAME && strcmp(a->text, "frozen") == 0) inner.frozen = true;
        else if (a->kind == ARG_NAME && (strcmp(a->text, "load") == 0 || strcmp(a->text, "from") == 0 ||
                                         strcmp(a->text, "lr_mult") == 0)) {
            if (i + 1 >= s->args.n) {
                diag_error(s->end_loc, strcmp(a->text, "load") == 0 ? "e.g. load features.3" : strcmp(a->text, "from") == 0 ? "e.g. from conv1" : "e.g. lr_mult 10",
                           "%s: %s needs a value", full, a->text);
                return -1;
            }
            const Arg *v = &s->args.v[++i];
            if (strcmp(a->text, "load") == 0) {
                if (v->kind != ARG_NAME && v->kind != ARG_STRING) {
                    diag_error(v->loc, "e.g. load features.3", "%s: load needs a tensor name prefix", full);
                    return -1;
                }
                inner.load = sc->load ? pool_printf("%s.%s", sc->load, v->text) : pool_strdup(v->text);
            } else if (strcmp(a->text, "from") == 0) {
                if (v->kind != ARG_NAME) {
                    diag_error(v->loc, NULL, "%s: from needs a layer name", full);
                    return -1;
                }
                int src = resolve(el, sc, v, full);
                if (src < 0) return -1;
                el->prev = src;
            } else {
                if (v->kind != ARG_NUMBER || !(v->num >= 0 && v->num <= 1e6)) {
                    diag_error(v->loc, NULL, "%s: lr_mult needs a number from 0 to 1000000, got '%s'", full, v->text);
                    return -1;
                }
                inner.lr_mult *= (float)v->num;
            }
        } else {
            diag_error(a->loc, "a block use takes: load PREFIX, frozen, lr_mult X, from LAYER; other options go on the layers inside",
                       "%s: a block use has no option '%s'", full, a->text);
            return -1;
        }
    }
    int first = el->net->n;
    if (elab_stmts(el, &inner, &def->body) < 0) return -1;
    if (el->net->n == first) {
        diag_error(def->name_loc, "give it layers, one per line: name: kind ...", "block %s has no layers", def->name);
        return -1;
    }
    add_name(el, full, el->net->n - 1, s->name_loc); /* the instance means its last layer */
    el->prev = el->net->n - 1;
    return 0;
}

/* ---- settings ---------------------------------------------------------------------- */

static void add_setting(Net *net, const char *key, const char *value, Loc loc) {
    for (int i = 0; i < net->n_settings; i++)
        if (strcmp(net->settings[i].key, key) == 0) { /* a later line wins, but it is probably a slip */
            diag_warning(loc, pool_printf("the first is on line %d; keep one", net->settings[i].loc.line),
                         "'%s' is set twice; %s replaces %s", key, value, net->settings[i].value);
            net->settings[i].value = pool_strdup(value);
            net->settings[i].loc = loc;
            return;
        }
    Setting st = {pool_strdup(key), pool_strdup(value), loc};
    POOL_PUSH(net->settings, net->n_settings, net->cap_settings, st);
}

/* key value... inside a section, checked by the runtime's own parser. */
static int elab_setting(Elab *el, const char *section, const Stmt *s) {
    const ConfigKey *k = config_key(s->name);
    if (s->kind != ST_SETTING) {
        diag_error(s->name_loc, "layers and blocks go outside the sections", "%s { } holds settings (key value), not layers or blocks", section);
        return -1;
    }
    if (!k) {
        const char *sug = config_suggest(s->name);
        char *known = pool_strdup("");
        for (int i = 0; i < config_nkeys; i++)
            if (strcmp(config_keys[i].section, section) == 0)
                known = pool_printf("%s%s%s", known, known[0] ? ", " : "", config_keys[i].key);
        diag_error(s->name_loc, sug ? pool_printf("did you mean '%s'?", sug) : pool_printf("settings of %s { }: %s", section, known),
                   "unknown setting '%s' in %s { }", s->name, section);
        return -1;
    }
    if (strcmp(k->section, section) != 0) {
        diag_error(s->name_loc, pool_printf("move it into %s { }", k->section), "setting '%s' belongs in %s { }, not %s { }",
                   s->name, k->section, section);
        return -1;
    }
    char *value = pool_strdup("");
    for (int i = 0; i < s->args.n; i++)
        if (s->args.v[i].kind != ARG_COMMA) value = pool_printf("%s%s%s", value, value[0] ? " " : "", s->args.v[i].text);
    if (!value[0]) {
        diag_error(s->end_loc, pool_printf("%s: %s", s->name, k->help), "setting '%s' needs a value", s->name);
        return -1;
    }
    Config scratch;
    config_defaults(&scratch);
    Error e;
    if (config_set(&scratch, s->name, value, &e) < 0) {
        char *hint = strstr(e.msg, "\n  HINT: ");
        if (hint) *hint = 0, hint += 9;
        diag_error(s->args.n ? s->args.v[0].loc : s->name_loc, hint, "%s", e.msg);
        return -1;
    }
    add_setting(el->net, s->name, value, s->name_loc);
    return 0;
}

/* freeze a b c | freeze through x */
static int elab_freeze(Elab *el, const Stmt *s) {
    if (s->args.n == 0) {
        diag_error(s->end_loc, "freeze conv1 conv2, or freeze through fire8", "freeze needs layer names");
        return -1;
    }
    Scope top = {"", NULL, NULL, NULL, false, 1, 0, NULL};
    if (s->args.v[0].kind == ARG_NAME && strcmp(s->args.v[0].text, "through") == 0) {
        if (s->args.n != 2 || s->args.v[1].kind != ARG_NAME) {
            diag_error(s->args.v[0].loc, NULL, "freeze through needs exactly one layer name");
            return -1;
        }
        int last = resolve(el, &top, &s->args.v[1], "freeze");
        if (last < 0) return -1;
        for (int i = 1; i <= last; i++) el->net->layers[i].frozen = true;
        return 0;
    }
    for (int i = 0; i < s->args.n; i++) {
        const Arg *a = &s->args.v[i];
        if (a->kind == ARG_COMMA) continue;
        if (a->kind != ARG_NAME) {
            diag_error(a->loc, NULL, "freeze: expected a layer name, got '%s'", a->text);
            return -1;
        }
        int found = 0;
        for (int j = 1; j < el->net->n; j++) {
            Layer *l = &el->net->layers[j];
            if (strcmp(l->name, a->text) == 0 || (l->block && strcmp(l->block, a->text) == 0)) l->frozen = true, found = 1;
        }
        if (!found && resolve(el, &top, a, "freeze") < 0) return -1;
    }
    return 0;
}

static int elab_top_setting(Elab *el, const Stmt *s) {
    Net *net = el->net;
    const char *k = s->name;
    if (strcmp(k, "net") == 0) {
        if (s->args.n != 1 || s->args.v[0].kind != ARG_NAME || !valid_ident(s->args.v[0].text)) {
            diag_error(s->args.n ? s->args.v[0].loc : s->end_loc, "e.g. net simplenet (letters, digits, '_')",
                       "net needs one name, usable in C identifiers and file names");
            return -1;
        }
        if (net->name) {
            diag_error(s->name_loc, pool_printf("the first is on line %d; keep one", net->name_loc.line), "net is named twice");
            return -1;
        }
        net->name = pool_strdup(s->args.v[0].text);
        net->name_loc = s->args.v[0].loc;
        return 0;
    }
    if (strcmp(k, "input") == 0) {
        const Arg *a = s->args.n ? &s->args.v[0] : NULL;
        if (a && a->kind == ARG_SIZE && a->ndims == 3 && s->args.n > 1) {
            diag_error(s->args.v[1].loc, "e.g. input 64x64x1", "input takes one size; unexpected '%s' after it", s->args.v[1].text);
            return -1;
        }
        if (!a || a->kind != ARG_SIZE || a->ndims != 3) {
            diag_error(a ? a->loc : s->end_loc, "width x height x depth, e.g. input 64x64x1 (gray) or 227x227x3 (colour)",
                       "input needs a size with three numbers");
            return -1;
        }
        if (net->input.c) {
            diag_error(s->name_loc, pool_printf("the first is on line %d; keep one", net->layers[0].loc.line), "input is given twice");
            return -1;
        }
        if (a->dims[2] != 1 && a->dims[2] != 3) {
            diag_error(a->loc, "images are gray (depth 1) or colour (depth 3)", "input depth must be 1 or 3, got %ld", a->dims[2]);
            return -1;
        }
        for (int d = 0; d < 2; d++)
            if (a->dims[d] < 1 || a->dims[d] > 8192) {
                diag_error(a->loc, "each side from 1 to 8192 pixels", "input %s is too %s to train", a->text,
                           a->dims[d] < 1 ? "small" : "large");
                return -1;
            }
        net->input = (Shape){a->dims[2], a->dims[1], a->dims[0]};
        net->input_loc = a->loc;
        if (net->n > 1) {
            diag_error(s->name_loc, "put input before the first layer", "input comes after layers");
            return -1;
        }
        net->layers[0].loc = s->name_loc;
        net->layers[0].desc = pool_printf("input %s", a->text);
        return 0;
    }
    if (strcmp(k, "pretrained") == 0) {
        if (s->args.n != 1 || (s->args.v[0].kind != ARG_STRING && s->args.v[0].kind != ARG_NAME)) {
            diag_error(s->args.n ? s->args.v[0].loc : s->end_loc, "e.g. pretrained \"weights/squeezenet1_0.safetensors\"",
                       "pretrained needs one file name");
            return -1;
        }
        add_setting(net, "pretrained", s->args.v[0].text, s->name_loc);
        return 0;
    }
    if (strcmp(k, "freeze") == 0) return elab_freeze(el, s);

    /* not a statement: say what it probably was */
    const ConfigKey *ck = config_key(k);
    if (ck) {
        diag_error(s->name_loc, pool_printf("put it inside a section: %s { %s ... }", ck->section, k), "setting '%s' outside a section", k);
        return -1;
    }
    if (s->args.n && s->args.v[0].kind == ARG_NAME && kind_of_word(s->args.v[0].text) >= 0) {
        diag_error(s->name_loc, pool_printf("a layer is \"name: kind ...\": %s: %s ...", k, s->args.v[0].text),
                   "'%s' looks like a layer but has no ':' after its name", k);
        return -1;
    }
    if (kind_of_word(k) >= 0) {
        diag_error(s->name_loc, pool_printf("give it a name: %s1: %s ...", k, k), "a %s layer needs a name", k);
        return -1;
    }
    static const char *const stmts[] = {"net", "input", "pretrained", "freeze", "block", "train", "preprocess", "augment", NULL};
    const char *hint = did_you_mean(k, stmts);
    diag_error(s->name_loc, hint ? hint : "statements: net, input, pretrained, freeze, block, layers (name: kind), train/preprocess/augment { }",
               "unknown statement '%s'", k);
    return -1;
}

static int elab_stmts(Elab *el, const Scope *sc, const StmtList *l) {
    for (int i = 0; i < l->n; i++) {
        const Stmt *s = l->v[i];
        int rc = 0;
        switch (s->kind) {
        case ST_LAYER: rc = elab_layer(el, sc, s); break;
        case ST_USE: rc = elab_use(el, sc, s); break;
        case ST_BLOCK:
            if (sc->block) diag_error(s->name_loc, "define blocks at the top level", "block %s is defined inside a block", s->name), rc = -1;
            break; /* collected before */
        case ST_SECTION: {
            if (sc->block) {
                diag_error(s->name_loc, "put sections at the top level", "%s { } inside a block", s->name);
                return -1;
            }
            static const char *const sections[] = {"train", "preprocess", "augment", NULL};
            if (strcmp(s->name, "train") && strcmp(s->name, "preprocess") && strcmp(s->name, "augment")) {
                const char *hint = did_you_mean(s->name, sections);
                diag_error(s->name_loc, hint ? hint : "sections: train, preprocess, augment", "unknown section '%s'", s->name);
                return -1;
            }
            for (int j = 0; j < s->body.n; j++)
                if (elab_setting(el, s->name, s->body.v[j]) < 0) return -1;
            break;
        }
        case ST_SETTING:
            if (sc->block) {
                diag_error(s->name_loc, "a block holds layers: name: kind ...", "'%s' inside block %s is not a layer", s->name, sc->block->name);
                return -1;
            }
            rc = elab_top_setting(el, s);
            break;
        }
        if (rc < 0) return -1;
    }
    return 0;
}

static char *basename_no_ext(const char *path) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    char *s = pool_strdup(b);
    char *dot = strrchr(s, '.');
    if (dot && dot != s) *dot = 0;
    for (char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))) *p = '_';
    if (!s[0] || (s[0] >= '0' && s[0] <= '9')) s = pool_printf("net_%s", s);
    return s;
}

int elab_net(const Ast *ast, Net *net) {
    memset(net, 0, sizeof *net);
    net->file = ast->file;
    Elab el = {net, ast, NULL, 0, 0, NULL, 0, 0, 0};
    Loc file_loc = {ast->file, 0, 0, 0};

    /* blocks first, so a block may be defined below its use */
    for (int i = 0; i < ast->stmts.n; i++) {
        const Stmt *s = ast->stmts.v[i];
        if (s->kind != ST_BLOCK) continue;
        for (int b = 0; b < el.nblocks; b++)
            if (strcmp(el.blocks[b]->name, s->name) == 0) {
                diag_error(s->name_loc, pool_printf("the first is on line %d", el.blocks[b]->name_loc.line),
                           "block %s is defined twice", s->name);
                return -1;
            }
        for (int p = 0; p < s->call.n; p++)
            for (int q = 0; q < p; q++)
                if (strcmp(s->call.v[p].text, s->call.v[q].text) == 0) {
                    diag_error(s->call.v[p].loc, NULL, "block %s: parameter '%s' is listed twice", s->name, s->call.v[p].text);
                    return -1;
                }
        POOL_PUSH(el.blocks, el.nblocks, el.capblocks, s);
    }

    Layer *in = new_layer(net, "input", L_INPUT, file_loc, file_loc);
    in->desc = pool_strdup("input");
    add_name(&el, "input", 0, file_loc);
    el.prev = 0;
    Scope top = {"", NULL, NULL, NULL, false, 1, 0, NULL};
    if (elab_stmts(&el, &top, &ast->stmts) < 0) return -1;

    if (!net->name) net->name = basename_no_ext(ast->file);
    if (ast->stmts.n == 0) {
        diag_error(file_loc, "a net needs an input, layers and a loss: input 64x64x1, then fc: linear -> 15, then loss: softmax",
                   "no net in this file: it is empty or holds only comments");
        return -1;
    }
    if (net->input.c == 0) {
        diag_error(file_loc, "e.g. input 64x64x1 (width x height x depth), before the first layer", "the net has no input line");
        return -1;
    }
    if (net->n == 1) {
        diag_error(file_loc, "e.g. conv1: conv 3x3 -> 16", "the net has no layers");
        return -1;
    }
    /* the loss: exactly one softmax, and it is last */
    LayerKind last_kind = net->layers[net->n - 1].kind;
    for (int i = 1; i < net->n; i++) {
        Layer *l = &net->layers[i];
        if (l->kind == L_SOFTMAX && i != net->n - 1 && last_kind == L_SOFTMAX) {
            diag_error(net->layers[net->n - 1].loc, pool_printf("keep one loss, at the end; remove %s or %s", l->name, net->layers[net->n - 1].name),
                       "%s: a second loss layer (%s is one)", net->layers[net->n - 1].name, l->name);
            return -1;
        }
        if (l->kind == L_SOFTMAX && i != net->n - 1) {
            diag_error(net->layers[i + 1].loc, pool_printf("move %s to the end, after %s", l->name, net->layers[net->n - 1].name),
                       "%s: no layer may follow the loss layer '%s'", net->layers[i + 1].name, l->name);
            return -1;
        }
    }
    Layer *last = &net->layers[net->n - 1];
    if (last->kind != L_SOFTMAX) {
        diag_error(last->loc, "end the net with a loss layer: loss: softmax", "the net has no loss layer: it ends at %s", last->name);
        return -1;
    }
    return 0;
}

const char *net_setting(const Net *net, const char *key) {
    for (int i = 0; i < net->n_settings; i++)
        if (strcmp(net->settings[i].key, key) == 0) return net->settings[i].value;
    return NULL;
}

int layer_index(const Net *net, const char *name) {
    for (int i = 0; i < net->n; i++)
        if (strcmp(net->layers[i].name, name) == 0) return i;
    return -1;
}
