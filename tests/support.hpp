// tests/support.hpp — helpers shared by the behavioural tests.
//
// Conservative stack scanning means a stale copy of a pointer in a dead
// stack frame or a register can keep garbage alive. Tests that assert an
// object was reclaimed create it in a separate, non-inlined frame and call
// `scrub_stack()` (which overwrites the stack below the caller) before
// collecting, as a real embedder's long-running program effectively does.
#pragma once

#include <moss/moss.hpp>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define MOSS_TEST_NO_ASAN __attribute__((no_sanitize_address))
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MOSS_TEST_NO_ASAN __attribute__((no_sanitize_address))
#endif
#endif
#ifndef MOSS_TEST_NO_ASAN
#define MOSS_TEST_NO_ASAN
#endif

// ThreadSanitizer keeps most of the address space for itself and drops
// mmap hints there: the page heap's arenas then land wherever the kernel
// puts them (runtime/page_heap.hpp, "Zones"), so tests of where ordinary
// arenas go do not apply.
#if defined(__SANITIZE_THREAD__)
#define MOSS_TEST_PLACEMENT_HINTS 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MOSS_TEST_PLACEMENT_HINTS 0
#endif
#endif
#ifndef MOSS_TEST_PLACEMENT_HINTS
#define MOSS_TEST_PLACEMENT_HINTS 1
#endif

namespace moss_test {

// Unsets environment variable `name` for a test (CI may set it to run the
// whole suite another way) and puts it back after.
class WithoutEnv {
 public:
  explicit WithoutEnv(const char* name) : name_(name) {
    if (const char* v = std::getenv(name)) saved_ = v;
    unsetenv(name);
  }
  ~WithoutEnv() {
    if (saved_) {
      setenv(name_, saved_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  WithoutEnv(const WithoutEnv&) = delete;
  WithoutEnv& operator=(const WithoutEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> saved_;
};

// Overwrites about `bytes` of the stack below the caller with zeros. The
// buffer comes from alloca in a function without sanitizer redzones, so it
// starts right below this small frame and no stale word escapes it.
[[gnu::noinline]] MOSS_TEST_NO_ASAN inline void scrub_stack(std::size_t bytes = 64 * 1024) {
  char* buffer = static_cast<char*>(__builtin_alloca(bytes));
  for (std::size_t i = 0; i < bytes; i += 8) *reinterpret_cast<volatile std::uint64_t*>(buffer + i) = 0;
  asm volatile("" : : "r"(buffer) : "memory");
}

[[gnu::noinline]] inline void scrub_and_collect(moss::Heap& heap) {
  scrub_stack();
  heap.collect();
  scrub_stack();
  heap.collect();
}

// True when MOSS_GC_STRESS makes every heap collect every few allocations:
// tests that build very large structures scale them down.
inline bool stressed() {
  const char* s = std::getenv("MOSS_GC_STRESS");
  return s != nullptr && *s != '\0' && *s != '0';
}

// Counts live instances through its constructor and destructor.
struct Counted {
  static inline long alive = 0;
  static inline long destroyed = 0;
  long value = 0;
  explicit Counted(long v = 0) : value(v) { ++alive; }
  ~Counted() {
    --alive;
    ++destroyed;
  }
};

struct Node {
  moss::Member<Node> left, right;
  long value = 0;
  explicit Node(long v = 0) : value(v) {}
  void trace(moss::Visitor& v) const {
    v.visit(left);
    v.visit(right);
  }
};

// A list of n Nodes linked through `right`, values n-1 down to 0 from the
// head, made in a frame of its own (stack scanning is conservative).
[[gnu::noinline]] inline Node* make_list(moss::Heap& heap, long n) {
  Node* head = nullptr;
  for (long i = 0; i < n; ++i) {
    Node* x = moss::make<Node>(heap, i);
    x->right = head;
    head = x;
  }
  return head;
}

// An object with a weak and a strong reference.
struct WeakHolder {
  moss::WeakMember<Node> weak;
  moss::Member<Node> strong;
  void trace(moss::Visitor& v) const {
    v.visit(weak);
    v.visit(strong);
  }
};

// A node with a finalizer that counts.
struct FinNode {
  static inline long finalized = 0;
  moss::Member<FinNode> next;
  long value = 0;
  explicit FinNode(long v = 0) : value(v) {}
  ~FinNode() { ++finalized; }
  void trace(moss::Visitor& v) const { v.visit(next); }
};

// The collectors every behavioural test runs under.
inline std::vector<moss::Collector> collectors() { return {moss::Collector::mark_sweep, moss::Collector::refcount}; }

}  // namespace moss_test
