// runtime/stacks/stack_fault.cpp — growing guarded stacks in place, and
// ending a coroutine that overflows its reservation.
//
// How a guarded stack grows
// -------------------------
// A guarded stack is a reservation whose top part is read-write and whose
// rest is PROT_NONE (stack.hpp). When a coroutine's frames reach below the
// committed part, the touch faults and the kernel delivers SIGSEGV to the
// thread, on the thread's alternate signal stack (SA_ONSTACK: the faulting
// stack itself has no room). The handler, on_fault below:
//
//  1. Finds the stack running on this thread (thread_switch.core->stack,
//     kept by every coroutine switch). Nothing running, or an address
//     outside that stack's reservation: not ours, go to step 4.
//  2. Growth: the address is in the stack's guard area, above the hard
//     guard. Commit from the faulting page, or twice the committed size if
//     that is deeper, up to the committed part (one mprotect: the
//     read-write mapping extends downwards, the PROT_NONE one shrinks, so
//     the mapping count stays at two). Committing costs no memory until the
//     pages are touched, so doubling only saves faults. Count the growth
//     (in the stack header and in its coroutine) and return; the faulting
//     instruction runs again and succeeds.
//  3. Overflow: the address is in the hard guard at the bottom of the
//     reservation (or just below it, with the stack pointer inside), or the
//     commit in step 2 failed. The coroutine cannot go on and its frames
//     cannot be unwound (unwinding needs stack, and a fault is not a call
//     site the C++ unwinder can start from). Instead the handler rewrites
//     the interrupted context held in the ucontext: the stack pointer to a
//     landing area near the top of the stack (committed from the start;
//     every frame there is being abandoned), the program counter to the
//     owner's landing function, its argument to the owner. Returning from
//     the handler "resumes" into the landing function (sigreturn has
//     restored the signal mask), which ends the coroutine the way a
//     returning body does, marked overflowed (coroutine.cpp,
//     CoroutineState::overflowed); its resumer then throws
//     moss::StackOverflow. The stack is quarantined, never reused
//     (stack_pool.hpp), because abandoned frames may still be linked into
//     lists elsewhere.
//  4. Not ours: forward to the handler that was installed before moss's,
//     calling it as it asked to be called. If that was the default action
//     (or ignore), restore the default and return: the instruction faults
//     again and the process dies of SIGSEGV as it would have without moss.
//
// Everything the handler touches is async-signal-safe: thread-locals that
// this thread has already used (initial-exec model), the StackHeader of the
// running stack, lock-free atomic counters, mprotect. It never allocates and
// never takes a lock. The heap learns of growths later, from the resumer
// (coroutine.cpp), never from the handler.
//
// Limits: guard-less stacks have no guard, so only a fault below the whole
// reservation is recognised as overflow. Frames abandoned by an overflow
// keep whatever locks they held; code that may overflow while holding one
// should call moss::check_stack() instead of relying on the guard.
//
// Called by coroutine.cpp (prepare_thread when a coroutine is made and on
// the slow resume path) and by moss::reinstall_stack_fault_handler.
#include "runtime/stacks/stack_fault.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cxxabi.h>
#include <mutex>
#if MOSS_ASAN_FIBERS
#include <sanitizer/asan_interface.h>
#endif

#include "runtime/stacks/stack_segment.hpp"

namespace moss::detail {

namespace {

// A frame that jumps past the hard guard lands below the reservation; a
// fault up to this far below, with the stack pointer no further off, is
// still this stack's overflow.
constexpr std::uintptr_t kBelowReach = std::uintptr_t{64} << 10;
constexpr std::size_t kAltStackBytes = std::size_t{64} << 10;

struct sigaction previous_action;
std::once_flag install_once;

char* fault_sp(const ucontext_t* context) {
#if defined(__x86_64__)
  return reinterpret_cast<char*>(context->uc_mcontext.gregs[REG_RSP]);
#elif defined(__aarch64__)
  return reinterpret_cast<char*>(context->uc_mcontext.sp);
#else
  (void)context;
  return nullptr;
#endif
}

// Points the interrupted context at landing(owner), running on the 16-byte
// aligned `sp`.
#if MOSS_ASAN_FIBERS
[[gnu::no_sanitize_address]]
#endif
bool redirect(ucontext_t* context, char* sp, void (*landing)(void*), void* owner) {
#if defined(__x86_64__)
  // As if called: a return address slot (never used) below the landing point.
  sp -= sizeof(std::uintptr_t);
  *reinterpret_cast<std::uintptr_t*>(sp) = 0;
  context->uc_mcontext.gregs[REG_RSP] = reinterpret_cast<greg_t>(sp);
  context->uc_mcontext.gregs[REG_RIP] = reinterpret_cast<greg_t>(landing);
  context->uc_mcontext.gregs[REG_RDI] = reinterpret_cast<greg_t>(owner);
  return true;
#elif defined(__aarch64__)
  context->uc_mcontext.sp = reinterpret_cast<std::uintptr_t>(sp);
  context->uc_mcontext.pc = reinterpret_cast<std::uintptr_t>(landing);
  context->uc_mcontext.regs[0] = reinterpret_cast<std::uintptr_t>(owner);
  context->uc_mcontext.regs[30] = 0;
  return true;
#else
  (void)context, (void)sp, (void)landing, (void)owner;
  return false;
#endif
}

// Step 3: ends the running coroutine; false if it cannot be done.
bool abandon(StackHeader* stack, ucontext_t* context, StackFault why) {
  if (stack->overflow_landing == nullptr || stack->landing_sp == nullptr) return false;
#if MOSS_ASAN_FIBERS
  // The abandoned frames' redzones would trip the landing code.
  __asan_unpoison_memory_region(stack->lo, static_cast<std::size_t>(stack->top - stack->lo));
#endif
  if (!redirect(context, stack->landing_sp, stack->overflow_landing, stack->owner)) return false;
  stack->fault = why;
  stack->overflow_landing = nullptr;  // a second overflow on the way out is a plain crash
  stack_counters.overflows.fetch_add(1, std::memory_order_relaxed);
  return true;
}

// Steps 1-3; false when the fault is not ours.
bool handle(siginfo_t* info, ucontext_t* context) {
  StackHeader* stack = thread_switch.core->stack;
  if (stack == nullptr) return false;
  char* address = static_cast<char*>(info->si_addr);

  if (stack->shape.guard == StackGuard::guard_page && address >= stack->hard_limit &&
      address < stack->committed_lo) {
    const std::uintptr_t page = stack_page_size();
    char* fault_page = reinterpret_cast<char*>(reinterpret_cast<std::uintptr_t>(address) & ~(page - 1));
    std::size_t committed = stack->committed_bytes();
    char* doubled = static_cast<std::size_t>(stack->committed_lo - stack->hard_limit) > committed
                        ? stack->committed_lo - committed
                        : stack->hard_limit;
    char* new_lo = fault_page < doubled ? fault_page : doubled;
    if (mprotect(new_lo, static_cast<std::size_t>(stack->committed_lo - new_lo), PROT_READ | PROT_WRITE) == 0) {
      stack->committed_lo = new_lo;
      ++stack->growths;
      if (stack->growth_sink != nullptr) ++*stack->growth_sink;
      stack_counters.growths.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    return abandon(stack, context, StackFault::commit_failed);
  }

  auto a = reinterpret_cast<std::uintptr_t>(address);
  auto sp = reinterpret_cast<std::uintptr_t>(fault_sp(context));
  auto lo = reinterpret_cast<std::uintptr_t>(stack->lo);
  auto floor = lo > kBelowReach ? lo - kBelowReach : 0;
  bool in_guard = a >= floor && a < reinterpret_cast<std::uintptr_t>(stack->hard_limit);
  bool sp_here = sp >= floor && sp <= reinterpret_cast<std::uintptr_t>(stack->top);
  if (in_guard && sp_here) return abandon(stack, context, StackFault::overflow);
  return false;
}

// Step 4.
void forward(int signal_number, siginfo_t* info, void* context) {
  const struct sigaction& before = previous_action;
  if ((before.sa_flags & SA_SIGINFO) != 0) {
    if (before.sa_sigaction != nullptr) {
      before.sa_sigaction(signal_number, info, context);
      return;
    }
  } else if (before.sa_handler != SIG_DFL && before.sa_handler != SIG_IGN) {
    before.sa_handler(signal_number);
    return;
  }
  struct sigaction fallback {};
  fallback.sa_handler = SIG_DFL;
  sigemptyset(&fallback.sa_mask);
  sigaction(signal_number, &fallback, nullptr);
}

void on_fault(int signal_number, siginfo_t* info, void* context) {
  int saved_errno = errno;
  bool ours = handle(info, static_cast<ucontext_t*>(context));
  errno = saved_errno;
  if (!ours) forward(signal_number, info, context);
}

void install_now() {
  struct sigaction action {};
  action.sa_sigaction = &on_fault;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  struct sigaction before {};
  if (sigaction(SIGSEGV, &action, &before) != 0) {
    std::perror("moss: cannot install the SIGSEGV handler that grows coroutine stacks");
    std::abort();
  }
  if ((before.sa_flags & SA_SIGINFO) == 0 || before.sa_sigaction != &on_fault) previous_action = before;
}

// The alternate signal stack moss made for this thread, freed at thread exit.
struct AltStack {
  char* mapping = nullptr;
  std::size_t bytes = 0;

  ~AltStack() {
    if (mapping == nullptr) return;
    stack_t now {};
    if (sigaltstack(nullptr, &now) == 0 && now.ss_sp == mapping + stack_page_size()) {
      stack_t off {};
      off.ss_flags = SS_DISABLE;
      sigaltstack(&off, nullptr);
    }
    munmap(mapping, bytes);
  }
};

void give_thread_an_alt_stack() {
  stack_t now {};
  if (sigaltstack(nullptr, &now) == 0 && (now.ss_flags & SS_DISABLE) == 0) return;  // it has one
  static thread_local AltStack alt;
  const std::size_t guard = stack_page_size();
  if (alt.mapping == nullptr) {  // else someone disabled ours: put it back
    std::size_t bytes = kAltStackBytes + guard;
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (p == MAP_FAILED) throw_stack_map_failure("mmap", bytes, errno);
    alt.mapping = static_cast<char*>(p);
    alt.bytes = bytes;
    mprotect(alt.mapping, guard, PROT_NONE);  // best effort: a guard below the signal stack
  }
  stack_t mine {};
  mine.ss_sp = alt.mapping + guard;
  mine.ss_size = kAltStackBytes;
  if (sigaltstack(&mine, nullptr) != 0) {
    std::perror("moss: sigaltstack");
    std::abort();
  }
}

}  // namespace

void install_stack_fault_handler() { std::call_once(install_once, install_now); }

namespace {
void prepare_this_thread() {
  give_thread_an_alt_stack();
  current_stack();  // thread_switch.core: the thread's own
  // The ABI's __cxa_eh_globals starts with the same two fields.
  thread_switch.exceptions = reinterpret_cast<ExceptionState*>(abi::__cxa_get_globals());
}
}  // namespace

void prepare_thread_slow() {
  install_stack_fault_handler();
  prepare_this_thread();
}

void reinstall_stack_fault_handler() {
  std::call_once(install_once, [] {});  // a later install_stack_fault_handler() must not run again
  install_now();
  prepare_this_thread();
}

}  // namespace moss::detail
