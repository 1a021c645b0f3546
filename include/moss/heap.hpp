// moss/heap.hpp — a managed heap and its options and statistics.
//
// A `moss::Heap` is one garbage-collected heap. Its collector is chosen when
// it is created (`HeapOptions::collector`) and the rest of the API is the same
// under both: mark-sweep (incremental, tri-color) or deferred reference
// counting with cycle collection. Every heap draws its memory from one
// process-wide page heap, so many heaps can live side by side on many threads.
//
// Rules an embedder must follow:
//  - A heap belongs to the thread that created it. Only that thread (and the
//    moss coroutines it runs) may allocate from it, store into its objects or
//    collect it; that thread's stack is what the collectors scan.
//  - References between managed objects are stored through the barrier:
//    `moss::Member<T>` fields, or `Heap::write` for an embedder's own slots.
//  - References held outside the managed heap and outside any stack (in
//    globals, in malloc'd memory) must be `moss::Root`s or be reported by a
//    root callback.
//  - Raw pointers on the stack (and in registers) keep objects alive: stacks
//    are scanned conservatively.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "moss/errors.hpp"
#include "moss/visitor.hpp"

namespace moss {

namespace detail { class HeapImpl; }
class AllocSite;  // moss/local_scope.hpp

enum class Collector : std::uint8_t {
  mark_sweep,  // incremental tri-color mark-sweep
  refcount,    // deferred reference counting with cycle collection
};

// The collector named by the MOSS_GC environment variable ("ms" or "rc"),
// or `fallback` when it is unset. Throws UsageError for any other value.
Collector collector_from_env(Collector fallback = Collector::mark_sweep);

// Printable name of a collector: "ms" or "rc".
const char* collector_name(Collector c);

inline constexpr unsigned kMaxHelperThreads = 64;

struct HeapOptions {
  Collector collector = Collector::mark_sweep;
  // Pacing, like GOGC: the next cycle starts when the heap has grown to
  // live * (1 + gc_percent / 100). Negative turns automatic collection off.
  // MOSS_GC_PERCENT=N sets it (0..100000) for heaps that leave it
  // non-negative; another value is a UsageError when the heap is made.
  int gc_percent = 100;
  // Hard cap on the bytes of spans the heap may hold; 0 means no cap. A
  // request that would pass it forces a full collection first and throws
  // moss::OutOfMemory if that does not make room.
  std::size_t heap_limit = 0;
  // The smallest heap size at which automatic collection starts; under
  // refcount a quarter of it is also what is allocated between
  // reconciliations (the nursery): larger is faster, with more memory and
  // longer pauses. MOSS_MIN_HEAP_MIB=N overrides it.
  std::size_t min_heap_bytes = 4u << 20;
  // Mark-sweep: mark incrementally (true) or stop the world for each whole
  // cycle (false).
  bool incremental = true;
  // Mark-sweep: generational collection with sticky mark bits. Objects that
  // survive a collection stay marked (old) and a minor collection traces
  // only from the roots and from old objects stored into since the last
  // collection (found by card marking in the barrier), so long-lived data
  // is not traced again every cycle; a full collection (when the old data
  // has grown by half since the last full one or a minor one costs half
  // what that did, and every Heap::collect()) traces everything and
  // reclaims old garbage. The trade: much less marking, more memory (what
  // dies old waits for a full cycle). Off: every cycle is full.
  // MOSS_GENERATIONAL=0 or 1 overrides it.
  bool generational = false;
  // Mark-sweep pacing: a heap that has grown to some size may fill that
  // much again before its next cycle, instead of collecting as soon as it
  // reaches live * (1 + gc_percent / 100): after a transient peak it keeps
  // collecting as rarely as it did at the peak, in memory it already holds
  // (like a heap that does not shrink), so time drops and the peak resident
  // memory does not rise. release_memory() forgets the high-water mark
  // (the next cycles pace by live data alone again). Off: every goal comes
  // from the live data alone, and a heap past its peak gives pages back to
  // the OS as it shrinks. Refcount, which has no pacing, uses it for memory
  // alone: the free pages of its high-water mark stay resident (a heap that
  // just freed a large structure soon builds another, and would otherwise
  // fault the pages back in), until release_memory(). MOSS_RETAIN_PEAK=0
  // or 1 overrides it.
  bool retain_peak = true;
  // Mark-sweep: the work of one incremental mark slice, in bytes scanned
  // (a slot of an array visited with Visitor::visit_array counts as 32).
  std::size_t mark_slice_bytes = 128u << 10;
  // Mark-sweep: helper threads (0: none, at most kMaxHelperThreads) that
  // mark in parallel with the owner thread during mark termination and full
  // collections, and sweep in the background while the owner runs. What is
  // kept and what is reclaimed is identical with or without them. With
  // helpers, trace functions run on several threads at once: they must only
  // read the object and report to the visitor (as they should anyway).
  // MOSS_HELPER_THREADS=N sets it for heaps that leave it at 0. Refcount
  // heaps ignore it.
  unsigned helper_threads = 0;
  // Collect every N allocations (0: off). MOSS_GC_STRESS=N sets it too, for
  // heaps that collect automatically (gc_percent >= 0).
  std::uint64_t stress_every = 0;
  // Print one line per collection to stderr. MOSS_GCTRACE=1 sets it too.
  bool trace = false;
};

struct HeapStats {
  Collector collector = Collector::mark_sweep;
  // Totals since the heap was created.
  std::uint64_t allocated_bytes = 0;    // bytes handed out (object sizes)
  std::uint64_t allocated_objects = 0;
  std::uint64_t freed_bytes = 0;        // reclaimed by any route
  std::uint64_t freed_objects = 0;
  // As of the last collection (mark-sweep) or reconciliation (refcount).
  std::uint64_t live_bytes = 0;
  std::uint64_t live_objects = 0;
  // Now.
  std::uint64_t heap_bytes = 0;         // bytes of spans the heap holds
  std::uint64_t resident_bytes = 0;     // process-wide: pages the page heap holds committed
  std::uint64_t os_resident_bytes = 0;  // process RSS as the OS reports it
  // Collections and pauses (every stop of the mutator for collector work).
  std::uint64_t collections = 0;        // completed cycles or reconciliations
  std::uint64_t minor_collections = 0;  // mark-sweep: of those, minor (generational) cycles
  std::uint64_t pauses = 0;
  double pause_p50_us = 0, pause_p99_us = 0, pause_max_us = 0, pause_total_us = 0;
  // Per-phase times, summed over all cycles, in microseconds.
  double root_scan_us = 0, mark_us = 0, sweep_us = 0, finalize_us = 0;
  std::uint64_t finalizers_run = 0;
  // Mark-sweep helper threads: objects they marked, spans they swept.
  std::uint64_t helper_marked_objects = 0;
  std::uint64_t helper_swept_spans = 0;
  // Reference counting.
  std::uint64_t rc_increments = 0, rc_decrements = 0;
  std::uint64_t rc_freed_promptly = 0;  // freed by reconciliation
  std::uint64_t rc_freed_by_cycles = 0; // freed by the cycle collector
  std::uint64_t rc_stack_words_scanned = 0;  // words of stacks, root ranges and local objects scanned for external references
  std::uint64_t cycle_collections = 0;
  // Escape-aware allocation.
  std::uint64_t local_objects = 0;      // allocated into a LocalScope
  std::uint64_t local_reclaimed = 0;    // reclaimed at scope exit, or freed (Heap::free) while local
  std::uint64_t local_escaped = 0;      // became heap objects
  std::uint64_t local_rescued = 0;      // debug builds: escaped because a stack pointer outlived the scope
  // Coroutine stacks.
  std::uint64_t stack_growths = 0;
};

// Identifies a registered type. Indices are process-wide and stable.
using TypeIndex = std::uint32_t;

enum TypeFlags : std::uint32_t {
  type_leaf = 1u << 0,         // holds no references: never traced
  type_acyclic = 1u << 1,      // can never be part of a cycle
  type_finalizable = 1u << 2,  // has a finalizer
  // Its payloads need only 8-byte alignment: small objects of the type may
  // take 24-, 40- or 56-byte slots (a 16-byte payload and the 8-byte header
  // fit 24 bytes instead of 32). Its object addresses then have only three
  // low zero bits, not four.
  type_align8 = 1u << 3,
};

struct TypeInfo {
  const char* name = "object";
  // Reports the object's references; null for leaf types.
  void (*trace)(const void* object, Visitor& visitor) = nullptr;
  // Runs once after the object is found dead, before its memory is reused.
  // It must not touch other managed objects (they may already be gone).
  void (*finalize)(void* object) = nullptr;
  std::uint32_t flags = 0;
};

// Where an allocation site's objects go (moss/local_scope.hpp).
enum class SitePolicy : std::uint8_t {
  heap,      // always the heap
  local,     // the innermost open LocalScope (the heap when none is open)
  adaptive,  // local until the site's escapes pass a threshold, then heap
};

// One allocation site as a heap saw it (Heap::escape_profile()).
struct SiteProfile {
  const char* name = "";
  SitePolicy policy = SitePolicy::heap;
  bool local = false;                 // allocating locally now (adaptive: not flipped)
  std::uint64_t allocations = 0;      // at this site on this heap, local or not
  std::uint64_t local_allocations = 0;
  std::uint64_t escapes = 0;          // of its local objects
  std::uint64_t bytes = 0;            // requested payload bytes of all its allocations
};

// A sampling allocation hook (Heap::set_alloc_sampler): called with a newly
// allocated object, its requested size and the context given.
using AllocSampler = void (*)(void* object, std::size_t bytes, void* context);

// A root callback: reports references the embedder holds elsewhere (an
// interpreter's value stack, say) by calling the visitor on each.
using RootCallback = void (*)(Visitor& visitor, void* context);

// A registered type at one payload size, resolved once (Heap::sized_type):
// allocating it (Heap::allocate(const SizedType&)) skips looking up the
// type's flags and the size's class, which is what make<T>() does for types
// without trailing storage. Only Heap::sized_type makes a usable one; a
// default-constructed SizedType names no type, and allocating it throws
// UsageError as allocate(0, 0) does.
class SizedType {
 public:
  SizedType() = default;
  TypeIndex type() const { return type_; }
  std::size_t bytes() const { return bytes_; }

 private:
  friend class detail::HeapImpl;
  TypeIndex type_ = 0;
  std::uint32_t bin_ = ~0u;  // the heap's size class and span kind; ~0u: none (a large object)
  std::size_t bytes_ = 0;
  bool finalizable_ = false;
};

class Heap {
 public:
  explicit Heap(const HeapOptions& options = {});
  ~Heap();
  Heap(const Heap&) = delete;
  Heap& operator=(const Heap&) = delete;

  Collector collector() const;

  // Registers a type for `allocate`. Process-wide; thread-safe.
  static TypeIndex register_type(const TypeInfo& info);
  static const TypeInfo& type_info(TypeIndex type);

  // Allocates `bytes` of zeroed payload, 16-byte aligned (8-byte if `type`
  // has type_align8), for an object of `type`. May run collector work
  // first. Throws OutOfMemory.
  void* allocate(TypeIndex type, std::size_t bytes);
  // The same at a named allocation site: into the innermost open LocalScope
  // of this heap if the site allocates locally (see moss/local_scope.hpp),
  // on the heap otherwise. Counted in escape_profile().
  void* allocate(TypeIndex type, std::size_t bytes, AllocSite& site);
  // Resolves `type` at payload size `bytes` for allocate(const SizedType&).
  // Throws UsageError if `type` was never registered.
  static SizedType sized_type(TypeIndex type, std::size_t bytes);
  // allocate(sized.type(), sized.bytes()), with less to work out.
  void* allocate(const SizedType& sized);

  // Every allocation site this heap has allocated at, with its counts.
  std::vector<SiteProfile> escape_profile() const;

  // Calls `sampler(object, bytes, context)` for about one allocation per
  // `rate_bytes` bytes allocated (heap and scope allocations alike): the
  // distance between samples is drawn from an exponential distribution with
  // that mean, as Go's MemProfileRate and tcmalloc do, so every byte has the
  // same chance of being sampled. A rate of 0 or a null sampler turns it
  // off; off, it costs nothing. The sampler must not allocate on this heap.
  void set_alloc_sampler(std::size_t rate_bytes, AllocSampler sampler, void* context = nullptr);

  // Stores `value` into `*slot` of the managed object `holder`, through the
  // barrier. `value` may be null, a word that is not a reference (a tagged
  // integer), or the start of a managed object.
  void write(void* holder, void** slot, void* value);

  // Reclaims `object` now (it must be unreachable). Throws UsageError for
  // anything that is not a live object start of this heap. Weak members
  // that name it are cleared under refcount; under mark-sweep, clear them
  // first (only a collection that finds an object dead clears them). A
  // scope-local object may be freed this way before its scope closes (see
  // moss::is_local); it counts in HeapStats::local_reclaimed.
  void free(void* object);
  // Reclaims an object whose constructor threw: no finalizer runs.
  void free_unconstructed(void* object);

  // A full, non-incremental collection (or, under refcount, a
  // reconciliation followed by a cycle collection).
  void collect();

  // Returns free pages held by the process-wide page heap to the OS now,
  // and makes this heap forget its high-water mark (see
  // HeapOptions::retain_peak): call collect() first to free the most.
  void release_memory();

  HeapStats stats() const;

  // The start of the live object of this heap containing `address` (an
  // exact or interior pointer), or null if there is none.
  void* find_object(const void* address) const;
  // The payload size in bytes of a live object of this heap.
  std::size_t object_size(const void* object) const;
  // The type of a live object of this heap.
  TypeIndex object_type(const void* object) const;

  // Root callbacks and ranges. Returns a handle for removal.
  std::uint64_t add_root_callback(RootCallback callback, void* context);
  void remove_root_callback(std::uint64_t handle);
  // A range of words the collectors scan conservatively.
  std::uint64_t add_root_range(const void* begin, const void* end);
  void remove_root_range(std::uint64_t handle);

  // Checks every heap invariant it can; throws UsageError describing the
  // first violation found.
  void verify();

  detail::HeapImpl& impl() { return *impl_; }
  const detail::HeapImpl& impl() const { return *impl_; }

 private:
  detail::HeapImpl* impl_;
};

}  // namespace moss
