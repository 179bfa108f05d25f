#!/bin/sh
# netc_diff.sh OLD_NETC NEW_NETC [OUT_DIR]: what a change to the compiler does
# to its output. Compiles every shipped and test net (nets/*.net,
# nets/ablation/*.net, tests/nets/*.net, tests/torchvision/*.net,
# tests/report/tiny.net), with and without --no-winograd, with both compilers,
# and diffs the generated C, the `-d plan` dump and the three reports (table,
# CSV, JSON). Run it from the repository's root, so both see the same paths.
#
#   make && git stash && make && cp bin/netc /tmp/netc.old && git stash pop && make
#   tools/netc_diff.sh /tmp/netc.old bin/netc
#
# Prints one line per file that differs and a summary; exits 1 if anything
# differs. OUT_DIR (default: a temporary folder) keeps both trees to look at.
set -u
old=$1 new=$2
out=${3:-$(mktemp -d /tmp/netc_diff.XXXXXX)}
mkdir -p "$out/old" "$out/new"
nets=$(ls nets/*.net nets/ablation/*.net tests/nets/*.net tests/torchvision/*.net tests/report/tiny.net 2>/dev/null)
for side in old new; do
    netc=$old
    [ "$side" = new ] && netc=$new
    for f in $nets; do
        key=$(echo "$f" | sed 's|/|_|g; s|\.net$||')
        for mode in default no-winograd; do
            flag=""
            [ "$mode" = no-winograd ] && flag=--no-winograd
            d="$out/$side/$key.$mode"
            mkdir -p "$d"
            "$netc" -q -S $flag -d plan --out-dir "$d" "$f" >"$d/plan.txt" 2>"$d/stderr.txt"
            echo "exit $?" >>"$d/stderr.txt"
        done
        d="$out/$side/$key.default"
        "$netc" --report "$f" >"$d/report.txt" 2>&1
        "$netc" --report=csv "$f" >"$d/report.csv" 2>&1
        "$netc" --report=json "$f" >"$d/report.json" 2>&1
    done
done
changed=0 files=0 spaces=0
for f in $(cd "$out/old" && find . -type f | sort); do
    files=$((files + 1))
    if ! cmp -s "$out/old/$f" "$out/new/$f"; then
        changed=$((changed + 1))
        how="$(diff "$out/old/$f" "$out/new/$f" | grep -c '^[<>]') lines"
        if [ "$(tr -d ' \t\n' <"$out/old/$f")" = "$(tr -d ' \t\n' <"$out/new/$f")" ]; then
            how="$how, whitespace only"
            spaces=$((spaces + 1))
        fi
        echo "differs: $f ($how)"
    fi
done
for f in $(cd "$out/new" && find . -type f | sort); do
    [ -e "$out/old/$f" ] || { echo "new: $f"; changed=$((changed + 1)); }
done
echo "$changed of $files files differ ($spaces in whitespace only); both trees in $out (diff -r $out/old $out/new)"
[ "$changed" -eq 0 ]
