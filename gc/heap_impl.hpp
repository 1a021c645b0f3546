// gc/heap_impl.hpp — one heap: its spans, its collector, its roots.
//
// HeapImpl is what `moss::Heap` points to. It owns the heap's SpanCache (the
// runtime layer's per-heap allocator), the collector chosen at creation, and
// every root the collectors scan: the owner thread's stack, coroutine stack
// segments, Root handles, root callbacks and conservative ranges. It also
// keeps the statistics the collectors share (pauses, phase times) and runs
// finalizers at safe points (never inside a collector's pause).
//
// The allocation story is told in runtime/span_cache.hpp; this layer adds
// the header (type index, collector state) and the per-allocation hooks that
// only some configurations want (stress collections, refcount's new-object
// log, the sampling allocation hook), behind one predictable branch. Local
// scopes and escapes (allocate_local and the rest) are told in
// gc/escape.cpp.
#pragma once

#include <boost/intrusive/list.hpp>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "gc/collector.hpp"
#include "gc/pause.hpp"
#include "moss/root.hpp"
#include "runtime/span_cache.hpp"
#include "runtime/stacks/stack_segment.hpp"
#include "runtime/type_registry.hpp"

namespace moss::detail {

using RootList = boost::intrusive::list<RootNode, boost::intrusive::base_hook<RootHook>,
                                        boost::intrusive::constant_time_size<false>>;

struct RootCallbackEntry {
  std::uint64_t id;
  RootCallback callback;
  void* context;
};
struct RootRangeEntry {
  std::uint64_t id;
  const void* begin;
  const void* end;
};

// What a heap counts for one allocation site (indexed by AllocSite id).
struct SiteCounters {
  AllocSite* site = nullptr;
  std::uint64_t allocations = 0;
  std::uint64_t local_allocations = 0;
  std::uint64_t escapes = 0;
  std::uint64_t bytes = 0;
};

// Stack a collection may need below its caller (frames of the collector
// and of finalizers); slow paths check that much is left.
inline constexpr std::size_t kCollectorStackReserve = 32 * 1024;

class HeapImpl final : public SpanCacheOwner {
 public:
  explicit HeapImpl(const HeapOptions& options);
  ~HeapImpl();

  const HeapOptions& options() const { return options_; }
  SpanCache& cache() { return cache_; }
  const SpanCache& cache() const { return cache_; }
  CollectorBase& collector() { return *collector_; }

  // The fast path makes no call but tail calls, so it saves no registers:
  // everything else is allocate_slow (the same steps, in full).
  MOSS_INLINE void* allocate(TypeIndex type, std::size_t bytes) {
    if (MOSS_LIKELY(TypeRegistry::valid(type) && bytes <= kMaxSmallPayload)) {
      std::uint32_t flags = TypeRegistry::flags(type);
      return allocate_in_bin(bin_for(bytes, flags), (flags & type_finalizable) != 0, type, bytes);
    }
    return allocate_slow(type, bytes);
  }
  // The size class and span kind of a small payload of a type with `flags`
  // (SpanCache::try_allocate_bin's `bin`).
  static std::uint32_t bin_for(std::size_t bytes, std::uint32_t flags) {
    return SpanCache::bin(size_class_for_payload(bytes, flags), (flags & type_leaf) != 0);
  }
  // Heap::sized_type: `type` at `bytes` resolved (UsageError for a type
  // never registered).
  static SizedType sized_type(TypeIndex type, std::size_t bytes) {
    if (!TypeRegistry::valid(type)) invalid_type(type);
    std::uint32_t flags = TypeRegistry::flags(type);
    SizedType sized;
    sized.type_ = type;
    sized.bytes_ = bytes;
    sized.finalizable_ = (flags & type_finalizable) != 0;
    if (bytes <= kMaxSmallPayload) sized.bin_ = bin_for(bytes, flags);
    return sized;
  }
  // allocate() for a resolved type and size (a default-constructed
  // SizedType takes the slow path, which throws).
  MOSS_INLINE void* allocate(const SizedType& sized) {
    if (MOSS_UNLIKELY(sized.bin_ >= SpanCache::kBins)) return allocate_slow(sized.type_, sized.bytes_);
    return allocate_in_bin(sized.bin_, sized.finalizable_, sized.type_, sized.bytes_);
  }
  // allocate() once the type and size are resolved: `bin` from bin_for. The
  // slow path checks everything again.
  MOSS_INLINE void* allocate_in_bin(std::uint32_t bin, bool finalizable, TypeIndex type, std::size_t bytes) {
    std::size_t clear = 0;
    void* p = cache_.try_allocate_bin(bin, finalizable, clear);
    if (MOSS_LIKELY(p != nullptr)) {
      ObjectHeader* h = header_of(p);
      h->type = type;
      h->gc_state = birth_state_;
      if (MOSS_UNLIKELY(hooks_on_)) return hooked_allocation(p, bytes, clear);
      if (clear != 0) return std::memset(p, 0, clear);  // a tail call: memset returns p
      return p;
    }
    return allocate_slow(type, bytes);
  }
  MOSS_NOINLINE void* allocate_slow(TypeIndex type, std::size_t bytes) {
    if (MOSS_UNLIKELY(!TypeRegistry::valid(type))) invalid_type(type);
    std::uint32_t flags = TypeRegistry::flags(type);
    bool noscan = (flags & type_leaf) != 0;
    bool finalizable = (flags & type_finalizable) != 0;
    // Whatever collects in here scans the stack from this frame up (no
    // object is held across it: the new one is taken afterwards).
    void* p = from_mutator([&] {
      return bytes <= kMaxSmallPayload ? cache_.allocate_small(size_class_for_payload(bytes, flags), noscan, finalizable)
                                       : cache_.allocate_large(bytes, noscan, finalizable);
    });
    ObjectHeader* h = header_of(p);
    h->type = type;
    h->gc_state = birth_state_;
    if (MOSS_UNLIKELY(hooks_on_)) allocation_hooks(p, bytes);
    return p;
  }
  // Explicit free (Heap::free): a live object start of this heap, or a
  // UsageError and nothing changes. (locate() finds live objects only, so
  // a second free of the same object is caught here too.)
  // The common case (an object of a swept span, no collector hook, no
  // finalizer to run) makes no call but a tail call; everything else is
  // free_slow. A scope-local object freed this way counts as reclaimed by
  // its scope (HeapStats::local_reclaimed: without a collection).
  MOSS_INLINE void free(void* object, bool run_finalizer) {
    // The checks read the header of a slot that may turn out not to hold
    // an object: then free_if_allocated changes nothing, and free_slow
    // throws.
    std::uint32_t i = 0;
    Span* s = object != nullptr ? cache_.locate_slot_start(object, i) : nullptr;
    if (MOSS_UNLIKELY(s == nullptr || (run_finalizer && s->has_finalizable && finalizer_pending(object)))) {
      return free_slow(object, run_finalizer);
    }
    bool local = false;
    if (s->scope_depth != 0) {
      local = (header_of(object)->gc_state & kLocalBit) != 0;
      if (MOSS_UNLIKELY(wants_free_hook(local))) return free_slow(object, run_finalizer);
    } else if (MOSS_UNLIKELY(free_hook_)) {
      return free_slow(object, run_finalizer);
    }
    if (MOSS_UNLIKELY(!cache_.free_if_allocated(s, i, object))) return free_slow(object, run_finalizer);
    local_reclaimed += local ? 1 : 0;
    return cache_.refile_after_frees(s);
  }
  MOSS_NOINLINE void free_slow(void* object, bool run_finalizer) {
    std::uint32_t i = 0;
    Span* s = object != nullptr ? cache_.locate(object, i) : nullptr;
    if (MOSS_UNLIKELY(s == nullptr || s->payload(i) != object)) cache_.free_object(object);  // throws
    bool local = (header_of(object)->gc_state & kLocalBit) != 0;
    if (MOSS_UNLIKELY(wants_free_hook(local))) collector_->before_explicit_free(object);
    if (run_finalizer && finalizer_pending(object)) this->finalize(object);
    local_reclaimed += local ? 1 : 0;
    cache_.free_located(s, i, object);
  }
  void set_local_free_hook(bool on) { local_free_hook_ = on; }
  // Whether freeing an object (scope-local or not) needs the collector's
  // before_explicit_free: a local object only when its scope's exit would.
  bool wants_free_hook(bool local) const { return free_hook_ && (!local || local_free_hook_); }
  // Whether `object`, a live object, has a finalizer that has not run.
  static bool finalizer_pending(const void* object) {
    const ObjectHeader* h = header_of(object);
    return (TypeRegistry::flags(h->type) & type_finalizable) != 0 && (h->gc_state & kFinalizedBit) == 0;
  }

  // Local scopes (gc/escape.cpp).
  // Like allocate, the common case makes no call but tail calls.
  MOSS_INLINE void* allocate_local(ScopeSpans& scope, TypeIndex type, std::size_t bytes, std::uint32_t site) {
    if (MOSS_LIKELY(TypeRegistry::valid(type) && bytes <= kMaxSmallPayload)) {
      std::uint32_t flags = TypeRegistry::flags(type);
      return allocate_local_in_bin(scope, bin_for(bytes, flags), (flags & type_finalizable) != 0, type, bytes, site);
    }
    return allocate_local_slow(scope, type, bytes, site);
  }
  MOSS_INLINE void* allocate_local(ScopeSpans& scope, const SizedType& sized) {
    if (MOSS_UNLIKELY(sized.bin_ >= SpanCache::kBins)) return allocate_local_slow(scope, sized.type_, sized.bytes_, 0);
    return allocate_local_in_bin(scope, sized.bin_, sized.finalizable_, sized.type_, sized.bytes_, 0);
  }
  // allocate_local once the type and size are resolved (as allocate_in_bin).
  MOSS_INLINE void* allocate_local_in_bin(ScopeSpans& scope, std::uint32_t bin, bool finalizable, TypeIndex type,
                                          std::size_t bytes, std::uint32_t site) {
    std::size_t clear = 0;
    void* p = cache_.try_allocate_scoped(scope, bin, finalizable, clear);
    if (MOSS_LIKELY(p != nullptr)) {
      ObjectHeader* h = header_of(p);
      h->type = type;
      h->gc_state = kLocalBit | (site << kSiteShift) | birth_state_;
      ++local_objects;
      if (MOSS_UNLIKELY(local_hooks_on_)) return hooked_local_allocation(p, bytes, clear);
      if (clear != 0) return std::memset(p, 0, clear);  // a tail call: memset returns p
      return p;
    }
    return allocate_local_slow(scope, type, bytes, site);
  }
  MOSS_NOINLINE void* allocate_local_slow(ScopeSpans& scope, TypeIndex type, std::size_t bytes, std::uint32_t site) {
    if (MOSS_UNLIKELY(!TypeRegistry::valid(type))) invalid_type(type);
    std::uint32_t flags = TypeRegistry::flags(type);
    bool noscan = (flags & type_leaf) != 0;
    bool finalizable = (flags & type_finalizable) != 0;
    void* p = from_mutator([&] {
      return bytes <= kMaxSmallPayload
                 ? cache_.allocate_scoped(scope, size_class_for_payload(bytes, flags), noscan, finalizable)
                 : cache_.allocate_large_scoped(scope, bytes, noscan, finalizable);
    });
    ObjectHeader* h = header_of(p);
    h->type = type;
    h->gc_state = kLocalBit | (site << kSiteShift) | birth_state_;
    ++local_objects;
    if (MOSS_UNLIKELY(local_hooks_on_)) local_allocation_hooks(p, bytes);
    return p;
  }
  void* allocate_at(TypeIndex type, std::size_t bytes, AllocSite& site);
  // (Both inline: defined and used in gc/escape.cpp only.)
  MOSS_INLINE ScopeSpans* open_scope();
  // Ends `scope`, opened by the scope object at `scope_object`. Out of
  // order or on the wrong thread it throws UsageError, unless an exception
  // is unwinding the stack.
  MOSS_INLINE void close_scope(ScopeSpans* scope, const void* scope_object);
  bool scopes_open() const { return !open_scopes_.empty(); }
  // Calls f(object, payload bytes) for every scope-local object (one that
  // has not escaped) of the open scopes that may hold a reference to a heap
  // object: those of spans a heap object was stored into
  // (Span::refers_out), and every one of a scope open when an object of
  // its depth or an outer one escaped (ScopeSpans::scan_all). Pointer-free
  // spans are skipped.
  template <class F>
  void for_each_local_referring_out(F&& f) const {
    for (const ScopeSpans* scope : open_scopes_) {
      for (const Span& s : scope->spans) {
        if (s.noscan || !(scope->scan_all || s.refers_out)) continue;
        std::uint32_t words = (s.slots + 63) / 64;
        for (std::uint32_t w = 0; w < words; ++w) {
          for (std::uint64_t bits = s.allocated_word(w); bits != 0; bits &= bits - 1) {
            void* p = s.payload(w * 64 + static_cast<std::uint32_t>(__builtin_ctzll(bits)));
            if ((header_of(p)->gc_state & kLocalBit) != 0) f(p, SpanCache::payload_size(&s));
          }
        }
      }
    }
  }
  // Makes a scope-local object, and the scope-local objects it reaches,
  // ordinary heap objects. `object` is a live object start of this heap.
  void escape(void* object);
  // Objects of scope depth `depth` (or deeper) escaped: the open scopes at
  // that depth or deeper may refer to heap objects now (ScopeSpans::scan_all).
  void note_escapes_from(std::uint32_t depth);
  MOSS_INLINE void escape_if_local(void* object) {
    if (object != nullptr && (header_of(object)->gc_state & kLocalBit) != 0) escape(object);
  }
  // The barrier's escape test: `value` (any word) stored into `holder` (a
  // live object of this heap, or null).
  void escape_on_store(void* holder, void* value);
  // The same for a value known to be a scope-local object start (the
  // Member barrier's case: its header says so).
  void escape_local_on_store(void* holder, void* value);
  // The common case of a store between scope-local objects, told from the
  // spans alone (no object lookup): true if `slot`, inside span `ss` of
  // this heap, lies in an allocated slot of a scope span none of whose
  // objects escaped, at the depth of `value`'s scope or deeper, so the store
  // cannot make the scope-local `value` escape. False means: ask
  // escape_local_on_store.
  bool store_stays_in_scope(const Span* ss, void* const* slot, const void* value) const {
    if (ss->scope_depth == 0 || ss->escaped != 0) return false;
    const char* v = static_cast<const char*>(value);
    const Span* vs = v >= ss->start && v < ss->end() ? ss : cache_.span_of(value);  // often the same span
    if (vs == nullptr || vs->owner.load(std::memory_order_relaxed) != &cache_ || ss->scope_depth < vs->scope_depth) {
      return false;
    }
    std::uint32_t i = ss->index_of(slot);
    return i < ss->slots && ss->is_allocated(i);
  }
  std::vector<SiteProfile> escape_profile() const;
  void set_alloc_sampler(std::size_t rate_bytes, AllocSampler sampler, void* context);

  // The heap a slot or object address belongs to, or null.
  static HeapImpl* owning(const void* address);
  // The same, also naming the span that holds `address` when there is one.
  // (Inline: the refcount barrier's slow path starts with it.)
  MOSS_INLINE static HeapImpl* owning(const void* address, Span*& span) {
    Span* s = PageHeap::lookup(address);
    span = s;
    if (s == nullptr) return nullptr;
    SpanCache* owner = s->owner.load(std::memory_order_acquire);
    if (owner == nullptr || s->state == SpanState::free) return nullptr;
    const char* a = static_cast<const char*>(address);
    if (a < s->start || a >= s->end()) return nullptr;
    return static_cast<HeapImpl*>(&owner->owner());
  }

  // Roots.
  RootList& roots() { return roots_; }
  const std::vector<RootCallbackEntry>& root_callbacks() const { return root_callbacks_; }
  const std::vector<RootRangeEntry>& root_ranges() const { return root_ranges_; }
  std::uint64_t add_root_callback(RootCallback cb, void* context);
  void remove_root_callback(std::uint64_t id);
  std::uint64_t add_root_range(const void* begin, const void* end);
  void remove_root_range(std::uint64_t id);
  // Coroutine stacks (runtime/stacks) register here.
  void add_stack(StackSegment& segment) { stacks_.push_back(segment); }
  StackSegmentList& stacks() { return stacks_; }
  StackSegment& thread_stack() { return *thread_stack_; }
  void note_stack_growth() { ++stack_growths_; }

  // Checks a pointer handed to the API: null, or a live object of this heap.
  void check_object(const void* object, const char* what) const;

  // Shared statistics and pause accounting.
  PauseRecorder& pauses() { return pauses_; }
  double root_scan_us = 0, mark_us = 0, sweep_us = 0, finalize_us = 0;
  std::uint64_t collections = 0;
  std::uint64_t live_bytes = 0, live_objects = 0;
  std::uint64_t finalizers_run = 0;
  std::uint64_t local_objects = 0, local_reclaimed = 0, local_escaped = 0, local_rescued = 0;

  // Runs one object's finalizer: marks it finalized first (it never runs
  // twice), counts it, and drops an exception it throws (see
  // allocation.hpp). Collectors and scopes run every finalizer through here.
  void finalize(void* object);
  // True while a finalizer runs (stores it makes may target a dying object).
  bool in_finalizer() const { return finalizer_depth_ != 0; }

  // Runs queued finalizers now, unless already running them.
  void run_finalizers();
  HeapStats stats() const;
  void trace_line(const char* what, double pause_us) const;

  // SpanCacheOwner.
  void allocation_slow_path(std::size_t bytes) override;
  void before_growth(std::size_t bytes) override;

  // Re-evaluates whether per-allocation hooks are needed.
  void update_hooks();

  // MOSS_VERIFY=1: whether every collection is bracketed by a check of all
  // heap invariants, and that check (aborts naming the first violation).
  bool verifying() const { return verify_collections_; }
  void verify_for_collection(const char* when);

  // Throws the UsageError for a type index never registered.
  [[noreturn]] static void invalid_type(TypeIndex type);

 private:
  MOSS_NOINLINE void allocation_hooks(void* object, std::size_t bytes);
  MOSS_NOINLINE void* hooked_allocation(void* object, std::size_t bytes, std::size_t clear) {
    if (clear != 0) std::memset(object, 0, clear);
    allocation_hooks(object, bytes);
    return object;
  }
  MOSS_NOINLINE void local_allocation_hooks(void* object, std::size_t bytes);
  MOSS_NOINLINE void* hooked_local_allocation(void* object, std::size_t bytes, std::size_t clear) {
    if (clear != 0) std::memset(object, 0, clear);
    local_allocation_hooks(object, bytes);
    return object;
  }
  void sample(void* object, std::size_t bytes);
  std::uint64_t next_sample_interval();
  SiteCounters& site_counters(AllocSite& site);
  void note_site_escape(std::uint32_t site);
  void escape_scope_stacks(const ScopeSpans& scope, const void* scope_object);
  void abandon_scope(ScopeSpans* scope);
  MOSS_INLINE void release_scope_record(ScopeSpans* scope);
  void drop_scope_barrier();

  HeapOptions options_;
  SpanCache cache_;
  std::unique_ptr<CollectorBase> collector_;
  RootList roots_;
  std::vector<RootCallbackEntry> root_callbacks_;
  std::vector<RootRangeEntry> root_ranges_;
  std::uint64_t next_root_id_ = 1;
  StackSegmentList stacks_;
  StackSegment* thread_stack_;
  PauseRecorder pauses_;
  bool hooks_on_ = false;
  bool local_hooks_on_ = false;
  // Local scopes: the open ones, innermost last, and records for reuse.
  std::vector<ScopeSpans*> open_scopes_;
  // Whether this heap holds scope_barrier_users for its scopes: taken by the
  // first scope to open, kept after the last closes, given back by
  // drop_scope_barrier at a span refill with no scope open (and at death).
  bool scope_barrier_held_ = false;
  std::vector<std::unique_ptr<ScopeSpans>> scope_records_;
  std::vector<ScopeSpans*> free_scope_records_;
  std::vector<void*> escape_work_;
  std::vector<SiteCounters> sites_;
  std::thread::id owner_thread_;
  // The sampling allocation hook.
  AllocSampler sampler_ = nullptr;
  void* sampler_context_ = nullptr;
  std::size_t sample_rate_ = 0;
  std::uint64_t sample_left_ = 0;
  std::uint64_t sample_random_ = 0x9E3779B97F4A7C15ull;
  bool in_sampler_ = false;
  bool new_object_hook_ = false;
  std::uint32_t birth_state_ = 0;  // CollectorBase::birth_state
  bool free_hook_ = false;
  // Whether a scope-local object's reclamation (at scope exit, or by
  // Heap::free) needs the collector's before_explicit_free as well; set by
  // the collector (refcount: while it has weak slots to forget). Without
  // it, a closing scope releases its spans wholesale.
  bool local_free_hook_ = false;
  bool in_finalizers_ = false;
  unsigned finalizer_depth_ = 0;
  bool verify_collections_ = false;
  std::uint64_t stress_countdown_ = 0;
  std::uint64_t stack_growths_ = 0;
};

}  // namespace moss::detail
