// bench/bench_coroutine.cpp — coroutine micro-benchmarks (Google Benchmark):
// moss::Coroutine against raw Boost.Context fibers in the same run.
//
//  - resume round trip (resume + yield back): moss vs a bare fiber;
//  - create, run to completion and destroy: moss on a pooled, guarded,
//    growable stack (and guard-less) vs Boost's pooled_fixedsize_stack,
//    protected_fixedsize_stack (mmap + guard page each time) and
//    fixedsize_stack (malloc);
//  - resident memory per idle suspended coroutine, from /proc/self/statm
//    before and after making N coroutines and running each to its first
//    yield: 25,000 guarded ones (two kernel mappings each, so this stays
//    under vm.max_map_count = 65530), 1,000,000 guard-less ones with 64 KiB
//    reservations, and 100,000 guard-less ones with the default 1 MiB.
//    Reported as counters: rss_per_coroutine (bytes; it includes the
//    coroutine's state object and its slot in the vector), the page-table
//    memory the kernel spent (VmPTE, not part of RSS) and the mappings
//    added.
//
// Read the figures as ratios within one run (bench/RESULTS.md).
#include <benchmark/benchmark.h>

#include <moss/moss.hpp>

#include <boost/context/fiber.hpp>
#include <boost/context/fixedsize_stack.hpp>
#include <boost/context/pooled_fixedsize_stack.hpp>
#include <boost/context/protected_fixedsize_stack.hpp>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <vector>

namespace {

namespace ctx = boost::context;

constexpr std::size_t kBoostStack = 64 << 10;

// Resident bytes of this process, from /proc/self/statm.
std::size_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  unsigned long size = 0, resident = 0;
  if (f == nullptr || std::fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
  if (f != nullptr) std::fclose(f);
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

// Page-table memory (VmPTE) of this process, in bytes.
std::size_t page_table_bytes() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  std::size_t kib = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "VmPTE:", 6) == 0) kib = std::strtoul(line + 6, nullptr, 10);
  }
  std::fclose(f);
  return kib << 10;
}

long mappings() {
  std::FILE* f = std::fopen("/proc/self/maps", "r");
  if (f == nullptr) return -1;
  long lines = 0;
  for (int c; (c = std::fgetc(f)) != EOF;) lines += (c == '\n');
  std::fclose(f);
  return lines;
}

// --- resume round trip ---------------------------------------------------

void BM_RoundTrip_BoostFiber(benchmark::State& state) {
  bool stop = false;
  ctx::fiber f(std::allocator_arg, ctx::fixedsize_stack(kBoostStack), [&stop](ctx::fiber&& back) {
    while (!stop) back = std::move(back).resume();
    return std::move(back);
  });
  for (auto _ : state) f = std::move(f).resume();
  stop = true;
  f = std::move(f).resume();
}
BENCHMARK(BM_RoundTrip_BoostFiber);

void BM_RoundTrip_MossCoroutine(benchmark::State& state) {
  moss::Heap heap;
  moss::Coroutine co(heap, [](moss::Yield& yield) {
    for (;;) yield();
  });
  for (auto _ : state) benchmark::DoNotOptimize(co.resume());
}
BENCHMARK(BM_RoundTrip_MossCoroutine);

// --- create, run to completion, destroy ------------------------------------

template <class Allocator>
void boost_create(benchmark::State& state, Allocator allocator) {
  for (auto _ : state) {
    ctx::fiber f(std::allocator_arg, allocator, [](ctx::fiber&& back) { return std::move(back); });
    f = std::move(f).resume();
    benchmark::DoNotOptimize(f);
  }
}

void BM_Create_BoostPooledFixedsize(benchmark::State& state) {
  boost_create(state, ctx::pooled_fixedsize_stack(kBoostStack));
}
BENCHMARK(BM_Create_BoostPooledFixedsize);

void BM_Create_BoostFixedsize(benchmark::State& state) { boost_create(state, ctx::fixedsize_stack(kBoostStack)); }
BENCHMARK(BM_Create_BoostFixedsize);

void BM_Create_BoostProtectedFixedsize(benchmark::State& state) {
  boost_create(state, ctx::protected_fixedsize_stack(kBoostStack));
}
BENCHMARK(BM_Create_BoostProtectedFixedsize);

void moss_create(benchmark::State& state, moss::StackGuard guard) {
  moss::Heap heap;
  moss::CoroutineOptions options{.guard = guard};
  for (auto _ : state) {
    moss::Coroutine co(heap, [](moss::Yield&) {}, options);
    benchmark::DoNotOptimize(co.resume());
  }
}

void BM_Create_MossGuardedPooled(benchmark::State& state) { moss_create(state, moss::StackGuard::guard_page); }
BENCHMARK(BM_Create_MossGuardedPooled);

void BM_Create_MossSoftwarePooled(benchmark::State& state) { moss_create(state, moss::StackGuard::software); }
BENCHMARK(BM_Create_MossSoftwarePooled);

// --- resident memory per idle suspended coroutine ---------------------------

void idle_rss(benchmark::State& state, const moss::CoroutineOptions& options) {
  const auto count = static_cast<std::size_t>(state.range(0));
  moss::Heap heap;
  for (auto _ : state) {
    std::vector<moss::Coroutine> all;
    all.reserve(count);  // its pages count too: 8 bytes per coroutine
    std::size_t rss_before = resident_bytes(), pte_before = page_table_bytes();
    long maps_before = mappings();
    for (std::size_t i = 0; i < count; ++i) {
      all.emplace_back(heap, [](moss::Yield& yield) { yield(); }, options);
      all.back().resume();
    }
    std::size_t rss_after = resident_bytes(), pte_after = page_table_bytes();
    long maps_after = mappings();
    state.counters["rss_per_coroutine"] =
        static_cast<double>(rss_after - rss_before) / static_cast<double>(count);
    state.counters["pte_per_coroutine"] =
        static_cast<double>(pte_after - pte_before) / static_cast<double>(count);
    state.counters["mappings_added"] = static_cast<double>(maps_after - maps_before);
    state.counters["coroutines"] = static_cast<double>(count);
    state.PauseTiming();
    all.clear();
    state.ResumeTiming();
  }
}

void BM_IdleRss_MossGuarded(benchmark::State& state) { idle_rss(state, {}); }
BENCHMARK(BM_IdleRss_MossGuarded)->Arg(25000)->Iterations(1)->Unit(benchmark::kMillisecond);

void BM_IdleRss_MossSoftware(benchmark::State& state) {
  idle_rss(state, {.stack_reserve = 64 << 10, .guard = moss::StackGuard::software});
}
BENCHMARK(BM_IdleRss_MossSoftware)->Arg(1000000)->Iterations(1)->Unit(benchmark::kMillisecond);

// The same with the default 1 MiB reservation: page tables cost more.
void BM_IdleRss_MossSoftwareDefaultReserve(benchmark::State& state) {
  idle_rss(state, {.guard = moss::StackGuard::software});
}
BENCHMARK(BM_IdleRss_MossSoftwareDefaultReserve)->Arg(100000)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
