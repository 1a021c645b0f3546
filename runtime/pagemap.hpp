// runtime/pagemap.hpp — from any address to the span that owns its page.
//
// A two-level radix tree over the 48-bit address space, one per process.
// The root has one entry per 64 MiB arena (2^22 entries, reserved
// MAP_NORESERVE when the page heap is made, so only the touched part is
// ever resident; not a static array, which would put 32 MiB in the data
// segments that conservative collectors sharing the process scan); each
// arena has a leaf of 8192 Span pointers, one per 8 KiB page. A lookup is
// the root's address, then two loads that depend on the address, and no
// lock: entries are written under the page heap's lock with release stores
// and read with acquire loads, and neither root nor leaves are ever freed.
//
// Pages of an in-use span all map to it (so interior pointers into large
// objects resolve). Of a free span only the first and last pages are
// guaranteed to map to it (enough for coalescing); other entries may be
// stale and must be checked against the span's state and bounds.
#pragma once

#include <atomic>
#include <cstdint>

#include "runtime/assert.hpp"
#include "runtime/size_classes.hpp"

namespace moss::detail {

struct Span;

inline constexpr std::size_t kArenaShift = 26;  // 64 MiB
inline constexpr std::size_t kArenaSize = std::size_t{1} << kArenaShift;
inline constexpr std::size_t kPagesPerArena = kArenaSize / kPageSize;
inline constexpr std::size_t kAddressBits = 48;
inline constexpr std::size_t kRootEntries = std::size_t{1} << (kAddressBits - kArenaShift);

struct PagemapLeaf {
  std::atomic<Span*> spans[kPagesPerArena];
};

class Pagemap {
 public:
  // The span whose page table entry covers `address`, or null. An address
  // past the 48-bit space wraps onto some arena's entry (its bits above 48
  // are dropped), so a caller checks the span's bounds, as for any stale
  // entry. Only once the root exists (reserve_root(), which the page heap
  // calls when it is made: every lookup comes after it).
  static Span* lookup(const void* address) {
    auto a = reinterpret_cast<std::uintptr_t>(address);
    std::atomic<PagemapLeaf*>* root = root_.load(std::memory_order_acquire);
    MOSS_ASSERT(root != nullptr);
    PagemapLeaf* leaf = root[(a >> kArenaShift) & (kRootEntries - 1)].load(std::memory_order_acquire);
    if (leaf == nullptr) return nullptr;
    return leaf->spans[(a >> kPageShift) & (kPagesPerArena - 1)].load(std::memory_order_acquire);
  }

  // Makes the root exist (idempotent); false if the operating system
  // refused the reservation. Page heap lock held, or before any other
  // thread can look anything up.
  static bool reserve_root();
  // Makes the leaves for [start, start + bytes) exist. Page heap lock held.
  static bool ensure(const void* start, std::size_t bytes);
  // Maps pages [first, first + count) to span. Page heap lock held.
  static void set(const void* first_page, std::size_t count, Span* span);

 private:
  // Null until reserve_root(); its entries are null until an arena's leaf
  // exists.
  static std::atomic<std::atomic<PagemapLeaf*>*> root_;
};

}  // namespace moss::detail
