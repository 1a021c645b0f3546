// runtime/stacks/coroutine.cpp — moss::Coroutine on Boost.Context, and the
// stack checks (check_stack, stack_remaining).
//
// A coroutine is a CoroutineState (on the C++ heap, so the Coroutine handle
// can move; its memory is recycled per thread) and a stack from the
// thread's StackPool. The top of the stack holds, from the top down: the
// StackHeader, the body object (the user's callable, moved there by
// Coroutine's constructor), and then the frames, which start in
// CoroutineState::entry.
//
// Switching
// ---------
// moss switches with Boost.Context's fcontext layer (make_fcontext,
// jump_fcontext, ontop_fcontext), the layer boost::context::fiber is built
// on. jump_fcontext pushes the callee-saved registers onto the stack it
// leaves and gives the side it enters a pointer to them (the `fctx`).
// resume() and yield() are inline (include/moss/coroutine.hpp): a switch is
// a handful of stores and one jump, with no call layers around the jump,
// whose every extra return would be mispredicted after the stack changes
// under it.
//
// What the collectors see
// ------------------------
// Every segment that is not running is scanned from its saved registers up
// (stack_segment.hpp). A switch stores nothing for that beyond what it needs
// itself: before the jump, the resumer points thread_switch.core at the core
// it enters (its segment, stack and soft limit are what current_stack(), the
// fault handler and check_stack() read) and nulls its `context`; the entered
// side stores the fctx it received as its `caller` (yield()'s side) or as
// the coroutine's `context` (resume()'s side, once the coroutine is back).
// A scan then starts a suspended coroutine's stack at its `context`, and
// sync_switched_stacks() walks the running chain (thread_switch.core, its
// resumer, that one's resumer...) writing each `caller` as the resumer
// segment's saved_sp. No collection can run in between a jump and those
// stores: only the entered side runs. Before its first resume a coroutine's
// saved_sp is its body object (what the body captured is a root until
// then); once it has finished, saved_sp is null and its segment is unlinked
// from the heap.
//
// Ending
// ------
//  - return or exception: run_body catches whatever escapes the body and
//    resume() rethrows it. coroutine_entry then jumps to the resumer with
//    ontop_fcontext(release_on_resumer), which hands the stack back to the
//    pool from the resumer's side and makes its jump return a null fctx.
//  - destroy while suspended: the destroyer jumps in with
//    ontop_fcontext(unwind_on_coroutine), which throws CoroutineUnwind from
//    the pending yield(), as Boost's fiber does with forced_unwind: the
//    body's destructors run, run_body catches it, and the coroutine ends as
//    above.
//  - overflow: the fault handler sends the coroutine to `overflowed` on a
//    landing area near the top of its stack (stack_fault.cpp tells that
//    story), which ends it as above; resume() throws StackOverflow.
//
// Called by the templates and inline paths in include/moss/coroutine.hpp.
// Talks to the heap only through HeapImpl::add_stack and note_stack_growth.
#include <boost/context/detail/fcontext.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <utility>

#include "gc/heap_impl.hpp"
#include "moss/coroutine.hpp"
#include "runtime/assert.hpp"
#include "runtime/stacks/stack.hpp"
#include "runtime/stacks/stack_fault.hpp"
#include "runtime/stacks/stack_pool.hpp"
#include "runtime/stacks/stack_segment.hpp"

#if MOSS_ASAN_FIBERS
#include <sanitizer/asan_interface.h>
#endif

namespace moss::detail {

namespace {

using boost::context::detail::make_fcontext;
using boost::context::detail::ontop_fcontext;

constexpr std::uintptr_t kUnmeasured = ~std::uintptr_t{0};
// Room below the body object for the entry frames and the overflow landing
// area: kept committed from the start.
constexpr std::size_t kEntryBytes = std::size_t{8} << 10;
// How far below the body object the overflow landing area starts.
constexpr std::size_t kLandingDepth = std::size_t{4} << 10;
// check_stack() on the thread's own stack leaves this much of it unused.
constexpr std::size_t kThreadStackReserve = std::size_t{64} << 10;

// Stack below the body object zeroed when a coroutine is made: where its
// entry frames go (more in debug and sanitizer builds, whose frames are
// larger). See create().
#if MOSS_DEBUG || MOSS_ASAN_FIBERS
constexpr std::size_t kFreshFrameBytes = std::size_t{4} << 10;
#else
constexpr std::size_t kFreshFrameBytes = std::size_t{1} << 10;
#endif
static_assert(kFreshFrameBytes <= kEntryBytes, "zeroed before the body runs: must be committed from the start");

// Thrown from the pending yield() of a coroutine being destroyed.
struct CoroutineUnwind {};

char* align_down(char* p, std::size_t to) {
  return reinterpret_cast<char*>(reinterpret_cast<std::uintptr_t>(p) & ~(to - 1));
}

// `to` is a power of two.
std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) & ~(to - 1); }

// AddressSanitizer, before throwing from deep in a coroutine stack: clears
// the poisoning of every frame from here up to the top of the stack, which
// is what the sanitizer itself does when an exception is thrown — except on
// a stack of more than 64 MiB, where it gives up ("ASan is ignoring
// requested __asan_handle_no_return"). The frames the exception unwinds
// then keep their redzones, and code that later runs where they were (the
// catching side recursing again, say) is reported as overflowing them.
// Frames above stay correct: each returning frame clears its own again.
[[gnu::noinline]] void asan_unwind_from_here(StackHeader* running) noexcept {
#if MOSS_ASAN_FIBERS
  char* here = static_cast<char*>(__builtin_frame_address(0));
  if (here > running->lo && here < running->data_top()) {
    __asan_unpoison_memory_region(here, static_cast<std::size_t>(running->data_top() - here));
  }
#else
  (void)running;
#endif
}

// check_stack()'s limit on the running stack, measuring the thread's own
// stack on first use.
std::uintptr_t soft_limit_now() {
  if (thread_switch.core->soft_limit == kUnmeasured) {
    current_stack();  // thread_switch.core: the thread's own
    const StackSegment& thread = thread_stack();
    auto size = static_cast<std::size_t>(thread.base - thread.limit);
    std::size_t reserve = std::min(kThreadStackReserve, size / 4);
    thread_switch.core->soft_limit = reinterpret_cast<std::uintptr_t>(thread.limit + reserve);
  }
  return thread_switch.core->soft_limit;
}

}  // namespace

struct CoroutineState;

namespace {

// The memory of destroyed CoroutineStates, for the next one made on this
// thread: making and finishing a coroutine costs no malloc in the steady
// state. Trivially destructible, so reaching it costs no thread-local
// initialisation check; StateMemoryReaper frees what it holds at thread
// exit.
class StateMemory {
 public:
  static constexpr std::size_t kMaxKept = 64;

  void* take();
  void give(void* memory) noexcept;
  void clear() noexcept {
    while (head_ != nullptr) ::operator delete(std::exchange(head_, head_->next));
    count_ = 0;
  }

 private:
  struct Block {
    Block* next;
  };
  Block* head_ = nullptr;
  std::size_t count_ = 0;
  bool reaper_armed_ = false;
};
[[gnu::tls_model("initial-exec")]] thread_local constinit StateMemory state_memory;

struct StateMemoryReaper {
  ~StateMemoryReaper() { state_memory.clear(); }
};

void StateMemory::give(void* memory) noexcept {
  if (count_ >= kMaxKept) {
    ::operator delete(memory);
    return;
  }
  if (!reaper_armed_) [[unlikely]] {
    static thread_local StateMemoryReaper reaper;
    asm volatile("" : : "r"(&reaper));  // constructs it, so its destructor runs at thread exit
    reaper_armed_ = true;
  }
  auto* block = static_cast<Block*>(memory);
  block->next = head_;
  head_ = block;
  ++count_;
}

// StackShape::from for the options this thread used last.
struct ShapeCache {
  CoroutineOptions options;
  StackShape shape;
  bool valid = false;

  const StackShape& get(const CoroutineOptions& o) noexcept {
    if (!valid || o.stack_reserve != options.stack_reserve || o.initial_commit != options.initial_commit ||
        o.guard != options.guard) [[unlikely]] {
      options = o;
      shape = StackShape::from(o);
      valid = true;
    }
    return shape;
  }
};
[[gnu::tls_model("initial-exec")]] thread_local constinit ShapeCache shape_cache;

}  // namespace

// A coroutine. It is a Yield, which privately is its CoroutineCore, so what
// works on the core's fields lives in here, a friend of Yield.
struct CoroutineState : Yield {
  StackSegment own_segment;  // this coroutine's stack, as the collectors see it
  Heap* heap = nullptr;
  const CoroutineBody* body_ops = nullptr;
  void* body = nullptr;      // the body object, at the top of the stack
  bool body_live = false;
  StackFault fault = StackFault::none;  // how the fault handler ended it
  std::size_t reserve = 0;              // for messages
  void* received_value = nullptr;       // the value of the first resume()
  std::exception_ptr exception;

  CoroutineCore* core() noexcept { return this; }
  static CoroutineState* of(CoroutineCore* core) noexcept { return static_cast<CoroutineState*>(core); }
  static const CoroutineState* of(const Yield* yield) noexcept { return static_cast<const CoroutineState*>(yield); }

  void destroy_body() noexcept {
    if (body_live) {
      body_live = false;
      body_ops->destroy(body);
    }
  }

  // Hands the stack back to the pool, keeping what is still to be known of it.
  void release_stack_now() noexcept {
    StackHeader* s = stack;
    s->growth_sink = nullptr;
    if (s->fault != StackFault::none) fault = s->fault;
    stack = nullptr;
    release_stack(s);
  }

  // Runs on the resumer's stack, on top of its pending jump, once the
  // coroutine has ended: the coroutine's stack is no longer in use.
  static Transfer release_on_resumer(Transfer in) noexcept {
    CoroutineState* s = of(static_cast<CoroutineCore*>(in.data));
    s->release_stack_now();
    return {nullptr, s->core()};
  }

  // Runs on a suspended coroutine's stack, on top of its pending yield(),
  // when the coroutine is destroyed.
  static Transfer unwind_on_coroutine(Transfer in) {
    CoroutineState* s = of(static_cast<CoroutineCore*>(in.data));
    s->asan_landed();
    s->caller = in.fctx;
    throw CoroutineUnwind{};
  }

  // The first frame on a coroutine's stack. The first resume() passed its
  // value; the resumer has made this coroutine the running core.
  [[noreturn]] static void entry(Transfer in) noexcept {
    CoroutineState* s = of(thread_switch.core);
    s->asan_landed();
    s->caller = in.fctx;
    s->received_value = in.data;
    s->run_body();
    s->finish();
  }

  // Where the fault handler sends a coroutine whose stack overflowed: on a
  // landing area near the top of its stack, every frame below abandoned
  // (stack_fault.cpp). Exceptions those frames had in flight or caught are
  // forgotten, and the body object stays on the quarantined stack with them.
  [[noreturn]] static void overflowed(void* owner) noexcept {
    auto* s = static_cast<CoroutineState*>(owner);
    *thread_switch.exceptions = s->resumer_exceptions;
    s->body_live = false;
    s->finish();
  }

  // AddressSanitizer: now on this coroutine's stack, entered without going
  // through the end of a pending yield() (first entry, or destruction: the
  // fake stack the pending yield() saved is restored here).
  void asan_landed() noexcept {
#if MOSS_ASAN_FIBERS
    __sanitizer_finish_switch_fiber(asan_fake_stack, &resumer_bottom, &resumer_size);
#endif
  }

  // Ends the coroutine: back to the resumer, which releases the stack.
  [[noreturn]] void finish() noexcept {
    own_segment.saved_sp = nullptr;
    status = CoroutineStatus::done;
    frames_bytes = 0;
    thread_switch.core = resumer;  // the resumer puts it back too; the fault handler reads it meanwhile
#if MOSS_ASAN_FIBERS
    __sanitizer_start_switch_fiber(nullptr, resumer_bottom, resumer_size);  // this stack is done
#endif
    ontop_fcontext(caller, core(), &release_on_resumer);
    std::abort();  // never resumed again
  }

  [[gnu::noinline]] void run_body() noexcept {
    struct BodyEnd {
      CoroutineState* state;
      ~BodyEnd() { state->destroy_body(); }
    } end{this};
    try {
      body_ops->invoke(body, *this);
    } catch (const CoroutineUnwind&) {
      // Destroyed while suspended: the frames have unwound.
    } catch (...) {
      exception = std::current_exception();
    }
  }

  static CoroutineCore* create(Heap& heap, const CoroutineOptions& options, const CoroutineBody& body,
                               void* source) {
    StackShape shape = shape_cache.get(options);
    const std::size_t align = std::max<std::size_t>(body.align, 16);
    const std::size_t top_bytes =
        round_up(kStackHeaderBytes + body.size + align + kEntryBytes, stack_page_size());
    if (top_bytes + shape.unwind_bytes + shape.guard_bytes > shape.reserve) {
      throw UsageError("moss: a coroutine body of " + std::to_string(body.size) +
                       " bytes does not fit on a stack reservation of " + std::to_string(shape.reserve) +
                       " bytes; raise CoroutineOptions::stack_reserve");
    }
    shape.initial_commit = std::max(shape.initial_commit, top_bytes);
    prepare_thread();

    StackHeader* stack = StackPool::local().acquire(shape);
    char* slot = align_down(stack->data_top() - body.size, align);
    CoroutineState* s = nullptr;
    try {
      s = new (state_memory.take()) CoroutineState;  // default-init: no memset
      body.construct(slot, source);
    } catch (...) {
      if (s != nullptr) destroy_state(s);
      release_stack(stack);
      throw;
    }
    s->heap = &heap;
    s->reserve = shape.reserve;
    s->body_ops = &body;
    s->body = slot;
    s->body_live = true;
    s->own_segment.limit = stack->lo;
    s->own_segment.base = stack->data_top();
    // Not started, the stack holds only the body object: scanning it keeps
    // what the body captured alive until the first resume.
    s->own_segment.saved_sp = slot;
    s->own_segment.coroutine = s->core();
    s->segment = &s->own_segment;
    s->saved_sp = &s->own_segment.saved_sp;
    s->stack = stack;
    s->frames_lo = reinterpret_cast<std::uintptr_t>(stack->lo);
    s->frames_bytes = static_cast<std::uintptr_t>(stack->data_top() - stack->lo);
    s->soft_limit = reinterpret_cast<std::uintptr_t>(stack->soft_limit);
    stack->growth_sink = &s->growths;
#if MOSS_ASAN_FIBERS
    s->asan_bottom = stack->lo;
    s->asan_size = shape.reserve;
#endif
    stack->overflow_landing = &overflowed;
    stack->owner = s;
    stack->landing_sp = align_down(slot - kLandingDepth, 16);
    char* frames_top = align_down(slot, 64);
    // A pooled stack still holds what its last coroutine left, and the
    // frames that stay live under a whole body (entry's, run_body's, the
    // body's own) have gaps no code writes: a stale pointer in one would be
    // found by every conservative scan of this coroutine (garbage kept
    // alive, a scope-local object taken to have escaped). Zeroed first,
    // those gaps hold nothing.
    std::memset(frames_top - kFreshFrameBytes, 0, kFreshFrameBytes);
    s->context = make_fcontext(frames_top, static_cast<std::size_t>(frames_top - stack->hard_limit), &entry);
    heap.impl().add_stack(s->own_segment);
    return s->core();
  }

  static void destroy(CoroutineCore* core) noexcept {
    if (core == &moved_coroutine) return;
    CoroutineState* s = of(core);
    switch (s->status) {
      case CoroutineStatus::running:
      case CoroutineStatus::unwinding:
        std::fputs(
            "moss: a Coroutine was destroyed while running (from its own body, or from a coroutine it "
            "resumed)\n",
            stderr);
        std::abort();
      case CoroutineStatus::fresh:
        // Never entered: its body object is destroyed from here.
        s->destroy_body();
        s->release_stack_now();
        s->status = CoroutineStatus::done;
        break;
      case CoroutineStatus::suspended: {
        prepare_thread();
        CoroutineCore* from = thread_switch.core;
        Context to = s->enter(thread_switch, from, thread_switch.exceptions);
        s->status = CoroutineStatus::unwinding;
        s->frames_bytes = 0;  // it may not yield any more
#if MOSS_ASAN_FIBERS
        void* fake_stack = nullptr;
        __sanitizer_start_switch_fiber(&fake_stack, s->asan_bottom, s->asan_size);
#endif
        Transfer back = ontop_fcontext(to, s->core(), &unwind_on_coroutine);
        thread_switch.core = from;
#if MOSS_ASAN_FIBERS
        __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
#endif
        MOSS_ASSERT(back.fctx == nullptr && s->status == CoroutineStatus::done);
        (void)back;
        break;
      }
      case CoroutineStatus::done:
        break;
    }
    // A segment still linked means its heap is alive (a heap unlinks every
    // segment when it is destroyed): only then is there a heap to tell.
    if (s->own_segment.is_linked()) {
      try {
        s->report_growths();
      } catch (...) {
        // Statistics only.
      }
      s->own_segment.unlink();
    }
    destroy_state(s);
  }

  static void destroy_state(CoroutineState* s) noexcept {
    s->~CoroutineState();
    state_memory.give(s);
  }

  static void* resume_slow(CoroutineCore* core, void* value) {
    if (core == &moved_coroutine) throw UsageError("moss: resume() of a moved-from Coroutine");
    CoroutineState* s = of(core);
    if (s->status == CoroutineStatus::done) {
      throw UsageError("moss: resume() of a coroutine that has finished (check done() first)");
    }
    if (s->status == CoroutineStatus::running || s->status == CoroutineStatus::unwinding) {
      throw UsageError(
          "moss: resume() of a coroutine that is running: a coroutine cannot resume itself or a "
          "coroutine waiting for it");
    }
    // Fresh or suspended, on a thread not yet readied for coroutines.
    prepare_thread();
    CoroutineCore* from = thread_switch.core;
    Transfer back = s->jump_in(s->enter(thread_switch, from, thread_switch.exceptions), value);
    thread_switch.core = from;
    return s->returned(back);
  }

  void* finished() {
    report_growths();
    if (own_segment.is_linked()) own_segment.unlink();
    if (fault == StackFault::overflow) {
      throw StackOverflow("moss: coroutine stack overflow: the coroutine ran past its " +
                          std::to_string(reserve >> 10) +
                          " KiB stack reservation and was stopped; its frames were abandoned, not "
                          "unwound. Raise CoroutineOptions::stack_reserve, or call moss::check_stack() "
                          "in recursive code to get a StackOverflow that unwinds.");
    }
    if (fault == StackFault::commit_failed) {
      throw OutOfMemory("moss: could not commit more of a coroutine's stack (mprotect failed), so the "
                        "coroutine was stopped; the system is out of memory or of memory mappings "
                        "(sysctl vm.max_map_count). CoroutineOptions{.guard = moss::StackGuard::software} "
                        "avoids per-stack mappings.");
    }
    if (exception) std::rethrow_exception(std::exchange(exception, nullptr));
    return nullptr;
  }

  void report_growths() {
    for (; growths_reported < growths; ++growths_reported) heap->impl().note_stack_growth();
  }
};

namespace {

void* StateMemory::take() {
  if (head_ == nullptr) return ::operator new(sizeof(CoroutineState));
  --count_;
  return std::exchange(head_, head_->next);
}

constexpr CoroutineCore make_moved_coroutine() {
  CoroutineCore core;
  core.status = CoroutineStatus::done;
  return core;
}
}  // namespace

constinit CoroutineCore moved_coroutine = make_moved_coroutine();

CoroutineCore* create_coroutine(Heap& heap, const CoroutineOptions& options, const CoroutineBody& body,
                                void* source) {
  return CoroutineState::create(heap, options, body, source);
}

void destroy_coroutine(CoroutineCore* core) noexcept { CoroutineState::destroy(core); }

void* resume_slow(CoroutineCore* core, void* value) { return CoroutineState::resume_slow(core, value); }

void* resume_finished(CoroutineCore* core) { return CoroutineState::of(core)->finished(); }

void sync_switched_stacks() noexcept {
  // Each core on the running chain was entered from its resumer's stack,
  // whose registers were pushed at `caller`.
  for (CoroutineCore* c = thread_switch.core; c->resumer != nullptr; c = c->resumer) {
    if (c->resumer->saved_sp != nullptr) *c->resumer->saved_sp = static_cast<char*>(c->caller);
  }
}

char* switched_scan_start(const StackSegment& segment) noexcept {
  const CoroutineCore* c = segment.coroutine;
  if (c != nullptr && c->status == CoroutineStatus::suspended) return static_cast<char*>(c->context);
  return segment.saved_sp;
}

void report_growths(CoroutineCore* core) { CoroutineState::of(core)->report_growths(); }

void yield_misuse() {
  throw UsageError(
      "moss: yield() called outside its own coroutine (from another coroutine, after the body "
      "returned, or while the coroutine is being destroyed)");
}

void stack_check_slow(std::size_t needed) {
  auto sp = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  std::uintptr_t limit = soft_limit_now();
  if (sp - needed >= limit) return;  // it had not been measured
  std::size_t left = sp > limit ? sp - limit : 0;
  StackHeader* running = thread_switch.core->stack;
  std::string where = running != nullptr
                          ? "a coroutine's stack (" + std::to_string(running->shape.reserve >> 10) +
                                " KiB reserved; raise CoroutineOptions::stack_reserve)"
                          : std::string("the thread's stack");
  std::string message = "moss: stack overflow: " + std::to_string(needed) + " bytes needed but only " +
                        std::to_string(left) + " left on " + where;
  if (running != nullptr) asan_unwind_from_here(running);
  throw StackOverflow(message);
}

}  // namespace moss::detail

namespace moss {

void* Yield::received() const { return detail::CoroutineState::of(this)->received_value; }

std::size_t stack_remaining() {
  auto sp = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  std::uintptr_t limit = detail::soft_limit_now();
  return sp > limit ? sp - limit : 0;
}

void reinstall_stack_fault_handler() { detail::reinstall_stack_fault_handler(); }

#if MOSS_ASAN_FIBERS
void prepare_deep_unwind() noexcept {
  if (detail::StackHeader* running = detail::thread_switch.core->stack) detail::asan_unwind_from_here(running);
}
#endif

StackStats stack_stats() {
  const detail::StackCounters& c = detail::stack_counters;
  StackStats s;
  s.growths = c.growths.load(std::memory_order_relaxed);
  s.overflows = c.overflows.load(std::memory_order_relaxed);
  s.shrinks = c.shrinks.load(std::memory_order_relaxed);
  s.guarded_stacks = c.guarded_stacks.load(std::memory_order_relaxed);
  s.software_stacks = c.software_stacks.load(std::memory_order_relaxed);
  s.pooled_stacks = c.pooled_stacks.load(std::memory_order_relaxed);
  s.quarantined_bytes = c.quarantined_bytes.load(std::memory_order_relaxed);
  return s;
}

}  // namespace moss
