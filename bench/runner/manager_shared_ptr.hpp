// bench/runner/manager_shared_ptr.hpp — the std::shared_ptr baseline
// (`--gc=shared_ptr`): nodes from std::make_shared, reclaimed when the last
// shared_ptr to them goes away.
//
// Every link copies or moves a shared_ptr, so this measures what counting
// every reference (atomically: the program links pthreads) costs. Dropping
// a tree frees it, recursively, so explicit_free is false: the workloads
// only forget. Collections and pauses do not apply.
//
// Called by: workloads.hpp through the contract in manager.hpp; main.cpp and
// tests/test_bench_workloads.cpp construct it.
#pragma once

#include <cstddef>
#include <memory>
#include <utility>

#include "manager.hpp"

namespace moss_bench {

class SharedPtrManager {
 public:
  static constexpr const char* name = "shared_ptr";
  static constexpr bool explicit_free = false;

  struct Node {
    std::shared_ptr<Node> left, right;
    int i = 0, j = 0;
  };

  struct Pair {
    std::shared_ptr<Pair> left, right;
  };

  template <class N>
  using Ref = std::shared_ptr<N>;
  using NodeRef = std::shared_ptr<Node>;
  template <class E>
  using ArrayRef = std::shared_ptr<E[]>;
  using AnyRef = std::shared_ptr<void>;
  using VecRef = std::shared_ptr<AnyRef[]>;

  template <class N>
  std::shared_ptr<N> node(std::shared_ptr<N> left, std::shared_ptr<N> right) {
    std::shared_ptr<N> n = std::make_shared<N>();
    n->left = std::move(left);
    n->right = std::move(right);
    return n;
  }
  template <class E>
  ArrayRef<E> array(std::size_t n) { return std::make_shared<E[]>(n); }
  VecRef vec(std::size_t n) { return std::make_shared<AnyRef[]>(n); }

  template <class E>
  static E* data(const ArrayRef<E>& a) { return a.get(); }
  static AnyRef get(const VecRef& v, std::size_t k) { return v[k]; }
  static void set(const VecRef& v, std::size_t k, AnyRef value) { v[k] = std::move(value); }

  template <class T>
  static AnyRef any(const std::shared_ptr<T>& object) { return object; }
  static NodeRef as_node(const AnyRef& a) { return std::static_pointer_cast<Node>(a); }
  template <class E>
  static ArrayRef<E> as_array(const AnyRef& a) { return std::static_pointer_cast<E[]>(a); }
  static VecRef as_vec(const AnyRef& a) { return std::static_pointer_cast<AnyRef[]>(a); }

  // Never called (explicit_free is false); present so the contract holds.
  template <class N>
  void free_node(const std::shared_ptr<N>&) {}
  template <class E>
  void free_array(const ArrayRef<E>&, std::size_t) {}
  void free_vec(const VecRef&, std::size_t) {}

  template <class T>
  static PlainHold<std::shared_ptr<T>> keep(std::shared_ptr<T> object) {
    return PlainHold<std::shared_ptr<T>>(std::move(object));
  }

  GcReport report() const {
    GcReport r;
    r.collections = 0;
    return r;
  }
};

}  // namespace moss_bench
