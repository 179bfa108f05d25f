#!/bin/sh
# get_15scene.sh: makes data/15scene point at the 15-scene data set.
#
# The set is not ours to redistribute, so this links to a copy already on
# the machine rather than downloading one:
#   1. $SCENE15_DIR, if set;
#   2. ../shared/data/15scene beside the repository, if present.
# Otherwise it says where to get the set and exits with status 1.
# Safe to run again: an existing link is replaced, real data is never touched.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
dest="$repo/data/15scene"

usage() {
    cat >&2 <<MSG
netc: $1

The 15-scene set (Lazebnik, Schmid and Ponce, CVPR 2006) is available from
  https://figshare.com/articles/dataset/15-Scene_Image_Dataset/7007177
Unpack it into this layout, one folder per category (15 of them):
  DIR/train/<category>/*.jpg   100 images per category (1,500)
  DIR/test/<category>/*.jpg    all the other images (2,985)
then run:
  SCENE15_DIR=DIR data/get_15scene.sh
MSG
    exit 1
}

# A usable copy has train/ and test/, each with at least one class folder.
check() {
    for split in train test; do
        [ -d "$1/$split" ] || return 1
        [ -n "$(find "$1/$split" -mindepth 1 -maxdepth 1 -type d ! -name '.*' -print -quit)" ] || return 1
    done
}

if [ -n "${SCENE15_DIR:-}" ]; then
    src=$SCENE15_DIR
    check "$src" || usage "SCENE15_DIR=$src does not hold train/<category>/ and test/<category>/ folders"
elif check "$repo/../shared/data/15scene" 2>/dev/null; then
    src="../../shared/data/15scene" # relative to data/: survives moving both together
else
    usage "no copy of the 15-scene data set found (set SCENE15_DIR to one)"
fi
case $src in /*) ;; *) [ -n "${SCENE15_DIR:-}" ] && src=$(cd "$src" && pwd) ;; esac

if [ -L "$dest" ]; then
    [ "$(readlink "$dest")" = "$src" ] && { echo "data/15scene -> $src (already)"; exit 0; }
    rm "$dest" # our own old link; the data it pointed to is untouched
elif [ -e "$dest" ]; then
    if check "$dest"; then
        echo "data/15scene is already a copy of the data set; leaving it alone"
        exit 0
    fi
    usage "$dest exists and is not a link to the data set; move it away first"
fi

ln -s "$src" "$dest"
ntrain=$(find "$dest/train/" -type f \( -iname '*.jpg' -o -iname '*.jpeg' \) | wc -l)
ntest=$(find "$dest/test/" -type f \( -iname '*.jpg' -o -iname '*.jpeg' \) | wc -l)
echo "data/15scene -> $src ($ntrain training and $ntest test images)"
