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
#include "kind.h"
#include "net.h"
#include "pool.h"

const char *const init_kind_name[] = {"kaiming", "xavier", "gaussian", "uniform", "pytorch", "constant"};

/* With kind.h's MAX_SIDE and MAX_DEPTH: how deep blocks nest, how many layers a net has. */
enum { MAX_BLOCK_NESTING = 8, MAX_LAYERS = 10000 };

/* The scope a statement is elaborated in: the file, or one block instance. */
typedef struct Scope {
    const char *prefix;    /* "" or "fire2." */
    const Stmt *block;     /* the block definition, or NULL */
    const ArgList *bound;  /* its arguments, by parameter position */
    const char *load;      /* the instance's load prefix, or NULL */
    bool frozen;
    float lr_mult;
    int depth;
    int input;             /* the layer the block instance reads: what `in` means inside it */
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

/* Resolves a name used in `scope` (block-local names first; `in`, the
 * instance's input). */
static int resolve(Elab *el, const Scope *sc, const Arg *a, const char *who) {
    if (strcmp(a->text, "in") == 0) {
        if (sc->block) return sc->input;
        diag_error(a->loc, "inside a block, 'in' is the layer the block's instance reads; out here, name the layer",
                   "%s: 'in' means a block's input, and this line is not inside a block", who);
        return -1;
    }
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

/* Walks a layer's argument list, with block parameters replaced by their values (kind.h). */
struct Cursor {
    Elab *el;
    const Scope *sc;
    const ArgList *args;
    int i;
    const char *who; /* layer name, for messages */
    Loc end;         /* where "missing ..." points */
};

const Arg *arg_peek(Cursor *c) {
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

const Arg *arg_next(Cursor *c) {
    const Arg *a = arg_peek(c);
    if (a) c->i++;
    return a;
}

Loc arg_here(Cursor *c) {
    const Arg *a = arg_peek(c);
    return a ? a->loc : c->end;
}

const char *arg_who(Cursor *c) { return c->who; }

int arg_layer(Cursor *c, const Arg *a) { return resolve(c->el, c->sc, a, c->who); }

/* For a word where a value belongs: in a block, the parameters it could be. */
static const char *param_hint(const Cursor *c, const Arg *a) {
    if (!a || a->kind != ARG_NAME || !c->sc->block) return NULL;
    const Stmt *b = c->sc->block;
    char *params = pool_strdup("");
    for (int i = 0; i < b->call.n; i++) params = pool_printf("%s%s%s", params, i ? ", " : "", b->call.v[i].text);
    return pool_printf("'%s' is not a parameter of block %s(%s)", a->text, b->name, params);
}

/* A whole number in [lo, hi]; `what` names it in messages. */
int want_int(Cursor *c, const char *what, long lo, long hi, long *out) {
    Loc at = arg_here(c);
    const Arg *a = arg_next(c);
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

int want_float(Cursor *c, const char *what, double lo, double hi, float *out) {
    Loc at = arg_here(c);
    const Arg *a = arg_next(c);
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
int want_size2(Cursor *c, const char *what, long lo, long *w, long *h) {
    Loc at = arg_here(c);
    const Arg *a = arg_next(c);
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
        diag_error(a->loc, "global pooling: avgpool global, or maxpool global", "%s: only pooling layers take 'global'", c->who);
    else {
        const char *hint = param_hint(c, a);
        if (!hint) hint = what[0] == 't' ? "e.g. 3x3" : pool_printf("e.g. %s 2 (both sides) or %s 2x1 (width x height)", what, what);
        diag_error(at, hint, "%s: %s needs a size here, got %s", c->who, what, a ? arg_kind_text(a->kind) : "nothing");
    }
    return -1;
}

int want_onoff(Cursor *c, const char *what, bool *out) {
    Loc at = arg_here(c);
    const Arg *a = arg_next(c);
    if (a && a->kind == ARG_NAME && (strcmp(a->text, "on") == 0 || strcmp(a->text, "off") == 0)) {
        *out = strcmp(a->text, "on") == 0;
        return 0;
    }
    diag_error(a ? a->loc : at, NULL, "%s: %s is on or off, got %s%s%s", c->who, what, a ? "'" : "", a ? a->text : "nothing", a ? "'" : "");
    return -1;
}

/* init kaiming | xavier | pytorch | gaussian STD | uniform A | constant V | zeros */
int want_init(Cursor *c, Init *init) {
    Loc at = arg_here(c);
    const Arg *a = arg_next(c);
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

static Layer *new_layer(Net *net, const char *name, const Kind *kind, Loc loc, Loc kind_loc) {
    if (net->n >= MAX_LAYERS) {
        diag_error(loc, "blocks that use blocks multiply: check how often each block is used",
                   "%s: the net has more than %d layers", name, MAX_LAYERS);
        return NULL;
    }
    Layer l;
    memset(&l, 0, sizeof l);
    l.name = pool_strdup(name);
    l.kind = kind;
    l.spec = kind->spec_size ? pool_alloc(kind->spec_size) : NULL;
    l.loc = loc;
    l.kind_loc = kind_loc;
    l.lr_mult = 1;
    l.init = (Init){INIT_KAIMING, 0};
    l.bias_init = (Init){INIT_CONSTANT, 0};
    if (kind->init) kind->init(&l);
    POOL_PUSH(net->layers, net->n, net->cap, l);
    return &net->layers[net->n - 1];
}

static const KindOption *find_option(const Kind *k, const char *opt) {
    for (const KindOption *o = k->options; o && o->name; o++)
        if (strcmp(o->name, opt) == 0) return o;
    return NULL;
}

static char *option_list(const Kind *k) {
    char *s = pool_strdup("");
    for (const KindOption *o = k->options; o && o->name; o++) s = pool_printf("%s%s%s", s, s[0] ? ", " : "", o->name);
    return s[0] ? s : pool_strdup("none");
}

/* Is opt an option of layers with weights (load, init, frozen, ...), and which kinds take it? */
static const char *weights_option_kinds(const char *opt) {
    char *kinds = pool_strdup("");
    bool weights = false;
    for (int i = 0; i < kind_count; i++) {
        const KindOption *o = find_option(kind_table[i], opt);
        if (!o) continue;
        weights |= o->weights;
        kinds = pool_printf("%s%s%s", kinds, kinds[0] ? ", " : "", kind_table[i]->name);
    }
    return weights ? kinds : NULL;
}

static int read_options(Cursor *c, Layer *l) {
    const Arg *a;
    const Kind *k = l->kind;
    while ((a = arg_next(c))) {
        if (a->kind != ARG_NAME) {
            static const char *const noun[] = {"number ", "size ", "name ", "string ", "", ""};
            diag_error(a->loc, pool_printf("options of %s: %s", k->name, option_list(k)), "%s: unexpected %s'%s'", c->who,
                       noun[a->kind], a->text);
            return -1;
        }
        const KindOption *o = find_option(k, a->text);
        const char *weighted = o ? NULL : weights_option_kinds(a->text);
        if (!o && weighted && !k->tensors) { /* load, init, bias, frozen, lr_mult on a layer without weights */
            diag_error(a->loc, pool_printf("'%s' applies to layers with weights: %s", a->text, weighted),
                       "%s: a %s layer has no weights, so '%s' does not apply", c->who, k->name, a->text);
            return -1;
        }
        if (!o) {
            const char **names = pool_alloc(sizeof(char *) * 32);
            int n = 0;
            for (const KindOption *p = k->options; p && p->name && n < 31; p++) names[n++] = p->name;
            const char *s = closest(a->text, names);
            diag_error(a->loc, s ? pool_printf("did you mean '%s'?", s) : pool_printf("options of %s: %s", k->name, option_list(k)),
                       "%s: %s has no option '%s'", c->who, k->name, a->text);
            return -1;
        }
        if (o->parse(c, l) < 0) return -1;
    }
    return 0;
}

/* The names a joining layer reads: concat a b c (kind.h's joins). */
static int read_inputs(Cursor *c, Layer *l) {
    const Arg *a;
    while ((a = arg_peek(c)) && a->kind == ARG_NAME) {
        arg_next(c);
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
        diag_error(l->n_in ? l->in_loc[0] : l->kind_loc, pool_printf("name the layers to join: %s a b", l->kind->name),
                   "%s: %s needs at least two inputs", c->who, l->kind->name);
        return -1;
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
    while ((a = arg_peek(&copy))) {
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

static int check_new_name(Elab *el, const char *full, const char *local, Loc loc) {
    if (strcmp(local, "in") == 0) {
        diag_error(loc, "give it another name: inside a block, 'in' means the layer the block's instance reads",
                   "%s: 'in' is reserved and cannot name a layer", full);
        return -1;
    }
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
    const Kind *kind = kind_find(s->op);
    if (!kind) {
        const char *hint = did_you_mean(s->op, kind_words());
        for (int b = 0; !hint && b < el->nblocks; b++)
            if (strcmp(el->blocks[b]->name, s->op) == 0) hint = pool_printf("'%s' is a block; use it with arguments: %s(...)", s->op, s->op);
        diag_error(s->op_loc, hint ? hint : pool_printf("layer kinds: %s", kind_list()), "%s: unknown layer kind '%s'", full, s->op);
        return -1;
    }
    if (!valid_ident(s->name)) {
        diag_error(s->name_loc, "use letters, digits and '_'", "'%s': a layer name cannot contain '.'", s->name);
        return -1;
    }
    if (check_new_name(el, full, s->name, s->name_loc) < 0) return -1;
    Layer *l = new_layer(el->net, full, kind, s->name_loc, s->op_loc);
    if (!l) return -1;
    int idx = el->net->n - 1;
    l->block = sc->prefix[0] ? pool_strdup(sc->prefix) : NULL;
    if (l->block) l->block[strlen(l->block) - 1] = 0;
    l->in[0] = el->prev, l->in_loc[0] = s->name_loc, l->n_in = 1;
    if (kind->joins) l->n_in = 0;

    Cursor c = {el, sc, &s->args, 0, full, s->end_loc};
    if (kind->joins && read_inputs(&c, l) < 0) return -1;
    if (kind->args && kind->args(&c, l) < 0) return -1;
    l = &el->net->layers[idx]; /* resolve() never grows layers, but be safe */
    if (read_options(&c, l) < 0) return -1;
    l->desc = describe(s, &c);

    /* what the enclosing block instance says applies to every layer in it */
    if (sc->frozen) l->frozen = true;
    l->lr_mult *= sc->lr_mult;
    if (sc->load && kind->tensors) l->load = pool_printf("%s.%s", sc->load, l->load ? l->load : s->name);
    if (l->load && !kind->tensors) {
        diag_error(l->load_loc, NULL, "%s: a %s layer has no weights to load", full, kind->name);
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
        if (!hint && kind_find(s->op)) hint = pool_printf("'%s' is a layer kind; write it without parentheses", s->op);
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
    if (check_new_name(el, full, s->name, s->name_loc) < 0) return -1;

    Scope inner = {pool_printf("%s.", full), def, bound, NULL, sc->frozen, sc->lr_mult, sc->depth + 1, -1, sc};
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
    inner.input = el->prev; /* `in` inside it: the layer above, or its `from` */
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
    Scope top = {"", NULL, NULL, NULL, false, 1, 0, -1, NULL};
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
    if (s->args.n && s->args.v[0].kind == ARG_NAME && kind_find(s->args.v[0].text)) {
        diag_error(s->name_loc, pool_printf("a layer is \"name: kind ...\": %s: %s ...", k, s->args.v[0].text),
                   "'%s' looks like a layer but has no ':' after its name", k);
        return -1;
    }
    if (kind_find(k)) {
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

/* The names after "netc_" that the runtime headers included by every
 * generated file define (netc_gen.h and what it includes): a net's descriptor
 * is netc_<net>, so a net of one of these names would not compile.
 * test_errors checks this list against those headers. */
static const char *const runtime_names[] = {
    "blas_core", "blas_fallback", "blas_fix_core", "blas_single_thread", "bn_stats", "ceildiv", "clamp", "dy_sums", "dy_sums_leaky",
    "floordiv", "layer_done",
    "leaky_relu", "main", "max", "maxnan", "min", "profile_tick", "relu", "sgemm", "sum", "sum_sq_dev", "version",
    "vf", "vi", "vload", "vrelu", "vstore", "wino_backward_input", "wino_backward_weight", "wino_forward",
    "wino_m", "wino_scratch", "wino_tiles",
};

bool runtime_name(const char *name) {
    for (size_t i = 0; i < sizeof runtime_names / sizeof runtime_names[0]; i++)
        if (strcmp(name, runtime_names[i]) == 0) return true;
    return false;
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
        for (int p = 0; p < s->call.n; p++) {
            if (strcmp(s->call.v[p].text, "in") == 0) {
                diag_error(s->call.v[p].loc, "call it something else: inside a block, 'in' means the layer its instance reads",
                           "block %s: a parameter cannot be called 'in'", s->name);
                return -1;
            }
            for (int q = 0; q < p; q++)
                if (strcmp(s->call.v[p].text, s->call.v[q].text) == 0) {
                    diag_error(s->call.v[p].loc, NULL, "block %s: parameter '%s' is listed twice", s->name, s->call.v[p].text);
                    return -1;
                }
        }
        POOL_PUSH(el.blocks, el.nblocks, el.capblocks, s);
    }

    Layer *in = new_layer(net, "input", &kind_input, file_loc, file_loc);
    in->desc = pool_strdup("input");
    add_name(&el, "input", 0, file_loc);
    el.prev = 0;
    Scope top = {"", NULL, NULL, NULL, false, 1, 0, -1, NULL};
    if (elab_stmts(&el, &top, &ast->stmts) < 0) return -1;

    if (!net->name) net->name = basename_no_ext(ast->file), net->name_loc = file_loc;
    if (runtime_name(net->name)) {
        diag_error(net->name_loc, pool_printf("rename the net, e.g. net %s_net%s", net->name,
                                              net->name_loc.line ? "" : " (a net without a net line is named after its file)"),
                   "the net's name '%s' would make the C name netc_%s, which netc's runtime already uses", net->name, net->name);
        return -1;
    }
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
    /* the loss: exactly one, and it is last */
    bool last_loss = net->layers[net->n - 1].kind->loss;
    for (int i = 1; i < net->n; i++) {
        Layer *l = &net->layers[i];
        if (l->kind->loss && i != net->n - 1 && last_loss) {
            diag_error(net->layers[net->n - 1].loc, pool_printf("keep one loss, at the end; remove %s or %s", l->name, net->layers[net->n - 1].name),
                       "%s: a second loss layer (%s is one)", net->layers[net->n - 1].name, l->name);
            return -1;
        }
        if (l->kind->loss && i != net->n - 1) {
            diag_error(net->layers[i + 1].loc, pool_printf("move %s to the end, after %s", l->name, net->layers[net->n - 1].name),
                       "%s: no layer may follow the loss layer '%s'", net->layers[i + 1].name, l->name);
            return -1;
        }
    }
    Layer *last = &net->layers[net->n - 1];
    if (!last->kind->loss) {
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
