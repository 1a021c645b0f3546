// tests/test_size_classes.cpp — the size-class table keeps Go's two waste
// bounds, its lookups pick the smallest fitting class, and the multiply-
// based slot index equals division for every offset in every span.
#include <doctest/doctest.h>

#include "runtime/size_classes.hpp"

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

TEST_CASE("every class keeps rounding waste within 1/8 where alignment allows") {
  for (std::size_t c = 1; c < kNumSizeClasses; ++c) {
    std::uint32_t slot = size_class(c).slot_size;
    std::uint32_t prev = c > 1 ? size_class(c - 1).slot_size : 0;
    CAPTURE(slot);
    CHECK(slot % kAlignment == 0);
    CHECK(slot > prev);
    if (slot >= 128) {
      // The worst request is one byte over the previous class.
      CHECK((slot - prev - 1) * 8 <= slot);
    } else {
      CHECK(slot - prev == kAlignment);  // below 128 bytes: every 16 bytes
    }
  }
}

TEST_CASE("lookup returns the smallest class that fits every payload size") {
  for (std::size_t payload = 0; payload <= kMaxSmallPayload; ++payload) {
    std::size_t c = size_class_for_payload(payload);
    CAPTURE(payload);
    REQUIRE(c >= 1);
    REQUIRE(c < kNumSizeClasses);
    REQUIRE(size_class(c).slot_size >= payload + kHeaderSize);
    if (c > 1) REQUIRE(size_class(c - 1).slot_size < payload + kHeaderSize);
  }
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
