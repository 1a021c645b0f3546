// gc/collector.hpp — what every collector implements for the heap.
//
// A heap owns exactly one collector, chosen at creation. The heap routes
// every event a collector may care about through this interface: the
// allocation slow path (pacing and incremental work), span growth (the heap
// limit), barriered stores, root changes, explicit frees, and collect().
// Fast paths never come here: allocation's fast path is in SpanCache, and the
// barrier's in member.hpp reaches a collector only while the process-wide
// barrier flag is up.
#pragma once

#include <cstddef>

#include "moss/heap.hpp"

#include <atomic>
#include <cstdint>
#include <vector>

#include "moss/member.hpp"
#include "runtime/barrier.hpp"
#include "runtime/page_heap.hpp"

namespace moss::detail {

class HeapImpl;
struct Span;

// collector_barrier_users (runtime/barrier.hpp): how many collectors (a
// heap that is marking, a refcount heap) need the barrier; while it is zero
// the barrier only has escapes to look for.
//
// slot_barrier_users: how many of those need to know where a store goes
// (refcount counts heap-to-heap references only). While it is zero, every
// collector at work is a marking heap, whose barrier needs only the stored
// value: the slow path then skips finding the slot's heap.
inline void collector_barrier_on(bool needs_slot) { change_barrier_users(1, needs_slot ? 1 : 0, 0); }
inline void collector_barrier_off(bool needs_slot) { change_barrier_users(-1, needs_slot ? -1 : 0, 0); }

class CollectorBase {
 public:
  explicit CollectorBase(HeapImpl& heap) : heap_(heap) {}
  virtual ~CollectorBase() = default;
  CollectorBase(const CollectorBase&) = delete;
  CollectorBase& operator=(const CollectorBase&) = delete;

  // A new object (its header is written). Only called when the heap's
  // per-allocation hooks are on (new_object_hook_wanted()).
  virtual void on_new_object(void* object) { (void)object; }
  virtual bool new_object_hook_wanted() const { return false; }
  // The collector bits a new heap object's gc_state starts with
  // (refcount's young bit; on_new_object may change them).
  virtual std::uint32_t birth_state() const { return 0; }
  // The allocation slow path: once per span refill or large allocation.
  virtual void allocation_slow_path(std::size_t bytes) = 0;
  // Before the heap takes more pages; may collect, may throw OutOfMemory.
  virtual void before_growth(std::size_t bytes) = 0;
  // A store into a strong slot of a managed object: performs the store.
  virtual void write_barrier(void* holder, void** slot, void* value) = 0;
  // A store of `value`, a live object start in span `s` of this heap and
  // not scope-local, into a strong slot anywhere, while no heap's collector
  // needs slots (see slot_barrier_users): the collector's part of the
  // barrier; the caller stores. Only a collector that never raises
  // slot_barrier_users is called this way.
  virtual void value_barrier(Span* s, void* value) { (void)s; (void)value; }
  // A store into a weak slot of a managed object: performs the store.
  virtual void weak_barrier(void* holder, void** slot, void* value) = 0;
  // A Root changed its target (either may be null).
  virtual void root_changed(void* old_target, void* new_target) { (void)old_target; (void)new_target; }
  // The embedder frees an object explicitly (before the memory goes).
  virtual void before_explicit_free(void* object) { (void)object; }
  virtual bool explicit_free_hook_wanted() const { return false; }
  // A scope-local object escaped: it is an ordinary heap object from now on
  // (gc/escape.cpp). Refcount counts its slots then, and puts it in its ZCT
  // if nothing counts it.
  virtual void on_escape(void* object) { (void)object; }
  // A LocalScope is about to reclaim its objects (after the last escapes
  // were found, before any memory goes): the collector forgets anything it
  // holds that could point at them.
  virtual void before_local_reclaim() {}
  // Heap::release_memory(): forget any memory the pacing counts on keeping.
  virtual void forget_high_water() {}
  // A full collection.
  virtual void collect() = 0;
  // A stress collection (HeapOptions::stress_every): a whole cycle of the
  // kind the collector would run next (mark-sweep: minor or full).
  virtual void stress_collect() { collect(); }
  // Collector-specific figures.
  virtual void fill_stats(HeapStats& stats) const = 0;
  // Collector-specific invariants; returns a message or null.
  virtual const char* verify() { return nullptr; }
  // Called in the heap's destructor before any memory goes.
  virtual void shutdown() {}
  // Bits of a holder's gc_state that make a store into it a plain store
  // for this collector. A collector that has some wants the holder: the
  // barrier's slow path finds it (from the span it already looked up) for
  // a Member's store, tests these bits, and passes it to write_barrier.
  std::uint32_t plain_holder_bits() const { return plain_holder_bits_; }
  // Whether a store of a scope-local value into a scope-local object that
  // it cannot escape from is a plain store for this collector (refcount:
  // local objects count nothing; mark-sweep: not while it marks).
  bool plain_local_stores() const { return plain_local_stores_; }

 protected:
  // Tells the page heap how large this heap is expected to grow (mark-
  // sweep: its goal; refcount: its high-water mark), so that the scavenger
  // keeps the free pages the heap will need again. A collector reports 0
  // before it goes.
  void report_goal(std::uint64_t bytes) {
    PageHeap::instance().add_goal(static_cast<std::int64_t>(bytes) - static_cast<std::int64_t>(reported_goal_));
    reported_goal_ = bytes;
  }
  std::uint64_t reported_goal() const { return reported_goal_; }

  HeapImpl& heap_;
  std::uint32_t plain_holder_bits_ = 0;
  bool plain_local_stores_ = false;

 private:
  std::uint64_t reported_goal_ = 0;
};

}  // namespace moss::detail
