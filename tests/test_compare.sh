#!/usr/bin/env bash
# tests/test_compare.sh — moss-compare runs its whole matrix at the smallest
# sizes and leaves a table, a CSV and a well-formed SVG plot.
#
#     tests/test_compare.sh BUILD/examples/compare/moss-compare
#
# Checks: the exit status is 0 (every run finished and every checksum and
# Scheme output agreed); the table on stdout has a row for every workload
# and strategy; results.csv has the header and exactly those rows, each
# marked ok; compare.svg parses as XML with an <svg> root (when gnuplot is
# installed; otherwise moss-compare must say it is missing). Timings are
# never asserted.
#
# Called by: meson test (tests/meson.build, suite "compare") and by hand.
set -euo pipefail

compare=${1:?usage: tests/test_compare.sh PATH/TO/moss-compare}
out=$(mktemp -d "${TMPDIR:-/tmp}/test_compare.XXXXXX")
trap 'rm -rf "$out"' EXIT

fail() {
  echo "test_compare: FAIL: $*" >&2
  exit 1
}

status=0
"$compare" --smallest --out "$out" > "$out/stdout.txt" 2> "$out/stderr.txt" || status=$?
if [ "$status" -ne 0 ]; then
  cat "$out/stdout.txt" "$out/stderr.txt" >&2
  fail "moss-compare --smallest exited with $status"
fi

# Every cell of the matrix: workload,strategy.
expected=()
for w in gcbench binarytrees pause; do
  for s in ms ms+gen rc boehm malloc mimalloc shared_ptr; do expected+=("$w,$s"); done
done
expected+=("binarytrees,ms+local" "binarytrees,rc+local")
for p in trees permutations queue strings; do
  for s in ms rc; do expected+=("scheme:$p,$s"); done
done

# The table: a header, then one row per cell (workload and strategy first).
grep -q '^workload  *strategy  *size  *wall ms  *wall/best  *peak RSS MiB  *RSS/best  *collections' "$out/stdout.txt" ||
  fail "no table header on stdout"
for cell in "${expected[@]}"; do
  w=${cell%,*} s=${cell#*,}
  grep -Eq "^${w}  +${s//+/\\+}  " "$out/stdout.txt" || fail "no table row for $w $s"
done
grep -q "^Results in $out\$" "$out/stdout.txt" || fail "the output directory is not printed last"

# The CSV: the header, then exactly the expected rows, all checked ok.
csv=$out/results.csv
[ -s "$csv" ] || fail "no $csv"
header=$(head -n 1 "$csv")
[ "$header" = "workload,strategy,size,runs,wall_ms,wall_ratio,peak_rss_mib,rss_ratio,collections,pause_p50_us,pause_p99_us,pause_max_us,checksum,check,command" ] ||
  fail "unexpected CSV header: $header"
rows=$(($(wc -l < "$csv") - 1))
[ "$rows" -eq "${#expected[@]}" ] || fail "CSV has $rows rows, expected ${#expected[@]}"
for cell in "${expected[@]}"; do
  grep -q "^$cell,.*,ok,[^,]*\$" "$csv" || fail "CSV row for $cell missing or not ok"
done
python3 - "$csv" <<'PY' || fail "CSV does not parse or a number is malformed"
import csv, sys
with open(sys.argv[1], newline="") as f:
    rows = list(csv.DictReader(f))
for r in rows:
    float(r["wall_ms"]); float(r["peak_rss_mib"]); float(r["wall_ratio"]); float(r["rss_ratio"])
    assert float(r["wall_ratio"]) >= 1.0 and float(r["rss_ratio"]) >= 1.0, r
PY

# The plot.
if command -v gnuplot > /dev/null; then
  [ -s "$out/compare.svg" ] || fail "gnuplot is installed but there is no compare.svg"
  python3 -c 'import sys, xml.dom.minidom; d = xml.dom.minidom.parse(sys.argv[1]); assert d.documentElement.tagName == "svg"' \
    "$out/compare.svg" || fail "compare.svg is not well-formed SVG"
else
  grep -q "gnuplot is missing" "$out/stderr.txt" || fail "gnuplot is missing and moss-compare did not say so"
fi

# Progress: one line per run on stderr.
runs=$(grep -c '^moss-compare: \[[0-9]*/[0-9]*\]' "$out/stderr.txt" || true)
[ "$runs" -eq "${#expected[@]}" ] || fail "$runs progress lines on stderr, expected ${#expected[@]}"

echo "test_compare: ok (${#expected[@]} runs; table, CSV and plot checked)"
