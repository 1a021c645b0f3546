// runtime/stacks/stack_fault.hpp — installing the SIGSEGV handler that
// grows guarded stacks, and readying a thread to run coroutines (the story
// of growth and overflow is told in stack_fault.cpp).
//
// Invariants:
//  - thread_switch.core->stack (include/moss/coroutine.hpp) is the moss
//    stack executing on this thread, or null on the thread's own stack;
//    every coroutine switch updates it before the jump. The handler reads it.
//  - A thread that runs a coroutine has been prepared first: the
//    process-wide handler is installed, the thread has an alternate signal
//    stack (its own, or one moss made and frees at thread exit), and
//    thread_switch knows the thread's stack and exception state.
//
// Called by coroutine.cpp (prepare_thread on creation and on the slow
// resume path) and by moss::reinstall_stack_fault_handler.
#pragma once

#include "moss/coroutine.hpp"
#include "runtime/stacks/stack.hpp"

namespace moss::detail {

void prepare_thread_slow();
inline void prepare_thread() {
  if (thread_switch.exceptions == nullptr) [[unlikely]] prepare_thread_slow();
}

// Installs the handler once per process (prepare_thread does it).
void install_stack_fault_handler();

// Puts moss's handler back in front of whatever SIGSEGV handler is installed
// now (forwarding to that one), and prepares the calling thread again,
// giving it an alternate signal stack if it has none.
void reinstall_stack_fault_handler();

}  // namespace moss::detail
