// runtime/size_classes.hpp — segregated size classes for small objects.
//
// Go's recipe, computed at compile time (no checked-in table to go stale):
// a request is rounded up to a class ("slot") size; each class owns spans of
// a fixed page count that hold a fixed number of slots. A slot holds the
// 8-byte object header and the payload. The first slot of a span starts 8
// bytes into it, so the payload (header + 8) of a slot whose size is a
// multiple of 16 is 16-byte aligned, the alignment every object gets by
// default. Below 64 bytes there are also 24-, 40- and 56-byte slots, whose
// payloads are only 8-byte aligned: they serve types registered with
// type_align8 alone (a 16-byte payload then takes 24 bytes, not 32).
//
// Bounds, checked for every class by tests/test_size_classes.cpp:
//  - rounding waste at most 1/8: a request just above the previous class
//    wastes at most slot/8 of its slot (for classes of 128 bytes and up;
//    below that, classes are every 16 bytes, or 8 for type_align8, the
//    alignment, and so exact);
//  - span tail waste at most 1/8 of the span.
//
// Lookup is two tables (16-byte steps up to 1 KiB, 128-byte steps above;
// type_align8 types below 64 bytes have a third, in 8-byte steps), and the object index of an offset inside a span is
// a multiply and a shift, not a divide.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace moss::detail {

inline constexpr std::size_t kPageShift = 13;
inline constexpr std::size_t kPageSize = std::size_t{1} << kPageShift;  // 8 KiB
inline constexpr std::size_t kHeaderSize = 8;
inline constexpr std::size_t kSlotOffset = 8;  // first slot's offset in a span
inline constexpr std::size_t kAlignment = 16;       // of every payload by default
inline constexpr std::size_t kCompactAlignment = 8;  // of type_align8 payloads
// Whether slots of `slot_size` bytes keep payloads 16-byte aligned.
constexpr bool keeps_alignment(std::size_t slot_size) { return slot_size % kAlignment == 0; }
// The largest slot: four pages less the slot offset, rounded down to 16.
inline constexpr std::size_t kMaxSmallSlot = (4 * kPageSize - kSlotOffset) & ~(kAlignment - 1);
// The largest payload that is a small object; larger ones get a span each.
inline constexpr std::size_t kMaxSmallPayload = kMaxSmallSlot - kHeaderSize;
inline constexpr std::size_t kMaxSlotsPerSpan = 512;

struct SizeClass {
  std::uint32_t slot_size = 0;  // bytes per slot, header included
  std::uint32_t pages = 0;      // pages per span
  std::uint32_t slots = 0;      // slots per span
  std::uint32_t magic = 0;      // index = (offset * magic) >> 32
};

namespace size_class_generation {

constexpr std::size_t usable(std::size_t pages) { return pages * kPageSize - kSlotOffset; }

// The fewest pages whose tail waste for `slot` is at most 1/8 of the span.
constexpr std::size_t pages_for(std::size_t slot) {
  std::size_t pages = 1;
  while (usable(pages) < slot || usable(pages) % slot + kSlotOffset > pages * kPageSize / 8) ++pages;
  return pages;
}

struct Table {
  std::array<SizeClass, 96> classes{};
  std::size_t count = 1;  // class 0 is unused (it means "large")
};

constexpr Table generate() {
  Table t;
  std::size_t align = kCompactAlignment;  // 8-byte steps below 64 bytes
  auto add = [&t](std::size_t slot) {
    std::size_t pages = pages_for(slot);
    std::size_t slots = usable(pages) / slot;
    SizeClass& last = t.classes[t.count - 1];
    // A larger slot that fits as many per span in as many pages makes the
    // smaller class useless, unless dropping it would break the rounding
    // bound for the class before it.
    if (t.count > 1 && last.pages == pages && last.slots == slots) {
      std::size_t before = t.count > 2 ? t.classes[t.count - 2].slot_size : 0;
      if ((slot - before - 1) * 8 <= slot) {
        last.slot_size = static_cast<std::uint32_t>(slot);
        return;
      }
    }
    SizeClass c;
    c.slot_size = static_cast<std::uint32_t>(slot);
    c.pages = static_cast<std::uint32_t>(pages);
    c.slots = static_cast<std::uint32_t>(slots);
    t.classes[t.count++] = c;
  };
  std::size_t slot = 16;
  for (; slot <= kMaxSmallSlot; slot += align) {
    if ((slot & (slot - 1)) == 0) {  // power of two: widen the step
      if (slot == 64) {
        align = kAlignment;
      } else if (slot >= 2048) {
        align = 256;
      } else if (slot >= 128) {
        align = slot / 8;
      }
    }
    add(slot);
  }
  if (t.classes[t.count - 1].slot_size != kMaxSmallSlot) add(kMaxSmallSlot);
  for (std::size_t i = 1; i < t.count; ++i) {
    t.classes[i].magic = static_cast<std::uint32_t>(0xFFFFFFFFu / t.classes[i].slot_size + 1);
  }
  return t;
}

}  // namespace size_class_generation

inline constexpr size_class_generation::Table kSizeClassTable = size_class_generation::generate();
inline constexpr std::size_t kNumSizeClasses = kSizeClassTable.count;  // including unused class 0

inline constexpr const SizeClass& size_class(std::size_t index) { return kSizeClassTable.classes[index]; }

namespace size_class_generation {
constexpr std::size_t first_class_at_least(std::size_t slot, bool align8 = false) {
  for (std::size_t i = 1; i < kNumSizeClasses; ++i) {
    std::size_t size = kSizeClassTable.classes[i].slot_size;
    if (size >= slot && (align8 || keeps_alignment(size))) return i;
  }
  return 0;
}
// Entry i is the class of a slot of i * 16 bytes (16-byte aligned).
constexpr std::array<std::uint8_t, 1024 / 16 + 1> make_small_lookup() {
  std::array<std::uint8_t, 1024 / 16 + 1> a{};
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<std::uint8_t>(first_class_at_least(i * 16 == 0 ? 16 : i * 16));
  return a;
}
// Entry i is the class of a slot of i * 8 bytes for type_align8 types, up
// to 64 bytes (above, their classes are the 16-byte aligned ones).
constexpr std::array<std::uint8_t, 64 / 8 + 1> make_compact_lookup() {
  std::array<std::uint8_t, 64 / 8 + 1> a{};
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<std::uint8_t>(first_class_at_least(i * 8 < 16 ? 16 : i * 8, true));
  return a;
}
constexpr std::array<std::uint8_t, (kMaxSmallSlot - 1024 + 127) / 128 + 1> make_large_lookup() {
  std::array<std::uint8_t, (kMaxSmallSlot - 1024 + 127) / 128 + 1> a{};
  for (std::size_t i = 0; i < a.size(); ++i) {
    std::size_t slot = 1024 + i * 128;
    if (slot > kMaxSmallSlot) slot = kMaxSmallSlot;
    a[i] = static_cast<std::uint8_t>(first_class_at_least(slot));
  }
  return a;
}
}  // namespace size_class_generation

inline constexpr auto kSmallLookup = size_class_generation::make_small_lookup();
inline constexpr auto kCompactLookup = size_class_generation::make_compact_lookup();
inline constexpr auto kLargeLookup = size_class_generation::make_large_lookup();

// moss::type_align8's bit (moss/heap.hpp; type_registry.cpp checks it).
inline constexpr std::uint32_t kAlign8TypeFlag = 1u << 3;

// The class for a payload of `bytes` (at most kMaxSmallPayload) of a type
// with `type_flags`: 16-byte aligned unless the type has type_align8. (A
// branch on the flag, not arithmetic: the index of an ordinary type takes
// no more steps than it would without compact classes.)
inline std::size_t size_class_for_payload(std::size_t bytes, std::uint32_t type_flags) {
  std::size_t slot = bytes + kHeaderSize;
  if (slot <= 1024) [[likely]] {
    if ((type_flags & kAlign8TypeFlag) != 0 && slot <= 64) return kCompactLookup[(slot + 7) >> 3];
    return kSmallLookup[(slot + 15) >> 4];
  }
  return kLargeLookup[(slot - 1024 + 127) >> 7];
}

// The slot index of a byte offset from the span's first slot.
inline std::uint32_t slot_index(std::size_t offset, std::uint32_t magic) {
  return static_cast<std::uint32_t>((static_cast<std::uint64_t>(offset) * magic) >> 32);
}

}  // namespace moss::detail
