// runtime/barrier.cpp — the barrier's users and threshold (see barrier.hpp).
#include "runtime/barrier.hpp"

#include <pthread.h>

#include <limits>
#include <mutex>

#include "runtime/os.hpp"
#include "runtime/size_classes.hpp"

namespace moss::detail {

std::atomic<std::uintptr_t> barrier_threshold{std::numeric_limits<std::uintptr_t>::max()};
std::atomic<std::uint32_t> collector_barrier_users{0};
std::atomic<std::uint32_t> slot_barrier_users{0};
std::atomic<std::uint32_t> scope_barrier_users{0};

std::atomic<std::uintptr_t> scope_floor{kScopeZoneBase};
std::atomic<std::uint8_t*> card_bytes{nullptr};
std::atomic<std::uintptr_t> card_count{0};
std::atomic<std::uint8_t*> count_bits{nullptr};
std::atomic<std::uintptr_t> count_granules{0};
std::atomic<bool> weak_barrier_all{false};
std::atomic<std::uint8_t*> scope_plain_pages{nullptr};

bool reserve_card_table() {
  void* table = os_reserve(kCardBytes, kPageSize);
  if (table == nullptr) return false;
  card_bytes.store(static_cast<std::uint8_t*>(table), std::memory_order_release);
  return true;
}

bool enable_card_marking() {
  if (card_bytes.load(std::memory_order_acquire) == nullptr) return false;
  card_count.store(kCardBytes, std::memory_order_release);
  return true;
}

bool all_counted(const void* begin, std::size_t bytes) {
  std::uintptr_t first = 0, last = 0;
  if (!counted_granules(begin, bytes, first, last)) return true;
  const std::uint8_t* map = count_bits.load(std::memory_order_relaxed);
  for (std::uintptr_t g = first; g <= last; ++g) {
    if (((map[g >> 3] >> (g & 7)) & 1) == 0) return false;
  }
  return true;
}

bool any_scope_plain(const void* start, std::size_t pages) {
  std::uintptr_t first = (reinterpret_cast<std::uintptr_t>(start) - kScopeZoneBase) >> kPageShift;
  const std::uint8_t* map = scope_plain_pages.load(std::memory_order_relaxed);
  if (map == nullptr || first >= kScopePlainPages) return false;
  for (std::size_t k = 0; k < pages && first + k < kScopePlainPages; ++k) {
    if (map[first + k] != 0) return true;
  }
  return false;
}

namespace {

bool zone_lost = false;  // users mutex held
bool count_map_refused = false;  // users mutex held

std::mutex& users_mutex() {
  static std::mutex m;
  return m;
}

// Users mutex held. The first refcount heap reserves the bitmap of
// counted slots; without it (the kernel refused), or without the scope zone
// (a scope-local object, counted, could then lie inside the bitmap's range
// with no bit), a refcount heap sends every store to the slow path.
void update_threshold() {
  std::uint32_t collectors = collector_barrier_users.load(std::memory_order_relaxed);
  std::uint32_t counters = slot_barrier_users.load(std::memory_order_relaxed);
  bool scopes = scope_barrier_users.load(std::memory_order_relaxed) != 0;
  if (counters != 0 && count_bits.load(std::memory_order_relaxed) == nullptr && !count_map_refused) {
    void* map = os_reserve(kCountBytes, kPageSize);
    void* pages = map != nullptr ? os_reserve(kScopePlainPages, kPageSize) : nullptr;
    if (pages == nullptr) {
      if (map != nullptr) os_unmap(map, kCountBytes);
      map = nullptr;
      count_map_refused = true;
    }
    // (The page map first: count_bits not null promises both.)
    scope_plain_pages.store(static_cast<std::uint8_t*>(pages), std::memory_order_release);
    count_bits.store(static_cast<std::uint8_t*>(map), std::memory_order_release);
  }
  bool bitmap = counters != 0 && count_bits.load(std::memory_order_relaxed) != nullptr && !zone_lost;
  std::uintptr_t t = std::numeric_limits<std::uintptr_t>::max();
  if (counters != 0 && !bitmap) {
    t = 0;  // a refcount heap has no bitmap to use: every store counts
  } else if (collectors > counters) {
    t = 1;  // a heap is marking: every store but of null (nothing to shade)
  } else if (scopes) {
    t = zone_lost ? 0 : scope_floor.load(std::memory_order_relaxed);
  }
  // Order for a thread that sees the new threshold first: the counted
  // slots are published before a threshold that relies on them.
  count_granules.store(bitmap ? kCountGranules : 0, std::memory_order_relaxed);
  weak_barrier_all.store(counters != 0, std::memory_order_relaxed);
  barrier_threshold.store(t, std::memory_order_release);
}
}  // namespace

void change_barrier_users(int collectors, int slot_users, int scopes) {
  std::lock_guard<std::mutex> lock(users_mutex());
  collector_barrier_users.fetch_add(static_cast<std::uint32_t>(collectors), std::memory_order_relaxed);
  slot_barrier_users.fetch_add(static_cast<std::uint32_t>(slot_users), std::memory_order_relaxed);
  scope_barrier_users.fetch_add(static_cast<std::uint32_t>(scopes), std::memory_order_relaxed);
  update_threshold();
}

void register_barrier_fork_handlers() {
  // As for the page heap's lock: taken before fork() and released on both
  // sides after, so the child never inherits it held by a thread it does
  // not have.
  pthread_atfork([] { users_mutex().lock(); }, [] { users_mutex().unlock(); }, [] { users_mutex().unlock(); });
}

void lose_scope_zone() {
  std::lock_guard<std::mutex> lock(users_mutex());
  zone_lost = true;
  update_threshold();
  // A thread that reads the new floor (the page heap, before it gives out
  // a scope span outside the zone) sees the new threshold too.
  scope_floor.store(0, std::memory_order_release);
}

}  // namespace moss::detail
