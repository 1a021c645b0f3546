// runtime/span_cache.cpp — the allocation slow path, explicit free, lazy
// sweeping (the story is told in span_cache.hpp).
#include "runtime/span_cache.hpp"

#include <string>
#include <thread>

#include "moss/errors.hpp"
#include "runtime/poison.hpp"
#include "runtime/type_registry.hpp"

namespace moss::detail {

Span SpanCache::empty_span_;

namespace {
std::atomic<std::uint32_t> next_cache_id{1};

// Checking builds clear and poison each object they free.
constexpr bool kPoisoning = MOSS_DEBUG || MOSS_ASAN || MOSS_VALGRIND_ON;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}
}  // namespace

SpanCache::SpanCache(SpanCacheOwner& owner)
    : owner_(owner), id_(next_cache_id.fetch_add(1, std::memory_order_relaxed)) {
  gen_ = generation(id_, epoch_);
  prev_gen_ = generation(id_, epoch_ - 1);
  PageHeap::instance();  // exists from here on: lookups use existing()
  for (auto& row : current_) {
    row[0] = &empty_span_;
    row[1] = &empty_span_;
  }
}

SpanCache::~SpanCache() {
  MOSS_ASSERT(scopes_.empty());
  std::vector<Span*> all;
  for_each_span([&all](const Span& s) { all.push_back(const_cast<Span*>(&s)); });
  for (Span* s : all) {
    if (s->list_hook.is_linked()) unlink(s);
    s->list = kNoList;
    unpoison_memory(s->start, s->bytes());
    PageHeap::instance().free(s);
  }
}

void SpanCache::unlink(Span* s) {
  switch (list_of(s)) {
    case kPartial: partial_[s->size_class][s->noscan].erase(SpanList::s_iterator_to(*s)); break;
    case kFull: full_[s->size_class][s->noscan].erase(SpanList::s_iterator_to(*s)); break;
    case kUnswept:
      unswept_[s->size_class][s->noscan].erase(SpanList::s_iterator_to(*s));
      --unswept_spans_;
      break;
    case kLarge: large_.erase(SpanList::s_iterator_to(*s)); break;
    case kLargeUnswept:
      large_unswept_.erase(SpanList::s_iterator_to(*s));
      --unswept_spans_;
      break;
    case kCurrent: current_[s->size_class][s->noscan] = &empty_span_; break;
    case kScopePool: scope_pool_[s->size_class][s->noscan].erase(SpanList::s_iterator_to(*s)); break;
    default: break;
  }
  s->list = kNoList;
}

Span* SpanCache::new_span(std::size_t pages, SpanState kind, Zone zone) {
  owner_.before_growth(pages * kPageSize);
  Span* s = PageHeap::instance().allocate(pages, kind, zone);
  if (s == nullptr) {
    auto stats = PageHeap::instance().stats();
    throw OutOfMemory("moss: out of memory: the operating system refused " + std::to_string(pages * kPageSize) +
                      " more bytes of address space (" + std::to_string(stats.reserved_bytes) +
                      " bytes reserved so far, " + std::to_string(heap_bytes_) +
                      " in this heap); free memory or lower the heap's use");
  }
  s->owner.store(this, std::memory_order_release);
  s->swept_epoch = epoch_;
  s->bits_gen.store(gen_, std::memory_order_relaxed);
  s->list = kNoList;
  s->cache_index = static_cast<std::uint32_t>(all_spans_.size());
  all_spans_.push_back(s);
  heap_bytes_ += s->bytes();
  ++span_count_;
  return s;
}

void SpanCache::return_span(Span* s) {
  MOSS_ASSERT(s->list == kNoList);
  MOSS_ASSERT(s->cache_index < all_spans_.size() && all_spans_[s->cache_index] == s);
  Span* last = all_spans_.back();
  std::size_t from = all_spans_.size() - 1, to = s->cache_index;
  // The span walk: the last span moves down into s's place. If it was
  // still to visit and lands behind the cursor, it is visited from the
  // side list; the walk's end follows the list's.
  if (from < walk_limit_ && from >= walk_cursor_ && to < walk_cursor_) walk_behind_.push_back(last);
  last->cache_index = s->cache_index;
  all_spans_[to] = last;
  all_spans_.pop_back();
  if (walk_limit_ > all_spans_.size()) walk_limit_ = all_spans_.size();
  heap_bytes_ -= s->bytes();
  --span_count_;
  if (s->zone == Zone::scope) mark_scope_plain(s->start, s->pages, false);
  unpoison_memory(s->start, s->bytes());  // the next owner lays it out anew
  PageHeap::instance().free(s);
}

void* SpanCache::try_existing(std::size_t cls, bool noscan) {
  Span*& cur = current_[cls][noscan];
  std::uint32_t index = 0;
  if (cur != &empty_span_) {
    // Slots freed behind the cache since it passed them.
    if (cur->free_slots() != 0 && cur->rewind_cache()) {
      void* p = cur->take_from_cache(index);
      return finish(cur, index, p);
    }
    Span* full = cur;
    cur = &empty_span_;
    push(full_[cls][noscan], full, kFull);
  }
  SpanList& partial = partial_[cls][noscan];
  while (!partial.empty()) {
    Span* s = &partial.front();
    partial.pop_front();
    s->list = kNoList;
    if (s->free_cache == 0 && !s->rewind_cache()) {
      push(full_[cls][noscan], s, kFull);
      continue;
    }
    s->list = kCurrent;
    cur = s;
    void* p = s->take_from_cache(index);
    return finish(s, index, p);
  }
  SpanList& unswept = unswept_[cls][noscan];
  for (std::size_t tries = unswept.size(); !unswept.empty() && tries != 0; --tries) {
    Span* s = &unswept.front();
    if (passed_busy(unswept, s)) continue;
    unlink(s);
    if (!sweep_span(s)) continue;  // emptied and given back
    if (s->free_cache == 0) {
      push(full_[cls][noscan], s, kFull);
      continue;
    }
    s->list = kCurrent;
    cur = s;
    void* p = s->take_from_cache(index);
    return finish(s, index, p);
  }
  return nullptr;
}

void* SpanCache::refill(std::size_t cls, bool noscan, bool finalizable) {
  void* p = refill_span(cls, noscan);
  // Every way of refilling leaves the object's span current.
  Span* s = current_[cls][noscan];
  MOSS_ASSERT(static_cast<char*>(p) >= s->start && static_cast<char*>(p) < s->end());
  if (finalizable) s->has_finalizable = true;
  note_young_span(s);
  return p;
}

void SpanCache::restart_young_spans() {
  young_spans_.clear();
  if (++young_period_ == 0) young_period_ = 1;
  for (std::size_t c = 1; c < kNumSizeClasses; ++c) {
    for (int k = 0; k < 2; ++k) {
      if (current_[c][k] != &empty_span_) note_young_span(current_[c][k]);
    }
  }
}

void SpanCache::free_slots(Span* s, std::uint32_t w, std::uint64_t dead) {
  MOSS_ASSERT((s->allocated_word(w) & dead) == dead);
  auto n = static_cast<std::uint32_t>(__builtin_popcountll(dead));
  std::size_t bytes = s->slot_size - kHeaderSize;
  if constexpr (kPoisoning) {
    for (std::uint64_t bits = dead; bits != 0; bits &= bits - 1) {
      void* p = s->payload(w * 64 + static_cast<std::uint32_t>(__builtin_ctzll(bits)));
      header_of(p)->type = TypeRegistry::kNoType;
      poison_memory(p, bytes);
    }
  }
  s->alloc_bits[w] &= ~dead;
  s->mark_bits[w] &= ~dead;
  MOSS_ASSERT(s->alloc_count >= n);
  s->alloc_count -= n;
  s->needs_zero = true;
  freed_objects_ += n;
  freed_bytes_ += std::uint64_t{n} * bytes;
}

void* SpanCache::refill_span(std::size_t cls, bool noscan) {
  const SizeClass& c = size_class(cls);
  owner_.allocation_slow_path(c.slot_size);
  if (void* p = try_existing(cls, noscan)) return p;
  Span* s = new_span(c.pages, SpanState::small);
  // before_growth may have collected; space may have appeared meanwhile.
  if (current_[cls][noscan] != &empty_span_ || !partial_[cls][noscan].empty()) {
    if (void* p = try_existing(cls, noscan)) {
      s->list = kNoList;
      return_span(s);
      return p;
    }
  }
  s->size_class = static_cast<std::uint8_t>(cls);
  s->init_in_use(SpanState::small, static_cast<std::uint8_t>(cls), c.slot_size, c.slots, noscan);
  s->needs_zero = s->dirty;
  s->list = kCurrent;
  if (current_[cls][noscan] != &empty_span_) {
    Span* old = current_[cls][noscan];
    old->list = kNoList;
    push(full_[cls][noscan], old, kFull);
  }
  current_[cls][noscan] = s;
  std::uint32_t index = 0;
  void* p = s->take_from_cache(index);
  return finish(s, index, p);
}

void* SpanCache::allocate_large(std::size_t payload_bytes, bool noscan, bool finalizable) {
  if (payload_bytes > (std::size_t{1} << 46)) {
    throw OutOfMemory("moss: out of memory: a single object of " + std::to_string(payload_bytes) +
                      " bytes is larger than the address space allows");
  }
  std::size_t pages = (payload_bytes + kSlotOffset + kHeaderSize + kPageSize - 1) / kPageSize;
  owner_.allocation_slow_path(pages * kPageSize);
  // Sweep the large spans left from the last cycle first: their pages may
  // serve this request.
  while (!large_unswept_.empty()) {
    Span* s = &large_unswept_.front();
    unlink(s);
    if (sweep_span(s)) push(large_, s, kLarge);
  }
  Span* s = new_span(pages, SpanState::large);
  s->init_in_use(SpanState::large, 0, static_cast<std::uint32_t>(pages * kPageSize - kSlotOffset), 1, noscan);
  s->needs_zero = s->dirty;
  s->has_finalizable = finalizable;
  push(large_, s, kLarge);
  note_young_span(s);
  std::uint32_t index = 0;
  void* p = s->take_from_cache(index);
  MOSS_ASSERT(p != nullptr && index == 0);
  return finish(s, index, p);
}

// --- local scopes ------------------------------------------------------------

void* SpanCache::refill_scoped(ScopeSpans& scope, std::size_t cls, bool noscan, bool finalizable) {
  const SizeClass& c = size_class(cls);
  Span*& cur = scope.current[cls][noscan];
  // A full current span stays on the scope's list; slots freed behind its
  // cache (explicit frees) are used first.
  std::uint32_t index = 0;
  if (cur != &empty_span_ && cur->free_slots() != 0 && cur->rewind_cache()) {
    void* p = cur->take_from_cache(index);
    cur->has_finalizable |= finalizable;
    return finish(cur, index, p);
  }
  Span* s;
  SpanList& pool = scope_pool_[cls][noscan];
  if (!pool.empty()) {
    s = &pool.front();
    leave_pool(pool, s);
  } else {
    s = new_span(c.pages, SpanState::small, Zone::scope);
    s->size_class = static_cast<std::uint8_t>(cls);
    s->init_in_use(SpanState::small, static_cast<std::uint8_t>(cls), c.slot_size, c.slots, noscan);
    s->needs_zero = s->dirty;
    if (s->dirty) s->zeroed_from = s->slots;  // old data anywhere
  }
  enter_scope(scope, s);
  s->has_finalizable = finalizable;
  cur = s;
  scope.touch(cls, noscan);
  void* p = s->take_from_cache(index);
  MOSS_ASSERT(p != nullptr);
  return finish(s, index, p);
}

void* SpanCache::allocate_large_scoped(ScopeSpans& scope, std::size_t payload_bytes, bool noscan, bool finalizable) {
  if (payload_bytes > (std::size_t{1} << 46)) {
    throw OutOfMemory("moss: out of memory: a single object of " + std::to_string(payload_bytes) +
                      " bytes is larger than the address space allows");
  }
  std::size_t pages = (payload_bytes + kSlotOffset + kHeaderSize + kPageSize - 1) / kPageSize;
  Span* s = new_span(pages, SpanState::large, Zone::scope);
  s->init_in_use(SpanState::large, 0, static_cast<std::uint32_t>(pages * kPageSize - kSlotOffset), 1, noscan);
  s->needs_zero = s->dirty;
  s->has_finalizable = finalizable;
  s->scope_depth = scope.depth;
  s->list = kScope;
  mark_scope_plain(s->start, s->pages, false);
  scope.spans.push_back(*s);
  std::uint32_t index = 0;
  void* p = s->take_from_cache(index);
  MOSS_ASSERT(p != nullptr && index == 0);
  return finish(s, index, p);
}

void SpanCache::release_scope_span_slow(Span* s, Span** entry, ScopeSpans& record) {
#if MOSS_DEBUG || MOSS_ASAN
  std::size_t bytes = s->slot_size - kHeaderSize;
  for (std::uint32_t w = 0; w < (s->slots + 63) / 64; ++w) {
    for (std::uint64_t bits = s->allocated_word(w); bits != 0; bits &= bits - 1) {
      void* p = s->payload(w * 64 + static_cast<std::uint32_t>(__builtin_ctzll(bits)));
      header_of(p)->type = TypeRegistry::kNoType;
      poison_memory(p, bytes);
    }
  }
#endif
  if (!keeps_scope_span(s)) {
    count_scope_span_freed(s);
    if (entry != nullptr) *entry = &empty_span_;
    return_span(s);
    return;
  }
  pool_scope_span(s, entry != nullptr ? &record : nullptr);
}

void SpanCache::adopt_scope_span(Span* s, ScopeSpans& record) {
  MOSS_ASSERT(!s->list_hook.is_linked());
  if (s->alloc_count == 0) {
    release_scope_span(s, record);
    return;
  }
  if (Span** entry = record_entry_for(record, s)) *entry = &empty_span_;
  s->scope_depth = 0;
  s->list = kNoList;
  mark_scope_plain(s->start, s->pages, false);
  if (s->state == SpanState::large) {
    push(large_, s, kLarge);
    return;
  }
  bool room = s->rewind_cache();
  push(room ? partial_[s->size_class][s->noscan] : full_[s->size_class][s->noscan], s, room ? kPartial : kFull);
}


void SpanCache::free_in_span(Span* s, void* const* objects, std::size_t n) {
  // Objects that share a bitmap word go in one free_slots call.
  std::uint32_t word = 0;
  std::uint64_t dead = 0;
  for (std::size_t k = 0; k < n; ++k) {
    std::uint32_t i = s->index_of(objects[k]);
    MOSS_ASSERT(i < s->slots && s->payload(i) == objects[k]);
    if ((i >> 6) != word && dead != 0) {
      free_slots(s, word, dead);
      dead = 0;
    }
    word = i >> 6;
    MOSS_ASSERT((dead & (std::uint64_t{1} << (i & 63))) == 0);  // distinct objects
    dead |= std::uint64_t{1} << (i & 63);
  }
  if (dead != 0) free_slots(s, word, dead);
  if (n != 0) refile_after_frees(s);
}

void SpanCache::free_object(void* payload) {
  std::uint32_t i = 0;
  Span* s = payload != nullptr ? locate(payload, i) : nullptr;
  if (s == nullptr || s->payload(i) != payload || !s->is_allocated(i)) {
    throw UsageError(payload == nullptr
                         ? std::string("moss: free of a null pointer")
                         : "moss: free of " + std::to_string(reinterpret_cast<std::uintptr_t>(payload)) +
                               ", which is not the start of a live object of this heap (an interior, foreign "
                               "or stack pointer, or an object already freed)");
  }
  free_located(s, i, payload);
}

void SpanCache::refile_after_free(Span* s) {
  ListKind list = list_of(s);
  if (s->state == SpanState::large) {
    unlink(s);
    return_span(s);
    return;
  }
  if (s->alloc_count == 0 && list != kUnswept) {
    unlink(s);
    return_span(s);
  } else if (list == kFull) {
    unlink(s);
    push(partial_[s->size_class][s->noscan], s, kPartial);
  }
}

void SpanCache::start_sweep() {
  MOSS_ASSERT(unswept_spans_ == 0);
  MOSS_ASSERT(!background_ || sweep_work_left_.load(std::memory_order_relaxed) <= 0);
  ++epoch_;
  prev_gen_ = gen_;
  gen_ = generation(id_, epoch_);
  sweep_cursor_ = 1;
  // Scope spans are not swept: their objects live until the scope ends.
  for (ScopeSpans& scope : scopes_) {
    for (Span& s : scope.spans) {
      std::memset(s.mark_bits, 0, sizeof(std::uint64_t) * ((s.slots + 63) / 64));
      s.swept_epoch = epoch_;
      s.bits_gen.store(gen_, std::memory_order_relaxed);
    }
  }
  for (std::size_t c = 0; c < kNumSizeClasses; ++c) {
    for (int k = 0; k < 2; ++k) {
      for (Span& s : scope_pool_[c][k]) s.bits_gen.store(gen_, std::memory_order_relaxed);
    }
  }
  for (std::size_t c = 1; c < kNumSizeClasses; ++c) {
    for (int k = 0; k < 2; ++k) {
      if (current_[c][k] != &empty_span_) {
        Span* s = current_[c][k];
        current_[c][k] = &empty_span_;
        s->list = kNoList;
        push(unswept_[c][k], s, kUnswept);
        ++unswept_spans_;
      }
      // Whole lists move in O(1): their spans keep their tags, and the
      // stale epoch says where they are now (list_of()).
      for (SpanList* list : {&partial_[c][k], &full_[c][k]}) {
        unswept_spans_ += list->size();
        unswept_[c][k].splice(unswept_[c][k].end(), *list);
      }
    }
  }
  unswept_spans_ += large_.size();
  large_unswept_.splice(large_unswept_.end(), large_);
}

void SpanCache::clear_all_marks() {
  MOSS_ASSERT(unswept_spans_ == 0);
  for (Span* s : all_spans_) std::memset(s->mark_bits, 0, sizeof(std::uint64_t) * ((s->slots + 63) / 64));
  sticky_marks_ = false;
}

void SpanCache::finish_sweep() {
  for (std::size_t c = 1; c < kNumSizeClasses; ++c) {
    for (int k = 0; k < 2; ++k) {
      SpanList& unswept = unswept_[c][k];
      while (!unswept.empty()) {
        Span* s = &unswept.front();
        unlink(s);
        if (!sweep_span(s)) continue;
        push(s->free_slots() != 0 ? partial_[c][k] : full_[c][k], s, s->free_slots() != 0 ? kPartial : kFull);
      }
    }
  }
  while (!large_unswept_.empty()) {
    Span* s = &large_unswept_.front();
    unlink(s);
    if (sweep_span(s)) push(large_, s, kLarge);
  }
}

std::size_t SpanCache::sweep_some(std::size_t n) {
  std::size_t done = 0;
  for (std::size_t c = sweep_cursor_; c < kNumSizeClasses && done < n; ++c) {
    for (int k = 0; k < 2 && done < n; ++k) {
      SpanList& unswept = unswept_[c][k];
      for (std::size_t tries = unswept.size(); !unswept.empty() && done < n && tries != 0; --tries) {
        Span* s = &unswept.front();
        if (passed_busy(unswept, s)) continue;
        unlink(s);
        ++done;
        if (!sweep_span(s)) continue;
        push(s->free_slots() != 0 ? partial_[c][k] : full_[c][k], s, s->free_slots() != 0 ? kPartial : kFull);
      }
    }
    if (done < n) sweep_cursor_ = c + 1;
  }
  while (done < n && !large_unswept_.empty()) {
    Span* s = &large_unswept_.front();
    unlink(s);
    ++done;
    if (sweep_span(s)) push(large_, s, kLarge);
  }
  return done;
}

bool SpanCache::sweep_span(Span* s) {
  MOSS_ASSERT(s->list == kNoList);
  settle(s);
  s->swept_epoch = epoch_;
  if (s->alloc_count == 0) {
    return_span(s);
    return false;
  }
  return true;
}

void SpanCache::settle(Span* s) {
  std::uint64_t gen = s->bits_gen.load(std::memory_order_acquire);
  unsigned spins = 0;
  while (gen != gen_) {
    if (gen == prev_gen_) {
      if (background_ && !s->bits_gen.compare_exchange_weak(gen, kSweepingGen, std::memory_order_acquire,
                                                            std::memory_order_acquire)) {
        continue;
      }
      std::uint64_t freed = sweep_bits(s, finalize_queue_);
      freed_objects_ += freed;
      freed_bytes_ += freed * (s->slot_size - kHeaderSize);
      s->bits_gen.store(gen_, std::memory_order_release);
      return;
    }
    // A helper thread is sweeping it: that takes microseconds, unless the
    // helper lost its core, so the wait gives the core away after a while.
    MOSS_ASSERT(gen == kSweepingGen);
    if (++spins < 256) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
    gen = s->bits_gen.load(std::memory_order_acquire);
  }
}

bool SpanCache::passed_busy(SpanList& unswept, Span* s) {
  if (s->bits_gen.load(std::memory_order_acquire) != kSweepingGen) {
    settle(s);  // swept already, or claimed and swept here
    return false;
  }
  // A helper thread is sweeping it: lazy sweeping takes the next rather
  // than wait (this one goes to the back of its list).
  unswept.pop_front();
  unswept.push_back(*s);
  return true;
}

std::uint64_t SpanCache::sweep_bits(Span* s, std::vector<void*>& finalize) {
  const std::size_t first_found = finalize.size();
  s->drop_cache();  // from here on the alloc bits are exact
  std::uint32_t words = (s->slots + 63) / 64;
  std::size_t bytes = s->slot_size - kHeaderSize;
  std::uint64_t freed = 0;
  for (std::uint32_t w = 0; w < words; ++w) {
    std::uint64_t dead = s->alloc_bits[w] & ~s->mark_bits[w];
    if (!s->has_finalizable) {
      // No finalizer to run: the bitmaps are the whole story (a dead slot's
      // stale header is rewritten when the slot is reused). Checking builds
      // still clear and poison each dead object.
      freed += static_cast<std::uint64_t>(__builtin_popcountll(dead));
      if constexpr (kPoisoning) {
        for (; dead != 0; dead &= dead - 1) {
          void* p = s->payload(w * 64 + static_cast<std::uint32_t>(__builtin_ctzll(dead)));
          ObjectHeader* h = header_of(p);
          MOSS_ASSERT(!TypeRegistry::valid(h->type) || (h->gc_state & kFinalizedBit) != 0 ||
                      TypeRegistry::get(h->type).finalize == nullptr);  // has_finalizable was set
          h->type = TypeRegistry::kNoType;
          poison_memory(p, bytes);
        }
      }
      continue;
    }
    while (dead != 0) {
      unsigned b = static_cast<unsigned>(__builtin_ctzll(dead));
      dead &= dead - 1;
      std::uint32_t i = w * 64 + b;
      void* p = s->payload(i);
      ObjectHeader* h = header_of(p);
      if ((h->gc_state & kFinalizedBit) == 0 && TypeRegistry::valid(h->type) &&
          TypeRegistry::get(h->type).finalize != nullptr) {
        // Kept until its finalizer has run; reclaimed next cycle.
        s->set_mark(i);
        finalize.push_back(p);
        continue;
      }
      h->type = TypeRegistry::kNoType;
      poison_memory(p, bytes);
      ++freed;
    }
  }
  std::swap(s->alloc_bits, s->mark_bits);
  if (sticky_marks_) {
    // The survivors stay marked (past `words` both bitmaps are clear), but
    // for the dead kept for their finalizers: the next cycle, minor or not,
    // decides whether they stay (a finalizer resurrected them) or go.
    std::memcpy(s->mark_bits, s->alloc_bits, sizeof(std::uint64_t) * words);
    for (std::size_t k = first_found; k < finalize.size(); ++k) s->clear_mark(s->index_of(finalize[k]));
  } else {
    std::memset(s->mark_bits, 0, sizeof(std::uint64_t) * kBitmapWords);
  }
  std::uint32_t count = 0;
  for (std::uint32_t w = 0; w < words; ++w) count += static_cast<std::uint32_t>(__builtin_popcountll(s->alloc_bits[w]));
  s->alloc_count = count;
  if (freed != 0) s->needs_zero = true;
  if (count != 0) s->refill_cache();
  return freed;
}

void SpanCache::publish_sweep_work() {
  MOSS_ASSERT(background_);
  sweep_work_ = all_spans_;
  sweep_work_left_.store(static_cast<std::int64_t>(sweep_work_.size()), std::memory_order_release);
}

// Helpers take spans from the end of the published list (the owner's lazy
// sweeping starts from the small classes' lists), claim each unswept one
// and sweep its bitmaps.
void SpanCache::sweep_in_background() {
  std::vector<void*> finalize;
  for (;;) {
    std::int64_t i = sweep_work_left_.fetch_sub(1, std::memory_order_acq_rel) - 1;
    if (i < 0) break;
    Span* s = sweep_work_[static_cast<std::size_t>(i)];
    std::uint64_t expected = prev_gen_;
    if (!s->bits_gen.compare_exchange_strong(expected, kSweepingGen, std::memory_order_acquire,
                                             std::memory_order_relaxed)) {
      continue;  // swept already, being swept, or no longer this heap's
    }
    std::uint64_t freed = sweep_bits(s, finalize);
    // Counts and finds are published before the span is, so an owner that
    // sees the span swept sees them too.
    background_freed_objects_.fetch_add(freed, std::memory_order_relaxed);
    background_freed_bytes_.fetch_add(freed * (s->slot_size - kHeaderSize), std::memory_order_relaxed);
    background_swept_spans_.fetch_add(1, std::memory_order_relaxed);
    if (!finalize.empty()) {
      std::lock_guard<std::mutex> lock(background_mutex_);
      background_finalize_.insert(background_finalize_.end(), finalize.begin(), finalize.end());
      background_found_.store(true, std::memory_order_release);
      finalize.clear();
    }
    s->bits_gen.store(gen_, std::memory_order_release);
  }
}

void SpanCache::take_background_results() {
  std::lock_guard<std::mutex> lock(background_mutex_);
  finalize_queue_.insert(finalize_queue_.end(), background_finalize_.begin(), background_finalize_.end());
  background_finalize_.clear();
  background_found_.store(false, std::memory_order_relaxed);
}

const char* SpanCache::verify() const {
  if (background_) {
    // Helpers may be rewriting unswept spans' bitmaps: settle them all.
    auto* self = const_cast<SpanCache*>(this);
    for (Span* s : self->all_spans_) self->settle(s);
  }
  const char* problem = nullptr;
  std::size_t bytes = 0, spans = 0;
  for_each_span([&](const Span& s) {
    ++spans;
    bytes += s.bytes();
    if (problem != nullptr) return;
    if (s.owner.load(std::memory_order_relaxed) != this) problem = "a span in this heap's lists has another owner";
    else if (s.state == SpanState::free) problem = "a free span is in a heap's lists";
    std::uint32_t count = 0;
    std::uint32_t words = (s.slots + 63) / 64;
    for (std::uint32_t w = 0; w < words; ++w) count += static_cast<std::uint32_t>(__builtin_popcountll(s.allocated_word(w)));
    if (problem == nullptr && count != s.alloc_count) problem = "a span's alloc count disagrees with its alloc bits";
    if (problem == nullptr && !allocate_black_ && s.swept_epoch == epoch_) {
      for (std::uint32_t w = 0; w < words; ++w) {
        if (!sticky_marks_ && s.mark_bits[w] != 0) problem = "a swept span has mark bits set outside marking";
        if (sticky_marks_ && (s.mark_bits[w] & ~s.allocated_word(w)) != 0) problem = "a swept span marks a free slot";
      }
    }
    if (problem == nullptr) {
      // Every bit the free cache offers is a slot of its word that the
      // cache has claimed in the alloc bits (so no object holds it).
      std::uint32_t w = s.free_index >> 6;
      std::uint64_t cached = s.free_cache;
      if (cached != 0 && ((s.free_index & 63) != 0 || w >= words || (cached & ~s.alloc_bits[w]) != 0 ||
                          (w + 1 == words && s.slots % 64 != 0 && (cached >> (s.slots % 64)) != 0))) {
        problem = "a span's free cache offers a missing slot or one it has not claimed";
      }
    }
    if (problem == nullptr && any_scope_plain(s.start, s.pages) &&
        !(s.scope_depth != 0 && s.list == kScope && s.refers_out && s.escaped == 0)) {
      problem = "a page the barrier treats as plain is not in a scope span that refers out with no escaped object";
    }
  });
  for (std::size_t c = 0; c < kNumSizeClasses && problem == nullptr; ++c) {
    for (int k = 0; k < 2 && problem == nullptr; ++k) {
      for (const Span& s : scope_pool_[c][k]) {
        if (s.alloc_count != 0) problem = "a pooled scope span holds objects";
        else if (any_scope_plain(s.start, s.pages)) problem = "a pooled scope span's pages are plain for the barrier";
        else if (s.parked_by != nullptr && s.parked_by->current[c][k] != &s)
          problem = "a parked scope span is not its record's current span";
      }
    }
  }
  if (problem == nullptr && bytes != heap_bytes_) problem = "heap_bytes disagrees with the spans held";
  if (problem == nullptr && spans != span_count_) problem = "span count disagrees with the spans held";
  return problem;
}

}  // namespace moss::detail
