// bench/bench_escape.cpp — what local scopes cost (Google Benchmark).
//
//  - BM_scope_alloc/N: open a LocalScope, make N small objects in it, close
//    it (every object reclaimed at exit). Per item: allocation plus its
//    share of the scope's open and close.
//  - BM_heap_alloc/N: the same N objects made on the heap and dropped, with
//    automatic collection on (gc_percent 100): allocation plus its
//    amortized share of the collections that reclaim it.
//  - BM_store_loop/0 and /1: a store-heavy loop through Member (heap object
//    into heap object), without and with a LocalScope open on the heap. The
//    difference is what escape checking adds to every barriered store while
//    a scope is open.
//  - BM_local_store_loop: the same loop between two objects of one scope.
// The first argument of each pair picks the collector (0 mark-sweep,
// 1 refcount). Read results as ratios within one run (bench/RESULTS.md).
#include <benchmark/benchmark.h>

#include <moss/moss.hpp>

namespace {

struct Obj {
  moss::Member<Obj> left, right;
  long value = 0;
  explicit Obj(long v = 0) : value(v) {}
  void trace(moss::Visitor& v) const {
    v.visit(left);
    v.visit(right);
  }
};

moss::HeapOptions options(std::int64_t collector) {
  moss::HeapOptions o;
  o.collector = collector == 0 ? moss::Collector::mark_sweep : moss::Collector::refcount;
  return o;
}

void BM_scope_alloc(benchmark::State& state) {
  moss::Heap heap(options(state.range(0)));
  auto n = state.range(1);
  for (auto _ : state) {
    moss::LocalScope scope(heap);
    for (std::int64_t i = 0; i < n; ++i) benchmark::DoNotOptimize(scope.make<Obj>(i));
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["collections"] = static_cast<double>(heap.stats().collections);
}

void BM_heap_alloc(benchmark::State& state) {
  moss::Heap heap(options(state.range(0)));
  auto n = state.range(1);
  for (auto _ : state) {
    for (std::int64_t i = 0; i < n; ++i) benchmark::DoNotOptimize(moss::make<Obj>(heap, i));
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["collections"] = static_cast<double>(heap.stats().collections);
}

constexpr int kStores = 1024;

void store_loop(benchmark::State& state, Obj* a, Obj* b) {
  for (auto _ : state) {
    for (int i = 0; i < kStores; i += 2) {
      a->left = b;
      b->left = a;
      benchmark::ClobberMemory();
    }
  }
  state.SetItemsProcessed(state.iterations() * kStores);
}

void BM_store_loop(benchmark::State& state) {
  moss::Heap heap(options(state.range(0)));
  moss::Root<Obj> a(heap, moss::make<Obj>(heap, 1));
  moss::Root<Obj> b(heap, moss::make<Obj>(heap, 2));
  if (state.range(1) != 0) {
    moss::LocalScope scope(heap);
    store_loop(state, a.get(), b.get());
  } else {
    store_loop(state, a.get(), b.get());
  }
}

// The same stores between two objects that survived a collection: under
// refcount they are old then, and every store into them is counted (in
// BM_store_loop they are young, and stores into them are plain stores).
void BM_old_store_loop(benchmark::State& state) {
  moss::Heap heap(options(state.range(0)));
  moss::Root<Obj> a(heap, moss::make<Obj>(heap, 1));
  moss::Root<Obj> b(heap, moss::make<Obj>(heap, 2));
  heap.collect();
  store_loop(state, a.get(), b.get());
}

void BM_local_store_loop(benchmark::State& state) {
  moss::Heap heap(options(state.range(0)));
  moss::LocalScope scope(heap);
  store_loop(state, scope.make<Obj>(1), scope.make<Obj>(2));
}

}  // namespace

BENCHMARK(BM_scope_alloc)->ArgsProduct({{0, 1}, {16, 128, 1024}});
BENCHMARK(BM_heap_alloc)->ArgsProduct({{0, 1}, {16, 128, 1024}});
BENCHMARK(BM_store_loop)->ArgsProduct({{0, 1}, {0, 1}});
BENCHMARK(BM_old_store_loop)->Arg(0)->Arg(1);
BENCHMARK(BM_local_store_loop)->Arg(0)->Arg(1);

BENCHMARK_MAIN();
