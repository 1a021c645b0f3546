// tests/test_bench_workloads.cpp — the macro workloads of moss-bench
// (bench/runner/workloads.hpp) compute the same thing under every manager
// that links into one program, and moss's managers really collect while
// they run.
//
// Sizes are tiny so the suite stays fast; the checksums are compared across
// managers and, for binarytrees, with the node counts the workload's shape
// implies. Timings are never asserted. mimalloc is left out: its library
// replaces malloc for the whole process (it has its own executable,
// moss-bench-mimalloc).
//
// Called by: the doctest suite (tests/meson.build), with bench/runner on the
// include path.
#include <doctest/doctest.h>

#include <cstdint>
#include <stdexcept>

#include "manager_boehm.hpp"
#include "manager_malloc.hpp"
#include "manager_moss.hpp"
#include "manager_shared_ptr.hpp"
#include "workloads.hpp"

namespace {

using moss_bench::Workload;

template <class M>
std::uint64_t checksum_under(Workload w, int size, std::int64_t iterations = 0) {
  M manager;
  moss_bench::WorkloadParams params;
  params.size = size;
  params.iterations = iterations;
  return moss_bench::run_workload(w, manager, params);
}

template <class M>
moss_bench::GcReport report_after(Workload w, int size, std::int64_t iterations = 0) {
  M manager;
  moss_bench::WorkloadParams params;
  params.size = size;
  params.iterations = iterations;
  moss_bench::run_workload(w, manager, params);
  return manager.report();
}

// Every manager that links here gives `expected` for workload w.
void check_all_managers_agree(Workload w, int size, std::int64_t iterations, std::uint64_t expected) {
  CHECK(checksum_under<moss_bench::MallocManager>(w, size, iterations) == expected);
  CHECK(checksum_under<moss_bench::SharedPtrManager>(w, size, iterations) == expected);
  CHECK(checksum_under<moss_bench::BoehmManager>(w, size, iterations) == expected);
  CHECK(checksum_under<moss_bench::MarkSweepManager>(w, size, iterations) == expected);
  CHECK(checksum_under<moss_bench::GenerationalManager>(w, size, iterations) == expected);
  CHECK(checksum_under<moss_bench::RefcountManager>(w, size, iterations) == expected);
}

std::uint64_t tree_nodes(int depth) { return (std::uint64_t{1} << (depth + 1)) - 1; }

// What binarytrees must return at depth n: the node counts of the stretch
// tree, of every checked tree and of the long-lived tree.
std::uint64_t binarytrees_expected(int n) {
  std::uint64_t sum = tree_nodes(n + 1) + tree_nodes(n);
  for (int d = 4; d <= n; d += 2) sum += (std::uint64_t{1} << (n - d + 4)) * tree_nodes(d);
  return sum;
}

}  // namespace

TEST_CASE("binarytrees checks the node counts its shape implies under every manager") {
  const std::uint64_t expected = binarytrees_expected(10);
  check_all_managers_agree(Workload::binarytrees, 10, 0, expected);
}

TEST_CASE("binarytrees with its check trees in local scopes counts the same nodes under every moss collector") {
  // Compact (moss_align8) nodes in scope spans, escaping and not.
  const std::uint64_t expected = binarytrees_expected(12);
  CHECK(checksum_under<moss_bench::MarkSweepManager>(Workload::binarytrees_local, 12) == expected);
  CHECK(checksum_under<moss_bench::GenerationalManager>(Workload::binarytrees_local, 12) == expected);
  CHECK(checksum_under<moss_bench::RefcountManager>(Workload::binarytrees_local, 12) == expected);
  CHECK_THROWS_AS(checksum_under<moss_bench::MallocManager>(Workload::binarytrees_local, 12), std::invalid_argument);
}

TEST_CASE("gcbench computes the same checksum under every manager") {
  const std::uint64_t expected = checksum_under<moss_bench::MallocManager>(Workload::gcbench, 8);
  CHECK(expected > 0);
  check_all_managers_agree(Workload::gcbench, 8, 0, expected);
}

TEST_CASE("gcbench repeated K times sums K equal checksums") {
  const std::uint64_t once = checksum_under<moss_bench::MallocManager>(Workload::gcbench, 6);
  CHECK(checksum_under<moss_bench::MarkSweepManager>(Workload::gcbench, 6, 3) == 3 * once);
}

TEST_CASE("pause computes the same checksum under every manager") {
  const std::uint64_t expected = checksum_under<moss_bench::MallocManager>(Workload::pause, 2, 50000);
  CHECK(expected > 0);
  check_all_managers_agree(Workload::pause, 2, 50000, expected);
}

TEST_CASE("moss mark-sweep collects during a binarytrees run sized past its minimum heap") {
  // Depth 14 allocates about 100 MiB of nodes against a 4 MiB minimum heap.
  const moss_bench::GcReport r = report_after<moss_bench::MarkSweepManager>(Workload::binarytrees, 14);
  REQUIRE(r.collections.has_value());
  CHECK(*r.collections >= 1);
  REQUIRE(r.pause_max_us.has_value());
  CHECK(*r.pause_p50_us <= *r.pause_p99_us);
  CHECK(*r.pause_p99_us <= *r.pause_max_us);
}

TEST_CASE("moss refcount reconciles during a binarytrees run sized past its minimum heap") {
  const moss_bench::GcReport r = report_after<moss_bench::RefcountManager>(Workload::binarytrees, 14);
  REQUIRE(r.collections.has_value());
  CHECK(*r.collections >= 1);
}

TEST_CASE("moss mark-sweep collects while the pause workload churns, and keeps its live set intact") {
  moss_bench::MarkSweepManager manager;
  moss_bench::WorkloadParams params;
  params.size = 4;
  params.iterations = 400000;
  const std::uint64_t moss_checksum = moss_bench::run_workload(Workload::pause, manager, params);
  CHECK(manager.report().collections.value_or(0) >= 1);
  CHECK(moss_checksum == checksum_under<moss_bench::MallocManager>(Workload::pause, 4, 400000));
}

TEST_CASE("libgc reports its collections") {
  const moss_bench::GcReport r = report_after<moss_bench::BoehmManager>(Workload::binarytrees, 12);
  CHECK(r.collections.value_or(0) >= 1);
}

TEST_CASE("a workload refuses a size below its minimum") {
  moss_bench::MallocManager manager;
  moss_bench::WorkloadParams params;
  params.size = 3;
  CHECK_THROWS_AS(moss_bench::run_workload(Workload::gcbench, manager, params), std::invalid_argument);
}
