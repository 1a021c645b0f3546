// tests/test_coroutine.cpp — moss::Coroutine and its stacks: passing values
// through resume and yield, nesting, exceptions, destruction while
// suspended, suspended stacks (and saved registers) as roots under every
// collector, growth in place, overflow past the reservation, faults that are
// not ours, many coroutines at once, the guard-less mode with check_stack,
// the mapping-limit error, pooling, and the stack allocator under a bare
// Boost.Context fiber.
#include <doctest/doctest.h>

#include <moss/moss.hpp>

#include <boost/context/fiber.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "runtime/stacks/stack_allocator.hpp"
#include "support.hpp"

using moss_test::collectors;
using moss_test::Counted;
using moss_test::FinNode;
using moss_test::Node;
using moss_test::scrub_and_collect;
using moss_test::scrub_stack;

namespace {

moss::HeapOptions opts(moss::Collector c) {
  moss::HeapOptions o;
  o.collector = c;
  return o;
}

void* as_ptr(std::uintptr_t v) { return reinterpret_cast<void*>(v); }
std::uintptr_t as_int(void* p) { return reinterpret_cast<std::uintptr_t>(p); }

// Recursion that the compiler can neither flatten nor turn into a loop:
// each frame's pad must exist, and outlive the recursive call.
constexpr int kPad = 256;
[[gnu::noinline]] long recurse(long depth) {
  char pad[kPad];
  asm volatile("" : : "r"(pad) : "memory");
  if (depth <= 0) return 0;
  long below = recurse(depth - 1);
  asm volatile("" : : "r"(pad) : "memory");
  return below + 1;
}

// Recursion that checks the stack on entry, with a destructor in each frame.
struct FrameGuard {
  static inline long unwound = 0;
  ~FrameGuard() { ++unwound; }
};
volatile long checked_recurse_stop = -1;  // never reached: only check_stack ends it
[[gnu::noinline]] long checked_recurse(long depth) {
  moss::check_stack(8192);
  if (depth == checked_recurse_stop) return 0;
  FrameGuard guard;
  char pad[kPad];
  asm volatile("" : : "r"(pad) : "memory");
  long below = checked_recurse(depth + 1);
  asm volatile("" : : "r"(pad) : "memory");
  return below + 1;
}

// stack_remaining() seen from a frame with 4 KiB of locals.
[[gnu::noinline]] std::size_t remaining_below_4k() {
  char pad[4096];
  asm volatile("" : : "r"(pad) : "memory");
  std::size_t left = moss::stack_remaining();
  asm volatile("" : : "r"(pad) : "memory");
  return left;
}

// Writes to an address nothing is mapped at.
volatile std::uintptr_t wild_address = 16;
[[gnu::noinline]] void write_wild() { *reinterpret_cast<volatile int*>(wild_address) = 1; }

// Runs `child` in a forked process and returns its wait status.
// The child starts with the default SIGSEGV action behind moss's handler
// (not doctest's reporter), as a program without a test framework has.
template <class F>
int in_child(F&& child) {
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    signal(SIGSEGV, SIG_DFL);
    moss::reinstall_stack_fault_handler();
    child();
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

long count_mappings() {
  std::FILE* maps = std::fopen("/proc/self/maps", "r");
  long lines = 0;
  for (int c; (c = std::fgetc(maps)) != EOF;) lines += (c == '\n');
  std::fclose(maps);
  return lines;
}

// doctest installs its own SIGSEGV handler and signal stack around every
// test case and puts the old ones back afterwards, which takes moss's
// handler out. Each test case here puts it back in front (forwarding to
// doctest's), as an embedder would after such code.
struct Armed {
  Armed() { moss::reinstall_stack_fault_handler(); }
};

}  // namespace

TEST_CASE_FIXTURE(Armed, "resume returns what the body yields, and yield returns what resume passes") {
  moss::Heap heap;
  std::vector<std::uintptr_t> seen;
  moss::Coroutine co(heap, [&](moss::Yield& yield) {
    seen.push_back(as_int(yield.received()));
    for (std::uintptr_t i = 1; i <= 3; ++i) seen.push_back(as_int(yield(as_ptr(i * 10))));
  });
  CHECK_FALSE(co.started());
  CHECK(co.resume(as_ptr(1)) == as_ptr(10));
  CHECK(co.started());
  CHECK(co.resume(as_ptr(2)) == as_ptr(20));
  CHECK(co.resume(as_ptr(3)) == as_ptr(30));
  CHECK_FALSE(co.done());
  CHECK(co.resume(as_ptr(4)) == nullptr);
  CHECK(co.done());
  CHECK(seen == std::vector<std::uintptr_t>{1, 2, 3, 4});
}

TEST_CASE_FIXTURE(Armed, "received() is the value of the first resume, whenever it is asked") {
  moss::Heap heap;
  void* late = nullptr;
  moss::Coroutine co(heap, [&](moss::Yield& yield) {
    yield();
    late = yield.received();
  });
  co.resume(as_ptr(7));
  co.resume(as_ptr(8));
  CHECK(late == as_ptr(7));
}

TEST_CASE_FIXTURE(Armed, "resuming a finished coroutine is a UsageError; so is resuming a moved-from one") {
  moss::Heap heap;
  moss::Coroutine co(heap, [](moss::Yield&) {});
  CHECK(co.resume() == nullptr);
  CHECK(co.done());
  CHECK_THROWS_AS(co.resume(), moss::UsageError);

  moss::Coroutine a(heap, [](moss::Yield& yield) { yield(as_ptr(5)); });
  moss::Coroutine b = std::move(a);
  CHECK(a.done());  // NOLINT: moved-from is documented as done
  CHECK_THROWS_AS(a.resume(), moss::UsageError);
  CHECK(b.resume() == as_ptr(5));
  CHECK(b.resume() == nullptr);
}

TEST_CASE_FIXTURE(Armed, "a coroutine cannot resume itself, and yield works only inside its own coroutine") {
  moss::Heap heap;
  moss::Coroutine* self = nullptr;
  bool self_resume_refused = false;
  moss::Yield* outer_yield = nullptr;
  moss::Coroutine co(heap, [&](moss::Yield& yield) {
    outer_yield = &yield;
    try {
      self->resume();
    } catch (const moss::UsageError&) {
      self_resume_refused = true;
    }
    yield();
  });
  self = &co;
  co.resume();
  CHECK(self_resume_refused);
  CHECK_THROWS_AS((*outer_yield)(), moss::UsageError);  // called from the thread, not the coroutine
  co.resume();
  CHECK(co.done());
}

TEST_CASE_FIXTURE(Armed, "a coroutine's yield is refused in the coroutine it resumed, and while it is destroyed") {
  moss::Heap heap;
  moss::Yield* outer_yield = nullptr;
  bool refused_in_inner = false;
  moss::Coroutine inner(heap, [&](moss::Yield&) {
    try {
      (*outer_yield)(as_ptr(1));  // the outer coroutine is running, but not on this stack
    } catch (const moss::UsageError& e) {
      refused_in_inner = std::string(e.what()).find("outside its own coroutine") != std::string::npos;
    }
  });
  moss::Coroutine outer(heap, [&](moss::Yield& yield) {
    outer_yield = &yield;
    inner.resume();
    yield(as_ptr(2));  // its own yield still works afterwards
  });
  CHECK(outer.resume() == as_ptr(2));
  CHECK(refused_in_inner);
  CHECK(inner.done());
  CHECK(outer.resume() == nullptr);
  CHECK(outer.done());

  bool refused_while_unwinding = false;
  {
    moss::Coroutine co(heap, [&](moss::Yield& yield) {
      try {
        yield();
      } catch (...) {  // the unwinding of a destroyed coroutine passes here
        try {
          yield();
        } catch (const moss::UsageError&) {
          refused_while_unwinding = true;
        }
        throw;
      }
    });
    co.resume();
  }
  CHECK(refused_while_unwinding);
}

TEST_CASE_FIXTURE(Armed, "an overflow leaves the resumer's exception state as it was when it resumed") {
  moss::Heap heap;
  // The coroutine overflows inside a catch block of its own, with the
  // resumer itself inside one: afterwards the resumer's caught exception is
  // the current one again, and nothing is left in flight.
  moss::Coroutine runaway(
      heap,
      [](moss::Yield&) {
        try {
          throw 7;
        } catch (int) {
          recurse(1L << 40);
        }
      },
      moss::CoroutineOptions{.stack_reserve = 128 << 10});
  bool outer_still_current = false;
  try {
    throw std::runtime_error("outer");
  } catch (const std::runtime_error&) {
    CHECK_THROWS_AS(runaway.resume(), moss::StackOverflow);
    try {
      std::rethrow_exception(std::current_exception());
    } catch (const std::runtime_error& e) {
      outer_still_current = std::string(e.what()) == "outer";
    }
  }
  CHECK(outer_still_current);
  CHECK(std::uncaught_exceptions() == 0);
  CHECK(std::current_exception() == nullptr);
}

TEST_CASE_FIXTURE(Armed, "coroutines nest: a coroutine resumes another, and each yields to its own resumer") {
  moss::Heap heap;
  std::vector<int> order;
  moss::Coroutine inner(heap, [&](moss::Yield& yield) {
    order.push_back(2);
    yield(as_ptr(100));
    order.push_back(4);
    yield(as_ptr(200));
    order.push_back(7);
  });
  moss::Coroutine outer(heap, [&](moss::Yield& yield) {
    order.push_back(1);
    void* v = inner.resume();
    order.push_back(3);
    yield(v);
    v = inner.resume();
    order.push_back(5);
    yield(v);
  });
  CHECK(outer.resume() == as_ptr(100));
  CHECK(outer.resume() == as_ptr(200));
  order.push_back(6);
  CHECK(inner.resume() == nullptr);  // the thread resumes what the outer one left suspended
  CHECK(inner.done());
  CHECK(outer.resume() == nullptr);
  CHECK(order == std::vector<int>{1, 2, 3, 4, 5, 6, 7});
}

TEST_CASE_FIXTURE(Armed, "an exception escaping the body is rethrown by resume, and the coroutine is then done") {
  moss::Heap heap;
  moss::Coroutine co(heap, [](moss::Yield& yield) {
    yield(as_ptr(1));
    throw std::runtime_error("from the body");
  });
  CHECK(co.resume() == as_ptr(1));
  try {
    co.resume();
    FAIL("resume should have thrown");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()) == "from the body");
  }
  CHECK(co.done());
  CHECK_THROWS_AS(co.resume(), moss::UsageError);

  // Through a nested coroutine, to the outer resumer.
  moss::Coroutine inner(heap, [](moss::Yield&) { throw std::logic_error("inner"); });
  moss::Coroutine outer(heap, [&](moss::Yield&) { inner.resume(); });
  CHECK_THROWS_AS(outer.resume(), std::logic_error);
  CHECK(inner.done());
  CHECK(outer.done());
}

TEST_CASE_FIXTURE(Armed, "destroying a suspended coroutine unwinds its frames; an unstarted one just drops its body") {
  moss::Heap heap;
  Counted::alive = 0;
  {
    moss::Coroutine co(heap, [](moss::Yield& yield) {
      Counted a(1);
      {
        Counted b(2);
        yield();
      }
      yield();
    });
    co.resume();
    CHECK(Counted::alive == 2);
  }
  CHECK(Counted::alive == 0);

  auto shared = std::make_shared<int>(5);
  {
    moss::Coroutine co(heap, [shared](moss::Yield&) { (void)*shared; });
    CHECK(shared.use_count() == 2);  // the body (and its copy of `shared`) lives on the coroutine stack
  }
  CHECK(shared.use_count() == 1);
  {
    moss::Coroutine co(heap, [shared](moss::Yield& yield) { yield(); });
    co.resume();
    CHECK(shared.use_count() == 2);
    co.resume();
    CHECK(co.done());
    CHECK(shared.use_count() == 1);  // destroyed when the body finished
  }
}

TEST_CASE_FIXTURE(Armed, "destroying a suspended nested coroutine from the thread unwinds it") {
  moss::Heap heap;
  Counted::alive = 0;
  auto inner = std::make_unique<moss::Coroutine>(heap, [](moss::Yield& yield) {
    Counted held(3);
    yield();
  });
  moss::Coroutine outer(heap, [&](moss::Yield& yield) {
    inner->resume();
    yield();
  });
  outer.resume();
  CHECK(Counted::alive == 1);
  inner.reset();
  CHECK(Counted::alive == 0);
  outer.resume();
  CHECK(outer.done());
}

namespace {
// Makes a node in a frame of its own, so no stale copy stays in the caller.
[[gnu::noinline]] FinNode* new_fin_node(moss::Heap& heap, long v) { return moss::make<FinNode>(heap, v); }
[[gnu::noinline]] FinNode* new_fin_list(moss::Heap& heap, long n) {
  FinNode* head = nullptr;
  for (long i = 0; i < n; ++i) {
    FinNode* x = moss::make<FinNode>(heap, i);
    x->next = head;
    head = x;
  }
  return head;
}
long fin_sum(FinNode* n) {
  long s = 0;
  for (; n != nullptr; n = n->next) s += n->value;
  return s;
}
}  // namespace

TEST_CASE_FIXTURE(Armed, "objects reachable only from a suspended coroutine's stack survive, and die once it finishes") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    FinNode::finalized = 0;
    long sum = -1;
    moss::Coroutine co(heap, [&](moss::Yield& yield) {
      FinNode* volatile list = new_fin_list(heap, 100);
      scrub_stack(16 * 1024);
      yield();
      yield();
      sum = fin_sum(list);
    });
    co.resume();
    scrub_and_collect(heap);
    CHECK(FinNode::finalized == 0);
    co.resume();
    heap.collect();
    CHECK(FinNode::finalized == 0);
    heap.verify();
    co.resume();
    CHECK(co.done());
    CHECK(sum == 99 * 100 / 2);
    scrub_and_collect(heap);
    CHECK(FinNode::finalized >= 98);  // conservative scanning may keep a stale word or two
    heap.verify();
  }
}

namespace {
// A coroutine whose body captured the only pointer to a new list.
[[gnu::noinline]] moss::Coroutine coroutine_capturing_list(moss::Heap& heap, long& sum) {
  FinNode* list = new_fin_list(heap, 20);
  return moss::Coroutine(heap, [list, &sum](moss::Yield&) { sum = fin_sum(list); });
}
}  // namespace

TEST_CASE_FIXTURE(Armed, "what a body captured stays alive until the coroutine starts") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    FinNode::finalized = 0;
    long sum = -1;
    moss::Coroutine co = coroutine_capturing_list(heap, sum);
    scrub_and_collect(heap);
    CHECK(FinNode::finalized == 0);
    co.resume();
    CHECK(sum == 19 * 20 / 2);
  }
}

#if defined(__x86_64__)
// Calls call(argument) with (pointer ^ mask) unmasked into r12 and nowhere
// else, and returns r12 afterwards: while `call` runs, the pointer exists
// only in a callee-saved register, as a compiled body's locals often do.
extern "C" void* moss_test_call_holding_r12(std::uintptr_t masked, std::uintptr_t mask, void (*call)(void*),
                                            void* argument);
extern "C" void* moss_test_call_dropping_r12(std::uintptr_t masked, std::uintptr_t mask, void (*call)(void*),
                                             void* argument);
asm(R"(
  .text
  .globl moss_test_call_holding_r12
  .type moss_test_call_holding_r12, @function
moss_test_call_holding_r12:
  push %r12
  mov %rdi, %r12
  xor %rsi, %r12
  xor %edi, %edi
  xor %esi, %esi
  mov %rcx, %rdi
  call *%rdx
  mov %r12, %rax
  pop %r12
  ret
  .size moss_test_call_holding_r12, .-moss_test_call_holding_r12

  .globl moss_test_call_dropping_r12
  .type moss_test_call_dropping_r12, @function
moss_test_call_dropping_r12:
  push %r12
  xor %r12d, %r12d
  xor %esi, %esi
  mov %rcx, %rdi
  call *%rdx
  xor %eax, %eax
  pop %r12
  ret
  .size moss_test_call_dropping_r12, .-moss_test_call_dropping_r12
)");

namespace {
constexpr std::uintptr_t kMask = 0x5a5a5a5a5a5a5a5aull;
void yield_once(void* yield) { (*static_cast<moss::Yield*>(yield))(); }
[[gnu::noinline]] std::uintptr_t new_masked_node(moss::Heap& heap, long v) {
  return reinterpret_cast<std::uintptr_t>(moss::make<FinNode>(heap, v)) ^ kMask;
}
}  // namespace

TEST_CASE_FIXTURE(Armed, "an object held only in a suspended coroutine's saved registers survives collections") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    FinNode::finalized = 0;
    long value = -1;
    moss::Coroutine holding(heap, [&](moss::Yield& yield) {
      std::uintptr_t masked = new_masked_node(heap, 42);
      scrub_stack(16 * 1024);
      auto* node = static_cast<FinNode*>(moss_test_call_holding_r12(masked, kMask, &yield_once, &yield));
      value = node->value;
    });
    holding.resume();
    scrub_and_collect(heap);
    CHECK(FinNode::finalized == 0);
    holding.resume();
    CHECK(value == 42);

    // The control: the same, with the register cleared, is reclaimed.
    moss::Coroutine dropping(heap, [&](moss::Yield& yield) {
      std::uintptr_t masked = new_masked_node(heap, 43);
      scrub_stack(16 * 1024);
      moss_test_call_dropping_r12(masked, kMask, &yield_once, &yield);
    });
    dropping.resume();
    long before = FinNode::finalized;
    scrub_and_collect(heap);
    CHECK(FinNode::finalized > before);
    dropping.resume();
  }
}
#endif

TEST_CASE_FIXTURE(Armed, "while a coroutine runs, its resumers' stacks stay roots for collections it starts") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    FinNode::finalized = 0;
    FinNode* volatile on_thread = new_fin_node(heap, 1);
    long sums = 0;
    moss::Coroutine inner(heap, [&](moss::Yield&) {
      scrub_and_collect(heap);
      sums += on_thread->value;
    });
    moss::Coroutine outer(heap, [&](moss::Yield&) {
      FinNode* volatile on_outer = new_fin_node(heap, 2);
      inner.resume();  // outer is suspended inside resume() while inner collects
      sums += on_outer->value;
    });
    outer.resume();
    CHECK(sums == 3);
    CHECK(FinNode::finalized == 0);
    heap.verify();
  }
}

TEST_CASE_FIXTURE(Armed, "deep recursion in a coroutine grows its stack in place, and the growth is counted") {
  moss::Heap heap;
  moss::StackStats before = moss::stack_stats();
  long result = 0;
  moss::Coroutine co(heap, [&](moss::Yield& yield) {
    result = recurse(2000);  // about 600 KiB of frames on a 16 KiB initial commit
    yield();
  });
  co.resume();
  CHECK(result == 2000);
  CHECK(co.stack_growths() > 0);
  CHECK(heap.stats().stack_growths == co.stack_growths());
  CHECK(moss::stack_stats().growths - before.growths == co.stack_growths());
  co.resume();
  CHECK(co.done());
  // The finished stack went back to the pool with its deep pages returned.
  moss::StackStats after = moss::stack_stats();
  CHECK(after.shrinks > before.shrinks);
  CHECK(after.pooled_stacks >= 1);
}

TEST_CASE_FIXTURE(Armed, "finished stacks are pooled and reused") {
  moss::Heap heap;
  { moss::Coroutine warm(heap, [](moss::Yield&) {}); warm.resume(); }
  moss::StackStats before = moss::stack_stats();
  for (int i = 0; i < 100; ++i) {
    moss::Coroutine co(heap, [](moss::Yield& yield) { yield(); });
    co.resume();
    co.resume();
  }
  moss::StackStats after = moss::stack_stats();
  CHECK(after.guarded_stacks == before.guarded_stacks);  // no new mapping
  CHECK(after.pooled_stacks == before.pooled_stacks);
}

TEST_CASE_FIXTURE(Armed, "recursion past the reservation is a StackOverflow in the resumer; everything else goes on") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    FinNode::finalized = 0;
    long bystander_sum = 0;
    moss::Coroutine bystander(heap, [&](moss::Yield& yield) {
      FinNode* volatile list = new_fin_list(heap, 50);
      yield();
      bystander_sum = fin_sum(list);
    });
    bystander.resume();

    moss::StackStats before = moss::stack_stats();
    moss::Coroutine runaway(
        heap, [](moss::Yield&) { recurse(1L << 40); },
        moss::CoroutineOptions{.stack_reserve = 256 << 10, .initial_commit = 16 << 10});
    CHECK_THROWS_AS(runaway.resume(), moss::StackOverflow);
    CHECK(runaway.done());
    CHECK_THROWS_AS(runaway.resume(), moss::UsageError);
    moss::StackStats after = moss::stack_stats();
    CHECK(after.overflows == before.overflows + 1);
    CHECK(after.quarantined_bytes == before.quarantined_bytes + (256 << 10));

    // The heap, the bystander and new coroutines are fine.
    scrub_and_collect(heap);
    heap.verify();
    bystander.resume();
    CHECK(bystander_sum == 49 * 50 / 2);
    moss::Coroutine next(heap, [](moss::Yield& yield) { yield(as_ptr(recurse(100))); });
    CHECK(next.resume() == as_ptr(100));

    // An overflow in a nested coroutine reaches its resumer as an exception.
    moss::Coroutine nested_runaway(
        heap, [](moss::Yield&) { recurse(1L << 40); }, moss::CoroutineOptions{.stack_reserve = 128 << 10});
    bool caught = false;
    moss::Coroutine outer(heap, [&](moss::Yield&) {
      try {
        nested_runaway.resume();
      } catch (const moss::StackOverflow& e) {
        caught = std::string(e.what()).find("stack_reserve") != std::string::npos;
      }
    });
    outer.resume();
    CHECK(caught);
    CHECK(outer.done());
  }
}

TEST_CASE_FIXTURE(Armed, "threads run coroutines of their own heaps side by side, growth and overflow included") {
  std::atomic<int> good{0};
  auto work = [&good] {
    moss::Heap heap;
    long deep = 0;
    moss::Coroutine grower(heap, [&](moss::Yield& yield) {
      deep = recurse(1500);
      yield();
    });
    grower.resume();
    moss::Coroutine runaway(
        heap, [](moss::Yield&) { recurse(1L << 40); }, moss::CoroutineOptions{.stack_reserve = 128 << 10});
    bool overflowed = false;
    try {
      runaway.resume();
    } catch (const moss::StackOverflow&) {
      overflowed = true;
    }
    grower.resume();
    if (deep == 1500 && grower.stack_growths() > 0 && grower.done() && overflowed) ++good;
  };
  std::thread a(work), b(work);
  a.join();
  b.join();
  CHECK(good == 2);
}

TEST_CASE_FIXTURE(Armed, "a fault that is not a stack growth still kills the process with SIGSEGV") {
  moss::Heap heap;
  {  // make sure the handler is installed in this process
    moss::Coroutine co(heap, [](moss::Yield&) {});
    co.resume();
  }
  int outside = in_child([] { write_wild(); });
  CHECK(WIFSIGNALED(outside));
  CHECK(WTERMSIG(outside) == SIGSEGV);

  int inside = in_child([&heap] {
    moss::Coroutine co(heap, [](moss::Yield&) { write_wild(); });
    co.resume();
  });
  CHECK(WIFSIGNALED(inside));
  CHECK(WTERMSIG(inside) == SIGSEGV);
}

namespace {
void exit_42(int, siginfo_t*, void*) { _exit(42); }
}  // namespace

TEST_CASE_FIXTURE(Armed, "faults that are not ours go to the handler installed before moss's") {
  moss::Heap heap;
  int status = in_child([&heap] {
    struct sigaction action {};
    action.sa_sigaction = &exit_42;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    sigaction(SIGSEGV, &action, nullptr);
    moss::reinstall_stack_fault_handler();  // moss in front, forwarding to exit_42
    long r = 0;
    moss::Coroutine co(heap, [&](moss::Yield&) { r = recurse(1000); });
    co.resume();
    if (r != 1000 || co.stack_growths() == 0) _exit(3);  // growth still works
    write_wild();
  });
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 42);
}

TEST_CASE_FIXTURE(Armed, "ten thousand coroutines alive at once, interleaved with collections") {
  for (moss::Collector c : collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap(opts(c));
    FinNode::finalized = 0;
    constexpr long kCount = 10000;
    std::deque<moss::Coroutine> all;
    std::vector<long> seen(kCount, -1);
    for (long i = 0; i < kCount; ++i) {
      all.emplace_back(heap, [&seen, &heap, i](moss::Yield& yield) {
        FinNode* volatile mine = new_fin_node(heap, i);
        yield();
        yield();
        seen[static_cast<std::size_t>(i)] = mine->value;
      });
      all.back().resume();
      if (i % 2500 == 0) heap.collect();
    }
    heap.collect();
    CHECK(FinNode::finalized == 0);
    for (long i = 0; i < kCount; i += 2) all[static_cast<std::size_t>(i)].resume();
    heap.collect();
    CHECK(FinNode::finalized == 0);
    for (moss::Coroutine& co : all) {
      while (!co.done()) co.resume();
    }
    heap.verify();
    long wrong = 0;
    for (long i = 0; i < kCount; ++i) wrong += seen[static_cast<std::size_t>(i)] != i;
    CHECK(wrong == 0);
    all.clear();
    scrub_and_collect(heap);
    CHECK(FinNode::finalized >= kCount - 10);
  }
}

TEST_CASE_FIXTURE(Armed, "guard-less stacks: check_stack throws a StackOverflow that unwinds, before the reservation ends") {
  moss::Heap heap;
  moss::StackStats before = moss::stack_stats();
  FrameGuard::unwound = 0;
  std::size_t at_start = 0, deeper = 0;
  moss::Coroutine co(
      heap,
      [&](moss::Yield& yield) {
        at_start = moss::stack_remaining();
        deeper = remaining_below_4k();
        yield();
        checked_recurse(0);
      },
      moss::CoroutineOptions{.stack_reserve = 256 << 10, .guard = moss::StackGuard::software});
  co.resume();
  CHECK(moss::stack_stats().software_stacks == before.software_stacks + 1);
  CHECK(at_start > (200u << 10));
  CHECK(at_start < (256u << 10));
  CHECK(deeper < at_start - 4096);
  CHECK_THROWS_AS(co.resume(), moss::StackOverflow);
  CHECK(co.done());
  CHECK(FrameGuard::unwound > 500);  // every frame's destructor ran
  CHECK(moss::stack_stats().overflows == before.overflows);  // the check, not the fault handler

  // On the thread's own stack too.
  CHECK(moss::stack_remaining() > (64u << 10));
  CHECK_NOTHROW(moss::check_stack());
  CHECK_THROWS_AS(moss::check_stack(std::size_t{1} << 40), moss::StackOverflow);
}

TEST_CASE_FIXTURE(Armed, "guard-less stacks are not bounded by vm.max_map_count") {
  moss::Heap heap;
  long maps_before = count_mappings();
  constexpr int kCount = 40000;  // more than guarded stacks can reach at the default limit
  std::vector<moss::Coroutine> all;
  all.reserve(kCount);
  int running = 0;
  for (int i = 0; i < kCount; ++i) {
    all.emplace_back(
        heap,
        [&running](moss::Yield& yield) {
          ++running;
          yield();
          --running;
        },
        moss::CoroutineOptions{.stack_reserve = 64 << 10, .guard = moss::StackGuard::software});
    all.back().resume();
  }
  CHECK(running == kCount);
  CHECK(count_mappings() - maps_before < 100);
  heap.collect();
  for (moss::Coroutine& co : all) co.resume();
  CHECK(running == 0);
}

// Not under AddressSanitizer: its own allocator aborts when the process runs
// out of mappings.
#if !MOSS_ASAN_FIBERS
TEST_CASE_FIXTURE(Armed, "running out of mappings for guarded stacks is an OutOfMemory naming vm.max_map_count") {
  moss::Heap heap;
  int status = in_child([&heap] {
    std::vector<moss::Coroutine> all;
    all.reserve(200000);
    try {
      for (int i = 0; i < 200000; ++i) {
        all.emplace_back(heap, [](moss::Yield&) {}, moss::CoroutineOptions{.stack_reserve = 64 << 10});
      }
    } catch (const moss::OutOfMemory& e) {
      std::string message = e.what();
      bool names_sysctl = message.find("vm.max_map_count") != std::string::npos;
      bool names_software = message.find("StackGuard::software") != std::string::npos;
      _exit(names_sysctl && names_software && all.size() > 1000 ? 0 : 2);
    }
    _exit(1);  // never ran out
  });
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
#endif

TEST_CASE_FIXTURE(Armed, "moss's stack allocator serves a bare Boost.Context fiber") {
  moss::detail::GrowableStackAllocator allocator(moss::CoroutineOptions{.stack_reserve = 128 << 10});
  int steps = 0;
  boost::context::fiber f(std::allocator_arg, allocator, [&](boost::context::fiber&& back) {
    ++steps;
    back = std::move(back).resume();
    ++steps;
    return std::move(back);
  });
  f = std::move(f).resume();
  CHECK(steps == 1);
  f = std::move(f).resume();
  CHECK(steps == 2);
  CHECK_FALSE(f);
  boost::context::stack_context context = allocator.allocate();
  CHECK(context.size > (100u << 10));
  CHECK(reinterpret_cast<std::uintptr_t>(context.sp) % 16 == 0);
  allocator.deallocate(context);
}
