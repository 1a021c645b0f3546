// gc/roots.hpp — enumerating a heap's roots for the collectors.
//
// Roots are, in order: the machine stacks (the owner thread's own stack and
// every registered coroutine segment, conservatively, with registers
// spilled first; see runtime/stacks/stack_segment.hpp for which range of
// each is scanned), then Root handles (precise), root callbacks (whatever the
// embedder visits) and registered ranges (conservative). Both collectors
// call these; mark-sweep at the start and end of marking, refcount at each
// reconciliation (stacks only: handles are counted) and cycle collection.
#pragma once

#include <cstdint>

#include "gc/heap_impl.hpp"
#include "runtime/poison.hpp"

namespace moss::detail {

// Calls f(word) for each aligned word in [begin, end). Reads stack memory
// that sanitizers consider off limits, so it is exempt from them.
template <class F>
MOSS_NO_SANITIZE_ADDRESS inline void for_each_word(const void* begin, const void* end, F&& f) {
  auto b = (reinterpret_cast<std::uintptr_t>(begin) + 7) & ~std::uintptr_t{7};
  auto e = reinterpret_cast<std::uintptr_t>(end) & ~std::uintptr_t{7};
  for (auto p = b; p < e; p += 8) f(*reinterpret_cast<const void* const*>(p));
}

// Zeroes `bytes` of stack below the caller's frame. Collectors call it
// before scanning stacks, so stale words that their own earlier work (a
// sweep, a finalizer run) left in dead frames below them do not keep garbage
// alive (Boehm's GC_clear_stack does the same).
void clear_stack_below(std::size_t bytes = 16 * 1024);

// Visits every stack range of the heap conservatively.
void visit_stacks(HeapImpl& heap, Visitor& visitor);
// Visits Root handles, root callbacks and root ranges.
void visit_handles(HeapImpl& heap, Visitor& visitor);

}  // namespace moss::detail
