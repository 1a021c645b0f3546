#!/usr/bin/env bash
# bench/run_macro.sh — runs moss-bench's macro workloads under a set of
# memory managers, N times each, and prints a Markdown table of medians with
# ratios to a baseline manager (the table bench/RESULTS.md is made from).
#
# Repetitions are interleaved (every workload x manager once, then again), so
# a noisy stretch of a shared machine hits all managers alike; compare the
# ratios from one invocation, not absolute times across invocations. Every
# raw result line is kept (-o) so a table can be rebuilt with -r.
#
# Called by: people producing bench/RESULTS.md; needs a build with
# bench/runner (moss-bench and moss-bench-mimalloc side by side).
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/run_macro.sh [options]
  -b DIR        build directory holding bench/runner/moss-bench (default: build)
  -w "W ..."    workloads (default: "gcbench binarytrees")
  -g "G ..."    managers (default: "ms rc boehm malloc shared_ptr mimalloc")
  -n N          repetitions of each workload x manager (default: 3)
  -B G          baseline manager for the ratio columns (default: boehm)
  -s N          --size for every workload (default: each workload's reference)
  -i K          --iterations for every workload (default: none)
  -t SECONDS    give up on a run after this long (default: no limit)
  -o FILE       keep the raw result lines here (default: a temporary file)
  -r FILE       no runs: rebuild the table from raw lines saved with -o
  -h            this help
Prints the table on stdout and progress on stderr.
EOF
}

build=build
workloads="gcbench binarytrees"
managers="ms rc boehm malloc shared_ptr mimalloc"
reps=3
baseline=boehm
size=""
iterations=""
limit=""
raw=""
reuse=""

while getopts "b:w:g:n:B:s:i:t:o:r:h" opt; do
  case "$opt" in
    b) build=$OPTARG ;;
    w) workloads=$OPTARG ;;
    g) managers=$OPTARG ;;
    n) reps=$OPTARG ;;
    B) baseline=$OPTARG ;;
    s) size=$OPTARG ;;
    i) iterations=$OPTARG ;;
    t) limit=$OPTARG ;;
    o) raw=$OPTARG ;;
    r) reuse=$OPTARG ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done

# Prints the table from raw lines: key=value result lines from moss-bench,
# plus "workload=W gc=G failed=REASON" lines for runs that did not finish.
tabulate() {
  awk -v baseline="$baseline" -v order_w="$workloads" -v order_g="$managers" '
    function median(list,    n, a, i, j, t) {
      n = split(list, a, " ")
      if (n == 0) return ""
      for (i = 2; i <= n; i++) {            # insertion sort: n is small
        t = a[i] + 0
        for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]
        a[j + 1] = t
      }
      if (n % 2) return a[(n + 1) / 2]
      return (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function fmt(x) { return x == "" ? "-" : sprintf("%.1f", x) }
    function ratio(x, y) { return (x == "" || y == "" || y == 0) ? "-" : sprintf("%.2f", x / y) }
    {
      delete kv
      for (f = 1; f <= NF; f++) { split($f, p, "="); kv[p[1]] = substr($f, length(p[1]) + 2) }
      k = kv["workload"] SUBSEP kv["gc"]
      if ("failed" in kv) { failed[k]++; next }
      ok[k]++
      size[k] = kv["size"]
      wall[k] = wall[k] " " kv["wall_ms"]
      rss[k] = rss[k] " " kv["peak_rss_mib"]
      if (kv["collections"] != "na") coll[k] = coll[k] " " kv["collections"]
      if (kv["pause_p50_us"] != "na") {
        p50[k] = p50[k] " " kv["pause_p50_us"]; p99[k] = p99[k] " " kv["pause_p99_us"]
        pmax[k] = pmax[k] " " kv["pause_max_us"]
      }
      sums[k] = sums[k] " " kv["checksum"]
      if (!(kv["workload"] in first_sum)) first_sum[kv["workload"]] = kv["checksum"]
    }
    END {
      nw = split(order_w, ws, " "); ng = split(order_g, gs, " ")
      print "| workload | manager | size | runs | wall ms (median) | wall / " baseline " | peak RSS MiB (median) | RSS / " baseline " | collections | pause p50 us | pause p99 us | pause max us | checksum |"
      print "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
      for (i = 1; i <= nw; i++) {
        w = ws[i]; b = w SUBSEP baseline
        bw = (b in ok) ? median(wall[b]) : ""; br = (b in ok) ? median(rss[b]) : ""
        # The checksum every manager must reproduce: that of the baseline, if it ran.
        if (b in ok) { split(sums[b], s, " "); reference = s[1] } else reference = first_sum[w]
        for (j = 1; j <= ng; j++) {
          g = gs[j]; k = w SUBSEP g
          has_ok = (k in ok); has_failed = (k in failed)
          if (!has_ok && !has_failed) continue
          runs = (has_ok ? ok[k] : 0) (has_failed ? " (" failed[k] " failed)" : "")
          if (!has_ok) { printf "| %s | %s | - | %s | - | - | - | - | - | - | - | - | - |\n", w, g, runs; continue }
          mw = median(wall[k]); mr = median(rss[k])
          check = "same"
          n = split(sums[k], s, " "); for (q = 1; q <= n; q++) if (s[q] != reference) check = "DIFFERS"
          printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", w, g, size[k], runs,
                 fmt(mw), ratio(mw, bw), fmt(mr), ratio(mr, br),
                 (k in coll) ? median(coll[k]) : "na",
                 (k in p50) ? fmt(median(p50[k])) : "na", (k in p99) ? fmt(median(p99[k])) : "na",
                 (k in pmax) ? fmt(median(pmax[k])) : "na", check
        }
      }
    }'
}

if [ -n "$reuse" ]; then
  tabulate < "$reuse"
  exit 0
fi

bench=$build/bench/runner/moss-bench
if [ ! -x "$bench" ]; then
  echo "run_macro.sh: no $bench; build first (ninja -C $build) or point -b at the build directory" >&2
  exit 1
fi
if [ -z "$raw" ]; then
  raw=$(mktemp "${TMPDIR:-/tmp}/run_macro.XXXXXX")
fi
: > "$raw"

flags=()
[ -n "$size" ] && flags+=(--size "$size")
[ -n "$iterations" ] && flags+=(--iterations "$iterations")
runner=()
[ -n "$limit" ] && runner=(timeout "$limit")

read -r load1 _ < /proc/loadavg
echo "run_macro.sh: load average $load1 on $(nproc) cores before starting; raw lines in $raw" >&2

for rep in $(seq 1 "$reps"); do
  for w in $workloads; do
    for g in $managers; do
      echo "run_macro.sh: [$rep/$reps] $w --gc=$g ${flags[*]}" >&2
      if line=$("${runner[@]}" "$bench" "$w" --gc="$g" "${flags[@]}" --quiet); then
        echo "$line" | tail -n 1 >> "$raw"
      else
        status=$?
        echo "run_macro.sh: $w --gc=$g exited with $status" >&2
        echo "workload=$w gc=$g failed=$status" >> "$raw"
      fi
    done
  done
done

read -r load1 _ < /proc/loadavg
echo "run_macro.sh: load average $load1 after the runs" >&2
echo "Command: bench/run_macro.sh -b $build -w \"$workloads\" -g \"$managers\" -n $reps -B $baseline${size:+ -s $size}${iterations:+ -i $iterations}"
echo
tabulate < "$raw"
