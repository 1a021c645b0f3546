// runtime/barrier.hpp — who needs the write barrier, and the one number the
// inline barrier tests (moss/member.hpp: barrier_threshold).
//
// A store of a value at or above barrier_threshold takes the barrier's slow
// path. The threshold follows from three counts, all changed through
// change_barrier_users under one lock:
//  - collectors (a mark-sweep heap while marking, a refcount heap for its
//    whole life): every store, null included, takes the slow path
//    (threshold 0);
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
#include <cstdint>

#include "moss/member.hpp"

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
