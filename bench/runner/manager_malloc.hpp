// bench/runner/manager_malloc.hpp — the glibc baseline (`--gc=malloc`):
// every object comes from a new-expression and goes back through delete.
//
// The workloads free what they drop (explicit_free), tree by tree, so this
// measures what a program that manages its own memory pays. Collections and
// pauses do not apply: the report says 0 collections and "na" pauses.
//
// Called by: workloads.hpp through the contract in manager.hpp; main.cpp and
// tests/test_bench_workloads.cpp construct it.
#pragma once

#include <cstddef>

#include "manager.hpp"
#include "manager_raw.hpp"

namespace moss_bench {

class MallocManager : public RawTypes {
 public:
  static constexpr const char* name = "malloc";
  static constexpr bool explicit_free = true;

  template <class N>
  N* node(N* left, N* right) { return new N{left, right}; }
  template <class E>
  ArrayRef<E> array(std::size_t n) { return new E[n]; }
  VecRef vec(std::size_t n) { return new void*[n](); }

  template <class N>
  void free_node(N* n) { delete n; }
  template <class E>
  void free_array(ArrayRef<E> a, std::size_t) { delete[] a; }
  void free_vec(VecRef v, std::size_t) { delete[] v; }

  GcReport report() const {
    GcReport r;
    r.collections = 0;
    return r;
  }
};

}  // namespace moss_bench
