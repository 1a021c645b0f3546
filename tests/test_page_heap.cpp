// tests/test_page_heap.cpp — the process-wide page heap: pagemap lookups,
// span split and coalesce, the free-span index, the scavenger, and
// returning memory to the OS.
#include <doctest/doctest.h>

#include <moss/moss.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "runtime/barrier.hpp"
#include "runtime/os.hpp"
#include "runtime/page_heap.hpp"
#include "runtime/poison.hpp"
#include "support.hpp"

using namespace moss::detail;

TEST_CASE("every page of an allocated span maps to it; other addresses do not") {
  PageHeap& ph = PageHeap::instance();
  Span* s = ph.allocate(5);
  REQUIRE(s != nullptr);
  CHECK(s->pages == 5);
  CHECK(reinterpret_cast<std::uintptr_t>(s->start) % kPageSize == 0);
  for (std::size_t i = 0; i < 5; ++i) {
    CHECK(ph.lookup(s->start + i * kPageSize) == s);
    CHECK(ph.lookup(s->start + i * kPageSize + 4095) == s);
  }
  int on_stack = 0;
  CHECK(ph.lookup(&on_stack) == nullptr);
  CHECK(ph.lookup(nullptr) == nullptr);
  CHECK(ph.lookup(reinterpret_cast<void*>(~std::uintptr_t{0})) == nullptr);
  std::vector<char> on_malloc(100);
  CHECK(ph.lookup(on_malloc.data()) == nullptr);
  ph.free(s);
  CHECK(ph.verify() == nullptr);
}

TEST_CASE("freed neighbours coalesce into one free span") {
  PageHeap& ph = PageHeap::instance();
  // Take a region big enough that its pieces are carved consecutively.
  Span* big = ph.allocate(30);
  REQUIRE(big != nullptr);
  char* base = big->start;
  ph.free(big);
  Span* a = ph.allocate(30);
  REQUIRE(a->start == base);  // best fit, lowest address: the same pages
  ph.free(a);
  Span* x = ph.allocate(10);
  Span* y = ph.allocate(10);
  Span* z = ph.allocate(10);
  REQUIRE(x->start == base);
  REQUIRE(y->start == base + 10 * kPageSize);
  REQUIRE(z->start == base + 20 * kPageSize);
  ph.free(x);
  ph.free(z);
  CHECK(ph.verify() == nullptr);
  ph.free(y);  // joins both neighbours
  CHECK(ph.verify() == nullptr);
  Span* joined = ph.lookup(base);
  REQUIRE(joined != nullptr);
  CHECK(joined->state == SpanState::free);
  CHECK(joined->start <= base);
  CHECK(joined->end() >= base + 30 * kPageSize);
}

namespace {
// Frees one span of `live`, chosen at random, and forgets it.
void free_one_at_random(PageHeap& ph, std::vector<Span*>& live, std::mt19937& rng) {
  std::size_t i = rng() % live.size();
  ph.free(live[i]);
  live[i] = live.back();
  live.pop_back();
}
}  // namespace

TEST_CASE("randomized span allocation and free keeps the free-span index consistent, in both zones") {
  PageHeap& ph = PageHeap::instance();
  std::mt19937 rng(42);
  std::vector<Span*> live;
  const std::uintptr_t floor = scope_zone_floor();
  for (int step = 0; step < 4000; ++step) {
    if (live.empty() || rng() % 3 != 0) {
      std::size_t pages = 1 + rng() % (rng() % 8 == 0 ? 300 : 12);
      Zone zone = rng() % 4 == 0 ? Zone::scope : Zone::heap;
      Span* s = ph.allocate(pages, SpanState::small, zone);
      REQUIRE(s != nullptr);
      REQUIRE(s->pages == pages);
      // A scope span lies in the scope zone, at or above the floor (with
      // no zone, anywhere); an ordinary span below it.
      auto at = reinterpret_cast<std::uintptr_t>(s->start);
      if (floor != 0) {
        REQUIRE(s->zone == zone);
        if (zone == Zone::scope) REQUIRE(at >= floor);
        if (zone == Zone::heap && MOSS_TEST_PLACEMENT_HINTS) REQUIRE(at < floor);
      } else {
        REQUIRE(s->zone == Zone::heap);
      }
      for (Span* other : live) {  // no overlap with anything live
        bool disjoint = s->end() <= other->start || other->end() <= s->start;
        REQUIRE(disjoint);
      }
      live.push_back(s);
    } else {
      free_one_at_random(ph, live, rng);
    }
    if (step % 500 == 0) REQUIRE(ph.verify() == nullptr);
  }
  for (Span* s : live) ph.free(s);
  CHECK(ph.verify() == nullptr);
}

TEST_CASE("random traffic past the retain limit keeps the scavenger's accounting consistent") {
  // Spans up to 4 MiB, every page touched, freed in random order: free
  // resident pages keep crossing the retain limit, so the scavenger
  // releases whole spans and the tops of others, spans move between the
  // resident and released halves of the index, and allocation carves
  // partly released spans.
  PageHeap& ph = PageHeap::instance();
  std::mt19937 rng(7);
  std::vector<Span*> live;
  std::size_t released_before = ph.stats().released_bytes;
  for (int step = 0; step < 1500; ++step) {
    if (live.size() < 8 || rng() % 2 == 0) {
      std::size_t pages = 1 + rng() % (rng() % 4 == 0 ? 512 : 16);
      Span* s = ph.allocate(pages);
      REQUIRE(s != nullptr);
      for (std::size_t k = 0; k < pages; ++k) s->start[k * kPageSize] = 1;
      live.push_back(s);
    } else {
      free_one_at_random(ph, live, rng);
    }
    if (step % 300 == 299) ph.release_all();
    if (step % 25 == 0) REQUIRE(ph.verify() == nullptr);
    PageHeapStats st = ph.stats();
    REQUIRE(st.free_resident_bytes <= st.free_bytes);
  }
  CHECK(ph.stats().released_bytes > released_before);
  for (Span* s : live) ph.free(s);
  CHECK(ph.verify() == nullptr);
  ph.release_all();
  CHECK(ph.stats().free_resident_bytes == 0);
  CHECK(ph.verify() == nullptr);
}

TEST_CASE("release_all returns every free page to the OS and accounting follows") {
  PageHeap& ph = PageHeap::instance();
  std::vector<Span*> spans;
  for (int i = 0; i < 64; ++i) {
    Span* s = ph.allocate(16);
    std::memset(s->start, 1, s->bytes());  // make it resident
    spans.push_back(s);
  }
  for (Span* s : spans) ph.free(s);
  ph.release_all();
  PageHeapStats st = ph.stats();
  CHECK(st.free_resident_bytes == 0);
  CHECK(st.resident_bytes == st.in_use_bytes);
  CHECK(ph.verify() == nullptr);
  // Released pages come back zeroed.
  Span* again = ph.allocate(16);
  bool zero = true;
  for (std::size_t i = 0; i < again->bytes(); ++i) zero = zero && again->start[i] == 0;
  CHECK((again->dirty || zero));
  ph.free(again);
}

TEST_CASE("the scavenger releases only the excess, and allocation reuses resident pages first") {
  PageHeap& ph = PageHeap::instance();
  // A released one-page hole between two in-use spans: the exact best fit
  // for a one-page request, but taking it would fault a page in.
  std::vector<Span*> singles;
  Span* hole_left = nullptr;
  Span* hole = nullptr;
  Span* hole_right = nullptr;
  for (int i = 0; i < 256 && hole == nullptr; ++i) {
    singles.push_back(ph.allocate(1));
    std::size_t n = singles.size();
    if (n >= 3 && singles[n - 3]->end() == singles[n - 2]->start && singles[n - 2]->end() == singles[n - 1]->start) {
      hole_left = singles[n - 3];
      hole = singles[n - 2];
      hole_right = singles[n - 1];
    }
  }
  REQUIRE(hole != nullptr);
  char* hole_start = hole->start;
  for (Span* s : singles) {
    if (s != hole_left && s != hole_right) ph.free(s);
  }
  ph.release_all();
  REQUIRE(ph.stats().free_resident_bytes == 0);

  // 12 MiB made resident and freed: over the 8 MiB a heap-less process
  // retains, so the scavenger trims it to three quarters of that, not to 0.
  constexpr std::size_t kPages = (12u << 20) / kPageSize;
  Span* big = ph.allocate(kPages);
  std::memset(big->start, 1, big->bytes());
  std::size_t resident_before = os_resident_bytes();
  ph.free(big);
  PageHeapStats st = ph.stats();
  CHECK(st.free_resident_bytes >= (4u << 20));
  CHECK(st.free_resident_bytes <= PageHeap::kMinRetainBytes);
  std::size_t returned = kPages * kPageSize - st.free_resident_bytes;
  CHECK(resident_before - os_resident_bytes() >= returned - (1u << 20));
  CHECK(ph.verify() == nullptr);

  // A one-page request comes from the resident free pages, not the hole.
  std::size_t free_resident = st.free_resident_bytes;
  Span* one = ph.allocate(1);
  CHECK(one->start != hole_start);
  CHECK(ph.stats().free_resident_bytes == free_resident - kPageSize);
  CHECK(ph.verify() == nullptr);
  ph.free(one);
  ph.free(hole_left);
  ph.free(hole_right);
  ph.release_all();
  CHECK(ph.verify() == nullptr);
}

namespace {
struct Blob {
  char bytes[4000];
};
[[gnu::noinline]] void build_transient_peak(moss::Heap& heap, std::size_t bytes) {
  for (std::size_t done = 0; done < bytes; done += sizeof(Blob)) {
    auto* b = moss::make<Blob>(heap);
    std::memset(b->bytes, 7, sizeof b->bytes);
  }
}
}  // namespace

TEST_CASE("after a transient peak, release_memory brings resident memory back near live") {
  std::size_t before = os_resident_bytes();
  {
    moss::HeapOptions o;
    o.gc_percent = -1;  // no automatic collection: a real 512 MiB peak
    moss::Heap heap(o);
    build_transient_peak(heap, 512u << 20);
    CHECK(os_resident_bytes() > before + (400u << 20));
    heap.collect();
    heap.release_memory();
    std::size_t after = os_resident_bytes();
    // Live is ~0 here: what remains is the process's own memory plus a
    // few MiB. (AddressSanitizer's shadow memory is resident too, and
    // stays: the bound holds only without it.)
    if (!MOSS_ASAN) CHECK(after < before + (48u << 20));
    CHECK(heap.stats().resident_bytes <= PageHeap::instance().stats().in_use_bytes + (8u << 20));
  }
}

namespace {

// The VmFlags of the mapping that holds `address`, from /proc/self/smaps
// (empty if none does).
std::string vm_flags_of(const void* address) {
  FILE* f = std::fopen("/proc/self/smaps", "r");
  if (f == nullptr) return {};
  auto a = reinterpret_cast<std::uintptr_t>(address);
  char line[512];
  bool inside = false;
  std::string flags;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    unsigned long lo = 0, hi = 0;
    if (std::sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && std::strchr(line, ':') != nullptr &&
        std::strchr(line, '-') < std::strchr(line, ' ')) {
      inside = a >= lo && a < hi;
      continue;
    }
    if (inside && std::strncmp(line, "VmFlags:", 8) == 0) {
      flags = line + 8;
      break;
    }
  }
  std::fclose(f);
  return flags;
}

bool advised_huge(const void* address) {
  std::string flags = vm_flags_of(address);
  REQUIRE_FALSE(flags.empty());
  return (" " + flags).find(" hg") != std::string::npos;
}

// A span larger than any free one, so that the page heap reserves a new
// arena for it (it may start in a free span the new arena coalesced with,
// but its last page is in the new one).
Span* span_in_new_arena(PageHeap& ph) {
  std::size_t pages = ph.stats().free_bytes / kPageSize + kArenaSize / kPageSize;
  Span* s = ph.allocate(pages);
  REQUIRE(s != nullptr);
  return s;
}
char* last_page(Span* s) { return s->end() - kPageSize; }

}  // namespace

TEST_CASE("MOSS_HUGE_PAGES=on advises new ordinary arenas as huge-page memory; off (the default) does not") {
  PageHeap& ph = PageHeap::instance();
  const char* env = std::getenv("MOSS_HUGE_PAGES");
  CHECK(ph.huge_pages() == (env != nullptr && std::strcmp(env, "on") == 0));
  bool was = ph.huge_pages();
  FILE* thp = std::fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
  bool kernel_has_thp = thp != nullptr;
  if (thp != nullptr) std::fclose(thp);
  for (bool on : {true, false}) {
    CAPTURE(on);
    ph.set_huge_pages(on);
    Span* s = span_in_new_arena(ph);
    last_page(s)[0] = 1;
    // (A kernel built without transparent huge pages refuses the advice.)
    if (kernel_has_thp) CHECK(advised_huge(last_page(s)) == on);
    ph.free(s);
    CHECK(ph.verify() == nullptr);
  }
  ph.set_huge_pages(was);
  // A heap works the same either way (CI also runs the collector suite
  // with the switch on).
  moss::Heap heap;
  moss::Root<moss_test::Node> list(heap, moss_test::make_list(heap, 100000));
  heap.collect();
  CHECK(list->value == 99999);
  CHECK(heap.stats().live_objects >= 100000);
}
