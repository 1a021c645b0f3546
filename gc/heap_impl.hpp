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
// log), behind one predictable branch.
#pragma once

#include <boost/intrusive/list.hpp>
#include <cstdint>
#include <memory>
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

class HeapImpl final : public SpanCacheOwner {
 public:
  explicit HeapImpl(const HeapOptions& options);
  ~HeapImpl();

  const HeapOptions& options() const { return options_; }
  SpanCache& cache() { return cache_; }
  const SpanCache& cache() const { return cache_; }
  CollectorBase& collector() { return *collector_; }

  MOSS_INLINE void* allocate(TypeIndex type, std::size_t bytes) {
    if (MOSS_UNLIKELY(!TypeRegistry::valid(type))) invalid_type(type);
    bool noscan = (TypeRegistry::flags(type) & type_leaf) != 0;
    void* p = bytes <= kMaxSmallPayload ? cache_.allocate_small(size_class_for_payload(bytes), noscan)
                                        : cache_.allocate_large(bytes, noscan);
    ObjectHeader* h = header_of(p);
    h->type = type;
    h->gc_state = 0;
    if (MOSS_UNLIKELY(hooks_on_)) allocation_hooks(p);
    return p;
  }
  void free(void* object, bool run_finalizer_check);

  // The heap a slot or object address belongs to, or null.
  static HeapImpl* owning(const void* address);

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
  std::uint64_t local_objects = 0, local_reclaimed = 0, local_escaped = 0;

  // Runs queued finalizers now, unless already running them.
  void run_finalizers();
  HeapStats stats() const;
  void trace_line(const char* what, double pause_us) const;

  // SpanCacheOwner.
  void allocation_slow_path(std::size_t bytes) override;
  void before_growth(std::size_t bytes) override;

  // Re-evaluates whether per-allocation hooks are needed.
  void update_hooks();

 private:
  [[noreturn]] void invalid_type(TypeIndex type) const;
  MOSS_NOINLINE void allocation_hooks(void* object);

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
  bool new_object_hook_ = false;
  bool free_hook_ = false;
  bool in_finalizers_ = false;
  std::uint64_t stress_countdown_ = 0;
  std::uint64_t stack_growths_ = 0;
};

}  // namespace moss::detail
