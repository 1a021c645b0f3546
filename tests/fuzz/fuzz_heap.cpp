// tests/fuzz/fuzz_heap.cpp — a libFuzzer target over the soak's mutator.
//
// Each input is one run on a fresh heap: the first byte picks the collector
// (bit 0: mark-sweep or refcount) and the pacing (bit 1: incremental or
// stop-the-world marking); every later byte is a decision of the mutator of
// tests/soak_mutator.hpp (allocate, store, write a tagged word, set a weak
// member, change a Root, switch coroutines, open a scope and escape from
// it, collect). A full collection and model check runs every 64 operations
// and at the end, after everything is dropped. A lost or corrupted object,
// too many unreclaimed ones, or a verify() failure aborts.
//
// Build and run with clang's libFuzzer (from the repository root, after
// `meson setup build/check` has configured moss):
//
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address -Iinclude -I. -o build/fuzz_heap
//     tests/fuzz/fuzz_heap.cpp runtime/*.cpp runtime/*/*.cpp gc/*.cpp gc/*/*.cpp -lboost_context -lpthread
//
// (one command, written on two lines).
//   mkdir -p build/fuzz-corpus
//   build/fuzz_heap -max_total_time=180 -max_len=2048 build/fuzz-corpus tests/fuzz/corpus
//
// (ASAN_OPTIONS=detect_leaks=0: the page heap and the type registry are
// process-wide and never freed.) Without libFuzzer, replay_main.cpp feeds
// every file of a corpus directory to the same entry point; the test suite
// replays tests/fuzz/corpus/ that way (meson test fuzz-corpus).
#include <moss/moss.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "../soak_mutator.hpp"

namespace {

struct ByteSource {
  const std::uint8_t* data;
  std::size_t size;
  std::size_t at = 0;
  unsigned next(unsigned bound) {
    unsigned v = 0;
    int bytes = bound > 256 ? 2 : 1;
    for (int i = 0; i < bytes; ++i) v = v << 8 | (at < size ? data[at++] : (at++, 0u));
    return v % bound;
  }
  bool exhausted() const { return at >= size; }
};

[[gnu::noinline]] void run(const std::uint8_t* data, std::size_t size) {
  moss::HeapOptions o;
  o.collector = (data[0] & 1) != 0 ? moss::Collector::refcount : moss::Collector::mark_sweep;
  o.incremental = (data[0] & 2) == 0;
  o.min_heap_bytes = 128u << 10;
  o.mark_slice_bytes = 4096;
  moss::Heap heap(o);
  ByteSource source{data + 1, size - 1};
  bool ok = true;
  long steps = 0;
  {
    moss_soak::Mutator<ByteSource> mutator(heap, source, 300);
    while (!source.exhausted()) {
      mutator.step();
      if (++steps % 64 == 0) mutator.full_collection();
    }
    mutator.release_all();
    mutator.full_collection();
    const moss_soak::Totals& t = mutator.totals();
    if (t.failed_checks != 0 || t.lost != 0 || t.corrupt != 0) {
      const moss_soak::CheckResult& r = mutator.last_failure();
      std::fprintf(stderr,
                   "fuzz_heap: gc=%s: %llu failed checks, %llu lost, %llu corrupt; last: lost %ld corrupt %ld "
                   "weak %ld unreclaimed %ld verify '%s'\n",
                   moss::collector_name(o.collector), static_cast<unsigned long long>(t.failed_checks),
                   static_cast<unsigned long long>(t.lost), static_cast<unsigned long long>(t.corrupt), r.lost,
                   r.corrupt, r.weak_wrong, r.unreclaimed, r.verify_error.c_str());
      ok = false;
    }
  }
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  run(data, size);
  return 0;
}
