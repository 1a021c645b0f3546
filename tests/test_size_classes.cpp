// tests/test_size_classes.cpp — the size-class table keeps Go's two waste
// bounds, its lookups pick the smallest fitting class, and the multiply-
// based slot index equals division for every offset in every span, and
// the exact-start test (Span::exact_index) accepts payload starts only.
#include <doctest/doctest.h>

#include <cstdint>

#include "runtime/size_classes.hpp"
#include "runtime/span.hpp"

using namespace moss::detail;

TEST_CASE("there are about as many size classes as Go has, up to 32 KiB") {
  CHECK(kNumSizeClasses - 1 >= 60);
  CHECK(kNumSizeClasses - 1 <= 90);
  CHECK(size_class(kNumSizeClasses - 1).slot_size == kMaxSmallSlot);
  CHECK(kMaxSmallSlot >= 32 * 1024 - 32);
}

TEST_CASE("every class keeps tail waste within 1/8 of its span") {
  for (std::size_t c = 1; c < kNumSizeClasses; ++c) {
    const SizeClass& sc = size_class(c);
    CAPTURE(sc.slot_size);
    std::size_t span = sc.pages * kPageSize;
    std::size_t used = kSlotOffset + std::size_t{sc.slots} * sc.slot_size;
    CHECK(used <= span);
    CHECK((span - used) * 8 <= span);
    CHECK(sc.slots >= 1);
    CHECK(sc.slots <= kMaxSlotsPerSpan);
  }
}

TEST_CASE("every class keeps rounding waste within 1/8 where alignment allows, for either alignment") {
  for (bool align8 : {false, true}) {
    CAPTURE(align8);
    std::uint32_t prev = 0;
    for (std::size_t c = 1; c < kNumSizeClasses; ++c) {
      std::uint32_t slot = size_class(c).slot_size;
      CAPTURE(slot);
      CHECK(slot % kCompactAlignment == 0);
      CHECK(slot > prev);
      // Slots that leave payloads only 8-byte aligned are the 24-, 40- and
      // 56-byte ones; every other class keeps the 16-byte alignment.
      CHECK(keeps_alignment(slot) == (slot != 24 && slot != 40 && slot != 56));
      if (!align8 && !keeps_alignment(slot)) continue;
      if (slot >= 128) {
        // The worst request is one byte over the previous class.
        CHECK((slot - prev - 1) * 8 <= slot);
      } else if (slot <= 64 && align8) {
        CHECK(slot - prev == (prev == 0 ? 16 : kCompactAlignment));  // every 8 bytes up to 64
      } else {
        CHECK(slot - prev == (prev == 0 ? 16 : kAlignment));  // every 16 bytes up to 128
      }
      prev = slot;
    }
  }
}

TEST_CASE("lookup returns the smallest class that fits every payload size and keeps its alignment") {
  for (bool align8 : {false, true}) {
    for (std::size_t payload = 0; payload <= kMaxSmallPayload; ++payload) {
      std::size_t c = size_class_for_payload(payload, align8 ? kAlign8TypeFlag : 0);
      CAPTURE(align8);
      CAPTURE(payload);
      REQUIRE(c >= 1);
      REQUIRE(c < kNumSizeClasses);
      std::size_t slot = size_class(c).slot_size;
      REQUIRE(slot >= payload + kHeaderSize);
      if (!align8) REQUIRE(keeps_alignment(slot));
      // No smaller class of the same alignment fits.
      bool smaller_fits = false;
      for (std::size_t d = 1; d < c; ++d) {
        std::size_t smaller = size_class(d).slot_size;
        if ((align8 || keeps_alignment(smaller)) && smaller >= payload + kHeaderSize) smaller_fits = true;
      }
      REQUIRE_FALSE(smaller_fits);
    }
  }
  // A two-word payload: 24 bytes with type_align8, 32 without.
  CHECK(size_class(size_class_for_payload(16, kAlign8TypeFlag)).slot_size == 24);
  CHECK(size_class(size_class_for_payload(16, 0)).slot_size == 32);
}

TEST_CASE("the multiply-based slot index equals division for every offset") {
  for (std::size_t c = 1; c < kNumSizeClasses; ++c) {
    const SizeClass& sc = size_class(c);
    std::size_t usable = sc.pages * kPageSize - kSlotOffset;
    bool all_equal = true;
    for (std::size_t off = 0; off < usable; ++off) {
      if (slot_index(off, sc.magic) != off / sc.slot_size) {
        all_equal = false;
        break;
      }
    }
    CAPTURE(sc.slot_size);
    CHECK(all_equal);
  }
}

namespace {
// What Span::exact_index should answer for offset `off` from the span's
// start, by division.
std::uint32_t expected_exact(std::int64_t off, std::uint32_t slot_size, std::uint32_t slots) {
  std::int64_t first = static_cast<std::int64_t>(kSlotOffset + kHeaderSize);
  if (off < first || (off - first) % slot_size != 0) return slots;
  std::int64_t i = (off - first) / slot_size;
  return i < slots ? static_cast<std::uint32_t>(i) : slots;
}

// Checks every offset from two slots before the span to two slots past it,
// and addresses far outside it (no memory is touched: addresses only).
bool exact_index_agrees(Span& s) {
  auto slot = static_cast<std::int64_t>(s.slot_size);
  auto bytes = static_cast<std::int64_t>(s.pages * kPageSize);
  for (std::int64_t off = -2 * slot; off < bytes + 2 * slot; ++off) {
    if (s.exact_index(s.start + off) != expected_exact(off, s.slot_size, s.slots)) return false;
  }
  for (std::int64_t far : {std::int64_t{1} << 40, -(std::int64_t{1} << 40), std::int64_t{1} << 62}) {
    if (s.exact_index(s.start + far) != s.slots) return false;
  }
  return true;
}
}  // namespace

TEST_CASE("the exact-start test names the slot of each payload start and rejects every other address") {
  char* base = reinterpret_cast<char*>(std::uintptr_t{1} << 44);
  for (std::size_t c = 1; c < kNumSizeClasses; ++c) {
    const SizeClass& sc = size_class(c);
    Span s;
    s.start = base;
    s.pages = sc.pages;
    s.state = SpanState::small;
    s.init_in_use(SpanState::small, static_cast<std::uint8_t>(c), sc.slot_size, sc.slots, false);
    CAPTURE(sc.slot_size);
    CHECK(exact_index_agrees(s));
  }
  for (std::size_t pages : {5u, 17u}) {
    Span s;
    s.start = base;
    s.pages = pages;
    s.state = SpanState::large;
    s.init_in_use(SpanState::large, 0, static_cast<std::uint32_t>(pages * kPageSize - kSlotOffset), 1, false);
    CAPTURE(pages);
    CHECK(exact_index_agrees(s));
  }
}
