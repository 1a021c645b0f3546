// gc/capi.cpp — the C API (include/moss/moss.h) over moss::Heap.
//
// Each C handle wraps its C++ counterpart: a moss_heap holds a moss::Heap and
// the heap's last error message; a moss_root holds a moss::Root; a
// moss_coroutine holds a moss::Coroutine whose body calls the C body. A
// moss_visitor is never an object of its own: the pointer handed to C is the
// moss::Visitor the collector passed in, cast back on every moss_visit*.
//
// No exception leaves this file. Every entry point that can fail runs its
// work inside `guard`, which turns the exception into a moss_status and
// records its message on the heap (or, with no heap, on the calling thread).
// Two paths run the other way, C++ collector -> C callback -> C++ visitor:
// the trampolines that call C trace functions and C root callbacks. An
// exception thrown by the visitor there cannot pass through the C frames, so
// moss_visit* parks it in a thread-local slot and the trampoline rethrows it
// once the C callback has returned.
//
// The one thing that does cross C frames is Boost's forced unwind, by
// design: destroying a suspended coroutine unwinds it from its pending
// moss_yield_value through the C body (see moss.h).
//
// Type registration maps moss types to C trace functions through a
// process-wide table indexed by type: moss::TypeInfo::trace takes no context,
// so the trampoline finds the C function from the object's header.
#include "moss/moss.h"

#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "gc/heap_impl.hpp"
#include "moss/moss.hpp"
#include "runtime/type_registry.hpp"

using CTrace = void (*)(const void*, moss_visitor*);

// ---------------------------------------------------------------------------
// Error messages
// ---------------------------------------------------------------------------

namespace {

// One place a message is recorded: a heap's, or a thread's.
class ErrorSlot {
 public:
  const char* text() const { return lost_ ? "moss: out of memory while recording an error message" : text_.c_str(); }
  void set(const char* message) noexcept {
    try {
      text_ = message;
      lost_ = false;
    } catch (...) {
      lost_ = true;
    }
  }

 private:
  std::string text_;
  bool lost_ = false;
};

thread_local ErrorSlot thread_error;

}  // namespace

struct moss_heap {
  explicit moss_heap(const moss::HeapOptions& options) : heap(options) {}

  // Root callbacks by handle; the binding is the C++ callback's context.
  // Declared before `heap` so the bindings outlive it.
  struct Binding {
    moss_root_callback callback;
    void* context;
  };
  std::unordered_map<std::uint64_t, std::unique_ptr<Binding>> callbacks;
  mutable ErrorSlot error;
  moss_root* roots = nullptr;  // every live moss_root of this heap, linked
  moss::Heap heap;
};

struct moss_root {
  moss_root(moss_heap* h, void* target) : handle(h->heap, static_cast<unsigned char*>(target)), heap(h) {}

  moss::Root<unsigned char> handle;
  moss_heap* heap;  // null once the heap is gone
  moss_root* prev = nullptr;
  moss_root* next = nullptr;
};

struct moss_coroutine;

struct moss_yield {
  moss::Yield* yield;
  moss_coroutine* coroutine;
};

struct moss_coroutine {
  moss_coroutine(moss_heap* h, moss_coroutine_body b, void* a, const moss::CoroutineOptions& options)
      : heap(h), body(b), arg(a), coroutine(h->heap, [this](moss::Yield& y) { run(y); }, options) {}

  void run(moss::Yield& y) {
    moss_yield handle{&y, this};
    result = body(&handle, arg);
  }

  moss_heap* heap;
  moss_coroutine_body body;
  void* arg;
  void* result = nullptr;  // what the body returned
  moss::Coroutine coroutine;
};

namespace {

// Records the exception being handled and returns its status. Call only
// inside a catch block.
moss_status record_current(ErrorSlot& slot) noexcept {
  try {
    throw;
  } catch (const moss::OutOfMemory& e) {
    slot.set(e.what());
    return MOSS_ERROR_OUT_OF_MEMORY;
  } catch (const moss::StackOverflow& e) {
    slot.set(e.what());
    return MOSS_ERROR_STACK_OVERFLOW;
  } catch (const moss::UsageError& e) {
    slot.set(e.what());
    return MOSS_ERROR_USAGE;
  } catch (const std::bad_alloc&) {
    slot.set("moss: out of memory: the C++ runtime could not allocate bookkeeping memory");
    return MOSS_ERROR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    slot.set(e.what());
    return MOSS_ERROR_INTERNAL;
  } catch (...) {
    slot.set("moss: internal error: an exception of unknown type");
    return MOSS_ERROR_INTERNAL;
  }
}

ErrorSlot& slot_of(const moss_heap* heap) { return heap != nullptr ? heap->error : thread_error; }

moss_status usage(const moss_heap* heap, const char* message) {
  slot_of(heap).set(message);
  return MOSS_ERROR_USAGE;
}

// Runs f, turning any exception into a status recorded on `heap` (or on the
// thread if heap is null).
template <class F>
moss_status guard(const moss_heap* heap, F&& f) noexcept {
  try {
    f();
    return MOSS_OK;
  } catch (...) {
    return record_current(slot_of(heap));
  }
}

// ---------------------------------------------------------------------------
// Visitors and trampolines
// ---------------------------------------------------------------------------

moss::Visitor& visitor_of(moss_visitor* v) { return *reinterpret_cast<moss::Visitor*>(v); }
moss_visitor* c_visitor(moss::Visitor& v) { return reinterpret_cast<moss_visitor*>(&v); }

// An exception a visitor threw under a C callback, waiting for the
// trampoline to rethrow it.
thread_local std::exception_ptr pending_exception;

void park_current_exception() noexcept {
  if (!pending_exception) pending_exception = std::current_exception();
}

void rethrow_pending() {
  if (pending_exception) [[unlikely]] {
    std::rethrow_exception(std::exchange(pending_exception, nullptr));
  }
}

// C trace functions by type index; written once when a type is registered.
CTrace c_traces[moss::detail::TypeRegistry::kCapacity];

void trace_trampoline(const void* object, moss::Visitor& visitor) {
  CTrace trace = c_traces[moss::detail::header_of(object)->type];
  trace(object, c_visitor(visitor));
  rethrow_pending();
}

void root_callback_trampoline(moss::Visitor& visitor, void* context) {
  auto* binding = static_cast<moss_heap::Binding*>(context);
  binding->callback(c_visitor(visitor), binding->context);
  rethrow_pending();
}

// The integer a C enum holds, read without an enum-typed load: C callers
// can pass any int, and in C++ an enum object holding a value outside its
// enumerators' range is undefined behaviour to read.
template <class E>
long raw_value(const E& e) {
  std::underlying_type_t<E> v;
  static_assert(sizeof v == sizeof e);
  std::memcpy(&v, &e, sizeof v);
  return static_cast<long>(v);
}

moss::Collector to_cpp(const moss_collector& c) {
  return raw_value(c) == MOSS_COLLECTOR_REFCOUNT ? moss::Collector::refcount : moss::Collector::mark_sweep;
}
moss_collector to_c(moss::Collector c) {
  return c == moss::Collector::refcount ? MOSS_COLLECTOR_REFCOUNT : MOSS_COLLECTOR_MARK_SWEEP;
}
bool valid_collector(const moss_collector& c) {
  long v = raw_value(c);
  return v == MOSS_COLLECTOR_MARK_SWEEP || v == MOSS_COLLECTOR_REFCOUNT;
}

void unlink_root(moss_root* r) {
  if (r->prev != nullptr) {
    r->prev->next = r->next;
  } else if (r->heap != nullptr) {
    r->heap->roots = r->next;
  }
  if (r->next != nullptr) r->next->prev = r->prev;
  r->prev = r->next = nullptr;
}

}  // namespace

// ---------------------------------------------------------------------------
// The API
// ---------------------------------------------------------------------------

extern "C" {

const char* moss_status_name(moss_status status) {
  switch (raw_value(status)) {
    case MOSS_OK: return "MOSS_OK";
    case MOSS_ERROR_OUT_OF_MEMORY: return "MOSS_ERROR_OUT_OF_MEMORY";
    case MOSS_ERROR_STACK_OVERFLOW: return "MOSS_ERROR_STACK_OVERFLOW";
    case MOSS_ERROR_USAGE: return "MOSS_ERROR_USAGE";
    case MOSS_ERROR_INTERNAL: return "MOSS_ERROR_INTERNAL";
    default: return "unknown";
  }
}

// --- Heaps -----------------------------------------------------------------

void moss_heap_options_init(moss_heap_options* options) {
  if (options == nullptr) return;
  moss::HeapOptions d;
  options->collector = to_c(d.collector);
  options->gc_percent = d.gc_percent;
  options->heap_limit = d.heap_limit;
  options->min_heap_bytes = d.min_heap_bytes;
  options->incremental = d.incremental;
  options->mark_slice_bytes = d.mark_slice_bytes;
  options->generational = d.generational;
  options->retain_peak = d.retain_peak;
  options->helper_threads = d.helper_threads;
  options->stress_every = d.stress_every;
  options->trace = d.trace;
}

moss_status moss_collector_from_env(moss_collector fallback, moss_collector* out) {
  if (out == nullptr) return usage(nullptr, "moss: moss_collector_from_env: out is NULL");
  *out = fallback;
  if (!valid_collector(fallback)) return usage(nullptr, "moss: moss_collector_from_env: fallback names no collector");
  return guard(nullptr, [&] { *out = to_c(moss::collector_from_env(to_cpp(fallback))); });
}

const char* moss_collector_name(moss_collector collector) { return moss::collector_name(to_cpp(collector)); }

moss_heap* moss_heap_create(const moss_heap_options* options) {
  moss_heap_options o;
  moss_heap_options_init(&o);
  if (options != nullptr) o = *options;
  if (!valid_collector(o.collector)) {
    usage(nullptr, "moss: moss_heap_create: options->collector is neither MOSS_COLLECTOR_MARK_SWEEP nor "
                   "MOSS_COLLECTOR_REFCOUNT");
    return nullptr;
  }
  moss::HeapOptions cpp;
  cpp.collector = to_cpp(o.collector);
  cpp.gc_percent = o.gc_percent;
  cpp.heap_limit = o.heap_limit;
  cpp.min_heap_bytes = o.min_heap_bytes;
  cpp.incremental = o.incremental;
  cpp.mark_slice_bytes = o.mark_slice_bytes;
  cpp.generational = o.generational;
  cpp.retain_peak = o.retain_peak;
  cpp.helper_threads = o.helper_threads;
  cpp.stress_every = o.stress_every;
  cpp.trace = o.trace;
  moss_heap* heap = nullptr;
  guard(nullptr, [&] { heap = new moss_heap(cpp); });
  return heap;
}

void moss_heap_destroy(moss_heap* heap) {
  if (heap == nullptr) return;
  // Roots outlive the heap as inert handles that moss_root_destroy frees.
  for (moss_root* r = heap->roots; r != nullptr;) {
    moss_root* next = r->next;
    r->heap = nullptr;
    r->prev = r->next = nullptr;
    r = next;
  }
  heap->roots = nullptr;
  delete heap;  // ~HeapImpl runs the remaining finalizers and detaches the Roots
}

moss_collector moss_heap_collector(const moss_heap* heap) {
  return heap != nullptr ? to_c(heap->heap.collector()) : MOSS_COLLECTOR_MARK_SWEEP;
}

const char* moss_last_error(const moss_heap* heap) { return slot_of(heap).text(); }

// --- Types and tracing -----------------------------------------------------

moss_type moss_register_type(const moss_type_info* info) {
  if (info == nullptr) {
    usage(nullptr, "moss: moss_register_type: info is NULL");
    return MOSS_TYPE_NONE;
  }
  constexpr std::uint32_t known = MOSS_TYPE_LEAF | MOSS_TYPE_ACYCLIC | MOSS_TYPE_FINALIZABLE | MOSS_TYPE_ALIGN8;
  if ((info->flags & ~known) != 0) {
    usage(nullptr, "moss: moss_register_type: info->flags has bits that are no MOSS_TYPE_* flag");
    return MOSS_TYPE_NONE;
  }
  static_assert(std::uint32_t{MOSS_TYPE_LEAF} == moss::type_leaf &&
                std::uint32_t{MOSS_TYPE_ACYCLIC} == moss::type_acyclic &&
                std::uint32_t{MOSS_TYPE_FINALIZABLE} == moss::type_finalizable &&
                std::uint32_t{MOSS_TYPE_ALIGN8} == moss::type_align8);
  moss::TypeInfo cpp;
  cpp.name = info->name != nullptr ? info->name : "object";
  cpp.flags = info->flags;
  cpp.finalize = info->finalize;
  if (info->finalize != nullptr) cpp.flags |= moss::type_finalizable;
  if (info->trace != nullptr) {
    cpp.trace = trace_trampoline;
  } else {
    cpp.flags |= moss::type_leaf | moss::type_acyclic;
  }
  // The table entry is written under a lock before the index is handed out:
  // no object of the type can exist before then.
  static std::mutex lock;
  moss::TypeIndex index = MOSS_TYPE_NONE;
  guard(nullptr, [&] {
    std::lock_guard<std::mutex> hold(lock);
    index = moss::Heap::register_type(cpp);
    c_traces[index] = info->trace;
  });
  return index;
}

void moss_visit(moss_visitor* visitor, const void* object) {
  try {
    visitor_of(visitor).visit(object);
  } catch (...) {
    park_current_exception();
  }
}

void moss_visit_array(moss_visitor* visitor, void* const* first, size_t count) {
  try {
    visitor_of(visitor).visit_array(const_cast<const void* const*>(first), count);
  } catch (...) {
    park_current_exception();
  }
}

void moss_visit_word(moss_visitor* visitor, uintptr_t word) {
  try {
    visitor_of(visitor).visit_word(word);
  } catch (...) {
    park_current_exception();
  }
}

void moss_visit_conservative(moss_visitor* visitor, const void* begin, const void* end) {
  try {
    visitor_of(visitor).visit_conservative(begin, end);
  } catch (...) {
    park_current_exception();
  }
}

// --- Objects ---------------------------------------------------------------

moss_status moss_allocate(moss_heap* heap, moss_type type, size_t bytes, void** out) {
  if (out == nullptr) return usage(heap, "moss: moss_allocate: out is NULL");
  *out = nullptr;
  if (heap == nullptr) return usage(nullptr, "moss: moss_allocate: heap is NULL");
  return guard(heap, [&] { *out = heap->heap.allocate(type, bytes); });
}

moss_status moss_write(moss_heap* heap, void* holder, void** slot, void* value) {
  if (heap == nullptr) return usage(nullptr, "moss: moss_write: heap is NULL");
  return guard(heap, [&] { heap->heap.write(holder, slot, value); });
}

moss_status moss_free(moss_heap* heap, void* object) {
  if (heap == nullptr) return usage(nullptr, "moss: moss_free: heap is NULL");
  if (object == nullptr) return usage(heap, "moss: moss_free: the object is NULL");
  return guard(heap, [&] { heap->heap.free(object); });
}

void* moss_find_object(const moss_heap* heap, const void* address) {
  if (heap == nullptr) return nullptr;
  void* found = nullptr;
  guard(heap, [&] { found = heap->heap.find_object(address); });
  return found;
}

moss_status moss_object_size(const moss_heap* heap, const void* object, size_t* out) {
  if (heap == nullptr) return usage(nullptr, "moss: moss_object_size: heap is NULL");
  if (out == nullptr) return usage(heap, "moss: moss_object_size: out is NULL");
  *out = 0;
  return guard(heap, [&] { *out = heap->heap.object_size(object); });
}

moss_status moss_object_type(const moss_heap* heap, const void* object, moss_type* out) {
  if (heap == nullptr) return usage(nullptr, "moss: moss_object_type: heap is NULL");
  if (out == nullptr) return usage(heap, "moss: moss_object_type: out is NULL");
  *out = MOSS_TYPE_NONE;
  return guard(heap, [&] { *out = heap->heap.object_type(object); });
}

// --- Roots -----------------------------------------------------------------

moss_root* moss_root_create(moss_heap* heap, void* target) {
  if (heap == nullptr) {
    usage(nullptr, "moss: moss_root_create: heap is NULL");
    return nullptr;
  }
  moss_root* root = nullptr;
  if (guard(heap, [&] { root = new moss_root(heap, target); }) != MOSS_OK) return nullptr;
  root->next = heap->roots;
  if (heap->roots != nullptr) heap->roots->prev = root;
  heap->roots = root;
  return root;
}

moss_status moss_root_set(moss_root* root, void* target) {
  if (root == nullptr) return usage(nullptr, "moss: moss_root_set: root is NULL");
  if (root->heap == nullptr) return usage(nullptr, "moss: moss_root_set: the root's heap has been destroyed");
  return guard(root->heap, [&] { root->handle = static_cast<unsigned char*>(target); });
}

void* moss_root_get(const moss_root* root) {
  return root != nullptr && root->heap != nullptr ? root->handle.get() : nullptr;
}

void moss_root_destroy(moss_root* root) {
  if (root == nullptr) return;
  unlink_root(root);
  delete root;  // ~Root unlinks it from the heap's root list
}

moss_status moss_add_root_callback(moss_heap* heap, moss_root_callback callback, void* context, uint64_t* handle) {
  if (heap == nullptr) return usage(nullptr, "moss: moss_add_root_callback: heap is NULL");
  if (handle == nullptr) return usage(heap, "moss: moss_add_root_callback: handle is NULL");
  *handle = 0;
  if (callback == nullptr) return usage(heap, "moss: moss_add_root_callback: the callback is NULL");
  return guard(heap, [&] {
    auto binding = std::make_unique<moss_heap::Binding>(moss_heap::Binding{callback, context});
    std::uint64_t h = heap->heap.add_root_callback(root_callback_trampoline, binding.get());
    try {
      heap->callbacks.emplace(h, std::move(binding));
    } catch (...) {
      heap->heap.remove_root_callback(h);
      throw;
    }
    *handle = h;
  });
}

moss_status moss_remove_root_callback(moss_heap* heap, uint64_t handle) {
  if (heap == nullptr) return usage(nullptr, "moss: moss_remove_root_callback: heap is NULL");
  return guard(heap, [&] {
    heap->heap.remove_root_callback(handle);  // throws for an unknown handle
    heap->callbacks.erase(handle);
  });
}

moss_status moss_add_root_range(moss_heap* heap, const void* begin, const void* end, uint64_t* handle) {
  if (heap == nullptr) return usage(nullptr, "moss: moss_add_root_range: heap is NULL");
  if (handle == nullptr) return usage(heap, "moss: moss_add_root_range: handle is NULL");
  *handle = 0;
  return guard(heap, [&] { *handle = heap->heap.add_root_range(begin, end); });
}

moss_status moss_remove_root_range(moss_heap* heap, uint64_t handle) {
  if (heap == nullptr) return usage(nullptr, "moss: moss_remove_root_range: heap is NULL");
  return guard(heap, [&] { heap->heap.remove_root_range(handle); });
}

// --- Collection, memory and checking ---------------------------------------

moss_status moss_collect(moss_heap* heap) {
  if (heap == nullptr) return usage(nullptr, "moss: moss_collect: heap is NULL");
  return guard(heap, [&] { heap->heap.collect(); });
}

moss_status moss_release_memory(moss_heap* heap) {
  if (heap == nullptr) return usage(nullptr, "moss: moss_release_memory: heap is NULL");
  return guard(heap, [&] { heap->heap.release_memory(); });
}

moss_status moss_stats(const moss_heap* heap, struct moss_stats* out) {
  if (heap == nullptr) return usage(nullptr, "moss: moss_stats: heap is NULL");
  if (out == nullptr) return usage(heap, "moss: moss_stats: out is NULL");
  return guard(heap, [&] {
    moss::HeapStats s = heap->heap.stats();
    *out = {};
    out->collector = to_c(s.collector);
    out->allocated_bytes = s.allocated_bytes;
    out->allocated_objects = s.allocated_objects;
    out->freed_bytes = s.freed_bytes;
    out->freed_objects = s.freed_objects;
    out->live_bytes = s.live_bytes;
    out->live_objects = s.live_objects;
    out->heap_bytes = s.heap_bytes;
    out->resident_bytes = s.resident_bytes;
    out->os_resident_bytes = s.os_resident_bytes;
    out->collections = s.collections;
    out->minor_collections = s.minor_collections;
    out->pauses = s.pauses;
    out->pause_p50_us = s.pause_p50_us;
    out->pause_p99_us = s.pause_p99_us;
    out->pause_max_us = s.pause_max_us;
    out->pause_total_us = s.pause_total_us;
    out->root_scan_us = s.root_scan_us;
    out->mark_us = s.mark_us;
    out->sweep_us = s.sweep_us;
    out->finalize_us = s.finalize_us;
    out->finalizers_run = s.finalizers_run;
    out->helper_marked_objects = s.helper_marked_objects;
    out->helper_swept_spans = s.helper_swept_spans;
    out->rc_increments = s.rc_increments;
    out->rc_decrements = s.rc_decrements;
    out->rc_freed_promptly = s.rc_freed_promptly;
    out->rc_freed_by_cycles = s.rc_freed_by_cycles;
    out->cycle_collections = s.cycle_collections;
    out->local_objects = s.local_objects;
    out->local_reclaimed = s.local_reclaimed;
    out->local_escaped = s.local_escaped;
    out->stack_growths = s.stack_growths;
  });
}

moss_status moss_verify(moss_heap* heap) {
  if (heap == nullptr) return usage(nullptr, "moss: moss_verify: heap is NULL");
  return guard(heap, [&] { heap->heap.verify(); });
}

// --- Coroutines --------------------------------------------------------------

void moss_coroutine_options_init(moss_coroutine_options* options) {
  if (options == nullptr) return;
  moss::CoroutineOptions d;
  options->stack_reserve = d.stack_reserve;
  options->initial_commit = d.initial_commit;
  options->guard = d.guard == moss::StackGuard::software ? MOSS_STACK_SOFTWARE : MOSS_STACK_GUARD_PAGE;
}

moss_coroutine* moss_coroutine_create(moss_heap* heap, moss_coroutine_body body, void* arg,
                                      const moss_coroutine_options* options) {
  if (heap == nullptr) {
    usage(nullptr, "moss: moss_coroutine_create: heap is NULL");
    return nullptr;
  }
  if (body == nullptr) {
    usage(heap, "moss: moss_coroutine_create: the body is NULL");
    return nullptr;
  }
  moss_coroutine_options o;
  moss_coroutine_options_init(&o);
  if (options != nullptr) o = *options;
  long guard_kind = raw_value(o.guard);
  if (guard_kind != MOSS_STACK_GUARD_PAGE && guard_kind != MOSS_STACK_SOFTWARE) {
    usage(heap, "moss: moss_coroutine_create: options->guard is neither MOSS_STACK_GUARD_PAGE nor "
                "MOSS_STACK_SOFTWARE");
    return nullptr;
  }
  moss::CoroutineOptions cpp;
  cpp.stack_reserve = o.stack_reserve;
  cpp.initial_commit = o.initial_commit;
  cpp.guard = guard_kind == MOSS_STACK_SOFTWARE ? moss::StackGuard::software : moss::StackGuard::guard_page;
  moss_coroutine* coroutine = nullptr;
  guard(heap, [&] { coroutine = new moss_coroutine(heap, body, arg, cpp); });
  return coroutine;
}

moss_status moss_coroutine_resume(moss_coroutine* coroutine, void* in, void** out) {
  if (out != nullptr) *out = nullptr;
  if (coroutine == nullptr) return usage(nullptr, "moss: moss_coroutine_resume: the coroutine is NULL");
  return guard(coroutine->heap, [&] {
    void* got = coroutine->coroutine.resume(in);
    if (coroutine->coroutine.done()) got = coroutine->result;
    if (out != nullptr) *out = got;
  });
}

bool moss_coroutine_done(const moss_coroutine* coroutine) {
  return coroutine == nullptr || coroutine->coroutine.done();
}

bool moss_coroutine_started(const moss_coroutine* coroutine) {
  return coroutine != nullptr && coroutine->coroutine.started();
}

void moss_coroutine_destroy(moss_coroutine* coroutine) { delete coroutine; }

void* moss_yield_value(moss_yield* yield, void* value) {
  if (yield == nullptr) {
    usage(nullptr, "moss: moss_yield_value: yield is NULL");
    return nullptr;
  }
  // Boost's forced unwind (the coroutine being destroyed) is no
  // std::exception: it passes on into the body's frames, as it must.
  try {
    return (*yield->yield)(value);
  } catch (const std::exception&) {
    record_current(yield->coroutine->heap->error);
    return nullptr;
  }
}

void* moss_yield_received(const moss_yield* yield) { return yield != nullptr ? yield->yield->received() : nullptr; }

size_t moss_stack_remaining(void) { return moss::stack_remaining(); }

}  // extern "C"
