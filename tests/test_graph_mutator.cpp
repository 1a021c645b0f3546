// tests/test_graph_mutator.cpp — a randomized mutator against a shadow
// model. It builds and rewires a random object graph through Roots and
// Members, collecting (fully, and incrementally through allocation) at
// random points, and after each full collection checks that every object the
// model says is reachable is intact (its value and its edges) and never
// finalized, and that the unreachable ones were reclaimed.
#include <doctest/doctest.h>

#include <moss/moss.hpp>

#include <array>
#include <string>
#include <memory>
#include <random>
#include <vector>

#include "support.hpp"

namespace {

constexpr int kEdges = 3;

// Shared by both node types: which ids were finalized, by id.
std::vector<char>* finalized = nullptr;

// Compact nodes (moss_align8) are 8-byte aligned, in 40-byte slots; the
// others 16-byte aligned, in 48-byte ones.
template <bool Compact>
struct GNode {
  static constexpr bool moss_align8 = Compact;
  moss::Member<GNode> edges[kEdges];
  long id;
  explicit GNode(long i) : id(i) {}
  ~GNode() {
    if (finalized != nullptr && static_cast<std::size_t>(id) < finalized->size()) (*finalized)[static_cast<std::size_t>(id)] = 1;
  }
  void trace(moss::Visitor& v) const {
    for (const auto& e : edges) v.visit(e);
  }
};

template <class Node>
struct Model {
  std::vector<Node*> ptr;                // by id (not scanned: malloc memory)
  std::vector<std::array<long, kEdges>> edges;
  std::vector<long> roots;                // ids held by Roots (parallel to handles)
};

template <class Node>
std::vector<char> reachable(const Model<Node>& m) {
  std::vector<char> seen(m.ptr.size(), 0);
  std::vector<long> work(m.roots.begin(), m.roots.end());
  while (!work.empty()) {
    long id = work.back();
    work.pop_back();
    if (id < 0 || seen[static_cast<std::size_t>(id)]) continue;
    seen[static_cast<std::size_t>(id)] = 1;
    for (long e : m.edges[static_cast<std::size_t>(id)]) work.push_back(e);
  }
  return seen;
}

template <class Node>
[[gnu::noinline]] void mutate(moss::Heap& heap, Model<Node>& m, std::vector<std::unique_ptr<moss::Root<Node>>>& handles,
                              std::mt19937& rng, int steps) {
  for (int s = 0; s < steps; ++s) {
    auto live = reachable(m);
    std::vector<long> ids;
    for (std::size_t i = 0; i < live.size(); ++i)
      if (live[i]) ids.push_back(static_cast<long>(i));
    auto pick = [&]() -> long { return ids.empty() ? -1 : ids[rng() % ids.size()]; };
    switch (rng() % 6) {
      case 0:
      case 1: {  // new node, attached to a reachable one or made a root
        long id = static_cast<long>(m.ptr.size());
        Node* n = moss::make<Node>(heap, id);
        m.ptr.push_back(n);
        m.edges.push_back({-1, -1, -1});
        finalized->push_back(0);
        long parent = pick();
        if (parent >= 0 && rng() % 4 != 0) {
          int e = static_cast<int>(rng() % kEdges);
          m.ptr[static_cast<std::size_t>(parent)]->edges[e] = n;
          m.edges[static_cast<std::size_t>(parent)][static_cast<std::size_t>(e)] = id;
        } else {
          handles.push_back(std::make_unique<moss::Root<Node>>(heap, n));
          m.roots.push_back(id);
        }
        break;
      }
      case 2:
      case 3: {  // rewire an edge to another reachable node or to null
        long from = pick();
        if (from < 0) break;
        long to = rng() % 3 == 0 ? -1 : pick();
        int e = static_cast<int>(rng() % kEdges);
        m.ptr[static_cast<std::size_t>(from)]->edges[e] = to < 0 ? nullptr : m.ptr[static_cast<std::size_t>(to)];
        m.edges[static_cast<std::size_t>(from)][static_cast<std::size_t>(e)] = to;
        break;
      }
      case 4: {  // drop a root
        if (handles.empty()) break;
        std::size_t k = rng() % handles.size();
        handles[k] = std::move(handles.back());
        handles.pop_back();
        m.roots[k] = m.roots.back();
        m.roots.pop_back();
        break;
      }
      default: {  // garbage that never becomes reachable
        for (int g = 0; g < 300; ++g) moss::make<moss_test::Node>(heap, g);
      }
    }
  }
}

template <class Node>
void check(moss::Heap& heap, const Model<Node>& m) {
  auto live = reachable(m);
  long lost = 0, corrupt = 0, unreclaimed = 0;
  for (std::size_t id = 0; id < m.ptr.size(); ++id) {
    if (live[id]) {
      Node* n = m.ptr[id];
      if ((*finalized)[id] || heap.find_object(n) != n) {
        ++lost;
        continue;
      }
      if (n->id != static_cast<long>(id)) ++corrupt;
      for (int e = 0; e < kEdges; ++e) {
        long want = m.edges[id][static_cast<std::size_t>(e)];
        Node* got = n->edges[e].get();
        if ((want < 0 && got != nullptr) || (want >= 0 && got != m.ptr[static_cast<std::size_t>(want)])) ++corrupt;
      }
    } else if (!(*finalized)[id]) {
      ++unreclaimed;
    }
  }
  CHECK(lost == 0);
  CHECK(corrupt == 0);
  // Conservative stack scanning may keep a handful of stale objects.
  CHECK(unreclaimed <= 8);
}

template <class Node>
void run_mutator() {
  for (moss::Collector c : moss_test::collectors()) {
    for (bool incremental : {true, false}) {
      CAPTURE(std::string(moss::collector_name(c)));
      CAPTURE(incremental);
      std::vector<char> finalized_ids;
      finalized = &finalized_ids;
      {
        moss::HeapOptions o;
        o.collector = c;
        o.incremental = incremental;
        o.min_heap_bytes = 256u << 10;  // many automatic cycles
        o.mark_slice_bytes = 8192;
        moss::Heap heap(o);
        Model<Node> m;
        std::vector<std::unique_ptr<moss::Root<Node>>> handles;
        std::mt19937 rng(incremental ? 1234 : 99);
        for (int round = 0; round < 12; ++round) {
          mutate(heap, m, handles, rng, 400);
          moss_test::scrub_and_collect(heap);
          check(heap, m);
          heap.verify();
        }
        CHECK(heap.stats().collections > 24);
        handles.clear();
      }
      finalized = nullptr;
    }
  }
}

}  // namespace

TEST_CASE("random graph mutation keeps every reachable object and reclaims the rest") { run_mutator<GNode<false>>(); }

TEST_CASE("random graph mutation with 8-byte aligned (moss_align8) nodes") {
  {
    moss::Heap heap;
    bool unaligned16 = false;
    for (long k = 0; k < 4; ++k) {
      auto* n = moss::make<GNode<true>>(heap, k);
      CHECK(heap.object_size(n) == 32);  // a 40-byte slot: 16-byte alignment would take 48
      CHECK(reinterpret_cast<std::uintptr_t>(n) % 8 == 0);
      unaligned16 = unaligned16 || reinterpret_cast<std::uintptr_t>(n) % 16 != 0;
    }
    CHECK(unaligned16);
  }
  run_mutator<GNode<true>>();
}
