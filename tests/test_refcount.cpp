// tests/test_refcount.cpp — what the deferred reference-counting collector
// promises beyond the shared behavioural tests: prompt reclamation without a
// cycle collection, cycles freed by trial deletion, stack-held cycles kept,
// weak slots cleared, sticky counts, and counts that match the references.
//
// CI reruns this under MOSS_GC_STRESS (a collection every few allocations,
// the 'gcstress' suite). What is kept and what is reclaimed must not change
// then, and every test checks that under whatever the environment says. Which
// pass frees what (a reconciliation, the cycle collector, the backup trace,
// an allocation pause) is what stress changes: those assertions run on heaps
// whose stress interval is pinned (rc_unstressed below).
#include <doctest/doctest.h>

#include <moss/moss.hpp>

#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "runtime/barrier.hpp"
#include "runtime/page_heap.hpp"
#include "support.hpp"

using moss_test::FinNode;
using moss_test::Node;
using moss_test::scrub_and_collect;
using moss_test::scrub_stack;

namespace {

// A refcount heap, stressed when MOSS_GC_STRESS says so.
moss::HeapOptions rc() {
  moss::HeapOptions o;
  o.collector = moss::Collector::refcount;
  return o;
}

// A refcount heap that collects only when it would without stress: an
// explicit HeapOptions::stress_every wins over MOSS_GC_STRESS, and this one
// is never reached.
moss::HeapOptions rc_unstressed() {
  moss::HeapOptions o = rc();
  o.stress_every = std::numeric_limits<std::uint64_t>::max();
  return o;
}

// Both kinds, for tests whose behaviour is checked under stress and whose
// mechanics are checked without it.
struct Config {
  const char* name;
  moss::HeapOptions options;
  bool mechanics;  // assert which pass freed what
};
const Config kConfigs[] = {{"unstressed", rc_unstressed(), true}, {"environment", rc(), false}};

[[gnu::noinline]] moss::Root<FinNode>* new_holder_with_child(moss::Heap& heap) {
  auto* r = new moss::Root<FinNode>(heap, moss::make<FinNode>(heap, 1));
  (*r)->next = moss::make<FinNode>(heap, 2);
  return r;
}
[[gnu::noinline]] void drop_child(moss::Root<FinNode>* r) { (*r)->next = nullptr; }

[[gnu::noinline]] long value_of(moss::Root<FinNode>* r) { return (*r)->value; }

[[gnu::noinline]] void make_garbage(moss::Heap& heap, long n) {
  for (long i = 0; i < n; ++i) moss::make<Node>(heap, i);
}

// A ring of `length` objects with values 0..length-1, linked through
// `link`; returns its first object.
template <class N>
[[gnu::noinline]] N* make_ring(moss::Heap& heap, long length, moss::Member<N> N::*link) {
  N* first = moss::make<N>(heap, 0);
  N* last = first;
  for (long i = 1; i < length; ++i) {
    N* n = moss::make<N>(heap, i);
    last->*link = n;
    last = n;
  }
  last->*link = first;
  return first;
}

[[gnu::noinline]] void make_cycle(moss::Heap& heap, int length) { make_ring(heap, length, &FinNode::next); }

[[gnu::noinline]] FinNode* make_cycle_kept(moss::Heap& heap, int length) {
  return make_ring(heap, length, &FinNode::next);
}

}  // namespace

TEST_CASE("refcount: the last heap reference going frees an object at the next reconciliation") {
  for (const Config& config : kConfigs) {
    CAPTURE(config.name);
    FinNode::finalized = 0;
    moss::Heap heap(config.options);
    auto* holder = new_holder_with_child(heap);
    scrub_and_collect(heap);
    CHECK(FinNode::finalized == 0);
    std::uint64_t cycles_before = heap.stats().rc_freed_by_cycles;
    drop_child(holder);
    scrub_stack();
    // Allocation alone reaches reconciliations: no collect(), no cycle collection.
    make_garbage(heap, 400000);
    moss::HeapStats s = heap.stats();
    CHECK(FinNode::finalized == 1);
    if (config.mechanics) {
      CHECK(s.rc_freed_promptly > 0);
      CHECK(s.rc_freed_by_cycles == cycles_before);
    }
    CHECK(s.rc_increments > 0);
    CHECK(s.rc_decrements > 0);
    CHECK(value_of(holder) == 1);
    heap.verify();
    delete holder;
    scrub_and_collect(heap);
    CHECK(FinNode::finalized == 2);
  }
}

TEST_CASE("refcount: garbage cycles of 2, 3 and 10,000 objects are reclaimed by the cycle collector") {
  for (int length : {2, 3, 10000}) {
    CAPTURE(length);
    FinNode::finalized = 0;
    moss::Heap heap(rc());
    int cycles = length == 10000 ? 1 : 20;
    for (int i = 0; i < cycles; ++i) make_cycle(heap, length);
    scrub_and_collect(heap);
    moss::HeapStats s = heap.stats();
    long expected = static_cast<long>(cycles) * length;
    CHECK(FinNode::finalized >= expected - length);  // a stale stack word may keep one cycle
    CHECK(s.rc_freed_by_cycles >= static_cast<std::uint64_t>(expected - length));
    CHECK(s.cycle_collections >= 1);
    heap.verify();
  }
}

TEST_CASE("refcount: a cycle referenced from the stack is kept, and freed once it is not") {
  FinNode::finalized = 0;
  moss::Heap heap(rc());
  FinNode* volatile keep = make_cycle_kept(heap, 5);
  scrub_and_collect(heap);
  CHECK(FinNode::finalized == 0);
  CHECK(heap.find_object(keep) == keep);
  long sum = 0;
  FinNode* n = keep;
  for (int i = 0; i < 5; ++i, n = n->next) sum += n->value;
  CHECK(sum == 10);
  heap.verify();
  keep = nullptr;
  n = nullptr;
  scrub_and_collect(heap);
  CHECK(FinNode::finalized >= 0);  // conservative: a stale word may remain
  heap.verify();
}

namespace {
struct WNode {
  moss::Member<WNode> next;
  moss::WeakMember<WNode> weak;
  void trace(moss::Visitor& v) const {
    v.visit(next);
    v.visit(weak);
  }
};
// The cycle survives one collection (held by a Root), so that its objects
// are old and its links counted: young garbage, cycles included, is freed
// by the nursery pass without the cycle collector.
[[gnu::noinline]] moss::Root<WNode>* make_weak_to_cycle(moss::Heap& heap) {
  auto* observer = new moss::Root<WNode>(heap, moss::make<WNode>(heap));
  WNode* a = moss::make<WNode>(heap);
  WNode* b = moss::make<WNode>(heap);
  a->next = b;
  b->next = a;
  a->weak = b;  // weak slots inside the cycle too
  b->weak = a;
  (*observer)->weak = a;
  auto* keep = new moss::Root<WNode>(heap, a);
  heap.collect();
  delete keep;
  return observer;
}
[[gnu::noinline]] bool weak_set(moss::Root<WNode>* observer) { return (*observer)->weak.get() != nullptr; }
}  // namespace

TEST_CASE("refcount: weak members to a garbage cycle are cleared") {
  moss::Heap heap(rc());
  auto* observer = make_weak_to_cycle(heap);
  CHECK(weak_set(observer));
  scrub_and_collect(heap);
  CHECK(!weak_set(observer));
  CHECK(heap.stats().rc_freed_by_cycles >= 2);
  heap.verify();
  delete observer;
}

namespace {
constexpr int kManyRefs = 70000;  // more than the count field holds
struct Fan {
  moss::Member<FinNode> slots[kManyRefs];
  void trace(moss::Visitor& v) const {
    for (const auto& s : slots) v.visit(s);
  }
};
// The fan survives a collection before it is filled: an old holder, whose
// stores are counted as they happen (a young one's are counted only when it
// survives the nursery pass).
[[gnu::noinline]] moss::Root<Fan>* make_fan(moss::Heap& heap) {
  auto* r = new moss::Root<Fan>(heap, moss::make<Fan>(heap));
  heap.collect();
  FinNode* target = moss::make<FinNode>(heap, 9);
  for (auto& s : (*r)->slots) s = target;
  return r;
}
[[gnu::noinline]] void drop_all_but_last(moss::Root<Fan>* fan) {
  for (int i = 0; i < kManyRefs - 1; ++i) (*fan)->slots[i] = nullptr;
}
[[gnu::noinline]] long last_value(moss::Root<Fan>* fan) { return (*fan)->slots[kManyRefs - 1]->value; }
[[gnu::noinline]] void drop_last(moss::Root<Fan>* fan) { (*fan)->slots[kManyRefs - 1] = nullptr; }
[[gnu::noinline]] void fill_distinct(moss::Heap& heap, moss::Root<Fan>* fan) {
  for (auto& s : (*fan)->slots) s = moss::make<FinNode>(heap, 1);
}
}  // namespace

TEST_CASE("refcount: a saturated count sticks, and the backup trace reclaims the object") {
  for (const Config& config : kConfigs) {
    CAPTURE(config.name);
    FinNode::finalized = 0;
    moss::Heap heap(config.options);
    auto* fan = make_fan(heap);
    scrub_and_collect(heap);
    CHECK(FinNode::finalized == 0);
    heap.verify();  // sticky counts are not compared
    // Dropping most references leaves the count stuck at its maximum.
    drop_all_but_last(fan);
    scrub_and_collect(heap);
    CHECK(FinNode::finalized == 0);
    CHECK(last_value(fan) == 9);
    heap.verify();  // the backup trace recounted: the count is exact again
    std::uint64_t promptly = heap.stats().rc_freed_promptly;
    drop_last(fan);  // now an ordinary count reaching zero
    scrub_and_collect(heap);
    CHECK(FinNode::finalized == 1);
    if (config.mechanics) CHECK(heap.stats().rc_freed_promptly > promptly);
    // Stuck again, then the holder goes: only the backup trace can free it.
    fill_distinct(heap, fan);  // distinct targets
    FinNode::finalized = 0;
    delete fan;
    fan = make_fan(heap);
    delete fan;
    scrub_stack();
    make_garbage(heap, 200000);  // reconciliations free the fans but not the stuck target
    std::uint64_t by_cycles = heap.stats().rc_freed_by_cycles;
    scrub_and_collect(heap);
    CHECK(FinNode::finalized >= kManyRefs + 1);
    // Under stress a stress collection's backup trace may have come first.
    if (config.mechanics) CHECK(heap.stats().rc_freed_by_cycles > by_cycles);
    heap.verify();
  }
}

TEST_CASE("refcount: counts agree with the references found by tracing") {
  moss::Heap heap(rc());
  const int kSlots = 500;
  struct Table {
    moss::Member<Node> slots[kSlots];
    void trace(moss::Visitor& v) const {
      for (const auto& s : slots) v.visit(s);
    }
  };
  moss::Root<Table> table(heap, moss::make<Table>(heap));
  std::vector<std::unique_ptr<moss::Root<Node>>> roots;
  std::mt19937 rng(5);
  for (int step = 0; step < 50000; ++step) {
    int i = static_cast<int>(rng() % kSlots);
    switch (rng() % 6) {
      case 0:
        table->slots[i] = moss::make<Node>(heap, step);
        break;
      case 1:
        table->slots[i] = table->slots[rng() % kSlots].get();
        break;
      case 2:
        if (table->slots[i]) table->slots[i]->left = table->slots[rng() % kSlots].get();
        break;
      case 3:
        if (table->slots[i]) {
          heap.write(table->slots[i].get(), reinterpret_cast<void**>(const_cast<void**>(table->slots[i]->right.slot())),
                     (rng() & 1) != 0 ? static_cast<void*>(table->slots[rng() % kSlots].get())
                                      : reinterpret_cast<void*>(std::uintptr_t{0x41}));
        }
        break;
      case 4:
        if (roots.size() < 50) {
          roots.push_back(std::make_unique<moss::Root<Node>>(heap, table->slots[i].get()));
        } else {
          roots.erase(roots.begin() + static_cast<long>(rng() % roots.size()));
        }
        break;
      default:
        table->slots[i] = nullptr;
    }
    if (step % 10000 == 0) {
      heap.collect();
      heap.verify();
    }
  }
  heap.collect();
  heap.verify();
  for (int i = 0; i < kSlots; ++i) {
    if (Node* n = table->slots[i].get()) CHECK(heap.find_object(n) == n);
  }
  // Clear the tagged words before the table goes.
  for (int i = 0; i < kSlots; ++i) {
    if (table->slots[i]) {
      heap.write(table->slots[i].get(), reinterpret_cast<void**>(const_cast<void**>(table->slots[i]->right.slot())),
                 nullptr);
    }
  }
  heap.verify();
}

namespace {
[[gnu::noinline]] FinNode* make_parent_of_child(moss::Heap& heap) {
  FinNode* p = moss::make<FinNode>(heap, 1);
  p->next = moss::make<FinNode>(heap, 2);
  return p;
}
[[gnu::noinline]] moss::Root<Node>* make_rooted_list(moss::Heap& heap, long n) {
  Node* head = nullptr;
  for (long i = 0; i < n; ++i) {
    Node* x = moss::make<Node>(heap, i);
    x->right = head;
    head = x;
  }
  return new moss::Root<Node>(heap, head);
}
}  // namespace

TEST_CASE("refcount: an explicit free releases what the object referred to") {
  FinNode::finalized = 0;
  moss::Heap heap(rc());
  FinNode* p = make_parent_of_child(heap);
  heap.free(p);
  CHECK(FinNode::finalized == 1);
  p = nullptr;
  scrub_and_collect(heap);
  CHECK(FinNode::finalized == 2);
  heap.verify();
}

TEST_CASE("refcount: freeing a long list is spread over allocation pauses and finished by collect") {
  // A million nodes without stress (the pauses are the point); under stress,
  // where every few allocations collect the whole list, a shorter one.
  for (const Config& config : kConfigs) {
    CAPTURE(config.name);
    const long length = config.mechanics ? 1'000'000 : 20'000;
    moss::Heap heap(config.options);
    auto* list = make_rooted_list(heap, length);
    heap.collect();
    std::uint64_t live = heap.stats().live_objects;
    CHECK(live >= static_cast<std::uint64_t>(length));
    delete list;
    scrub_stack();
    std::uint64_t pauses = heap.stats().pauses;
    make_garbage(heap, 300000);  // a few allocation slow paths
    moss::HeapStats s = heap.stats();
    CHECK(s.pauses > pauses);
    if (config.mechanics) CHECK(s.rc_freed_promptly >= 100000);
    scrub_and_collect(heap);
    CHECK(heap.stats().live_objects < 100);
    heap.verify();
  }
}

namespace {
struct DeepRun {
  moss::Heap* heap = nullptr;
  const char* top = nullptr;
  std::uintptr_t max_depth_bytes = 0;
};

// Each frame allocates a node that the frame keeps (linked to its caller's)
// and three that die at once; the sum after the call keeps every frame live.
[[gnu::noinline]] long deep_recurse(DeepRun& run, Node* parent, long depth) {
  Node* n = moss::make<Node>(*run.heap, depth);
  n->left = parent;
  for (int k = 0; k < 3; ++k) moss::make<Node>(*run.heap, -depth);
  char here = 0;
  auto used = static_cast<std::uintptr_t>(run.top - &here);
  if (used > run.max_depth_bytes) run.max_depth_bytes = used;
  long below = depth == 0 ? 0 : deep_recurse(run, n, depth - 1);
  return below + n->value + (n->left ? 1 : 0);
}
}  // namespace

TEST_CASE("refcount: stack scanning is paced by allocation, so deep stacks cost a bounded amount per allocation") {
  moss::Heap heap(rc_unstressed());  // counts the pacing's scans: no stress collections
  const long kDepth = 300'000;
  DeepRun run;
  run.heap = &heap;
  long result = 0;
  moss::HeapStats before = heap.stats();
  moss::Coroutine co(
      heap,
      [&](moss::Yield&) {
        char top = 0;
        run.top = &top;
        result = deep_recurse(run, nullptr, kDepth);
      },
      moss::CoroutineOptions{.stack_reserve = std::size_t{512} << 20});
  co.resume();
  CHECK(co.done());
  CHECK(result == kDepth * (kDepth + 1) / 2 + kDepth);
  moss::HeapStats after = heap.stats();
  std::uint64_t allocations = after.allocated_objects - before.allocated_objects;
  std::uint64_t scanned = after.rc_stack_words_scanned - before.rc_stack_words_scanned;
  std::uint64_t deepest_words = run.max_depth_bytes / 8;
  MESSAGE("allocations " << allocations << ", stack words scanned " << scanned << ", deepest stack "
                         << deepest_words << " words, reconciliations " << after.collections - before.collections);
  CHECK(deepest_words > 1'000'000);  // the stack really was deep
  // A scan of W words waits for W / 4 allocations; the stack's growth since
  // the previous scan adds at most the deepest stack once more.
  CHECK(scanned <= 4 * allocations + 2 * deepest_words + 100'000);
  CHECK(after.collections > before.collections);  // and it did reconcile
  scrub_and_collect(heap);
  CHECK(heap.stats().live_objects < 100);
  heap.verify();
}

// --- the nursery -------------------------------------------------------------

namespace {
// A young structure (a list whose tail points back at its head: a cycle)
// that nothing but this frame refers to.
[[gnu::noinline]] void make_young_cycle(moss::Heap& heap, long n) { make_ring(heap, n, &Node::right); }
// The same cycle, kept by this frame while allocation runs reconciliations
// (so it survives a nursery pass and its links are counted), then dropped
// on return without any decrement.
[[gnu::noinline]] long make_cycle_promoted_then_dropped(moss::Heap& heap, long n) {
  Node* head = make_ring(heap, n, &Node::right);
  make_garbage(heap, 100000);
  long sum = 0;
  Node* x = head;
  for (long i = 0; i < n; ++i, x = x->right.get()) sum += x->value;
  return sum;
}
[[gnu::noinline]] Node* make_young_pair(moss::Heap& heap) {
  Node* a = moss::make<Node>(heap, 1);
  a->left = moss::make<Node>(heap, 2);
  return a;
}
[[gnu::noinline]] void attach_young_pair(moss::Heap& heap, moss::Root<Node>& holder) {
  holder->left = make_young_pair(heap);
}
[[gnu::noinline]] void detach_pair(moss::Root<Node>& holder) { holder->left = nullptr; }
}  // namespace

TEST_CASE("refcount: young garbage, cycles included, is freed by the nursery pass without counting") {
  for (const Config& config : kConfigs) {
    CAPTURE(config.name);
    moss::Heap heap(config.options);
    heap.collect();
    moss::HeapStats before = heap.stats();
    for (int k = 0; k < 100; ++k) make_young_cycle(heap, 50);
    scrub_stack();
    make_garbage(heap, 400000);  // reconciliations only
    scrub_and_collect(heap);
    moss::HeapStats s = heap.stats();
    CHECK(s.live_objects < 100);
    if (config.mechanics) {
      // Stores into young objects count nothing, and young garbage needs no
      // cycle collection.
      CHECK(s.rc_increments == before.rc_increments);
      CHECK(s.rc_freed_by_cycles == before.rc_freed_by_cycles);
      CHECK(s.rc_freed_promptly - before.rc_freed_promptly >= 400000 + 100 * 50 - 100);
    }
    heap.verify();
  }
}

TEST_CASE("refcount: a cycle that survived young and is dropped by a stack alone is found by the cycle collector") {
  for (const Config& config : kConfigs) {
    CAPTURE(config.name);
    moss::Heap heap(config.options);
    std::uint64_t cycles_before = heap.stats().rc_freed_by_cycles;
    // Ten rings, one after the other: a stale stack word (conservative
    // scanning; sanitizer builds keep frames elsewhere) may keep the last.
    for (int k = 0; k < 10; ++k) CHECK(make_cycle_promoted_then_dropped(heap, 100) == 99 * 100 / 2);
    heap.verify();  // the survivors' links are counted now
    scrub_and_collect(heap);
    moss::HeapStats s = heap.stats();
    CHECK(s.live_objects < 100 + 50);
    if (config.mechanics) CHECK(s.rc_freed_by_cycles - cycles_before >= 900);
    heap.verify();
  }
}

TEST_CASE("refcount: young objects survive through a stack, a Root or an old holder, and their counts are exact") {
  moss::Heap heap(rc());
  moss::Root<Node> old_holder(heap, moss::make<Node>(heap, 0));
  heap.collect();  // the holder is old now
  Node* volatile on_stack = make_young_pair(heap);
  moss::Root<Node> rooted(heap, make_young_pair(heap));
  attach_young_pair(heap, old_holder);  // counted: the holder is old
  make_garbage(heap, 400000);
  heap.verify();
  CHECK(on_stack->value == 1);
  CHECK(on_stack->left->value == 2);
  CHECK(rooted->left->value == 2);
  CHECK(old_holder->left->left->value == 2);
  // Now old: stores into them are counted, and dropping the last counted
  // reference frees the pair at the next reconciliation.
  heap.collect();
  moss::HeapStats before = heap.stats();
  detach_pair(old_holder);
  scrub_stack();
  make_garbage(heap, 400000);
  heap.collect();
  moss::HeapStats after = heap.stats();
  // The holder's slot, then the freed head's: both links were counted.
  CHECK(after.rc_decrements - before.rc_decrements == 2);
  CHECK(on_stack->left->value == 2);
  heap.verify();
}

TEST_CASE("refcount: an explicit free of a young object, its slot reused before the nursery pass") {
  moss::Heap heap(rc());
  for (int round = 0; round < 3; ++round) {
    Node* volatile keep = make_young_pair(heap);
    Node* gone = moss::make<Node>(heap, 7);
    gone->left = keep;  // uncounted: the holder is young
    heap.free(gone);
    Node* reused = moss::make<Node>(heap, 8);  // the same size class: likely the same slot
    keep->right = reused;
    if (gone != reused) CHECK_THROWS_AS(heap.free(gone), moss::UsageError);  // a second free
    make_garbage(heap, 400000);
    heap.verify();
    CHECK(keep->value == 1);
    CHECK(keep->right->value == 8);
    CHECK(keep->left->value == 2);
  }
  scrub_and_collect(heap);
  heap.verify();
}

namespace {
// Young objects of one size, every `every`-th kept on a new list (through
// a Root: the list's head survives, and so do the objects it reaches; the
// Root's previous list is dropped), the rest garbage in the same spans.
template <std::size_t Pad>
struct Padded {
  long value = 0;
  moss::Member<Padded> next;
  char pad[Pad] = {};
  explicit Padded(long v) : value(v) {}
  void trace(moss::Visitor& v) const { v.visit(next); }
};
template <std::size_t Pad>
[[gnu::noinline]] void build_sparse(moss::Heap& heap, moss::Root<Padded<Pad>>& kept, long n, long every) {
  kept = nullptr;
  for (long i = 0; i < n; ++i) {
    auto* p = moss::make<Padded<Pad>>(heap, i);
    p->pad[Pad - 1] = static_cast<char>(i);
    if (i % every == 0) {
      p->next = kept.get();
      kept = p;
    }
  }
}
// The kept list holds exactly the multiples of `every` below n, newest first,
// with their padding intact.
template <std::size_t Pad>
bool sparse_intact(const moss::Root<Padded<Pad>>& kept, long n, long every) {
  long expect = (n - 1) / every * every;
  for (Padded<Pad>* p = kept.get(); p != nullptr; p = p->next.get(), expect -= every) {
    if (p->value != expect || p->pad[Pad - 1] != static_cast<char>(expect)) return false;
  }
  return expect == -every;
}
}  // namespace

TEST_CASE("refcount: the nursery pass frees dead young objects a span at a time, sparing survivors among them") {
  for (const Config& config : kConfigs) {
    CAPTURE(config.name);
    moss::Heap heap(config.options);
    moss::Root<Padded<8>> small(heap);
    moss::Root<Padded<200>> medium(heap);
    moss::Root<Padded<40000>> large(heap);  // spans of their own
    heap.collect();
    moss::HeapStats before = heap.stats();
    // Interleaved, so that runs of one span alternate in the nursery.
    for (int round = 0; round < 10; ++round) {
      build_sparse(heap, small, 3000, 7);
      build_sparse(heap, medium, 1000, 3);
      build_sparse(heap, large, 6, 2);
    }
    heap.verify();
    scrub_stack();
    make_garbage(heap, 400000);  // reconciliations: nursery passes
    heap.verify();
    CHECK(sparse_intact(small, 3000, 7));
    CHECK(sparse_intact(medium, 1000, 3));
    CHECK(sparse_intact(large, 6, 2));
    scrub_and_collect(heap);
    CHECK(sparse_intact(small, 3000, 7));
    if (config.mechanics) {
      moss::HeapStats s = heap.stats();
      CHECK(s.rc_freed_by_cycles == before.rc_freed_by_cycles);
      // All but the last round's lists are garbage: what was young at a
      // nursery pass is freed there, what a pass promoted is freed by
      // counting once its list is dropped.
      CHECK(s.rc_freed_promptly - before.rc_freed_promptly >= 400000 + 10 * (3000 + 1000 + 6) - (429 + 334 + 3) - 100);
      CHECK(s.rc_increments > before.rc_increments);  // the kept lists were counted when promoted
    }
    // Everything dropped: the spans the young objects filled go back, and
    // allocating as much again reuses them.
    small = nullptr;
    medium = nullptr;
    large = nullptr;
    scrub_and_collect(heap);
    moss::HeapStats empty = heap.stats();
    CHECK(empty.live_objects < 100);
    for (int round = 0; round < 10; ++round) {
      build_sparse(heap, small, 3000, 7);
      build_sparse(heap, medium, 1000, 3);
      build_sparse(heap, large, 6, 2);
    }
    CHECK(sparse_intact(small, 3000, 7));
    CHECK(sparse_intact(medium, 1000, 3));
    CHECK(sparse_intact(large, 6, 2));
    small = nullptr;
    medium = nullptr;
    large = nullptr;
    scrub_and_collect(heap);
    CHECK(heap.stats().live_objects < 100);
    CHECK(heap.stats().heap_bytes <= empty.heap_bytes + (1u << 20));
    heap.verify();
  }
}

namespace {

[[gnu::noinline]] void build_and_drop(moss::Heap& heap, long n) {
  moss::Root<Node> list(heap, moss_test::make_list(heap, n));
  CHECK(list->value == n - 1);
}

// Free pages the page heap keeps resident after a page-heap span of
// `bytes` is made resident and freed (what the scavenger's retain policy
// allows at this moment).
std::size_t kept_of_transient_span(std::size_t bytes) {
  auto& ph = moss::detail::PageHeap::instance();
  ph.release_all();
  moss::detail::Span* s = ph.allocate(bytes / moss::detail::kPageSize);
  REQUIRE(s != nullptr);
  std::memset(s->start, 1, s->bytes());
  ph.free(s);
  return ph.stats().free_resident_bytes;
}

}  // namespace

TEST_CASE("refcount: with retain_peak the page heap keeps a heap's high-water mark resident until release_memory") {
  moss_test::WithoutEnv env("MOSS_RETAIN_PEAK");
  constexpr std::size_t kMiB = std::size_t{1} << 20;
  constexpr std::size_t kSpan = 24 * kMiB;  // over the scavenger's floor of 8 MiB
  static_assert(kSpan > moss::detail::PageHeap::kMinRetainBytes + 8 * kMiB);
  for (bool retain : {false, true}) {
    CAPTURE(retain);
    moss::HeapOptions o = rc_unstressed();
    o.retain_peak = retain;
    moss::Heap heap(o);
    build_and_drop(heap, 1500000);  // 32-byte slots: a 46 MiB peak
    scrub_and_collect(heap);
    CHECK(heap.stats().live_objects < 100);
    std::size_t kept = kept_of_transient_span(kSpan);
    if (retain) {
      CHECK(kept == kSpan);  // the heap's peak is far above what it holds now
      heap.release_memory();
      CHECK(moss::detail::PageHeap::instance().stats().free_resident_bytes == 0);
      kept = kept_of_transient_span(kSpan);  // the high-water mark is forgotten
    }
    CHECK(kept <= moss::detail::PageHeap::kMinRetainBytes);
  }
}

TEST_CASE("refcount: counted-slot bits are set and cleared for exactly the words of a range") {
  moss::Heap heap(rc_unstressed());  // the counted-slot bitmap exists
  // A pointer-free object's slots are never counted, so its payload is a
  // range of words to mark freely (and leave clear).
  static const moss::TypeIndex bytes = moss::Heap::register_type({"counted-bits test bytes", nullptr, nullptr, 0});
  auto* block = static_cast<char*>(heap.allocate(bytes, 256));
  constexpr int kWords = 32;
  auto counted = [block](int w) { return moss::detail::counted_slot(reinterpret_cast<void**>(block + 8 * w)); };
  for (int w = 0; w < kWords; ++w) REQUIRE_FALSE(counted(w));
  int mismatches = 0;
  for (int first = 0; first < kWords; ++first) {
    for (int length = 1; first + length <= kWords; ++length) {
      moss::detail::mark_counted(block + 8 * first, 8 * static_cast<std::size_t>(length), true);
      for (int w = 0; w < kWords; ++w) mismatches += counted(w) != (w >= first && w < first + length);
      moss::detail::mark_counted(block + 8 * first, 8 * static_cast<std::size_t>(length), false);
      for (int w = 0; w < kWords; ++w) mismatches += counted(w);
    }
  }
  CHECK(mismatches == 0);
}
