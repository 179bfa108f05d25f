#!/bin/sh
# ablation.sh: the course's Part 1 as a table. Trains each step of
# nets/ablation/README.md in turn (each adds one idea to the one before) and
# writes its test top-1 and training time into docs/ablation.md.
# Settings never look at the test set: every number here is from the epoch
# count fixed in advance, the last epoch, on all 2,985 test images.
set -eu
cd "$(dirname "$0")/.."
NETC=${NETC_BIN:-bin/netc} # make ISA=... accuracy sets it
out=runs/ablation-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out" docs
table="$out/table.md"
printf '| step | net and settings | epochs | test top-1 | mean per class | train top-1 | time |\n|---|---|---:|---:|---:|---:|---:|\n' > "$table"

step() { # step NAME NET [train options...]
    label=$1 net=$2
    shift 2
    name=$(awk '$1 == "net" { print $2; exit }' "$net") # the trainer is named after the net, not the file
    "$NETC" -q "$net" > /dev/null
    start=$(date +%s)
    "generated/$name" train --quiet --out "$out/$name$(echo "$*" | tr -c 'a-z0-9' '_')" "$@" > /dev/null
    secs=$(( $(date +%s) - start ))
    dir=$(ls -td "$out/$name"* | head -n 1)
    m() { tools/metric.sh "$dir/metrics.csv" "$1"; }
    printf '| %s | `%s %s` | %s | %.1f%% | %.1f%% | %.1f%% | %s s |\n' "$label" "$net" "$*" "$(m epoch)" "$(m test_top1)" \
        "$(m test_mean_class)" "$(m train_top1)" "$secs" | tee -a "$table"
}

step "baseline (SimpleNet)" nets/simplenet.net
step "+ normalisation" nets/simplenet.net --normalize auto
step "+ flips" nets/simplenet.net --normalize auto --flip on
step "+ dropout" nets/ablation/dropout.net
step "+ batch norm" nets/ablation/batchnorm.net
step "+ depth" nets/ablation/deeper.net
step "+ 8 layers, crops, one-cycle, smoothing, flip at test (DeeperNet)" nets/deepernet.net

{
    echo "# Ablation: from SimpleNet to DeeperNet"
    echo
    echo "Measured by tools/ablation.sh on $(date +%Y-%m-%d), 2 threads ($(nproc) cores). Each row adds one idea to the row"
    echo "above it; the last epoch's top-1 on all 2,985 test images. No setting was chosen by looking at the test set."
    echo
    cat "$table"
} > docs/ablation.md
echo "wrote docs/ablation.md"
