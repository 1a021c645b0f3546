// runtime/page_heap.hpp — the process-wide page heap.
//
// The substrate every moss heap draws on. It reserves 64 MiB-aligned arenas
// from the OS, hands out spans (runs of 8 KiB pages) and takes them back,
// coalescing free neighbours, and returns free pages to the OS (the
// scavenger). Thread-safe: one mutex guards everything but pagemap reads.
//
// Free spans sit in two intrusive structures:
//  - the free-span index, a set ordered by (pages, address): best fit in
//    O(log n), ties going to the lowest address. It is kept as two sets,
//    spans with resident pages and spans wholly returned to the OS, and
//    allocation looks for a fit among the resident ones first: carving a
//    released span while resident free pages sit idle would fault pages in
//    for nothing and grow the resident set the scavenger then trims;
//  - the age list, oldest-freed first: the scavenger releases from its head,
//    so the pages freed most recently (the likeliest to be reused soon) stay
//    resident.
// Allocation carves from the low end of the best-fitting span; the rest
// stays free. A free span coalesces with free neighbours on both sides.
//
// Zones: spans for local scopes come from arenas of their own, placed at or
// above kScopeZoneBase, while ordinary arenas are placed upward from
// kHeapZoneBase, below it (runtime/barrier.hpp: the barrier tells a value
// that may be scope-local by its address alone). Each zone has its own
// free-span index, and spans of different zones never coalesce; the age
// list and the scavenger serve both. A span keeps its zone for life
// (a scope span adopted by the heap stays in the scope zone until freed).
// If the kernel places a scope arena below the floor (placement is a hint,
// and sanitizers or other mappings may take the range), or
// MOSS_SCOPE_ZONE=off is set, the arena is used as an ordinary one and
// scope spans come from the ordinary zone from then on (lose_scope_zone).
//
// Retain policy: the page heap keeps free-but-resident pages while the
// resident total stays within 10% over the sum of the heaps' goals (the size
// each heap's pacer lets it reach before collecting: pages freed by a sweep
// will be needed again before the next collection), and at least
// max(kMinRetainBytes, 10% of the bytes in use); past that the oldest are
// released. `release_all()` (Heap::release_memory) releases every free
// page now.
//
// Resident accounting: in-use pages count as resident; a free span counts
// `resident_pages` (pages it held when freed, zero once released).
#pragma once

#include <boost/intrusive/list.hpp>
#include <boost/intrusive/set.hpp>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>

#include "runtime/barrier.hpp"
#include "runtime/pagemap.hpp"
#include "runtime/span.hpp"

namespace moss::detail {

struct PageHeapStats {
  std::size_t reserved_bytes = 0;      // address space reserved
  std::size_t in_use_bytes = 0;        // pages of in-use spans
  std::size_t free_bytes = 0;          // pages of free spans
  std::size_t free_resident_bytes = 0; // free pages not yet returned to the OS
  std::size_t released_bytes = 0;      // total ever returned to the OS
  std::size_t resident_bytes = 0;      // in use + free resident
  std::size_t free_spans = 0;
};

class PageHeap {
 public:
  static constexpr std::size_t kMinRetainBytes = 8u << 20;

  static PageHeap& instance() {
    PageHeap* h = instance_.load(std::memory_order_acquire);
    return MOSS_LIKELY(h != nullptr) ? *h : create();
  }
  // The same once some heap exists (no creation path, so no call).
  static PageHeap& existing() {
    PageHeap* h = instance_.load(std::memory_order_acquire);
    MOSS_ASSERT(h != nullptr);
    return *h;
  }

  // A span of exactly `pages` pages in state `kind` (small or large; the
  // caller finishes initialising it). Null if the OS refuses address space.
  // `dirty` is set when its pages may hold old data. The page heap owns a
  // span's `state`, `start` and `pages`: they change only under its lock,
  // since it reads them for any neighbour, whoever owns that.
  // `zone`: Zone::scope for a local scope's span (which then lies at or
  // above scope_zone_floor()).
  Span* allocate(std::size_t pages, SpanState kind = SpanState::small, Zone zone = Zone::heap);
  // Takes an in-use span back.
  void free(Span* span);
  // Returns every free page to the OS.
  void release_all();

  // The span whose page holds `address` (stale for pages of free spans but
  // their first and last), or null; safe before any page heap exists.
  static Span* lookup(const void* address) { return Pagemap::lookup(address); }
  PageHeapStats stats() const;

  // Checks the free-span structures (for tests and Heap::verify): every free
  // span is in the index and the age list, maps its first and last page to
  // itself, has no free neighbour, and the totals agree. Returns a message
  // naming the first problem, or null.
  const char* verify() const;

  // Heaps report the size they are paced to reach (their goal); the
  // scavenger keeps free pages resident up to 10% over the sum of goals.
  void add_goal(std::int64_t delta_bytes) { goal_bytes_.fetch_add(delta_bytes, std::memory_order_relaxed); }

  // Transparent huge pages (MOSS_HUGE_PAGES=on, read when the page heap is
  // created; off by default): every ordinary arena reserved from then on
  // is advised to the kernel as huge-page memory, so first touches fault
  // 2 MiB at a time instead of 4 KiB. Faster where page faults are dear
  // (the tree benchmarks run 7-21% faster on this project's machine, see
  // bench/RESULTS.md), at the cost of up to 2 MiB more resident memory at
  // the heap's growing edge and, on that machine, of a few mark slices
  // several times their usual length (worst pauses of 2-3 ms). The setter
  // is for tests.
  bool huge_pages() const { return huge_pages_.load(std::memory_order_relaxed); }
  void set_huge_pages(bool on) { huge_pages_.store(on, std::memory_order_relaxed); }

  // For fork(): lock before, unlock in both parent and child after.
  void lock_for_fork() { mutex_.lock(); }
  void unlock_after_fork() { mutex_.unlock(); }

 private:
  PageHeap() = default;
  static PageHeap& create();
  static std::atomic<PageHeap*> instance_;

  using FreeIndex = boost::intrusive::multiset<
      Span, boost::intrusive::member_hook<Span, FreeIndexHook, &Span::free_index_hook>,
      boost::intrusive::key_of_value<SpanFreeIndexKey>>;
  using AgeList = boost::intrusive::list<
      Span, boost::intrusive::member_hook<Span, ListHook, &Span::age_hook>,
      boost::intrusive::constant_time_size<true>>;

  Span* new_record();
  void delete_record(Span* span);
  // Reserves an arena of at least `pages` for `zone`; returns the zone it
  // went to (the heap zone, if a scope arena landed below the floor), or
  // nullopt if the kernel refused.
  std::optional<Zone> grow(std::size_t pages, Zone zone);
  Span* best_fit(std::size_t pages, Zone zone);
  void insert_free(Span* span);   // index, age list, pagemap ends
  void remove_free(Span* span);
  void release_span(Span* span);  // a free span, linked
  // Returns `pages` (fewer than it holds) of span's resident pages.
  void release_pages(Span* span, std::size_t pages);
  void scavenge_locked();
  // The free span of `zone` holding `page`, or null.
  Span* free_span_at(const void* page, Zone zone) const;

  mutable std::mutex mutex_;
  // Per zone, [1]: free spans with resident pages; [0]: wholly released ones.
  FreeIndex free_index_[2][2];
  FreeIndex& index_for(const Span* span) {
    return free_index_[static_cast<int>(span->zone)][span->resident_pages != 0 ? 1 : 0];
  }
  std::size_t free_span_count() const;
  // Where the next arena of each zone is asked for.
  std::uintptr_t next_arena_[2] = {kHeapZoneBase, kScopeZoneBase};
  AgeList age_list_;
  Span* unused_records_ = nullptr;
  // Records not yet handed out, in the newest chunk: built one at a time,
  // so that a chunk's pages become resident only as spans need them.
  Span* fresh_records_ = nullptr;
  Span* fresh_records_end_ = nullptr;
  std::size_t reserved_bytes_ = 0;
  std::size_t in_use_pages_ = 0;
  std::size_t free_pages_ = 0;
  std::size_t free_resident_pages_ = 0;
  std::size_t released_bytes_ = 0;
  std::atomic<std::int64_t> goal_bytes_{0};
  std::atomic<bool> huge_pages_{false};
};

}  // namespace moss::detail
