// tests/test_reliability.cpp — bad input, exhausted limits, signals,
// fork(), finalizers that misbehave, and a heap that dies before its
// coroutines: each behaviour that is defined for them, under both
// collectors.
#include <doctest/doctest.h>

#include <moss/moss.hpp>

#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "support.hpp"

namespace {

using moss_test::Node;

struct Big {
  moss::Member<Big> next;
  char bytes[4000];
  void trace(moss::Visitor& v) const { v.visit(next); }
};

// Fills the heap with a list that stays reachable until OutOfMemory.
[[gnu::noinline]] long fill_until_out_of_memory(moss::Heap& heap, moss::Root<Big>& head) {
  long made = 0;
  try {
    for (;;) {
      Big* b = moss::make<Big>(heap);
      b->next = head.get();
      head = b;
      ++made;
    }
  } catch (const moss::OutOfMemory&) {
  }
  return made;
}

[[gnu::noinline]] long list_length(const moss::Root<Big>& head) {
  long n = 0;
  for (Big* b = head.get(); b != nullptr; b = b->next.get()) ++n;
  return n;
}

}  // namespace

TEST_CASE("reaching the heap limit throws OutOfMemory, leaves the heap consistent, and recovers") {
  for (moss::Collector c : moss_test::collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::HeapOptions o;
    o.collector = c;
    o.heap_limit = 4u << 20;
    o.min_heap_bytes = 1u << 20;
    moss::Heap heap(o);
    moss::Root<Big> head(heap);
    long made = fill_until_out_of_memory(heap, head);
    CHECK(made > 100);
    CHECK(list_length(head) == made);  // nothing reachable was lost
    CHECK(heap.stats().heap_bytes <= o.heap_limit);
    heap.verify();
    // Still full: another allocation fails the same way.
    CHECK_THROWS_AS(moss::make<Big>(heap), moss::OutOfMemory);
    head = nullptr;
    moss_test::scrub_and_collect(heap);
    heap.verify();
    // Room again.
    moss::Root<Big> again(heap);
    for (int i = 0; i < made / 2; ++i) {
      Big* b = moss::make<Big>(heap);
      b->next = again.get();
      again = b;
    }
    CHECK(list_length(again) == made / 2);
    heap.verify();
  }
}

TEST_CASE("pointers that are not objects of the heap are UsageErrors and change nothing") {
  for (moss::Collector c : moss_test::collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap({.collector = c});
    moss::Root<Node> keep(heap, moss::make<Node>(heap, 7));
    keep->left = moss::make<Node>(heap, 8);
    long local_words[4] = {};
    moss::HeapStats before = heap.stats();

    // Heap::write into something that is not an object, or outside the holder.
    CHECK_THROWS_AS(heap.write(local_words, reinterpret_cast<void**>(&local_words[0]), keep.get()), moss::UsageError);
    CHECK_THROWS_AS(heap.write(keep.get(), reinterpret_cast<void**>(&local_words[0]), nullptr), moss::UsageError);
    CHECK_THROWS_AS(heap.write(reinterpret_cast<char*>(keep.get()) + 8, reinterpret_cast<void**>(keep.get()), nullptr),
                    moss::UsageError);
    // A Root of a foreign pointer or an interior pointer.
    CHECK_THROWS_AS(moss::Root<Node>(heap, reinterpret_cast<Node*>(local_words)), moss::UsageError);
    moss::Root<Node> r(heap);
    CHECK_THROWS_AS(r = reinterpret_cast<Node*>(reinterpret_cast<char*>(keep.get()) + 8), moss::UsageError);
    CHECK(r.get() == nullptr);
    // Freeing what is not an object, and freeing twice.
    CHECK_THROWS_AS(heap.free(local_words), moss::UsageError);
    Node* once = moss::make<Node>(heap, 9);
    heap.free(once);
    CHECK_THROWS_AS(heap.free(once), moss::UsageError);

    moss::HeapStats after = heap.stats();
    CHECK(after.allocated_objects == before.allocated_objects + 1);
    CHECK(after.freed_objects == before.freed_objects + 1);
    CHECK(keep->value == 7);
    CHECK(keep->left->value == 8);
    CHECK(heap.find_object(keep.get()) == keep.get());
    heap.verify();
    heap.collect();
    CHECK(keep->left->value == 8);
    heap.verify();
  }
}

TEST_CASE("a segmentation fault that is not a stack growth still crashes the process") {
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    moss::Heap heap;
    // Make sure moss's fault handler is installed: run a coroutine.
    moss::Coroutine co(heap, [](moss::Yield& y) { y(); });
    co.resume();
    *static_cast<volatile int*>(nullptr) = 1;
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  // Killed by SIGSEGV, or (under AddressSanitizer) reported and exited non-zero.
  bool crashed = (WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV) || (WIFEXITED(status) && WEXITSTATUS(status) != 0);
  CHECK(crashed);
}

namespace {
volatile sig_atomic_t alarms = 0;
void on_alarm(int) {
  alarms = alarms + 1;
  // Dirty some stack, as a real handler would.
  char scratch[256];
  for (int i = 0; i < 256; ++i) scratch[i] = static_cast<char>(i);
  asm volatile("" : : "r"(scratch) : "memory");
}

[[gnu::noinline]] void build_list(moss::Heap& heap, moss::Root<Node>& head, int n) {
  for (int i = 0; i < n; ++i) {
    Node* x = moss::make<Node>(heap, i);
    x->left = head.get();
    head = x;
  }
}

[[gnu::noinline]] bool list_intact(const moss::Root<Node>& head, int n) {
  int expect = n - 1;
  for (Node* x = head.get(); x != nullptr; x = x->left.get(), --expect) {
    if (x->value != expect) return false;
  }
  return expect == -1;
}
}  // namespace

TEST_CASE("signals arriving during collections leave the results correct") {
  struct sigaction sa = {};
  sa.sa_handler = on_alarm;
  sa.sa_flags = SA_RESTART;
  struct sigaction old = {};
  REQUIRE(sigaction(SIGALRM, &sa, &old) == 0);
  itimerval every = {{0, 200}, {0, 200}};
  REQUIRE(setitimer(ITIMER_REAL, &every, nullptr) == 0);
  for (moss::Collector c : moss_test::collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap({.collector = c, .min_heap_bytes = 256u << 10});
    moss::Root<Node> head(heap);
    build_list(heap, head, 2000);
    for (int round = 0; round < 60; ++round) {
      for (int g = 0; g < 2000; ++g) moss::make<Node>(heap, -1);  // garbage
      heap.collect();
      REQUIRE(list_intact(head, 2000));
    }
    heap.verify();
  }
  itimerval off = {};
  setitimer(ITIMER_REAL, &off, nullptr);
  sigaction(SIGALRM, &old, nullptr);
  CHECK(alarms > 0);
}

namespace {
struct Witness {
  static inline int unwound = 0;
  ~Witness() { ++unwound; }
};
}  // namespace

// Defined behaviour: destroying a heap finalizes every object it still
// holds, those that only a suspended coroutine refers to included; the
// coroutines stay suspended, detached from the heap, and may be destroyed
// afterwards (their stacks unwind; the body must not touch managed objects
// then). Resuming one is not allowed.
TEST_CASE("a heap destroyed while coroutines are suspended finalizes their objects; the coroutines unwind later") {
  for (moss::Collector c : moss_test::collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    long finalized_before = moss_test::FinNode::finalized;
    Witness::unwound = 0;
    auto heap = std::make_unique<moss::Heap>(moss::HeapOptions{.collector = c});
    std::vector<std::unique_ptr<moss::Coroutine>> cos;
    for (int i = 0; i < 3; ++i) {
      cos.push_back(std::make_unique<moss::Coroutine>(*heap, [&heap](moss::Yield& y) {
        Witness w;
        moss_test::FinNode* volatile held = moss::make<moss_test::FinNode>(*heap, 5);
        y();
        (void)held;
      }));
      cos.back()->resume();
    }
    heap->collect();
    CHECK(moss_test::FinNode::finalized == finalized_before);  // held by the suspended stacks
    heap.reset();
    CHECK(moss_test::FinNode::finalized == finalized_before + 3);
    cos.clear();
    CHECK(Witness::unwound == 3);
  }
}

namespace {
moss::Heap* finalizer_heap = nullptr;
moss::Root<Node>* made_by_finalizer = nullptr;

struct Allocating {
  long value = 1;
  ~Allocating() { *made_by_finalizer = moss::make<Node>(*finalizer_heap, 42); }
};

struct Resurrecting {
  static inline moss::Root<Resurrecting>* to = nullptr;
  static inline int finalized = 0;
  moss::Member<Node> child;
  long value = 11;
  void trace(moss::Visitor& v) const { v.visit(child); }
  ~Resurrecting() {
    ++finalized;
    child = nullptr;  // what it referred to may be reclaimed already
    *to = this;
  }
};

int throwing_finalized = 0;
void throwing_finalize(void*) {
  ++throwing_finalized;
  throw std::runtime_error("a finalizer that throws");
}

[[gnu::noinline]] void make_allocating(moss::Heap& heap) { moss::make<Allocating>(heap); }
[[gnu::noinline]] void make_resurrecting(moss::Heap& heap) {
  moss::make<Resurrecting>(heap);
}
[[gnu::noinline]] bool resurrected_intact(moss::Heap& heap, const moss::Root<Resurrecting>& back) {
  return back.get() != nullptr && heap.find_object(back.get()) == back.get() && back->value == 11 &&
         back->child.get() == nullptr;
}
[[gnu::noinline]] void make_throwing(moss::Heap& heap, moss::TypeIndex type, int n) {
  for (int i = 0; i < n; ++i) heap.allocate(type, 32);
}
}  // namespace

TEST_CASE("a finalizer may allocate; what it keeps survives") {
  for (moss::Collector c : moss_test::collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap({.collector = c});
    moss::Root<Node> out(heap);
    finalizer_heap = &heap;
    made_by_finalizer = &out;
    make_allocating(heap);
    moss_test::scrub_and_collect(heap);
    REQUIRE(out.get() != nullptr);
    CHECK(out->value == 42);
    moss_test::scrub_and_collect(heap);
    CHECK(out->value == 42);
    heap.verify();
    made_by_finalizer = nullptr;
    finalizer_heap = nullptr;
  }
}

TEST_CASE("a finalizer that stores its object keeps it, once: it is never finalized again") {
  for (moss::Collector c : moss_test::collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap({.collector = c});
    moss::Root<Resurrecting> back(heap);
    Resurrecting::to = &back;
    Resurrecting::finalized = 0;
    make_resurrecting(heap);
    moss_test::scrub_and_collect(heap);
    REQUIRE(Resurrecting::finalized == 1);
    CHECK(resurrected_intact(heap, back));
    moss_test::scrub_and_collect(heap);
    CHECK(resurrected_intact(heap, back));  // still kept by the Root
    back = nullptr;
    moss_test::scrub_and_collect(heap);
    moss_test::scrub_and_collect(heap);
    CHECK(Resurrecting::finalized == 1);
    CHECK(heap.stats().live_objects == 0);
    heap.verify();
    Resurrecting::to = nullptr;
  }
}

[[gnu::noinline]] void throwing_finalizer_pass(moss::Collector c, moss::TypeIndex type) {
  throwing_finalized = 0;
  moss::Heap heap({.collector = c});
  make_throwing(heap, type, 50);
  CHECK_NOTHROW(moss_test::scrub_and_collect(heap));
  CHECK(throwing_finalized == 50);
  CHECK(heap.stats().live_objects == 0);
  void* p = heap.allocate(type, 32);
  CHECK_NOTHROW(heap.free(p));
  CHECK(throwing_finalized == 51);
  heap.verify();
}

TEST_CASE("a finalizer that throws is dropped; its object is still reclaimed") {
  moss::TypeInfo info;
  info.name = "throws-when-finalized";
  info.finalize = throwing_finalize;
  info.flags = moss::type_leaf | moss::type_acyclic | moss::type_finalizable;
  moss::TypeIndex type = moss::Heap::register_type(info);
  for (moss::Collector c : moss_test::collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    throwing_finalizer_pass(c, type);
    // A pass's pointers, left in the frame below, may name objects the next
    // pass's heap places at the same addresses (its arena is the first
    // one too); stack scanning is conservative.
    moss_test::scrub_stack();
  }
}

TEST_CASE("a forked child can go on allocating and collecting") {
  for (moss::Collector c : moss_test::collectors()) {
    CAPTURE(std::string(moss::collector_name(c)));
    moss::Heap heap({.collector = c});
    moss::Root<Node> head(heap);
    build_list(heap, head, 500);
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      int code = 0;
      try {
        moss::Root<Node> more(heap);
        build_list(heap, more, 500);
        for (int round = 0; round < 20; ++round) {
          for (int g = 0; g < 5000; ++g) moss::make<Node>(heap, -1);
          heap.collect();
        }
        moss::Heap fresh({.collector = c});
        moss::Root<Node> other(fresh);
        build_list(fresh, other, 1000);
        fresh.collect();
        if (!list_intact(head, 500) || !list_intact(more, 500) || !list_intact(other, 1000)) code = 2;
        heap.verify();
        fresh.verify();
      } catch (...) {
        code = 3;
      }
      _exit(code);
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(list_intact(head, 500));
  }
}
