// moss/member.hpp — references from one managed object to another.
//
// A field of a managed object that refers to another managed object is a
// `moss::Member<T>` (strong) or `moss::WeakMember<T>` (weak: cleared when
// its target is reclaimed). Assigning one runs the barrier, the single entry
// point through which the collectors learn of heap-to-heap stores:
//  - mark-sweep, while marking: the old and new targets are shaded grey;
//  - refcount: the new target's count goes up, the old one's down;
//  - escape-aware allocation: a scope-local target stored into an object
//    outside its scope escapes.
// The inline part marks the slot's card (a byte store, for generational
// mark-sweep) and compares the value with a threshold: it sends a store to
// the slow path only while a heap in the process needs it (marking in
// progress) or, with local scopes open, when the value lies where
// scope-local objects do. A refcount heap counts stores into its old
// objects only: their slots are marked in a bitmap (one bit per 8 bytes),
// which the inline part tests as well; stores into young objects stay
// plain stores.
//
// A Member that is not inside a managed object (on the stack, in a plain
// struct) is an ordinary pointer; the barrier finds out which by address.
// A Member's value is null or the start of a managed object (what make()
// and allocate() return): the barrier may read the value's header.
// Members read like pointers: `->`, `*`, `get()`, and test as bool.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace moss {

namespace detail {
// The barrier's value test: a store of a value at or above this address
// takes the slow path. 0 (every store, null included) while a heap is
// marking or a refcount heap has no bitmap of counted slots; otherwise the
// floor of the address range where scope-local objects live while local
// scopes are open, and UINTPTR_MAX when they are not (refcount heaps test
// the slot instead: counted_slot below). See runtime/barrier.hpp.
extern std::atomic<std::uintptr_t> barrier_threshold;

// The barrier's slow path: stores `value` into the strong slot `slot`.
void write_barrier_slow(void** slot, void* value);
// The same for a slot that may hold words other than references
// (moss::write_word).
void word_barrier_slow(void** slot, void* word);
// The same for a weak slot.
void weak_barrier_slow(void** slot, void* value);

// An object's header is the 8 bytes before it; bit 30 of its second word
// says the object lives in a LocalScope and has not escaped
// (runtime/span.hpp checks that this agrees with the heap's layout).
inline constexpr std::uint32_t kHeaderLocalBit = 1u << 30;
inline bool is_scope_local(const void* object) {
  std::uint32_t state;
  __builtin_memcpy(&state, static_cast<const char*>(object) - 4, sizeof state);
  return (state & kHeaderLocalBit) != 0;
}

inline bool needs_slow_barrier(const void* value) {
  return reinterpret_cast<std::uintptr_t>(value) >= barrier_threshold.load(std::memory_order_relaxed);
}

// Card marking, the remembered set of generational mark-sweep: a store
// into a slot in the range where the page heap places ordinary arenas
// marks the slot's 512-byte card dirty (one byte), so that a minor
// collection finds the old objects written since the last collection
// without tracing every old object (runtime/barrier.hpp).
inline constexpr std::uintptr_t kCardBase = std::uintptr_t{0x2000} << 32;
inline constexpr unsigned kCardShift = 9;
extern std::atomic<std::uint8_t*> card_bytes;
extern std::atomic<std::uintptr_t> card_count;  // cards covered from kCardBase (0: no table)
inline void mark_card(const void* slot) {
  std::uintptr_t c = (reinterpret_cast<std::uintptr_t>(slot) - kCardBase) >> kCardShift;
  if (c < card_count.load(std::memory_order_acquire)) card_bytes.load(std::memory_order_relaxed)[c] = 1;
}

// Counted slots, for refcount heaps (runtime/barrier.hpp): one bit per
// 8-byte granule of the range the card table covers says a store there
// goes to the slow path; so does every store outside that range.
// count_granules is 0 while no refcount heap has a bitmap to use (then only
// the threshold decides: one load and a branch for everyone else).
inline constexpr unsigned kCountShift = 3;
extern std::atomic<std::uint8_t*> count_bits;
extern std::atomic<std::uintptr_t> count_granules;
// Weak stores all take the slow path while this is set (refcount: weak
// slots of young objects are registered too).
extern std::atomic<bool> weak_barrier_all;
// Outside that range, a store takes the slow path unless the slot lies in
// a page of the scope zone that a refcount heap marked plain: a page of a
// scope span whose objects are all still local and already known to refer
// to heap objects (runtime/barrier.hpp), one byte per page.
inline constexpr std::uintptr_t kScopePlainBase = std::uintptr_t{0x4000} << 32;
inline constexpr unsigned kScopePlainShift = 13;
inline constexpr std::uintptr_t kScopePlainPages = (std::uintptr_t{1} << 40) >> kScopePlainShift;
extern std::atomic<std::uint8_t*> scope_plain_pages;
inline bool plain_scope_slot(const void* slot) {
  std::uintptr_t p = (reinterpret_cast<std::uintptr_t>(slot) - kScopePlainBase) >> kScopePlainShift;
  return p < kScopePlainPages && scope_plain_pages.load(std::memory_order_relaxed)[p] != 0;
}
inline bool counted_slot(const void* slot) {
  std::uintptr_t n = count_granules.load(std::memory_order_relaxed);
  if (n == 0) [[likely]] return false;
  std::uintptr_t g = (reinterpret_cast<std::uintptr_t>(slot) - kCardBase) >> kCountShift;
  if (g >= n) return !plain_scope_slot(slot);
  return ((count_bits.load(std::memory_order_relaxed)[g >> 3] >> (g & 7)) & 1) != 0;
}

inline void write_reference(void** slot, void* value) {
  mark_card(slot);
  if (needs_slow_barrier(value) || counted_slot(slot)) [[unlikely]] {
    write_barrier_slow(slot, value);
  } else {
    *slot = value;
  }
}
inline void write_word(void** slot, void* word) {
  mark_card(slot);
  if (needs_slow_barrier(word) || counted_slot(slot)) [[unlikely]] {
    word_barrier_slow(slot, word);
  } else {
    *slot = word;
  }
}
inline void write_weak_reference(void** slot, void* value) {
  mark_card(slot);
  if (needs_slow_barrier(value) || weak_barrier_all.load(std::memory_order_relaxed)) [[unlikely]] {
    weak_barrier_slow(slot, value);
  } else {
    *slot = value;
  }
}
}  // namespace detail

// Stores `word` into `*slot`, a word that holds either a reference (null or
// the start of a managed object) or any other value: an interpreter's
// tagged value slot, say (trace such a slot with Visitor::visit_word). The
// same barrier as a Member's, whose slow path treats `word` as a reference
// only if it is the start of a live object. Like a Member, the slot may be
// anywhere; inside a managed object it must be an aligned word. Heap::write
// does the same after checking that the slot lies in its holder; this is
// the unchecked, inline form for embedders that know their slots.
inline void write_word(void** slot, void* word) { detail::write_word(slot, word); }

template <class T>
class Member {
 public:
  Member() = default;
  Member(std::nullptr_t) {}
  Member(T* value) { detail::write_reference(raw_slot(), value); }
  Member(const Member& other) { detail::write_reference(raw_slot(), other.get()); }
  Member& operator=(const Member& other) { return *this = other.get(); }
  Member& operator=(T* value) {
    detail::write_reference(raw_slot(), const_cast<void*>(static_cast<const void*>(value)));
    return *this;
  }
  Member& operator=(std::nullptr_t) { return *this = static_cast<T*>(nullptr); }

  T* get() const { return ptr_; }
  T* operator->() const { return ptr_; }
  T& operator*() const { return *ptr_; }
  operator T*() const { return ptr_; }
  explicit operator bool() const { return ptr_ != nullptr; }

  // The address of the stored pointer, for the collectors.
  void* const* slot() const { return reinterpret_cast<void* const*>(&ptr_); }

 private:
  void** raw_slot() { return reinterpret_cast<void**>(&ptr_); }
  T* ptr_ = nullptr;
};

template <class T>
class WeakMember {
 public:
  WeakMember() = default;
  WeakMember(std::nullptr_t) {}
  WeakMember(T* value) { detail::write_weak_reference(raw_slot(), value); }
  WeakMember(const WeakMember& other) { detail::write_weak_reference(raw_slot(), other.get()); }
  WeakMember& operator=(const WeakMember& other) { return *this = other.get(); }
  WeakMember& operator=(T* value) {
    detail::write_weak_reference(raw_slot(), const_cast<void*>(static_cast<const void*>(value)));
    return *this;
  }
  WeakMember& operator=(std::nullptr_t) { return *this = static_cast<T*>(nullptr); }

  T* get() const { return ptr_; }
  T* operator->() const { return ptr_; }
  T& operator*() const { return *ptr_; }
  operator T*() const { return ptr_; }
  explicit operator bool() const { return ptr_ != nullptr; }

  void* const* slot() const { return reinterpret_cast<void* const*>(&ptr_); }

 private:
  void** raw_slot() { return reinterpret_cast<void**>(&ptr_); }
  T* ptr_ = nullptr;
};

}  // namespace moss
