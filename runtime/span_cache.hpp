// runtime/span_cache.hpp — one heap's spans: the allocation path, explicit
// free and sweeping.
//
// The allocation path, in order (the story of a small allocation):
//  1. The fast path (allocate_small, inline): the current span of the
//     object's (size class, scan kind) takes a slot from its 64-bit free
//     cache with count-trailing-zeros. No lock, no atomic; the only branch
//     out is an empty cache. (A heap starts with every current span pointing
//     at a shared empty sentinel, so there is no null check either.)
//  2. The slow path (refill): the heap's collector gets a say first
//     (SpanCacheOwner::allocation_slow_path: pacing, mark slices, stress).
//     Then: the current span again from its first slot (if objects were
//     freed behind the cache), then the partial list (swept spans with free
//     slots), then unswept spans of the class, swept now (lazy sweeping),
//     then a new span from the process-wide page heap, after the owner
//     approves the growth (SpanCacheOwner::before_growth: heap limit).
//  3. Large objects (payload over kMaxSmallPayload) get a span each.
// Memory comes back zeroed: fresh pages are zero; a span that may hold old
// data has needs_zero set and each slot is cleared as it is handed out.
//
// Sweeping (for mark-sweep): start_sweep() moves every span to the unswept
// lists and bumps the epoch; each span is swept when allocation reaches it
// or by finish_sweep(). Sweeping a span makes its mark bits the new alloc
// bits: an allocated, unmarked object is dead. A dead object whose type has
// a finalizer that has not run yet is kept (its slot stays allocated) and
// queued; the heap runs the queue outside the collector and frees each
// object on the next cycle if it is still unreachable.
//
// Background sweeping (mark-sweep heaps with HeapOptions::helper_threads):
// after start_sweep() the owner publishes every span it holds, and helper
// threads sweep their bitmaps (sweep_bits: the per-object work) while the
// owner runs on. A span's bits_gen says whose sweep its bitmaps reflect: a
// helper claims an unswept span by compare-and-swap from the previous
// generation to kSweepingGen and publishes the current generation when
// done (release). Everything the owner does with a span's bitmaps (lazy
// sweeping, locate(), free) first settles it: sweeps it itself if no helper
// has claimed it, or waits for the one that has. Filing stays the owner's:
// lists, returning empty spans to the page heap, and the finalize queue
// (helpers hand their finds over under a mutex). The set of live objects is
// the same as with the owner sweeping alone.
//
// Scope spans (runtime/escape/scope_spans.hpp) belong to an open LocalScope
// and sit on its list (kScope), not on the lists above: sweeping never
// frees them (start_sweep only clears their mark bits), and their memory
// goes back only through release_object / release_scope_span /
// adopt_scope_span when the scope ends. Spans a scope emptied are kept in a
// small pool per class (kScopePool) for the next scope to reuse.
//
// Invariants: outside marking, every mark bit of a swept span is clear, or
// with sticky marks (set_sticky_marks) marks only allocated slots; a span is in
// exactly one list (ListKind) or is a current span; alloc_count matches the
// alloc bits; heap_bytes is the sum of the spans' bytes.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <vector>

#include "runtime/barrier.hpp"
#include "runtime/escape/scope_spans.hpp"
#include "runtime/page_heap.hpp"
#include "runtime/poison.hpp"
#include "runtime/span.hpp"
#include "runtime/type_registry.hpp"

namespace moss::detail {

class SpanCacheOwner {
 public:
  // Called at the start of every slow-path allocation of `bytes`. May run
  // collector work (which may sweep, or start or finish a cycle).
  virtual void allocation_slow_path(std::size_t bytes) = 0;
  // Called before the cache takes `bytes` more from the page heap. May run
  // a collection; throws OutOfMemory to refuse.
  virtual void before_growth(std::size_t bytes) = 0;

 protected:
  ~SpanCacheOwner() = default;
};

enum ListKind : std::uint8_t {
  kNoList = 0, kCurrent, kPartial, kFull, kUnswept, kLarge, kLargeUnswept,
  kScope,      // on an open LocalScope's list (ScopeSpans::spans)
  kScopePool,  // empty, kept for the next scope's use
};

struct SweepTotals {
  std::uint64_t freed_objects = 0;
  std::uint64_t freed_bytes = 0;
};

class SpanCache {
 public:
  explicit SpanCache(SpanCacheOwner& owner);
  SpanCacheOwner& owner() const { return owner_; }
  ~SpanCache();  // returns every span to the page heap
  SpanCache(const SpanCache&) = delete;
  SpanCache& operator=(const SpanCache&) = delete;

  // Small objects: the fast path.
  // `finalizable`: the object's type has a finalizer; its span is marked
  // (Span::has_finalizable), and only such spans are swept object by object.
  MOSS_INLINE void* allocate_small(std::size_t cls, bool noscan, bool finalizable) {
    std::size_t clear = 0;
    void* p = try_allocate_small(cls, noscan, finalizable, clear);
    if (MOSS_UNLIKELY(p == nullptr)) return refill(cls, noscan, finalizable);
    if (clear != 0) std::memset(p, 0, clear);
    return p;
  }
  // The common case of allocate_small, with no call in it (so no register
  // saves around it): the current span's free cache has a slot. Returns
  // null otherwise, having changed nothing. A payload too large to clear
  // with inline stores is left for the caller to clear: `clear_bytes` says
  // how much (0: nothing to do).
  MOSS_INLINE void* try_allocate_small(std::size_t cls, bool noscan, bool finalizable, std::size_t& clear_bytes) {
    return try_allocate_bin(bin(cls, noscan), finalizable, clear_bytes);
  }
  // The same by `bin`: a size class and span kind in one number.
  static constexpr std::uint32_t kBins = kNumSizeClasses * 2;
  static constexpr std::uint32_t bin(std::size_t cls, bool noscan) {
    return static_cast<std::uint32_t>(cls * 2 + (noscan ? 1 : 0));
  }
  MOSS_INLINE void* try_allocate_bin(std::uint32_t bin, bool finalizable, std::size_t& clear_bytes) {
    return try_take(current_[bin >> 1][bin & 1], finalizable, clear_bytes);
  }
  void* allocate_large(std::size_t payload_bytes, bool noscan, bool finalizable);

  // Local scopes (runtime/escape/scope_spans.hpp). begin_scope links an
  // unused ScopeSpans in at `depth`; end_scope unlinks it and leaves its
  // spans on scope.spans for the caller to dispose of, one by one, with
  // release_object, release_scope_span or adopt_scope_span, naming the
  // record they came from. A record's current span that its scope emptied
  // stays its current span, parked in the pool (Span::parked_by): when the
  // record opens again, begin_scope takes it back, so a run of small scopes
  // reuses one span per class without a refill. A parked span that leaves
  // the pool any other way is first taken off its record.
  MOSS_INLINE void begin_scope(ScopeSpans& scope, std::uint32_t depth) {
    MOSS_ASSERT(!scope.is_linked() && scope.spans.empty());
    if (MOSS_UNLIKELY(scope.depth == 0)) {  // first use of this record
      for (auto& row : scope.current) {
        row[0] = &empty_span_;
        row[1] = &empty_span_;
      }
    }
    scope.depth = depth;
    scope.scan_all = false;
    // Take back the spans parked for this record; forget any other entry.
    for (std::size_t w = 0; w < std::size(scope.touched); ++w) {
      for (std::uint64_t bits = scope.touched[w]; bits != 0; bits &= bits - 1) {
        std::size_t e = w * 64 + static_cast<std::size_t>(__builtin_ctzll(bits));
        Span*& cur = scope.current[e / 2][e % 2];
        Span* s = cur;
        if (s != &empty_span_ && s->list == kScopePool && s->parked_by == &scope) {
          s->parked_by = nullptr;
          scope_pool_[e / 2][e % 2].erase(SpanList::s_iterator_to(*s));
          enter_scope(scope, s);
        } else {
          cur = &empty_span_;
          scope.touched[w] &= ~(std::uint64_t{1} << (e % 64));
        }
      }
    }
    scopes_.push_back(scope);
  }
  void end_scope(ScopeSpans& scope) { scopes_.erase(ScopeList::s_iterator_to(scope)); }
  // The scope allocation fast path: like allocate_small, from the scope's
  // own current span. `finalizable` marks the span for the exit path.
  MOSS_INLINE void* allocate_scoped(ScopeSpans& scope, std::size_t cls, bool noscan, bool finalizable) {
    std::size_t clear = 0;
    void* p = try_allocate_scoped(scope, bin(cls, noscan), finalizable, clear);
    if (MOSS_UNLIKELY(p == nullptr)) return refill_scoped(scope, cls, noscan, finalizable);
    if (clear != 0) std::memset(p, 0, clear);
    return p;
  }
  // The common case of allocate_scoped, with no call in it (as
  // try_allocate_bin for the heap's spans).
  MOSS_INLINE void* try_allocate_scoped(ScopeSpans& scope, std::uint32_t bin, bool finalizable,
                                        std::size_t& clear_bytes) {
    return try_take(scope.current[bin >> 1][bin & 1], finalizable, clear_bytes);
  }
  void* allocate_large_scoped(ScopeSpans& scope, std::size_t payload_bytes, bool noscan, bool finalizable);
  // Frees one object (slot i) and nothing else: the header cleared, the
  // memory poisoned, the slot free. (A scope span's objects leave this way.)
  MOSS_INLINE void release_object(Span* s, std::uint32_t i, void* payload) {
    bool released = free_if_allocated(s, i, payload);
    MOSS_ASSERT(released);
    static_cast<void>(released);
  }
  // Frees every object still allocated in `s` (taken off the list of
  // `record`, now closed) and keeps the span for reuse (parked for the
  // record if it is the record's current span) or gives it back.
  MOSS_INLINE void release_scope_span(Span* s, ScopeSpans& record) {
    MOSS_ASSERT(!s->list_hook.is_linked());
    Span** entry = record_entry_for(record, s);
#if MOSS_DEBUG || MOSS_ASAN
    release_scope_span_slow(s, entry, record);  // poisons each object first
#else
    if (MOSS_UNLIKELY(!keeps_scope_span(s))) return release_scope_span_slow(s, entry, record);
    pool_scope_span(s, entry != nullptr ? &record : nullptr);
#endif
  }
  // Hands `s` (taken off the list of `record`, now closed) to the heap's
  // ordinary lists with the objects it still holds; an empty span is
  // released instead.
  void adopt_scope_span(Span* s, ScopeSpans& record);
  // Scope bytes reclaimed at scope exit: taken off the pacer's clock, so
  // scope allocation does not bring collections forward.
  void forget_allocation(std::uint64_t bytes) {
    allocated_at_mark_ += bytes < bytes_since_mark() ? bytes : bytes_since_mark();
  }

  // Explicit free of a live object start. Throws UsageError for anything
  // else (null, foreign, interior, already free).
  void free_object(void* payload);
  // The same once the caller has located it (locate() returned s, i and
  // s->payload(i) == payload). Inline up to the common case (see
  // refile_after_frees).
  MOSS_INLINE void free_located(Span* s, std::uint32_t i, void* payload) {
    release_object(s, i, payload);
    return refile_after_frees(s);
  }
  // The explicit free's common case once locate_slot_start named s and i
  // for `payload`: frees the object if the slot holds one (then the caller
  // refiles s with refile_after_frees); false, and nothing changed, if not.
  MOSS_INLINE bool free_if_allocated(Span* s, std::uint32_t i, void* payload) {
    if (!s->release_if_allocated(i)) return false;
    std::size_t bytes = s->slot_size - kHeaderSize;
    header_of(payload)->type = TypeRegistry::kNoType;
    poison_memory(payload, bytes);
    ++freed_objects_;
    freed_bytes_ += bytes;
    return true;
  }
  // Frees `n` live objects of span `s` (distinct object starts), one
  // free_slots call per run of objects that share a bitmap word, and
  // refiles the span once: what a collector that finds many dead objects
  // in one span at a time uses instead of n calls to free_located. Unlike free_located, it
  // leaves the span's free cache as it is (the slots come back when the
  // cache next reloads), and in release builds it leaves the headers too
  // (a free slot's stale header is rewritten when the slot is reused).
  void free_in_span(Span* s, void* const* objects, std::size_t n);
  // Frees the objects in the slots `dead` of bitmap word w of s (all
  // allocated): both bitmaps, the span's count and the heap's statistics
  // at once (checking builds also clear and poison each object), without
  // refiling the span: refile_after_frees does that once the caller is done
  // with it (and only then: s is given back if the frees emptied it).
  // free_in_span is made of these calls.
  void free_slots(Span* s, std::uint32_t w, std::uint64_t dead);
  // Inline up to the common case: a span that stays where it is (a current
  // or scope span).
  MOSS_INLINE void refile_after_frees(Span* s) {
    if (MOSS_LIKELY(s->list == kCurrent || s->list == kScope)) return;
    return refile_after_free(s);  // a tail call
  }

  // Young spans (refcount's nursery). While tracking is on, every span that
  // heap allocation takes objects from (a refill's current span, a large
  // object's span) is listed once per period. A collector that visits the
  // list then starts a new period, in which the spans current at that
  // moment are listed again (more objects may come from them). An entry
  // may be stale (its span emptied, given back, perhaps taken again):
  // is_young_span says whether it still names a span of this cache that
  // was listed this period, and such a span may appear twice.
  void track_young_spans(bool on) {
    track_young_ = on;
    restart_young_spans();
  }
  const std::vector<Span*>& young_spans() const { return young_spans_; }
  bool is_young_span(const Span* s) const {
    return s->owner.load(std::memory_order_acquire) == this && s->young_period == young_period_;
  }
  void restart_young_spans();
  // The explicit free's common case, with no call in it: the span (of this
  // cache, swept this cycle) and slot whose payload starts at `payload`,
  // whether or not the slot holds an object (free_if_allocated asks that).
  // Null for anything else, or when telling needs more (a span not yet
  // swept): free_object then decides, and reports a bad pointer.
  MOSS_INLINE Span* locate_slot_start(const void* payload, std::uint32_t& index) const {
    Span* s = PageHeap::lookup(payload);
    if (s == nullptr || s->owner.load(std::memory_order_acquire) != this ||
        s->bits_gen.load(std::memory_order_acquire) != gen_ || !s->exact_slot(payload, index)) {
      return nullptr;
    }
    return s;
  }
  // Whether `address` is the start of a live object of this cache (what
  // find_object(address) == address says, without the division).
  MOSS_INLINE bool is_object_start(const void* address) const {
    std::uint32_t i = 0;
    return live_object_span(address, i) != nullptr;
  }
  // The same, naming the object's span and slot (`index`): null if
  // `address` is not the start of a live object of this cache.
  MOSS_INLINE Span* live_object_span(const void* address, std::uint32_t& index) const {
    Span* s = PageHeap::lookup(address);
    if (s == nullptr || s->owner.load(std::memory_order_acquire) != this || !s->exact_slot(address, index)) {
      return nullptr;
    }
    return live_slot(s, index) ? s : nullptr;
  }
  // The live object containing `address`, or null.
  void* find_object(const void* address) const {
    std::uint32_t i = 0;
    Span* s = locate(address, i);
    return s != nullptr ? s->payload(i) : nullptr;
  }
  // The span of a live object of this cache (no checks beyond MOSS_ASSERT).
  Span* span_of(const void* payload) const { return PageHeap::lookup(payload); }
  // The span and slot of `address` if it is inside a live object of this
  // cache (the marker's entry point). Returns null otherwise.
  MOSS_INLINE Span* locate(const void* address, std::uint32_t& index) const {
    Span* s = PageHeap::lookup(address);
    // Only this cache's in-use spans have this owner; a stale pagemap entry
    // inside a free span may name a reused record, hence the bounds check.
    if (s == nullptr || s->owner.load(std::memory_order_acquire) != this) return nullptr;
    return locate_in(s, address, index);
  }
  // The slot of `s` holding `address`, or s->slots if it is outside them.
  static std::uint32_t slot_in(const Span* s, const void* address) {
    // One unsigned compare for both bounds: an address below the first
    // slot wraps to a huge offset.
    std::uint64_t x = reinterpret_cast<std::uintptr_t>(address) - reinterpret_cast<std::uintptr_t>(s->first_slot());
    if (x >= s->bytes() - kSlotOffset) return s->slots;
    std::uint32_t i = slot_index(x, s->magic);  // a large span's magic is 0: slot 0
    return i < s->slots ? i : s->slots;
  }
  // The rest of locate() once the page heap has named `s`, a span of this
  // cache, for `address`.
  MOSS_INLINE Span* locate_in(Span* s, const void* address, std::uint32_t& index) const {
    std::uint32_t i = slot_in(s, address);
    if (i >= s->slots || !live_slot(s, i)) return nullptr;
    index = i;
    return s;
  }
  // Whether slot i of `s`, a span of this cache, holds an object.
  MOSS_INLINE bool live_slot(Span* s, std::uint32_t i) const {
    return MOSS_LIKELY(current_bits(s)) ? s->is_allocated(i) : live_in_stale(s, i);
  }
  // locate() in two steps, for a caller that keeps its common case free of
  // calls (the marker): the span of this cache and the slot that `address`
  // falls in, or null (whether the slot holds an object is not asked)...
  MOSS_INLINE Span* locate_slot(const void* address, std::uint32_t& index) const {
    Span* s = PageHeap::lookup(address);
    if (s == nullptr || s->owner.load(std::memory_order_acquire) != this) return nullptr;
    if (MOSS_LIKELY(s->exact_slot(address, index))) return s;  // an object start: no division
    index = slot_in(s, address);
    return index < s->slots ? s : nullptr;
  }
  // ...then whether s's bitmaps reflect this cycle's sweep (is_allocated
  // tells which slots hold objects)...
  bool current_bits(const Span* s) const { return s->bits_gen.load(std::memory_order_acquire) == gen_; }
  // ...and if not, whether slot i holds an object: in a span not yet swept
  // this cycle the last marking decides; with background sweeping the span
  // is swept first (or its sweeper awaited), since a helper thread may be
  // rewriting its bitmaps.
  MOSS_NOINLINE bool live_in_stale(Span* s, std::uint32_t i) const {
    if (!current_bits(s)) {
      if (!background_) return s->is_marked(i);
      const_cast<SpanCache*>(this)->settle(s);
    }
    return s->is_allocated(i);
  }

  // Payload bytes of the object at `payload`.
  static std::size_t payload_size(const Span* s) { return s->slot_size - kHeaderSize; }

  // Mark-sweep support.
  void set_allocate_black(bool on) { allocate_black_ = on; }
  bool allocate_black() const { return allocate_black_; }
  // While this cache's heap marks (it allocates black): whether `object`,
  // an object start in s, a span of this cache swept this cycle, is
  // marked already, so that the barrier has nothing to shade. False
  // whenever telling needs more (not marking, a span not yet swept).
  MOSS_INLINE bool marked_while_marking(const Span* s, const void* object) const {
    if (!allocate_black_ || s->bits_gen.load(std::memory_order_acquire) != gen_) return false;
    std::uint32_t i = slot_in(s, object);
    return i < s->slots && s->is_marked(i);
  }
  // Sticky marks (generational mark-sweep): set before start_sweep, it
  // makes the sweep leave each span's mark bits equal to its alloc bits
  // (the survivors stay marked: old) instead of clear. sticky_marks() says
  // how the last sweep left them.
  void set_sticky_marks(bool on) { sticky_marks_ = on; }
  bool sticky_marks() const { return sticky_marks_; }
  // Clears every mark bit (all spans swept): old objects become young, and
  // sticky_marks() is false.
  void clear_all_marks();
  // Every span this cache holds (scope spans included), in no order.
  const std::vector<Span*>& all_spans() const { return all_spans_; }
  // A walk over the spans held when it begins (a minor cycle's card scan),
  // step by step while the mutator runs in between: a span given back
  // meanwhile is skipped, every other one is visited once, spans made
  // meanwhile are not (the walk is on the list of all spans itself, which
  // giving a span back reorders; return_span keeps the walk whole).
  void begin_span_walk() {
    walk_cursor_ = 0;
    walk_limit_ = all_spans_.size();
    walk_behind_.clear();
  }
  Span* next_walk_span() {
    if (!walk_behind_.empty()) {
      Span* s = walk_behind_.back();
      walk_behind_.pop_back();
      return s;
    }
    return walk_cursor_ < walk_limit_ ? all_spans_[walk_cursor_++] : nullptr;
  }
  bool span_walk_done() const { return walk_behind_.empty() && walk_cursor_ >= walk_limit_; }
  void end_span_walk() { walk_cursor_ = walk_limit_ = 0; walk_behind_.clear(); }
  void start_sweep();
  void finish_sweep();
  // Sweeps up to `n` unswept spans (proportional sweeping); returns how
  // many were swept.
  std::size_t sweep_some(std::size_t n);
  bool sweep_done() const { return unswept_spans_ == 0; }
  std::uint32_t epoch() const { return epoch_; }
  // Dead finalizable objects found by sweeping; the heap runs and clears it.
  std::vector<void*>& finalize_queue() {
    if (MOSS_UNLIKELY(background_found_.load(std::memory_order_acquire))) take_background_results();
    return finalize_queue_;
  }

  // Background sweeping (see "Background sweeping" above). While on, the
  // spans' bitmaps may be swept by other threads; everything else stays the
  // owner's. The owner turns it on, calls publish_sweep_work() after each
  // start_sweep() and lets any number of threads run sweep_in_background()
  // until it returns; it waits for them before the next start_sweep() and
  // before turning background sweeping off.
  void set_background_sweep(bool on) { background_ = on; }
  bool background_sweep() const { return background_; }
  void publish_sweep_work();
  void sweep_in_background();
  std::uint64_t background_swept_spans() const { return background_swept_spans_.load(std::memory_order_relaxed); }

  template <class F>
  void for_each_span(F&& f) const {
    for (std::size_t c = 0; c < kNumSizeClasses; ++c) {
      for (int k = 0; k < 2; ++k) {
        if (current_[c][k] != &empty_span_) f(*current_[c][k]);
        for (const Span& s : partial_[c][k]) f(s);
        for (const Span& s : full_[c][k]) f(s);
        for (const Span& s : unswept_[c][k]) f(s);
      }
    }
    for (const Span& s : large_) f(s);
    for (const Span& s : large_unswept_) f(s);
    for (const ScopeSpans& scope : scopes_) {
      for (const Span& s : scope.spans) f(s);
    }
    for (std::size_t c = 0; c < kNumSizeClasses; ++c) {
      for (int k = 0; k < 2; ++k) {
        for (const Span& s : scope_pool_[c][k]) f(s);
      }
    }
  }

  // Statistics.
  std::uint64_t allocated_objects() const { return allocated_objects_; }
  std::uint64_t allocated_bytes() const { return allocated_bytes_; }
  std::uint64_t freed_objects() const {
    return freed_objects_ + background_freed_objects_.load(std::memory_order_relaxed);
  }
  std::uint64_t freed_bytes() const { return freed_bytes_ + background_freed_bytes_.load(std::memory_order_relaxed); }
  std::size_t heap_bytes() const { return heap_bytes_; }
  std::size_t span_count() const { return span_count_; }
  // Bytes allocated since the counter was last reset (the pacer's clock).
  std::uint64_t bytes_since_mark() const { return allocated_bytes_ - allocated_at_mark_; }
  void reset_bytes_since_mark() { allocated_at_mark_ = allocated_bytes_; }

  // Checks span-level invariants; returns a message or null.
  const char* verify() const;

 private:
  // Both try_allocate paths: a slot from current span `s`'s free cache,
  // finished but for a large payload's clearing (`clear_bytes`), or null.
  MOSS_INLINE void* try_take(Span* s, bool finalizable, std::size_t& clear_bytes) {
    std::uint32_t index = 0;
    void* p = s->take_from_cache(index);
    if (MOSS_UNLIKELY(p == nullptr)) return nullptr;
    if (finalizable) s->has_finalizable = true;
    clear_bytes = finish_but_large_clear(s, index, p);
    return p;
  }
  // A slot just taken from s's cache becomes an object: black while
  // marking, unpoisoned, counted, its payload cleared if the span needs it.
  MOSS_INLINE void* finish(Span* s, std::uint32_t index, void* p) {
    if (std::size_t clear = finish_but_large_clear(s, index, p)) std::memset(p, 0, clear);
    return p;
  }
  // All of finish() but clearing a payload too large for inline stores:
  // returns the bytes the caller must still clear (0: none).
  MOSS_INLINE std::size_t finish_but_large_clear(Span* s, std::uint32_t index, void* p) {
    if (MOSS_UNLIKELY(allocate_black_)) s->set_mark(index);
    std::size_t bytes = s->slot_size - kHeaderSize;
    unpoison_memory(p, bytes);
    ++allocated_objects_;
    allocated_bytes_ += bytes;
    if (!s->needs_zero) return 0;
    if (bytes > kInlineZeroMax) return bytes;
    zero_small_payload(p, bytes);
    return 0;
  }
  // Small payloads are cleared with inline 16-byte stores. Payloads and
  // slot sizes are multiples of 8, and the 8 bytes past the payload are the
  // next header: a payload of 8 takes one 8-byte store; a longer one ends
  // with a 16-byte store flush with its end, so the stores before it may
  // overlap it instead of stopping short (16 bytes: one store; 24 or 32:
  // two).
  static constexpr std::size_t kInlineZeroMax = 248;
  static MOSS_INLINE void zero_small_payload(void* p, std::size_t bytes) {
    auto* q = static_cast<char*>(p);
    if (bytes < 16) {
      if (bytes != 0) __builtin_memset(q, 0, 8);
      return;
    }
    __builtin_memset(q + bytes - 16, 0, 16);
    for (std::size_t i = 0; i + 16 < bytes; i += 16) __builtin_memset(q + i, 0, 16);
  }
  MOSS_NOINLINE void* refill(std::size_t cls, bool noscan, bool finalizable);
  void* refill_span(std::size_t cls, bool noscan);
  MOSS_NOINLINE void* refill_scoped(ScopeSpans& scope, std::size_t cls, bool noscan, bool finalizable);
  void* try_existing(std::size_t cls, bool noscan);
  // The entry of closed `record` that names s as its current span, or null
  // (s is large, or not its current span, or the record has opened again).
  Span** record_entry_for(ScopeSpans& record, Span* s) {
    if (s->state != SpanState::small || record.is_linked()) return nullptr;
    Span*& cur = record.current[s->size_class][s->noscan];
    return cur == s ? &cur : nullptr;
  }
  // Takes pool span s out of its pool, and off the record it is parked for.
  void leave_pool(SpanList& pool, Span* s) {
    pool.erase(SpanList::s_iterator_to(*s));
    if (s->parked_by != nullptr) {
      Span*& cur = s->parked_by->current[s->size_class][s->noscan];
      if (cur == s) cur = &empty_span_;
      s->parked_by = nullptr;
    }
  }
  // release_scope_span's other cases: poisoning (checking builds), and
  // giving the span back when the pool is full or it is large.
  MOSS_NOINLINE void release_scope_span_slow(Span* s, Span** entry, ScopeSpans& record);
  bool keeps_scope_span(const Span* s) const {
    return s->state == SpanState::small && scope_pool_[s->size_class][s->noscan].size() < kScopePoolSpans;
  }
  void count_scope_span_freed(Span* s) {
    freed_objects_ += s->alloc_count;
    freed_bytes_ += std::uint64_t{s->alloc_count} * (s->slot_size - kHeaderSize);
    s->scope_depth = 0;
    s->list = kNoList;
    mark_scope_plain(s->start, s->pages, false);
  }
  // Empties small span s (its objects freed) into its class's pool, parked
  // for `parker` (null: for any scope).
  MOSS_INLINE void pool_scope_span(Span* s, ScopeSpans* parker) {
    count_scope_span_freed(s);
#if MOSS_DEBUG || MOSS_ASAN || MOSS_VALGRIND_ON
    // Its objects were poisoned: each slot is cleared as it is reused.
    if (s->alloc_count != 0) s->needs_zero = true;
#else
    // Clear, at once, every slot that may hold old data, so the next
    // scope's allocations from this span clear nothing: the slots of
    // earlier cache words (below zeroed_from) and, in the current word,
    // those handed out (below the cache's lowest slot: without frees, the
    // cache hands out its word's slots in order), or the whole word if a
    // slot was freed (needs_zero says so).
    std::uint32_t word_end = std::min(s->slots, (s->free_index / 64 + 1) * 64);
    std::uint32_t handed_out =
        s->free_cache != 0 ? s->free_index + static_cast<std::uint32_t>(__builtin_ctzll(s->free_cache)) : word_end;
    std::uint32_t dirty = std::max(s->zeroed_from, s->needs_zero ? word_end : handed_out);
    std::memset(s->first_slot(), 0, std::size_t{std::min(dirty, s->slots)} * s->slot_size);
    s->needs_zero = false;
    s->zeroed_from = 0;
#endif
    std::memset(s->bits_a, 0, sizeof s->bits_a);  // both tables, whole: a few inline stores
    std::memset(s->bits_b, 0, sizeof s->bits_b);
    s->alloc_count = 0;
    s->free_cache = 0;   // (its claims went with the tables)
    s->refill_cache();  // the cache: the first word, all free
    s->has_finalizable = false;
    s->parked_by = parker;
    push(scope_pool_[s->size_class][s->noscan], s, kScopePool);
  }
  // Makes s (empty, out of any list) a span of open `scope`.
  void enter_scope(ScopeSpans& scope, Span* s) {
    s->swept_epoch = epoch_;
    s->scope_depth = scope.depth;
    s->escaped = 0;
    s->refers_out = false;
    mark_scope_plain(s->start, s->pages, false);
    s->list = kScope;
    scope.spans.push_back(*s);
  }
  Span* new_span(std::size_t pages, SpanState kind, Zone zone = Zone::heap);
  void return_span(Span* s);
  // Sweeps one span and files it as the owner's; returns false if it was
  // emptied and given back.
  bool sweep_span(Span* s);
  // Makes s's bitmaps this epoch's: sweeps them here, or waits for the
  // helper thread sweeping them.
  void settle(Span* s);
  // For lazy sweeping of `unswept`'s front span s: settles it and returns
  // false, or, if a helper thread holds it, moves it to the back and
  // returns true (the caller goes on with the next).
  bool passed_busy(SpanList& unswept, Span* s);
  // The bitmap work of sweeping one span (any thread, once the span is
  // claimed): frees dead objects, queues dead finalizable ones on
  // `finalize`, swaps the tables, reloads the free cache. Returns the
  // number of objects freed. A span that never held a finalizable object
  // is swept by its bitmaps alone, without touching the dead objects
  // (checking builds still clear and poison each one).
  std::uint64_t sweep_bits(Span* s, std::vector<void*>& finalize);
  void take_background_results();
  static std::uint64_t generation(std::uint32_t id, std::uint32_t epoch) {
    return (std::uint64_t{id} << 32) | epoch;
  }
  void unlink(Span* s);
  // After a free in a span that is not a current or scope span: gives an
  // emptied span back, moves a full one to the partial list.
  void refile_after_free(Span* s);
  // Which list holds s. start_sweep moves whole partial, full and large
  // lists to the unswept ones without retagging their spans (that would
  // touch every span in a pause): a span whose epoch is stale and whose tag
  // says partial, full or large is in the matching unswept list.
  ListKind list_of(const Span* s) const {
    auto l = static_cast<ListKind>(s->list);
    if (s->swept_epoch != epoch_) {
      if (l == kPartial || l == kFull) return kUnswept;
      if (l == kLarge) return kLargeUnswept;
    }
    return l;
  }
  void push(SpanList& list, Span* s, ListKind kind) {
    s->list = kind;
    list.push_back(*s);
  }

  SpanCacheOwner& owner_;
  Span* current_[kNumSizeClasses][2];
  SpanList partial_[kNumSizeClasses][2];
  SpanList full_[kNumSizeClasses][2];
  SpanList unswept_[kNumSizeClasses][2];
  SpanList large_;
  SpanList large_unswept_;
  ScopeList scopes_;                                 // open scopes, outermost first
  SpanList scope_pool_[kNumSizeClasses][2];          // emptied scope spans for reuse
  static constexpr std::size_t kScopePoolSpans = 2;  // per class and scan kind
  std::vector<void*> finalize_queue_;
  bool allocate_black_ = false;
  bool sticky_marks_ = false;
  bool track_young_ = false;
  std::uint32_t young_period_ = 1;
  std::vector<Span*> young_spans_;
  void note_young_span(Span* s) {
    if (track_young_ && s->young_period != young_period_) {
      s->young_period = young_period_;
      young_spans_.push_back(s);
    }
  }
  std::uint32_t id_;  // process-unique, for span generations
  std::uint32_t epoch_ = 1;
  std::uint64_t gen_ = 0;       // generation(id_, epoch_): swept this epoch
  std::uint64_t prev_gen_ = 0;  // generation(id_, epoch_ - 1): not yet swept
  // Background sweeping.
  bool background_ = false;
  std::vector<Span*> all_spans_;           // every span held (Span::cache_index)
  std::size_t walk_cursor_ = 0, walk_limit_ = 0;  // the span walk: [cursor, limit) still to visit
  std::vector<Span*> walk_behind_;         // still to visit, moved below the cursor
  std::vector<Span*> sweep_work_;          // this epoch's spans, for the helpers
  std::atomic<std::int64_t> sweep_work_left_{0};
  std::mutex background_mutex_;
  std::vector<void*> background_finalize_;  // found by helpers, under the mutex
  std::atomic<bool> background_found_{false};
  std::atomic<std::uint64_t> background_freed_objects_{0};
  std::atomic<std::uint64_t> background_freed_bytes_{0};
  std::atomic<std::uint64_t> background_swept_spans_{0};
  std::size_t unswept_spans_ = 0;
  std::size_t sweep_cursor_ = 1;  // sweep_some resumes at this class
  std::uint64_t allocated_objects_ = 0;
  std::uint64_t allocated_bytes_ = 0;
  std::uint64_t allocated_at_mark_ = 0;
  std::uint64_t freed_objects_ = 0;
  std::uint64_t freed_bytes_ = 0;
  std::size_t heap_bytes_ = 0;
  std::size_t span_count_ = 0;

  static Span empty_span_;  // the sentinel current span: always full
};

}  // namespace moss::detail
