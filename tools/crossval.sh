#!/bin/sh
# crossval.sh [-k K] [-f F] [-n NAME] NET.net [train options...]: K-fold
# cross-validation of a recipe on the training images, the test set never
# looked at.
#
# Trains NET K times (default 5), fold F holding out the F-th fifth (1/K) of
# each class's training images (--val_split 1/K --val_fold F, the same folds
# for every recipe of one --seed) and never measuring the test set (--test
# off). Each run goes to runs/crossval/NAME-fF (NAME defaults to the net's
# name and the options), so runs/crossval/index.html shows every fold's
# validation curve beside the other recipes'. Prints each fold's validation
# top-1 at the last epoch and at its best epoch, and its validation loss (a
# smoother figure than top-1: it moves with the confidence of every answer,
# not only with the answers that flip), then their means and the standard
# error of the top-1, and appends that line to runs/crossval/results.tsv. -f F runs only
# folds 0 to F-1 (a cheaper screen: each run still trains on (K-1)/K).
#
# With 100 training images a class, one 20% validation set (300 images) has a
# standard error of about 2 points; the mean over 5 folds (each image
# validated once, 1,500 in all) about 1, and two recipes run on the same folds
# differ by less noise still (their errors on an image go together).
set -eu
cd "$(dirname "$0")/.."
K=5 F="" name=""
while [ $# -gt 0 ]; do
    case $1 in
    -k) K=$2; shift 2 ;;
    -f) F=$2; shift 2 ;;
    -n) name=$2; shift 2 ;;
    *) break ;;
    esac
done
[ $# -ge 1 ] || { echo "usage: tools/crossval.sh [-k K] [-f F] [-n NAME] NET.net [train options...]" >&2; exit 2; }
F=${F:-$K}
net=$1
shift
NETC=${NETC_BIN:-bin/netc}
netname=$(awk '$1 == "net" { print $2; exit }' "$net")
[ -n "$name" ] || name=$netname$(echo " $*" | tr -c 'A-Za-z0-9.\n' '_' | sed 's/__*/_/g; s/_$//')
work=build/crossval
mkdir -p "$work" runs/crossval
"$NETC" -q --out-dir "$work" -o "$work/$netname" "$net" > /dev/null
split=$(awk -v k="$K" 'BEGIN { printf "%.6g", 1 / k }')
last="" best="" loss="" t0=$(date +%s)
for f in $(seq 0 $((F - 1))); do
    out=runs/crossval/$name-f$f
    "$work/$netname" train --out "$out" --force --quiet --test off --val_split "$split" --val_fold "$f" "$@" > /dev/null
    l=$(tools/metric.sh "$out/metrics.csv" val_top1)
    b=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "val_top1") c = i; next } $c > m { m = $c } END { print m }' "$out/metrics.csv")
    v=$(tools/metric.sh "$out/metrics.csv" val_loss)
    printf '%s fold %d: validation top-1 %.2f%% (last epoch), %.2f%% (best epoch), loss %.4f\n' "$name" "$f" "$l" "$b" "$v"
    last="$last $l" best="$best $b" loss="$loss $v"
done
secs=$(( $(date +%s) - t0 ))
summary=$(echo "$last" | awk '{ for (i = 1; i <= NF; i++) { s += $i; q += $i * $i } m = s / NF; sd = NF > 1 ? sqrt((q - NF * m * m) / (NF - 1)) : 0;
                                printf "%.2f\t%.2f", m, sd / sqrt(NF) }')
mean() { echo "$1" | awk -v d="$2" '{ for (i = 1; i <= NF; i++) s += $i; printf "%.*f", d, s / NF }'; }
bsum=$(mean "$best" 2) lsum=$(mean "$loss" 4)
echo "$name: validation top-1 over $F of $K folds $(echo "$summary" | cut -f1)% +- $(echo "$summary" | cut -f2) (last epoch; best epochs $bsum%), loss $lsum, $secs s"
[ -f runs/crossval/results.tsv ] ||
    printf 'name\tnet\toptions\tfolds\tval_top1_mean\tstd_error\tbest_epoch_mean\tval_loss_mean\tper_fold\tseconds\n' > runs/crossval/results.tsv
printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$net" "$*" "$F/$K" "$summary" "$bsum" "$lsum" "$(echo $last)" "$secs" \
    >> runs/crossval/results.tsv
