// runtime/stacks/stack.hpp — one coroutine stack: its shape, its layout and
// its memory.
//
// A stack is one reservation of `shape.reserve` bytes, laid out from the top
// (stacks grow down):
//
//   top ─┬──────────────────────┐
//        │ StackHeader           │ this file's descriptor, at the very top
//   data ┼──────────────────────┤ ← stack_context::sp for Boost.Context users
//        │ body object           │   a moss::Coroutine's callable
//        │ frames …              │   (the overflow landing area is among them)
//        │        committed_lo ──┤ guarded: read-write above, PROT_NONE below
//        │ (not yet committed)   │
//   soft ┼──────────────────────┤ ← check_stack() throws below this
//        │ unwind room           │   (room for a StackOverflow to unwind)
//   hard ┼──────────────────────┤ ← guarded: below is the hard guard, never committed
//        │ hard guard            │
//   lo  ─┴──────────────────────┘
//
// Guarded stacks (StackGuard::guard_page) are mappings of their own: reserved
// PROT_NONE with MAP_NORESERVE, their top `initial_commit` bytes made
// read-write. The part below `committed_lo` is the guard: touching it faults,
// and stack_fault.cpp commits more (or, in the hard guard, ends the
// coroutine). Each guarded stack costs two kernel mappings, so
// vm.max_map_count bounds how many can exist.
//
// Software stacks (StackGuard::software) are slots carved out of large
// read-write MAP_NORESERVE slabs shared by many stacks: no guard, no
// mprotect, pages committed by the kernel on first touch, a handful of
// mappings however many stacks there are. Overflow is caught only by
// check_stack(); a body that overflows without checking writes into the
// slot below.
//
// Invariants:
//  - lo <= hard <= soft < data < top; all page aligned except `data`.
//  - Guarded: hard <= committed_lo <= top - initial_commit; [committed_lo,
//    top) is read-write and [lo, committed_lo) PROT_NONE.
//  - A header is owned by exactly one of: a live coroutine, a StackPool, the
//    quarantine (after an overflow), or nothing once unmapped.
//
// Called by the pool (stack_pool.cpp), the fault handler (stack_fault.cpp)
// and coroutines (coroutine.cpp).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "moss/coroutine.hpp"

namespace moss::detail {

// The size of a page, from the OS (read once).
std::size_t stack_page_size() noexcept;

// What the stack pool hands out: the reservation and the guard mode.
struct StackShape {
  std::size_t reserve = 0;         // whole reservation, in page multiples
  std::size_t initial_commit = 0;  // committed when handed out (guarded), page multiple
  std::size_t guard_bytes = 0;     // the hard guard at the bottom (guarded): never committed
  std::size_t unwind_bytes = 0;    // between the soft and hard limits: room to unwind a StackOverflow
  StackGuard guard = StackGuard::guard_page;

  // Rounds and clamps user options into a valid shape (see CoroutineOptions).
  static StackShape from(const CoroutineOptions& options) noexcept;

  // Two shapes can share pooled stacks.
  bool same_kind(const StackShape& other) const noexcept {
    return reserve == other.reserve && guard == other.guard;
  }
};

// Why a stack's coroutine was stopped by the fault handler.
enum class StackFault : std::uint8_t {
  none,
  overflow,       // touched the hard guard: the reservation is used up
  commit_failed,  // mprotect refused to commit more (ENOMEM)
};

// The descriptor at the top of every stack. Fields the fault handler reads
// or writes are marked; they are only touched by the thread running the
// stack (the handler runs on that thread).
struct StackHeader {
  char* lo = nullptr;            // start of the reservation
  char* top = nullptr;           // end of the reservation; the header ends here
  char* hard_limit = nullptr;    // lo + shape.guard_bytes
  char* soft_limit = nullptr;    // hard_limit + shape.unwind_bytes
  char* committed_lo = nullptr;  // guarded: lowest read-write byte (handler updates)
  StackShape shape;

  // Set by the coroutine that owns this stack, read by the handler: what to
  // run, and on which (16-byte aligned) stack pointer, when the stack
  // overflows. Null: overflow cannot be recovered from (a plain crash).
  void (*overflow_landing)(void* owner) = nullptr;
  void* owner = nullptr;
  char* landing_sp = nullptr;
  std::uint32_t growths = 0;     // in-place growths since handed out (handler updates)
  std::uint32_t* growth_sink = nullptr;  // the owner's growth counter, if any (handler updates)
  StackFault fault = StackFault::none;  // handler sets

  std::uint32_t uses = 0;        // coroutines that have run on it
  StackHeader* next_free = nullptr;  // StackPool free list

  // Where frames start: just below the header.
  char* data_top() noexcept { return reinterpret_cast<char*>(this); }
  std::size_t committed_bytes() const noexcept { return static_cast<std::size_t>(top - committed_lo); }
};

inline constexpr std::size_t kStackHeaderBytes = 192;
static_assert(sizeof(StackHeader) <= kStackHeaderBytes);

// Maps a fresh stack of `shape` with its header written. Throws
// moss::OutOfMemory (naming vm.max_map_count when the kernel says ENOMEM).
StackHeader* map_stack(const StackShape& shape);
// Returns a stack's memory to the OS (guarded) or to the slab (software).
void unmap_stack(StackHeader* stack) noexcept;
// Readies a pooled stack for a new coroutine of `shape`: commits up to the
// initial size (throws like map_stack) and clears its per-use fields.
void reuse_stack(StackHeader* stack, const StackShape& shape);
// A finished stack gives back its pages more than a hysteresis band (64 KiB)
// below its initial commit. Guarded stacks know how deep they went (their
// committed part); guard-less ones are probed with mincore, on every eighth
// use only, to keep system calls off the common path. Returns true if it
// gave any back.
bool shrink_stack(StackHeader* stack) noexcept;

// AddressSanitizer (a no-op without it): clears the stack poisoning that
// frames left on `stack` without returning — frames unwound by an exception
// that the sanitizer could not clean up after (it gives up on stacks of more
// than 64 MiB), or abandoned by an overflow. Called when a stack is given
// back, so the next coroutine on it starts with every byte addressable, as
// a fresh stack does.
void forget_stack_frames(StackHeader* stack) noexcept;

// Process-wide counters behind moss::stack_stats().
struct StackCounters {
  std::atomic<std::uint64_t> growths{0};
  std::atomic<std::uint64_t> overflows{0};
  std::atomic<std::uint64_t> shrinks{0};
  std::atomic<std::uint64_t> guarded_stacks{0};
  std::atomic<std::uint64_t> software_stacks{0};
  std::atomic<std::uint64_t> pooled_stacks{0};
  std::atomic<std::uint64_t> quarantined_bytes{0};
};
extern StackCounters stack_counters;

// Throws the OutOfMemory for a failed mmap or mprotect of `bytes`.
[[noreturn]] void throw_stack_map_failure(const char* call, std::size_t bytes, int error);

}  // namespace moss::detail
