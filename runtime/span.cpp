// runtime/span.cpp — span bitmaps and the free cache (see span.hpp).
#include "runtime/span.hpp"

namespace moss::detail {

namespace {
// Bits of word w that name real slots.
std::uint64_t valid_mask(std::uint32_t w, std::uint32_t slots) {
  std::uint32_t first = w * 64;
  if (first + 64 <= slots) return ~std::uint64_t{0};
  std::uint32_t n = slots - first;
  return (std::uint64_t{1} << n) - 1;
}
}  // namespace

bool Span::refill_cache() {
  MOSS_ASSERT(free_cache == 0);
  std::uint32_t words = (slots + 63) / 64;
  for (std::uint32_t w = 0; w < words; ++w) {
    std::uint64_t free_bits = ~alloc_bits[w] & valid_mask(w, slots);
    if (free_bits != 0) {
      free_index = w * 64;
      if (free_index > zeroed_from) zeroed_from = free_index;
      free_cache = free_bits;
      alloc_bits[w] |= free_bits;  // claimed
      return true;
    }
  }
  free_index = slots;
  return false;
}

void Span::init_in_use(SpanState kind, std::uint8_t cls, std::uint32_t slot_bytes, std::uint32_t slot_count,
                       bool pointer_free) {
  MOSS_ASSERT(state == kind);  // set by the page heap, under its lock
  size_class = cls;
  slot_size = slot_bytes;
  slots = slot_count;
  magic = cls != 0 ? detail::size_class(cls).magic : 0;
  MOSS_ASSERT((kind == SpanState::small) == (cls != 0));  // index_of: a large span's magic is 0
  if (kind == SpanState::small) {
    exact_shift = static_cast<std::uint32_t>(__builtin_ctz(slot_bytes));
    std::uint64_t odd = slot_bytes >> exact_shift;
    std::uint64_t inverse = odd;  // right in the low 3 bits; each step doubles them
    for (int k = 0; k < 5; ++k) inverse *= 2 - odd * inverse;
    exact_inverse = inverse;
  } else {
    exact_shift = 0;
    exact_inverse = 1;
  }
  noscan = pointer_free;
  scope_depth = 0;
  escaped = 0;
  has_finalizable = false;
  refers_out = false;
  young_period = 0;
  std::memset(bits_a, 0, sizeof bits_a);
  std::memset(bits_b, 0, sizeof bits_b);
  alloc_bits = bits_a;
  mark_bits = bits_b;
  alloc_count = 0;
  free_index = 0;
  free_cache = 0;
  zeroed_from = 0;
  refill_cache();
}

}  // namespace moss::detail
