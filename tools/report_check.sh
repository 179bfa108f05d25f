#!/bin/sh
# report_check.sh [RUN_DIR]: looks at report.html and runs/index.html the way a person does.
#
# Without RUN_DIR it trains $NET (default nets/simplenet.net) for $EPOCHS
# epochs (default 4) on data/15scene, twice, with a validation split and two
# learning rates, into build/report-check/runs/{a,b}. Then it renders the
# first run's report.html in headless Chromium (Debian's chromium package,
# installed by tools/deps.sh if missing) and
#   - takes a full-page screenshot: build/report-check/report.png;
#   - loads a copy of the page with a small checking script appended (the
#     report itself has none), dumps the DOM and reads the script's verdicts:
#     the three plots drawn with every series (train, validation, test) and a
#     point per epoch, legends, the filter grids and misclassified images
#     decoded (naturalWidth > 0), the confusion matrix with one label per
#     class folder, the headline and the epoch table equal to metrics.csv,
#     nothing fetched from the network, no web fonts, nothing wider than the
#     window, no reload once the run has ended.
# Then the same for the runs index beside the run folder (index.png): a row
# per run, a validation curve per run in its row's colour with a point per
# epoch, every report link pointing at a file.
# Exits 1 if any check fails. `make report-check` runs it; CI does not.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
NET=${NET:-nets/simplenet.net}
EPOCHS=${EPOCHS:-4}
WORK=$ROOT/build/report-check
mkdir -p "$WORK"

tools/deps.sh chromium
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || { echo "report-check: chromium not found after installing it" >&2; exit 1; }

if [ $# -ge 1 ]; then
    RUN=$1
else
    if [ ! -d data/15scene/train ]; then
        data/get_15scene.sh || { echo "report-check: no data/15scene (see data/README.md)" >&2; exit 1; }
    fi
    name=$(basename "$NET" .net)
    bin/netc -q --out-dir "$WORK" -o "$WORK/$name" "$NET"
    rm -rf "$WORK/runs"
    RUN=$WORK/runs/a
    "$WORK/$name" train --epochs "$EPOCHS" --val_split 0.2 --out "$RUN" --quiet > /dev/null
    "$WORK/$name" train --epochs "$EPOCHS" --val_split 0.2 --lr 0.02 --out "$WORK/runs/b" --quiet > /dev/null
    DATA=$ROOT/data/15scene
fi
REPORT=$RUN/report.html
[ -f "$REPORT" ] || { echo "report-check: $REPORT not found" >&2; exit 1; }
[ -f "$RUN/metrics.csv" ] || { echo "report-check: $RUN/metrics.csv not found" >&2; exit 1; }
# the class folders the confusion matrix must name (from the run's settings when given a run)
DATA=${DATA:-$(sed -n 's/.*<th class="l">data<\/th><td class="l">\([^<]*\)<.*/\1/p' "$REPORT" | head -1)}
case "$DATA" in /*) ;; *) DATA=$ROOT/$DATA ;; esac

rows=$(($(wc -l < "$RUN/metrics.csv") - 1))
valrows=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "val_top1") c = i; next } c && $c != "" { n++ } END { print n + 0 }' "$RUN/metrics.csv")
last_top1=$(printf '%.2f' "$(tools/metric.sh "$RUN/metrics.csv" test_top1)")
classes=$(LC_ALL=C ls "$DATA/train" | awk '{ gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); printf "%s\"%s\"", (NR > 1 ? "," : ""), $0 }')
echo "report-check: $REPORT ($rows epochs, final test top-1 $last_top1%, classes from $DATA/train)"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
chrome() { # chrome TAG ARGS...: chromium with a fresh profile, no network, its log in $TMP/chrome.TAG.log
    ctag=$1
    shift
    "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
        --disable-component-update --disable-sync --disable-extensions --mute-audio --hide-scrollbars \
        --host-resolver-rules="MAP * ~NOTFOUND" --user-data-dir="$TMP/profile.$ctag" "$@" 2> "$TMP/chrome.$ctag.log"
}

# checking_page PAGE TAG LABEL < JS: writes $TMP/check.TAG.html, PAGE with a
# script appended (the pages themselves have none) that runs JS, then the
# checks every page gets (LABEL starts their names), and writes its verdicts
# into the DOM. JS has check(name, ok, detail) and visible(element) at hand.
checking_page() {
    sed '$d' "$1" | sed 's#</body>##' > "$TMP/check.$2.html"
    {
        printf '<pre id="netc-check"></pre>\n<script>\n(function () {\n  var out = [];\n'
        printf '  function check(name, ok, detail) { out.push((ok ? "OK   " : "FAIL ") + name + (ok ? "" : ": " + detail)); }\n'
        printf '  function visible(el) { var r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; }\n'
        cat
        cat <<JS
  var net = performance.getEntriesByType("resource").filter(function (r) { return !/^data:/.test(r.name); });
  check("$3nothing fetched", net.length === 0, net.map(function (r) { return r.name; }).join(" "));
  check("$3no web fonts", document.fonts.size === 0, document.fonts.size + " font faces");
  check("$3fits the window", document.documentElement.scrollWidth <= window.innerWidth,
        document.documentElement.scrollWidth + " > " + window.innerWidth);
  check("$3no reload once its runs have ended", !document.querySelector('meta[http-equiv="refresh"]'), "it reloads");
  out.push("HEIGHT " + document.getElementById("netc-check").getBoundingClientRect().top);
  document.getElementById("netc-check").textContent = out.join("\\n");
})();
</script>
</body>
</html>
JS
    } >> "$TMP/check.$2.html"
}

# the report with its checking script
checking_page "$REPORT" report "" <<EOF
  var rows = $rows, valrows = $valrows, top1 = "$last_top1", classes = [$classes];
  ["loss", "top1", "top5"].forEach(function (m) {
    var svg = document.querySelector('svg.plot[data-metric="' + m + '"]');
    check("plot " + m + " drawn", svg && visible(svg), "missing or invisible");
    if (!svg) return;
    var series = ["train"].concat(valrows ? ["val"] : [], ["test"]);
    series.forEach(function (s) {
      var line = svg.querySelector('g.series.' + s + ' polyline');
      var n = line ? line.points.numberOfItems : 0, box = line ? line.getBBox() : null;
      var want = s === "train" ? rows : s === "val" ? valrows : svg.querySelectorAll('g.series.test circle').length;
      check("plot " + m + " " + s + " series", line && n === want && n > 0 && (n === 1 || box.width > 0),
            "points " + n + ", expected " + want);
      var stroke = line ? getComputedStyle(line).stroke : "";
      check("plot " + m + " " + s + " coloured", stroke && stroke !== "none" && stroke !== "rgb(0, 0, 0)", stroke);
    });
    var legend = Array.prototype.map.call(svg.querySelectorAll('g.legend text'), function (t) { return t.textContent; });
    var wantLegend = valrows ? "train,validation,test" : "train,test";
    check("plot " + m + " legend", legend.join(",") === wantLegend, legend.join(","));
    check("plot " + m + " ticks", svg.querySelectorAll('text.tick').length >= 6, "few ticks");
  });
  check("train series over " + rows + " epochs", rows > 0, "no epochs in metrics.csv");
  var filt = document.querySelectorAll('img.filters');
  check("two filter grids", filt.length === 2, filt.length + " found");
  Array.prototype.forEach.call(filt, function (img, i) {
    check("filter grid " + i + " decoded", img.complete && img.naturalWidth > 0 && visible(img) && img.width >= 100,
          "naturalWidth " + img.naturalWidth + ", width " + img.width);
  });
  var cm = document.querySelector('svg.confusion');
  check("confusion matrix drawn", cm && visible(cm), "missing");
  if (cm) {
    var rowsL = Array.prototype.map.call(cm.querySelectorAll('text.clabel.row'), function (t) { return t.textContent; });
    var colsL = Array.prototype.map.call(cm.querySelectorAll('text.clabel.col'), function (t) { return t.textContent; });
    check("confusion rows name the " + classes.length + " classes", rowsL.join("|") === classes.join("|"), rowsL.join("|"));
    check("confusion columns name the classes", colsL.join("|") === classes.join("|"), colsL.join("|"));
    var frame = cm.querySelector('rect.frame').getBBox(), clash = 0;
    Array.prototype.forEach.call(cm.querySelectorAll('text.clabel.row'), function (t) {
      var b = t.getBBox(); if (b.width <= 0 || b.x + b.width > frame.x + 0.5 || b.x < 0) clash++; });
    check("row labels fit left of the matrix", clash === 0, clash + " labels overlap or are cut");
    var cells = 0; Array.prototype.forEach.call(cm.querySelectorAll('g > title'), function () { cells++; });
    check("confusion has " + classes.length + "x" + classes.length + " cells", cells === classes.length * classes.length, cells + " cells");
  }
  var pc = document.querySelectorAll('table.perclass tbody tr');
  check("per-class accuracy rows", pc.length === classes.length, pc.length + " rows");
  var mis = document.querySelectorAll('figure.mistake img'), bad = 0;
  Array.prototype.forEach.call(mis, function (img) { if (!(img.complete && img.naturalWidth > 0 && visible(img))) bad++; });
  check("misclassified images shown", mis.length >= 1 && mis.length <= 12, mis.length + " images");
  check("misclassified images decoded", bad === 0, bad + " did not load");
  var labels = document.querySelectorAll('figure.mistake .truth, figure.mistake .pred');
  check("misclassified images labelled", labels.length === 2 * mis.length, labels.length + " labels");
  var kpi = document.querySelector('.kpi.main .v');
  check("headline is the final test top-1", kpi && kpi.textContent === top1 + "%", kpi ? kpi.textContent : "missing");
  var er = document.querySelectorAll('table.epochs tbody tr');
  check("epoch table has a row per epoch", er.length === rows, er.length + " rows");
  if (er.length) {
    var heads = Array.prototype.map.call(document.querySelectorAll('table.epochs thead th'), function (t) { return t.textContent; });
    var cell = er[er.length - 1].querySelectorAll('td')[heads.indexOf("test top-1")];
    check("epoch table's last test top-1 is metrics.csv's", cell && cell.textContent === top1, cell ? cell.textContent : "none");
  }
  ["curves", "epochs", "filters", "confusion", "mistakes", "speed", "network", "settings"].forEach(function (id) {
    var s = document.getElementById(id); check("section " + id, s && visible(s), "missing or hidden"); });
EOF

# look PAGE TAG: runs $TMP/check.TAG.html (PAGE with its checking script) in
# Chromium and prints the verdicts; screenshots PAGE whole into $WORK/TAG.png.
# Adds the number of failed checks to $fails and of passed ones to $passed.
fails=0 passed=0
look() {
    page=$1 tag=$2
    chrome "dom.$tag" --window-size=1400,1000 --virtual-time-budget=10000 --dump-dom "file://$TMP/check.$tag.html" > "$TMP/dom.$tag.html" || true
    verdicts=$(sed -n '/<pre id="netc-check">/,/<\/pre>/p' "$TMP/dom.$tag.html" | sed 's/<[^>]*>//g')
    if [ -z "$verdicts" ]; then
        echo "report-check: Chromium produced no verdicts for $page; its log:" >&2
        cat "$TMP/chrome.dom.$tag.log" >&2
        exit 1
    fi
    echo "$verdicts" | grep -v '^HEIGHT' | sed 's/^/  /'
    height=$(echo "$verdicts" | sed -n 's/^HEIGHT \([0-9]*\).*/\1/p')
    height=${height:-6000}
    chrome "shot.$tag" --window-size=1400,"$height" --virtual-time-budget=10000 --screenshot="$WORK/$tag.png" \
        "file://$(cd "$(dirname "$page")" && pwd)/$(basename "$page")" > /dev/null || true
    if [ -s "$WORK/$tag.png" ]; then
        echo "report-check: screenshot $WORK/$tag.png (1400x$height)"
    else
        echo "  FAIL screenshot: Chromium wrote none"
        fails=$((fails + 1))
    fi
    fails=$((fails + $(echo "$verdicts" | grep -c '^FAIL' || true)))
    passed=$((passed + $(echo "$verdicts" | grep -c '^OK' || true)))
}
look "$REPORT" report

# the runs index beside the run folder, when there is one
INDEX=$(dirname "$RUN")/index.html
if [ -f "$INDEX" ]; then
    folder=$(dirname "$INDEX")
    # each run with a run.json and its validated epochs, for the script ("name": n, ...)
    runs="" nruns=0
    for d in "$folder"/*/; do
        d=${d%/}
        [ -f "$d/run.json" ] || continue
        nruns=$((nruns + 1))
        n=0
        [ -f "$d/metrics.csv" ] && n=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "val_top1") c = i; next } c && $c != "" { n++ } END { print n + 0 }' "$d/metrics.csv")
        runs="$runs\"$(basename "$d" | sed 's/\\/\\\\/g; s/"/\\"/g')\": $n, "
    done
    # every report link reaches a file (hrefs are %XX-escaped)
    for href in $(grep -o '<a href="[^"#]*"' "$INDEX" | sed 's/<a href="\(.*\)"/\1/'); do
        file=$(printf '%b' "$(echo "$href" | sed 's/%\([0-9A-F][0-9A-F]\)/\\x\1/g')")
        if [ -f "$folder/$file" ]; then passed=$((passed + 1)); else echo "  FAIL link $href: no $folder/$file"; fails=$((fails + 1)); fi
    done
    echo "report-check: $INDEX ($nruns runs)"
    checking_page "$INDEX" index "index: " <<EOF
  var runs = {$runs}, nruns = $nruns;
  var trs = document.querySelectorAll('table.runs tbody tr');
  check("index: a row per run", trs.length === nruns, trs.length + " rows, " + nruns + " runs");
  var svg = document.querySelector('svg.plot[data-metric="val_top1"]');
  var withval = Object.keys(runs).filter(function (k) { return runs[k] > 0; });
  check("index: validation plot drawn", withval.length === 0 || (svg && visible(svg)), "missing or invisible");
  Array.prototype.forEach.call(trs, function (tr) {
    var a = tr.querySelector('a'), name = a ? a.textContent : "?";
    var g = svg ? Array.prototype.filter.call(svg.querySelectorAll('g.series'), function (g) { return g.getAttribute('data-series') === name; })[0] : null;
    if (!(runs[name] > 0)) { check("run " + name + " has no curve", !g, "it has one"); return; }
    var line = g ? g.querySelector('polyline') : null, n = line ? line.points.numberOfItems : 0;
    check("run " + name + ": a point per validated epoch", n === runs[name], n + " points, " + runs[name] + " epochs");
    var sw = tr.querySelector('td.swatch span');
    var c1 = sw ? getComputedStyle(sw).backgroundColor : "", c2 = line ? getComputedStyle(line).stroke : "";
    check("run " + name + ": curve in its row's colour", c1 && c1 === c2 && c2 !== "rgb(0, 0, 0)", c1 + " vs " + c2);
  });
  var colours = {};
  Array.prototype.forEach.call(document.querySelectorAll('td.swatch span'), function (s) { colours[getComputedStyle(s).backgroundColor] = 1; });
  check("index: each curve its own colour", Object.keys(colours).length === Math.min(withval.length, 10), Object.keys(colours).join(" "));
EOF
    look "$INDEX" index
fi

if [ "$fails" -ne 0 ]; then
    echo "report-check: $fails checks failed" >&2
    exit 1
fi
echo "report-check: all $passed checks passed"
