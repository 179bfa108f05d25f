/* report_html.h: <out>/report.html, the page a person reads about a run.
 *
 * One self-contained file (inline CSS, inline SVG plots, images as data:
 * URIs; no scripts, fonts or anything else from the network), rewritten
 * atomically by the trainer at the start, after every epoch and when it is
 * interrupted or fails; while training it reloads itself. It shows, top to
 * bottom: the headline numbers; loss, top-1 and top-5 per epoch, train
 * against validation and test; the per-epoch table (the numbers of
 * metrics.csv); the first conv layer's filters before and after training; the
 * test set's confusion matrix, per-class accuracy and the most confident
 * mistakes; training speed; the shape report; every setting.
 *
 * The page is also well-formed XML (void elements closed, everything
 * escaped), so tests can check its structure with a plain XML parser. */
#ifndef NETC_REPORT_HTML_H
#define NETC_REPORT_HTML_H

#include "train.h"

/* Writes <r->out>/report.html atomically. */
int report_html_write(const Run *r, Error *e);

/* The weight tensor of the net's first conv layer (in layer order), whose
 * filters the report draws; NULL if the net has none. */
const NetcTensor *report_first_conv(const NetcNet *net);

/* Is the run in progress? Then its pages reload themselves every
 * REPORT_RELOAD_SECONDS (a meta refresh: no script), and stop once it ends. */
bool report_live(const Run *r);
#define REPORT_RELOAD_SECONDS 10

/* How many misclassified test images the report shows at most. */
#define REPORT_MISTAKES 12

#endif
