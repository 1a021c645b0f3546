// tests/support.hpp — helpers shared by the behavioural tests.
//
// Conservative stack scanning means a stale copy of a pointer in a dead
// stack frame or a register can keep garbage alive. Tests that assert an
// object was reclaimed create it in a separate, non-inlined frame and call
// `scrub_stack()` (which overwrites the stack below the caller) before
// collecting, as a real embedder's long-running program effectively does.
#pragma once

#include <moss/moss.hpp>

#include <cstring>
#include <vector>

namespace moss_test {

// Overwrites about `bytes` of the stack below the caller with zeros.
[[gnu::noinline]] inline void scrub_stack(std::size_t bytes = 64 * 1024) {
  volatile char buffer[64 * 1024];
  std::memset(const_cast<char*>(buffer), 0, bytes < sizeof buffer ? bytes : sizeof buffer);
  asm volatile("" : : "r"(buffer) : "memory");
}

[[gnu::noinline]] inline void scrub_and_collect(moss::Heap& heap) {
  scrub_stack();
  heap.collect();
  scrub_stack();
  heap.collect();
}

// Counts live instances through its constructor and destructor.
struct Counted {
  static inline long alive = 0;
  static inline long destroyed = 0;
  long value = 0;
  explicit Counted(long v = 0) : value(v) { ++alive; }
  ~Counted() {
    --alive;
    ++destroyed;
  }
};

struct Node {
  moss::Member<Node> left, right;
  long value = 0;
  explicit Node(long v = 0) : value(v) {}
  void trace(moss::Visitor& v) const {
    v.visit(left);
    v.visit(right);
  }
};

// A node with a finalizer that counts.
struct FinNode {
  static inline long finalized = 0;
  moss::Member<FinNode> next;
  long value = 0;
  explicit FinNode(long v = 0) : value(v) {}
  ~FinNode() { ++finalized; }
  void trace(moss::Visitor& v) const { v.visit(next); }
};

// The collectors every behavioural test runs under.
inline std::vector<moss::Collector> collectors() { return {moss::Collector::mark_sweep}; }  // refcount joins when it lands

}  // namespace moss_test
