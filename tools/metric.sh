#!/bin/sh
# metric.sh FILE COLUMN: the last non-empty value of COLUMN (named as in the
# header line) of a run's metrics.csv; exits 2 if there is no such column.
#   tools/metric.sh runs/deepernet/metrics.csv test_top1   ->  80.0335
[ $# -eq 2 ] || { echo "usage: tools/metric.sh METRICS.csv COLUMN" >&2; exit 2; }
awk -F, -v name="$2" '
    NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; if (!c) { print "metric.sh: " FILENAME " has no column " name > "/dev/stderr"; bad = 1; exit 2 } next }
    $c != "" { v = $c }
    END { if (!bad) print v }' "$1"
