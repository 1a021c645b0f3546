// bench/runner/manager_moss.hpp — the moss managers (`--gc=ms`, `--gc=rc`)
// for moss-bench's workloads, written against the public API only.
//
// One moss::Heap per manager, with the collector chosen at construction.
// Nodes hold their children in moss::Member fields, so every link runs the
// barrier; arrays of doubles or bytes are leaf objects (no trace: the marker
// skips them); slot arrays trace their trailing Member slots. Long-lived
// data stays alive through moss::Root; everything else is found on the
// stack. Nothing is ever freed by hand: `explicit_free` is false.
//
// Called by: workloads.hpp through the policy contract in manager.hpp;
// main.cpp and tests/test_bench_workloads.cpp construct it.
#pragma once

#include <moss/moss.hpp>

#include <cstddef>
#include <cstdint>
#include <new>

#include "manager.hpp"

namespace moss_bench {

class MossManager {
 public:
  static constexpr bool explicit_free = false;

  // Opaque: what a heterogeneous slot points at (any moss object start).
  struct Object;

  struct Node {
    moss::Member<Node> left, right;
    int i = 0, j = 0;
    void trace(moss::Visitor& v) const {
      v.visit(left);
      v.visit(right);
    }
  };

  // Two words: with moss_align8 a 24-byte slot with its header, not 32.
  struct Pair {
    static constexpr bool moss_align8 = true;
    moss::Member<Pair> left, right;
    void trace(moss::Visitor& v) const {
      v.visit(left);
      v.visit(right);
    }
  };

  // A pointer-free array: a length word, then the elements.
  template <class E>
  struct Array {
    explicit Array(std::uint64_t n) : length(n) {}
    std::uint64_t length;
    E* data() { return reinterpret_cast<E*>(reinterpret_cast<char*>(this) + sizeof(Array)); }
  };

  // A traced array of slots: a length word, then `length` Members.
  struct Vec {
    explicit Vec(std::uint64_t n) : length(n) {
      for (std::uint64_t k = 0; k < n; ++k) ::new (static_cast<void*>(slots() + k)) moss::Member<Object>();
    }
    std::uint64_t length;
    moss::Member<Object>* slots() {
      return reinterpret_cast<moss::Member<Object>*>(reinterpret_cast<char*>(this) + sizeof(Vec));
    }
    const moss::Member<Object>* slots() const {
      return reinterpret_cast<const moss::Member<Object>*>(reinterpret_cast<const char*>(this) + sizeof(Vec));
    }
    void trace(moss::Visitor& v) const { v.visit_array(slots(), length); }
  };

  template <class N>
  using Ref = N*;
  using NodeRef = Node*;
  template <class E>
  using ArrayRef = Array<E>*;
  using VecRef = Vec*;
  using AnyRef = Object*;

  explicit MossManager(moss::Collector collector, bool generational = false)
      : heap_(options(collector, generational)), generational_(generational) {}

  const char* gc_name() const {
    return heap_.collector() == moss::Collector::refcount ? "rc" : generational_ ? "ms+gen" : "ms";
  }
  moss::Heap& heap() { return heap_; }

  template <class N>
  N* node(N* left, N* right) {
    N* n = moss::make<N>(heap_);
    n->left = left;
    n->right = right;
    return n;
  }
  template <class E>
  ArrayRef<E> array(std::size_t n) {
    return moss::make_trailing<Array<E>>(heap_, n * sizeof(E), n);
  }
  VecRef vec(std::size_t n) { return moss::make_trailing<Vec>(heap_, n * sizeof(moss::Member<Object>), n); }

  template <class E>
  static E* data(ArrayRef<E> a) { return a->data(); }
  static AnyRef get(VecRef v, std::size_t k) { return v->slots()[k].get(); }
  void set(VecRef v, std::size_t k, AnyRef value) { v->slots()[k] = value; }

  template <class T>
  static AnyRef any(T* object) { return reinterpret_cast<Object*>(object); }
  static NodeRef as_node(AnyRef a) { return reinterpret_cast<Node*>(a); }
  template <class E>
  static ArrayRef<E> as_array(AnyRef a) { return reinterpret_cast<Array<E>*>(a); }
  static VecRef as_vec(AnyRef a) { return reinterpret_cast<Vec*>(a); }

  // Never called (explicit_free is false); present so the contract holds.
  template <class N>
  void free_node(N*) {}
  template <class E>
  void free_array(ArrayRef<E>, std::size_t) {}
  void free_vec(VecRef, std::size_t) {}

  template <class T>
  moss::Root<T> keep(T* object) { return moss::Root<T>(heap_, object); }

  GcReport report() const {
    moss::HeapStats s = heap_.stats();
    GcReport r;
    r.collections = s.collections;
    r.pause_p50_us = s.pause_p50_us;
    r.pause_p99_us = s.pause_p99_us;
    r.pause_max_us = s.pause_max_us;
    r.pause_total_us = s.pause_total_us;
    return r;
  }

 private:
  static moss::HeapOptions options(moss::Collector collector, bool generational) {
    moss::HeapOptions o;
    o.collector = collector;
    o.generational = generational;
    return o;
  }

  moss::Heap heap_;
  bool generational_;
};

// The two spellings of the moss manager, as distinct policy types so that
// `M::name` is a constant.
class MarkSweepManager : public MossManager {
 public:
  static constexpr const char* name = "ms";
  MarkSweepManager() : MossManager(moss::Collector::mark_sweep) {}
};

// Mark-sweep with generational collection (HeapOptions::generational).
class GenerationalManager : public MossManager {
 public:
  static constexpr const char* name = "ms+gen";
  GenerationalManager() : MossManager(moss::Collector::mark_sweep, true) {}
};

class RefcountManager : public MossManager {
 public:
  static constexpr const char* name = "rc";
  RefcountManager() : MossManager(moss::Collector::refcount) {}
};

}  // namespace moss_bench
