// runtime/barrier.hpp — who needs the write barrier, and the one number the
// inline barrier tests (moss/member.hpp: barrier_threshold).
//
// A store of a value at or above barrier_threshold takes the barrier's slow
// path. The threshold follows from three counts, all changed through
// change_barrier_users under one lock:
//  - marking heaps: every store of a non-null value takes the slow path
//    (threshold 1: a null value has nothing to shade, and an overwritten
//    value needs no shading either, see MarkSweep::write_barrier);
//  - refcount heaps (the slot users): a store into a slot marked counted
//    in their bitmap (below) or outside the bitmap's range takes the slow
//    path whatever the value; a store into a young object's slot does not.
//    Without the bitmap (the kernel refused its address space) or without
//    the scope zone, every store does (threshold 0);
//  - otherwise local scopes (a heap holding the barrier for its scopes,
//    gc/escape.cpp): only a value that may be scope-local does. Scope spans
//    come from a zone of the address space the page heap keeps for them,
//    above every ordinary arena it places (runtime/page_heap.hpp), so the
//    threshold is the zone's floor: stores of ordinary objects, and of null,
//    stay plain stores with scopes open;
//  - nobody: no store does (threshold UINTPTR_MAX).
// If the page heap cannot keep scope spans in their zone (the kernel will
// not place an arena there, or MOSS_SCOPE_ZONE=off), the floor drops to 0
// for the rest of the process: scopes then send every store to the slow
// path, which tells scope-local values by their header. Correct either way,
// and only slower.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "moss/member.hpp"
#include "runtime/size_classes.hpp"

namespace moss::detail {

// Where the page heap places arenas: ordinary ones upward from
// kHeapZoneBase, scope ones upward from kScopeZoneBase (the zone's floor).
// Both are plain hints; an arena the kernel puts elsewhere is used all the
// same, except that a scope arena below the floor costs the floor.
inline constexpr std::uintptr_t kHeapZoneBase = kCardBase;  // 32 TiB
inline constexpr std::uintptr_t kScopeZoneBase = std::uintptr_t{0x4000} << 32;  // 64 TiB

// How many collectors need the barrier (slot_barrier_users: how many of
// them need the slot too, see gc/collector.hpp) and how many heaps hold it
// for their local scopes.
extern std::atomic<std::uint32_t> collector_barrier_users;
extern std::atomic<std::uint32_t> slot_barrier_users;
extern std::atomic<std::uint32_t> scope_barrier_users;

// The card table (moss/member.hpp, mark_card) covers the first kCardSpan
// bytes of the ordinary zone: 2 GiB of card bytes, reserved (and touched
// only where arenas are). Spans outside it (arenas the kernel placed
// elsewhere, scope spans the heap adopted) have no cards: a minor
// collection traces all of their old objects.
inline constexpr std::uintptr_t kCardSpan = std::uintptr_t{1} << 40;  // 1 TiB
inline constexpr std::uintptr_t kCardBytes = kCardSpan >> kCardShift;
// Reserves the card table (once, before the first arena); false if the
// kernel refused. Stores are carded only from the first call to
// enable_card_marking (a generational heap's creation: its objects, and so
// every store into them, come after it), so that programs without one pay
// only the barrier's range test. Returns false if there is no table.
bool reserve_card_table();
bool enable_card_marking();
inline bool carded(const void* begin, const void* end) {
  auto b = reinterpret_cast<std::uintptr_t>(begin), e = reinterpret_cast<std::uintptr_t>(end);
  return b >= kCardBase && e - kCardBase <= card_count.load(std::memory_order_relaxed) << kCardShift;
}

// Counted slots (moss/member.hpp, counted_slot): a bit per 8-byte granule
// (a word: type_align8 payloads are only 8-byte aligned, so a 16-byte
// granule could be shared by two objects) of the card table's range,
// reserved (16 GiB of address space, touched only where arenas are) when
// the first refcount heap appears. A refcount heap sets the bits of an
// object's payload when the object becomes old and clears them when it
// frees it; a store into a slot with its bit set takes the slow path. Each
// bitmap byte covers 64 bytes of address space inside one page, so only
// the thread owning the page's span writes it.
inline constexpr std::uintptr_t kCountGranules = kCardSpan >> kCountShift;
inline constexpr std::uintptr_t kCountBytes = kCountGranules / 8;
static_assert(kPageSize % (8u << kCountShift) == 0, "a bitmap byte must not straddle two pages");
// The granules [first, last] of [begin, begin + bytes) in the bitmap, or
// false when there are none to mark: no bitmap, an empty range, or a range
// outside it (every store there takes the slow path).
inline bool counted_granules(const void* begin, std::size_t bytes, std::uintptr_t& first, std::uintptr_t& last) {
  if (count_bits.load(std::memory_order_relaxed) == nullptr || bytes == 0) return false;
  std::uintptr_t a = reinterpret_cast<std::uintptr_t>(begin) - kCardBase;
  first = a >> kCountShift;
  last = (a + bytes - 1) >> kCountShift;
  return first < kCountGranules && last < kCountGranules;
}
// Sets (or clears) the bits of [begin, begin + bytes).
inline void mark_counted(const void* begin, std::size_t bytes, bool on) {
  std::uintptr_t first = 0, last = 0;
  if (!counted_granules(begin, bytes, first, last)) return;
  std::uint8_t* map = count_bits.load(std::memory_order_relaxed);
  if (std::uintptr_t n = last - first + 1; n <= 9) {
    // A small object's payload: its bits lie in one byte or two, and a
    // second byte is written only if the payload reaches into it.
    std::uint32_t bits = ((1u << n) - 1) << (first & 7);
    std::uint8_t* byte = map + (first >> 3);
    if (on) {
      byte[0] |= static_cast<std::uint8_t>(bits);
      if (bits > 0xFF) byte[1] |= static_cast<std::uint8_t>(bits >> 8);
    } else {
      byte[0] &= static_cast<std::uint8_t>(~bits);
      if (bits > 0xFF) byte[1] &= static_cast<std::uint8_t>(~(bits >> 8));
    }
    return;
  }
  for (std::uintptr_t g = first; g <= last;) {
    if ((g & 7) == 0 && last - g >= 7) {  // whole bytes
      std::uintptr_t n = (last - g + 1) / 8;
      std::memset(map + (g >> 3), on ? 0xFF : 0, n);
      g += n * 8;
      continue;
    }
    auto bit = static_cast<std::uint8_t>(1u << (g & 7));
    if (on) {
      map[g >> 3] |= bit;
    } else {
      map[g >> 3] &= static_cast<std::uint8_t>(~bit);
    }
    ++g;
  }
}
// Whether every granule of [begin, begin + bytes) is marked counted (or the
// range lies outside the bitmap): for verification.
bool all_counted(const void* begin, std::size_t bytes);

// Plain scope pages (moss/member.hpp, plain_scope_slot): a byte per page of
// the scope zone's first TiB, reserved with the bitmap of counted slots and
// published with it (count_granules is not 0 only while both exist). Stores
// into the scope zone take the slow path unless their page's byte is set,
// which a refcount heap does for the pages of a scope span once a heap
// object is stored into it (Span::refers_out: from then on its local
// objects' stores need nothing more) while none of its objects escaped.
// Every change of that state clears them: an escape from the span, the
// span entering a scope, and leaving it (pooled, adopted by the heap or
// given back). Only the thread owning a span writes its bytes.
static_assert(kScopePlainBase == kScopeZoneBase && kScopePlainShift == kPageShift,
              "moss/member.hpp's plain scope pages must match the scope zone and the page size");
inline void mark_scope_plain(const void* start, std::size_t pages, bool on) {
  std::uintptr_t first = (reinterpret_cast<std::uintptr_t>(start) - kScopeZoneBase) >> kPageShift;
  std::uint8_t* map = scope_plain_pages.load(std::memory_order_relaxed);
  if (map == nullptr || first >= kScopePlainPages || kScopePlainPages - first < pages) return;
  if (pages == 1) {
    if (map[first] != static_cast<std::uint8_t>(on)) map[first] = on;  // (a clear page's byte stays untouched)
    return;
  }
  std::memset(map + first, on ? 1 : 0, pages);
}
// Whether any page of [start, start + pages pages) is marked plain.
bool any_scope_plain(const void* start, std::size_t pages);

// Adds the deltas to the counts and sets barrier_threshold to match.
void change_barrier_users(int collectors, int slot_users, int scopes);

// The lowest address a scope span may have (0: anywhere).
extern std::atomic<std::uintptr_t> scope_floor;
inline std::uintptr_t scope_zone_floor() { return scope_floor.load(std::memory_order_acquire); }
// Whether `value` (any word) may be a scope-local object by its address.
inline bool may_be_scope_local(const void* value) {
  return reinterpret_cast<std::uintptr_t>(value) >= scope_zone_floor() && value != nullptr;
}
// Scope spans may lie anywhere from now on (the floor drops to 0 and the
// threshold follows). Called by the page heap, under its lock, before it
// hands out a scope span outside the zone.
void lose_scope_zone();
// Makes fork() take the barrier's lock (see PageHeap::create for the order).
void register_barrier_fork_handlers();

}  // namespace moss::detail
