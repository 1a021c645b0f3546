// bench/bench_alloc.cpp — allocator micro-benchmarks (Google Benchmark).
//
// Compares moss's small-object path with glibc malloc and mimalloc in the
// same run: allocate+free pairs at fixed sizes, a glibc-simple-style loop
// (allocate n blocks, touch each, free them all), and span allocate/free in
// the page heap. Debian's libmimalloc replaces malloc for any process that
// links it, so its benchmarks build into their own executable
// (bench_alloc_mimalloc, MOSS_BENCH_MIMALLOC=1) and glibc's stay honest here;
// bench/run_micro.sh runs both back to back. Read the results as ratios
// within one run (bench/RESULTS.md).
#include <benchmark/benchmark.h>
#if MOSS_BENCH_MIMALLOC
#include <mimalloc.h>
#endif

#include <cstdlib>
#include <cstring>
#include <vector>

#include <moss/moss.hpp>

#include "runtime/os.hpp"
#include "runtime/page_heap.hpp"

namespace {

template <class Alloc, class Free>
void pair_loop(benchmark::State& state, Alloc alloc, Free release) {
  auto n = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    void* p = alloc(n);
    benchmark::DoNotOptimize(p);
    release(p);
  }
}

template <class Alloc, class Free>
void simple_loop(benchmark::State& state, Alloc alloc, Free release) {
  auto n = static_cast<std::size_t>(state.range(0));
  std::vector<void*> blocks(n);
  for (auto _ : state) {
    for (std::size_t i = 0; i < n; ++i) {
      auto* p = static_cast<char*>(alloc(16 + (i % 8) * 16));
      p[0] = static_cast<char>(i);
      blocks[i] = p;
    }
    for (std::size_t i = 0; i < n; ++i) release(blocks[i]);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(n));
}

#if MOSS_BENCH_MIMALLOC

void BM_pair_mimalloc(benchmark::State& state) { pair_loop(state, mi_malloc, mi_free); }
void BM_simple_mimalloc(benchmark::State& state) { simple_loop(state, mi_malloc, mi_free); }

#else

moss::TypeIndex leaf_type() {
  static moss::TypeIndex t = moss::Heap::register_type({"bench-bytes", nullptr, nullptr, 0});
  return t;
}

moss::HeapOptions manual() {
  moss::HeapOptions o;
  o.gc_percent = -1;
  return o;
}

void BM_pair_moss(benchmark::State& state) {
  moss::Heap heap(manual());
  moss::TypeIndex t = leaf_type();
  pair_loop(state, [&](std::size_t n) { return heap.allocate(t, n); }, [&](void* p) { heap.free(p); });
}

// The same with the type and size resolved once (moss::SizedType), as
// make<T>() allocates.
void BM_pair_moss_sized(benchmark::State& state) {
  moss::Heap heap(manual());
  moss::SizedType sized = moss::Heap::sized_type(leaf_type(), static_cast<std::size_t>(state.range(0)));
  pair_loop(state, [&](std::size_t) { return heap.allocate(sized); }, [&](void* p) { heap.free(p); });
}

void BM_pair_glibc(benchmark::State& state) { pair_loop(state, std::malloc, std::free); }

// The collector's common case: allocate only, reclaim in bulk (a full
// collection of an all-garbage heap every 64 Ki objects).
template <class Alloc>
void alloc_only_loop(benchmark::State& state, moss::Heap& heap, Alloc alloc) {
  std::size_t count = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(alloc());
    if (++count % 65536 == 0) heap.collect();
  }
}
void BM_alloc_only_moss(benchmark::State& state) {
  moss::Heap heap(manual());
  auto n = static_cast<std::size_t>(state.range(0));
  moss::TypeIndex t = leaf_type();
  alloc_only_loop(state, heap, [&] { return heap.allocate(t, n); });
}
void BM_alloc_only_moss_sized(benchmark::State& state) {
  moss::Heap heap(manual());
  moss::SizedType sized = moss::Heap::sized_type(leaf_type(), static_cast<std::size_t>(state.range(0)));
  alloc_only_loop(state, heap, [&] { return heap.allocate(sized); });
}

void BM_simple_moss(benchmark::State& state) {
  moss::Heap heap(manual());
  moss::TypeIndex t = leaf_type();
  simple_loop(state, [&](std::size_t n) { return heap.allocate(t, n); }, [&](void* p) { heap.free(p); });
}
void BM_simple_glibc(benchmark::State& state) { simple_loop(state, std::malloc, std::free); }

void BM_span_page_heap(benchmark::State& state) {
  auto& ph = moss::detail::PageHeap::instance();
  auto pages = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    auto* s = ph.allocate(pages);
    benchmark::DoNotOptimize(s);
    ph.free(s);
  }
}

// Memory return: a 1 GiB transient peak of 4 KiB objects, a collection,
// release_memory(); counters give resident MiB before, at the peak and
// after, and live MiB (the target: after <= live * 1.1 + a few MiB).
struct Blob4k {
  char bytes[4000];
};
[[gnu::noinline]] void transient_peak(moss::Heap& heap, std::size_t bytes) {
  for (std::size_t done = 0; done < bytes; done += sizeof(Blob4k)) {
    auto* b = moss::make<Blob4k>(heap);
    std::memset(b->bytes, 1, sizeof b->bytes);
  }
}
void BM_release_after_peak(benchmark::State& state) {
  double before = 0, peak = 0, after = 0, live = 0;
  for (auto _ : state) {
    moss::HeapOptions o;
    o.gc_percent = -1;
    moss::Heap heap(o);
    before = static_cast<double>(moss::detail::os_resident_bytes());
    transient_peak(heap, std::size_t{1} << 30);
    peak = static_cast<double>(moss::detail::os_resident_bytes());
    heap.collect();
    heap.release_memory();
    after = static_cast<double>(moss::detail::os_resident_bytes());
    live = static_cast<double>(heap.stats().live_bytes);
  }
  state.counters["rss_before_mib"] = before / (1 << 20);
  state.counters["rss_peak_mib"] = peak / (1 << 20);
  state.counters["rss_after_mib"] = after / (1 << 20);
  state.counters["live_mib"] = live / (1 << 20);
}

#endif
}  // namespace

#if MOSS_BENCH_MIMALLOC
BENCHMARK(BM_pair_mimalloc)->Arg(16)->Arg(64)->Arg(256)->Arg(1024)->Arg(8192)->Arg(32768);
BENCHMARK(BM_simple_mimalloc)->Arg(25)->Arg(100)->Arg(400)->Arg(1600);
#else
BENCHMARK(BM_pair_moss)->Arg(16)->Arg(64)->Arg(256)->Arg(1024)->Arg(8192)->Arg(32768);
BENCHMARK(BM_pair_glibc)->Arg(16)->Arg(64)->Arg(256)->Arg(1024)->Arg(8192)->Arg(32768);
BENCHMARK(BM_pair_moss_sized)->Arg(16)->Arg(64)->Arg(256)->Arg(1024);
BENCHMARK(BM_alloc_only_moss)->Arg(16)->Arg(64);
BENCHMARK(BM_alloc_only_moss_sized)->Arg(16)->Arg(64);
BENCHMARK(BM_simple_moss)->Arg(25)->Arg(100)->Arg(400)->Arg(1600);
BENCHMARK(BM_simple_glibc)->Arg(25)->Arg(100)->Arg(400)->Arg(1600);
BENCHMARK(BM_span_page_heap)->Arg(1)->Arg(8)->Arg(64);
BENCHMARK(BM_release_after_peak)->Iterations(1)->Unit(benchmark::kMillisecond);
#endif

BENCHMARK_MAIN();
