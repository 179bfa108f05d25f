#!/bin/sh
# get_15scene.sh: makes data/15scene the 15-scene data set, split for training.
#
# The set is not ours to redistribute, so this uses a copy already on the
# machine rather than downloading one:
#   1. $SCENE15_DIR, if set: either a copy already split into train/ and test/
#      (linked as it is), or the published download unpacked: one folder per
#      category (perhaps inside one more folder), from which the standard
#      split is made (below);
#   2. ../shared/data/15scene beside the repository, if present (linked).
# Otherwise it says where to get the set and exits with status 1.
#
# The standard split: 100 images of each category for training, all the
# others for testing. Which 100 is decided by the images themselves: each
# category's files are ordered by the SHA-256 of their bytes (then by name)
# and the first 100 train, so the same download always gives the same split,
# on any machine, whatever the files are called or the order they unpack in.
# Category folders are named in lower case without the original release's
# MIT/CAL/PAR prefixes (MITcoast -> coast, CALsuburb -> suburb). The split is
# made of hard links to the download (copies when on another file system),
# built aside and renamed into place, so data/15scene is never half made;
# data/15scene/.split names the download it came from.
#
# $SCENE15_DEST changes where the set goes (default data/15scene). Safe to run
# again: an existing link is replaced, real data is never touched.
set -eu
export LC_ALL=C

repo=$(cd "$(dirname "$0")/.." && pwd)
dest=${SCENE15_DEST:-$repo/data/15scene}
show=${SCENE15_DEST:-data/15scene} # the name messages give it
TRAIN_PER_CLASS=100

usage() {
    cat >&2 <<MSG
netc: $1

The 15-scene set (Lazebnik, Schmid and Ponce, CVPR 2006) is available from
  https://figshare.com/articles/dataset/15-Scene_Image_Dataset/7007177
Unpack it anywhere (one folder of .jpg images per category, 15 of them) and run
  SCENE15_DIR=DIR data/get_15scene.sh
which makes the standard split into data/15scene: 100 images per category
for training (1,500), the rest for testing (2,985). A copy already split into
DIR/train/<category>/ and DIR/test/<category>/ is used as it is.
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

# The published download: folders holding images directly. Prints the folder
# that holds the category folders (DIR, or its only sub-folder), or fails.
download_root() {
    for root in "$1" "$(find "$1" -mindepth 1 -maxdepth 1 -type d ! -name '.*' | head -n 2 | awk 'END { if (NR == 1) print }')"; do
        [ -n "$root" ] || continue
        n=0
        for d in "$root"/*/; do
            [ -d "$d" ] && [ -n "$(find "$d" -maxdepth 1 -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) -print -quit)" ] && n=$((n + 1))
        done
        [ "$n" -ge 2 ] && { echo "$root"; return 0; }
    done
    return 1
}

# split SRC: the standard split of the category folders of SRC into $dest.
split_download() {
    src=$1
    if [ -f "$dest/.split" ]; then # made by this script before
        [ "$(cat "$dest/.split")" = "$src" ] && { echo "$show: the standard split of $src (already)"; exit 0; }
    elif [ -e "$dest" ] && ! [ -L "$dest" ]; then
        check "$dest" && { echo "$show is already a copy of the data set; leaving it alone"; exit 0; }
        usage "$dest exists and is not the data set; move it away first"
    fi
    tmp=$(dirname "$dest")/.15scene.tmp.$$
    rm -rf "$tmp"
    trap 'rm -rf "$tmp"' EXIT INT TERM
    ntrain=0 ntest=0 ncat=0
    for d in "$src"/*/; do
        d=${d%/}
        name=$(basename "$d" | tr 'A-Z' 'a-z' | sed 's/^\(mit\|cal\|par\)\(..*\)/\2/')
        # images only, each named; anything else is said and left out
        find "$d" -mindepth 1 -maxdepth 1 ! -name '.*' ! -type d ! \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) \
            -exec sh -c 'for f; do echo "netc: warning: $f: not a .jpg, .jpeg or .png image; left out" >&2; done' sh {} +
        list=$(find "$d" -mindepth 1 -maxdepth 1 -type f ! -name '.*' \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) \
            -exec sha256sum {} + | sort -k1,1 -k2 | sed 's/^[0-9a-f]*  //')
        [ -n "$list" ] || continue
        count=$(printf '%s\n' "$list" | wc -l)
        if [ "$count" -le $TRAIN_PER_CLASS ]; then
            usage "category $(basename "$d") ($d) has $count images; the standard split trains on $TRAIN_PER_CLASS of each and tests on the rest"
        fi
        [ -d "$tmp/train/$name" ] && usage "two folders of $src are both category '$name' once named in lower case without MIT/CAL/PAR"
        mkdir -p "$tmp/train/$name" "$tmp/test/$name"
        i=0
        printf '%s\n' "$list" | while IFS= read -r f; do
            i=$((i + 1))
            part=test
            [ $i -le $TRAIN_PER_CLASS ] && part=train
            ln "$f" "$tmp/$part/$name/" 2>/dev/null || cp "$f" "$tmp/$part/$name/"
        done
        ncat=$((ncat + 1)) ntrain=$((ntrain + TRAIN_PER_CLASS)) ntest=$((ntest + count - TRAIN_PER_CLASS))
    done
    [ "$ncat" -ge 2 ] || usage "$src holds no category folders of images"
    echo "$src" > "$tmp/.split"
    if [ -L "$dest" ]; then rm "$dest"; elif [ -e "$dest" ]; then rm -rf "$dest"; fi # a link of ours, or a split of ours (.split)
    mv "$tmp" "$dest"
    trap - EXIT INT TERM
    echo "$show: the standard split of $src: $ncat categories, $ntrain training and $ntest test images"
}

if [ -n "${SCENE15_DIR:-}" ]; then
    src=$SCENE15_DIR
    [ -d "$src" ] || usage "SCENE15_DIR=$src is not a folder"
    if ! check "$src"; then
        root=$(download_root "$src") || usage "SCENE15_DIR=$src holds neither train/ and test/ folders nor category folders of images"
        split_download "$(cd "$root" && pwd)"
        exit 0
    fi
    src=$(cd "$src" && pwd)
elif check "$repo/../shared/data/15scene" 2>/dev/null; then
    src="../../shared/data/15scene" # relative to data/: survives moving both together
    [ -n "${SCENE15_DEST:-}" ] && src=$(cd "$repo/../shared/data/15scene" && pwd)
else
    usage "no copy of the 15-scene data set found (set SCENE15_DIR to one)"
fi

if [ -L "$dest" ]; then
    [ "$(readlink "$dest")" = "$src" ] && { echo "$show -> $src (already)"; exit 0; }
    rm "$dest" # our own old link; the data it pointed to is untouched
elif [ -e "$dest" ]; then
    if check "$dest"; then
        echo "$show is already a copy of the data set; leaving it alone"
        exit 0
    fi
    usage "$dest exists and is not a link to the data set; move it away first"
fi

ln -s "$src" "$dest"
ntrain=$(find "$dest/train/" -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) | wc -l)
ntest=$(find "$dest/test/" -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) | wc -l)
echo "$show -> $src ($ntrain training and $ntest test images)"
