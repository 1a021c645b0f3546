// moss/coroutine.hpp — stackful coroutines whose stacks the collectors scan.
//
//     moss::Coroutine co(heap, [&](moss::Yield& yield) {
//       void* first = yield.received();   // the value given to the first resume()
//       void* next = yield(some_value);     // suspends; the next resume(x) returns x here
//     });
//     void* out = co.resume(first);         // runs the body until it yields or returns
//     if (co.done()) { /* the body returned */ }
//
// Each coroutine runs on a machine stack of its own: an address range of
// `stack_reserve` bytes reserved up front, of which only a little is
// committed at first. With `StackGuard::guard_page` (the default) the stack
// grows in place when it touches the page below its committed part, and
// running past the whole reservation is a `moss::StackOverflow` thrown from
// `resume()`; the coroutine is then dead and everything else goes on. With
// `StackGuard::software` there is no guard page at all (so millions of
// coroutines fit in the kernel's mapping limit) and the body must call
// `moss::check_stack()` where it may recurse deeply.
//
// The collectors treat the stack of every suspended coroutine of a heap as a
// root, scanned conservatively from the point where it suspended (registers
// included) to its top: a raw pointer held in a suspended coroutine's locals
// keeps its object alive, exactly as on the thread's own stack. Before its
// first resume, the body object (and what it captured) is scanned the same
// way.
//
// resume() and yield() are inline: a switch is Boost.Context's
// jump_fcontext plus a few stores that keep the collectors, the stack
// fault handler and check_stack() informed of which stack is running.
//
// Rules an embedder must follow:
//  - A coroutine belongs to its heap's thread. Resume it from that thread, or
//    from another coroutine running on it; never from inside itself.
//  - An exception escaping the body is rethrown by the resume() that ran it,
//    and the coroutine is then done. Resuming a done coroutine is a
//    moss::UsageError.
//  - Destroying a suspended coroutine unwinds its stack: the pending
//    `yield()` throws an exception of an internal type, so the body's
//    destructors run. A body must let that exception pass (`catch (...)`
//    must rethrow) and must not yield while it is being unwound.
//  - When a guarded stack overflows its reservation, the overflowing frames
//    are abandoned, not unwound: their destructors do not run and their
//    memory is kept (never reused), so nothing that points into them
//    dangles. Code that must unwind cleanly on overflow calls
//    `moss::check_stack()` at function entry; that throws an ordinary
//    moss::StackOverflow while there is still room to unwind.
//  - Growth relies on moss's SIGSEGV handler and the thread's alternate
//    signal stack; see reinstall_stack_fault_handler() below.
//  - Guard pages split memory mappings: Linux limits a process to
//    vm.max_map_count mappings (65530 by default), which bounds guarded
//    coroutines alive at once to about 32,000. Past that, creation throws
//    moss::OutOfMemory saying so; use StackGuard::software for more.
//  - Under AddressSanitizer every switch is announced to the sanitizer, and
//    a stack is cleaned of stale frame poisoning when it is given back. The
//    sanitizer itself does not clean up after an exception thrown more than
//    64 MiB down a stack; moss does it for check_stack()'s StackOverflow
//    and the heap limit's OutOfMemory, and an embedder does it for its own
//    exceptions by calling moss::prepare_deep_unwind() before throwing
//    (below). An exception thrown that deep without it, and caught on the
//    same stack, can be followed by false stack-buffer-overflow reports
//    until the coroutine ends.
#pragma once

#include <boost/context/detail/fcontext.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

#include "moss/errors.hpp"
#include "moss/heap.hpp"

// AddressSanitizer must be told of every stack switch (its fiber API).
#if defined(__SANITIZE_ADDRESS__)
#define MOSS_ASAN_FIBERS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MOSS_ASAN_FIBERS 1
#endif
#endif
#ifndef MOSS_ASAN_FIBERS
#define MOSS_ASAN_FIBERS 0
#endif
#if MOSS_ASAN_FIBERS
#include <sanitizer/common_interface_defs.h>
#endif

namespace moss {

enum class StackGuard : std::uint8_t {
  guard_page,  // a guard page below the committed part: growth in place, overflow detected
  software,    // no guard page: lazy commit, overflow checked only by check_stack()
};

struct CoroutineOptions {
  // Address space reserved for the stack, rounded up to whole pages (at
  // least 32 KiB). A little of it is kept as a guard and as room to unwind.
  std::size_t stack_reserve = std::size_t{1} << 20;
  // Bytes committed read-write when the stack is made (guarded mode).
  std::size_t initial_commit = std::size_t{16} << 10;
  StackGuard guard = StackGuard::guard_page;
};

class Yield;

namespace detail {
struct StackSegment;  // runtime/stacks/stack_segment.hpp
struct StackHeader;   // runtime/stacks/stack.hpp
struct CoroutineState;

using Context = boost::context::detail::fcontext_t;
using Transfer = boost::context::detail::transfer_t;

// The thread's C++ exception state (the ABI's __cxa_eh_globals).
struct ExceptionState {
  void* caught = nullptr;
  unsigned int uncaught = 0;
};

struct CoroutineCore;

// What a thread's switches read and write. `core` is never null: it is the
// executing coroutine's core, or the thread's own (whose segment is the
// thread's stack), or, before the thread has used any of this, a shared
// stand-in whose soft limit sends check_stack() to its slow path.
struct ThreadSwitch {
  CoroutineCore* core;
  ExceptionState* exceptions;  // this thread's exception state; null until prepared
};
[[gnu::tls_model("initial-exec")]] extern thread_local constinit ThreadSwitch thread_switch;

enum class CoroutineStatus : std::uint8_t {
  fresh,      // made, never resumed
  suspended,  // waiting in yield()
  running,    // executing now, or running a coroutine it resumed (nested)
  unwinding,  // being destroyed while suspended: its frames are unwinding
  done,       // returned, threw, or overflowed; its stack is gone
};

// The part of a coroutine (or of a thread) that resume() and yield() touch,
// inline. The switch itself is Boost.Context's jump_fcontext, which pushes
// the callee-saved registers onto the stack it leaves and returns, on the
// side it enters, that stack pointer (the `fctx`) with one data word.
//
// A switch writes only what the side making it already holds in registers:
// the entered side reads nothing its counterpart has just written (such a
// read right after the jump costs a store-forwarding stall, as much as the
// jump itself). So the stack pointers the collectors scan from are not
// stored at each switch: a suspended coroutine's is its `context`, and the
// stack of a running coroutine's resumer is scanned from that coroutine's
// `caller` (sync_switched_stacks() in runtime/stacks/coroutine.cpp writes
// them into the segments before a scan).
struct CoroutineCore {
  Context context = nullptr;  // where resume() jumps to: set while fresh or suspended, else null
  Context caller = nullptr;   // its resumer, while the coroutine runs
  CoroutineStatus status = CoroutineStatus::fresh;
  // The stack yield() may run on: [frames_lo, frames_lo + frames_bytes).
  // Zero bytes once it may no longer yield (finished, or being destroyed).
  std::uintptr_t frames_lo = 0;
  std::uintptr_t frames_bytes = 0;
  // This coroutine's (or thread's) stack.
  StackSegment* segment = nullptr;   // as the collectors see it: current_stack()
  char** saved_sp = nullptr;         // &segment->saved_sp
  StackHeader* stack = nullptr;      // the moss stack, for the fault handler; null for a thread
  std::uintptr_t soft_limit = ~std::uintptr_t{0};  // check_stack()'s limit; all ones: not measured
  std::uint32_t growths = 0;           // times the stack grew (the fault handler counts here)
  std::uint32_t growths_reported = 0;  // how many of those the heap has been told of
  // The core that resumed this one (set by every resume; null for a
  // thread's own core) and the thread's exception state then.
  CoroutineCore* resumer = nullptr;
  ExceptionState resumer_exceptions;
#if MOSS_ASAN_FIBERS
  const void* asan_bottom = nullptr;  // this coroutine's stack
  std::size_t asan_size = 0;
  const void* resumer_bottom = nullptr;  // its resumer's, as AddressSanitizer last saw it
  std::size_t resumer_size = 0;
  // Its fake stack (detect_stack_use_after_return) while it waits in yield():
  // kept here, not in yield()'s frame, because a coroutine destroyed while
  // suspended is re-entered elsewhere (runtime/stacks/coroutine.cpp).
  void* asan_fake_stack = nullptr;
#endif

  // The resumer's half of a switch in, before the jump: `from` is the
  // running core (thread_switch.core), which the resumer puts back after
  // the jump returns. Returns where to jump.
  Context enter(ThreadSwitch& t, CoroutineCore* from, ExceptionState* exceptions) noexcept {
    Context to = context;
    context = nullptr;
    status = CoroutineStatus::running;
    resumer = from;
    // Compared before stored: with no exception in flight it is the same
    // every time, and a store here would slow every switch.
    ExceptionState now = *exceptions;
    if (now.caught != resumer_exceptions.caught || now.uncaught != resumer_exceptions.uncaught) [[unlikely]] {
      resumer_exceptions = now;
    }
    t.core = this;
    return to;
  }
  // On the resumer, just after the jump back; a null context means the
  // coroutine has ended (and its stack is gone). Returns the yielded value.
  void* returned(Transfer back);

  // The values passed by resume() and yield() travel in the jump's data
  // word (a register), never through memory.

  // The jump into the coroutine, from its resumer.
  [[gnu::always_inline]] Transfer jump_in(Context to, void* data) {
#if MOSS_ASAN_FIBERS
    void* fake_stack = nullptr;
    __sanitizer_start_switch_fiber(&fake_stack, asan_bottom, asan_size);
    Transfer back = boost::context::detail::jump_fcontext(to, data);
    __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
    return back;
#else
    return boost::context::detail::jump_fcontext(to, data);
#endif
  }
  // The jump back to the resumer, from the coroutine (yield).
  [[gnu::always_inline]] Transfer jump_out(void* data) {
#if MOSS_ASAN_FIBERS
    __sanitizer_start_switch_fiber(&asan_fake_stack, resumer_bottom, resumer_size);
    Transfer in = boost::context::detail::jump_fcontext(caller, data);
    __sanitizer_finish_switch_fiber(asan_fake_stack, &resumer_bottom, &resumer_size);
    return in;
#else
    return boost::context::detail::jump_fcontext(caller, data);
#endif
  }
};

// What thread_switch.core is before a thread has used coroutines or
// check_stack(): never switched to or from.
extern CoroutineCore unprepared_thread;

// How the type-erased body of a coroutine is built, run and destroyed. The
// body object lives at the top of the coroutine's own stack.
struct CoroutineBody {
  std::size_t size;
  std::size_t align;
  void (*construct)(void* at, void* source);
  void (*invoke)(void* body, Yield& yield);
  void (*destroy)(void* body) noexcept;
};

template <class Body, class Source>
inline constexpr CoroutineBody coroutine_body = {
    sizeof(Body),
    alignof(Body),
    [](void* at, void* source) {
      ::new (at) Body(std::forward<Source>(*static_cast<std::remove_reference_t<Source>*>(source)));
    },
    [](void* body, Yield& yield) { (*static_cast<Body*>(body))(yield); },
    [](void* body) noexcept { static_cast<Body*>(body)->~Body(); },
};

CoroutineCore* create_coroutine(Heap& heap, const CoroutineOptions& options, const CoroutineBody& body,
                                void* source);
void destroy_coroutine(CoroutineCore* core) noexcept;
// resume() when it is not the plain case: the first resume, a thread that
// has not run a coroutine yet, and every misuse.
void* resume_slow(CoroutineCore* core, void* value);
// resume() once the coroutine has ended: rethrows, or returns nullptr.
void* resume_finished(CoroutineCore* core);
// What a moved-from Coroutine points to: done, never resumable.
extern CoroutineCore moved_coroutine;
void report_growths(CoroutineCore* core);
[[noreturn]] void yield_misuse();
// Measures the thread's stack if needed, then throws StackOverflow if fewer
// than `needed` bytes remain.
void stack_check_slow(std::size_t needed);

inline void* CoroutineCore::returned(Transfer back) {
  if (back.fctx == nullptr) [[unlikely]] return resume_finished(this);
  context = back.fctx;
  if (growths != growths_reported) [[unlikely]] report_growths(this);
  return back.data;
}
}  // namespace detail

// The handle a coroutine body receives: calling it suspends the coroutine.
// (It is the coroutine's switching state itself, so a yield in the body's
// loop reaches it without a pointer chase.)
class Yield : private detail::CoroutineCore {
 public:
  Yield(const Yield&) = delete;
  Yield& operator=(const Yield&) = delete;

  // Suspends the coroutine; resume() returns `value`. Returns the value
  // given to the resume() that continues the coroutine. Only the coroutine
  // itself may call it (UsageError otherwise).
  [[gnu::always_inline]] void* operator()(void* value = nullptr) {
    // Its own running frames are on its own stack: from any other stack
    // (another coroutine's, the thread's), or after the body has returned
    // or while it unwinds, this is a misuse.
    auto sp = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
    if (sp - frames_lo >= frames_bytes) [[unlikely]] detail::yield_misuse();
    status = detail::CoroutineStatus::suspended;
    detail::Transfer in = jump_out(value);
    caller = in.fctx;
    return in.data;
  }

  // The value given to the first resume().
  void* received() const;

 private:
  friend struct detail::CoroutineState;
  friend class Coroutine;
  Yield() = default;
  ~Yield() = default;
};

class Coroutine {
 public:
  // Makes a coroutine on `heap` that will run `body(yield)`; it does not
  // start until the first resume(). `body` is moved (or copied) onto the
  // coroutine's stack. Throws OutOfMemory if no stack can be mapped.
  template <class F>
    requires std::invocable<std::decay_t<F>&, Yield&>
  Coroutine(Heap& heap, F&& body, const CoroutineOptions& options = {})
      : core_(detail::create_coroutine(heap, options, detail::coroutine_body<std::decay_t<F>, F&&>,
                                       const_cast<void*>(static_cast<const void*>(std::addressof(body))))) {}

  Coroutine(Coroutine&& other) noexcept : core_(std::exchange(other.core_, &detail::moved_coroutine)) {}
  Coroutine& operator=(Coroutine&& other) noexcept {
    if (this != &other) {
      detail::destroy_coroutine(std::exchange(core_, std::exchange(other.core_, &detail::moved_coroutine)));
    }
    return *this;
  }
  Coroutine(const Coroutine&) = delete;
  Coroutine& operator=(const Coroutine&) = delete;

  // A suspended coroutine is unwound first (see the rules above); a
  // coroutine must not be destroyed while it is running.
  ~Coroutine() { detail::destroy_coroutine(core_); }

  // Runs the coroutine until it yields (returns the yielded value) or
  // returns (returns nullptr; done() is then true). `value` is what the
  // pending yield() returns, or received() for the first resume. Rethrows
  // an exception that escaped the body; throws StackOverflow if the stack
  // overflowed, UsageError if the coroutine is done, running, or moved from.
  [[gnu::always_inline]] void* resume(void* value = nullptr) {
    detail::CoroutineCore* c = core_;
    detail::ThreadSwitch& t = detail::thread_switch;
    detail::ExceptionState* exceptions = t.exceptions;
    // A null context: running, done or moved from. No exception state: the
    // thread has not been readied for coroutines.
    if (c->context == nullptr || exceptions == nullptr) [[unlikely]] return detail::resume_slow(c, value);
    detail::CoroutineCore* from = t.core;
    detail::Transfer back = c->jump_in(c->enter(t, from, exceptions), value);
    t.core = from;
    return c->returned(back);
  }

  // The body has returned, thrown or overflowed (or this was moved from).
  bool done() const noexcept { return core_->status == detail::CoroutineStatus::done; }
  // resume() has been called at least once (or this was moved from).
  bool started() const noexcept { return core_->status != detail::CoroutineStatus::fresh; }
  // Times this coroutine's stack grew in place.
  std::uint64_t stack_growths() const noexcept { return core_->growths; }

 private:
  detail::CoroutineCore* core_;
};

// Bytes the running stack (a coroutine's, or the thread's own) can still
// grow by before check_stack() reports an overflow.
std::size_t stack_remaining();

// Call right before throwing a C++ exception that may unwind a deep part of
// a coroutine stack (an interpreter's error or continuation escape). Under
// AddressSanitizer it clears the poisoning of the frames the exception will
// unwind, which the sanitizer itself skips on stacks over 64 MiB (false
// reports would follow where those frames were); otherwise it does nothing.
// check_stack()'s StackOverflow does this by itself.
#if MOSS_ASAN_FIBERS
void prepare_deep_unwind() noexcept;
#else
inline void prepare_deep_unwind() noexcept {}
#endif

// Throws moss::StackOverflow if fewer than `needed` bytes remain on the
// running stack. Cheap enough to call at the entry of every recursive
// function (an interpreter's eval, say). It is the only overflow check for
// StackGuard::software coroutines, and the one that unwinds cleanly for
// guarded ones.
inline void check_stack(std::size_t needed = 4096) {
  auto sp = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  if (sp - needed < detail::thread_switch.core->soft_limit) [[unlikely]] {
    detail::stack_check_slow(needed);
  }
}

// Guarded stacks grow through a SIGSEGV handler that moss installs (once,
// forwarding every fault that is not a stack growth to the handler installed
// before it) and run it on the thread's alternate signal stack (moss makes
// one for a thread that has none). Code that later replaces the handler or
// the signal stack without forwarding (some test frameworks do, around each
// test case) breaks growth; calling this afterwards puts moss's handler back
// in front of the current one and gives the calling thread a signal stack
// again if it lost it.
void reinstall_stack_fault_handler();

// Process-wide counters of coroutine stacks.
struct StackStats {
  std::uint64_t growths = 0;           // in-place growths of guarded stacks
  std::uint64_t overflows = 0;         // coroutines that ran past their reservation
  std::uint64_t shrinks = 0;           // finished stacks whose deep pages were returned
  std::uint64_t guarded_stacks = 0;    // guarded stacks mapped now (pooled ones included)
  std::uint64_t software_stacks = 0;   // guard-less stacks carved out now (pooled ones included)
  std::uint64_t pooled_stacks = 0;     // finished stacks kept for reuse now
  std::uint64_t quarantined_bytes = 0; // reservations of overflowed stacks, never reused
};
StackStats stack_stats();

}  // namespace moss
