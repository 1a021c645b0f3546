// runtime/os.cpp — mmap, munmap and madvise wrappers (see os.hpp).
#include "runtime/os.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "runtime/assert.hpp"

namespace moss::detail {

void assert_fail(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "moss: internal invariant failed: %s (%s:%d)\n", condition, file, line);
  std::abort();
}

void* os_reserve(std::size_t size, std::size_t alignment, void* hint) {
  // Over-reserve by the alignment and trim both ends. (At an aligned hint
  // that is free, the head trims to nothing.)
  std::size_t padded = size + alignment;
  void* raw = mmap(hint, padded, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  auto start = reinterpret_cast<std::uintptr_t>(raw);
  std::uintptr_t aligned = (start + alignment - 1) & ~(alignment - 1);
  std::size_t head = aligned - start;
  std::size_t tail = padded - head - size;
  if (head != 0) munmap(raw, head);
  if (tail != 0) munmap(reinterpret_cast<void*>(aligned + size), tail);
  return reinterpret_cast<void*>(aligned);
}

void os_unmap(void* address, std::size_t size) { munmap(address, size); }

void os_release(void* address, std::size_t size) {
  if (size != 0) madvise(address, size, MADV_DONTNEED);
}

void os_advise_huge_pages(void* address, std::size_t size) {
#ifdef MADV_HUGEPAGE
  if (size != 0) madvise(address, size, MADV_HUGEPAGE);
#else
  (void)address;
  (void)size;
#endif
}

std::size_t os_resident_bytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long total = 0, resident = 0;
  int n = std::fscanf(f, "%lu %lu", &total, &resident);
  std::fclose(f);
  if (n != 2) return 0;
  return static_cast<std::size_t>(resident) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace moss::detail
