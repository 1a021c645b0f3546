// runtime/poison.hpp — making reclaimed memory unusable in checking builds.
//
// Debug builds fill a reclaimed object's payload with 0xDB so a stale read
// shows up as garbage; AddressSanitizer builds also mark it poisoned, so a
// use of a reclaimed object is reported where it happens. Release builds do
// nothing. Builds configured with -Dvalgrind=true (MOSS_VALGRIND) tell
// memcheck the same through its client requests: a reclaimed payload is
// no-access, a newly allocated one defined (allocation hands out zeroed
// payloads), so memcheck reports a use of a reclaimed object in a program
// that embeds moss. Callers: SpanCache (sweep, explicit free), local scopes.
#pragma once

#include <cstddef>
#include <cstring>

#include "runtime/assert.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define MOSS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MOSS_ASAN 1
#endif
#endif
#ifndef MOSS_ASAN
#define MOSS_ASAN 0
#endif

#if MOSS_ASAN
#include <sanitizer/asan_interface.h>
#define MOSS_NO_SANITIZE_ADDRESS __attribute__((no_sanitize_address))
#else
#define MOSS_NO_SANITIZE_ADDRESS
#endif

#if defined(MOSS_VALGRIND) && MOSS_VALGRIND
#include <valgrind/memcheck.h>
#define MOSS_VALGRIND_ON 1
#else
#define MOSS_VALGRIND_ON 0
#endif

namespace moss::detail {

inline constexpr unsigned char kPoisonByte = 0xDB;

inline void poison_memory(void* p, std::size_t n) {
#if MOSS_DEBUG
  std::memset(p, kPoisonByte, n);
#endif
#if MOSS_ASAN
  ASAN_POISON_MEMORY_REGION(p, n);
#endif
#if MOSS_VALGRIND_ON
  VALGRIND_MAKE_MEM_NOACCESS(p, n);
#endif
  (void)p;
  (void)n;
}

inline void unpoison_memory(void* p, std::size_t n) {
#if MOSS_ASAN
  ASAN_UNPOISON_MEMORY_REGION(p, n);
#endif
#if MOSS_VALGRIND_ON
  VALGRIND_MAKE_MEM_DEFINED(p, n);
#endif
  (void)p;
  (void)n;
}

}  // namespace moss::detail
