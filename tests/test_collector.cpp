// tests/test_collector.cpp — what the collectors keep and what they
// reclaim, under every collector: reachability through each kind of root,
// cycles, weak members, finalizers, deep structures, the heap limit, and
// incremental marking with the barrier.
#include <doctest/doctest.h>

#include <moss/moss.hpp>

#include <cstdlib>
#include <initializer_list>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gc/heap_impl.hpp"
#include "gc/roots.hpp"
#include "runtime/barrier.hpp"
#include "support.hpp"

using moss_test::collectors;
using moss_test::Counted;
using moss_test::FinNode;
using moss_test::make_list;
using moss_test::Node;
using moss_test::WeakHolder;
using moss_test::scrub_and_collect;

namespace {

moss::HeapOptions opts(moss::Collector c) {
  moss::HeapOptions o;
  o.collector = c;
  return o;
}

[[gnu::noinline]] void make_garbage_counted(moss::Heap& heap, int n) {
  for (int i = 0; i < n; ++i) moss::make<Counted>(heap, i);
}

long list_sum(Node* n) {
  long s = 0;
  for (; n != nullptr; n = n->right) s += n->value;
  return s;
}

}  // namespace

TEST_CASE("unreachable objects are reclaimed and their destructors run once") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    Counted::alive = 0;
    Counted::destroyed = 0;
    {
      moss::Heap heap(opts(c));
      make_garbage_counted(heap, 1000);
      if (!moss_test::stressed()) CHECK(Counted::alive == 1000);
      scrub_and_collect(heap);
      CHECK(Counted::alive <= 2);  // a stale word may survive conservatively
      CHECK(Counted::destroyed >= 998);
      long destroyed = Counted::destroyed;
      scrub_and_collect(heap);
      CHECK(Counted::destroyed >= destroyed);  // never twice: alive never negative
      CHECK(Counted::alive >= 0);
      heap.verify();
    }
    CHECK(Counted::alive == 0);  // the heap's destructor finalizes the rest
  }
}

TEST_CASE("an object referenced from a stack variable survives collection") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    Node* head = make_list(heap, 1000);
    make_garbage_counted(heap, 5000);
    scrub_and_collect(heap);
    CHECK(list_sum(head) == 999 * 1000 / 2);
    heap.verify();
  }
}

namespace {
// Keeps a pointer only as an interior pointer (past the object start).
[[gnu::noinline]] char* interior_of_new_list(moss::Heap& heap) {
  Node* n = make_list(heap, 100);
  return reinterpret_cast<char*>(n) + 8;
}
}  // namespace

TEST_CASE("an interior pointer on the stack keeps its object alive") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    char* volatile interior = interior_of_new_list(heap);
    scrub_and_collect(heap);
    Node* n = reinterpret_cast<Node*>(interior - 8);
    CHECK(heap.find_object(n) == n);
    CHECK(list_sum(n) == 99 * 100 / 2);
  }
}

namespace {
constexpr int kHighWords = 64;
// Fills `words` with new objects' addresses with bits set above the 48-bit
// address space: words whose low 48 bits (all the page map looks at) name
// the objects.
[[gnu::noinline]] void fill_high_words(moss::Heap& heap, volatile std::uintptr_t* words, std::uintptr_t high) {
  for (int i = 0; i < kHighWords; ++i) words[i] = reinterpret_cast<std::uintptr_t>(moss::make<Counted>(heap, i)) | high;
}
}  // namespace

TEST_CASE("stack words that name objects only in their low 48 bits keep nothing alive") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    for (std::uintptr_t high : {std::uintptr_t{1} << 48, std::uintptr_t{0xffff} << 48}) {
      Counted::alive = 0;
      Counted::destroyed = 0;
      {
        moss::Heap heap(opts(c));
        volatile std::uintptr_t words[kHighWords];
        fill_high_words(heap, words, high);
        CHECK(heap.find_object(reinterpret_cast<void*>(words[0])) == nullptr);
        scrub_and_collect(heap);
        // Every object the words name is reclaimed (but for a stale copy
        // of a plain pointer, as in "unreachable objects are reclaimed").
        CHECK(Counted::alive <= 2);
        CHECK(Counted::destroyed >= kHighWords - 2);
        heap.verify();
        CHECK(words[kHighWords - 1] != 0);  // (the words stay on the stack to the end)
      }
    }
  }
}

namespace {
// Records the ranges a stack scan visits.
class RangeRecorder final : public moss::Visitor {
 public:
  void visit_conservative(const void* begin, const void* end) override {
    ranges_.emplace_back(static_cast<const char*>(begin), static_cast<const char*>(end));
  }
  bool covers(const volatile void* address) const {
    auto* a = const_cast<const char*>(static_cast<const volatile char*>(address));
    for (const auto& [begin, end] : ranges_) {
      if (a >= begin && a < end) return true;
    }
    return false;
  }

 protected:
  void visit_pointer(const void*) override {}
  void visit_candidate(const void*) override {}
  void visit_weak(void* const*) override {}

 private:
  std::vector<std::pair<const char*, const char*>> ranges_;
};

[[gnu::noinline]] bool stack_scan_covers(moss::Heap& heap, const volatile void* address) {
  RangeRecorder recorder;
  moss::detail::visit_stacks(heap.impl(), recorder);
  return recorder.covers(address);
}

// Collects while a new Counted is held only in a frame below a runtime
// entry (as a stale word in the runtime's own frames would be), in mutator
// code there if `in_mutator`; returns how many Counted objects the
// collection finalized.
[[gnu::noinline]] long finalized_below_entry(moss::Heap& heap, bool in_mutator) {
  long destroyed = Counted::destroyed;
  moss::detail::from_mutator([&heap, in_mutator] {
    std::optional<moss::detail::InMutator> mutator;
    if (in_mutator) mutator.emplace();
    Counted* volatile held = moss::make<Counted>(heap, 7);
    heap.impl().collector().collect();
    heap.impl().run_finalizers();
    CHECK(held != nullptr);
  });
  return Counted::destroyed - destroyed;
}
}  // namespace

TEST_CASE("a stack scan in the runtime starts where the runtime was entered, but covers mutator code it calls") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    volatile int above = 0;
    CHECK(stack_scan_covers(heap, &above));
    moss::detail::from_mutator([&heap, &above] {
      volatile int below = 0;
      CHECK(stack_scan_covers(heap, &above));
      CHECK_FALSE(stack_scan_covers(heap, &below));
      {
        moss::detail::InMutator mutator;  // a finalizer's frames, say
        CHECK(stack_scan_covers(heap, &below));
        moss::detail::from_mutator([&heap, &above, &below] {  // which enters the runtime again
          volatile int deeper = 0;
          CHECK(stack_scan_covers(heap, &above));
          CHECK(stack_scan_covers(heap, &below));
          CHECK_FALSE(stack_scan_covers(heap, &deeper));
          return 0;
        });
      }
      CHECK_FALSE(stack_scan_covers(heap, &below));
      return 0;
    });
    CHECK(stack_scan_covers(heap, &above));

    // What only the runtime's frames hold is not kept; mutator code's is.
    // (In this order: the second object, kept, is garbage afterwards.)
    CHECK(finalized_below_entry(heap, false) == 1);
    CHECK(finalized_below_entry(heap, true) == 0);
    heap.verify();
  }
}

namespace {
[[gnu::noinline]] moss::Root<FinNode>* new_rooted(moss::Heap& heap, long v) {
  return new moss::Root<FinNode>(heap, moss::make<FinNode>(heap, v));
}
[[gnu::noinline]] void put_new_fin_node(moss::Heap& heap, FinNode** where, long v) {
  *where = moss::make<FinNode>(heap, v);
}
[[gnu::noinline]] long rooted_value(moss::Root<FinNode>* r) { return (*r)->value; }
[[gnu::noinline]] long slot_value(FinNode** where) { return (*where)->value; }

}  // namespace

TEST_CASE("Root handles keep objects alive until reset") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    FinNode::finalized = 0;
    moss::Heap heap(opts(c));
    auto* keep = new_rooted(heap, 42);
    scrub_and_collect(heap);
    CHECK(FinNode::finalized == 0);
    CHECK(rooted_value(keep) == 42);
    *keep = nullptr;
    scrub_and_collect(heap);
    CHECK(FinNode::finalized == 1);
    delete keep;
  }
}

TEST_CASE("a Root of something that is not a live object is a UsageError") {
  for (moss::Collector c : collectors()) {
    moss::Heap heap(opts(c));
    int local = 0;
    moss::Root<int> r(heap);
    CHECK_THROWS_AS(r = &local, moss::UsageError);
    CHECK(r.get() == nullptr);
    moss::Root<int> unattached;
    CHECK_THROWS_AS(unattached = &local, moss::UsageError);
  }
}

namespace {
struct ValueStack {
  std::vector<Node*> values;
  static void visit(moss::Visitor& v, void* ctx) {
    for (Node* n : static_cast<ValueStack*>(ctx)->values) v.visit(n);
  }
};
}  // namespace

TEST_CASE("root callbacks and root ranges keep what they report alive") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    FinNode::finalized = 0;
    moss::Heap heap(opts(c));
    auto* stack = new ValueStack;
    stack->values.push_back(make_list(heap, 10));
    auto id = heap.add_root_callback(&ValueStack::visit, stack);
    auto** range = new FinNode*[4]();
    put_new_fin_node(heap, &range[2], 7);
    auto rid = heap.add_root_range(range, range + 4);
    scrub_and_collect(heap);
    CHECK(list_sum(stack->values[0]) == 45);
    CHECK(FinNode::finalized == 0);
    CHECK(slot_value(&range[2]) == 7);
    heap.remove_root_range(rid);
    range[2] = nullptr;
    heap.remove_root_callback(id);
    CHECK_THROWS_AS(heap.remove_root_callback(id), moss::UsageError);
    scrub_and_collect(heap);
    CHECK(FinNode::finalized == 1);
    delete[] range;
    delete stack;
  }
}

namespace {
[[gnu::noinline]] void make_cycles(moss::Heap& heap, int cycles, int length) {
  for (int c = 0; c < cycles; ++c) {
    FinNode* first = moss::make<FinNode>(heap, 0);
    FinNode* last = first;
    for (int i = 1; i < length; ++i) {
      FinNode* n = moss::make<FinNode>(heap, i);
      last->next = n;
      last = n;
    }
    last->next = first;
  }
}
}  // namespace

TEST_CASE("unreachable cycles are reclaimed") {
  for (moss::Collector c : collectors()) {
    for (int length : {1, 2, 3, 10000}) {
      CAPTURE(std::string(moss::collector_name(c)));
      CAPTURE(length);
      FinNode::finalized = 0;
      moss::Heap heap(opts(c));
      make_cycles(heap, length == 10000 ? 1 : 50, length);
      scrub_and_collect(heap);
      scrub_and_collect(heap);
      long expected = length == 10000 ? 10000 : 50L * length;
      CHECK(FinNode::finalized >= expected - 2);
      CHECK(heap.stats().live_objects <= 4);
    }
  }
}

namespace {
[[gnu::noinline]] WeakHolder* make_weak_holder(moss::Heap& heap) {
  WeakHolder* h = moss::make<WeakHolder>(heap);
  h->weak = moss::make<Node>(heap, 1);
  h->strong = moss::make<Node>(heap, 2);
  return h;
}
}  // namespace

TEST_CASE("weak members are cleared when their target dies, kept while it lives") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    moss::Root<WeakHolder> h(heap, make_weak_holder(heap));
    scrub_and_collect(heap);
    CHECK(h->weak.get() == nullptr);
    CHECK(h->strong->value == 2);
    h->weak = h->strong.get();  // weak to a live object
    scrub_and_collect(heap);
    CHECK(h->weak.get() == h->strong.get());
    heap.verify();
  }
}

TEST_CASE("a finalizer runs exactly once, even across many collections") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    FinNode::finalized = 0;
    moss::Heap heap(opts(c));
    make_cycles(heap, 100, 1);
    for (int i = 0; i < 5; ++i) scrub_and_collect(heap);
    CHECK(FinNode::finalized >= 98);
    CHECK(FinNode::finalized <= 100);
    CHECK(heap.stats().finalizers_run == static_cast<std::uint64_t>(FinNode::finalized));
  }
}

TEST_CASE("a list of ten million nodes is marked and freed without recursion") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    {
      // Under MOSS_GC_STRESS (a collection every few allocations) a
      // shorter list keeps the run quadratic but bounded.
      const long n = moss_test::stressed() ? 20'000 : 10'000'000;
      moss::Root<Node> head(heap, make_list(heap, n));
      heap.collect();
      CHECK(heap.stats().live_objects >= static_cast<std::uint64_t>(n));
      CHECK(list_sum(head.get()) == (n - 1) * n / 2);
    }
    scrub_and_collect(heap);
    CHECK(heap.stats().live_objects < 100);
  }
}

TEST_CASE("OutOfMemory at the heap limit leaves the heap consistent and usable") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::HeapOptions o = opts(c);
    o.heap_limit = moss_test::stressed() ? (2u << 20) : (16u << 20);
    moss::Heap heap(o);
    {
      moss::Root<Node> head(heap);
      bool threw = false;
      try {
        for (long i = 0;; ++i) {
          Node* n = moss::make<Node>(heap, i);
          n->right = head.get();
          head = n;
        }
      } catch (const moss::OutOfMemory& e) {
        threw = true;
        CHECK(std::string(e.what()).find("heap limit") != std::string::npos);
      }
      CHECK(threw);
      CHECK(heap.stats().heap_bytes <= o.heap_limit);
      heap.verify();
      CHECK(list_sum(head.get()) > 0);
    }
    scrub_and_collect(heap);
    // Room again: another big list fits.
    const long m = moss_test::stressed() ? 10000 : 100000;
    Node* again = make_list(heap, m);
    CHECK(list_sum(again) == (m - 1) * m / 2);
    heap.verify();
  }
}

namespace {
// Tagged words, as an interpreter's value slots: a reference (an object
// start) or an odd integer, stored with moss::write_word.
constexpr int kWordSlots = 512;
struct Words {
  std::uintptr_t words[kWordSlots];
  void trace(moss::Visitor& v) const {
    for (std::uintptr_t w : words) v.visit_word(w);
  }
};
void store_word(Words* t, int i, std::uintptr_t w) {
  moss::write_word(reinterpret_cast<void**>(&t->words[i]), reinterpret_cast<void*>(w));
}
std::uintptr_t word_of(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }
}  // namespace

TEST_CASE("Heap::write stores through the barrier and checks its arguments") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    moss::Root<Node> holder(heap, moss::make<Node>(heap, 1));
    Node* target = moss::make<Node>(heap, 5);
    heap.write(holder.get(), reinterpret_cast<void**>(const_cast<void**>(holder->left.slot())), target);
    target = nullptr;
    scrub_and_collect(heap);
    CHECK(holder->left->value == 5);
    int local = 0;
    void* slot_outside = &local;
    CHECK_THROWS_AS(heap.write(&local, &slot_outside, nullptr), moss::UsageError);
    CHECK_THROWS_AS(heap.write(holder.get(), &slot_outside, nullptr), moss::UsageError);
    // A tagged integer is not a reference (in a slot traced as a word).
    moss::Root<Words> words(heap, moss::make<Words>(heap));
    heap.write(words.get(), reinterpret_cast<void**>(&words->words[3]), reinterpret_cast<void*>(std::uintptr_t{0x1235}));
    heap.collect();
    CHECK(words->words[3] == 0x1235);
    heap.write(words.get(), reinterpret_cast<void**>(&words->words[3]), nullptr);
    heap.verify();
  }
}

namespace {
// Random stores of references and other words, with collections (and
// incremental marking) running in between; `expect` holds each slot's
// tagged word, or -(value + 1) for a reference to a Counted of that value.
[[gnu::noinline]] void churn_words(moss::Heap& heap, Words* t, std::vector<long>& expect, int steps) {
  std::mt19937 rng(5);
  for (int step = 0; step < steps; ++step) {
    int i = static_cast<int>(rng() % kWordSlots);
    auto& e = expect[static_cast<std::size_t>(i)];
    switch (rng() % 4) {
      case 0:  // a reference to a fresh object
        store_word(t, i, word_of(moss::make<Counted>(heap, step)));
        e = -(step + 1L);
        break;
      case 1: {  // a reference or word copied from another slot
        int j = static_cast<int>(rng() % kWordSlots);
        store_word(t, i, t->words[j]);
        e = expect[static_cast<std::size_t>(j)];
        break;
      }
      case 2: {  // an odd word: small, or in the scope zone where no object starts
        std::uintptr_t w = (step % 2 == 0) ? std::uintptr_t(step) * 2 + 1 : moss::detail::kScopeZoneBase + 2 * step + 1;
        store_word(t, i, w);
        e = static_cast<long>(w);
        break;
      }
      default:
        moss::make<Counted>(heap, 0);  // garbage
    }
  }
}
// Checks every slot against `expect`; returns how many distinct objects
// the slots refer to. (Not inline: no word of it stays in the caller's frame.)
[[gnu::noinline]] std::size_t check_words(moss::Heap& heap, const Words* t, const std::vector<long>& expect) {
  std::set<std::uintptr_t> referenced;
  for (int i = 0; i < kWordSlots; ++i) {
    long e = expect[static_cast<std::size_t>(i)];
    std::uintptr_t w = t->words[i];
    if (e < 0) {
      REQUIRE(heap.find_object(reinterpret_cast<void*>(w)) == reinterpret_cast<void*>(w));
      REQUIRE(reinterpret_cast<Counted*>(w)->value == -e - 1);
      referenced.insert(w);
    } else {
      REQUIRE(w == static_cast<std::uintptr_t>(e));
    }
  }
  return referenced.size();
}
}  // namespace

TEST_CASE("write_word stores references and other words through the barrier") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::HeapOptions o = opts(c);
    o.min_heap_bytes = 1u << 20;
    o.mark_slice_bytes = 4096;
    moss::Heap heap(o);
    moss::Root<Words> table(heap, moss::make<Words>(heap));
    for (int i = 0; i < kWordSlots; ++i) store_word(table.get(), i, 1);
    std::vector<long> expect(kWordSlots, 1);
    std::uint64_t collections_before = heap.stats().collections;
    churn_words(heap, table.get(), expect, 200000);
    CHECK(heap.stats().collections > collections_before);
    scrub_and_collect(heap);
    std::size_t referenced = check_words(heap, table.get(), expect);
    CHECK(referenced > 0);
    heap.verify();
    // Overwriting every reference with a word frees what they held: at
    // once under refcount (no stack holds them), by the next collection
    // under mark-sweep.
    long alive = Counted::alive;
    for (int i = 0; i < kWordSlots; ++i) store_word(table.get(), i, 3);
    scrub_and_collect(heap);
    CHECK(Counted::alive <= alive - static_cast<long>(referenced));
    heap.verify();
  }
}

TEST_CASE("incremental marking with small slices keeps every reachable object under random stores") {
  // Alone, a marking heap's barrier looks at the stored value only; with a
  // refcount heap in the process it goes through the slot's heap: both ways.
  for (bool refcount_heap_too : {false, true}) {
    CAPTURE(refcount_heap_too);
    std::optional<moss::Heap> other;
    if (refcount_heap_too) other.emplace(moss::HeapOptions{.collector = moss::Collector::refcount});
    moss::HeapOptions o;
    o.collector = moss::Collector::mark_sweep;
    o.min_heap_bytes = 1u << 20;
    o.mark_slice_bytes = 4096;
    moss::Heap heap(o);
    const int kSlots = 2000;
    struct Table {
      moss::Member<Node> slots[kSlots];
      void trace(moss::Visitor& v) const {
        for (const auto& s : slots) v.visit(s);
      }
    };
    moss::Root<Table> table(heap, moss::make<Table>(heap));
    std::vector<long> expect(kSlots, -1);
    std::mt19937 rng(11);
    std::uint64_t collections_before = heap.stats().collections;
    // The barrier's threshold: 1 while the heap marks (a store of null,
    // which case 1 makes when slot j is empty, stays a plain store: there is
    // nothing to shade), the maximum otherwise; never 0 here.
    long marking_steps = 0, zero_threshold_steps = 0;
    for (int step = 0; step < 400000; ++step) {
      std::uintptr_t threshold = moss::detail::barrier_threshold.load();
      marking_steps += threshold == 1;
      zero_threshold_steps += threshold == 0;
      int i = static_cast<int>(rng() % kSlots);
      switch (rng() % 4) {
        case 0: {  // fresh object
          table->slots[i] = moss::make<Node>(heap, step);
          expect[static_cast<std::size_t>(i)] = step;
          break;
        }
        case 1: {  // move a reference between slots (old value overwritten)
          int j = static_cast<int>(rng() % kSlots);
          table->slots[i] = table->slots[j].get();
          expect[static_cast<std::size_t>(i)] = expect[static_cast<std::size_t>(j)];
          break;
        }
        case 2: {  // hang a child off a slot's object
          if (table->slots[i]) table->slots[i]->left = moss::make<Node>(heap, -step);
          break;
        }
        default:
          moss::make<Node>(heap, 0);  // garbage
      }
    }
    CHECK(heap.stats().collections > collections_before);
    if (!moss_test::stressed()) CHECK(marking_steps > 0);  // stress collects in one piece
    CHECK(zero_threshold_steps == 0);
    heap.collect();
    for (int i = 0; i < kSlots; ++i) {
      long e = expect[static_cast<std::size_t>(i)];
      if (e < 0) {
        CHECK(table->slots[i].get() == nullptr);
      } else {
        REQUIRE(table->slots[i].get() != nullptr);
        REQUIRE(heap.find_object(table->slots[i].get()) == table->slots[i].get());
        REQUIRE(table->slots[i]->value == e);
        if (table->slots[i]->left) REQUIRE(heap.find_object(table->slots[i]->left.get()) != nullptr);
      }
    }
    heap.verify();
    // Slices, not one pause per cycle (stress mode's full collections aside).
    if (!moss_test::stressed()) CHECK(heap.stats().pauses > heap.stats().collections);
  }
}

namespace {
// A length, then that many Members, traced with visit_array.
struct Slots {
  std::size_t length;
  explicit Slots(std::size_t n) : length(n) {
    for (std::size_t k = 0; k < n; ++k) ::new (static_cast<void*>(slots() + k)) moss::Member<Node>();
  }
  moss::Member<Node>* slots() { return reinterpret_cast<moss::Member<Node>*>(this + 1); }
  const moss::Member<Node>* slots() const { return reinterpret_cast<const moss::Member<Node>*>(this + 1); }
  void trace(moss::Visitor& v) const { v.visit_array(slots(), length); }
};
}  // namespace

TEST_CASE("a long array of references is marked a piece per slice, and everything it holds is kept") {
  moss::HeapOptions o;
  o.collector = moss::Collector::mark_sweep;
  o.min_heap_bytes = 1u << 20;
  o.mark_slice_bytes = 4096;
  moss::Heap heap(o);
  const std::size_t n = std::size_t{1} << 17;
  moss::Root<Slots> array(heap, moss::make_trailing<Slots>(heap, n * sizeof(moss::Member<Node>), n));
  moss::Root<Node> shared(heap, moss::make<Node>(heap, -1));
  std::vector<long> expect(n, -1);
  for (std::size_t k = 0; k < n; k += 97) {
    array->slots()[k] = moss::make<Node>(heap, static_cast<long>(k));
    expect[k] = static_cast<long>(k);
  }
  for (std::size_t k = 0; k < n; ++k) {
    if (expect[k] < 0) array->slots()[k] = shared.get();
  }
  moss::HeapStats before = heap.stats();
  std::mt19937 rng(5);
  // Garbage drives the cycles; stores into random slots land in pieces
  // already traced and in pieces still to come.
  for (int step = 0; heap.stats().collections < before.collections + 3 && step < 20'000'000; ++step) {
    moss::make<Node>(heap, 0);
    if (step % 64 == 0) {
      std::size_t k = rng() % n;
      array->slots()[k] = moss::make<Node>(heap, static_cast<long>(n + static_cast<std::size_t>(step)));
      expect[k] = static_cast<long>(n + static_cast<std::size_t>(step));
    }
  }
  moss::HeapStats after = heap.stats();
  REQUIRE(after.collections >= before.collections + 3);
  // Taken in pieces, the array spreads over many 4 KiB slices (about 240
  // a cycle here); traced whole it takes one (about 26 slices a cycle in
  // all).
  if (!moss_test::stressed()) {
    CHECK((after.pauses - before.pauses) / (after.collections - before.collections) > 100);
  }
  heap.collect();
  for (std::size_t k = 0; k < n; ++k) {
    const Node* t = array->slots()[k].get();
    REQUIRE(t != nullptr);
    REQUIRE(heap.find_object(t) == t);
    REQUIRE(t->value == expect[k]);
  }
  heap.verify();
}

TEST_CASE("collection statistics and pauses are reported") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    Node* keep = make_list(heap, 10000);
    make_garbage_counted(heap, 100000);
    scrub_and_collect(heap);
    moss::HeapStats s = heap.stats();
    CHECK(s.collections >= 2);
    CHECK(s.pauses >= 1);
    CHECK(s.pause_max_us >= s.pause_p99_us);
    CHECK(s.pause_p99_us >= s.pause_p50_us);
    CHECK(s.live_objects >= 10000);
    CHECK(s.live_bytes >= 10000 * sizeof(Node));
    CHECK(s.allocated_objects >= 110000);
    CHECK(s.freed_objects >= 99000);
    CHECK(list_sum(keep) == 9999L * 10000 / 2);
  }
}

TEST_CASE("MOSS_GC picks the collector and rejects unknown names") {
  setenv("MOSS_GC", "rc", 1);
  CHECK(moss::collector_from_env() == moss::Collector::refcount);
  setenv("MOSS_GC", "ms", 1);
  CHECK(moss::collector_from_env() == moss::Collector::mark_sweep);
  setenv("MOSS_GC", "bogus", 1);
  CHECK_THROWS_AS(moss::collector_from_env(), moss::UsageError);
  unsetenv("MOSS_GC");
  CHECK(moss::collector_from_env(moss::Collector::refcount) == moss::Collector::refcount);
}

namespace {
// The collections of a heap made with options `o` and `var`=`value` in the
// environment, while it keeps about 2 MiB live and 400,000 objects die.
std::uint64_t collections_under_env(const char* var, const char* value, const moss::HeapOptions& o) {
  setenv(var, value, 1);
  moss::Heap heap(o);
  unsetenv(var);
  Node* keep = make_list(heap, 40000);
  make_garbage_counted(heap, 400000);
  CHECK(list_sum(keep) == 39999L * 40000 / 2);
  return heap.stats().collections;
}
// Each of `bad` as the value of `var` makes creating a heap a UsageError.
void check_env_rejects(const char* var, std::initializer_list<const char*> bad) {
  for (const char* value : bad) {
    CAPTURE(value);
    setenv(var, value, 1);
    CHECK_THROWS_AS(moss::Heap(), moss::UsageError);
  }
  unsetenv(var);
}
}  // namespace

TEST_CASE("MOSS_GC_PERCENT sets the pacing of heaps that collect automatically") {
  moss::HeapOptions small_heap;
  small_heap.min_heap_bytes = 1u << 20;
  std::uint64_t tight = collections_under_env("MOSS_GC_PERCENT", "25", small_heap);
  std::uint64_t loose = collections_under_env("MOSS_GC_PERCENT", "800", small_heap);
  CAPTURE(tight);
  CAPTURE(loose);
  if (!moss_test::stressed()) CHECK(tight > 2 * loose);
  // A heap that turned automatic collection off is left alone.
  setenv("MOSS_GC_PERCENT", "25", 1);
  {
    moss::HeapOptions o;
    o.gc_percent = -1;
    moss::Heap heap(o);
    make_garbage_counted(heap, 100000);
    CHECK(heap.stats().collections == 0);
  }
  check_env_rejects("MOSS_GC_PERCENT", {"abc", "-5", "12x", "1000001"});
}

TEST_CASE("MOSS_MIN_HEAP_MIB sets where collection starts and refcount's nursery") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    std::uint64_t small = collections_under_env("MOSS_MIN_HEAP_MIB", "1", opts(c));
    std::uint64_t large = collections_under_env("MOSS_MIN_HEAP_MIB", "64", opts(c));
    CAPTURE(small);
    CAPTURE(large);
    if (!moss_test::stressed()) CHECK(small > 2 * large);
  }
  check_env_rejects("MOSS_MIN_HEAP_MIB", {"0", "abc", "-5", "12x", "1048577"});
}

TEST_CASE("stress mode collects every N allocations") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::HeapOptions o = opts(c);
    o.stress_every = 100;
    moss::Heap heap(o);
    Node* keep = make_list(heap, 2000);
    CHECK(heap.stats().collections >= 19);
    CHECK(list_sum(keep) == 1999L * 2000 / 2);
    heap.verify();
  }
}

namespace {

[[gnu::noinline]] void peak_and_drop(moss::Heap& heap, long n) {
  moss::Root<Node> peak(heap, make_list(heap, n));
  CHECK(peak->value == n - 1);
}

[[gnu::noinline]] void churn(moss::Heap& heap, long n) {
  for (long i = 0; i < n; ++i) moss::make<Node>(heap, i);
}

// The collections that `garbage` short-lived nodes cost a heap of 1000 live
// nodes after a transient peak of 600,000 (and a full collection).
std::uint64_t collections_after_peak(bool retain_peak, bool release) {
  moss::HeapOptions o;
  o.retain_peak = retain_peak;
  moss::Heap heap(o);
  moss::Root<Node> keep(heap, make_list(heap, 1000));
  peak_and_drop(heap, 600000);
  scrub_and_collect(heap);
  if (release) heap.release_memory();
  std::uint64_t before = heap.stats().collections;
  churn(heap, 2000000);
  std::uint64_t n = heap.stats().collections - before;
  long sum = 0;
  for (Node* x = keep.get(); x != nullptr; x = x->right) sum += x->value;
  CHECK(sum == 999 * 1000 / 2);
  heap.verify();
  return n;
}

}  // namespace

TEST_CASE("retain_peak: after a transient peak a heap collects as rarely as at the peak, until release_memory") {
  moss_test::WithoutEnv env("MOSS_RETAIN_PEAK");
  if (moss_test::stressed()) return;  // collections every N allocations: nothing to compare
  std::uint64_t live_paced = collections_after_peak(false, false);
  std::uint64_t retained = collections_after_peak(true, false);
  std::uint64_t released = collections_after_peak(true, true);
  CAPTURE(live_paced);
  CAPTURE(retained);
  CAPTURE(released);
  CHECK(retained > 0);
  CHECK(retained * 2 < live_paced);  // the peak held about 600 times the live data
  CHECK(released * 2 > live_paced);  // paced by live data again
}

TEST_CASE("MOSS_RETAIN_PEAK turns peak retention on or off and rejects other values") {
  moss_test::WithoutEnv env("MOSS_RETAIN_PEAK");
  if (moss_test::stressed()) return;
  setenv("MOSS_RETAIN_PEAK", "0", 1);
  std::uint64_t off = collections_after_peak(true, false);  // the environment wins over the option
  setenv("MOSS_RETAIN_PEAK", "1", 1);
  std::uint64_t on = collections_after_peak(false, false);
  CHECK(on * 2 < off);
  setenv("MOSS_RETAIN_PEAK", "maybe", 1);
  CHECK_THROWS_AS(moss::Heap(moss::HeapOptions{}), moss::UsageError);
  unsetenv("MOSS_RETAIN_PEAK");
}
