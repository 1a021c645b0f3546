// gc/heap_impl.cpp — heap construction, roots, finalizers, statistics and
// the heap limit (see heap_impl.hpp).
#include "gc/heap_impl.hpp"

#include "moss/coroutine.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "gc/roots.hpp"
#include "runtime/os.hpp"

namespace moss::detail {

std::unique_ptr<CollectorBase> make_mark_sweep(HeapImpl& heap);
std::unique_ptr<CollectorBase> make_refcount(HeapImpl& heap);

namespace {
HeapOptions with_environment(HeapOptions o) {
  // Stress mode adds collections where the heap collects automatically; a
  // heap whose embedder turned automatic collection off (gc_percent < 0)
  // manages its memory itself and is left alone, and an explicit
  // HeapOptions::stress_every wins over the environment.
  if (const char* s = std::getenv("MOSS_GC_STRESS"); s != nullptr && *s != '\0' && o.gc_percent >= 0 &&
                                                    o.stress_every == 0) {
    o.stress_every = std::strtoull(s, nullptr, 10);
  }
  // MOSS_GC_PERCENT=N sets gc_percent for heaps that collect automatically
  // (like Go's GOGC): a tuning knob for trying space against time without
  // rebuilding the program.
  if (const char* s = std::getenv("MOSS_GC_PERCENT"); s != nullptr && *s != '\0' && o.gc_percent >= 0) {
    char* end = nullptr;
    long v = std::strtol(s, &end, 10);
    if (*end != '\0' || v < 0 || v > 100000) {
      throw UsageError(std::string("moss: MOSS_GC_PERCENT is \"") + s + "\"; expected a whole number from 0 to 100000");
    }
    o.gc_percent = static_cast<int>(v);
  }
  // MOSS_MIN_HEAP_MIB=N sets min_heap_bytes: where automatic collection
  // starts, and under refcount the nursery (a quarter of it is allocated
  // between reconciliations): time against memory and pause length.
  if (const char* s = std::getenv("MOSS_MIN_HEAP_MIB"); s != nullptr && *s != '\0') {
    char* end = nullptr;
    long v = std::strtol(s, &end, 10);
    if (*end != '\0' || v < 1 || v > (1L << 20)) {
      throw UsageError(std::string("moss: MOSS_MIN_HEAP_MIB is \"") + s +
                       "\"; expected a whole number of MiB from 1 to 1048576");
    }
    o.min_heap_bytes = static_cast<std::size_t>(v) << 20;
  }
  if (const char* s = std::getenv("MOSS_GENERATIONAL"); s != nullptr && *s != '\0') {
    if (std::strcmp(s, "0") != 0 && std::strcmp(s, "1") != 0) {
      throw UsageError(std::string("moss: MOSS_GENERATIONAL is \"") + s + "\"; expected 0 or 1");
    }
    o.generational = *s == '1';
  }
  if (const char* s = std::getenv("MOSS_RETAIN_PEAK"); s != nullptr && *s != '\0') {
    if (std::strcmp(s, "0") != 0 && std::strcmp(s, "1") != 0) {
      throw UsageError(std::string("moss: MOSS_RETAIN_PEAK is \"") + s + "\"; expected 0 or 1");
    }
    o.retain_peak = *s == '1';
  }
  if (const char* s = std::getenv("MOSS_GCTRACE"); s != nullptr && *s != '\0' && *s != '0') o.trace = true;
  // MOSS_HELPER_THREADS=N gives helper threads to mark-sweep heaps that did
  // not ask for a number (results must not change: the test suite runs
  // under it).
  if (const char* s = std::getenv("MOSS_HELPER_THREADS"); s != nullptr && *s != '\0' && o.helper_threads == 0) {
    o.helper_threads = static_cast<unsigned>(std::strtoul(s, nullptr, 10));
  }
  if (o.helper_threads > kMaxHelperThreads) {
    throw UsageError("moss: HeapOptions::helper_threads is " + std::to_string(o.helper_threads) + "; at most " +
                     std::to_string(kMaxHelperThreads) + " are supported");
  }
  return o;
}
}  // namespace

HeapImpl::HeapImpl(const HeapOptions& options)
    : options_(with_environment(options)), cache_(*this), thread_stack_(&detail::thread_stack()) {
  collector_ = options_.collector == Collector::refcount ? make_refcount(*this) : make_mark_sweep(*this);
  stress_countdown_ = options_.stress_every;
  owner_thread_ = std::this_thread::get_id();
  const char* v = std::getenv("MOSS_VERIFY");
  verify_collections_ = v != nullptr && *v != '\0' && *v != '0';
  update_hooks();
}

// MOSS_VERIFY=1. Explicit and stress collections are checked before and
// after, automatic ones (from the allocation slow path, or forced by the
// heap limit) after they complete. Queued finalizers run first: the dead
// objects they belong to may refer to memory that is already gone.
void HeapImpl::verify_for_collection(const char* when) {
  run_finalizers();
  const char* problem = PageHeap::instance().verify();
  if (problem == nullptr) problem = cache_.verify();
  if (problem == nullptr) problem = collector_->verify();
  if (problem != nullptr) {
    std::fprintf(stderr, "moss: MOSS_VERIFY: %s a collection: %s\n", when, problem);
    std::abort();
  }
  // The checks walked the heap in frames below this one, where the
  // collection's own frames go next: their stale words must not become
  // roots (verifying must not change what a collection keeps).
  clear_stack_below();
}

HeapImpl::~HeapImpl() {
  // Scopes still open (their objects become heap objects and are finalized
  // below with the rest).
  while (!open_scopes_.empty()) abandon_scope(open_scopes_.back());
  drop_scope_barrier();
  collector_->shutdown();
  // Finalize what is left: embedders rely on destructors releasing what
  // objects hold outside the heap.
  cache_.finish_sweep();
  run_finalizers();
  std::vector<void*> remaining;
  cache_.for_each_span([&remaining](const Span& s) {
    for (std::uint32_t i = 0; i < s.slots; ++i) {
      if (!s.is_allocated(i)) continue;
      void* p = s.payload(i);
      ObjectHeader* h = header_of(p);
      if ((h->gc_state & kFinalizedBit) == 0 && TypeRegistry::valid(h->type) &&
          TypeRegistry::get(h->type).finalize != nullptr) {
        remaining.push_back(p);
      }
    }
  });
  for (void* p : remaining) {
    finalize(p);
  }
  collector_.reset();
  while (!roots_.empty()) {
    RootNode& r = roots_.front();
    roots_.pop_front();
    r.heap_ = nullptr;  // a Root that outlives its heap is inert
  }
  stacks_.clear();
}

void HeapImpl::update_hooks() {
  new_object_hook_ = collector_->new_object_hook_wanted();
  birth_state_ = collector_->birth_state();
  free_hook_ = collector_->explicit_free_hook_wanted();
  hooks_on_ = new_object_hook_ || options_.stress_every != 0 || sampler_ != nullptr;
  local_hooks_on_ = options_.stress_every != 0 || sampler_ != nullptr;
}

void HeapImpl::invalid_type(TypeIndex type) {
  throw UsageError("moss: allocation with type index " + std::to_string(type) +
                   ", which was never returned by Heap::register_type");
}

void HeapImpl::allocation_hooks(void* object, std::size_t bytes) {
  if (new_object_hook_) collector_->on_new_object(object);
  if (sampler_ != nullptr) sample(object, bytes);
  if (options_.stress_every != 0 && --stress_countdown_ == 0) {
    stress_countdown_ = options_.stress_every;
    if (MOSS_UNLIKELY(verify_collections_)) verify_for_collection("before");
    collector_->stress_collect();
    run_finalizers();
    if (MOSS_UNLIKELY(verify_collections_)) verify_for_collection("after");
  }
}

HeapImpl* HeapImpl::owning(const void* address) {
  Span* s = nullptr;
  return owning(address, s);
}

void HeapImpl::check_object(const void* object, const char* what) const {
  if (object == nullptr) return;
  if (cache_.find_object(object) != object) {
    throw UsageError(std::string("moss: ") + what + ": " +
                     std::to_string(reinterpret_cast<std::uintptr_t>(object)) +
                     " is not the start of a live object of this heap");
  }
}

std::uint64_t HeapImpl::add_root_callback(RootCallback cb, void* context) {
  if (cb == nullptr) throw UsageError("moss: add_root_callback with a null callback");
  root_callbacks_.push_back({next_root_id_, cb, context});
  return next_root_id_++;
}

void HeapImpl::remove_root_callback(std::uint64_t id) {
  for (auto it = root_callbacks_.begin(); it != root_callbacks_.end(); ++it) {
    if (it->id == id) {
      root_callbacks_.erase(it);
      return;
    }
  }
  throw UsageError("moss: remove_root_callback: no root callback has handle " + std::to_string(id));
}

std::uint64_t HeapImpl::add_root_range(const void* begin, const void* end) {
  if (begin == nullptr || end < begin) throw UsageError("moss: add_root_range: the range is empty or reversed");
  root_ranges_.push_back({next_root_id_, begin, end});
  return next_root_id_++;
}

void HeapImpl::remove_root_range(std::uint64_t id) {
  for (auto it = root_ranges_.begin(); it != root_ranges_.end(); ++it) {
    if (it->id == id) {
      root_ranges_.erase(it);
      return;
    }
  }
  throw UsageError("moss: remove_root_range: no root range has handle " + std::to_string(id));
}

void HeapImpl::finalize(void* object) {
  ObjectHeader* h = header_of(object);
  h->gc_state |= kFinalizedBit;
  ++finalizers_run;
  ++finalizer_depth_;
  try {
    InMutator mutator;
    TypeRegistry::get(h->type).finalize(object);
  } catch (...) {
    // A finalizer's exception has nowhere to go: it is dropped (see
    // allocation.hpp). The object is still reclaimed.
  }
  --finalizer_depth_;
}

void HeapImpl::run_finalizers() {
  std::vector<void*>& queue = cache_.finalize_queue();
  if (in_finalizers_ || queue.empty()) return;
  in_finalizers_ = true;
  PhaseTimer timer(finalize_us);
  while (!queue.empty()) {
    void* p = queue.back();
    queue.pop_back();
    ObjectHeader* h = header_of(p);
    if ((h->gc_state & kFinalizedBit) != 0) continue;
    finalize(p);
  }
  in_finalizers_ = false;
}

void HeapImpl::allocation_slow_path(std::size_t bytes) {
  // Collector work and finalizers need stack: a coroutine about to overflow
  // gets a clean StackOverflow here rather than in the middle of a cycle.
  check_stack(kCollectorStackReserve);
  drop_scope_barrier();
  if (!cache_.finalize_queue().empty()) run_finalizers();
  std::uint64_t before = collections;
  collector_->allocation_slow_path(bytes);
  if (MOSS_UNLIKELY(verify_collections_) && collections != before) verify_for_collection("after");
}

void HeapImpl::before_growth(std::size_t bytes) {
  if (options_.heap_limit != 0 && cache_.heap_bytes() + bytes > options_.heap_limit) {
    collector_->collect();
    if (MOSS_UNLIKELY(verify_collections_)) verify_for_collection("after");
    if (cache_.heap_bytes() + bytes > options_.heap_limit) {
      prepare_deep_unwind();  // the allocation may be deep in a coroutine stack
      throw OutOfMemory("moss: out of memory: the heap limit is " + std::to_string(options_.heap_limit) +
                        " bytes, the heap holds " + std::to_string(cache_.heap_bytes()) +
                        " bytes after a full collection, and " + std::to_string(bytes) +
                        " more were needed; raise HeapOptions::heap_limit or keep less alive");
    }
  }
  collector_->before_growth(bytes);
}

HeapStats HeapImpl::stats() const {
  HeapStats s;
  s.collector = options_.collector;
  s.allocated_bytes = cache_.allocated_bytes();
  s.allocated_objects = cache_.allocated_objects();
  s.freed_bytes = cache_.freed_bytes();
  s.freed_objects = cache_.freed_objects();
  s.live_bytes = live_bytes;
  s.live_objects = live_objects;
  s.heap_bytes = cache_.heap_bytes();
  s.resident_bytes = PageHeap::instance().stats().resident_bytes;
  s.os_resident_bytes = os_resident_bytes();
  s.collections = collections;
  s.pauses = pauses_.count();
  s.pause_p50_us = pauses_.quantile(0.50);
  s.pause_p99_us = pauses_.quantile(0.99);
  s.pause_max_us = pauses_.max_us();
  s.pause_total_us = pauses_.total_us();
  s.root_scan_us = root_scan_us;
  s.mark_us = mark_us;
  s.sweep_us = sweep_us;
  s.finalize_us = finalize_us;
  s.finalizers_run = finalizers_run;
  s.local_objects = local_objects;
  s.local_reclaimed = local_reclaimed;
  s.local_escaped = local_escaped;
  s.local_rescued = local_rescued;
  s.stack_growths = stack_growths_;
  collector_->fill_stats(s);
  return s;
}

void HeapImpl::trace_line(const char* what, double pause_us) const {
  if (!options_.trace) return;
  std::fprintf(stderr,
               "moss %s #%llu: %s pause %.0f us, live %llu KiB in %llu objects, heap %zu KiB, "
               "allocated %llu KiB total\n",
               collector_name(options_.collector), static_cast<unsigned long long>(collections), what, pause_us,
               static_cast<unsigned long long>(live_bytes >> 10), static_cast<unsigned long long>(live_objects),
               cache_.heap_bytes() >> 10, static_cast<unsigned long long>(cache_.allocated_bytes() >> 10));
}

}  // namespace moss::detail
