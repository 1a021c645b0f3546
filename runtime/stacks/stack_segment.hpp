// runtime/stacks/stack_segment.hpp — a machine stack the collectors scan.
//
// Every stack that may hold references to a heap's objects is described by a
// StackSegment linked into that heap's segment list: the owning thread's own
// stack (registered when the heap is created) and the stack of every moss
// coroutine created on the heap. Stacks grow down: [limit, base).
//
// Scanning rule (used by both collectors, see gc/roots.cpp):
//  - the segment the collector is running on is scanned from the collector's
//    own stack pointer (taken after spilling registers) up to `base`;
//    or, while the runtime runs on that segment for mutator code above it
//    (from_mutator below), from where the runtime was entered: the frames
//    below that point are moss's own and hold no references the mutator
//    needs, only stale words from earlier, deeper calls that would keep
//    garbage alive;
//  - any other segment is scanned from switched_scan_start() to `base`: a
//    suspended coroutine's saved context, or else `saved_sp`; a segment
//    with neither (not started, or finished) is skipped.
// Whoever switches away from a stack must make sure its callee-saved
// registers end up inside that range before anything can collect. moss's
// coroutines switch with Boost.Context's jump_fcontext, which pushes those
// registers onto the stack it leaves and hands the side it enters that
// stack pointer. The switch itself only keeps it where the switching code
// needs it anyway (a suspended coroutine's `context`, a running one's
// `caller`); sync_switched_stacks() copies the latter into the resumers'
// segments before a scan (runtime/stacks/coroutine.cpp). Code that switches
// stacks some other way spills with with_spilled_registers and records
// `saved_sp` at or below the spill area.
#pragma once

#include <boost/intrusive/list.hpp>
#include <type_traits>

#include "moss/coroutine.hpp"

namespace moss::detail {

struct CoroutineCore;  // include/moss/coroutine.hpp

struct StackSegment
    : boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
  char* limit = nullptr;     // lowest address that may hold stack data
  char* base = nullptr;      // one past the highest address (stack grows down)
  char* saved_sp = nullptr;  // scan start while switched away; null: nothing to scan
  // Scan start while running on this segment: where the runtime was
  // entered from mutator code (from_mutator), null when not in the runtime
  // or while the runtime runs mutator code (InMutator).
  char* entry_sp = nullptr;
  // The coroutine whose stack this is; null for a thread's own stack.
  CoroutineCore* coroutine = nullptr;

  bool contains(const void* p) const {
    const char* c = static_cast<const char*>(p);
    return c >= limit && c < base;
  }
};

using StackSegmentList =
    boost::intrusive::list<StackSegment, boost::intrusive::constant_time_size<false>>;

// Before scanning: brings `saved_sp` up to date for every stack this thread
// has switched away from to run a coroutine it is still running (a switch
// does not store it; see CoroutineCore in include/moss/coroutine.hpp).
void sync_switched_stacks() noexcept;
// Where to scan a segment that is not running from: a suspended coroutine's
// saved context, else `saved_sp` (after sync_switched_stacks()).
char* switched_scan_start(const StackSegment& segment) noexcept;

// The calling thread's own stack (found with pthread_getattr_np on first
// use). Not linked into any heap's list: a heap remembers the thread stack of
// the thread that created it.
StackSegment& thread_stack();

// The segment now executing on this thread: thread_stack() outside any
// coroutine. Coroutine switches update it (it is the segment of
// ThreadSwitch::core, see include/moss/coroutine.hpp). Inline but for the
// thread's first use, which prepares its switching state.
StackSegment*& prepare_current_stack();
inline StackSegment*& current_stack() {
  ThreadSwitch& t = thread_switch;
  if (t.core == &unprepared_thread) [[unlikely]] return prepare_current_stack();
  return t.core->segment;
}

// Runs f(sp) with every callee-saved register spilled into this call's frame
// and `sp` pointing below the spill area: scanning [sp, base) of the current
// stack then sees every reference the caller held in registers. f runs on
// top of the spilled frame, so it may scan the stack or switch away from it.
template <class F>
[[gnu::noinline]] void with_spilled_registers(F&& f) {
  __builtin_unwind_init();
  volatile char marker = 0;
  f(const_cast<char*>(&marker));
  asm volatile("" : : "r"(&marker) : "memory");
}

// The runtime was entered from mutator code at `sp` (a with_spilled_registers
// scan start) on the current stack: until destroyed, a scan of this stack
// starts there. Nests; the innermost entry holds.
class RuntimeEntry {
 public:
  explicit RuntimeEntry(char* sp) : segment_(current_stack()), saved_(segment_->entry_sp) { segment_->entry_sp = sp; }
  ~RuntimeEntry() { segment_->entry_sp = saved_; }
  RuntimeEntry(const RuntimeEntry&) = delete;
  RuntimeEntry& operator=(const RuntimeEntry&) = delete;

 private:
  StackSegment* segment_;
  char* saved_;
};

// The runtime calls mutator code (a finalizer): its frames, below the
// runtime's entry, must be scanned, so the entry is forgotten until this
// is destroyed. (Mutator code that enters the runtime again makes a new
// entry below its own frames.)
class InMutator : public RuntimeEntry {
 public:
  InMutator() : RuntimeEntry(nullptr) {}
};

// Runs f() — runtime work that may collect but holds no reference of its
// own across a collection — as entered from mutator code: registers
// spilled, and stack scans on this segment start above f's frames.
template <class F>
inline auto from_mutator(F&& f) {
  if constexpr (std::is_void_v<decltype(f())>) {
    with_spilled_registers([&f](char* sp) {
      RuntimeEntry entry(sp);
      f();
    });
  } else {
    decltype(f()) result{};
    with_spilled_registers([&f, &result](char* sp) {
      RuntimeEntry entry(sp);
      result = f();
    });
    return result;
  }
}

}  // namespace moss::detail
