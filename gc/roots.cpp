// gc/roots.cpp — see roots.hpp.
#include "gc/roots.hpp"

namespace moss::detail {

MOSS_NOINLINE MOSS_NO_SANITIZE_ADDRESS void clear_stack_below(std::size_t bytes) {
  char* buffer = static_cast<char*>(__builtin_alloca(bytes));
  for (std::size_t i = 0; i < bytes; i += 8) *reinterpret_cast<volatile std::uint64_t*>(buffer + i) = 0;
  asm volatile("" : : "r"(buffer) : "memory");
}

void visit_stacks(HeapImpl& heap, Visitor& visitor) {
  sync_switched_stacks();
  with_spilled_registers([&heap, &visitor](char* sp) {
    auto scan = [&visitor, sp](StackSegment& s) {
      if (s.contains(sp)) {
        char* from = s.entry_sp != nullptr && s.entry_sp > sp && s.contains(s.entry_sp) ? s.entry_sp : sp;
        visitor.visit_conservative(from, s.base);
      } else if (char* from = switched_scan_start(s)) {
        visitor.visit_conservative(from, s.base);
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
