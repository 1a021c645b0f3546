// runtime/escape/sites.hpp — the process-wide table of allocation sites.
//
// Every moss::AllocSite takes a small id here when it is made and gives it
// back when destroyed (ids are reused, lowest first, so they stay small).
// A scope-local object carries its site's id in its header (kSiteMask in
// runtime/span.hpp) while it is local, so an escape can be charged to its
// site; ids above kMaxHeaderSite do not fit and are not charged. Heaps keep
// their own per-site counters (gc/heap_impl.hpp, SiteCounters), indexed by
// id. Thread-safe.
#pragma once

#include <cstdint>

namespace moss {
class AllocSite;
}

namespace moss::detail {

inline constexpr std::uint32_t kMaxHeaderSite = 255;

std::uint32_t register_site(AllocSite* site);
void unregister_site(std::uint32_t id);

}  // namespace moss::detail
