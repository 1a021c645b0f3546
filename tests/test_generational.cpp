// tests/test_generational.cpp — generational mark-sweep (sticky mark bits,
// card marking): minor collections keep what old objects were given since
// the last collection, leave old garbage to full collections, clear weak
// members of old objects whose young targets die, and the environment
// switch. (CI also runs the whole suite generational, and the stress suite
// generational with MOSS_VERIFY=1, which checks the card invariant before
// every minor cycle and the tri-colour invariant after it.)
#include <doctest/doctest.h>

#include <moss/moss.hpp>

#include <cstdlib>
#include <string>
#include <vector>

#include "support.hpp"

using moss_test::FinNode;
using moss_test::make_list;
using moss_test::Node;
using moss_test::WeakHolder;
using moss_test::scrub_and_collect;
using moss_test::scrub_stack;

namespace {

// A generational heap that collects every `every` allocations (stress
// collections are minor whenever the marks allow).
moss::HeapOptions generational(std::uint64_t every) {
  moss::HeapOptions o;
  o.generational = true;
  o.stress_every = every;
  return o;
}

[[gnu::noinline]] void make_garbage(moss::Heap& heap, int n) {
  for (int i = 0; i < n; ++i) moss::make<Node>(heap, -1);
}

std::uint64_t full_collections(const moss::HeapStats& s) { return s.collections - s.minor_collections; }

}  // namespace

TEST_CASE("minor collections keep the young objects old ones were given since the last collection") {
  moss_test::WithoutEnv env("MOSS_GENERATIONAL");
  moss::Heap heap(generational(64));
  moss::Root<Node> list(heap, make_list(heap, 3000));
  heap.collect();  // full: the whole list is old now
  const auto minors = heap.stats().minor_collections;
  // Every old node gets a young child (only there), with minor collections
  // running in between, and garbage around it.
  long i = 0;
  for (Node* n = list.get(); n != nullptr; n = n->right, ++i) {
    n->left = moss::make<Node>(heap, 100000 + n->value);
    if (i % 10 == 0) make_garbage(heap, 20);
  }
  make_garbage(heap, 5000);
  CHECK(heap.stats().minor_collections > minors);
  long count = 0;
  for (Node* n = list.get(); n != nullptr; n = n->right, ++count) {
    REQUIRE(n->left.get() != nullptr);
    CHECK(n->left->value == 100000 + n->value);
  }
  CHECK(count == 3000);
  heap.verify();
  // And they are old now in turn: a full collection changes nothing.
  scrub_and_collect(heap);
  for (Node* n = list.get(); n != nullptr; n = n->right) CHECK(n->left->value == 100000 + n->value);
}

namespace {
// Separate objects, each with a Root: a stale stack word (stack scanning is
// conservative) can keep one of them, not a chain.
[[gnu::noinline]] void make_fin_objects(moss::Heap& heap, std::vector<moss::Root<FinNode>>& roots) {
  for (std::size_t i = 0; i < roots.size(); ++i) roots[i] = moss::make<FinNode>(heap, static_cast<long>(i));
}
}  // namespace

TEST_CASE("what dies old waits for a full collection; young garbage goes in minor ones") {
  moss_test::WithoutEnv env("MOSS_GENERATIONAL");
  FinNode::finalized = 0;
  moss::Heap heap(generational(256));
  std::vector<moss::Root<FinNode>> roots;
  for (int i = 0; i < 500; ++i) roots.emplace_back(heap);
  make_fin_objects(heap, roots);
  heap.collect();  // full: they are old
  for (auto& r : roots) r = nullptr;  // and garbage from here on
  scrub_stack();
  const moss::HeapStats before = heap.stats();
  make_garbage(heap, 20000);  // minor collections, which free this garbage
  const moss::HeapStats after = heap.stats();
  CHECK(after.minor_collections > before.minor_collections);
  CHECK(after.freed_objects - before.freed_objects >= 15000);
  if (full_collections(after) == full_collections(before)) CHECK(FinNode::finalized == 0);
  scrub_and_collect(heap);  // a full collection reclaims the old garbage
  CHECK(FinNode::finalized >= 495);
  CHECK(FinNode::finalized <= 500);
  heap.verify();
}

namespace {
[[gnu::noinline]] void give_weak_young_target(moss::Heap& heap, WeakHolder* h) {
  h->weak = moss::make<Node>(heap, 7);
  h->strong = moss::make<Node>(heap, 8);
}
}  // namespace

TEST_CASE("a weak member of an old object is cleared when its young target dies in a minor collection") {
  moss_test::WithoutEnv env("MOSS_GENERATIONAL");
  moss::Heap heap(generational(128));
  moss::Root<WeakHolder> h(heap, moss::make<WeakHolder>(heap));
  heap.collect();  // the holder is old
  give_weak_young_target(heap, h.get());
  scrub_stack();
  const auto minors = heap.stats().minor_collections;
  make_garbage(heap, 2000);
  CHECK(heap.stats().minor_collections > minors);
  CHECK(h->weak.get() == nullptr);
  REQUIRE(h->strong.get() != nullptr);
  CHECK(h->strong->value == 8);  // the strong one, young too, was kept
  heap.verify();
}

TEST_CASE("incremental minor collections keep every reachable object under random stores") {
  moss_test::WithoutEnv env("MOSS_GENERATIONAL");
  moss::HeapOptions o;
  o.generational = true;
  o.min_heap_bytes = 256 << 10;
  o.mark_slice_bytes = 2 << 10;  // many slices per cycle, with the mutator in between
  moss::Heap heap(o);
  constexpr int kSlots = 512;
  moss::Root<Node> table(heap, make_list(heap, kSlots));
  std::vector<Node*> nodes;
  for (Node* n = table.get(); n != nullptr; n = n->right) nodes.push_back(n);
  std::uint64_t state = 12345;
  auto next = [&state] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return state >> 33;
  };
  for (int step = 0; step < 200000; ++step) {
    Node* holder = nodes[next() % kSlots];
    Node* young = moss::make<Node>(heap, step);
    young->left = nodes[next() % kSlots]->left.get();  // young -> whatever
    holder->left = young;                                // old -> young
  }
  CHECK(heap.stats().minor_collections > 0);
  for (Node* n : nodes) {
    // Every chain of left links ends, and holds only live nodes.
    int depth = 0;
    for (Node* x = n->left.get(); x != nullptr && depth < 100000; x = x->left.get(), ++depth) {
      REQUIRE(heap.find_object(x) == x);
    }
  }
  heap.verify();
}

TEST_CASE("MOSS_GENERATIONAL turns generational collection on or off and rejects other values") {
  moss_test::WithoutEnv env("MOSS_GENERATIONAL");
  auto minors_with = [](const char* value) {
    setenv("MOSS_GENERATIONAL", value, 1);
    moss::HeapOptions o;
    o.stress_every = 100;
    moss::Heap heap(o);
    moss::Root<Node> keep(heap, make_list(heap, 100));
    make_garbage(heap, 3000);
    return heap.stats().minor_collections;
  };
  CHECK(minors_with("1") > 0);
  CHECK(minors_with("0") == 0);
  setenv("MOSS_GENERATIONAL", "yes", 1);
  CHECK_THROWS_AS(moss::Heap(moss::HeapOptions{}), moss::UsageError);
  unsetenv("MOSS_GENERATIONAL");
}
