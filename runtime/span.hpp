// runtime/span.hpp — a run of pages: free, a small-object span, or one large
// object.
//
// A small-object span holds slots of one size class. Its side tables:
//  - alloc bits: bit i set <=> slot i holds an allocated object (live, or dead
//    but not yet swept), or is a free slot the free cache holds (see below);
//  - mark bits: set by a collector's marker; sweeping makes them the new
//    alloc bits and clears the other table (the two tables swap, Go style);
//  - the free cache: free slots of one alloc-bit word, the word whose first
//    slot is `free_index` (bit b is slot free_index + b). Allocation takes
//    its lowest set bit (count trailing zeros) and clears it, so the fast
//    path writes one word of the span record; an empty cache sends
//    allocation to the slow path, which reloads it from the first word with
//    a free slot. Loading the cache claims its slots: their alloc bits are
//    set then, not one by one as allocation hands them out (one store per
//    word instead of a read-modify-write per object), and a slot freed back
//    into the cache keeps its bit. So the alloc bits overstate by the
//    cache, and whoever asks which slots hold objects asks is_allocated /
//    allocated_word, which take the cache out; drop_cache gives the claimed
//    slots back before anything rewrites the bitmaps wholesale (sweeping).
// Invariants: free_index is a multiple of 64 (or `slots` when no word has a
// free slot, and then the cache is empty); the cache's bits are a subset of
// its word's alloc bits; alloc_count == popcount(allocated words); bits past
// `slots` are never set in the free cache.
//
// A large span holds one object in slot 0 and uses bit 0 of the tables.
// Pointer-free ("noscan") objects live in spans of their own that the marker
// never scans.
//
// Span records live outside the span's pages, in a pool owned by the page
// heap, and are never unmapped, so a stale pagemap read is memory-safe.
// Owners: the page heap (free spans), one heap's SpanCache (in-use spans).
#pragma once

#include <atomic>
#include <bit>
#include <boost/intrusive/list.hpp>
#include <boost/intrusive/set.hpp>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "moss/member.hpp"
#include "runtime/assert.hpp"
#include "runtime/size_classes.hpp"

namespace moss::detail {

class SpanCache;

enum class SpanState : std::uint8_t { free, small, large };
// Which part of the address space a span's pages belong to (page_heap.hpp):
// ordinary spans, or the zone kept for local scopes' spans.
enum class Zone : std::uint8_t { heap, scope };

inline constexpr std::size_t kBitmapWords = kMaxSlotsPerSpan / 64;
inline constexpr std::uint64_t kSweepingGen = ~std::uint64_t{0};

struct ObjectHeader {
  std::uint32_t type;      // TypeIndex; kNoType for a slot that holds nothing
  std::uint32_t gc_state;  // collector-owned: flags, and the count under refcount
};
static_assert(sizeof(ObjectHeader) == kHeaderSize);

// gc_state bits shared by every collector. The low 22 bits are the
// collector's own (the count and colours under refcount). Bits 22..29 hold
// the allocation site (runtime/escape/sites.hpp) of an object allocated into
// a LocalScope, while kLocalBit says it has not escaped; both are cleared
// when it escapes.
inline constexpr std::uint32_t kFinalizedBit = 1u << 31;  // finalizer has run
inline constexpr std::uint32_t kLocalBit = 1u << 30;      // lives in a LocalScope, not escaped
inline constexpr std::uint32_t kSiteShift = 22;
inline constexpr std::uint32_t kSiteMask = 0xFFu << kSiteShift;
inline constexpr std::uint32_t kCollectorBits = (1u << kSiteShift) - 1;
static_assert(kLocalBit == kHeaderLocalBit && offsetof(ObjectHeader, gc_state) == 4,
              "the barrier's inline scope-local test (moss/member.hpp) reads this bit");

inline ObjectHeader* header_of(void* payload) {
  return reinterpret_cast<ObjectHeader*>(static_cast<char*>(payload) - kHeaderSize);
}
inline const ObjectHeader* header_of(const void* payload) {
  return reinterpret_cast<const ObjectHeader*>(static_cast<const char*>(payload) - kHeaderSize);
}

struct ScopeSpans;  // runtime/escape/scope_spans.hpp

using FreeIndexHook = boost::intrusive::set_member_hook<>;
using ListHook = boost::intrusive::list_member_hook<>;

struct Span {
  // --- page-heap fields ---
  char* start = nullptr;          // first byte of the first page
  std::size_t pages = 0;
  SpanState state = SpanState::free;
  bool dirty = false;             // free span: some pages may hold old data
  Zone zone = Zone::heap;         // the zone whose arena the pages came from
  std::size_t resident_pages = 0; // free span: pages not yet returned to the OS
  std::size_t released_tail = 0;  // free span: pages at its high end known returned
  FreeIndexHook free_index_hook;  // page heap: the free-span index
  ListHook age_hook;              // page heap: free spans, oldest freed first
  Span* next_unused = nullptr;    // span record pool

  // --- in-use fields ---
  std::atomic<SpanCache*> owner{nullptr};
  std::uint8_t size_class = 0;    // 0 for large spans
  bool noscan = false;            // holds pointer-free objects only
  bool needs_zero = false;        // free slots may hold old data
  std::uint8_t list = 0;          // which owner list holds it (SpanCache::ListKind)
  std::uint32_t slot_size = 0;
  std::uint32_t slots = 0;
  std::uint32_t magic = 0;
  // Exact-start test (exact_index): slot_size = odd << exact_shift, and
  // exact_inverse * odd == 1 (mod 2^64). A large span has shift 0 and
  // inverse 1 (only offset 0 is a start).
  std::uint32_t exact_shift = 0;
  std::uint64_t exact_inverse = 1;
  std::uint32_t free_index = 0;
  std::uint32_t alloc_count = 0;
  std::uint32_t swept_epoch = 0;  // the owner's sweep epoch this span was filed in (owner thread only)
  // Whose sweep the bitmaps reflect: (owner's cache id << 32) | epoch, or
  // kSweepingGen while a sweeper (the owner, or a helper thread of its
  // heap) holds the span. A helper claims a span by compare-and-swap from
  // the owner's previous generation, so a record that changed hands never
  // matches (span_cache.hpp, "Background sweeping").
  std::atomic<std::uint64_t> bits_gen{0};
  // Scope spans (runtime/escape/scope_spans.hpp): the depth of the LocalScope
  // that owns the span (0: an ordinary heap span) and how many of its
  // objects escaped (an upper bound; explicit frees do not lower it).
  std::uint32_t cache_index = 0;   // position in the owner's list of all its spans
  std::uint32_t scope_depth = 0;
  std::uint32_t escaped = 0;
  // Any span: whether an object of a type with a finalizer may be in it
  // (false: the sweep and explicit frees need not look at object types).
  bool has_finalizable = false;
  // A scope span: a heap object (not a local one of an open scope) may
  // have been stored into one of its objects (refcount traces such spans
  // with the stacks; gc/refcount/refcount.hpp).
  bool refers_out = false;
  // A span in the scope pool that a closed scope record still names as its
  // current span for the class (null: none), to take back when it reopens.
  ScopeSpans* parked_by = nullptr;
  // Slots from here up hold no old data but for those of the cache word
  // now loaded that the cache has handed out: refill_cache raises it to the
  // start of each word it loads (scope spans clear [0, that) in bulk when
  // pooled).
  std::uint32_t zeroed_from = 0;
  // The owner's young-span period that listed this span (SpanCache::
  // track_young_spans; 0: none).
  std::uint32_t young_period = 0;
  std::uint64_t free_cache = 0;
  std::uint64_t* alloc_bits = bits_a;
  std::uint64_t* mark_bits = bits_b;
  ListHook list_hook;             // the owner's partial/full/unswept/large lists
  std::uint64_t bits_a[kBitmapWords] = {};
  std::uint64_t bits_b[kBitmapWords] = {};

  char* first_slot() const { return start + kSlotOffset; }
  char* end() const { return start + pages * kPageSize; }
  std::size_t bytes() const { return pages * kPageSize; }

  // Payload address of slot i.
  void* payload(std::uint32_t i) const { return first_slot() + std::size_t{i} * slot_size + kHeaderSize; }

  // The slot index holding `address`, or slots if it is past the last slot
  // or before the first.
  std::uint32_t index_of(const void* address) const {
    const char* a = static_cast<const char*>(address);
    if (a < first_slot()) return slots;
    std::uint32_t i = slot_index(static_cast<std::size_t>(a - first_slot()), magic);  // large: magic 0, slot 0
    return i < slots ? i : slots;
  }

  // Whether `address` is exactly a slot's payload start (not inside an
  // object, in a gap or outside the span), and which (`index`): one rotate
  // and one multiply by the inverse of the slot size's odd part. With the
  // offset x = odd << shift times q for a slot q, rotating right by shift
  // gives odd * q, and the multiply gives back q. Any other offset gives a
  // number no slot has: one with low bits set rotates them to the top,
  // past every multiple odd * q of a slot (those stay below the span's
  // size), and the multiply maps distinct numbers to distinct numbers; an
  // address below the span wraps to a huge offset, which fails the same way.
  bool exact_slot(const void* address, std::uint32_t& index) const {
    std::uint64_t x = reinterpret_cast<std::uintptr_t>(address) - reinterpret_cast<std::uintptr_t>(start) -
                      (kSlotOffset + kHeaderSize);
    std::uint64_t q = std::rotr(x, static_cast<int>(exact_shift)) * exact_inverse;
    index = static_cast<std::uint32_t>(q);
    return q < slots;
  }
  // The same as a slot index, or `slots` for anything but a payload start.
  std::uint32_t exact_index(const void* address) const {
    std::uint32_t i = 0;
    return exact_slot(address, i) ? i : slots;
  }

  // The slots of alloc-bit word w that hold objects (the alloc bits less
  // the free cache's claimed slots).
  std::uint64_t allocated_word(std::uint32_t w) const { return alloc_bits[w] & ~cached_in_word(w); }
  // The free cache as a mask over word w (0 unless it is the cache's word).
  std::uint64_t cached_in_word(std::uint32_t w) const { return (free_index >> 6) == w ? free_cache : 0; }
  MOSS_INLINE bool is_allocated(std::uint32_t i) const {
    std::uint32_t d = i - free_index;  // wraps for a slot below the cache's word
    bool cached = d < 64 && ((free_cache >> d) & 1) != 0;
    return ((alloc_bits[i >> 6] >> (i & 63)) & 1) != 0 && !cached;
  }
  bool is_marked(std::uint32_t i) const { return (mark_bits[i >> 6] >> (i & 63)) & 1; }
  void set_mark(std::uint32_t i) { mark_bits[i >> 6] |= std::uint64_t{1} << (i & 63); }
  void clear_mark(std::uint32_t i) { mark_bits[i >> 6] &= ~(std::uint64_t{1} << (i & 63)); }
  // Sets the mark bit; returns true if it was clear (the object turned grey).
  bool try_mark(std::uint32_t i) {
    std::uint64_t bit = std::uint64_t{1} << (i & 63);
    std::uint64_t& word = mark_bits[i >> 6];
    if (word & bit) return false;
    word |= bit;
    return true;
  }

  // The same for markers running on several threads at once.
  bool try_mark_shared(std::uint32_t i) {
    std::uint64_t bit = std::uint64_t{1} << (i & 63);
    std::atomic_ref<std::uint64_t> word(mark_bits[i >> 6]);
    if (word.load(std::memory_order_relaxed) & bit) return false;
    return (word.fetch_or(bit, std::memory_order_relaxed) & bit) == 0;
  }

  // The allocation fast path: a slot from the free cache, or null.
  MOSS_INLINE void* take_from_cache(std::uint32_t& index_out) {
    std::uint64_t cache = free_cache;
    if (MOSS_UNLIKELY(cache == 0)) return nullptr;
    unsigned bit = static_cast<unsigned>(__builtin_ctzll(cache));
    std::uint32_t i = free_index + bit;
    free_cache = cache & (cache - 1);
    ++alloc_count;  // its alloc bit was set when the cache was loaded
    index_out = i;
    return payload(i);
  }

  // Loads the (empty) free cache from the first alloc-bit word that has a
  // free slot, claiming its free slots. Returns false if none is left.
  bool refill_cache();
  // Gives the cache's claimed slots back to the alloc bits and empties it.
  void drop_cache() {
    if (free_cache != 0) alloc_bits[free_index >> 6] &= ~free_cache;
    free_cache = 0;
  }
  // Drops the cache and loads it again (after frees outside its word).
  bool rewind_cache() {
    drop_cache();
    return refill_cache();
  }
  // Prepares a fresh in-use span: tables cleared, cache loaded.
  void init_in_use(SpanState kind, std::uint8_t cls, std::uint32_t slot_bytes, std::uint32_t slot_count, bool pointer_free);
  // Frees slot i if it holds an object (its alloc bit set and, in the
  // cache's word, not one of the cache's free slots); false, and nothing
  // changed, if not. Clears its mark bit, and a slot of the cache's word
  // goes back into the cache, keeping its alloc bit as the cache's claim
  // (the lowest slot goes first, so after a run of allocations the slot
  // just freed is the next handed out: last freed, first reused). Any other
  // slot's alloc bit is cleared, and it waits for the cache's rewind.
  MOSS_INLINE bool release_if_allocated(std::uint32_t i) {
    std::uint32_t w = i >> 6;
    std::uint64_t bit = std::uint64_t{1} << (i & 63);
    std::uint64_t word = alloc_bits[w];
    if ((word & bit) == 0) return false;
    if (i - free_index < 64) {  // the cache's word (free_index is a multiple of 64, or slots)
      if ((free_cache & bit) != 0) return false;
      free_cache |= bit;
    } else {
      alloc_bits[w] = word & ~bit;
    }
    mark_bits[w] &= ~bit;
    --alloc_count;
    needs_zero = true;
    return true;
  }

  std::uint32_t free_slots() const { return slots - alloc_count; }
};

struct SpanFreeIndexKey {
  using type = std::pair<std::size_t, const char*>;
  type operator()(const Span& s) const { return {s.pages, s.start}; }
};

using SpanList = boost::intrusive::list<Span, boost::intrusive::member_hook<Span, ListHook, &Span::list_hook>,
                                        boost::intrusive::constant_time_size<true>>;

}  // namespace moss::detail
