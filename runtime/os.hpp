// runtime/os.hpp — the only place moss talks to the kernel about memory.
//
// Reservations are read-write MAP_NORESERVE mappings: the kernel commits a
// page when it is first touched, so "committing" a span is free and never
// splits a mapping (guard pages would, and vm.max_map_count bounds those;
// only coroutine stacks use them). Returning memory is madvise(DONTNEED),
// after which the pages read as zero. Called by the page heap and the stack
// allocator; gc/ never calls these.
#pragma once

#include <cstddef>
#include <cstdint>

namespace moss::detail {

// Reserves `size` bytes aligned to `alignment` (a power of two). Returns
// null if the kernel refuses. A non-null `hint` (aligned) is where the
// reservation should go if that range is free; the kernel places it
// elsewhere if not, so callers check what they got.
void* os_reserve(std::size_t size, std::size_t alignment, void* hint = nullptr);
// Unmaps a reservation (or part of one).
void os_unmap(void* address, std::size_t size);
// Gives the pages back to the kernel; they read as zero afterwards.
void os_release(void* address, std::size_t size);
// Asks the kernel to back the range with transparent huge pages where it
// can (madvise MADV_HUGEPAGE; a kernel without them ignores the advice).
void os_advise_huge_pages(void* address, std::size_t size);
// The process's resident set size in bytes, from /proc/self/statm.
std::size_t os_resident_bytes();

}  // namespace moss::detail
