/* report.c: the shape report, as a table a person reads at a glance, or as
 * CSV / JSON for programs. Figures come from the shape pass; nothing here
 * computes a shape. */
#include "report.h"

#include <math.h>
#include <string.h>

#include "kind.h"
#include "pool.h"

const char *fmt_thousands(int64_t v) {
    char digits[32], out[48];
    snprintf(digits, sizeof digits, "%lld", (long long)(v < 0 ? -v : v));
    int n = (int)strlen(digits), j = 0;
    if (v < 0) out[j++] = '-';
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0) out[j++] = ',';
        out[j++] = digits[i];
    }
    out[j] = 0;
    return pool_strdup(out);
}

static const char *scaled(double v, const char *const *units, double step) {
    int u = 0;
    while (v >= step * 0.9995 && units[u + 1]) v /= step, u++;
    if (u == 0) return pool_printf("%.0f%s%s", v, units[0][0] ? " " : "", units[0]);
    return pool_printf("%.*f %s", v < 9.995 ? 2 : v < 99.95 ? 1 : 0, v, units[u]);
}

const char *fmt_si(double v) {
    static const char *const units[] = {"", "K", "M", "G", "T", "P", NULL};
    return v == 0 ? "0" : scaled(v, units, 1000);
}

const char *fmt_bytes(double bytes) {
    static const char *const units[] = {"B", "KB", "MB", "GB", "TB", NULL};
    return scaled(bytes, units, 1024);
}

/* What a layer reads, when it is not simply the layer above it. */
static const char *inputs_note(const Net *net, int i) {
    const Layer *l = &net->layers[i];
    if (l->kind->joins || l->n_in == 0) return "";
    if (l->n_in == 1 && l->in[0] == i - 1) return "";
    return pool_printf(" <- %s", net->layers[l->in[0]].name);
}

static const char *notes(const Layer *l) {
    const char *s = "";
    if (l->frozen && l->params) s = "frozen";
    if (l->load) s = pool_printf("%s%sloads %s", s, s[0] ? ", " : "", l->load);
    if (l->lr_mult != 1 && l->params) s = pool_printf("%s%slr x%g", s, s[0] ? ", " : "", l->lr_mult);
    return s;
}

static char *rtrim(char *s) {
    size_t n = strlen(s);
    while (n && s[n - 1] == ' ') s[--n] = 0;
    return s;
}

/* A receptive field's size or stride: a whole number as it is; after a
 * resize, which moves by fractions of an input pixel, to two decimals in the
 * table (5.18/0.54) and to ten digits in CSV and JSON. */
static const char *rf_num(double v, bool table) {
    if (v == floor(v)) return pool_printf("%.0f", v);
    if (!table) return pool_printf("%.10g", v);
    char *s = pool_printf("%.2f", v), *end = s + strlen(s) - 1;
    while (*end == '0') *end-- = 0;
    return s;
}

static void report_table(const Net *net, FILE *f) {
    int wn = 5, wt = 4;
    for (int i = 0; i < net->n; i++) {
        int n = (int)strlen(net->layers[i].name), t = (int)(strlen(net->layers[i].desc) + strlen(inputs_note(net, i)));
        if (n > wn) wn = n;
        if (t > wt) wt = t;
    }
    if (wt > 48) wt = 48;
    fprintf(f, "%s (%s): input %ldx%ldx%ld, %d classes\n\n", net->name, net->file, net->input.w, net->input.h, net->input.c,
            net->classes);
    fprintf(f, "%s\n", rtrim(pool_printf("  %-*s  %-*s  %9s  %6s  %11s  %11s  %9s  %10s", wn, "layer", wt, "type", "data",
                                           "depth", "rf size/str", "params", "FLOPs", "memory")));
    for (int i = 0; i < net->n; i++) {
        const Layer *l = &net->layers[i];
        char type[256];
        snprintf(type, sizeof type, "%s%s", l->desc, inputs_note(net, i));
        char *row = pool_printf("  %-*s  %-*.*s  %9s  %6ld  %11s  %11s  %9s  %10s  %s", wn, l->name, wt, wt, type,
                                pool_printf("%ldx%ld", l->out.w, l->out.h), l->out.c, pool_printf("%s/%s", rf_num(l->rf, true), rf_num(l->rf_stride, true)),
                                fmt_thousands(l->params), fmt_si(l->flops), fmt_bytes(4.0 * (double)l->act), notes(l));
        fprintf(f, "%s\n", rtrim(row));
    }
    fprintf(f, "%s\n", rtrim(pool_printf("  %-*s  %-*s  %9s  %6s  %11s  %11s  %9s  %10s", wn, "total", wt,
                                           pool_printf("%d layers", net->n - 1), "", "", "", fmt_thousands(net->total_params),
                                           fmt_si(net->total_flops), fmt_bytes(4.0 * (double)net->total_act))));
    fprintf(f, "\n  parameters %s (%s as float32)", fmt_thousands(net->total_params), fmt_bytes(4.0 * (double)net->total_params));
    if (net->total_buffers) fprintf(f, ", plus %s batch norm statistics", fmt_thousands(net->total_buffers));
    fprintf(f, "\n  forward %s FLOPs and %s of activations per image\n", fmt_si(net->total_flops),
            fmt_bytes(4.0 * (double)net->total_act));
    fprintf(f, "  rf size/str: the receptive field of one output value, and its stride, in input pixels\n");
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 32) fprintf(f, "\\u%04x", *s);
        else fputc(*s, f);
    }
    fputc('"', f);
}

static void report_csv(const Net *net, FILE *f) {
    fprintf(f, "layer,kind,desc,inputs,width,height,depth,rf_size,rf_stride,params,flops,act_floats,frozen,load\n");
    for (int i = 0; i < net->n; i++) {
        const Layer *l = &net->layers[i];
        fprintf(f, "%s,%s,\"", l->name, l->kind->name);
        for (const char *p = l->desc; *p; p++) fprintf(f, *p == '"' ? "\"\"" : "%c", *p);
        fprintf(f, "\",");
        for (int j = 0; j < l->n_in; j++) fprintf(f, "%s%s", j ? " " : "", net->layers[l->in[j]].name);
        fprintf(f, ",%ld,%ld,%ld,%s,%s,%lld,%.0f,%lld,%d,%s\n", l->out.w, l->out.h, l->out.c, rf_num(l->rf, false), rf_num(l->rf_stride, false),
                (long long)l->params, l->flops, (long long)l->act, l->frozen, l->load ? l->load : "");
    }
}

static void report_json(const Net *net, FILE *f) {
    fprintf(f, "{\"net\": ");
    json_str(f, net->name);
    fprintf(f, ", \"file\": ");
    json_str(f, net->file);
    fprintf(f, ", \"input\": [%ld, %ld, %ld], \"classes\": %d,\n \"layers\": [\n", net->input.w, net->input.h, net->input.c,
            net->classes);
    for (int i = 0; i < net->n; i++) {
        const Layer *l = &net->layers[i];
        fprintf(f, "  {\"name\": ");
        json_str(f, l->name);
        fprintf(f, ", \"kind\": \"%s\", \"desc\": ", l->kind->name);
        json_str(f, l->desc);
        fprintf(f, ", \"inputs\": [");
        for (int j = 0; j < l->n_in; j++) {
            if (j) fprintf(f, ", ");
            json_str(f, net->layers[l->in[j]].name);
        }
        fprintf(f, "], \"size\": [%ld, %ld, %ld], \"rf\": [%s, %s], \"params\": %lld, \"flops\": %.0f, \"act_floats\": %lld, "
                   "\"frozen\": %s, \"lr_mult\": %g, \"load\": ",
                l->out.w, l->out.h, l->out.c, rf_num(l->rf, false), rf_num(l->rf_stride, false), (long long)l->params, l->flops, (long long)l->act,
                l->frozen ? "true" : "false", l->lr_mult);
        if (l->load) json_str(f, l->load);
        else fprintf(f, "null");
        if (l->kind->json) l->kind->json(l, f); /* everything another tool needs to rebuild it (tools/torch_ref.py does) */
        fprintf(f, "}%s\n", i + 1 < net->n ? "," : "");
    }
    fprintf(f, " ],\n \"total\": {\"params\": %lld, \"buffers\": %lld, \"flops\": %.0f, \"act_floats\": %lld}}\n",
            (long long)net->total_params, (long long)net->total_buffers, net->total_flops, (long long)net->total_act);
}

void report_net(const Net *net, ReportFormat fmt, FILE *f) {
    switch (fmt) {
    case REPORT_TABLE: report_table(net, f); break;
    case REPORT_CSV: report_csv(net, f); break;
    case REPORT_JSON: report_json(net, f); break;
    }
}
