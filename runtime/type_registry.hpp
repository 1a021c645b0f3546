// runtime/type_registry.hpp — the process-wide table of registered types.
//
// Index 0 means "no type" (a free slot's header). Registration takes a
// mutex; lookups are lock-free reads of entries that never change once
// published (the count is released after the entry is written).
#pragma once

#include <atomic>
#include <cstdint>

#include "moss/heap.hpp"

namespace moss::detail {

class TypeRegistry {
 public:
  static constexpr std::uint32_t kCapacity = 1u << 16;
  static constexpr TypeIndex kNoType = 0;

  static TypeIndex add(const TypeInfo& info);  // throws UsageError when full
  // A relaxed load suffices: an index reaches a user only through whatever
  // synchronised its registration.
  static bool valid(TypeIndex type) { return type - 1 < count_.load(std::memory_order_relaxed) - 1; }
  static const TypeInfo& get(TypeIndex type) { return entries_[type].info; }
  // The flags alone, from a compact table (the allocation path's one load).
  static std::uint32_t flags(TypeIndex type) { return flags_[type]; }

 private:
  // All zero until registered, so the table lies in .bss and takes memory
  // only where types are registered (a default TypeInfo's name points to a
  // string: a table of those would need a load-time relocation per entry,
  // 3.5 MiB of tables and relocations resident in every process).
  struct Entry {
    TypeInfo info{nullptr, nullptr, nullptr, 0};
  };
  static Entry entries_[kCapacity];
  static std::uint8_t flags_[kCapacity];
  static std::atomic<std::uint32_t> count_;
};

}  // namespace moss::detail
