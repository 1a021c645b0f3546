// tests/soak.cpp — moss-soak: a long randomized run against a shadow model.
//
//     moss-soak --ops 2000000 --seed 7 --gc=rc
//
// Drives one heap with the mutator of tests/soak_mutator.hpp for --ops
// operations (allocation, stores, tagged writes, weak members, Roots,
// coroutines, local scopes with escapes, collections) and checks the model
// after every full collection: nothing reachable lost or corrupted, the
// unreachable reclaimed (a small conservative slack aside), heap.verify()
// clean. Every --check-every operations it forces a full collection and
// check; at the end it drops everything and checks that all was reclaimed.
//
// Prints the operations per second and ends with "N passed, M failed"
// (checks that passed and failed); exits non-zero on any failure.
// Options: --ops N (default 200000), --seed S (default 1), --gc=ms|rc
// (default MOSS_GC, else ms), --check-every N (default 5000),
// --incremental=0|1 (default 1).
#include <moss/moss.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

#include "soak_mutator.hpp"

namespace {

struct RandomSource {
  std::mt19937_64 rng;
  explicit RandomSource(std::uint64_t seed) : rng(seed) {}
  unsigned next(unsigned bound) { return static_cast<unsigned>(rng() % bound); }
  bool exhausted() const { return false; }
};

struct Options {
  std::uint64_t ops = 200000;
  std::uint64_t seed = 1;
  std::uint64_t check_every = 5000;
  moss::Collector collector = moss::Collector::mark_sweep;
  bool incremental = true;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "moss-soak: %s\nusage: moss-soak [--ops N] [--seed S] [--gc=ms|rc] [--check-every N] "
               "[--incremental=0|1]\n",
               why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  o.collector = moss::collector_from_env(moss::Collector::mark_sweep);
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string value;
    auto take = [&](const char* name) {
      std::string n = name;
      if (a == n) {
        if (i + 1 >= argc) usage(("missing value for " + n).c_str());
        value = argv[++i];
        return true;
      }
      if (a.rfind(n + "=", 0) == 0) {
        value = a.substr(n.size() + 1);
        return true;
      }
      return false;
    };
    if (take("--ops")) {
      o.ops = std::strtoull(value.c_str(), nullptr, 10);
    } else if (take("--seed")) {
      o.seed = std::strtoull(value.c_str(), nullptr, 10);
    } else if (take("--check-every")) {
      o.check_every = std::max<std::uint64_t>(1, std::strtoull(value.c_str(), nullptr, 10));
    } else if (take("--incremental")) {
      o.incremental = value != "0";
    } else if (take("--gc")) {
      if (value == "ms") {
        o.collector = moss::Collector::mark_sweep;
      } else if (value == "rc") {
        o.collector = moss::Collector::refcount;
      } else {
        usage(("--gc takes ms or rc, not " + value).c_str());
      }
    } else {
      usage(("unknown argument " + a).c_str());
    }
  }
  return o;
}

// Runs the soak; returns the process exit status.
[[gnu::noinline]] int soak(const Options& o) {
  moss::HeapOptions ho;
  ho.collector = o.collector;
  ho.incremental = o.incremental;
  ho.min_heap_bytes = 512u << 10;  // many automatic cycles
  ho.mark_slice_bytes = 16u << 10;
  moss::Heap heap(ho);
  RandomSource source(o.seed);
  moss_soak::Mutator<RandomSource> mutator(heap, source);

  // The soak asserts behaviour only; its throughput is measured from the
  // outside (`time moss-soak ...`, ops divided by wall seconds).
  for (std::uint64_t i = 1; i <= o.ops; ++i) {
    mutator.step();
    if (i % o.check_every == 0) mutator.full_collection();
  }
  mutator.release_all();
  mutator.full_collection();

  const moss_soak::Totals& t = mutator.totals();
  moss::HeapStats s = heap.stats();
  std::printf("moss-soak: gc=%s seed=%llu incremental=%d ops=%llu\n", moss::collector_name(o.collector),
              static_cast<unsigned long long>(o.seed), o.incremental ? 1 : 0, static_cast<unsigned long long>(t.ops));
  std::printf("moss-soak: %llu nodes allocated, %llu coroutines, %llu scopes (%llu escapes, %llu local nodes "
              "freed early), %llu collections (%llu full checks), max unreclaimed after a full collection %llu\n",
              static_cast<unsigned long long>(t.allocations), static_cast<unsigned long long>(t.coroutines),
              static_cast<unsigned long long>(t.scopes), static_cast<unsigned long long>(t.escapes),
              static_cast<unsigned long long>(t.local_frees),
              static_cast<unsigned long long>(s.collections), static_cast<unsigned long long>(t.checks),
              static_cast<unsigned long long>(t.max_unreclaimed));
  std::uint64_t failed = t.failed_checks + (t.lost != 0 || t.corrupt != 0 ? 1 : 0);
  if (failed != 0) {
    const moss_soak::CheckResult& r = mutator.last_failure();
    std::printf("moss-soak: FAILED: %llu lost, %llu corrupted in total; last failing check: lost %ld, corrupt %ld, "
                "weak wrong %ld, unreclaimed %ld (slack %ld), verify: %s\n",
                static_cast<unsigned long long>(t.lost), static_cast<unsigned long long>(t.corrupt), r.lost, r.corrupt,
                r.weak_wrong, r.unreclaimed, moss_soak::kConservativeSlack,
                r.verify_error.empty() ? "clean" : r.verify_error.c_str());
  }
  std::printf("%llu passed, %llu failed\n", static_cast<unsigned long long>(t.checks - t.failed_checks),
              static_cast<unsigned long long>(failed));
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return soak(parse(argc, argv));
  } catch (const std::exception& e) {
    std::printf("moss-soak: FAILED: %s\n0 passed, 1 failed\n", e.what());
    return 1;
  }
}
