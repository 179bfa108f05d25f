#!/bin/sh
# deploy_check.sh: netc --deploy beyond this machine (make deploy-check).
#
#   1. SimpleNet (trained here first if runs/simplenet/weights.safetensors is
#      missing: about a minute) is deployed, and its predict --test over the
#      15-scene test set runs on this machine and, cross-compiled for aarch64
#      (Debian's gcc-aarch64-linux-gnu, linked statically, NEON), under
#      qemu-user: both must count the same correct images.
#   2. tools/deploy_exact.sh: on x86, the deployed nets count the same correct
#      test images as their trainers' test, and give their predict's
#      probabilities within 1e-5 on 50 images.
#   3. The same simplenet.c is built for a Cortex-M7 (Debian's gcc-arm-none-eabi,
#      newlib; -std=c99 -pedantic -Werror), and arm-none-eabi-size says its flash
#      (code and weights) and RAM (the arena).
#   4. SimpleNet as int8 (netc --deploy --quantize int8: calibrated on 500
#      training images) the same ways: x86_64 and aarch64 under qemu-user count
#      the same correct test images (integer arithmetic inside: NEON's and
#      AVX-512 VNNI's sums are plain C's to the bit), and its Cortex-M7 sizes
#      (not step 2: int8 is not the trainer's float to 1e-5).
#   DEPLOY_CHECK_NETS="nets/deepernet.net nets/squeezenet_ft.net" adds nets whose
#   weights are in runs/<net>/ to steps 1 and 2 (under qemu, minutes per net).
# Writes build/deploy-check/; prints one line per check.
set -eu
cd "$(dirname "$0")/.."
NETC=${NETC_BIN:-bin/netc}
OUT=build/deploy-check
NETS="nets/simplenet.net ${DEPLOY_CHECK_NETS:-}"

# the cross compilers, qemu, and libjpeg and libpng for arm64 (Debian multiarch:
# deps.sh adds the arm64 architecture to dpkg first)
tools/deps.sh gcc-aarch64-linux-gnu qemu-user gcc-arm-none-eabi libnewlib-arm-none-eabi
tools/deps.sh libjpeg62-turbo-dev:arm64 libpng-dev:arm64 zlib1g-dev:arm64
data/get_15scene.sh >/dev/null

mkdir -p "$OUT"
for net in $NETS int8:nets/simplenet.net; do
    quantize=""
    case $net in int8:*) net=${net#int8:}; quantize="--quantize int8" ;; esac
    name=$(basename "$net" .net)
    weights=runs/$name/weights.safetensors
    if [ ! -f "$weights" ]; then
        [ "$name" = simplenet ] || { echo "deploy-check: $weights is missing: train $name first"; exit 1; }
        echo "deploy-check: training simplenet for its weights"
        "$NETC" -q --out-dir "$OUT/gen" "$net" >/dev/null
        "$OUT/gen/simplenet" train --quiet --out runs/simplenet --force >/dev/null
    fi
    dir=$OUT/$name${quantize:+-int8}
    "$NETC" -q --deploy "$weights" $quantize --out-dir "$dir" "$net"
    make -s -C "$dir" predict CFLAGS="-O3 -march=native -Werror"
    x86=$("$dir/predict" --test data/15scene/test | grep '^top-1:')
    mkdir -p "$dir/aarch64"
    aarch64-linux-gnu-gcc -std=c99 -Wall -Wextra -pedantic -Werror -O3 -static -I"$dir" "$dir/predict.c" "$dir/$name.c" \
        -o "$dir/aarch64/predict" -ljpeg -lpng -lz -lm
    arm=$(qemu-aarch64 "$dir/aarch64/predict" --test data/15scene/test | grep '^top-1:')
    echo "deploy-check: $name${quantize:+ int8} x86_64:  $x86"
    echo "deploy-check: $name${quantize:+ int8} aarch64: $arm (qemu-user)"
    [ "$x86" = "$arm" ] || { echo "deploy-check: $name: aarch64 and x86_64 disagree"; exit 1; }
done

NETC_BIN=$NETC tools/deploy_exact.sh $NETS

# SimpleNet on a Cortex-M7 (double-precision FPU, hard float), float and int8
for dir in $OUT/simplenet $OUT/simplenet-int8; do
    arm-none-eabi-gcc -mcpu=cortex-m7 -mthumb -mfpu=fpv5-d16 -mfloat-abi=hard -O2 -std=c99 -Wall -Wextra -pedantic -Werror \
        -ffunction-sections -fdata-sections -Wl,--gc-sections --specs=nano.specs --specs=nosys.specs \
        -I"$dir" -DNET=simplenet -DUNET=SIMPLENET -DNET_H='"simplenet.h"' tests/deploy/m7_main.c "$dir/simplenet.c" \
        -o "$dir/simplenet-m7.elf" -lm
    arm-none-eabi-size "$dir/simplenet-m7.elf" | tee "$dir/simplenet-m7.size"
    arm-none-eabi-size "$dir/simplenet-m7.elf" | awk -v what="$(basename "$dir")" 'NR == 2 {
        printf "deploy-check: %s on a Cortex-M7: flash %d bytes (code and weights: text + data), RAM %d bytes (arena and all: data + bss)\n", what, $1 + $2, $2 + $3 }'
done
