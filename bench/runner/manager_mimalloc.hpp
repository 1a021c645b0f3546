// bench/runner/manager_mimalloc.hpp — the mimalloc baseline
// (`--gc=mimalloc`): objects from mi_malloc, returned with mi_free.
//
// Built only into moss-bench-mimalloc (MOSS_BENCH_MIMALLOC): Debian's
// libmimalloc also replaces malloc and operator new for the whole process,
// so it gets an executable of its own and never shares one with the other
// managers. The workloads free what they drop (explicit_free).
//
// Called by: workloads.hpp through the contract in manager.hpp; main.cpp
// constructs it.
#pragma once

#include <mimalloc.h>

#include <cstddef>
#include <new>

#include "manager.hpp"
#include "manager_raw.hpp"

namespace moss_bench {

class MimallocManager : public RawTypes {
 public:
  static constexpr const char* name = "mimalloc";
  static constexpr bool explicit_free = true;

  template <class N>
  N* node(N* left, N* right) {
    return ::new (checked(mi_malloc(sizeof(N)))) N{left, right};
  }
  template <class E>
  ArrayRef<E> array(std::size_t n) {
    return static_cast<E*>(checked(mi_malloc(n * sizeof(E))));
  }
  VecRef vec(std::size_t n) { return static_cast<void**>(checked(mi_zalloc(n * sizeof(void*)))); }

  template <class N>
  void free_node(N* n) { mi_free(n); }
  template <class E>
  void free_array(ArrayRef<E> a, std::size_t) { mi_free(a); }
  void free_vec(VecRef v, std::size_t) { mi_free(v); }

  GcReport report() const {
    GcReport r;
    r.collections = 0;
    return r;
  }

 private:
  static void* checked(void* p) {
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }
};

}  // namespace moss_bench
