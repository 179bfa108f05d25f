/* html.h: the pieces of netc's HTML pages (report.html, runs/index.html):
 * escaping, number formats, SVG line charts and the style sheet.
 *
 * Pages are built as one string in a JsonBuf and written atomically; they are
 * well-formed XML, with no scripts and nothing fetched from the network. */
#ifndef NETC_HTML_H
#define NETC_HTML_H

#include <stdbool.h>

#include "json.h"

/* HTML/XML-escaped text; bytes that are not UTF-8 (a Latin-1 file name) become '?'. */
void html_esc(JsonBuf *b, const char *s);
/* 12345 -> "12,345" */
const char *html_grouped(long v, char *buf, size_t len);
/* 75.3 -> "1 min 15 s" */
const char *html_duration(double s, char *buf, size_t len);

typedef struct {
    const char *label, *cls; /* legend text; CSS class: train | val | test | speed | run0 .. run9 */
    const double *y;         /* one per epoch; NAN: no value that epoch */
} HtmlSeries;

/* A line chart (SVG in a <figure>) of per-epoch values against epochs
 * 0..x_max: nice ticks, grid, a marker with a tooltip per point (smaller
 * when there are many points or lines), and a legend
 * above the plot unless legend is false. y runs from 0 to a nice number above
 * the largest value (at most y_cap if y_cap > 0). metric names the chart
 * (data-metric) for tests and scripts. */
void html_plot(JsonBuf *b, const char *metric, const char *title, const char *ytitle, const char *unit, int n, int x_max,
               const HtmlSeries *s, int ns, double y_cap, int value_decimals, bool legend);

/* The style sheet both pages use. */
extern const char html_css[];

#endif
