// runtime/assert.hpp — invariant checks and branch hints used across moss.
//
// MOSS_ASSERT(cond) states an invariant. It is checked in debug and
// sanitizer builds (MOSS_DEBUG=1, set by Meson unless buildtype=release or
// -Dasserts=off) and compiles away otherwise. A failed check prints the
// condition and location and aborts: it is a bug in moss, never a user error
// (user errors are exceptions, see include/moss/errors.hpp).
#pragma once

#ifndef MOSS_DEBUG
#define MOSS_DEBUG 0
#endif

namespace moss::detail {
[[noreturn]] void assert_fail(const char* condition, const char* file, int line);
}

#if MOSS_DEBUG
#define MOSS_ASSERT(cond) \
  ((cond) ? static_cast<void>(0) : ::moss::detail::assert_fail(#cond, __FILE__, __LINE__))
#else
#define MOSS_ASSERT(cond) static_cast<void>(0)
#endif

#define MOSS_LIKELY(x) __builtin_expect(!!(x), 1)
#define MOSS_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define MOSS_NOINLINE __attribute__((noinline))
#define MOSS_INLINE inline __attribute__((always_inline))
