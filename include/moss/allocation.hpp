// moss/allocation.hpp — allocating C++ objects on a moss heap.
//
//     Pair* p = moss::make<Pair>(heap, args...);
//     Str*  s = moss::make_trailing<Str>(heap, n_bytes, args...);
//
// `T` is traced through `void trace(moss::Visitor&) const` if it declares
// one; a type without it holds no references (a leaf) and lives in spans the
// marker skips. A non-trivial destructor is T's finalizer: it runs once after
// the object is found dead, before its memory is reused, and must not touch
// other managed objects (they may be gone already). A type may declare
// `static constexpr bool moss_acyclic = true;` to promise it can never be
// part of a reference cycle (refcount then never buffers it), and
// `static constexpr bool moss_align8 = true;` (with alignof(T) <= 8) to
// let its objects be 8-byte aligned: a 16-byte T then takes a 24-byte slot
// with its header instead of 32 (type_align8).
//
// Finalizers, under both collectors:
//  - A finalizer may allocate on its heap; what it stores in a Root (or in a
//    live object) is an ordinary live object.
//  - An exception thrown by a finalizer is dropped; the object is reclaimed
//    all the same.
//  - Resurrection: a finalizer that stores its own object somewhere (a Root,
//    a live object) keeps the object's memory allocated for as long as it is
//    reachable from there, but the object has been finalized (its
//    destructor ran) and is never finalized again. Its references must be
//    cleared by that finalizer: under mark-sweep what they pointed to may be
//    reclaimed already. (Under refcount, targets of references cleared this
//    way keep that count: a known limitation, they are not reclaimed.)
//
// Objects are 16-byte aligned (8-byte with moss_align8); over-aligned types
// are rejected at compile time. If T's constructor throws, the memory is
// reclaimed and the exception passes through.
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "moss/heap.hpp"
#include "moss/visitor.hpp"

namespace moss {

template <class T>
concept Traceable = requires(const T& t, Visitor& v) { t.trace(v); };

namespace detail {
template <class T>
constexpr bool declared_acyclic() {
  if constexpr (requires { T::moss_acyclic; }) {
    return T::moss_acyclic;
  } else {
    return false;
  }
}

template <class T>
constexpr bool declared_align8() {
  if constexpr (requires { T::moss_align8; }) {
    static_assert(!T::moss_align8 || alignof(T) <= 8, "moss_align8 needs alignof(T) <= 8");
    return T::moss_align8;
  } else {
    return false;
  }
}

template <class T>
TypeInfo type_info_for() {
  TypeInfo info;
  info.name = typeid(T).name();
  if constexpr (Traceable<T>) {
    info.trace = [](const void* object, Visitor& v) { static_cast<const T*>(object)->trace(v); };
  } else {
    info.flags |= type_leaf | type_acyclic;
  }
  if constexpr (!std::is_trivially_destructible_v<T>) {
    info.finalize = [](void* object) { static_cast<T*>(object)->~T(); };
    info.flags |= type_finalizable;
  }
  if constexpr (declared_acyclic<T>()) info.flags |= type_acyclic;
  if constexpr (declared_align8<T>()) info.flags |= type_align8;
  return info;
}
}  // namespace detail

// The process-wide type index of T, registered on first use.
template <class T>
TypeIndex type_index() {
  static const TypeIndex index = Heap::register_type(detail::type_info_for<T>());
  return index;
}

namespace detail {
// Constructs a T in `memory` just allocated from `heap`; if the constructor
// throws, the memory is reclaimed (no finalizer) and the exception passes on.
template <class T, class... Args>
T* construct_in(Heap& heap, void* memory, Args&&... args) {
  static_assert(alignof(T) <= 16, "moss objects are 16-byte aligned");
  if constexpr (std::is_nothrow_constructible_v<T, Args&&...>) {
    return ::new (memory) T(std::forward<Args>(args)...);
  } else {
    try {
      return ::new (memory) T(std::forward<Args>(args)...);
    } catch (...) {
      heap.free_unconstructed(memory);
      throw;
    }
  }
}
}  // namespace detail

// Allocates a T with `extra` bytes of trailing storage after it.
template <class T, class... Args>
T* make_trailing(Heap& heap, std::size_t extra, Args&&... args) {
  void* memory = heap.allocate(type_index<T>(), sizeof(T) + extra);
  return detail::construct_in<T>(heap, memory, std::forward<Args>(args)...);
}

namespace detail {
// T's type at its own size, resolved on first use.
template <class T>
[[gnu::always_inline]] inline const SizedType& sized_type_of() {
  static const SizedType sized = Heap::sized_type(type_index<T>(), sizeof(T));
  return sized;
}
}  // namespace detail

template <class T, class... Args>
T* make(Heap& heap, Args&&... args) {
  void* memory = heap.allocate(detail::sized_type_of<T>());
  return detail::construct_in<T>(heap, memory, std::forward<Args>(args)...);
}

}  // namespace moss
