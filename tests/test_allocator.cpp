// tests/test_allocator.cpp — the per-heap allocation path: alignment,
// zeroing, explicit free and reuse, find_object, large objects, several
// heaps on several threads, and the errors a user can cause.
#include <doctest/doctest.h>

#include <moss/moss.hpp>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "runtime/size_classes.hpp"
#include "runtime/type_registry.hpp"

#include <sys/mman.h>
#include <unistd.h>

namespace {

moss::TypeIndex leaf_type() {
  static moss::TypeIndex t = moss::Heap::register_type({"bytes", nullptr, nullptr, 0});
  return t;
}

moss::HeapOptions manual() {
  moss::HeapOptions o;
  o.gc_percent = -1;  // these tests free explicitly
  return o;
}

}  // namespace

TEST_CASE("type_align8 objects are 8-byte aligned, zeroed and take the compact slots below 64 bytes") {
  static const moss::TypeIndex compact = moss::Heap::register_type({"compact", nullptr, nullptr, moss::type_align8});
  moss::Heap heap(manual());
  std::vector<void*> objs;
  for (int round = 0; round < 2; ++round) {  // the second round reuses dirtied slots
    for (std::size_t n = 0; n <= 600; ++n) {
      auto* p = static_cast<unsigned char*>(heap.allocate(compact, n));
      CAPTURE(n);
      REQUIRE(reinterpret_cast<std::uintptr_t>(p) % 8 == 0);
      std::size_t size = heap.object_size(p);
      REQUIRE(size >= n);
      // Slots step by 8 bytes up to 64 (payloads 8, 16, 24 ... 56), by 16 above.
      if (n + 8 <= 64) REQUIRE(size == std::max<std::size_t>((n + 8 + 7) / 8 * 8, 16) - 8);
      bool zero = true;
      for (std::size_t i = 0; i < n; ++i) zero = zero && p[i] == 0;
      REQUIRE(zero);
      std::memset(p, 0xCD, size);
      objs.push_back(p);
    }
    // Ordinary objects of the same sizes beside them stay 16-byte aligned.
    for (std::size_t n = 0; n <= 64; ++n) {
      void* q = heap.allocate(leaf_type(), n);
      REQUIRE(reinterpret_cast<std::uintptr_t>(q) % 16 == 0);
      objs.push_back(q);
    }
    for (void* p : objs) heap.free(p);
    objs.clear();
  }
  CHECK(heap.stats().live_objects == 0);
}

TEST_CASE("objects are 16-byte aligned and zeroed at every size") {
  moss::Heap heap(manual());
  std::vector<void*> objs;
  for (std::size_t n = 0; n <= 70000; n += (n < 512 ? 1 : 97)) {
    auto* p = static_cast<unsigned char*>(heap.allocate(leaf_type(), n));
    REQUIRE(reinterpret_cast<std::uintptr_t>(p) % 16 == 0);
    REQUIRE(heap.object_size(p) >= n);
    bool zero = true;
    for (std::size_t i = 0; i < n; ++i) zero = zero && p[i] == 0;
    REQUIRE(zero);
    std::memset(p, 0xAB, heap.object_size(p));  // dirty it for the reuse below
    objs.push_back(p);
  }
  for (void* p : objs) heap.free(p);
  // Reused slots come back zeroed too.
  for (std::size_t n = 0; n <= 70000; n += (n < 512 ? 1 : 97)) {
    auto* p = static_cast<unsigned char*>(heap.allocate(leaf_type(), n));
    bool zero = true;
    for (std::size_t i = 0; i < n; ++i) zero = zero && p[i] == 0;
    REQUIRE(zero);
  }
  heap.verify();
}

TEST_CASE("randomized allocate and free against a model: no overlap, contents kept, memory reused, no leak") {
  moss::Heap heap(manual());
  std::mt19937 rng(7);
  struct Rec {
    std::size_t size;
    unsigned char fill;
  };
  std::map<unsigned char*, Rec> live;
  std::map<void*, int> seen;
  std::size_t reused = 0;
  for (int step = 0; step < 200000; ++step) {
    if (live.empty() || rng() % 100 < 55) {
      std::size_t size = rng() % 100 < 95 ? rng() % 600 : rng() % 50000;
      auto* p = static_cast<unsigned char*>(heap.allocate(leaf_type(), size));
      if (seen[p]++ > 0) ++reused;
      // No overlap with the neighbours in address order.
      auto next = live.lower_bound(p);
      if (next != live.end()) REQUIRE(p + size <= next->first);
      if (next != live.begin()) {
        auto prev = std::prev(next);
        REQUIRE(prev->first + prev->second.size <= p);
      }
      auto fill = static_cast<unsigned char>(rng());
      std::memset(p, fill, size);  // every byte writable
      live[p] = {size, fill};
    } else {
      auto it = live.begin();
      std::advance(it, rng() % live.size());
      const Rec& r = it->second;
      bool intact = true;
      for (std::size_t i = 0; i < r.size; ++i) intact = intact && it->first[i] == r.fill;
      REQUIRE(intact);
      heap.free(it->first);
      live.erase(it);
    }
  }
  CHECK(reused > 1000);
  moss::HeapStats s = heap.stats();
  CHECK(s.allocated_objects - s.freed_objects == live.size());
  heap.verify();
  for (auto& [p, r] : live) heap.free(p);
  s = heap.stats();
  CHECK(s.allocated_objects == s.freed_objects);
  CHECK(s.allocated_bytes == s.freed_bytes);
  // Empty spans went back to the page heap; at most each class's current
  // span is kept for the next allocation.
  std::size_t one_span_per_class = 0;
  for (std::size_t c = 1; c < moss::detail::kNumSizeClasses; ++c)
    one_span_per_class += moss::detail::size_class(c).pages * moss::detail::kPageSize;
  CHECK(s.heap_bytes <= one_span_per_class);
  heap.verify();
}

TEST_CASE("find_object resolves exact and interior pointers and rejects everything else") {
  moss::Heap heap(manual());
  auto* small = static_cast<char*>(heap.allocate(leaf_type(), 100));
  auto* large = static_cast<char*>(heap.allocate(leaf_type(), 200000));
  CHECK(heap.find_object(small) == small);
  CHECK(heap.find_object(small + 50) == small);
  CHECK(heap.find_object(small + heap.object_size(small) - 1) == small);
  CHECK(heap.find_object(large) == large);
  CHECK(heap.find_object(large + 150000) == large);
  int on_stack = 0;
  CHECK(heap.find_object(&on_stack) == nullptr);
  std::string on_malloc(64, 'x');
  CHECK(heap.find_object(on_malloc.data()) == nullptr);
  CHECK(heap.find_object(nullptr) == nullptr);
  // Words past the 48-bit address space whose low bits name an object (the
  // page map drops the high bits) are not that object.
  for (std::uintptr_t high : {std::uintptr_t{1} << 48, std::uintptr_t{0xffff} << 48, std::uintptr_t{1} << 63}) {
    CHECK(heap.find_object(reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(small) | high)) == nullptr);
    CHECK(heap.find_object(reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(large + 64) | high)) == nullptr);
  }
  // A pointer into another heap's object is not this heap's.
  moss::Heap other(manual());
  auto* foreign = other.allocate(leaf_type(), 32);
  CHECK(heap.find_object(foreign) == nullptr);
  CHECK(other.find_object(foreign) == foreign);
  // Free slots are not objects.
  heap.free(small);
  CHECK(heap.find_object(small) == nullptr);
  heap.free(large);
  CHECK(heap.find_object(large + 150000) == nullptr);
}

TEST_CASE("free slots the allocation cache holds are not objects to lookups, frees or collections") {
  // A span's free cache claims the free slots of one bitmap word at a
  // time; those slots must still read as free everywhere.
  for (moss::Collector collector : {moss::Collector::mark_sweep, moss::Collector::refcount}) {
    CAPTURE(static_cast<int>(collector));
    moss::HeapOptions options = manual();
    options.collector = collector;
    moss::Heap heap(options);
    auto* a = static_cast<char*>(heap.allocate(leaf_type(), 100));
    auto* b = static_cast<char*>(heap.allocate(leaf_type(), 100));
    auto* c = static_cast<char*>(heap.allocate(leaf_type(), 100));
    std::ptrdiff_t stride = b - a;
    REQUIRE(stride > 0);
    REQUIRE(c - b == stride);  // a fresh span hands out its slots in order
    char* next = c + stride;   // free, in the cache's word
    CHECK(heap.find_object(next) == nullptr);
    CHECK(heap.find_object(next + 8) == nullptr);
    CHECK_THROWS_AS(heap.free(next), moss::UsageError);
    // A stack word pointing at it keeps nothing alive through a collection.
    char* volatile on_stack = next;
    heap.collect();
    CHECK(heap.find_object(on_stack) == nullptr);
    CHECK(heap.stats().live_objects == 3);
    heap.verify();
    // It is the next slot handed out, and then an object like any other.
    auto* d = static_cast<char*>(heap.allocate(leaf_type(), 100));
    CHECK(d == next);
    CHECK(heap.find_object(d + 8) == d);
    // A slot freed into the cache's word is free again at once, and reused.
    std::memset(b, 7, 100);
    heap.free(b);
    CHECK(heap.find_object(b) == nullptr);
    CHECK_THROWS_AS(heap.free(b), moss::UsageError);
    heap.verify();
    auto* e = static_cast<char*>(heap.allocate(leaf_type(), 100));
    CHECK(e == b);
    CHECK(std::all_of(e, e + 100, [](char x) { return x == 0; }));
    moss::HeapStats st = heap.stats();
    CHECK(st.allocated_objects - st.freed_objects == 4);
    heap.verify();
    for (char* p : {a, c, d, e}) heap.free(p);
    st = heap.stats();
    CHECK(st.allocated_objects == 5);
    CHECK(st.freed_objects == 5);
    heap.verify();
  }
}

TEST_CASE("a heap that never allocated answers lookups and rejects frees") {
  // Lookups and frees go to the page heap without a creation path, so the
  // heap itself must have made sure it exists.
  moss::Heap heap(manual());
  int on_stack = 0;
  CHECK(heap.find_object(&on_stack) == nullptr);
  CHECK_THROWS_AS(heap.free(&on_stack), moss::UsageError);
  CHECK_THROWS_AS(heap.free(nullptr), moss::UsageError);
  heap.verify();
  CHECK(heap.stats().freed_objects == 0);
}

TEST_CASE("freeing anything but a live object start is a UsageError and changes nothing") {
  moss::Heap heap(manual());
  auto* p = static_cast<char*>(heap.allocate(leaf_type(), 64));
  std::memset(p, 5, 64);
  int on_stack = 0;
  CHECK_THROWS_AS(heap.free(nullptr), moss::UsageError);
  CHECK_THROWS_AS(heap.free(&on_stack), moss::UsageError);
  CHECK_THROWS_AS(heap.free(p + 16), moss::UsageError);
  CHECK_THROWS_AS(heap.free(reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(p) | std::uintptr_t{1} << 48)),
                  moss::UsageError);
  CHECK(heap.find_object(p) == p);
  CHECK(p[63] == 5);
  heap.free(p);
  CHECK_THROWS_WITH_AS(heap.free(p), doctest::Contains("not the start of a live object"), moss::UsageError);
  heap.verify();
  CHECK(heap.stats().freed_objects == 1);
}

TEST_CASE("a request past the heap limit throws OutOfMemory naming the sizes, and the heap stays usable") {
  moss::HeapOptions o = manual();
  o.heap_limit = 8u << 20;
  moss::Heap heap(o);
  std::vector<void*> objs;
  objs.reserve(100000);  // a root range: the collector must see them
  auto range = heap.add_root_range(objs.data(), objs.data() + objs.capacity());
  bool threw = false;
  try {
    for (int i = 0; i < 100000; ++i) objs.push_back(heap.allocate(leaf_type(), 1000));
  } catch (const moss::OutOfMemory& e) {
    threw = true;
    CHECK(std::string(e.what()).find("heap limit is 8388608 bytes") != std::string::npos);
  }
  CHECK(threw);
  CHECK(heap.stats().heap_bytes <= o.heap_limit);
  CHECK_THROWS_AS(heap.allocate(leaf_type(), 100u << 20), moss::OutOfMemory);
  heap.verify();
  for (void* p : objs) heap.free(p);
  heap.remove_root_range(range);
  CHECK_NOTHROW(heap.allocate(leaf_type(), 4u << 20));  // room again
  heap.verify();
}

TEST_CASE("allocating with an unregistered type is a UsageError") {
  moss::Heap heap(manual());
  CHECK_THROWS_AS(heap.allocate(0, 16), moss::UsageError);
  CHECK_THROWS_AS(heap.allocate(999999, 16), moss::UsageError);
  CHECK_THROWS_AS(moss::Heap::type_info(999999), moss::UsageError);
}

TEST_CASE("the type table takes memory only where types are registered") {
  // The last entries are never registered in a test run; their pages must
  // not be resident (a table built with default names would be, all of it,
  // relocated at load time). (One 32 KiB before the end: the table's last
  // page may be shared with what follows it.)
  const auto& last = moss::detail::TypeRegistry::get(moss::detail::TypeRegistry::kCapacity - 1024);
  const long page = sysconf(_SC_PAGESIZE);
  auto start = reinterpret_cast<std::uintptr_t>(&last) & ~static_cast<std::uintptr_t>(page - 1);
  unsigned char resident = 1;
  REQUIRE(mincore(reinterpret_cast<void*>(start), static_cast<std::size_t>(page), &resident) == 0);
  CHECK((resident & 1) == 0);
  // Registered entries read back as registered.
  moss::TypeInfo info;
  info.name = "registry-probe";
  moss::TypeIndex t = moss::Heap::register_type(info);
  CHECK(std::string(moss::Heap::type_info(t).name) == "registry-probe");
  moss::TypeInfo unnamed;
  unnamed.name = nullptr;
  CHECK(std::string(moss::Heap::type_info(moss::Heap::register_type(unnamed)).name) == "object");
}

TEST_CASE("a SizedType allocates what allocate(type, bytes) does, and a default one is a UsageError") {
  static const moss::TypeIndex compact = moss::Heap::register_type({"compact-sized", nullptr, nullptr, moss::type_align8});
  moss::Heap heap(manual());
  std::vector<void*> objs;
  for (moss::TypeIndex type : {leaf_type(), compact}) {
    for (int round = 0; round < 2; ++round) {  // the second round reuses dirtied slots
      for (std::size_t n = 0; n <= 70000; n += (n < 600 ? 1 : 4999)) {
        CAPTURE(type);
        CAPTURE(n);
        moss::SizedType sized = moss::Heap::sized_type(type, n);
        REQUIRE(sized.type() == type);
        REQUIRE(sized.bytes() == n);
        auto* p = static_cast<unsigned char*>(heap.allocate(sized));
        void* q = heap.allocate(type, n);
        REQUIRE(heap.object_size(p) == heap.object_size(q));
        REQUIRE(heap.find_object(p) == p);
        REQUIRE(reinterpret_cast<std::uintptr_t>(p) % (type == compact && n + 8 <= 64 ? 8 : 16) == 0);
        bool zero = true;
        for (std::size_t i = 0; i < n; ++i) zero = zero && p[i] == 0;
        REQUIRE(zero);
        std::memset(p, 0xCD, heap.object_size(p));
        objs.push_back(p);
        objs.push_back(q);
      }
      for (void* o : objs) heap.free(o);
      objs.clear();
    }
  }
  CHECK(heap.stats().live_objects == 0);
  CHECK_THROWS_AS(moss::Heap::sized_type(999999, 16), moss::UsageError);
  // A size past 4 GiB is kept whole: the heap limit refuses it, as allocate(type, bytes) does.
  moss::HeapOptions limited = manual();
  limited.heap_limit = 64u << 20;
  moss::Heap small(limited);
  moss::SizedType huge = moss::Heap::sized_type(leaf_type(), (std::size_t{1} << 32) + 16);
  CHECK(huge.bytes() == (std::size_t{1} << 32) + 16);
  CHECK_THROWS_AS(small.allocate(huge), moss::OutOfMemory);
  small.verify();
  CHECK_THROWS_AS(heap.allocate(moss::SizedType{}), moss::UsageError);
  heap.verify();
  CHECK(heap.stats().live_objects == 0);
}

TEST_CASE("four heaps on four threads allocate and free at once") {
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &ok] {
      moss::Heap heap(manual());
      std::mt19937 rng(static_cast<unsigned>(t));
      std::vector<std::pair<unsigned char*, std::size_t>> live;
      bool good = true;
      for (int i = 0; i < 60000; ++i) {
        if (live.empty() || rng() % 2) {
          std::size_t n = rng() % (rng() % 50 == 0 ? 40000 : 300);
          auto* p = static_cast<unsigned char*>(heap.allocate(leaf_type(), n));
          std::memset(p, t + 1, n);
          live.emplace_back(p, n);
        } else {
          std::size_t k = rng() % live.size();
          for (std::size_t j = 0; j < live[k].second; ++j) good = good && live[k].first[j] == t + 1;
          heap.free(live[k].first);
          live[k] = live.back();
          live.pop_back();
        }
      }
      heap.verify();
      ok[static_cast<std::size_t>(t)] = good ? 1 : 0;
    });
  }
  for (auto& th : threads) th.join();
  CHECK(ok == std::vector<int>{1, 1, 1, 1});
}

TEST_CASE("refcount heaps on four threads count, promote and free at once") {
  // Each thread's heap marks its old objects' slots in the process-wide
  // bitmap of counted slots while the others do the same for theirs.
  struct Link {
    moss::Member<Link> next;
    long value = 0;
    explicit Link(long v) : value(v) {}
    void trace(moss::Visitor& v) const { v.visit(next); }
  };
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &ok] {
      moss::HeapOptions o;
      o.collector = moss::Collector::refcount;
      moss::Heap heap(o);
      moss::Root<Link> head(heap, moss::make<Link>(heap, -1));
      std::mt19937 rng(static_cast<unsigned>(t) + 7);
      long expected_sum = -1;
      bool good = true;
      for (int i = 0; i < 40000; ++i) {
        Link* young = moss::make<Link>(heap, i);
        young->next = moss::make<Link>(heap, 0);  // a plain store: young holder
        switch (rng() % 4) {
          case 0:  // into the (old) list: counted
            young->next = head->next.get();
            head->next = young;
            expected_sum += i;
            break;
          case 1:  // cut the list after its first element
            if (Link* first = head->next.get()) {
              for (Link* x = first->next.get(); x != nullptr; x = x->next.get()) expected_sum -= x->value;
              first->next = nullptr;
            }
            break;
          default:  // garbage
            break;
        }
        if (i % 5000 == 0) heap.verify();
      }
      heap.collect();
      long sum = 0;
      for (Link* x = head.get(); x != nullptr; x = x->next.get()) sum += x->value;
      good = good && sum == expected_sum && heap.stats().live_objects < 40000;
      heap.verify();
      ok[static_cast<std::size_t>(t)] = good ? 1 : 0;
    });
  }
  for (auto& th : threads) th.join();
  CHECK(ok == std::vector<int>{1, 1, 1, 1});
}

TEST_CASE("stats count allocations and the heap's span bytes") {
  moss::Heap heap(manual());
  moss::HeapStats before = heap.stats();
  void* a = heap.allocate(leaf_type(), 24);
  void* b = heap.allocate(leaf_type(), 100000);
  moss::HeapStats after = heap.stats();
  CHECK(after.allocated_objects == before.allocated_objects + 2);
  CHECK(after.allocated_bytes >= before.allocated_bytes + 100024);
  CHECK(after.heap_bytes >= 100000 + moss::detail::kPageSize);
  CHECK(after.resident_bytes >= after.heap_bytes);
  heap.free(a);
  heap.free(b);
  CHECK(heap.stats().freed_objects == 2);
}
