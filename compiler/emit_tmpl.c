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
    Shape in = l->kind == L_INPUT ? l->out : net->layers[l->in[0]].out;
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
    ev_str(e, "RELUDOC", l->relu_fused ? pool_printf(", then relu (%s, fused)", net->layers[l - net->layers + 1].name) : "");
}

const char *float_lit(double v) {
    char buf[48];
    snprintf(buf, sizeof buf, "%.9g", v);
    if (!strpbrk(buf, ".eEn")) strcat(buf, ".0");
    return pool_printf("%sf", buf);
}
