#!/bin/sh
# course.sh [NET.net ...]: the course's three steps, trained end to end.
#
#   1. nets/simplenet.net     from scratch, the baseline
#   2. nets/deepernet128.net  from scratch, with jitter, normalisation, dropout, batch norm, depth
#   3. nets/squeezenet_ms.net fine-tuned from ImageNet
#
# Steps 2 and 3 are the recipes chosen by cross-validation on the training
# images (docs/recipes.md); nets/deepernet.net and nets/squeezenet_ft.net are
# the ones they were chosen over.
#
# Each net is compiled by bin/netc ($NETC_BIN if set: make ISA=... run sets it) and trained with its own settings into
# runs/<date>-<net>/ (metrics.csv, checkpoints, report.html); a summary table
# follows. nets/alexnet_ft.net runs when weights/alexnet.safetensors exists.
set -eu
cd "$(dirname "$0")/.."
NETC=${NETC_BIN:-bin/netc}

if [ $# -eq 0 ]; then
    set -- nets/simplenet.net nets/deepernet128.net nets/squeezenet_ms.net
    [ -f weights/alexnet.safetensors ] && set -- "$@" nets/alexnet_ft.net
fi
stamp=$(date +%Y%m%d-%H%M%S)
summary=""
for net in "$@"; do
    name=$(awk '$1 == "net" { print $2; exit }' "$net") # the trainer is named after the net, not the file
    out="runs/$stamp-$name"
    echo "==== $name: $NETC $net"
    "$NETC" -q "$net"
    start=$(date +%s)
    if ! "generated/$name" train --out "$out"; then
        summary="$summary$(printf '%-16s %s\n' "$name" "FAILED (see above)")\n"
        continue
    fi
    secs=$(( $(date +%s) - start ))
    top1=$(tools/metric.sh "$out/metrics.csv" test_top1)
    mean=$(tools/metric.sh "$out/metrics.csv" test_mean_class)
    epochs=$(tools/metric.sh "$out/metrics.csv" epoch)
    summary="$summary$(printf '%-16s %7.2f%% %9.2f%% %7s %8s s   %s/report.html' "$name" "$top1" "$mean" "$epochs" "$secs" "$out")\n"
done
printf '\n%-16s %8s %10s %7s %10s   %s\n' net "top-1" "mean/class" epochs time report
printf '%b' "$summary" # %b: the rows hold "%" signs, which must not be read as directives
