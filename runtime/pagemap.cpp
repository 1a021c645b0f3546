// runtime/pagemap.cpp — the radix tree's root and leaves (see pagemap.hpp).
#include "runtime/pagemap.hpp"

#include <cstdio>
#include <cstdlib>
#include <new>

#include "runtime/os.hpp"

namespace moss::detail {

Pagemap::Pagemap() {
  void* root = os_reserve(kRootEntries * sizeof(std::atomic<PagemapLeaf*>), kPageSize);
  if (root == nullptr) {
    std::fprintf(stderr, "moss: cannot reserve the pagemap root (%zu MiB of address space)\n",
                 kRootEntries * sizeof(void*) >> 20);
    std::abort();
  }
  // Fresh anonymous memory reads as zero: every entry starts null.
  root_ = static_cast<std::atomic<PagemapLeaf*>*>(root);
}

bool Pagemap::ensure(const void* start, std::size_t bytes) {
  auto first = reinterpret_cast<std::uintptr_t>(start) >> kArenaShift;
  auto last = (reinterpret_cast<std::uintptr_t>(start) + bytes - 1) >> kArenaShift;
  if (last >= kRootEntries) return false;
  for (std::uintptr_t a = first; a <= last; ++a) {
    if (root_[a].load(std::memory_order_relaxed) != nullptr) continue;
    void* leaf = os_reserve(sizeof(PagemapLeaf), kPageSize);
    if (leaf == nullptr) return false;
    root_[a].store(static_cast<PagemapLeaf*>(leaf), std::memory_order_release);
  }
  return true;
}

void Pagemap::set(const void* first_page, std::size_t count, Span* span) {
  auto a = reinterpret_cast<std::uintptr_t>(first_page);
  for (std::size_t i = 0; i < count; ++i, a += kPageSize) {
    PagemapLeaf* leaf = root_[a >> kArenaShift].load(std::memory_order_relaxed);
    leaf->spans[(a >> kPageShift) & (kPagesPerArena - 1)].store(span, std::memory_order_release);
  }
}

}  // namespace moss::detail
