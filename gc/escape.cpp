// gc/escape.cpp — local scopes, escapes, allocation sites and the sampling
// allocation hook: the HeapImpl half of moss/local_scope.hpp.
//
// A scope's life (the story, told once):
//  1. Open (open_scope): a ScopeSpans record (reused from earlier scopes of
//     the heap) is linked into the SpanCache at depth = the innermost open
//     scope's depth + 1. The first open scope of a heap raises
//     scope_barrier_users (unless the heap still holds it from earlier
//     scopes): the barrier then sends stores of values in the scope zone
//     (runtime/barrier.hpp) to its slow path, which tests the header.
//  2. Allocation (allocate_local, inline): SpanCache::allocate_scoped takes a
//     slot from the scope's own current span for the class (the same
//     take_from_cache as the heap's fast path); the header gets kLocalBit
//     and the site id (and the collector's birth state). No collector hook
//     runs: a local object is none of the collector's business until it
//     escapes, but for its references, which keep heap objects alive as a
//     stack frame's would (refcount counts none of them and scans the open
//     scopes' objects with the stacks; mark-sweep marks and traces a local
//     object like any object, but never sweeps it).
//  3. Escapes (escape): kLocalBit and the site are cleared, the span's
//     escape count goes up, the collector hears of it (on_escape), and the
//     scope-local objects the object reaches are escaped the same way, from
//     an explicit work list. The barrier (escape_on_store) escapes a local
//     value stored into a holder that is not local at the same or a greater
//     depth; Root assignment and moss::escape() escape their target.
//  4. Exit (close_scope), innermost first:
//     a. the stacks of the heap's suspended coroutines (and the thread's own
//        stack, if the scope closes inside a coroutine) are scanned
//        conservatively for pointers into the scope's objects; those escape;
//     b. debug builds scan the current stack above the scope object the
//        same way (the contract in local_scope.hpp) and report a hit once;
//     c. the collector forgets anything that might point at local objects
//        (before_local_reclaim) and the scope is unlinked. The heap keeps
//        its hold on scope_barrier_users when its last scope closes, and lets go
//        at its next span refill with no scope open (an atomic
//        read-modify-write on every outermost open and close cost tiny
//        scopes a third of their time);
//     d. each span of the scope is disposed of: a span with no escaped
//        object, no finalizable object and (under refcount) no weak slots
//        to forget is released wholesale (kept for the next scope or given
//        back); otherwise each still-local object is reclaimed one by one
//        (refcount's explicit-free path forgets its weak slots, then its
//        finalizer runs) and the span, holding only escaped objects now,
//        joins the heap's ordinary lists.
//     The cost is in proportion to the scope's spans and objects; nothing
//     else in the heap is looked at, and nothing that escaped is freed.
//  A scope closed out of order, or abandoned when the heap dies, has all its
//  objects escaped and its spans handed to the heap (abandon_scope).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "gc/heap_impl.hpp"
#include "gc/roots.hpp"
#include "moss/local_scope.hpp"
#include "moss/member.hpp"
#include "runtime/barrier.hpp"
#include "runtime/escape/sites.hpp"

namespace moss {

AllocSite::AllocSite(std::string name, SitePolicy policy)
    : name_(std::move(name)), id_(detail::register_site(this)), policy_(policy) {}

AllocSite::~AllocSite() { detail::unregister_site(id_); }

namespace detail {

// --- the public entry points ----------------------------------------------

void* scope_allocate(HeapImpl& heap, ScopeSpans& scope, TypeIndex type, std::size_t bytes) {
  return heap.allocate_local(scope, type, bytes, 0);
}
void* scope_allocate(HeapImpl& heap, ScopeSpans& scope, const SizedType& sized) {
  return heap.allocate_local(scope, sized);
}


void escape_object(Heap& heap, void* object) {
  HeapImpl& h = heap.impl();
  h.check_object(object, "escape");
  h.escape_if_local(object);
}

// --- escapes ----------------------------------------------------------------

namespace {

// Pushes every scope-local object an object refers to (strongly, weakly or
// through conservatively scanned words) on a work list.
class EscapeVisitor final : public Visitor {
 public:
  EscapeVisitor(const SpanCache& cache, std::vector<void*>& work) : cache_(cache), work_(work) {}
  void visit_conservative(const void* begin, const void* end) override {
    for_each_word(begin, end, [this](const void* w) { add(cache_.find_object(w)); });
  }

 protected:
  void visit_pointer(const void* object) override { visit_candidate(object); }
  void visit_candidate(const void* maybe) override {
    if (maybe != nullptr && cache_.is_object_start(maybe)) add(maybe);
  }
  // A weak reference from an escaped object to a local one would dangle
  // when the scope ends: its target escapes too.
  void visit_weak(void* const* slot) override { visit_candidate(*slot); }

 private:
  void add(const void* object) {
    if (object != nullptr && (header_of(object)->gc_state & kLocalBit) != 0) {
      work_.push_back(const_cast<void*>(object));
    }
  }
  const SpanCache& cache_;
  std::vector<void*>& work_;
};

}  // namespace

void HeapImpl::escape(void* object) {
  // Reentrant calls (a collector hook escaping more) share the work list.
  bool outermost = escape_work_.empty();
  escape_work_.push_back(object);
  if (!outermost) return;
  EscapeVisitor visitor(cache_, escape_work_);
  std::uint32_t outermost_depth = ~0u;
  while (!escape_work_.empty()) {
    void* p = escape_work_.back();
    escape_work_.pop_back();
    ObjectHeader* h = header_of(p);
    if ((h->gc_state & kLocalBit) == 0) continue;
    std::uint32_t site = (h->gc_state & kSiteMask) >> kSiteShift;
    h->gc_state &= ~(kLocalBit | kSiteMask);
    ++local_escaped;
    Span* s = cache_.span_of(p);
    // Stores into the span's objects count again (runtime/barrier.hpp).
    if (s->escaped++ == 0) mark_scope_plain(s->start, s->pages, false);
    outermost_depth = std::min(outermost_depth, s->scope_depth);
    if (site != 0) note_site_escape(site);
    collector_->on_escape(p);
    if ((TypeRegistry::flags(h->type) & type_leaf) == 0) {
      const TypeInfo& ti = TypeRegistry::get(h->type);
      if (ti.trace != nullptr) ti.trace(p, visitor);
    }
  }
  note_escapes_from(outermost_depth);
}

void HeapImpl::note_escapes_from(std::uint32_t depth) {
  for (ScopeSpans* scope : open_scopes_) {
    if (scope->depth >= depth) scope->scan_all = true;
  }
}

void HeapImpl::escape_on_store(void* holder, void* value) {
  // Objects start 8-byte aligned at least: anything else (a tagged value)
  // is not one.
  if (value == nullptr || (reinterpret_cast<std::uintptr_t>(value) & 7) != 0) return;
  Span* vs = PageHeap::lookup(value);
  if (vs == nullptr || vs->scope_depth == 0) return;
  if (cache_.find_object(value) != value) return;  // not an object start of this heap
  escape_local_on_store(holder, value);
}

void HeapImpl::escape_local_on_store(void* holder, void* value) {
  if ((header_of(value)->gc_state & kLocalBit) == 0) return;
  Span* vs = cache_.span_of(value);
  // Another heap's object: references across heaps keep nothing alive.
  if (vs->owner.load(std::memory_order_relaxed) != &cache_) return;
  if (holder != nullptr && (header_of(holder)->gc_state & kLocalBit) != 0 &&
      cache_.span_of(holder)->scope_depth >= vs->scope_depth) {
    return;  // the same scope or an inner one: dies no later than the value
  }
  escape(value);
}

// --- opening and closing ------------------------------------------------------

ScopeSpans* HeapImpl::open_scope() {
  // (Running on the heap's own thread stack proves the thread.)
  if (current_stack() != thread_stack_ && std::this_thread::get_id() != owner_thread_) {
    throw UsageError("moss: LocalScope opened on a thread that does not own the heap; a heap and its scopes "
                     "belong to the thread that created the heap");
  }
  ScopeSpans* scope;
  if (!free_scope_records_.empty()) {
    scope = free_scope_records_.back();
    free_scope_records_.pop_back();
  } else {
    scope_records_.push_back(std::make_unique<ScopeSpans>());
    scope = scope_records_.back().get();
  }
  std::uint32_t depth = open_scopes_.empty() ? 1 : open_scopes_.back()->depth + 1;
  cache_.begin_scope(*scope, depth);
  open_scopes_.push_back(scope);
  if (!scope_barrier_held_) {
    change_barrier_users(0, 0, 1);
    scope_barrier_held_ = true;
  }
  return scope;
}

void HeapImpl::release_scope_record(ScopeSpans* scope) {
  if (open_scopes_.back() == scope) {
    open_scopes_.pop_back();
  } else {
    std::erase(open_scopes_, scope);
  }
  cache_.end_scope(*scope);
  free_scope_records_.push_back(scope);
}

void HeapImpl::drop_scope_barrier() {
  if (!scope_barrier_held_ || !open_scopes_.empty()) return;
  change_barrier_users(0, 0, -1);
  scope_barrier_held_ = false;
}

void HeapImpl::abandon_scope(ScopeSpans* scope) {
  collector_->before_local_reclaim();
  SpanList spans;
  spans.splice(spans.end(), scope->spans);  // (not swap: 16-byte loads of the just-written list head stall)
  release_scope_record(scope);
  note_escapes_from(scope->depth);  // (inner scopes may refer to its objects)
  while (!spans.empty()) {
    Span* s = &spans.front();
    spans.pop_front();
    std::uint32_t words = (s->slots + 63) / 64;
    for (std::uint32_t w = 0; w < words; ++w) {
      for (std::uint64_t bits = s->allocated_word(w); bits != 0; bits &= bits - 1) {
        void* p = s->payload(w * 64 + static_cast<std::uint32_t>(__builtin_ctzll(bits)));
        ObjectHeader* h = header_of(p);
        if ((h->gc_state & kLocalBit) == 0) continue;
        h->gc_state &= ~(kLocalBit | kSiteMask);
        ++local_escaped;
        collector_->on_escape(p);
      }
    }
    s->list = kNoList;
    cache_.adopt_scope_span(s, *scope);
  }
}

#if MOSS_DEBUG
namespace {
bool rescue_reported = false;
}
#endif

void HeapImpl::escape_scope_stacks(const ScopeSpans& scope, const void* scope_object) {
  std::uint32_t depth = scope.depth;
  std::uint64_t found = 0;
  // The address range of the scope's spans: most words of a stack (small
  // integers, return addresses, pointers into the stack or to heap
  // objects) fall outside it and cost two compares, not a pagemap lookup.
  std::uintptr_t lo = UINTPTR_MAX, hi = 0;
  for (const Span& s : scope.spans) {
    lo = std::min(lo, reinterpret_cast<std::uintptr_t>(s.start));
    hi = std::max(hi, reinterpret_cast<std::uintptr_t>(s.end()));
  }
  if (lo >= hi) return;  // no spans, no objects
  auto check = [this, depth, lo, hi, &found](const void* begin, const void* end) {
    for_each_word(begin, end, [this, depth, lo, hi, &found](const void* w) {
      if (reinterpret_cast<std::uintptr_t>(w) - lo >= hi - lo) return;
      Span* s = PageHeap::lookup(w);
      if (s == nullptr || s->scope_depth != depth) return;
      void* p = cache_.find_object(w);
      if (p != nullptr && (header_of(p)->gc_state & kLocalBit) != 0) {
        ++found;
        escape(p);
      }
    });
  };
  StackSegment* running = current_stack();
  // Suspended stacks (coroutines of this heap, and the thread's own stack
  // when the scope closes inside a coroutine) outlive the scope.
  sync_switched_stacks();
  for (StackSegment& segment : stacks_) {
    if (&segment == running) continue;
    if (char* from = switched_scan_start(segment)) check(from, segment.base);
  }
  if (thread_stack_ != running && thread_stack_->saved_sp != nullptr) {
    check(thread_stack_->saved_sp, thread_stack_->base);
  }
#if MOSS_DEBUG
  // The frames above the scope object outlive it: a pointer there breaks
  // the contract. Keep the object rather than let it dangle.
  if (running->contains(scope_object)) {
    found = 0;
    check(static_cast<const char*>(scope_object) + sizeof(LocalScope), running->base);
    if (found != 0) {
      local_rescued += found;
      if (!rescue_reported) {
        rescue_reported = true;
        std::fprintf(stderr,
                     "moss: a pointer to a LocalScope object was found on the stack above the scope when it "
                     "ended; the object was kept as a heap object (call moss::escape() on objects that "
                     "outlive their scope). Reported once; see HeapStats::local_rescued.\n");
      }
    }
  }
#else
  (void)scope_object;
#endif
}

void HeapImpl::close_scope(ScopeSpans* scope, const void* scope_object) {
  // A misuse is reported unless an exception is unwinding the stack (a
  // throw from a destructor then would end the program). Running on the
  // heap's own thread stack proves the thread (each thread has its own).
  StackSegment* running = current_stack();
  bool on_thread_stack = running == thread_stack_;
  if (!on_thread_stack && std::this_thread::get_id() != owner_thread_) {
    // Nothing is touched: the scope stays open (its objects stay alive).
    if (std::uncaught_exceptions() == 0) {
      throw UsageError("moss: LocalScope destroyed on a thread that does not own its heap; the scope stays "
                       "open and its objects are never reclaimed");
    }
    return;
  }
  if (open_scopes_.empty() || open_scopes_.back() != scope) {
    abandon_scope(scope);
    if (std::uncaught_exceptions() == 0) {
      throw UsageError("moss: LocalScope closed while a scope opened after it on the same heap is still open; "
                       "close scopes innermost first. Its objects were kept as heap objects");
    }
    return;
  }
#if !MOSS_DEBUG
  // Without coroutines nothing suspended can hold the scope's objects.
  if (!stacks_.empty() || !on_thread_stack)
#endif
    escape_scope_stacks(*scope, scope_object);
  collector_->before_local_reclaim();
  SpanList spans;
  spans.splice(spans.end(), scope->spans);  // (not swap: 16-byte loads of the just-written list head stall)
  release_scope_record(scope);

  std::uint64_t reclaimed = 0, reclaimed_bytes = 0;
  const bool hook = free_hook_ && local_free_hook_;
  while (!spans.empty()) {
    Span* s = &spans.front();
    spans.pop_front();
    s->list = kNoList;
    std::size_t bytes = s->slot_size - kHeaderSize;
    if (s->escaped == 0 && !s->has_finalizable && !hook) {
      reclaimed += s->alloc_count;
      reclaimed_bytes += std::uint64_t{s->alloc_count} * bytes;
      cache_.release_scope_span(s, *scope);
      continue;
    }
    std::uint32_t words = (s->slots + 63) / 64;
    for (std::uint32_t w = 0; w < words; ++w) {
      for (std::uint64_t bits = s->allocated_word(w); bits != 0; bits &= bits - 1) {
        std::uint32_t i = w * 64 + static_cast<std::uint32_t>(__builtin_ctzll(bits));
        void* p = s->payload(i);
        ObjectHeader* h = header_of(p);
        if ((h->gc_state & kLocalBit) == 0) continue;  // escaped: stays
        if (hook) collector_->before_explicit_free(p);
        if (finalizer_pending(p)) {
          finalize(p);
          // A finalizer that made the object escape (against the rules)
          // gets to keep it.
          if ((h->gc_state & kLocalBit) == 0) continue;
        }
        ++reclaimed;
        reclaimed_bytes += bytes;
        cache_.release_object(s, i, p);
      }
    }
    cache_.adopt_scope_span(s, *scope);
  }
  local_reclaimed += reclaimed;
  cache_.forget_allocation(reclaimed_bytes);
}

ScopeSpans* scope_open(Heap& heap) { return heap.impl().open_scope(); }

void scope_close(Heap& heap, ScopeSpans* scope, const void* scope_object) {
  heap.impl().close_scope(scope, scope_object);
}

// --- allocation sites -------------------------------------------------------

SiteCounters& HeapImpl::site_counters(AllocSite& site) {
  std::uint32_t id = site.id_;
  if (id >= sites_.size()) sites_.resize(id + 1);
  SiteCounters& c = sites_[id];
  if (c.site != &site) c = SiteCounters{&site};  // first use, or a new site with a reused id
  return c;
}

void* HeapImpl::allocate_at(TypeIndex type, std::size_t bytes, AllocSite& site) {
  SiteCounters& c = site_counters(site);
  ++c.allocations;
  c.bytes += bytes;
  if (open_scopes_.empty() || !site.allocates_locally()) return allocate(type, bytes);
  ++c.local_allocations;
  std::uint32_t id = site.id_ <= kMaxHeaderSite ? site.id_ : 0;
  return allocate_local(*open_scopes_.back(), type, bytes, id);
}

void HeapImpl::note_site_escape(std::uint32_t id) {
  if (id >= sites_.size() || sites_[id].site == nullptr) return;
  SiteCounters& c = sites_[id];
  ++c.escapes;
  AllocSite& site = *c.site;
  if (site.policy() == SitePolicy::adaptive && c.local_allocations >= AllocSite::kAdaptiveMinAllocations &&
      c.escapes * 100 > c.local_allocations * AllocSite::kAdaptiveEscapePercent) {
    site.flipped_.store(true, std::memory_order_relaxed);
  }
}

std::vector<SiteProfile> HeapImpl::escape_profile() const {
  std::vector<SiteProfile> out;
  for (const SiteCounters& c : sites_) {
    if (c.site == nullptr) continue;
    SiteProfile p;
    p.name = c.site->name();
    p.policy = c.site->policy();
    p.local = c.site->allocates_locally();
    p.allocations = c.allocations;
    p.local_allocations = c.local_allocations;
    p.escapes = c.escapes;
    p.bytes = c.bytes;
    out.push_back(p);
  }
  return out;
}

// --- the sampling allocation hook ---------------------------------------------

std::uint64_t HeapImpl::next_sample_interval() {
  // xorshift64*, then an exponential draw with mean sample_rate_.
  sample_random_ ^= sample_random_ >> 12;
  sample_random_ ^= sample_random_ << 25;
  sample_random_ ^= sample_random_ >> 27;
  std::uint64_t r = sample_random_ * 0x2545F4914F6CDD1Dull;
  double u = (static_cast<double>(r >> 11) + 1.0) / 9007199254740993.0;  // (0, 1]
  double next = -std::log(u) * static_cast<double>(sample_rate_);
  return static_cast<std::uint64_t>(next) + 1;
}

void HeapImpl::set_alloc_sampler(std::size_t rate_bytes, AllocSampler sampler, void* context) {
  if (rate_bytes == 0 || sampler == nullptr) {
    sampler_ = nullptr;
    sampler_context_ = nullptr;
    sample_rate_ = 0;
  } else {
    sampler_ = sampler;
    sampler_context_ = context;
    sample_rate_ = rate_bytes;
    sample_random_ ^= reinterpret_cast<std::uintptr_t>(this) * 0x9E3779B97F4A7C15ull;
    if (sample_random_ == 0) sample_random_ = 1;
    sample_left_ = next_sample_interval();
  }
  update_hooks();
}

void HeapImpl::sample(void* object, std::size_t bytes) {
  if (bytes < sample_left_) {
    sample_left_ -= bytes;
    return;
  }
  sample_left_ = next_sample_interval();
  if (in_sampler_) return;
  in_sampler_ = true;
  try {
    sampler_(object, bytes, sampler_context_);
  } catch (...) {
    in_sampler_ = false;
    throw;
  }
  in_sampler_ = false;
}

void HeapImpl::local_allocation_hooks(void* object, std::size_t bytes) {
  if (sampler_ != nullptr) sample(object, bytes);
  if (options_.stress_every != 0 && --stress_countdown_ == 0) {
    stress_countdown_ = options_.stress_every;
    collector_->collect();
    run_finalizers();
  }
}

}  // namespace detail

}  // namespace moss
