/* html.c: what the run report and the runs index share (see html.h). */
#define _GNU_SOURCE
#include "html.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define P jbuf_printf

/* HTML/XML-escaped text; bytes that are not UTF-8 (a Latin-1 file name) become '?'. */
void html_esc(JsonBuf *b, const char *s) {
    int utf8 = json_utf8_valid(s, strlen(s));
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '&') jbuf_puts(b, "&amp;");
        else if (ch == '<') jbuf_puts(b, "&lt;");
        else if (ch == '>') jbuf_puts(b, "&gt;");
        else if (ch == '"') jbuf_puts(b, "&quot;");
        else if (ch == '\'') jbuf_puts(b, "&#39;");
        else if ((ch < 0x20 && ch != '\n' && ch != '\t') || ch == 0x7F || (ch >= 0x80 && !utf8)) jbuf_puts(b, "?");
        else jbuf_add(b, s, 1);
    }
}

/* 12345 -> "12,345" */
const char *html_grouped(long v, char *buf, size_t len) {
    char digits[32];
    snprintf(digits, sizeof digits, "%ld", v < 0 ? -v : v);
    size_t n = strlen(digits), k = 0;
    if (v < 0 && k + 1 < len) buf[k++] = '-';
    for (size_t i = 0; i < n && k + 2 < len; i++) {
        if (i && (n - i) % 3 == 0) buf[k++] = ',';
        buf[k++] = digits[i];
    }
    buf[k] = 0;
    return buf;
}

/* 75.3 -> "1 min 15 s" */
const char *html_duration(double s, char *buf, size_t len) {
    if (s < 60) snprintf(buf, len, "%.1f s", s);
    else if (s < 3600) snprintf(buf, len, "%d min %d s", (int)(s / 60), (int)fmod(s, 60));
    else snprintf(buf, len, "%d h %d min", (int)(s / 3600), (int)fmod(s / 60, 60));
    return buf;
}


/* 1, 2 or 5 times a power of ten, near range / target. */
static double nice_step(double range, int target) {
    if (!(range > 0)) return 1;
    double raw = range / target, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

static int step_decimals(double step) { return step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9); }

#define PW 370.0 /* plot size in SVG units (about CSS pixels; the viewBox scales it to its box) */
#define PH 240.0
#define PL 54.0  /* margins: left (tick labels, y title), right, top (legend), bottom (ticks, x title) */
#define PR 12.0
#define PT 30.0
#define PB 42.0

void html_plot(JsonBuf *b, const char *metric, const char *title, const char *ytitle, const char *unit, int n, int x_max,
               const HtmlSeries *s, int ns, double y_cap, int value_decimals, bool legend) {
    double ymax = 0;
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < n; i++)
            if (isfinite(s[k].y[i]) && s[k].y[i] > ymax) ymax = s[k].y[i];
    if (ymax <= 0) ymax = y_cap > 0 ? y_cap : 1;
    double ystep = nice_step(ymax, 5), yhi = ceil(ymax / ystep - 1e-9) * ystep;
    if (y_cap > 0 && yhi > y_cap) yhi = y_cap;
    if (x_max < 1) x_max = 1;
    int xstep = (int)fmax(1, round(nice_step(x_max, 8)));
    double iw = PW - PL - PR, ih = PH - PT - PB;
#define X(x) (PL + (double)(x) / x_max * iw)
#define Y(y) (PT + (1 - (y) / yhi) * ih)
    P(b, "<figure><figcaption>%s</figcaption>\n", title);
    P(b, "<svg class=\"plot\" data-metric=\"%s\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"%s per epoch\">\n", metric,
      PW, PH, title);
    /* grid and y ticks */
    int yd = step_decimals(ystep);
    for (int i = 0; i * ystep <= yhi + 1e-9 * ystep; i++) {
        double v = i * ystep, y = Y(v);
        P(b, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", PL, y, PW - PR, y);
        P(b, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.*f</text>\n", PL - 6, y + 4, yd, v);
    }
    /* x ticks */
    for (int x = 0; x <= x_max; x += xstep) {
        P(b, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", X(x), PT + ih, X(x), PT + ih + 5);
        P(b, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d</text>\n", X(x), PT + ih + 18, x);
    }
    P(b, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", PL, PT, PL, PT + ih);
    P(b, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", PL, PT + ih, PW - PR, PT + ih);
    P(b, "<text class=\"atitle\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">epoch</text>\n", PL + iw / 2, PH - 6);
    P(b, "<text class=\"atitle\" transform=\"translate(14 %.1f) rotate(-90)\" text-anchor=\"middle\">%s</text>\n", PT + ih / 2,
      ytitle);
    /* the series: a line through the epochs that have a value, a marker on each */
    for (int k = 0; k < ns; k++) {
        P(b, "<g class=\"series %s\" data-series=\"", s[k].cls);
        html_esc(b, s[k].label);
        jbuf_puts(b, "\"><polyline points=\"");
        int pts = 0;
        for (int i = 0; i < n; i++)
            if (isfinite(s[k].y[i])) P(b, "%s%.1f,%.1f", pts++ ? " " : "", X(i + 1), Y(fmin(s[k].y[i], yhi)));
        jbuf_puts(b, "\"/>\n");
        for (int i = 0; i < n; i++)
            if (isfinite(s[k].y[i])) {
                P(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%s\"><title>", X(i + 1), Y(fmin(s[k].y[i], yhi)), n > 60 || ns > 6 ? "1.5" : "2.8");
                html_esc(b, s[k].label);
                P(b, ", epoch %d: %.*f%s</title></circle>\n", i + 1, value_decimals, s[k].y[i], unit);
            }
        jbuf_puts(b, "</g>\n");
    }
    /* legend, above the plot area on the right */
    if (!legend) ns = 0;
    double lx = PW - PR;
    for (int k = ns - 1; k >= 0; k--) lx -= 26 + 7.2 * (double)strlen(s[k].label) + 12;
    for (int k = 0; k < ns; k++) {
        P(b, "<g class=\"legend %s\"><line x1=\"%.1f\" y1=\"12\" x2=\"%.1f\" y2=\"12\"/><circle cx=\"%.1f\" cy=\"12\" r=\"2.8\"/>"
             "<text x=\"%.1f\" y=\"16\">",
          s[k].cls, lx, lx + 20, lx + 10, lx + 26);
        html_esc(b, s[k].label);
        jbuf_puts(b, "</text></g>\n");
        lx += 26 + 7.2 * (double)strlen(s[k].label) + 12;
    }
    jbuf_puts(b, "</svg></figure>\n");
#undef X
#undef Y
}

const char html_css[] =
    ":root{--ink:#1f2328;--muted:#656d76;--line:#d8dee4;--soft:#eef1f4;--bg:#f5f7f9;--card:#fff;"
    "--train:#2563eb;--val:#7c3aed;--test:#e8590c;--speed:#0f766e;--accent:#0f5260}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,"
    "'Helvetica Neue',Arial,'Noto Sans','Liberation Sans',sans-serif;-webkit-font-smoothing:antialiased}\n"
    "code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,'DejaVu Sans Mono','Liberation Mono',monospace}\n"
    "code{font-size:.88em;background:var(--soft);padding:1px 5px;border-radius:4px}\n"
    ".wrap,main{max-width:1280px;margin:0 auto;padding:0 28px}\n"
    "header{background:linear-gradient(160deg,#0b1f2a,#123845);color:#f1f5f9;padding:26px 0 0}\n"
    "header .brand{font-size:12px;letter-spacing:.12em;text-transform:uppercase;color:#7dd3c8;font-weight:600}\n"
    "header h1{margin:2px 0 0;font-size:34px;font-weight:700;letter-spacing:-.02em}\n"
    "header .sub{color:#a9b8c3;font-size:14px;margin-top:2px}\n"
    "header code{background:rgba(255,255,255,.1);color:#e2e8f0}\n"
    ".kpis{display:flex;flex-wrap:wrap;gap:12px;margin:22px 0 18px}\n"
    ".kpi{flex:1 1 150px;background:rgba(255,255,255,.07);border:1px solid rgba(255,255,255,.09);border-radius:12px;padding:12px 16px}\n"
    ".kpi .v{font-size:24px;font-weight:650;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    ".kpi.main{flex:2 1 260px}.kpi.main .v{font-size:46px;line-height:1.1;color:#5eead4}.kpi.val .v{color:#c4b5fd}\n"
    ".kpi .l{font-size:12px;color:#a9b8c3;margin-top:2px}\n"
    "nav{display:flex;gap:4px;flex-wrap:wrap;padding-bottom:10px}\n"
    "nav a{color:#cbd5e1;text-decoration:none;font-size:13px;padding:4px 10px;border-radius:6px}\n"
    "nav a:hover{background:rgba(255,255,255,.1);color:#fff}\n"
    "section{background:var(--card);border:1px solid var(--line);border-radius:14px;padding:22px 26px;margin:22px 0;"
    "box-shadow:0 1px 2px rgba(16,24,40,.04)}\n"
    "h2{font-size:20px;margin:0 0 4px;letter-spacing:-.01em}\n"
    "h3{font-size:14px;margin:18px 0 8px;color:var(--muted);text-transform:uppercase;letter-spacing:.06em}\n"
    ".note{color:var(--muted);font-size:13.5px;margin:0 0 16px;max-width:80ch}\n"
    ".empty{color:var(--muted);font-style:italic}\n"
    ".plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:18px 26px}\n"
    "figure{margin:0}\n"
    "figcaption{font-weight:600;font-size:14px;margin-bottom:6px}\n"
    "svg text{font-family:inherit}\n"
    ".plot{width:100%;height:auto;display:block;overflow:visible}\n"
    ".plot .grid{stroke:#e8ecf0;stroke-width:1}\n"
    ".plot .axis{stroke:#8c959f;stroke-width:1}\n"
    ".plot .tick{font-size:11.5px;fill:#57606a}\n"
    ".atitle{font-size:12px;fill:#57606a;font-weight:600}\n"
    ".series polyline{fill:none;stroke-width:2.2;stroke-linejoin:round;stroke-linecap:round}\n"
    ".series circle{stroke:#fff;stroke-width:1}\n"
    ".legend line{stroke-width:2.2}.legend circle{stroke:#fff;stroke-width:1}\n"
    ".legend text{font-size:12.5px;fill:var(--ink)}\n"
    ".train polyline,.train line{stroke:var(--train)}.train circle{fill:var(--train)}\n"
    ".test polyline,.test line{stroke:var(--test)}.test circle{fill:var(--test)}\n"
    ".val polyline,.val line{stroke:var(--val)}.val circle{fill:var(--val)}\n"
    ".speed polyline,.speed line{stroke:var(--speed)}.speed circle{fill:var(--speed)}\n"
    "table{border-collapse:collapse;font-variant-numeric:tabular-nums;font-size:13.5px}\n"
    "th,td{padding:5px 10px;text-align:right;border-bottom:1px solid var(--soft);vertical-align:top}\n"
    "thead th{color:var(--muted);font-weight:600;font-size:12.5px;border-bottom:1px solid var(--line);background:#fff;"
    "position:sticky;top:0;white-space:nowrap}\n"
    "tfoot td{font-weight:650;border-top:1px solid var(--line);border-bottom:0}\n"
    ".l{text-align:left}.muted{color:var(--muted)}\n"
    ".scroll{overflow-x:auto}.tall{max-height:460px;overflow-y:auto}\n"
    "table.epochs{width:100%}\n"
    "table.epochs td.hi{font-weight:650;color:var(--test)}table.epochs td.vhi{font-weight:650;color:var(--val)}\n"
    "table.epochs tr.best td{background:#f0fdfa}\n"
    ".filters{display:flex;gap:14px 48px;flex-wrap:wrap;align-items:flex-start}\n"
    ".filters img{image-rendering:pixelated;image-rendering:crisp-edges;display:block;border-radius:4px;"
    "box-shadow:0 0 0 1px var(--line)}\n"
    ".filters .moved{flex-basis:100%;margin:0}\n"
    ".cmwrap{display:flex;gap:28px;flex-wrap:wrap;align-items:flex-start}\n"
    ".cmwrap>.scroll{flex:1 1 500px;min-width:0}\n"
    "table.perclass td{white-space:nowrap}\n"
    "table.perclass td:nth-child(2){padding-right:2px}table.perclass td:nth-child(3){padding-left:4px}\n"
    ".confusion{max-width:100%;height:auto}\n"
    ".confusion .clabel{font-size:12px;fill:var(--ink)}\n"
    ".confusion text.on-dark{fill:#fff;font-size:11px;font-weight:600}\n"
    ".confusion text.on-light{fill:#24292f;font-size:11px}\n"
    ".confusion rect{stroke:#fff;stroke-width:1}\n"
    ".confusion rect.diag{fill:none;stroke:#e8590c;stroke-width:1.5}\n"
    ".confusion rect.frame{fill:none;stroke:#afb8c1}\n"
    ".bar{width:72px;height:8px;background:var(--soft);border-radius:4px;margin-top:6px;overflow:hidden}\n"
    ".bar span{display:block;height:100%;background:var(--accent);border-radius:4px}\n"
    ".mis{display:grid;grid-template-columns:repeat(6,1fr);gap:18px}\n"
    "@media (max-width:900px){.mis{grid-template-columns:repeat(3,1fr)}}\n"
    ".mistake .thumb{aspect-ratio:1;background:var(--soft);border-radius:10px;overflow:hidden}\n"
    ".mistake img{width:100%;height:100%;object-fit:cover;display:block}\n"
    ".mistake figcaption{font-weight:400;font-size:13px;margin-top:6px;line-height:1.35}\n"
    ".mistake span{display:block;color:var(--muted);font-size:10.5px;text-transform:uppercase;letter-spacing:.06em;margin-top:3px}\n"
    ".mistake .truth{font-weight:600}.mistake .pred{color:#b42318}.mistake .pred b{font-weight:650}\n"
    ".mistake .file{color:var(--muted);font-size:11.5px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}\n"
    "dl.figures{margin:28px 0 0;display:grid;grid-template-columns:auto 1fr;gap:10px 18px;align-content:start}\n"
    "dl.figures dt{color:var(--muted);font-size:13px;padding-top:3px}\n"
    "dl.figures dd{margin:0;font-size:16px;font-weight:650;font-variant-numeric:tabular-nums}\n"
    "pre{font-size:12.5px;line-height:1.45;background:#f6f8fa;border:1px solid var(--soft);padding:14px 16px;"
    "border-radius:10px;overflow-x:auto;margin:0}\n"
    ".cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:10px 34px}\n"
    "table.kv{width:100%}\n"
    "table.kv th{font-weight:600;white-space:nowrap;width:1%;padding-left:0}\n"
    "table.kv td{font-size:13px}\n"
    "table.settings td:nth-child(2){font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,'DejaVu Sans Mono',monospace;"
    "font-size:12.5px;overflow-wrap:anywhere;max-width:15em}\n"
    "table.settings tr.set th,table.settings tr.set td:nth-child(2){font-weight:700;color:var(--accent)}\n"
    "footer{color:var(--muted);font-size:12.5px;text-align:center;padding:8px 0 36px}\n"
    "@media print{header{background:#fff;color:#000}section{break-inside:avoid;box-shadow:none}}\n";
