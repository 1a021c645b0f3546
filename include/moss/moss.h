/* moss/moss.h — the C API of moss, a garbage-collected heap for language
 * runtimes.
 *
 * This header mirrors the low-level C++ API (moss/heap.hpp, root.hpp,
 * visitor.hpp, coroutine.hpp) for runtimes written in C, or for any language
 * that binds C. It is C11 and also valid C++; the library implements it in
 * C++ and no exception ever crosses it: every failure is a `moss_status`
 * code plus a message that says what happened and what to do.
 *
 *     moss_heap_options o;
 *     moss_heap_options_init(&o);            // defaults, then override
 *     o.collector = MOSS_COLLECTOR_REFCOUNT;
 *     moss_heap* heap = moss_heap_create(&o);
 *
 *     moss_type_info ti = {"pair", pair_trace, NULL, 0};
 *     moss_type pair_type = moss_register_type(&ti);
 *
 *     struct pair* p;
 *     if (moss_allocate(heap, pair_type, sizeof *p, (void**)&p) != MOSS_OK)
 *       fprintf(stderr, "%s\n", moss_last_error(heap));
 *     moss_write(heap, p, (void**)&p->car, other);   // every heap->heap store
 *
 * Rules an embedder must follow (heap.hpp states them for C++ too):
 *  - A heap belongs to the thread that created it. Only that thread (and the
 *    moss coroutines it runs) may allocate from it, store into its objects,
 *    collect it or read its error message.
 *  - Every store of a reference into a managed object goes through
 *    moss_write (the write barrier), including the first store into a fresh
 *    object. A plain C assignment there is invisible to the collectors: under
 *    refcount the target's count is wrong, under incremental mark-sweep the
 *    target can be freed while still referenced.
 *  - References held outside the managed heap and outside any stack (in
 *    globals, in malloc'd memory such as an interpreter's value stack) must
 *    be kept in a moss_root, reported by a root callback, or lie in a
 *    registered root range.
 *  - Raw pointers on the thread's stack, in its registers and on the stacks
 *    of suspended moss coroutines keep objects alive: stacks are scanned
 *    conservatively.
 *  - A trace callback reports every reference an object holds, each once per
 *    call, and must not allocate, store, or change the object. A finalizer
 *    must not touch other managed objects: they may already be gone.
 *
 * Errors. Functions that can fail return a moss_status (or NULL / a zero
 * moss_type). The message of the last failure on a heap is
 * moss_last_error(heap); failures that have no heap to record them on
 * (moss_heap_create, moss_register_type, bad arguments with a NULL heap) are
 * recorded per thread and read with moss_last_error(NULL). A message stays
 * valid until the next failure recorded in the same place; successful calls
 * leave it alone. After any error the heap is consistent and usable: the
 * failed call did nothing.
 */
#ifndef MOSS_MOSS_H
#define MOSS_MOSS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Status codes
 * ------------------------------------------------------------------------ */

typedef enum {
  MOSS_OK = 0,
  /* An allocation would exceed the heap's heap_limit even after a full
   * collection, or the operating system refused memory. */
  MOSS_ERROR_OUT_OF_MEMORY,
  /* A coroutine ran past its stack reservation; the coroutine is dead. */
  MOSS_ERROR_STACK_OVERFLOW,
  /* The API was misused: a pointer that is not a live object of this heap,
   * an unknown handle, a NULL argument that must not be NULL, ... */
  MOSS_ERROR_USAGE,
  /* A failure inside moss that none of the above describes. */
  MOSS_ERROR_INTERNAL
} moss_status;

/* "MOSS_OK", "MOSS_ERROR_USAGE", ...; "unknown" for other values. */
const char* moss_status_name(moss_status status);

/* ------------------------------------------------------------------------
 * Heaps
 * ------------------------------------------------------------------------ */

typedef struct moss_heap moss_heap;

typedef enum {
  MOSS_COLLECTOR_MARK_SWEEP = 0, /* incremental tri-color mark-sweep */
  MOSS_COLLECTOR_REFCOUNT = 1    /* deferred reference counting with cycle collection */
} moss_collector;

/* Fill with moss_heap_options_init, then change what you need. */
typedef struct moss_heap_options {
  moss_collector collector;
  /* Pacing, like GOGC: the next cycle starts when the heap has grown to
   * live * (1 + gc_percent / 100). Negative turns automatic collection off. */
  int gc_percent;
  /* Hard cap on the bytes of spans the heap may hold; 0 means no cap. */
  size_t heap_limit;
  /* The smallest heap size at which automatic collection starts. */
  size_t min_heap_bytes;
  /* Mark-sweep: mark incrementally (true) or stop the world per cycle. */
  bool incremental;
  /* Mark-sweep: bytes scanned by one incremental mark slice. */
  size_t mark_slice_bytes;
  /* Mark-sweep: generational collection with sticky mark bits (see
   * HeapOptions::generational in heap.hpp). MOSS_GENERATIONAL=0|1 overrides. */
  bool generational;
  /* Mark-sweep: pace by the heap's high-water mark as well as its live data;
   * refcount: keep that mark's free pages resident (see
   * HeapOptions::retain_peak in heap.hpp). MOSS_RETAIN_PEAK=0|1 overrides. */
  bool retain_peak;
  /* Background helper threads for sweeping and marking (0: none). */
  unsigned helper_threads;
  /* Collect every N allocations (0: off). MOSS_GC_STRESS=N sets it too. */
  uint64_t stress_every;
  /* One line per collection on stderr. MOSS_GCTRACE=1 sets it too. */
  bool trace;
} moss_heap_options;

/* The defaults: mark-sweep, gc_percent 100, no limit, incremental, not
 * generational, pacing by the high-water mark too (retain_peak). */
void moss_heap_options_init(moss_heap_options* options);

/* The collector named by the MOSS_GC environment variable ("ms" or "rc"),
 * or `fallback` when it is unset. MOSS_ERROR_USAGE (message per thread) for
 * any other value; *out is then `fallback`. */
moss_status moss_collector_from_env(moss_collector fallback, moss_collector* out);

/* "ms" or "rc". */
const char* moss_collector_name(moss_collector collector);

/* A new heap (options NULL: the defaults), or NULL with the reason in
 * moss_last_error(NULL). */
moss_heap* moss_heap_create(const moss_heap_options* options);

/* Runs the finalizers of the objects still alive, then frees everything.
 * Coroutines of the heap must be destroyed first. Roots still alive become
 * inert (moss_root_get returns NULL); moss_root_destroy still frees them. */
void moss_heap_destroy(moss_heap* heap);

moss_collector moss_heap_collector(const moss_heap* heap);

/* The message of the last failure recorded on `heap`, or on this thread for
 * heap == NULL; "" if there was none. */
const char* moss_last_error(const moss_heap* heap);

/* ------------------------------------------------------------------------
 * Types and tracing
 * ------------------------------------------------------------------------ */

/* A registered type; process-wide and stable. 0 is never a valid type. */
typedef uint32_t moss_type;
#define MOSS_TYPE_NONE ((moss_type)0)

/* Handed to trace and root callbacks; report references through it. */
typedef struct moss_visitor moss_visitor;

enum {
  MOSS_TYPE_LEAF = 1u << 0,        /* holds no references: never traced */
  MOSS_TYPE_ACYCLIC = 1u << 1,     /* can never be part of a reference cycle */
  MOSS_TYPE_FINALIZABLE = 1u << 2, /* has a finalizer (implied by finalize) */
  /* Payloads need only 8-byte alignment (16 otherwise): small objects may
   * take 24-, 40- or 56-byte slots, so a 16-byte payload costs 24 bytes
   * with its header instead of 32. */
  MOSS_TYPE_ALIGN8 = 1u << 3
};

typedef struct moss_type_info {
  const char* name; /* for messages; kept by pointer, so it must stay valid */
  /* Reports each reference the object holds with moss_visit / _word /
   * _conservative. NULL means a leaf type (MOSS_TYPE_LEAF is implied). */
  void (*trace)(const void* object, moss_visitor* visitor);
  /* Runs once after the object is found dead, before its memory is reused.
   * NULL for none. */
  void (*finalize)(void* object);
  uint32_t flags; /* MOSS_TYPE_* */
} moss_type_info;

/* Registers a type for moss_allocate. Thread-safe. Returns MOSS_TYPE_NONE
 * with the reason in moss_last_error(NULL) on failure (unknown flags, the
 * type table full). */
moss_type moss_register_type(const moss_type_info* info);

/* A strong reference: `object` is NULL or the start of a managed object. */
void moss_visit(moss_visitor* visitor, const void* object);
/* `count` strong references from `first` on, each NULL or the start of a
 * managed object: the same as moss_visit on each, except that a collector
 * may take a long array in pieces (the incremental marker does, so one mark
 * slice never traces a whole large array). The array must stay where it is
 * while its object lives. */
void moss_visit_array(moss_visitor* visitor, void* const* first, size_t count);
/* A word that may or may not be a reference (a tagged value): it counts only
 * if it is the exact start of a live object of the heap. */
void moss_visit_word(moss_visitor* visitor, uintptr_t word);
/* Every aligned word in [begin, end) that points anywhere inside a live
 * object counts as a reference to it. */
void moss_visit_conservative(moss_visitor* visitor, const void* begin, const void* end);

/* ------------------------------------------------------------------------
 * Objects
 * ------------------------------------------------------------------------ */

/* Allocates `bytes` of zeroed payload, 16-byte aligned (8-byte for a
 * MOSS_TYPE_ALIGN8 type), of type `type`, into *out (NULL on failure). May
 * run collector work first. Errors: OUT_OF_MEMORY, USAGE (a type never
 * registered). */
moss_status moss_allocate(moss_heap* heap, moss_type type, size_t bytes, void** out);

/* Stores `value` into `*slot`, a word inside the managed object `holder`
 * (its start), through the write barrier. `value` may be NULL, a word that
 * is not a reference (a tagged integer), or the start of a managed object.
 * USAGE if holder is not a live object or slot is not an aligned word in it. */
moss_status moss_write(moss_heap* heap, void* holder, void** slot, void* value);

/* Reclaims `object` now; it must be unreachable. Its finalizer runs. USAGE
 * for anything that is not a live object start of this heap (a double free,
 * an interior pointer, foreign memory). */
moss_status moss_free(moss_heap* heap, void* object);

/* The start of the live object of `heap` containing `address` (an exact or
 * interior pointer), or NULL if there is none. */
void* moss_find_object(const moss_heap* heap, const void* address);

/* The payload size (at least the bytes asked for) and the type of a live
 * object. USAGE if `object` is not one. */
moss_status moss_object_size(const moss_heap* heap, const void* object, size_t* out);
moss_status moss_object_type(const moss_heap* heap, const void* object, moss_type* out);

/* ------------------------------------------------------------------------
 * Roots
 * ------------------------------------------------------------------------ */

/* A persistent reference, like moss::Root: keeps its target alive from
 * anywhere. It counts as a reference under refcount. */
typedef struct moss_root moss_root;

/* A root holding `target` (NULL or a live object start), or NULL with the
 * reason in moss_last_error(heap). */
moss_root* moss_root_create(moss_heap* heap, void* target);
moss_status moss_root_set(moss_root* root, void* target);
void* moss_root_get(const moss_root* root);
void moss_root_destroy(moss_root* root); /* NULL is allowed */

/* Reports references the embedder keeps elsewhere (an interpreter's value
 * stack) by calling moss_visit* on each. Called during collections, so it
 * must not allocate or store into managed objects. */
typedef void (*moss_root_callback)(moss_visitor* visitor, void* context);

/* Handles are never 0. */
moss_status moss_add_root_callback(moss_heap* heap, moss_root_callback callback, void* context,
                                   uint64_t* handle);
moss_status moss_remove_root_callback(moss_heap* heap, uint64_t handle);
/* A range of memory the collectors scan conservatively, word by word. */
moss_status moss_add_root_range(moss_heap* heap, const void* begin, const void* end, uint64_t* handle);
moss_status moss_remove_root_range(moss_heap* heap, uint64_t handle);

/* ------------------------------------------------------------------------
 * Collection, memory and checking
 * ------------------------------------------------------------------------ */

/* A full, non-incremental collection (under refcount: a reconciliation and a
 * cycle collection), then the finalizers of what it found dead. */
moss_status moss_collect(moss_heap* heap);

/* Returns free pages of the process-wide page heap to the OS now. */
moss_status moss_release_memory(moss_heap* heap);

/* Mirrors moss::HeapStats. Like `struct stat` and stat(), the structure and
 * the function share a name: declare it as `struct moss_stats s;`. */
struct moss_stats {
  moss_collector collector;
  /* Totals since the heap was created. */
  uint64_t allocated_bytes, allocated_objects;
  uint64_t freed_bytes, freed_objects;
  /* As of the last collection (mark-sweep) or reconciliation (refcount). */
  uint64_t live_bytes, live_objects;
  /* Now. */
  uint64_t heap_bytes;        /* bytes of spans the heap holds */
  uint64_t resident_bytes;    /* process-wide: pages the page heap holds committed */
  uint64_t os_resident_bytes; /* process RSS as the OS reports it */
  /* Collections and pauses. */
  uint64_t collections, pauses;
  uint64_t minor_collections; /* mark-sweep: of the collections, minor ones */
  double pause_p50_us, pause_p99_us, pause_max_us, pause_total_us;
  /* Per-phase times summed over all cycles, in microseconds. */
  double root_scan_us, mark_us, sweep_us, finalize_us;
  uint64_t finalizers_run;
  /* Mark-sweep helper threads: objects they marked, spans they swept. */
  uint64_t helper_marked_objects, helper_swept_spans;
  /* Reference counting. */
  uint64_t rc_increments, rc_decrements;
  uint64_t rc_freed_promptly, rc_freed_by_cycles, cycle_collections;
  /* Escape-aware allocation. */
  uint64_t local_objects, local_reclaimed, local_escaped;
  /* Coroutine stacks. */
  uint64_t stack_growths;
};

moss_status moss_stats(const moss_heap* heap, struct moss_stats* out);

/* Checks every heap invariant it can. USAGE describing the first violation. */
moss_status moss_verify(moss_heap* heap);

/* ------------------------------------------------------------------------
 * Coroutines
 *
 * Stackful coroutines whose stacks the collectors scan (coroutine.hpp tells
 * the whole story). A suspended coroutine's locals keep objects alive like
 * the thread's own stack does.
 *
 *     void* body(moss_yield* y, void* arg) {
 *       void* first = moss_yield_received(y);   // the first resume's value
 *       void* next = moss_yield_value(y, out);  // suspend; resume returns out
 *       return result;                          // the last resume returns it
 *     }
 *     moss_coroutine* co = moss_coroutine_create(heap, body, arg, NULL);
 *     void* got;
 *     while (!moss_coroutine_done(co)) moss_coroutine_resume(co, in, &got);
 *     moss_coroutine_destroy(co);
 *
 * Destroying a suspended coroutine unwinds its stack: its pending
 * moss_yield_value never returns, and no code after it runs. The unwinding
 * passes through the body's C frames, which needs unwind tables (emitted by
 * default for C on x86-64 and AArch64 Linux; -fexceptions or
 * -fasynchronous-unwind-tables elsewhere). A coroutine must be resumed and
 * destroyed on its heap's thread, never from inside itself, and destroyed
 * before its heap.
 * ------------------------------------------------------------------------ */

typedef struct moss_coroutine moss_coroutine;
typedef struct moss_yield moss_yield;

typedef enum {
  MOSS_STACK_GUARD_PAGE = 0, /* grows in place; overflow is detected */
  MOSS_STACK_SOFTWARE = 1    /* no guard page; check moss_stack_remaining() */
} moss_stack_guard;

typedef struct moss_coroutine_options {
  size_t stack_reserve;  /* address space reserved for the stack */
  size_t initial_commit; /* bytes committed up front (guarded stacks) */
  moss_stack_guard guard;
} moss_coroutine_options;

/* The defaults: 1 MiB reserved, 16 KiB committed, a guard page. */
void moss_coroutine_options_init(moss_coroutine_options* options);

typedef void* (*moss_coroutine_body)(moss_yield* yield, void* arg);

/* A coroutine that will run body(yield, arg) from its first resume, or NULL
 * with the reason in moss_last_error(heap). options NULL: the defaults. */
moss_coroutine* moss_coroutine_create(moss_heap* heap, moss_coroutine_body body, void* arg,
                                      const moss_coroutine_options* options);

/* Runs the coroutine until it yields or returns. `in` is what the pending
 * moss_yield_value returns (or moss_yield_received, on the first resume).
 * *out (may be NULL) receives the yielded value, or the body's return value
 * once it has returned. STACK_OVERFLOW if the stack overflowed (the
 * coroutine is then done), USAGE if it is done or running. */
moss_status moss_coroutine_resume(moss_coroutine* coroutine, void* in, void** out);

/* The body has returned or the stack overflowed. */
bool moss_coroutine_done(const moss_coroutine* coroutine);
/* moss_coroutine_resume has been called at least once. */
bool moss_coroutine_started(const moss_coroutine* coroutine);
/* Unwinds a suspended coroutine (see above), then frees it. NULL allowed. */
void moss_coroutine_destroy(moss_coroutine* coroutine);

/* Suspends the running coroutine: its resume returns `value`. Returns the
 * value passed to the resume that continues it. Only the coroutine itself
 * may call it; otherwise it returns NULL and records a USAGE error on the
 * heap. */
void* moss_yield_value(moss_yield* yield, void* value);
/* The value passed to the first resume. */
void* moss_yield_received(const moss_yield* yield);

/* Bytes the running stack (a coroutine's or the thread's) can still grow
 * by. Bodies on MOSS_STACK_SOFTWARE stacks check it before deep recursion. */
size_t moss_stack_remaining(void);

#ifdef __cplusplus
}
#endif

#endif /* MOSS_MOSS_H */
