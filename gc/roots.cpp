// gc/roots.cpp — see roots.hpp.
#include "gc/roots.hpp"

namespace moss::detail {

void visit_stacks(HeapImpl& heap, Visitor& visitor) {
  with_spilled_registers([&heap, &visitor](char* sp) {
    auto scan = [&visitor, sp](StackSegment& s) {
      if (s.contains(sp)) {
        visitor.visit_conservative(sp, s.base);
      } else if (s.saved_sp != nullptr) {
        visitor.visit_conservative(s.saved_sp, s.base);
      }
    };
    scan(heap.thread_stack());
    for (StackSegment& s : heap.stacks()) scan(s);
  });
}

void visit_handles(HeapImpl& heap, Visitor& visitor) {
  for (RootNode& r : heap.roots()) {
    if (r.target() != nullptr) visitor.visit(r.target());
  }
  for (const RootCallbackEntry& e : heap.root_callbacks()) e.callback(visitor, e.context);
  for (const RootRangeEntry& e : heap.root_ranges()) visitor.visit_conservative(e.begin, e.end);
}

}  // namespace moss::detail
