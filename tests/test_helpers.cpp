// tests/test_helpers.cpp — mark-sweep helper threads (HeapOptions::
// helper_threads): parallel marking and background sweeping keep and
// reclaim exactly what the owner thread alone does, across forks, heap
// destruction and several heaps on several threads. The ThreadSanitizer
// job runs this file. (The whole unit suite also runs with
// MOSS_HELPER_THREADS=2 in CI.)
#include <doctest/doctest.h>

#include <moss/moss.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

using moss_test::Counted;
using moss_test::FinNode;
using moss_test::Node;
using moss_test::scrub_and_collect;
using moss_test::scrub_stack;

namespace {

moss::HeapOptions with_helpers(unsigned helpers) {
  moss::HeapOptions o;
  o.collector = moss::Collector::mark_sweep;
  o.helper_threads = helpers;
  return o;
}

struct Holder {
  moss::Member<Node> strong;
  moss::WeakMember<Node> weak;
  moss::Member<FinNode> fin;
  void trace(moss::Visitor& v) const {
    v.visit(strong);
    v.visit(weak);
    v.visit(fin);
  }
};

// A random tree of `n` nodes under `root`, built from a seed.
[[gnu::noinline]] void grow_tree(moss::Heap& heap, Node* root, long n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Node*> nodes{root};
  for (long i = 1; i < n; ++i) {
    Node* parent = nodes[rng() % nodes.size()];
    Node* x = moss::make<Node>(heap, i);
    if (parent->left == nullptr) parent->left = x;
    else if (parent->right == nullptr) parent->right = x;
    else {
      // Full: hang it below a fresh chain instead.
      Node* link = moss::make<Node>(heap, -1);
      link->left = parent->right.get();
      link->right = x;
      parent->right = link;
    }
    nodes.push_back(x);
  }
}

long tree_sum(Node* n) {
  long s = 0;
  std::vector<Node*> work{n};
  while (!work.empty()) {
    Node* x = work.back();
    work.pop_back();
    if (x == nullptr) continue;
    s += x->value;
    work.push_back(x->left.get());
    work.push_back(x->right.get());
  }
  return s;
}

struct Outcome {
  std::uint64_t live_objects = 0;
  std::uint64_t live_bytes = 0;
  long finalized = 0;
  long weak_cleared = 0;
  long sums = 0;
  std::uint64_t helper_marked = 0;
  bool operator==(const Outcome& o) const {
    return live_objects == o.live_objects && live_bytes == o.live_bytes && finalized == o.finalized &&
           weak_cleared == o.weak_cleared && sums == o.sums;
  }
};

// Holders in Roots; each keeps a tree strongly, refers weakly to another
// tree that only half of them keep, and holds a finalizable chain (a third
// of the chains are garbage); garbage trees besides. Built in a frame of its
// own, so no stale word of the builder's survives the scrub.
[[gnu::noinline]] void build_graph(moss::Heap& heap, std::vector<moss::Root<Holder>>& holders) {
  constexpr int kHolders = 64;
  for (int h = 0; h < kHolders; ++h) {
    holders.emplace_back(heap, moss::make<Holder>(heap));
    Node* strong = moss::make<Node>(heap, h);
    grow_tree(heap, strong, 3000, static_cast<std::uint32_t>(h));
    holders.back()->strong = strong;
    Node* weak = moss::make<Node>(heap, 100000 + h);
    grow_tree(heap, weak, 500, static_cast<std::uint32_t>(h + 1000));
    holders.back()->weak = weak;
    if (h % 2 == 0) {
      // Kept through the strong tree too.
      Node* keep = moss::make<Node>(heap, 0);
      keep->left = weak;
      keep->right = strong->left.get();
      strong->left = keep;
    }
    FinNode* chain = nullptr;
    for (int i = 0; i < 20; ++i) {
      FinNode* f = moss::make<FinNode>(heap, i);
      f->next = chain;
      chain = f;
    }
    if (h % 3 != 0) holders.back()->fin = chain;
    grow_tree(heap, moss::make<Node>(heap, -7), 800, static_cast<std::uint32_t>(h + 2000));  // garbage
  }
}

// Builds the graph, runs two full collections, reports the outcome.
[[gnu::noinline]] Outcome run_graph(unsigned helpers) {
  FinNode::finalized = 0;
  Outcome out;
  moss::Heap heap(with_helpers(helpers));
  std::vector<moss::Root<Holder>> holders;
  holders.reserve(64);
  build_graph(heap, holders);
  scrub_and_collect(heap);
  scrub_and_collect(heap);
  heap.verify();
  moss::HeapStats s = heap.stats();
  out.live_objects = s.live_objects;
  out.live_bytes = s.live_bytes;
  out.finalized = FinNode::finalized;
  out.helper_marked = s.helper_marked_objects;
  for (auto& h : holders) {
    if (h->weak.get() == nullptr) ++out.weak_cleared;
    out.sums += tree_sum(h->strong.get());
    if (h->weak.get() != nullptr) out.sums += tree_sum(h->weak.get());
  }
  return out;
}

}  // namespace

TEST_CASE("helper threads keep and reclaim exactly what the owner thread alone does") {
  // The comparison needs a heap without helpers, whatever the environment.
  std::string env = std::getenv("MOSS_HELPER_THREADS") != nullptr ? std::getenv("MOSS_HELPER_THREADS") : "";
  unsetenv("MOSS_HELPER_THREADS");
  Outcome alone = run_graph(0);
  if (!env.empty()) setenv("MOSS_HELPER_THREADS", env.c_str(), 1);
  CHECK(alone.weak_cleared == 32);                  // the weak trees only half the holders keep
  CHECK(alone.finalized == 22 * 20);                // the chains no holder keeps
  CHECK(alone.helper_marked == 0);
  for (unsigned helpers : {1u, 3u}) {
    CAPTURE(helpers);
    Outcome with = run_graph(helpers);
    CHECK(with == alone);
    CHECK(with.live_objects == alone.live_objects);
    CHECK(with.finalized == alone.finalized);
    CHECK(with.weak_cleared == alone.weak_cleared);
    CHECK(with.sums == alone.sums);
  }
}

TEST_CASE("incremental cycles with helper threads: background sweeping and parallel termination keep everything") {
  for (unsigned helpers : {1u, 2u}) {
    CAPTURE(helpers);
    moss::HeapOptions o = with_helpers(helpers);
    o.min_heap_bytes = 1u << 20;
    o.mark_slice_bytes = 16u << 10;
    moss::Heap heap(o);
    // A long-lived tree, rewired while cycles run, and steady garbage.
    moss::Root<Node> keep(heap, moss::make<Node>(heap, 0));
    grow_tree(heap, keep.get(), 20000, 7);
    long expected = tree_sum(keep.get());
    std::mt19937 rng(11);
    std::uint64_t collections_before = heap.stats().collections;
    for (int round = 0; round < 300; ++round) {
      for (int i = 0; i < 2000; ++i) moss::make<Node>(heap, i);
      // Swap two subtrees' places (the sum is unchanged; the barrier sees it).
      Node* a = keep->left.get();
      Node* b = keep->right.get();
      keep->left = b;
      keep->right = a;
      if (round % 50 == 0) CHECK(tree_sum(keep.get()) == expected);
    }
    moss::HeapStats s = heap.stats();
    CHECK(s.collections > collections_before + 5);
    CHECK(tree_sum(keep.get()) == expected);
    // Sweeping in the background happened (the owner only sweeps what it
    // needs next; the helpers take the rest).
    CHECK(s.helper_swept_spans > 0);
    heap.verify();
    CHECK(heap.stats().freed_objects > 0);
  }
}

TEST_CASE("a large graph is marked in parallel: helpers mark part of it") {
  moss::Heap heap(with_helpers(2));
  moss::Root<Node> keep(heap, moss::make<Node>(heap, 0));
  grow_tree(heap, keep.get(), moss_test::stressed() ? 20000 : 400000, 3);
  long expected = tree_sum(keep.get());
  std::uint64_t marked = 0;
  for (int i = 0; i < 10 && marked == 0; ++i) {
    heap.collect();
    marked = heap.stats().helper_marked_objects;
  }
  CHECK(marked > 0);
  CHECK(tree_sum(keep.get()) == expected);
  heap.verify();
}

TEST_CASE("a heap destroyed during a background sweep finalizes every object exactly once") {
  for (int round = 0; round < 4; ++round) {
    Counted::alive = 0;
    Counted::destroyed = 0;
    {
      moss::HeapOptions o = with_helpers(2);
      o.min_heap_bytes = 256u << 10;
      moss::Heap heap(o);
      moss::Root<Node> keep(heap, moss::make<Node>(heap, 1));
      for (int i = 0; i < 60000; ++i) moss::make<Counted>(heap, i);
      heap.collect();  // the background sweep starts here, the destructor meets it
      for (int i = 0; i < 20000; ++i) moss::make<Counted>(heap, i);
    }
    CHECK(Counted::alive == 0);
    CHECK(Counted::destroyed == 80000);
  }
}

TEST_CASE("helper_threads above the maximum is a UsageError") {
  moss::HeapOptions o = with_helpers(moss::kMaxHelperThreads + 1);
  CHECK_THROWS_AS(moss::Heap{o}, moss::UsageError);
  moss::Heap ok(with_helpers(moss::kMaxHelperThreads));  // many, but allowed
  moss::Root<Node> r(ok, moss::make<Node>(ok, 5));
  ok.collect();
  CHECK(r->value == 5);
}

TEST_CASE("a child forked from a heap with helper threads collects with helpers of its own") {
  moss::HeapOptions o = with_helpers(2);
  o.min_heap_bytes = 1u << 20;
  moss::Heap heap(o);
  moss::Root<Node> keep(heap, moss::make<Node>(heap, 0));
  grow_tree(heap, keep.get(), 20000, 5);
  long expected = tree_sum(keep.get());
  for (int i = 0; i < 100000; ++i) moss::make<Node>(heap, i);  // cycles, background sweeps in flight
  std::fflush(nullptr);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int status = 0;
    try {
      for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < 100000; ++i) moss::make<Node>(heap, i);
        heap.collect();
      }
      if (tree_sum(keep.get()) != expected) status = 2;
      if (heap.stats().collections < 3) status = 3;
      heap.verify();
    } catch (...) {
      status = 4;
    }
    _exit(status);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  heap.collect();
  CHECK(tree_sum(keep.get()) == expected);
}

TEST_CASE("several heaps with helper threads on several threads (threads)") {
  std::vector<std::thread> threads;
  std::vector<long> results(3, 0), expected(3, 0);
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([t, &results, &expected] {
      moss::HeapOptions o = with_helpers(2);
      o.min_heap_bytes = 512u << 10;
      o.mark_slice_bytes = 32u << 10;
      moss::Heap heap(o);
      moss::Root<Node> keep(heap, moss::make<Node>(heap, t));
      grow_tree(heap, keep.get(), 5000, static_cast<std::uint32_t>(t));
      expected[t] = tree_sum(keep.get());
      for (int round = 0; round < 40; ++round) {
        for (int i = 0; i < 3000; ++i) moss::make<Node>(heap, i);
        if (round % 10 == 9) heap.collect();
      }
      heap.verify();
      results[t] = tree_sum(keep.get());
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 3; ++t) CHECK(results[t] == expected[t]);
}
