// runtime/work_stack.hpp — a collector's work list: a stack whose push is
// a compare and a store, inline, with its growth out of line.
//
// A std::vector's push_back carries its reallocation inline, so a
// collector's inner loop that pushes (the marker shading a child, the
// refcount nursery pass promoting one) either grows by that code or calls
// push_back out of line, and saves registers around it either way. Here
// the common case is a leaf: the only call is growth, a tail call.
#pragma once

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

#include "runtime/assert.hpp"

namespace moss::detail {

template <class T>
class WorkStack {
 public:
  WorkStack() = default;
  WorkStack(WorkStack&&) = default;  // the buffer moves with its pointers
  WorkStack& operator=(WorkStack&&) = default;
  WorkStack(const WorkStack&) = delete;
  WorkStack& operator=(const WorkStack&) = delete;

  bool empty() const { return top_ == base_; }
  std::size_t size() const { return static_cast<std::size_t>(top_ - base_); }
  T& operator[](std::size_t i) { return base_[i]; }
  T* begin() { return base_; }
  T* end() { return top_; }
  const T& back() const { return top_[-1]; }
  void pop_back() { --top_; }
  void clear() { top_ = base_; }
  MOSS_INLINE void push_back(const T& item) {
    if (MOSS_UNLIKELY(top_ == end_)) return grow_and_push(item);
    *top_++ = item;
  }

  // Takes the older half out (what parallel marking shares).
  std::vector<T> take_older_half() {
    std::size_t half = size() / 2;
    std::vector<T> chunk(base_, base_ + half);
    std::copy(base_ + half, top_, base_);
    top_ -= half;
    return chunk;
  }
  // Replaces the contents with `items`.
  void assign(std::vector<T>&& items) {
    std::size_t n = items.size();
    storage_ = std::move(items);
    storage_.resize(std::max<std::size_t>(2 * n, kInitial));
    point_at(n);
  }

 private:
  static constexpr std::size_t kInitial = 1024;
  MOSS_NOINLINE void grow_and_push(const T& item) {
    T copy = item;  // `item` may live in the buffer that moves
    std::size_t n = size();
    storage_.resize(std::max<std::size_t>(2 * storage_.size(), kInitial));
    point_at(n);
    *top_++ = copy;
  }
  void point_at(std::size_t n) {
    base_ = storage_.data();
    top_ = base_ + n;
    end_ = base_ + storage_.size();
  }

  std::vector<T> storage_;  // all of it usable: [base_, top_) holds the stack
  T* base_ = nullptr;
  T* top_ = nullptr;
  T* end_ = nullptr;
};

}  // namespace moss::detail
