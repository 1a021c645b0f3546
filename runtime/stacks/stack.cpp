// runtime/stacks/stack.cpp — mapping, committing and returning the memory of
// coroutine stacks (layout and invariants: stack.hpp).
//
// Owns the slab arena that guard-less stacks are carved from: large
// read-write MAP_NORESERVE regions, cut into slots of one reservation size,
// never unmapped (a freed slot's pages go back to the OS with
// MADV_DONTNEED and the slot is reused). Guarded stacks are mappings of their
// own and are unmapped when the pool does not keep them.
//
// Called by StackPool (map, reuse, shrink, unmap) and by the coroutine code
// (StackShape::from). Thread-safe: the slab arena takes a mutex; everything
// else works on one stack owned by the caller.
#include "runtime/stacks/stack.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#if MOSS_ASAN_FIBERS
#include <sanitizer/asan_interface.h>
#endif

namespace moss::detail {

StackCounters stack_counters;

namespace {

constexpr std::size_t kMinReserve = std::size_t{32} << 10;
constexpr std::size_t kMinInitialCommit = std::size_t{8} << 10;
// A finished stack keeps this much committed beyond its initial commit, so a
// coroutine that runs a little deeper than the initial commit does not pay for
// growth again on every reuse.
constexpr std::size_t kShrinkHysteresis = std::size_t{64} << 10;
// Guard-less stacks come from slabs of at least this size.
constexpr std::size_t kSlabBytes = std::size_t{1} << 30;

// `to` is a power of two.
std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) & ~(to - 1); }

char* page_floor(char* p) {
  auto a = reinterpret_cast<std::uintptr_t>(p);
  return reinterpret_cast<char*>(a & ~(stack_page_size() - 1));
}

long count_mappings() {
  std::FILE* maps = std::fopen("/proc/self/maps", "r");
  if (maps == nullptr) return -1;
  long lines = 0;
  for (int c; (c = std::fgetc(maps)) != EOF;) lines += (c == '\n');
  std::fclose(maps);
  return lines;
}

long read_max_map_count() {
  std::FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r");
  if (f == nullptr) return -1;
  long value = -1;
  if (std::fscanf(f, "%ld", &value) != 1) value = -1;
  std::fclose(f);
  return value;
}

// The slots guard-less stacks are carved from, by slot size.
class SlabArena {
 public:
  char* take(std::size_t slot_bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    Kind& kind = kind_for(slot_bytes);
    if (!kind.free.empty()) {
      char* slot = kind.free.back();
      kind.free.pop_back();
      return slot;
    }
    if (kind.next == kind.end) {
      std::size_t slab = round_up(std::max(kSlabBytes, slot_bytes), slot_bytes);
      void* p = mmap(nullptr, slab, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
      if (p == MAP_FAILED) throw_stack_map_failure("mmap", slab, errno);
      // Never let a huge page make a slot's first touch cost 2 MiB.
      madvise(p, slab, MADV_NOHUGEPAGE);
      kind.next = static_cast<char*>(p);
      kind.end = kind.next + slab;
    }
    char* slot = kind.next;
    kind.next += slot_bytes;
    return slot;
  }

  void give(char* slot, std::size_t slot_bytes) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    try {
      kind_for(slot_bytes).free.push_back(slot);
    } catch (const std::bad_alloc&) {
      // The slot's pages are already returned; losing its address range is harmless.
    }
  }

 private:
  struct Kind {
    std::size_t slot_bytes = 0;
    std::vector<char*> free;
    char* next = nullptr;
    char* end = nullptr;
  };

  Kind& kind_for(std::size_t slot_bytes) {
    for (Kind& k : kinds_) {
      if (k.slot_bytes == slot_bytes) return k;
    }
    kinds_.push_back(Kind{slot_bytes, {}, nullptr, nullptr});
    return kinds_.back();
  }

  std::mutex mutex_;
  std::vector<Kind> kinds_;  // few: one per distinct reservation size
};

SlabArena& slab_arena() {
  static SlabArena* arena = new SlabArena();  // never destroyed: slots outlive static destruction
  return *arena;
}

StackHeader* write_header(char* lo, const StackShape& shape, char* committed_lo) {
  char* top = lo + shape.reserve;
  auto* header = ::new (top - kStackHeaderBytes) StackHeader();
  header->lo = lo;
  header->top = top;
  header->hard_limit = lo + shape.guard_bytes;
  header->soft_limit = header->hard_limit + shape.unwind_bytes;
  header->committed_lo = committed_lo;
  header->shape = shape;
  return header;
}

}  // namespace

std::size_t stack_page_size() noexcept {
  static const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

StackShape StackShape::from(const CoroutineOptions& options) noexcept {
  const std::size_t page = stack_page_size();
  StackShape shape;
  shape.guard = options.guard;
  shape.reserve = round_up(std::max(options.stack_reserve, kMinReserve), page);
  shape.guard_bytes = options.guard == StackGuard::software
                          ? 0
                          : round_up(std::clamp<std::size_t>(shape.reserve / 32, page, std::size_t{64} << 10), page);
  shape.unwind_bytes =
      round_up(std::clamp<std::size_t>(shape.reserve / 32, std::size_t{8} << 10, std::size_t{64} << 10), page);
  std::size_t usable = shape.reserve - shape.guard_bytes;
  shape.initial_commit = std::min(round_up(std::max(options.initial_commit, kMinInitialCommit), page), usable);
  return shape;
}

StackHeader* map_stack(const StackShape& shape) {
  if (shape.guard == StackGuard::software) {
    char* lo = slab_arena().take(shape.reserve);
    stack_counters.software_stacks.fetch_add(1, std::memory_order_relaxed);
    return write_header(lo, shape, lo);
  }
  void* p = mmap(nullptr, shape.reserve, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (p == MAP_FAILED) throw_stack_map_failure("mmap", shape.reserve, errno);
  char* lo = static_cast<char*>(p);
  if (shape.reserve >= (std::size_t{4} << 20)) madvise(p, shape.reserve, MADV_NOHUGEPAGE);
  char* committed_lo = lo + shape.reserve - shape.initial_commit;
  if (mprotect(committed_lo, shape.initial_commit, PROT_READ | PROT_WRITE) != 0) {
    int error = errno;
    munmap(p, shape.reserve);
    throw_stack_map_failure("mprotect", shape.initial_commit, error);
  }
  stack_counters.guarded_stacks.fetch_add(1, std::memory_order_relaxed);
  return write_header(lo, shape, committed_lo);
}

void unmap_stack(StackHeader* stack) noexcept {
  char* lo = stack->lo;
  std::size_t reserve = stack->shape.reserve;
  if (stack->shape.guard == StackGuard::software) {
    madvise(lo, reserve, MADV_DONTNEED);
    slab_arena().give(lo, reserve);
    stack_counters.software_stacks.fetch_sub(1, std::memory_order_relaxed);
  } else {
    munmap(lo, reserve);
    stack_counters.guarded_stacks.fetch_sub(1, std::memory_order_relaxed);
  }
}

void reuse_stack(StackHeader* stack, const StackShape& shape) {
  if (shape.guard == StackGuard::guard_page && stack->committed_bytes() < shape.initial_commit) {
    char* want = stack->top - shape.initial_commit;
    if (mprotect(want, static_cast<std::size_t>(stack->committed_lo - want), PROT_READ | PROT_WRITE) != 0) {
      throw_stack_map_failure("mprotect", shape.initial_commit, errno);
    }
    stack->committed_lo = want;
  }
  stack->shape.initial_commit = shape.initial_commit;
  ++stack->uses;
  stack->overflow_landing = nullptr;
  stack->owner = nullptr;
  stack->landing_sp = nullptr;
  stack->growths = 0;
  stack->growth_sink = nullptr;
  stack->fault = StackFault::none;
  stack->next_free = nullptr;
}

void forget_stack_frames(StackHeader* stack) noexcept {
#if MOSS_ASAN_FIBERS
  // Frames only ever were where memory is committed: below the header and,
  // guarded, no deeper than committed_lo (a shrink comes after this).
  char* deepest = stack->shape.guard == StackGuard::guard_page ? stack->committed_lo : stack->lo;
  __asan_unpoison_memory_region(deepest, static_cast<std::size_t>(stack->data_top() - deepest));
#else
  (void)stack;
#endif
}

bool shrink_stack(StackHeader* stack) noexcept {
  const std::size_t keep = stack->shape.initial_commit;
  char* keep_lo = stack->top - keep;
  if (stack->shape.guard == StackGuard::guard_page) {
    if (stack->committed_bytes() <= keep + kShrinkHysteresis) return false;
    auto bytes = static_cast<std::size_t>(keep_lo - stack->committed_lo);
    madvise(stack->committed_lo, bytes, MADV_DONTNEED);
    // Re-protecting merges back into the PROT_NONE mapping below: it never
    // needs a new mapping, so it does not fail for vm.max_map_count.
    if (mprotect(stack->committed_lo, bytes, PROT_NONE) == 0) stack->committed_lo = keep_lo;
  } else {
    if ((stack->uses & 7) != 0) return false;
    // Stacks are used from the top down: if the page just below the
    // hysteresis band is not resident, nothing deeper was touched.
    char* probe = page_floor(keep_lo - kShrinkHysteresis - 1);
    if (probe < stack->lo) return false;
    unsigned char resident = 0;
    if (mincore(probe, stack_page_size(), &resident) != 0 || (resident & 1) == 0) return false;
    madvise(stack->lo, static_cast<std::size_t>(keep_lo - stack->lo), MADV_DONTNEED);
  }
  stack_counters.shrinks.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void throw_stack_map_failure(const char* call, std::size_t bytes, int error) {
  std::string message = "moss: cannot map a coroutine stack: ";
  message += call;
  message += " of " + std::to_string(bytes >> 10) + " KiB failed (";
  message += std::strerror(error);
  message += ").";
  if (error == ENOMEM) {
    long limit = read_max_map_count(), now = count_mappings();
    message += " Each guarded coroutine stack (StackGuard::guard_page) takes two memory mappings, and the "
               "kernel allows a process sysctl vm.max_map_count of them (";
    message += limit >= 0 ? std::to_string(limit) : std::string("unknown");
    message += " here, ";
    message += now >= 0 ? std::to_string(now) : std::string("an unknown number");
    message += " in use now), so about half that many guarded coroutines can be alive at once. Raise "
               "the limit (sysctl -w vm.max_map_count=1048576), or create the coroutines with "
               "CoroutineOptions{.guard = moss::StackGuard::software}: guard-less stacks share a few "
               "mappings however many there are, and rely on moss::check_stack() in recursive code. "
               "(ENOMEM can also mean the address space or memory is exhausted: check stack_reserve.)";
  }
  throw OutOfMemory(message);
}

}  // namespace moss::detail
