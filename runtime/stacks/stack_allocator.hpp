// runtime/stacks/stack_allocator.hpp — moss's stack allocator for
// Boost.Context.
//
// GrowableStackAllocator meets Boost.Context's StackAllocator concept
// (allocate() and deallocate() of a boost::context::stack_context), handing
// out pooled, growable stacks (stack.hpp) from the calling thread's
// StackPool. The stack_context's `sp` is the top of the stack's frames, just
// below its StackHeader; `size` runs down to the hard guard.
//
// Growth in place needs the fault handler to know which stack is running:
// moss::Coroutine marks it on every switch (thread_switch.core, see
// stack_fault.hpp). A bare boost::context::fiber on these stacks does not,
// so it gets its initial commit only, and a fault past that is an ordinary
// crash.
//
// moss::Coroutine takes its stacks from the pool directly (it switches with
// Boost.Context's fcontext layer, below boost::context::fiber); this is for
// embedders and tests that use boost::context::fiber itself.
#pragma once

#include <boost/context/stack_context.hpp>

#include "runtime/stacks/stack.hpp"
#include "runtime/stacks/stack_pool.hpp"

namespace moss::detail {

class GrowableStackAllocator {
 public:
  explicit GrowableStackAllocator(const CoroutineOptions& options = {})
      : shape_(StackShape::from(options)) {}

  boost::context::stack_context allocate() { return context_of(StackPool::local().acquire(shape_)); }

  void deallocate(boost::context::stack_context& context) noexcept { release_stack(header_of(context)); }

  static boost::context::stack_context context_of(StackHeader* stack) noexcept {
    boost::context::stack_context context;
    context.sp = stack->data_top();
    context.size = static_cast<std::size_t>(stack->data_top() - stack->hard_limit);
    return context;
  }

  static StackHeader* header_of(const boost::context::stack_context& context) noexcept {
    return static_cast<StackHeader*>(context.sp);
  }

 private:
  StackShape shape_;
};

}  // namespace moss::detail
