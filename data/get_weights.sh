#!/bin/sh
# get_weights.sh: makes weights/squeezenet1_0.safetensors point at the
# ImageNet-pretrained SqueezeNet 1.0 that nets/squeezenet_ft.net starts from.
#
#   1. $SQUEEZENET_WEIGHTS (a .safetensors file), if set;
#   2. ../shared/weights/squeezenet1_0/squeezenet1_0.safetensors beside the
#      repository, if present.
# Otherwise it says how to make the file from torchvision's checkpoint.
# AlexNet's weights are never on these machines: see nets/alexnet_ft.net.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
dest="$repo/weights/squeezenet1_0.safetensors"
mkdir -p "$repo/weights"

if [ -n "${SQUEEZENET_WEIGHTS:-}" ]; then
    [ -f "$SQUEEZENET_WEIGHTS" ] || { echo "netc: SQUEEZENET_WEIGHTS=$SQUEEZENET_WEIGHTS is not a file" >&2; exit 1; }
    src=$(cd "$(dirname "$SQUEEZENET_WEIGHTS")" && pwd)/$(basename "$SQUEEZENET_WEIGHTS")
elif [ -f "$repo/../shared/weights/squeezenet1_0/squeezenet1_0.safetensors" ]; then
    src="../../shared/weights/squeezenet1_0/squeezenet1_0.safetensors" # relative to weights/
else
    cat >&2 <<MSG
netc: no SqueezeNet 1.0 weights found.

Make them from torchvision's ImageNet checkpoint (needs python3-torch):
  wget https://download.pytorch.org/models/squeezenet1_0-b66bff10.pth
  python3 tools/pth2safetensors.py squeezenet1_0-b66bff10.pth weights/squeezenet1_0.safetensors
or point SQUEEZENET_WEIGHTS at a .safetensors copy and run this again.
MSG
    exit 1
fi

if [ -L "$dest" ] && [ "$(readlink "$dest")" = "$src" ]; then
    echo "weights/squeezenet1_0.safetensors -> $src (already)"
    exit 0
fi
[ -e "$dest" ] && [ ! -L "$dest" ] && { echo "weights/squeezenet1_0.safetensors is already a file; leaving it alone"; exit 0; }
ln -sf "$src" "$dest"
echo "weights/squeezenet1_0.safetensors -> $src"
