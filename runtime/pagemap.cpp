// runtime/pagemap.cpp — the radix tree's root and leaves (see pagemap.hpp).
#include "runtime/pagemap.hpp"

#include "runtime/os.hpp"

namespace moss::detail {

std::atomic<std::atomic<PagemapLeaf*>*> Pagemap::root_{nullptr};

bool Pagemap::reserve_root() {
  if (root_.load(std::memory_order_relaxed) != nullptr) return true;
  // Fresh anonymous memory reads as zero: every entry starts null.
  void* root = os_reserve(kRootEntries * sizeof(std::atomic<PagemapLeaf*>), kPageSize);
  if (root == nullptr) return false;
  root_.store(static_cast<std::atomic<PagemapLeaf*>*>(root), std::memory_order_release);
  return true;
}

bool Pagemap::ensure(const void* start, std::size_t bytes) {
  auto first = reinterpret_cast<std::uintptr_t>(start) >> kArenaShift;
  auto last = (reinterpret_cast<std::uintptr_t>(start) + bytes - 1) >> kArenaShift;
  if (last >= kRootEntries || !reserve_root()) return false;
  std::atomic<PagemapLeaf*>* root = root_.load(std::memory_order_relaxed);
  for (std::uintptr_t a = first; a <= last; ++a) {
    if (root[a].load(std::memory_order_relaxed) != nullptr) continue;
    void* leaf = os_reserve(sizeof(PagemapLeaf), kPageSize);
    if (leaf == nullptr) return false;
    root[a].store(static_cast<PagemapLeaf*>(leaf), std::memory_order_release);
  }
  return true;
}

void Pagemap::set(const void* first_page, std::size_t count, Span* span) {
  std::atomic<PagemapLeaf*>* root = root_.load(std::memory_order_relaxed);
  auto a = reinterpret_cast<std::uintptr_t>(first_page);
  for (std::size_t i = 0; i < count; ++i, a += kPageSize) {
    PagemapLeaf* leaf = root[a >> kArenaShift].load(std::memory_order_relaxed);
    leaf->spans[(a >> kPageShift) & (kPagesPerArena - 1)].store(span, std::memory_order_release);
  }
}

}  // namespace moss::detail
