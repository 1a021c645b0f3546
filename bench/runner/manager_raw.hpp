// bench/runner/manager_raw.hpp — the object shapes shared by the managers
// that hand out plain pointers: libgc (manager_boehm.hpp), glibc new/delete
// (manager_malloc.hpp) and mimalloc (manager_mimalloc.hpp).
//
// Nodes are plain structs of two pointers and two ints; arrays are bare
// element blocks; slot arrays are blocks of void*. Each manager adds only
// how these are allocated and freed, so the three measure the allocator and
// nothing else. See manager.hpp for the contract.
//
// Called by: the three manager headers named above.
#pragma once

#include <cstddef>

#include "manager.hpp"

namespace moss_bench {

struct RawTypes {
  struct Node {
    Node* left;
    Node* right;
    int i, j;
  };
  struct Pair {
    Pair* left;
    Pair* right;
  };

  template <class N>
  using Ref = N*;
  using NodeRef = Node*;
  template <class E>
  using ArrayRef = E*;
  using VecRef = void**;
  using AnyRef = void*;

  template <class E>
  static E* data(E* a) { return a; }
  static AnyRef get(VecRef v, std::size_t k) { return v[k]; }
  static void set(VecRef v, std::size_t k, AnyRef value) { v[k] = value; }

  template <class T>
  static AnyRef any(T* object) { return static_cast<void*>(object); }
  static NodeRef as_node(AnyRef a) { return static_cast<Node*>(a); }
  template <class E>
  static ArrayRef<E> as_array(AnyRef a) { return static_cast<E*>(a); }
  static VecRef as_vec(AnyRef a) { return static_cast<void**>(a); }

  template <class T>
  static PlainHold<T*> keep(T* object) { return PlainHold<T*>(object); }
};

}  // namespace moss_bench
