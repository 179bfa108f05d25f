#!/bin/sh
# valgrind.sh BUILD: netc and a short real training run under valgrind's
# memcheck (make valgrind builds BUILD first). Fails on the first memcheck
# error or definite leak, naming the step; ends with what was checked.
#
#   1. BUILD/bin/netc on every .net we ship or test, and on every input of
#      tests/fuzz_regress/ (most are refused: the error paths are checked too);
#   2. netc builds simplenet's trainer (-O2 -g, AVX2) against BUILD/libnetcrt.a;
#   3. the trainer, on 4 training and 2 test images per class of 15-scene plus
#      an empty .jpg and a PNG named .jpg (skipped with a warning): train one
#      epoch, resume for a second, test, predict (one unreadable image too).
set -eu
B=${1:-build-valgrind}
cd "$(dirname "$0")/.."
W=$B/vg
rm -rf "$W"
mkdir -p "$W/home/build-avx2"

# valgrind cannot run AVX-512: OpenBLAS must not pick its AVX-512 kernels
export OPENBLAS_CORETYPE=Haswell OMP_NUM_THREADS=1
log=$W/valgrind.log
VG="valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite
    --track-origins=yes --log-file=$log.%p"
steps=0

# run STEP EXPECTED_EXIT CMD...: CMD under memcheck; its exit must be EXPECTED_EXIT (99 is memcheck's)
run() {
    step=$1 want=$2
    shift 2
    rm -f "$log".*
    set +e
    $VG "$@" > "$W/out" 2> "$W/err"
    rc=$?
    set -e
    if [ "$rc" -ne "$want" ]; then
        echo "valgrind: $step: exit $rc (want $want): $*" >&2
        cat "$W/err" >&2
        cat "$log".* >&2
        exit 1
    fi
    steps=$((steps + 1))
}

echo "== netc on every net"
n=0
for f in nets/*.net nets/ablation/*.net tests/nets/*.net tests/report/*.net tests/torchvision/*.net; do
    run "netc $f" 0 "$B/bin/netc" -q -S --out-dir "$W/gen" "$f"
    n=$((n + 1))
done
for f in tests/fuzz_regress/*.net; do
    set +e
    "$B/bin/netc" -q -S --out-dir "$W/gen" "$f" > /dev/null 2>&1
    want=$?
    set -e
    run "netc $f" "$want" "$B/bin/netc" -q -S --out-dir "$W/gen" "$f"
    n=$((n + 1))
done
echo "   $n files compiled or refused, no errors"

echo "== the trainer"
ln -s "$PWD/runtime" "$W/home/runtime"
ln -s "$PWD/$B/libnetcrt.a" "$W/home/build-avx2/libnetcrt.a" # make valgrind builds for ISA=avx2
NETC_HOME=$PWD/$W/home "$B/bin/netc" -q --isa avx2 --cflags "-O2 -g -march=x86-64-v3" -o "$W/simplenet" nets/simplenet.net > /dev/null

D=$W/data
for split in train test; do
    k=$([ $split = train ] && echo 4 || echo 2)
    for c in data/15scene/$split/*/; do
        name=$(basename "$c")
        mkdir -p "$D/$split/$name"
        ls "$c" | head -n "$k" | while read -r img; do ln -s "$PWD/$c$img" "$D/$split/$name/$img"; done
    done
done
first=$(ls -d "$D"/train/*/ | head -n 1)
: > "${first}empty.jpg"
printf '\211PNG\r\n\032\n\0\0\0\rIHDR' > "${first}picture.jpg"

T="$W/simplenet"
run "train" 0 "$T" train --data "$D" --out "$W/run" --epochs 1 --batch 15 --threads 1 --force
grep -q "empty.jpg: empty file" "$W/err" || { echo "valgrind: no warning for empty.jpg" >&2; cat "$W/err" >&2; exit 1; }
run "train --resume" 0 "$T" train --resume "$W/run" --epochs 2 --threads 1
run "test" 0 "$T" test --data "$D" --weights "$W/run/weights.safetensors" --threads 1
img=$(ls "$D"/test/*/* | head -n 2)
run "predict" 1 "$T" predict --weights "$W/run/last.ckpt" --json $img "${first}empty.jpg"
echo "   train, resume, test and predict: no errors, nothing definitely lost"
echo "valgrind: $steps runs under memcheck, no errors, no leaks"
