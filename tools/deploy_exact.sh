#!/bin/sh
# deploy_exact.sh [NET.net[=WEIGHTS]...]: a deployed net agrees with its trainer.
#
# For each net (by default SimpleNet, DeeperNet and SqueezeNet-FT, with the
# weights their trainers wrote in runs/<net>/weights.safetensors):
#   1. the trainer's `test` and the deployed `predict --test` on all of
#      data/15scene/test must count the same correct images;
#   2. the trainer's `predict --json` and the deployed `predict --json` on 50
#      test images (every 59th, so all classes) must give the same top-5
#      classes with probabilities within 1e-5 (both print 6 decimals).
# The deployed predict is built as its Makefile builds it (one thread).
# Prints one line per check and a table row per net to build/deploy-exact/results.md;
# exits 1 at the first disagreement. Run by make deploy-check (SimpleNet, and the
# other nets whose weights are there).
set -eu
cd "$(dirname "$0")/.."
NETC=${NETC_BIN:-bin/netc}
OUT=build/deploy-exact
DATA=data/15scene/test
TOL=1e-5
[ $# -gt 0 ] || set -- nets/simplenet.net nets/deepernet.net nets/squeezenet_ft.net
tools/deps.sh python3 # compares the two JSON outputs
data/get_15scene.sh >/dev/null
mkdir -p "$OUT"
find "$DATA" -name '*.jpg' | LC_ALL=C sort | awk 'NR % 59 == 1' | head -50 >"$OUT/images.txt"
[ "$(wc -l <"$OUT/images.txt")" -eq 50 ] || { echo "deploy-exact: $DATA has fewer than 2,950 images"; exit 1; }

printf '| net | trainer `test` | deployed `predict --test` | 50 images: largest probability difference |\n|---|---:|---:|---:|\n' \
    >"$OUT/results.md"
for arg in "$@"; do
    net=${arg%%=*}
    name=$(basename "$net" .net)
    weights=runs/$name/weights.safetensors
    [ "$arg" = "$net" ] || weights=${arg#*=}
    if [ ! -f "$weights" ]; then
        echo "deploy-exact: $weights is missing: train $name first (make run, or $NETC $net && generated/$name train)"
        exit 1
    fi
    "$NETC" -q --out-dir "$OUT/gen" "$net" >/dev/null
    dir=$OUT/$name
    "$NETC" -q --deploy "$weights" --out-dir "$dir" "$net"
    make -s -C "$dir" predict

    # 1. every test image: the trainer's percentage is of 2,985 images, to 0.01%, so it names one count
    "$OUT/gen/$name" test --weights "$weights" --data data/15scene >"$OUT/$name.test" 2>&1 ||
        { cat "$OUT/$name.test"; exit 1; }
    "$dir/predict" --test "$DATA" >"$OUT/$name.ptest" 2>&1 || { cat "$OUT/$name.ptest"; exit 1; }
    line=$(sed -n 's/^top-1: [0-9.]*% (\([0-9]*\) of \([0-9]*\) images)$/\1 \2/p' "$OUT/$name.ptest")
    ours=${line% *} n=${line#* }
    pct=$(sed -n 's/.* (\([0-9]*\) images): .* top-1 \([0-9.]*\)%.*/\1 \2/p' "$OUT/$name.test")
    theirs=$(echo "$pct" | awk -v n="$n" '$1 == n { printf "%d", $2 * n / 100 + 0.5 }')
    [ -n "$theirs" ] || { echo "deploy-exact: $name: the trainer's test did not report $n images:"; cat "$OUT/$name.test"; exit 1; }
    echo "deploy-exact: $name: trainer's test $theirs of $n correct, deployed predict --test $ours of $n"

    # 2. probabilities on 50 images
    "$OUT/gen/$name" predict --weights "$weights" --json $(cat "$OUT/images.txt") >"$OUT/$name.tjson"
    "$dir/predict" --json $(cat "$OUT/images.txt") >"$OUT/$name.djson"
    worst=$(python3 - "$OUT/$name.tjson" "$OUT/$name.djson" <<'EOF'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
assert len(a) == len(b) == 50, "expected 50 images on each side"
worst = 0.0
for x, y in zip(a, b):
    assert x["image"] == y["image"], (x["image"], y["image"])
    px = {t["index"]: t["p"] for t in x["top5"]}
    py = {t["index"]: t["p"] for t in y["top5"]}
    for k in px.keys() & py.keys():
        worst = max(worst, abs(px[k] - py[k]))
    # a class in one top-5 and not the other may only be a near tie at the fifth place
    for k in px.keys() ^ py.keys():
        worst = max(worst, abs(px.get(k, min(px.values())) - py.get(k, min(py.values()))))
print("%.1e" % worst)
EOF
)
    echo "deploy-exact: $name: 50 images' top-5 probabilities within $worst"
    printf '| %s | %s of %s | %s of %s | %s |\n' "$name" "$theirs" "$n" "$ours" "$n" "$worst" >>"$OUT/results.md"
    [ "$ours" = "$theirs" ] || { echo "deploy-exact: $name: the deployed net counts $ours correct, the trainer $theirs"; exit 1; }
    awk -v w="$worst" -v t="$TOL" 'BEGIN { exit !(w + 0 <= t + 0) }' ||
        { echo "deploy-exact: $name: probabilities differ by $worst, more than $TOL"; exit 1; }
done
cat "$OUT/results.md"
