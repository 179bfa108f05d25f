/* emit_tmpl.c: the template substitution the emitters share (see emit.h). */
#include <stdlib.h>
#include <string.h>

#include "emit.h"
#include "pool.h"

void ev_clear(Emitter *e) { e->nvars = 0; }

void ev_str(Emitter *e, const char *name, const char *value) {
    for (int i = 0; i < e->nvars; i++)
        if (strcmp(e->vars[i].name, name) == 0) {
            e->vars[i].value = pool_strdup(value);
            return;
        }
    if (e->nvars == (int)(sizeof e->vars / sizeof e->vars[0])) {
        fprintf(stderr, "netc: internal error: too many template variables\n");
        abort();
    }
    e->vars[e->nvars].name = name;
    e->vars[e->nvars].value = pool_strdup(value);
    e->nvars++;
}

void ev_int(Emitter *e, const char *name, long long value) {
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", value);
    ev_str(e, name, buf);
}

/* Values may hold $NAMEs themselves (a gemm's arguments do); they are
 * expanded in turn, a few levels deep at most. */
static void expand(Emitter *e, const char *t, int depth) {
    for (const char *p = t; *p; p++) {
        if (*p != '$') {
            fputc(*p, e->f);
            continue;
        }
        const char *start = ++p;
        while ((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')) p++;
        size_t len = (size_t)(p - start);
        int found = 0;
        for (int i = 0; i < e->nvars && !found; i++)
            if (strlen(e->vars[i].name) == len && strncmp(e->vars[i].name, start, len) == 0) {
                if (strchr(e->vars[i].value, '$') && depth < 4) {
                    expand(e, e->vars[i].value, depth + 1); /* values are never freed while emitting */
                } else {
                    fputs(e->vars[i].value, e->f);
                }
                found = 1;
            }
        if (!found) {
            fprintf(stderr, "netc: internal error: template variable $%.*s is not set\n", (int)len, start);
            abort();
        }
        p--;
    }
}

void emit(Emitter *e, const char *t) { expand(e, t, 0); }

const char *affine(const char *var, long mul, long add) {
    const char *s = mul == 1 ? var : pool_printf("%s * %ld", var, mul);
    if (add > 0) return pool_printf("%s + %ld", s, add);
    if (add < 0) return pool_printf("%s - %ld", s, -add);
    return s;
}

void ev_layer(Emitter *e, const Layer *l) {
    const Net *net = e->net;
    ev_clear(e);
    ev_str(e, "ID", l->id);
    ev_str(e, "NAME", l->name);
    ev_str(e, "DESC", l->desc);
    Shape in = l->n_in ? net->layers[l->in[0]].out : l->out;
    ev_int(e, "C", in.c);
    ev_int(e, "H", in.h);
    ev_int(e, "W", in.w);
    ev_int(e, "HW", in.h * in.w);
    ev_int(e, "INIMG", in.c * in.h * in.w);
    ev_int(e, "OC", l->out.c);
    ev_int(e, "OH", l->out.h);
    ev_int(e, "OW", l->out.w);
    ev_int(e, "OHW", l->out.h * l->out.w);
    ev_int(e, "OUTIMG", l->out.c * l->out.h * l->out.w);
    ev_str(e, "INSHAPE", pool_printf("[n][%ld][%ld][%ld]", in.c, in.h, in.w));
    ev_str(e, "OUTSHAPE", pool_printf("[n][%ld][%ld][%ld]", l->out.c, l->out.h, l->out.w));
    /* a forward's comment: the relu it applies for the layer after it */
    const char *relu = l->relu_slope ? pool_printf("leaky relu, slope %g", l->relu_slope) : "relu";
    ev_str(e, "RELUDOC", l->relu_fused ? pool_printf(", then %s (%s, fused)", relu, net->layers[l->fused_relu].name) : "");
}

/* The shortest decimal that reads back as the same float: 1e-05f, not
 * 9.99999975e-06f (what the float nearest 1e-5 is to nine digits). */
const char *float_lit(double v) {
    float f = (float)v;
    char buf[48];
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, (double)f);
        if (strtof(buf, NULL) == f) break;
    }
    if (!strpbrk(buf, ".eEn")) strcat(buf, ".0");
    return pool_printf("%sf", buf);
}

/* ---- functions: one parameter list for the definition and the call ------------------------ */

/* Generated lines wrap before the parameter or argument that would pass this
 * column, continuing under the character after the '('. */
enum { WRAP_COLUMN = 120 };

void fn_init(Fn *f, const Layer *l, const char *what) {
    memset(f, 0, sizeof *f);
    f->name = pool_printf("%s_%s", l->id, what);
    f->type = "void";
}

void fn_param(Fn *f, const char *decl, const char *arg) {
    if (f->n == MAX_PARAMS) {
        fprintf(stderr, "netc: internal error: %s has more than %d parameters\n", f->name, MAX_PARAMS);
        abort();
    }
    f->p[f->n++] = (Param){decl, arg};
}

void fns_unary(const Emitter *e, const Layer *l, LayerFns *f) {
    const Layer *s = &e->net->layers[l->in[0]];
    fn_init(&f->forward, l, "forward");
    fn_param(&f->forward, "float *out", arg_act(l));
    fn_param(&f->forward, "const float *in", arg_act(s));
    fn_n_cap(&f->forward);
    if (!l->run_backward) return;
    fn_init(&f->backward, l, "backward");
    fn_param(&f->backward, "float *din", arg_grad(s));
    fn_param(&f->backward, "const float *dout", arg_grad(l));
    fn_n_cap(&f->backward);
}

void fn_n_cap(Fn *f) {
    fn_param(f, "int n", "n");
    fn_param(f, "int cap", "cap");
}

/* prefix, then the pieces separated by ", " and closed by end, wrapped */
static void print_list(FILE *out, const char *prefix, const char *const *pieces, int n, const char *end) {
    int indent = (int)strlen(prefix), col = indent;
    fputs(prefix, out);
    for (int i = 0; i < n; i++) {
        int len = (int)strlen(pieces[i]) + (i + 1 < n ? 1 : (int)strlen(end));
        if (i > 0 && col + 1 + len > WRAP_COLUMN) {
            fprintf(out, "\n%*s", indent, "");
            col = indent;
        } else if (i > 0) {
            fputc(' ', out);
            col++;
        }
        fprintf(out, "%s%s", pieces[i], i + 1 < n ? "," : end);
        col += len;
    }
    fputc('\n', out);
}

void fn_define(Emitter *e, const Fn *f) {
    const char *pieces[MAX_PARAMS];
    for (int i = 0; i < f->n; i++) pieces[i] = f->p[i].decl;
    print_list(e->f, pool_printf("static %s %s(", f->type, f->name), pieces, f->n, ") {");
}

void fn_call(Emitter *e, const Fn *f, const char *indent) {
    const char *pieces[MAX_PARAMS];
    for (int i = 0; i < f->n; i++) pieces[i] = f->p[i].arg;
    print_list(e->f, pool_printf("%s%s%s%s(", indent, f->result ? f->result : "", f->result ? " = " : "", f->name), pieces, f->n, ");");
}

const char *arg_act(const Layer *l) { return pool_printf("ACT(A_%s)", l->id); }
const char *arg_grad(const Layer *l) { return pool_printf("GRAD(G_%s)", l->id); }
const char *arg_param(const Layer *l, const char *suffix) { return pool_printf("PARAM(P_%s_%s)", l->id, suffix); }
const char *arg_pgrad(const Layer *l, const char *suffix) { return pool_printf("PGRAD(P_%s_%s)", l->id, suffix); }

/* ---- helpers the kinds' emitters share ------------------------------------------------------ */

void ev_acc(Emitter *e, const Layer *l, int j) { ev_str(e, "ACC", l->grad_accumulate[j] ? "+=" : "="); }

const char *fused_relu(const Layer *l, const char *v) {
    if (l->relu_slope == 0) return pool_printf("netc_relu(%s)", v);
    return pool_printf("netc_leaky_relu(%s, %s)", v, float_lit(l->relu_slope));
}

const char *relu_select(float slope, const char *test, const char *v) {
    if (slope == 0) return pool_printf("%s > 0.0f ? %s : 0.0f", test, v);
    return pool_printf("%s > 0.0f ? %s : %s * %s", test, v, float_lit(slope), v);
}

const char *fused_relu_grad(const Layer *l, const char *y, const char *dy) { return relu_select(l->relu_slope, y, dy); }

const char plane_loop[] =
    "#pragma omp parallel for schedule(static)\n"
    "    for (long p = 0; p < (long)$C * n; p++) {\n"
    "        long plane = p / n * cap + p % n; /* channel p / n, image p % n */\n";

const char value_loop[] =
    "#pragma omp parallel for schedule(static)\n"
    "    for (long c = 0; c < $OC; c++)\n"
    "        for (long k = c * cap * $OHW; k < (c * cap + n) * $OHW; k++) {\n";
