// tests/test_work_stack.cpp — the collectors' work lists (WorkStack): pushes
// past every growth keep order and contents, and the sharing operations of
// parallel marking hand over exactly the older half.
#include <doctest/doctest.h>

#include <cstddef>
#include <utility>
#include <vector>

#include "runtime/work_stack.hpp"

using moss::detail::WorkStack;

namespace {
struct Item {
  std::size_t key;
  const void* tag;
};
}  // namespace

TEST_CASE("a WorkStack keeps what is pushed, in order, across growth") {
  WorkStack<Item> stack;
  CHECK(stack.empty());
  constexpr std::size_t n = 100000;  // many doublings past the first buffer
  for (std::size_t i = 0; i < n; ++i) {
    stack.push_back({i, &stack});
    CHECK(stack.back().key == i);
  }
  CHECK(stack.size() == n);
  std::size_t k = 0;
  for (const Item& item : stack) {
    if (item.key != k || item.tag != &stack) break;
    ++k;
  }
  CHECK(k == n);
  for (std::size_t i = n; i-- > 0;) {
    REQUIRE(!stack.empty());
    CHECK(stack.back().key == i);
    stack.pop_back();
  }
  CHECK(stack.empty());
  // Pushing an element of the stack itself while it grows copies it first.
  stack.push_back({7, nullptr});
  for (std::size_t i = 0; i < 5000; ++i) stack.push_back(stack.back());
  CHECK(stack.size() == 5001);
  CHECK(stack[5000].key == 7);
  stack.clear();
  CHECK(stack.empty());
  CHECK(stack.size() == 0);
}

TEST_CASE("a WorkStack hands over its older half and takes a list in whole") {
  WorkStack<std::size_t> stack;
  for (std::size_t i = 0; i < 11; ++i) stack.push_back(i);
  std::vector<std::size_t> older = stack.take_older_half();
  CHECK(older == std::vector<std::size_t>{0, 1, 2, 3, 4});
  REQUIRE(stack.size() == 6);
  for (std::size_t i = 0; i < 6; ++i) CHECK(stack[i] == 5 + i);
  // A moved stack keeps its contents (its buffer moves with it).
  WorkStack<std::size_t> moved = std::move(stack);
  REQUIRE(moved.size() == 6);
  CHECK(moved.back() == 10);
  moved.assign(std::vector<std::size_t>{40, 41, 42});
  REQUIRE(moved.size() == 3);
  CHECK(moved[0] == 40);
  CHECK(moved.back() == 42);
  for (std::size_t i = 0; i < 3000; ++i) moved.push_back(i);  // grows from an assigned list
  CHECK(moved.size() == 3003);
  CHECK(moved[2] == 42);
  CHECK(moved.back() == 2999);
}
