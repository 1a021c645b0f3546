// runtime/stacks/stack_pool.hpp — finished coroutine stacks kept for reuse.
//
// Each thread has one StackPool. A finished stack is shrunk (its deep pages
// go back to the OS, see shrink_stack) and kept in a bin of stacks of the
// same kind (reservation size and guard mode), so the next coroutine of that
// kind starts without a system call. A bin holds at most kMaxPerBin stacks
// and there are at most kBins kinds; stacks beyond that are unmapped (or
// their slot returned to the slab arena).
//
// A stack that overflowed is not pooled but quarantined: frames abandoned on
// it may still be linked into lists elsewhere (a Root, a nested coroutine's
// segment), so its memory stays mapped and untouched for good.
//
// Invariants: every stack in a bin is of the bin's kind, has no coroutine,
// and has StackFault::none. Thread-local, so no locks.
//
// Called by the coroutine code (acquire when a coroutine is made; release
// once it has finished or been destroyed, or when one that never started is
// destroyed) and by GrowableStackAllocator.
#pragma once

#include <cstddef>

#include "runtime/stacks/stack.hpp"

namespace moss::detail {

class StackPool {
 public:
  static constexpr std::size_t kBins = 8;
  static constexpr std::size_t kMaxPerBin = 64;

  // This thread's pool.
  static StackPool& local() noexcept;

  // A stack of `shape`, pooled or freshly mapped. Throws OutOfMemory.
  StackHeader* acquire(const StackShape& shape);
  // Takes back a stack whose coroutine has ended.
  void release(StackHeader* stack) noexcept;
  // Unmaps every pooled stack.
  void clear() noexcept;

  constexpr StackPool() = default;
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;

 private:
  struct Bin {
    StackShape shape;
    StackHeader* head = nullptr;
    std::size_t count = 0;
  };
  Bin* find_bin(const StackShape& shape, bool create) noexcept;
  // Makes sure clear() runs when the thread exits (once it holds stacks).
  void arm_reaper() noexcept;

  Bin bins_[kBins] = {};
  std::size_t used_bins_ = 0;
  bool reaper_armed_ = false;
  friend struct PoolReaper;
  friend void release_stack(StackHeader* stack) noexcept;
  bool gone_ = false;  // the thread is exiting: release straight to the OS
};

// The pool is trivially destructible, so reaching it costs no thread-local
// initialisation check; a separate object empties it at thread exit.
[[gnu::tls_model("initial-exec")]] extern thread_local constinit StackPool thread_stack_pool;
inline StackPool& StackPool::local() noexcept { return thread_stack_pool; }

// Returns a stack whose coroutine has ended to this thread's pool (or, while
// the thread is exiting and its pool is gone, straight to the OS).
void release_stack(StackHeader* stack) noexcept;

}  // namespace moss::detail
