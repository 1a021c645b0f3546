// moss/root.hpp — persistent references held outside the managed heap.
//
// A `moss::Root<T>` keeps its target alive from anywhere: a global, a
// malloc'd structure, a container. It links itself into its heap's root list
// (an intrusive list: no allocation) and unlinks on destruction. Pointers on
// the stack need no Root: stacks are scanned. A Root counts as a reference
// under refcount, and makes a scope-local target escape.
//
// A Root must not outlive its heap.
#pragma once

#include <boost/intrusive/list_hook.hpp>
#include <cstddef>

namespace moss {

class Heap;

namespace detail {
class HeapImpl;
using RootHook = boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

class RootNode : public RootHook {
 public:
  void* target() const { return target_; }

 protected:
  friend class HeapImpl;
  RootNode() = default;
  RootNode(Heap& heap, void* target) { attach(heap, target); }
  RootNode(const RootNode& other) : RootHook() {
    if (other.heap_ != nullptr) attach(*other.heap_, other.target_);
  }
  RootNode& operator=(const RootNode& other) {
    if (this != &other) {
      if (other.heap_ == nullptr) {
        reset();
      } else if (heap_ == other.heap_) {
        set(other.target_);
      } else {
        reset();
        attach(*other.heap_, other.target_);
      }
    }
    return *this;
  }
  ~RootNode() { reset(); }

  void attach(Heap& heap, void* target);  // links into heap's root list
  void set(void* target);                 // requires a heap
  void reset();                           // drops the target and unlinks
  Heap* heap_ = nullptr;
  void* target_ = nullptr;
};
}  // namespace detail

template <class T>
class Root : public detail::RootNode {
 public:
  Root() = default;
  explicit Root(Heap& heap, T* target = nullptr) : RootNode(heap, const_cast<void*>(static_cast<const void*>(target))) {}
  Root(const Root&) = default;
  Root& operator=(const Root&) = default;

  Root& operator=(T* target) {
    set(const_cast<void*>(static_cast<const void*>(target)));
    return *this;
  }
  Root& operator=(std::nullptr_t) { return *this = static_cast<T*>(nullptr); }

  T* get() const { return static_cast<T*>(target_); }
  T* operator->() const { return get(); }
  T& operator*() const { return *get(); }
  explicit operator bool() const { return target_ != nullptr; }
  Heap* heap() const { return heap_; }
};

}  // namespace moss
