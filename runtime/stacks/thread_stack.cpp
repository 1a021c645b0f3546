// runtime/stacks/thread_stack.cpp — the bounds of each thread's own stack,
// and the per-thread switching state.
//
// Owns the thread-local descriptions of the thread's stack and of the stack
// segment now executing. The latter is the segment of `thread_switch.core`
// (declared in include/moss/coroutine.hpp, because resume() and yield()
// update it inline): the running coroutine's core, or the thread's own. Called by the
// heap (to remember its owner thread's stack), by the collectors, and by
// coroutine switches.
#include <pthread.h>

#include <cstdio>
#include <cstdlib>

#include "moss/coroutine.hpp"
#include "runtime/stacks/stack_segment.hpp"

namespace moss::detail {

constinit CoroutineCore unprepared_thread;
thread_local constinit ThreadSwitch thread_switch{&unprepared_thread, nullptr};

namespace {
// The thread's own stack as a switch sees it: what thread_switch.core is
// outside any coroutine once the thread has used coroutines or check_stack.
thread_local constinit CoroutineCore thread_core;
}  // namespace

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

StackSegment*& prepare_current_stack() {
  ThreadSwitch& t = thread_switch;
  if (t.core == &unprepared_thread) {
    StackSegment& own = thread_stack();
    thread_core.segment = &own;
    thread_core.saved_sp = &own.saved_sp;
    t.core = &thread_core;
  }
  return t.core->segment;
}

}  // namespace moss::detail
