// runtime/type_registry.cpp — see type_registry.hpp.
#include "runtime/type_registry.hpp"

#include "runtime/size_classes.hpp"

#include <mutex>
#include <string>

namespace moss::detail {

static_assert(type_align8 == kAlign8TypeFlag, "size_class_for_payload reads type_align8 by its bit");

TypeRegistry::Entry TypeRegistry::entries_[TypeRegistry::kCapacity];
std::uint8_t TypeRegistry::flags_[TypeRegistry::kCapacity];
std::atomic<std::uint32_t> TypeRegistry::count_{1};

TypeIndex TypeRegistry::add(const TypeInfo& info) {
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  std::uint32_t n = count_.load(std::memory_order_relaxed);
  if (n >= kCapacity) {
    throw UsageError("moss: cannot register type '" + std::string(info.name ? info.name : "?") +
                     "': the type table is full (" + std::to_string(kCapacity) + " types)");
  }
  TypeInfo& e = entries_[n].info;
  e = info;
  if (e.trace == nullptr) e.flags |= type_leaf | type_acyclic;
  if (e.finalize != nullptr) e.flags |= type_finalizable;
  if (e.name == nullptr) e.name = "object";
  flags_[n] = static_cast<std::uint8_t>(e.flags);
  count_.store(n + 1, std::memory_order_release);
  return n;
}

}  // namespace moss::detail
