/* report.h: the shape report (--report, --report=csv, --report=json). */
#ifndef NETC_REPORT_H
#define NETC_REPORT_H

#include <stdio.h>

#include "net.h"

typedef enum { REPORT_TABLE, REPORT_CSV, REPORT_JSON } ReportFormat;

void report_net(const Net *net, ReportFormat fmt, FILE *f);

/* "10,435" */
const char *fmt_thousands(int64_t v);
/* "10.2 M" (FLOPs), "122.5 KB" (bytes) */
const char *fmt_si(double v);
const char *fmt_bytes(double bytes);

#endif
