// runtime/page_heap.cpp — arenas, the free-span index, coalescing and the
// scavenger (see page_heap.hpp for the policies).
#include "runtime/page_heap.hpp"

#include <pthread.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "moss/errors.hpp"

#include "runtime/os.hpp"

namespace moss::detail {

namespace {
constexpr std::size_t kRecordChunkBytes = 1u << 20;
}

std::atomic<PageHeap*> PageHeap::instance_{nullptr};

PageHeap& PageHeap::create() {
  // Never destroyed: heaps may outlive static destructors' order. The card
  // table comes first: a slot in an arena must find it there.
  static PageHeap* heap = [] {
    if (!Pagemap::reserve_root()) {
      throw OutOfMemory("moss: out of memory: the operating system refused to reserve the page map's root (" +
                        std::to_string(kRootEntries * sizeof(void*) >> 20) + " MiB of address space)");
    }
    reserve_card_table();
    return new PageHeap();
  }();
  instance_.store(heap, std::memory_order_release);
  // fork(): the child gets one thread and a copy of this lock; taking it
  // before the fork means the copy is never held by a thread that does not
  // exist there, so the child can go on allocating and collecting. The
  // barrier's lock is taken after this one (lose_scope_zone runs under
  // it), so its handlers are registered first: prepare handlers run in
  // the reverse order, this lock first.
  static const bool fork_handlers = [] {
    register_barrier_fork_handlers();
    pthread_atfork([] { instance_.load(std::memory_order_acquire)->lock_for_fork(); },
                   [] { instance_.load(std::memory_order_acquire)->unlock_after_fork(); },
                   [] { instance_.load(std::memory_order_acquire)->unlock_after_fork(); });
    return true;
  }();
  (void)fork_handlers;
  if (const char* zone = std::getenv("MOSS_SCOPE_ZONE"); zone != nullptr && *zone != '\0') {
    if (std::strcmp(zone, "off") == 0) {
      lose_scope_zone();
    } else if (std::strcmp(zone, "on") != 0) {
      throw UsageError(std::string("moss: MOSS_SCOPE_ZONE=") + zone + " is neither on nor off");
    }
  }
  if (const char* huge = std::getenv("MOSS_HUGE_PAGES"); huge != nullptr && *huge != '\0') {
    if (std::strcmp(huge, "on") == 0) {
      heap->set_huge_pages(true);
    } else if (std::strcmp(huge, "off") != 0) {
      throw UsageError(std::string("moss: MOSS_HUGE_PAGES=") + huge + " is neither on nor off");
    }
  }
  return *heap;
}

Span* PageHeap::new_record() {
  if (unused_records_ == nullptr) {
    if (fresh_records_ == fresh_records_end_) {
      void* chunk = os_reserve(kRecordChunkBytes, kPageSize);
      if (chunk == nullptr) return nullptr;
      fresh_records_ = static_cast<Span*>(chunk);
      fresh_records_end_ = fresh_records_ + kRecordChunkBytes / sizeof(Span);
    }
    return new (fresh_records_++) Span();
  }
  Span* s = unused_records_;
  unused_records_ = s->next_unused;
  s->next_unused = nullptr;
  return s;
}

void PageHeap::delete_record(Span* span) {
  MOSS_ASSERT(!span->free_index_hook.is_linked() && !span->age_hook.is_linked());
  span->start = nullptr;
  span->pages = 0;
  span->state = SpanState::free;
  span->zone = Zone::heap;
  span->owner.store(nullptr, std::memory_order_relaxed);
  span->next_unused = unused_records_;
  unused_records_ = span;
}

Span* PageHeap::free_span_at(const void* page, Zone zone) const {
  Span* s = Pagemap::lookup(page);
  if (s == nullptr || s->state != SpanState::free || s->zone != zone) return nullptr;
  const char* p = static_cast<const char*>(page);
  if (p < s->start || p >= s->end()) return nullptr;
  return s;
}

void PageHeap::insert_free(Span* span) {
  span->state = SpanState::free;
  index_for(span).insert(*span);
  age_list_.push_back(*span);
  Pagemap::set(span->start, 1, span);
  Pagemap::set(span->end() - kPageSize, 1, span);
  free_pages_ += span->pages;
  free_resident_pages_ += span->resident_pages;
}

void PageHeap::remove_free(Span* span) {
  FreeIndex& index = index_for(span);
  index.erase(index.iterator_to(*span));
  age_list_.erase(age_list_.iterator_to(*span));
  free_pages_ -= span->pages;
  free_resident_pages_ -= span->resident_pages;
}

std::optional<Zone> PageHeap::grow(std::size_t pages, Zone zone) {
  std::size_t bytes = (pages * kPageSize + kArenaSize - 1) & ~(kArenaSize - 1);
  std::uintptr_t& next = next_arena_[static_cast<int>(zone)];
  void* region = os_reserve(bytes, kArenaSize, reinterpret_cast<void*>(next));
  if (region == nullptr) return std::nullopt;
  auto address = reinterpret_cast<std::uintptr_t>(region);
  if (zone == Zone::scope && address < scope_zone_floor()) {
    // The kernel put it below the floor: an ordinary arena, and scope spans
    // come from anywhere from now on.
    lose_scope_zone();
    zone = Zone::heap;
  }
  if (address == next) next += bytes;  // the next arena goes right above
  if (zone == Zone::heap && huge_pages()) os_advise_huge_pages(region, bytes);
  if (!Pagemap::ensure(region, bytes)) {
    os_unmap(region, bytes);
    return std::nullopt;
  }
  Span* span = new_record();
  if (span == nullptr) {
    os_unmap(region, bytes);
    return std::nullopt;
  }
  reserved_bytes_ += bytes;
  span->start = static_cast<char*>(region);
  span->pages = bytes / kPageSize;
  span->zone = zone;
  span->dirty = false;
  span->resident_pages = 0;
  span->released_tail = span->pages;  // never touched
  // A new region may abut an old one: coalesce like any freed span.
  if (Span* left = free_span_at(span->start - kPageSize, zone); left != nullptr && left->end() == span->start) {
    remove_free(left);
    span->start = left->start;
    span->pages += left->pages;
    span->dirty = left->dirty;
    span->resident_pages = left->resident_pages;
    delete_record(left);
  }
  insert_free(span);
  return zone;
}

Span* PageHeap::best_fit(std::size_t pages, Zone zone) {
  // Among spans with resident pages first, then among released ones.
  for (int resident = 1; resident >= 0; --resident) {
    FreeIndex& index = free_index_[static_cast<int>(zone)][resident];
    auto it = index.lower_bound(SpanFreeIndexKey::type{pages, nullptr});
    if (it != index.end()) return &*it;
  }
  return nullptr;
}

Span* PageHeap::allocate(std::size_t pages, SpanState kind, Zone zone) {
  MOSS_ASSERT(pages > 0);
  std::lock_guard<std::mutex> lock(mutex_);
  // Without a scope zone, scope spans are ordinary ones.
  if (zone == Zone::scope && scope_zone_floor() == 0) zone = Zone::heap;
  // The best fit in the zone, else new address space.
  Span* span = best_fit(pages, zone);
  if (span == nullptr) {
    std::optional<Zone> got = grow(pages, zone);
    if (!got) return nullptr;
    span = best_fit(pages, *got);
    MOSS_ASSERT(span != nullptr);
  }
  if (span->pages > pages) {
    Span* rest = new_record();
    if (rest == nullptr) return nullptr;
    rest->start = span->start + pages * kPageSize;
    rest->pages = span->pages - pages;
    rest->dirty = span->dirty;
    rest->zone = span->zone;
    // Counted as if the resident pages came first (they are what the low
    // end, carved off first, was most likely made of) and never inside
    // the released tail.
    rest->released_tail = std::min(span->released_tail, rest->pages);
    rest->resident_pages = std::min(span->resident_pages > pages ? span->resident_pages - pages : 0,
                                    rest->pages - rest->released_tail);
    // The remainder keeps the original's place in the age list.
    auto pos = std::next(age_list_.iterator_to(*span));
    remove_free(span);
    span->resident_pages -= rest->resident_pages;
    span->pages = pages;
    rest->state = SpanState::free;
    index_for(rest).insert(*rest);
    age_list_.insert(pos, *rest);
    Pagemap::set(rest->start, 1, rest);
    Pagemap::set(rest->end() - kPageSize, 1, rest);
    free_pages_ += rest->pages;
    free_resident_pages_ += rest->resident_pages;
  } else {
    remove_free(span);
  }
  span->state = kind;
  span->resident_pages = 0;
  in_use_pages_ += pages;
  Pagemap::set(span->start, pages, span);
  return span;
}

void PageHeap::free(Span* span) {
  std::lock_guard<std::mutex> lock(mutex_);
  MOSS_ASSERT(span->state != SpanState::free);
  in_use_pages_ -= span->pages;
  span->owner.store(nullptr, std::memory_order_release);
  span->state = SpanState::free;
  span->dirty = true;
  span->resident_pages = span->pages;
  span->released_tail = 0;
  MOSS_ASSERT(!span->list_hook.is_linked());
  if (Span* left = free_span_at(span->start - kPageSize, span->zone); left != nullptr && left->end() == span->start) {
    remove_free(left);
    span->start = left->start;
    span->pages += left->pages;
    span->resident_pages += left->resident_pages;
    delete_record(left);
  }
  if (Span* right = free_span_at(span->end(), span->zone); right != nullptr && right->start == span->end()) {
    remove_free(right);
    span->pages += right->pages;
    span->resident_pages += right->resident_pages;
    span->released_tail = right->released_tail;
    delete_record(right);
  }
  insert_free(span);
  scavenge_locked();
}

void PageHeap::release_span(Span* span) {
  if (span->resident_pages == 0) return;
  FreeIndex* zone_index = free_index_[static_cast<int>(span->zone)];
  zone_index[1].erase(zone_index[1].iterator_to(*span));
  zone_index[0].insert(*span);
  os_release(span->start, span->bytes());
  released_bytes_ += span->resident_pages * kPageSize;
  free_resident_pages_ -= span->resident_pages;
  span->resident_pages = 0;
  span->released_tail = span->pages;
  span->dirty = false;
}

void PageHeap::release_pages(Span* span, std::size_t pages) {
  MOSS_ASSERT(pages < span->resident_pages && span->resident_pages + span->released_tail <= span->pages);
  // The pages just below the released tail: the high end is carved last,
  // so it is what the heap is least likely to need soon.
  char* end = span->end() - span->released_tail * kPageSize;
  os_release(end - pages * kPageSize, pages * kPageSize);
  released_bytes_ += pages * kPageSize;
  free_resident_pages_ -= pages;
  span->resident_pages -= pages;
  span->released_tail += pages;
}

void PageHeap::scavenge_locked() {
  std::size_t in_use = in_use_pages_ * kPageSize;
  std::int64_t goals = goal_bytes_.load(std::memory_order_relaxed);
  std::size_t by_goal = 0;
  if (goals > 0) {
    auto allowed = static_cast<std::size_t>(goals) + static_cast<std::size_t>(goals) / 10;
    by_goal = allowed > in_use ? allowed - in_use : 0;
  }
  std::size_t limit = std::max({kMinRetainBytes, in_use / 10, by_goal}) / kPageSize;
  if (free_resident_pages_ <= limit) return;
  std::size_t target = limit * 3 / 4;
  // Oldest first, and no more than the excess: a span (free neighbours
  // coalesce into large ones) is released whole only if all of its
  // resident pages must go, else just its top. Releasing whole spans
  // overshoots, and the heap faults the pages straight back in.
  for (auto it = age_list_.begin(); it != age_list_.end() && free_resident_pages_ > target; ++it) {
    std::size_t excess = free_resident_pages_ - target;
    if (it->resident_pages <= excess) {
      release_span(&*it);
    } else {
      release_pages(&*it, excess);
    }
  }
}

void PageHeap::release_all() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (Span& s : age_list_) release_span(&s);
}

PageHeapStats PageHeap::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  PageHeapStats s;
  s.reserved_bytes = reserved_bytes_;
  s.in_use_bytes = in_use_pages_ * kPageSize;
  s.free_bytes = free_pages_ * kPageSize;
  s.free_resident_bytes = free_resident_pages_ * kPageSize;
  s.released_bytes = released_bytes_;
  s.resident_bytes = s.in_use_bytes + s.free_resident_bytes;
  s.free_spans = free_span_count();
  return s;
}

std::size_t PageHeap::free_span_count() const {
  std::size_t n = 0;
  for (const auto& zone : free_index_) n += zone[0].size() + zone[1].size();
  return n;
}

const char* PageHeap::verify() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::size_t pages = 0, resident = 0;
  if (free_span_count() != age_list_.size()) return "free index and age list disagree in size";
  std::uintptr_t floor = scope_zone_floor();
  for (int k = 0; k < 4; ++k) {
    int zone = k / 2, half = k % 2;
    for (const Span& s : free_index_[zone][half]) {
      if (s.state != SpanState::free) return "a span in the free index is not free";
      if ((s.resident_pages != 0) != (half == 1)) return "a free span is in the wrong half of the free index";
      if (static_cast<int>(s.zone) != zone) return "a free span is in another zone's index";
      if (s.zone == Zone::scope && reinterpret_cast<std::uintptr_t>(s.start) < floor) {
        return "a scope-zone span lies below the scope zone's floor";
      }
      if (!s.age_hook.is_linked()) return "a free span is missing from the age list";
      if (Pagemap::lookup(s.start) != &s) return "a free span's first page does not map to it";
      if (Pagemap::lookup(s.end() - kPageSize) != &s) return "a free span's last page does not map to it";
      if (Span* left = free_span_at(s.start - kPageSize, s.zone); left != nullptr && left->end() == s.start)
        return "two free spans are neighbours (not coalesced)";
      if (s.resident_pages + s.released_tail > s.pages) {
        return "a free span has more resident and released pages than pages";
      }
      pages += s.pages;
      resident += s.resident_pages;
    }
  }
  if (pages != free_pages_) return "free page count disagrees with the free spans";
  if (resident != free_resident_pages_) return "free resident page count disagrees with the free spans";
  return nullptr;
}

}  // namespace moss::detail
