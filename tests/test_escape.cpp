// tests/test_escape.cpp — local scopes: what is reclaimed at scope exit,
// each route by which an object escapes (and keeps what it reaches alive),
// nesting, coroutines, misuse, allocation-site profiles and the sampling
// allocation hook, under every collector.
//
// Pointers to scope-local objects are made and dropped inside non-inlined
// helpers, below the scope object's frame: debug builds treat a pointer
// found above the scope object at its exit as a broken contract and keep the
// object.
#include <doctest/doctest.h>

#include <moss/moss.hpp>

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

#include "runtime/barrier.hpp"
#include "support.hpp"

using moss_test::collectors;
using moss_test::FinNode;
using moss_test::Node;
using moss_test::scrub_and_collect;

namespace {

moss::HeapOptions opts(moss::Collector c) {
  moss::HeapOptions o;
  o.collector = c;
  return o;
}

bool stress_mode() {
  const char* s = std::getenv("MOSS_GC_STRESS");
  return s != nullptr && *s != '\0' && *s != '0';
}

struct Blob {
  long words[6];
};

// Builds `lists` local lists of `length` nodes each, plus `fins` finalizable
// nodes; returns the sum of the list values (all in the scope).
[[gnu::noinline]] long fill_scope(moss::LocalScope& scope, int lists, int length, int fins) {
  long sum = 0;
  for (int l = 0; l < lists; ++l) {
    Node* head = nullptr;
    for (int i = 0; i < length; ++i) {
      Node* n = scope.make<Node>(i);
      n->right = head;
      head = n;
    }
    for (Node* n = head; n != nullptr; n = n->right) sum += n->value;
  }
  for (int i = 0; i < fins; ++i) scope.make<FinNode>(i);
  for (int i = 0; i < 10; ++i) scope.make<Blob>();
  return sum;
}

// A local chain of three nodes with values v, v+1, v+2 (head first).
[[gnu::noinline]] Node* local_chain(moss::LocalScope& scope, long v) {
  Node* a = scope.make<Node>(v);
  a->left = scope.make<Node>(v + 1);
  a->left->left = scope.make<Node>(v + 2);
  return a;
}

long chain_sum(const Node* n) {
  long s = 0;
  for (; n != nullptr; n = n->left) s += n->value;
  return s;
}

[[gnu::noinline]] void store_into_heap(moss::LocalScope& scope, Node* holder) {
  holder->left = local_chain(scope, 10);
  fill_scope(scope, 1, 20, 0);  // garbage beside it
}

[[gnu::noinline]] void make_rooted(moss::LocalScope& scope, moss::Root<Node>& root) {
  root = local_chain(scope, 20);
  fill_scope(scope, 1, 20, 0);
}

[[gnu::noinline]] Node* escape_explicitly(moss::Heap& heap, moss::LocalScope& scope) {
  fill_scope(scope, 1, 20, 0);
  return moss::escape(heap, local_chain(scope, 30));
}

// Inside an open outer scope: an inner scope's chain stored into an outer
// object escapes, survives collections while the outer scope is open, and
// the outer object itself is reclaimed when the outer scope ends.
[[gnu::noinline]] long through_outer_object(moss::Heap& heap, moss::LocalScope& outer) {
  Node* o = outer.make<Node>(1);
  {
    moss::LocalScope inner(heap);
    o->left = local_chain(inner, 40);
    fill_scope(inner, 1, 10, 0);
  }
  scrub_and_collect(heap);
  return chain_sum(o->left);
}

[[gnu::noinline]] void hand_to_coroutine(moss::LocalScope& scope, moss::Coroutine& co) {
  co.resume(local_chain(scope, 50));
}

[[gnu::noinline]] long hold_across_yield(moss::LocalScope& scope, moss::Yield& yield) {
  Node* chain = local_chain(scope, 70);
  yield();
  return chain_sum(chain);
}

[[gnu::noinline, maybe_unused]] void leave_pointer_above(moss::Heap& heap, Node** slot) {
  moss::LocalScope scope(heap);
  *slot = local_chain(scope, 60);
}

[[gnu::noinline]] void* site_allocation(moss::Heap& heap, moss::AllocSite& site) {
  return heap.allocate(moss::type_index<Blob>(), sizeof(Blob), site);
}

[[gnu::noinline]] void site_round(moss::Heap& heap, moss::AllocSite& site, int n, int escape_every) {
  moss::LocalScope scope(heap);
  for (int i = 0; i < n; ++i) {
    void* p = site_allocation(heap, site);
    if (escape_every != 0 && i % escape_every == 0) moss::escape(heap, p);
  }
}

const moss::SiteProfile* find_site(const std::vector<moss::SiteProfile>& profile, const std::string& name) {
  for (const moss::SiteProfile& p : profile) {
    if (name == p.name) return &p;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("objects that do not escape are reclaimed at scope exit without a collection") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    moss::HeapStats before = heap.stats();
    long finalized = FinNode::finalized;
    long sum = 0;
    {
      moss::LocalScope scope(heap);
      // (Checked after the scope closes: a check copies its expression's
      // text through stack buffers that can carry stale words of
      // fill_scope's frames up into this one, above the scope object,
      // where the scope's exit looks for pointers that outlive it.)
      sum = fill_scope(scope, 10, 100, 50);
    }
    CHECK(sum == 10 * (99 * 100 / 2));
    moss::HeapStats after = heap.stats();
    std::uint64_t made = 10 * 100 + 50 + 10;
    CHECK(after.local_objects - before.local_objects == made);
    // Nothing escapes, unless a debug build's exit check finds a stale
    // word above the scope that points at one of its objects (an earlier
    // iteration's, say, whose memory this scope reuses): it keeps that
    // object and what it reaches, and says so (local_rescued). The rest
    // are reclaimed.
    std::uint64_t escaped = after.local_escaped - before.local_escaped;
    if (after.local_rescued == before.local_rescued) CHECK(escaped == 0);
    CHECK(escaped <= made / 10);
    CHECK(after.local_reclaimed - before.local_reclaimed == made - escaped);
    CHECK(after.freed_objects - before.freed_objects == made - escaped);
    if (escaped == 0) CHECK(FinNode::finalized - finalized == 50);
    if (!stress_mode()) CHECK(after.collections == before.collections);
    heap.verify();
  }
}

TEST_CASE("a scope reuses its spans: repeated scopes do not grow the heap") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    {
      moss::LocalScope scope(heap);
      fill_scope(scope, 4, 100, 0);
    }
    std::size_t bytes = heap.stats().heap_bytes;
    for (int round = 0; round < 200; ++round) {
      moss::LocalScope scope(heap);
      fill_scope(scope, 4, 100, 0);
    }
    CHECK(heap.stats().heap_bytes == bytes);
    CHECK(heap.stats().local_reclaimed == 201u * (400 + 10));
  }
}

namespace {
// Opens a scope, makes one node and returns where it was put (the scope
// reclaims it on the way out), complemented: a plain pointer still in a
// register at the scope's exit would be kept by the debug builds' check.
[[gnu::noinline]] std::uintptr_t first_slot_of_a_scope(moss::Heap& heap) {
  moss::LocalScope scope(heap);
  return ~reinterpret_cast<std::uintptr_t>(scope.make<Node>(1));
}

// Nested scopes `depth` deep, each making `per_scope` nodes; at `escape_at`
// (0: none) the innermost scope's first node escapes into `keep`. Returns
// the sum of the values seen, all checked on the way.
[[gnu::noinline]] long nested_rounds(moss::Heap& heap, int depth, int per_scope, int escape_at,
                                     moss::Root<Node>& keep) {
  if (depth == 0) return 0;
  moss::LocalScope scope(heap);
  Node* head = nullptr;
  for (int i = 0; i < per_scope; ++i) {
    Node* n = scope.make<Node>(depth * 1000 + i);
    n->left = head;
    head = n;
  }
  long inner = nested_rounds(heap, depth - 1, per_scope, escape_at, keep);
  if (depth == 1 && escape_at != 0) keep = head;
  long sum = inner;
  for (Node* n = head; n != nullptr; n = n->left) sum += n->value;
  return sum;
}
}  // namespace

TEST_CASE("a closed scope's emptied span waits for its record: the next scope starts where the last one did") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    std::uintptr_t first = first_slot_of_a_scope(heap);
    std::size_t bytes = heap.stats().heap_bytes;
    for (int round = 0; round < 50; ++round) CHECK(first_slot_of_a_scope(heap) == first);
    CHECK(heap.stats().heap_bytes == bytes);
    CHECK(heap.stats().local_reclaimed == 51);
    heap.verify();
  }
}

TEST_CASE("scope records nested deeper than the span pool, with escapes between, keep spans and objects sound") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    moss::Root<Node> keep(heap);
    long expected_escaped_sum = 0;
    for (int round = 0; round < 40; ++round) {
      CAPTURE(round);
      int depth = 1 + round % 5;          // 1..5 records: more than the pool keeps per class
      int per_scope = 1 + (round * 37) % 300;  // from one object to more than a span holds
      int escape_at = round % 3 == 0 ? 1 : 0;
      long want = 0;
      for (int d = 1; d <= depth; ++d) {
        for (int i = 0; i < per_scope; ++i) want += d * 1000 + i;
      }
      CHECK(nested_rounds(heap, depth, per_scope, escape_at, keep) == want);
      if (escape_at != 0) {
        expected_escaped_sum = 0;
        for (int i = 0; i < per_scope; ++i) expected_escaped_sum += 1000 + i;
        long got = 0;
        for (Node* n = keep.get(); n != nullptr; n = n->left) got += n->value;
        CHECK(got == expected_escaped_sum);
      }
      if (round % 7 == 0) scrub_and_collect(heap);
      heap.verify();
    }
    long got = 0;
    for (Node* n = keep.get(); n != nullptr; n = n->left) got += n->value;
    CHECK(got == expected_escaped_sum);
  }
}

namespace {
// One scope: makes `n` Blobs of every size from 48 to 48 + 16 * (kinds - 1)
// bytes, checks each comes zeroed, fills each with 0xA5, and frees every
// `free_every`-th one on the spot (0: none). Returns the non-zero bytes seen.
[[gnu::noinline]] long dirty_scope(moss::Heap& heap, int n, int kinds, int free_every) {
  long nonzero = 0;
  moss::LocalScope scope(heap);
  for (int i = 0; i < n; ++i) {
    std::size_t bytes = sizeof(Blob) + 16 * static_cast<std::size_t>(i % kinds);
    auto* p = static_cast<unsigned char*>(scope.allocate(moss::type_index<Blob>(), bytes));
    for (std::size_t b = 0; b < bytes; ++b) nonzero += p[b] != 0;
    std::memset(p, 0xA5, bytes);
    if (free_every != 0 && i % free_every == 0) heap.free(p);
  }
  return nonzero;
}
}  // namespace

TEST_CASE("scope memory comes back zeroed however the last scope left it") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    long nonzero = 0;
    for (int round = 0; round < 30; ++round) {
      int n = 1 + (round * 53) % 700;  // within a cache word, across words, across spans
      nonzero += dirty_scope(heap, n, 1 + round % 4, round % 3 == 1 ? 5 : 0);
    }
    CHECK(nonzero == 0);
    heap.verify();
  }
}

TEST_CASE("a heap keeps the barrier on between scopes and lets go once it allocates without one") {
  // Mark-sweep only: a refcount heap holds the barrier for its own sake.
  moss::HeapOptions o = opts(moss::Collector::mark_sweep);
  o.gc_percent = -1;  // no marking (which turns the barrier on) meanwhile
  const std::uint32_t idle = moss::detail::scope_barrier_users.load();
  {
    moss::Heap heap(o);
    CHECK(moss::detail::scope_barrier_users.load() == idle);
    {
      moss::LocalScope scope(heap);
      CHECK(moss::detail::scope_barrier_users.load() == idle + 1);
      fill_scope(scope, 2, 10, 0);
    }
    // Closing the last scope keeps the hold (a scope reopened soon pays no
    // atomic update), and a new scope reuses it.
    CHECK(moss::detail::scope_barrier_users.load() == idle + 1);
    {
      moss::LocalScope scope(heap);
      CHECK(moss::detail::scope_barrier_users.load() == idle + 1);
    }
    // Heap allocation past a span with no scope open gives it back.
    for (int i = 0; i < 20000; ++i) moss::make<Node>(heap, i);
    CHECK(moss::detail::scope_barrier_users.load() == idle);
    {
      moss::LocalScope scope(heap);
      CHECK(moss::detail::scope_barrier_users.load() == idle + 1);
    }
  }
  // A heap that dies holding it gives it back too.
  CHECK(moss::detail::scope_barrier_users.load() == idle);
}

TEST_CASE("with only local scopes open, the barrier's test passes ordinary objects and null and stops scope-local ones") {
  moss::HeapOptions o = opts(moss::Collector::mark_sweep);
  o.gc_percent = -1;  // no marking (which sends every store to the slow path)
  moss::Heap heap(o);
  Node* ordinary = moss::make<Node>(heap, 1);
  const std::uintptr_t floor = moss::detail::scope_zone_floor();
  CHECK_FALSE(moss::detail::needs_slow_barrier(ordinary));
  CHECK_FALSE(moss::detail::needs_slow_barrier(nullptr));
  {
    moss::LocalScope scope(heap);
    Node* local = scope.make<Node>(2);
    auto* big = scope.make_trailing<Node>(100000, 3);  // a large scope span
    CHECK(moss::detail::barrier_threshold.load() == floor);
    CHECK(moss::detail::needs_slow_barrier(local));
    CHECK(moss::detail::needs_slow_barrier(big));
    if (floor != 0) {
      // The scope zone: scope spans at or above the floor, ordinary arenas
      // (placed from kHeapZoneBase up) below it.
      CHECK(reinterpret_cast<std::uintptr_t>(local) >= floor);
      CHECK(reinterpret_cast<std::uintptr_t>(big) >= floor);
      if (MOSS_TEST_PLACEMENT_HINTS) {
        CHECK(reinterpret_cast<std::uintptr_t>(ordinary) < floor);
        CHECK_FALSE(moss::detail::needs_slow_barrier(ordinary));
      }
      CHECK_FALSE(moss::detail::needs_slow_barrier(nullptr));
    } else {
      // No scope zone (MOSS_SCOPE_ZONE=off): every store takes the slow path.
      CHECK(moss::detail::needs_slow_barrier(ordinary));
      CHECK(moss::detail::needs_slow_barrier(nullptr));
    }
    // Either way the slow path tells them apart: the ordinary store stays
    // plain and the local one escapes.
    ordinary->left = ordinary;
    CHECK(moss::detail::is_scope_local(local));
    ordinary->right = local;
    CHECK_FALSE(moss::detail::is_scope_local(local));
  }
  CHECK(heap.stats().local_escaped >= 1);
}

TEST_CASE("a local object stored into a heap object escapes with the local objects it reaches") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    moss::Root<Node> holder(heap, moss::make<Node>(heap, 0));
    moss::HeapStats before = heap.stats();
    {
      moss::LocalScope scope(heap);
      store_into_heap(scope, holder.get());
    }
    moss::HeapStats after = heap.stats();
    CHECK(after.local_escaped - before.local_escaped == 3);
    CHECK(after.local_reclaimed - before.local_reclaimed == 20 + 10);
    for (int i = 0; i < 3; ++i) {
      scrub_and_collect(heap);
      moss::make<Node>(heap, 99);  // reuse freed memory if anything was wrongly freed
      CHECK(chain_sum(holder->left) == 10 + 11 + 12);
    }
    heap.verify();
    // Once dropped, the escaped objects are ordinary garbage.
    holder->left = nullptr;
    scrub_and_collect(heap);
    heap.verify();
  }
}

namespace {
// Makes and frees `n` local nodes one at a time, then one that escapes into
// `holder`; returns the sum of the freed nodes' values.
[[gnu::noinline]] long churn_local(moss::Heap& heap, moss::LocalScope& scope, int n, Node* holder) {
  long sum = 0;
  int local = 0;
  for (int i = 0; i < n; ++i) {
    Node* t = scope.make<Node>(i);
    local += moss::is_local(t) ? 1 : 0;
    sum += t->value;
    heap.free(t);
  }
  CHECK(local == n);
  Node* kept = scope.make<Node>(7);
  CHECK(moss::is_local(kept));
  holder->left = kept;
  CHECK_FALSE(moss::is_local(kept));
  return sum;
}
}  // namespace

TEST_CASE("is_local tells live scope-local objects apart, and one freed early gives its scope the memory back") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    moss::Root<Node> holder(heap, moss::make<Node>(heap, 0));
    CHECK_FALSE(moss::is_local(holder.get()));
    constexpr int kNodes = 100000;
    moss::HeapStats before = heap.stats();
    {
      moss::LocalScope scope(heap);
      CHECK(churn_local(heap, scope, kNodes, holder.get()) == long{kNodes} * (kNodes - 1) / 2);
      // Each node took the slot the one before gave back: a span's worth
      // of memory at most, not the 100,000 nodes'.
      CHECK(heap.stats().heap_bytes - before.heap_bytes <= 64 * 1024);
    }
    moss::HeapStats after = heap.stats();
    CHECK(after.local_escaped - before.local_escaped == 1);
    CHECK(after.local_reclaimed - before.local_reclaimed == kNodes);  // freed while local
    CHECK(after.freed_objects - before.freed_objects >= kNodes);
    for (int i = 0; i < 2; ++i) {
      scrub_and_collect(heap);
      moss::make<Node>(heap, 99);
      REQUIRE(holder->left != nullptr);
      CHECK(holder->left->value == 7);
    }
    heap.verify();
  }
}

namespace {
// A local holder whose weak slot names a local node, which is then freed:
// returns whether the slot reads null afterwards.
[[gnu::noinline]] bool weak_to_freed_local(moss::Heap& heap, moss::LocalScope& scope) {
  auto* holder = scope.make<moss_test::WeakHolder>();
  Node* target = scope.make<Node>(5);
  holder->weak = target;
  CHECK(moss::is_local(target));
  heap.free(target);
  scope.make<Node>(6);  // may reuse the slot
  return holder->weak.get() == nullptr;
}
}  // namespace

TEST_CASE("under refcount, a weak slot naming a local object freed early is cleared") {
  moss::Heap heap(opts(moss::Collector::refcount));
  moss::HeapStats before = heap.stats();
  {
    moss::LocalScope scope(heap);
    CHECK(weak_to_freed_local(heap, scope));
  }
  CHECK(heap.stats().local_reclaimed - before.local_reclaimed == 3);
  scrub_and_collect(heap);
  heap.verify();
}

TEST_CASE("a local object stored into an outer scope's object escapes") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    moss::HeapStats before = heap.stats();
    {
      moss::LocalScope outer(heap);
      CHECK(through_outer_object(heap, outer) == 40 + 41 + 42);
      CHECK(heap.stats().local_escaped - before.local_escaped == 3);
    }
    moss::HeapStats after = heap.stats();
    CHECK(after.local_reclaimed - before.local_reclaimed == 10 + 10 + 1);
    scrub_and_collect(heap);
    heap.verify();
  }
}

TEST_CASE("stores between objects of one scope keep them local, unless the holder escaped") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    moss::Root<Node> keep(heap);
    moss::HeapStats before = heap.stats();
    {
      moss::LocalScope scope(heap);
      Node* a = scope.make<Node>(1);
      Node* b = scope.make<Node>(2);
      Node* c2 = scope.make<Node>(3);
      a->left = b;  // same scope, same span: nothing escapes
      b->left = c2;
      c2->left = a;  // a cycle inside the scope
      CHECK(heap.stats().local_escaped == before.local_escaped);
      {
        moss::LocalScope inner(heap);
        Node* d = inner.make<Node>(4);
        d->left = a;  // an outer scope's object into an inner one's: stays
        CHECK(heap.stats().local_escaped == before.local_escaped);
      }
      // An escaped object shares its span with local ones; a local object
      // stored into it escapes too (the span-level shortcut must not say
      // otherwise).
      Node* e = scope.make<Node>(5);
      Node* f = scope.make<Node>(6);
      keep = e;
      std::uint64_t escaped = heap.stats().local_escaped;
      CHECK(escaped == before.local_escaped + 1);
      e->right = f;
      CHECK(heap.stats().local_escaped == escaped + 1);
      CHECK(heap.find_object(f) == f);
    }
    scrub_and_collect(heap);
    REQUIRE(keep.get() != nullptr);
    CHECK(keep->value == 5);
    REQUIRE(keep->right.get() != nullptr);
    CHECK(keep->right->value == 6);
    heap.verify();
  }
}

TEST_CASE("a Root makes its local target escape") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    moss::Root<Node> root(heap);
    {
      moss::LocalScope scope(heap);
      make_rooted(scope, root);
    }
    CHECK(heap.stats().local_escaped == 3);
    for (int i = 0; i < 2; ++i) {
      scrub_and_collect(heap);
      moss::make<Node>(heap, 99);
      CHECK(chain_sum(root.get()) == 20 + 21 + 22);
    }
    heap.verify();
  }
}

TEST_CASE("moss::escape keeps an object and what it reaches past its scope") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    moss::Root<Node> keep(heap);
    {
      moss::LocalScope scope(heap);
      keep = escape_explicitly(heap, scope);
    }
    CHECK(heap.stats().local_escaped == 3);
    CHECK(heap.stats().local_reclaimed == 20 + 10);
    scrub_and_collect(heap);
    CHECK(chain_sum(keep.get()) == 30 + 31 + 32);
    CHECK_THROWS_AS(moss::escape(heap, reinterpret_cast<Node*>(&keep)), moss::UsageError);
    heap.verify();
  }
}

TEST_CASE("a suspended coroutine holding a local object makes it escape at scope exit") {
  // doctest swaps its own SIGSEGV handler in around each case; stack growth
  // needs moss's in front.
  moss::reinstall_stack_fault_handler();
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    long seen = 0;
    moss::Coroutine co(heap, [&seen](moss::Yield& yield) {
      auto* held = static_cast<Node*>(yield.received());
      yield();
      seen = chain_sum(held);
    });
    {
      moss::LocalScope scope(heap);
      hand_to_coroutine(scope, co);
    }
    CHECK(heap.stats().local_escaped == 3);
    scrub_and_collect(heap);
    moss::make<Node>(heap, 99);
    co.resume();
    CHECK(co.done());
    CHECK(seen == 50 + 51 + 52);
    heap.verify();
  }
}

TEST_CASE("a scope opened inside a coroutine survives suspension and is reclaimed at its exit") {
  // doctest swaps its own SIGSEGV handler in around each case; stack growth
  // needs moss's in front.
  moss::reinstall_stack_fault_handler();
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    long sum = 0;
    moss::Coroutine co(heap, [&heap, &sum](moss::Yield& yield) {
      moss::LocalScope scope(heap);
      sum = hold_across_yield(scope, yield);
    });
    co.resume();
    scrub_and_collect(heap);
    moss::make<Node>(heap, 99);
    co.resume();
    CHECK(co.done());
    CHECK(sum == 70 + 71 + 72);
    CHECK(heap.stats().local_reclaimed == 3);
    CHECK(heap.stats().local_escaped == 0);
  }
}

TEST_CASE("nested scopes reclaim innermost first, each at its own exit") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    {
      moss::LocalScope outer(heap);
      fill_scope(outer, 1, 10, 0);
      {
        moss::LocalScope inner(heap);
        fill_scope(inner, 1, 30, 0);
        {
          moss::LocalScope innermost(heap);
          fill_scope(innermost, 1, 5, 0);
        }
        CHECK(heap.stats().local_reclaimed == 15);
      }
      CHECK(heap.stats().local_reclaimed == 15 + 40);
    }
    CHECK(heap.stats().local_reclaimed == 15 + 40 + 20);
    CHECK(heap.stats().local_escaped == 0);
  }
}

// Kept out of the test's frame, so no copy of the heap object's pointer
// stays there for the stack scan to find.
[[gnu::noinline]] void attach_left(moss::Heap& heap, Node* holder, long v) { holder->left = moss::make<Node>(heap, v); }
[[gnu::noinline]] long left_value(Node* n) { return n->left->value; }
[[gnu::noinline]] void drop_left(Node* n) { n->left = nullptr; }
// A local list of 100 nodes in `scope` (99 links inside it), each made
// before the next (so a scope that reclaims in allocation order meets every
// holder before what it holds), whose tail refers to `holder`'s left object
// and to `outside`.
[[gnu::noinline]] void list_reaching_out(moss::LocalScope& scope, Node* holder, Node* outside) {
  Node* tail = scope.make<Node>(0);
  for (int i = 1; i < 100; ++i) {
    Node* n = scope.make<Node>(i);
    tail->right = n;
    tail = n;
  }
  tail->left = holder->left;
  tail->right = outside;
}

// Moves holder's left object into keeper (a local object), out of the
// test's frame.
[[gnu::noinline]] void move_left(Node* holder, Node* keeper) {
  keeper->left = holder->left;
  holder->left = nullptr;
}
// Makes a heap object held only by keeper's right slot.
[[gnu::noinline]] void attach_right(moss::Heap& heap, Node* keeper, long v) { keeper->right = moss::make<Node>(heap, v); }
[[gnu::noinline]] bool live_with_value(moss::Heap& heap, Node* n, long v) {
  return n != nullptr && heap.find_object(n) == n && n->value == v;
}

TEST_CASE("under refcount, local objects count nothing, and what they refer to lives as long as they do") {
  moss::Heap heap(opts(moss::Collector::refcount));
  moss::Root<Node> holder(heap, moss::make<Node>(heap, 0));
  attach_left(heap, holder.get(), 7);  // a heap object with one counted reference
  scrub_and_collect(heap);             // nothing young is left to promote below
  moss::HeapStats before = heap.stats();
  {
    moss::LocalScope outer(heap);
    Node* outer_node = outer.make<Node>(1);
    {
      moss::LocalScope inner(heap);
      list_reaching_out(inner, holder.get(), outer_node);
    }
    moss::HeapStats after_inner = heap.stats();
    // Stores into local objects counted nothing, so closing gives nothing back.
    CHECK(after_inner.rc_increments == before.rc_increments);
    CHECK(after_inner.rc_decrements == before.rc_decrements);
    CHECK(after_inner.local_reclaimed - before.local_reclaimed == 100);
  }
  CHECK(heap.stats().local_escaped == 0);
  scrub_and_collect(heap);
  CHECK(left_value(holder.get()) == 7);  // its count is still right

  // An old heap object whose only reference is now a local object's slot,
  // and a young one made for a local object's slot, survive collections
  // while the scope is open: local objects are scanned like stack frames.
  std::uint64_t freed = 0;
  {
    moss::LocalScope scope(heap);
    Node* keeper = scope.make<Node>(0);
    move_left(holder.get(), keeper);
    attach_right(heap, keeper, 8);
    for (int i = 0; i < 3; ++i) {
      scrub_and_collect(heap);
      CHECK(live_with_value(heap, keeper->left, 7));
      CHECK(live_with_value(heap, keeper->right, 8));
    }
    heap.verify();
    freed = heap.stats().freed_objects;
  }
  CHECK(heap.stats().local_escaped == 0);
  // Once the scope has gone (its keeper with it), nothing refers to them.
  scrub_and_collect(heap);
  // (Stress mode collects in the middle of everything, which can leave a
  // stale copy of a pointer where the stack scan finds it.)
  if (!moss_test::stressed()) CHECK(heap.stats().freed_objects - freed == 1 + 2);
  heap.verify();
}

TEST_CASE("under refcount, stores into a scope span that refers to the heap are plain until one of its objects escapes") {
  moss::Heap heap(opts(moss::Collector::refcount));
  // Without the scope zone every store takes the slow path (threshold 0).
  bool zone = moss::detail::scope_zone_floor() != 0;
  moss::Root<Node> target(heap, moss::make<Node>(heap, 9));
  scrub_and_collect(heap);
  const void* slot = nullptr;
  {
    moss::LocalScope scope(heap);
    Node* a = scope.make<Node>(1);
    Node* b = scope.make<Node>(2);  // beside a, in the same span
    slot = b->right.slot();
    if (zone) CHECK(moss::detail::counted_slot(slot));  // nothing from the heap in the span yet
    a->left = target.get();                             // now the span refers out
    if (zone) CHECK_FALSE(moss::detail::counted_slot(slot));
    b->right = target.get();  // a plain store, which the reconciliations see all the same
    for (int i = 0; i < 2; ++i) {
      scrub_and_collect(heap);
      CHECK(live_with_value(heap, b->right, 9));
    }
    heap.verify();
    moss::escape(heap, b);  // b is a heap object now: stores into its span count again
    if (zone) CHECK(moss::detail::counted_slot(slot));
    b->left = target.get();
    scrub_and_collect(heap);
    CHECK(live_with_value(heap, b->left, 9));
    heap.verify();
  }
  {
    // The next scope reuses the span, and starts with nothing plain.
    moss::LocalScope scope(heap);
    Node* c = scope.make<Node>(3);
    c->left = target.get();
    if (zone) CHECK_FALSE(moss::detail::counted_slot(c->right.slot()));
    heap.verify();
  }
  if (zone) CHECK(moss::detail::counted_slot(slot));
  heap.verify();
}

// A local object whose left slot holds another local object of the scope,
// made out of the test's frame.
[[gnu::noinline]] Node* local_pair(moss::LocalScope& scope, long v) {
  Node* holder = scope.make<Node>(0);
  holder->left = scope.make<Node>(v);
  return holder;
}
// Escapes holder's left object through a Root, and lets the Root go: a heap
// object that nothing counts.
[[gnu::noinline]] void escape_left_through_root(moss::Heap& heap, Node* holder) {
  moss::Root<Node> root(heap, holder->left.get());
}

TEST_CASE("under refcount, an object that escaped stays alive while a local object still refers to it") {
  moss::Heap heap(opts(moss::Collector::refcount));
  moss::LocalScope outer(heap);
  Node* same_scope = local_pair(outer, 5);
  {
    moss::LocalScope inner(heap);
    // An inner local object referring to an outer one (allowed: it dies first).
    Node* inner_holder = inner.make<Node>(0);
    inner_holder->right = same_scope->left;
    escape_left_through_root(heap, same_scope);
    CHECK(heap.stats().local_escaped == 1);
    for (int i = 0; i < 3; ++i) {
      scrub_and_collect(heap);
      CHECK(live_with_value(heap, same_scope->left, 5));
      CHECK(live_with_value(heap, inner_holder->right, 5));
    }
    heap.verify();
  }
  scrub_and_collect(heap);
  CHECK(live_with_value(heap, same_scope->left, 5));
  heap.verify();
}

TEST_CASE("closing a scope out of order is a UsageError and frees nothing") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    auto* outer = new moss::LocalScope(heap);
    moss::Root<Node> keep(heap);
    Node* a = local_chain(*outer, 80);
    auto* inner = new moss::LocalScope(heap);
    fill_scope(*inner, 1, 10, 0);
    CHECK_THROWS_AS(delete outer, moss::UsageError);
    CHECK(heap.stats().local_escaped == 3);
    keep = a;
    delete inner;  // now the innermost (and only) scope: fine
    CHECK(heap.stats().local_reclaimed == 20);
    scrub_and_collect(heap);
    CHECK(chain_sum(keep.get()) == 80 + 81 + 82);
    heap.verify();
  }
}

namespace {
[[gnu::noinline]] void throw_with_inner_scope_open(moss::Heap& heap, moss::LocalScope*& inner) {
  moss::LocalScope outer(heap);
  local_chain(outer, 90);
  inner = new moss::LocalScope(heap);
  fill_scope(*inner, 1, 5, 0);
  throw std::runtime_error("unwinding past an open inner scope");
}
}  // namespace

TEST_CASE("a scope closed out of order while an exception unwinds keeps its objects and lets the exception through") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    moss::LocalScope* inner = nullptr;
    std::uint64_t escaped = heap.stats().local_escaped;
    CHECK_THROWS_AS(throw_with_inner_scope_open(heap, inner), std::runtime_error);
    CHECK(heap.stats().local_escaped - escaped == 3);  // the outer scope's chain, now heap objects
    REQUIRE(inner != nullptr);
    delete inner;  // innermost again: closes normally
    CHECK(heap.stats().local_reclaimed == 5 + 10);
    scrub_and_collect(heap);
    heap.verify();
  }
}

TEST_CASE("a scope belongs to its heap's thread") {
  moss::Heap heap;
  bool open_threw = false;
  std::thread([&] {
    try {
      moss::LocalScope scope(heap);
    } catch (const moss::UsageError&) {
      open_threw = true;
    }
  }).join();
  CHECK(open_threw);

  auto* scope = new moss::LocalScope(heap);
  Node* n = scope->make<Node>(5);
  bool close_threw = false;
  std::thread([&] {
    try {
      delete scope;
    } catch (const moss::UsageError&) {
      close_threw = true;
    }
  }).join();
  CHECK(close_threw);
  // The scope stayed open and its object alive.
  CHECK(heap.find_object(n) == n);
  CHECK(n->value == 5);
}

TEST_CASE("allocation sites count allocations, escapes and bytes") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    moss::AllocSite site("test-site", moss::SitePolicy::local);
    moss::AllocSite heap_site("heap-site", moss::SitePolicy::heap);
    site_round(heap, site, 100, 4);  // 25 escape
    site_round(heap, heap_site, 10, 0);
    site_allocation(heap, site);     // no scope open: the heap
    auto profile = heap.escape_profile();
    const moss::SiteProfile* p = find_site(profile, "test-site");
    REQUIRE(p != nullptr);
    CHECK(p->policy == moss::SitePolicy::local);
    CHECK(p->allocations == 101);
    CHECK(p->local_allocations == 100);
    CHECK(p->escapes == 25);
    CHECK(p->bytes == 101 * sizeof(Blob));
    const moss::SiteProfile* h = find_site(profile, "heap-site");
    REQUIRE(h != nullptr);
    CHECK(h->allocations == 10);
    CHECK(h->local_allocations == 0);
    CHECK(heap.stats().local_objects == 100);
    CHECK(heap.stats().local_reclaimed == 75);
    // The policy can be switched at run time.
    site.set_policy(moss::SitePolicy::heap);
    site_round(heap, site, 10, 0);
    CHECK(heap.stats().local_objects == 100);
    site.set_policy(moss::SitePolicy::local);
    site_round(heap, site, 10, 0);
    CHECK(heap.stats().local_objects == 110);
    heap.verify();
  }
}

TEST_CASE("an adaptive site flips to the heap once most of its objects escape") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    moss::AllocSite rarely("rarely-escapes", moss::SitePolicy::adaptive);
    moss::AllocSite mostly("mostly-escapes", moss::SitePolicy::adaptive);
    for (int r = 0; r < 20; ++r) site_round(heap, rarely, 100, 10);  // 10% escape
    CHECK_FALSE(rarely.flipped());
    CHECK(rarely.allocates_locally());
    for (int r = 0; r < 20; ++r) site_round(heap, mostly, 100, 1);   // all escape
    CHECK(mostly.flipped());
    CHECK_FALSE(mostly.allocates_locally());
    std::vector<moss::SiteProfile> profile = heap.escape_profile();
    const moss::SiteProfile* p = find_site(profile, "mostly-escapes");
    REQUIRE(p != nullptr);
    CHECK(p->local_allocations >= moss::AllocSite::kAdaptiveMinAllocations);
    CHECK(p->local_allocations < 2000);
    CHECK(p->allocations == 2000);
    CHECK_FALSE(p->local);
    mostly.set_policy(moss::SitePolicy::adaptive);
    CHECK(mostly.allocates_locally());
  }
}

namespace {
struct SampleCount {
  std::uint64_t samples = 0;
  std::uint64_t bytes = 0;
};
void count_sample(void*, std::size_t bytes, void* context) {
  auto* c = static_cast<SampleCount*>(context);
  ++c->samples;
  c->bytes += bytes;
}
[[gnu::noinline]] void allocate_bytes(moss::Heap& heap, std::size_t total, std::size_t each) {
  moss::TypeIndex t = moss::type_index<Blob>();
  for (std::size_t done = 0; done < total; done += each) heap.allocate(t, each);
}
[[gnu::noinline]] void allocate_local_bytes(moss::Heap& heap, std::size_t total, std::size_t each) {
  moss::TypeIndex t = moss::type_index<Blob>();
  for (std::size_t done = 0; done < total;) {
    moss::LocalScope scope(heap);
    for (int i = 0; i < 1000 && done < total; ++i, done += each) scope.allocate(t, each);
  }
}
}  // namespace

TEST_CASE("the allocation sampler fires about once per rate bytes") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    SampleCount count;
    heap.set_alloc_sampler(64 << 10, count_sample, &count);
    allocate_bytes(heap, std::size_t{64} << 20, 64);
    CHECK(count.samples > 1024 * 7 / 10);
    CHECK(count.samples < 1024 * 13 / 10);
    SampleCount local;
    heap.set_alloc_sampler(64 << 10, count_sample, &local);
    allocate_local_bytes(heap, std::size_t{16} << 20, 128);
    CHECK(local.samples > 256 * 7 / 10);
    CHECK(local.samples < 256 * 13 / 10);
    heap.set_alloc_sampler(0, nullptr);
    allocate_bytes(heap, std::size_t{4} << 20, 64);
    CHECK(local.samples < 256 * 13 / 10);
    CHECK(count.samples < 1024 * 13 / 10);
  }
}

#if MOSS_DEBUG
TEST_CASE("debug builds keep a local object whose pointer outlives its scope on the stack") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    Node* slot = nullptr;
    leave_pointer_above(heap, &slot);
    CHECK(heap.stats().local_rescued == 1);
    CHECK(heap.stats().local_escaped == 3);
    CHECK(chain_sum(slot) == 60 + 61 + 62);
  }
}
#endif

namespace {
// Rounds of scopes whose chains partly escape into a rooted heap list, with
// heap garbage in between so incremental marking (or reconciliation) runs
// while scopes open and close.
[[gnu::noinline]] void churn_round(moss::Heap& heap, moss::Root<Node>& list, int round) {
  moss::LocalScope scope(heap);
  fill_scope(scope, 2, 50, 5);
  Node* chain = local_chain(scope, round);
  if (round % 3 == 0) {
    chain->right = list.get();
    list = chain;  // the Root makes the chain escape
  }
  for (int i = 0; i < 200; ++i) moss::make<Node>(heap, i);
}
}  // namespace

TEST_CASE("scopes opening and closing while the collector works keep the heap sound") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::HeapOptions o = opts(c);
    o.min_heap_bytes = 64 << 10;
    o.mark_slice_bytes = 4 << 10;
    moss::Heap heap(o);
    moss::Root<Node> list(heap);
    long expected = 0;
    for (int round = 0; round < 600; ++round) {
      churn_round(heap, list, round);
      if (round % 3 == 0) expected += 3 * round + 3;
    }
    scrub_and_collect(heap);
    long sum = 0;
    for (Node* n = list.get(); n != nullptr; n = n->right) sum += chain_sum(n);
    CHECK(sum == expected);
    CHECK(heap.stats().collections > 0);
    heap.verify();
  }
}
