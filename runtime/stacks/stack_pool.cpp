// runtime/stacks/stack_pool.cpp — the per-thread pool of finished stacks
// (policy: stack_pool.hpp).
#include "runtime/stacks/stack_pool.hpp"

namespace moss::detail {

thread_local constinit StackPool thread_stack_pool;

namespace {
void quarantine(StackHeader* stack) noexcept {
  stack_counters.quarantined_bytes.fetch_add(stack->shape.reserve, std::memory_order_relaxed);
}
}  // namespace

// Empties this thread's pool when the thread exits.
struct PoolReaper {
  ~PoolReaper() {
    StackPool& pool = StackPool::local();
    pool.clear();
    pool.gone_ = true;
  }
};

void StackPool::arm_reaper() noexcept {
  static thread_local PoolReaper reaper;
  asm volatile("" : : "r"(&reaper));  // constructs it, so its destructor runs at thread exit
  reaper_armed_ = true;
}

StackPool::Bin* StackPool::find_bin(const StackShape& shape, bool create) noexcept {
  for (std::size_t i = 0; i < used_bins_; ++i) {
    if (bins_[i].shape.same_kind(shape)) return &bins_[i];
  }
  if (create) {
    for (std::size_t i = 0; i < used_bins_; ++i) {
      if (bins_[i].count == 0) {
        bins_[i].shape = shape;
        return &bins_[i];
      }
    }
    if (used_bins_ < kBins) {
      bins_[used_bins_].shape = shape;
      return &bins_[used_bins_++];
    }
  }
  return nullptr;
}

StackHeader* StackPool::acquire(const StackShape& shape) {
  Bin* bin = find_bin(shape, false);
  if (bin != nullptr && bin->head != nullptr) {
    StackHeader* stack = bin->head;
    reuse_stack(stack, shape);  // may throw; the stack is still in the bin then
    bin->head = stack->next_free;
    stack->next_free = nullptr;
    --bin->count;
    stack_counters.pooled_stacks.fetch_sub(1, std::memory_order_relaxed);
    return stack;
  }
  return map_stack(shape);
}

void StackPool::release(StackHeader* stack) noexcept {
  if (stack->fault != StackFault::none) {
    quarantine(stack);
    return;
  }
  shrink_stack(stack);
  Bin* bin = find_bin(stack->shape, true);
  if (bin == nullptr || bin->count >= kMaxPerBin) {
    unmap_stack(stack);
    return;
  }
  if (!reaper_armed_) [[unlikely]] arm_reaper();
  stack->overflow_landing = nullptr;
  stack->owner = nullptr;
  stack->growth_sink = nullptr;
  stack->next_free = bin->head;
  bin->head = stack;
  ++bin->count;
  stack_counters.pooled_stacks.fetch_add(1, std::memory_order_relaxed);
}

void StackPool::clear() noexcept {
  for (std::size_t i = 0; i < used_bins_; ++i) {
    Bin& bin = bins_[i];
    while (bin.head != nullptr) {
      StackHeader* stack = bin.head;
      bin.head = stack->next_free;
      stack_counters.pooled_stacks.fetch_sub(1, std::memory_order_relaxed);
      unmap_stack(stack);
    }
    bin.count = 0;
  }
}

void release_stack(StackHeader* stack) noexcept {
  forget_stack_frames(stack);
  if (thread_stack_pool.gone_) [[unlikely]] {
    if (stack->fault != StackFault::none) {
      quarantine(stack);
    } else {
      unmap_stack(stack);
    }
    return;
  }
  StackPool::local().release(stack);
}

}  // namespace moss::detail
