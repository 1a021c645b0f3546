#!/usr/bin/env bash
# bench/run_micro.sh — the allocator micro-benchmarks, moss and glibc in one
# executable and mimalloc in its own (it replaces malloc when linked), run
# back to back. Usage: bench/run_micro.sh [build-dir] [extra benchmark args]
set -euo pipefail
build=${1:-build/release}
shift || true
"$build/bench/bench_alloc" --benchmark_min_time=0.2 "$@"
"$build/bench/bench_alloc_mimalloc" --benchmark_min_time=0.2 "$@"
