#!/usr/bin/env bash
# examples/scheme/compare_tinyscheme.sh — runs the bundled programs under
# TinyScheme and under moss-scheme (both collectors), side by side in one
# run, checks every output against the program's .out file, and prints the
# wall times and speed-ups.
#
#   compare_tinyscheme.sh [-r RUNS] [-a ARG]... [MOSS_SCHEME] [PROGRAM.scm ...]
#
# MOSS_SCHEME defaults to build/examples/scheme/moss-scheme under the
# source tree; programs default to every examples/scheme/programs/*.scm.
# With -r RUNS each program is run RUNS times per interpreter and the
# median is reported. Each -a ARG is passed to every moss-scheme run (e.g.
# -a --no-local-frames to compare with local frames off). Needs
# `tinyscheme` (Debian package tinyscheme).
# The machine is shared and noisy: compare the ratios of one run, not
# absolute times across runs. Exit status 1 if any output was wrong.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
runs=1
extra=()
while [[ ${1:-} == -r || ${1:-} == -a ]]; do
  if [[ $1 == -r ]]; then runs=$2; else extra+=("$2"); fi
  shift 2
done
moss=${1:-$here/../../build/examples/scheme/moss-scheme}
[[ $# -gt 0 ]] && shift
if [[ $# -gt 0 ]]; then programs=("$@"); else programs=("$here"/programs/*.scm); fi

command -v tinyscheme >/dev/null || { echo "compare_tinyscheme.sh: tinyscheme not found (apt-get install tinyscheme)" >&2; exit 2; }
[[ -x $moss ]] || { echo "compare_tinyscheme.sh: no moss-scheme at $moss (build first, or pass its path)" >&2; exit 2; }

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# Runs "$@" < /dev/null, output to $scratch/out; prints the wall time in seconds.
timed() {
  local start end
  start=$(date +%s.%N)
  "$@" < /dev/null > "$scratch/out" 2>&1 || true
  end=$(date +%s.%N)
  echo "$start $end" | awk '{ printf "%.3f", $2 - $1 }'
}

# Median of the arguments.
median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

status=0
printf '%-14s %12s %12s %12s %10s %10s\n' program tinyscheme "moss (ms)" "moss (rc)" "ts/ms" "ts/rc"
total_ts=0 total_ms=0 total_rc=0
for program in "${programs[@]}"; do
  name=$(basename "$program" .scm)
  expected=${program%.scm}.out
  declare -A times=()
  for who in ts ms rc; do
    samples=()
    for ((i = 0; i < runs; i++)); do
      case $who in
        ts) t=$(timed tinyscheme "$program") ;;
        ms) t=$(timed "$moss" --gc=ms ${extra[@]+"${extra[@]}"} "$program") ;;
        rc) t=$(timed "$moss" --gc=rc ${extra[@]+"${extra[@]}"} "$program") ;;
      esac
      samples+=("$t")
      if ! cmp -s "$scratch/out" "$expected"; then
        echo "$name: $who output differs from $(basename "$expected"):" >&2
        diff "$expected" "$scratch/out" | head -5 >&2 || true
        status=1
      fi
    done
    times[$who]=$(median "${samples[@]}")
  done
  printf '%-14s %11.2fs %11.2fs %11.2fs %9.1fx %9.1fx\n' "$name" "${times[ts]}" "${times[ms]}" "${times[rc]}" \
    "$(echo "${times[ts]} ${times[ms]}" | awk '{ print $1 / $2 }')" \
    "$(echo "${times[ts]} ${times[rc]}" | awk '{ print $1 / $2 }')"
  total_ts=$(echo "$total_ts ${times[ts]}" | awk '{ print $1 + $2 }')
  total_ms=$(echo "$total_ms ${times[ms]}" | awk '{ print $1 + $2 }')
  total_rc=$(echo "$total_rc ${times[rc]}" | awk '{ print $1 + $2 }')
  unset times
done
printf '%-14s %11.2fs %11.2fs %11.2fs %9.1fx %9.1fx\n' total "$total_ts" "$total_ms" "$total_rc" \
  "$(echo "$total_ts $total_ms" | awk '{ print $1 / $2 }')" \
  "$(echo "$total_ts $total_rc" | awk '{ print $1 / $2 }')"
exit $status
