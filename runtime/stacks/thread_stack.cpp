// runtime/stacks/thread_stack.cpp — the bounds of each thread's own stack.
//
// Owns the thread-local descriptions of the thread's stack and of the stack
// segment now executing. Called by the heap (to remember its owner thread's
// stack) and by coroutine switches.
#include <pthread.h>

#include <cstdio>
#include <cstdlib>

#include "runtime/stacks/stack_segment.hpp"

namespace moss::detail {

namespace {
StackSegment describe_thread_stack() {
  StackSegment s;
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) {
    std::fprintf(stderr, "moss: pthread_getattr_np failed; cannot find this thread's stack\n");
    std::abort();
  }
  void* addr = nullptr;
  size_t size = 0;
  pthread_attr_getstack(&attr, &addr, &size);
  pthread_attr_destroy(&attr);
  s.limit = static_cast<char*>(addr);
  s.base = static_cast<char*>(addr) + size;
  return s;
}
}  // namespace

StackSegment& thread_stack() {
  static thread_local StackSegment segment = describe_thread_stack();
  return segment;
}

StackSegment*& current_stack() {
  static thread_local StackSegment* current = nullptr;
  if (current == nullptr) current = &thread_stack();
  return current;
}

}  // namespace moss::detail
