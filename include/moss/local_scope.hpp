// moss/local_scope.hpp — objects that die with a scope unless they escape.
//
//     {
//       moss::LocalScope scope(heap);
//       Pair* t = scope.make<Pair>();         // scope-local
//       t->car = scope.make<Pair>();          // local into local: still local
//       holder->field = t;                    // stored into a heap object: t escapes,
//                                             // and t->car with it
//     }                                       // what did not escape is reclaimed here
//
// A LocalScope is a region of a heap for objects that an embedder (a
// compiler's escape analysis, an interpreter's allocation-site profile)
// believes do not outlive a dynamic extent. Objects made with `scope.make`,
// or with Heap::allocate(type, bytes, site) at a site that allocates
// locally, live in spans of the scope; when the scope object is destroyed
// every one of them that did not escape is reclaimed at once (finalizers
// run), without a collection and without looking at the rest of the heap:
// the cost is in proportion to the scope's own objects.
//
// An object escapes — becomes an ordinary heap object, reclaimed by the
// heap's collector like any other — when:
//  - the barrier stores it (Member or WeakMember assignment, Heap::write)
//    into an object outside its scope: a heap object, an object of an outer
//    scope, or an object that escaped already;
//  - a Root is made to point at it;
//  - it is passed to moss::escape(heap, object) — the embedder's hook for a
//    pointer that leaves by a route moss cannot see (a return value kept in
//    a frame that outlives the scope, a native structure);
//  - at the scope's exit, the stack of a suspended coroutine of the heap
//    holds a pointer to it.
// Escaping is transitive: the scope-local objects an escaping object
// reaches (by its trace function) escape with it.
//
// `scope.make` allocates into that scope, even while scopes opened after
// it are open; Heap::allocate(type, bytes, site) uses the innermost one.
//
// Scopes nest (in coroutines too): a heap's open scopes form one stack, and
// each must be closed innermost first. Destroying a scope while a scope
// opened after it on the same heap is still open, or on a thread other than
// the heap's, is a moss::UsageError; the misplaced scope's objects then all
// become heap objects (nothing is freed), so the heap stays sound. While any
// scope is open, a barriered store of a value that lives where scope
// objects do (scope spans have an address range of their own) takes the
// barrier's slow path, which checks whether it escapes; stores of ordinary
// objects and of null cost what they cost with no scope open.
//
// Which collector gains: under mark-sweep a scope's objects never cost a
// collection, and binary trees checked in scopes take 30-40% less time
// than on the heap. Under refcount a scope-local object counts nothing
// while it is local (stores into it still take the barrier's slow path,
// which notes whether a heap object was stored), and the heap objects it
// refers to are kept alive the way a stack frame's are: each
// reconciliation traces the scopes' objects that may hold one. An object
// that escapes counts its references then. Binary trees in scopes run
// about a quarter faster than on the heap under refcount; a program whose
// scopes hold many references to heap objects pays for tracing them at
// each reconciliation (see bench/RESULTS.md).
//
// THE CONTRACT. A raw pointer to a scope-local object held on the stack (or
// in a register, or anywhere moss does not scan) must not be used after the
// scope ends, unless escape() was called on the object first. Debug builds
// (MOSS_DEBUG) check this as far as they can: at scope exit they scan the
// part of the current stack above the scope object (frames that outlive the
// scope) for pointers to the scope's objects, make those escape instead of
// freeing them, count them (HeapStats::local_rescued) and say so on stderr
// once; and they fill reclaimed scope memory with a poison pattern. The
// check is conservative: a stale copy of a pointer left in the scope's own
// function frame (a dead local laid out above the scope object) counts too,
// so keep work on scope objects in callees of the scope's function.
//
// Allocation sites. A moss::AllocSite names a place in the embedder's code
// that allocates (`static moss::AllocSite site("make-frame",
// moss::SitePolicy::local);`). Each heap counts, per site, allocations,
// local allocations, escapes and bytes (Heap::escape_profile()). A site's
// policy can be changed at any time with set_policy(). Under
// SitePolicy::adaptive the site allocates locally until, on some heap, at
// least kAdaptiveMinAllocations of its objects were allocated locally and
// more than kAdaptiveEscapePercent percent of those escaped; from then on it
// allocates on the heap (set_policy() starts it over). A site must outlive
// every heap that allocated at it; up to 255 sites at a time have their
// escapes attributed to them (the rest count allocations only).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <string>
#include <type_traits>
#include <utility>

#include "moss/allocation.hpp"
#include "moss/heap.hpp"
#include "moss/member.hpp"

namespace moss {

namespace detail {
struct ScopeSpans;  // runtime/escape/scope_spans.hpp
void* scope_allocate(HeapImpl& heap, ScopeSpans& scope, TypeIndex type, std::size_t bytes);
void* scope_allocate(HeapImpl& heap, ScopeSpans& scope, const SizedType& sized);
ScopeSpans* scope_open(Heap& heap);
void scope_close(Heap& heap, ScopeSpans* scope, const void* scope_object);
void escape_object(Heap& heap, void* object);
}  // namespace detail

class AllocSite {
 public:
  static constexpr std::uint64_t kAdaptiveMinAllocations = 1000;
  static constexpr std::uint64_t kAdaptiveEscapePercent = 50;

  explicit AllocSite(std::string name, SitePolicy policy = SitePolicy::local);
  ~AllocSite();
  AllocSite(const AllocSite&) = delete;
  AllocSite& operator=(const AllocSite&) = delete;

  const char* name() const { return name_.c_str(); }
  SitePolicy policy() const { return policy_.load(std::memory_order_relaxed); }
  // Switches the policy; an adaptive site that had flipped to the heap
  // starts over.
  void set_policy(SitePolicy policy) {
    flipped_.store(false, std::memory_order_relaxed);
    policy_.store(policy, std::memory_order_relaxed);
  }
  // Whether allocations at this site go into the innermost scope now.
  bool allocates_locally() const {
    SitePolicy p = policy();
    return p == SitePolicy::local || (p == SitePolicy::adaptive && !flipped_.load(std::memory_order_relaxed));
  }
  // An adaptive site that has flipped to heap allocation.
  bool flipped() const { return flipped_.load(std::memory_order_relaxed); }
  // Process-wide identity, 1 and up (ids are reused after destruction).
  std::uint32_t id() const { return id_; }

 private:
  friend class detail::HeapImpl;
  std::string name_;
  std::uint32_t id_;
  std::atomic<SitePolicy> policy_;
  std::atomic<bool> flipped_{false};
};

class LocalScope {
 public:
  // Opens a scope on `heap`, inside whatever scope is open on it. Throws
  // UsageError on a thread other than the heap's.
  explicit LocalScope(Heap& heap) : heap_(heap), scope_(detail::scope_open(heap)) {}
  // Reclaims every object of the scope that did not escape. Throws
  // UsageError if closed out of order (see above), unless an exception is
  // unwinding the stack (std::uncaught_exceptions() is not 0): then the
  // misuse is handled the same way but not reported.
  ~LocalScope() noexcept(false) { detail::scope_close(heap_, scope_, this); }
  LocalScope(const LocalScope&) = delete;
  LocalScope& operator=(const LocalScope&) = delete;

  Heap& heap() const { return heap_; }

  // Zeroed payload for an object of `type` in this scope (Heap::allocate's
  // contract otherwise).
  void* allocate(TypeIndex type, std::size_t bytes) {
    return detail::scope_allocate(heap_.impl(), *scope_, type, bytes);
  }
  // The same for a type and size resolved once (Heap::sized_type).
  void* allocate(const SizedType& sized) { return detail::scope_allocate(heap_.impl(), *scope_, sized); }

  // A T in this scope, with `extra` bytes of trailing storage.
  template <class T, class... Args>
  T* make_trailing(std::size_t extra, Args&&... args) {
    void* memory = allocate(type_index<T>(), sizeof(T) + extra);
    return detail::construct_in<T>(heap_, memory, std::forward<Args>(args)...);
  }

  template <class T, class... Args>
  T* make(Args&&... args) {
    void* memory = allocate(detail::sized_type_of<T>());
    return detail::construct_in<T>(heap_, memory, std::forward<Args>(args)...);
  }

 private:
  Heap& heap_;
  detail::ScopeSpans* scope_;
};

// Whether `object`, a live object of some heap, is scope-local: made in a
// LocalScope (still open, since its objects are live) and not escaped. One
// load. An embedder that knows a local object is dead before its scope
// closes (an interpreter's frame when its activation returns) may give it
// back at once with Heap::free, so that the scope reuses its memory; an
// object that escaped must be left to the collector instead, since a heap
// object may refer to it.
template <class T>
bool is_local(const T* object) {
  return detail::is_scope_local(static_cast<const void*>(object));
}

// Makes `object` (a live object of `heap`, or null) and the scope-local
// objects it reaches ordinary heap objects; returns it. A no-op for an
// object that is not scope-local.
template <class T>
T* escape(Heap& heap, T* object) {
  detail::escape_object(heap, const_cast<void*>(static_cast<const void*>(object)));
  return object;
}

}  // namespace moss
