// moss/visitor.hpp — how a managed type reports the references it holds.
//
// A type allocated with `moss::make<T>` that holds references to other
// managed objects declares
//
//     void trace(moss::Visitor& v) const { v.visit(field_a); v.visit(field_b); }
//
// and visits every `Member`, `WeakMember` and raw managed pointer it holds,
// exactly once per call. A collector calls `trace` whenever it needs the
// object's outgoing edges (marking, cycle collection, freeing, verification),
// so `trace` must not allocate, must not change the object, and must report
// the same edges each time it is called on an unchanged object. A type
// without `trace` is a leaf: it holds no references, and its objects live in
// spans the marker never scans.
#pragma once

#include <cstddef>
#include <cstdint>

namespace moss {

template <class T> class Member;
template <class T> class WeakMember;

class Visitor {
 public:
  virtual ~Visitor() = default;

  // A strong reference. Null is allowed.
  template <class T>
  void visit(const Member<T>& m) { visit(static_cast<const void*>(m.get())); }

  // A weak reference: does not keep its target alive, and is cleared when
  // the target is reclaimed.
  template <class T>
  void visit(const WeakMember<T>& m) { visit_weak(m.slot()); }

  // A raw pointer to the start of a managed object (or null).
  void visit(const void* object) {
    if (object != nullptr) visit_pointer(object);  // a null costs no call
  }

  // An array of strong references (a vector's slots, say): the same as
  // visiting each in turn, except that a collector may take a long array
  // in pieces — the incremental marker does, so a slice of marking never
  // has to trace a whole large array at once. The array must stay where it
  // is while its object lives (it is read again later, piece by piece).
  template <class T>
  void visit_array(const Member<T>* first, std::size_t count) {
    static_assert(sizeof(Member<T>) == sizeof(void*), "a Member is one pointer");
    visit_pointer_array(reinterpret_cast<const void* const*>(first), count);
  }
  // The same for an array of raw managed pointers, each null or an object
  // start (the C API's moss_visit_array).
  void visit_array(const void* const* first, std::size_t count) { visit_pointer_array(first, count); }

  // A word that may or may not be a reference (a tagged value): it counts
  // only if it is the address of a live object's start in this heap.
  void visit_word(std::uintptr_t word) { visit_candidate(reinterpret_cast<const void*>(word)); }

  // A range of words scanned conservatively: every word that points into a
  // live object (anywhere inside it) counts as a reference to it.
  virtual void visit_conservative(const void* begin, const void* end) = 0;

 protected:
  // The target is an object start of this heap (never null from visit();
  // visit_pointer_array's default passes the array's nulls on).
  virtual void visit_pointer(const void* object) = 0;
  // The target may be anything; only exact object starts count.
  virtual void visit_candidate(const void* maybe_object) = 0;
  // The slot of a WeakMember.
  virtual void visit_weak(void* const* slot) = 0;
  // `count` strong references from `first` on (visit_array). Unless a
  // visitor does better, each in turn.
  virtual void visit_pointer_array(const void* const* first, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) visit_pointer(first[i]);
  }
};

}  // namespace moss
