// runtime/escape/sites.cpp — see sites.hpp.
#include "runtime/escape/sites.hpp"

#include <mutex>
#include <vector>

namespace moss::detail {

namespace {
std::mutex sites_lock;
std::vector<AllocSite*> sites{nullptr};  // id 0 is "no site"
}  // namespace

std::uint32_t register_site(AllocSite* site) {
  std::lock_guard<std::mutex> lock(sites_lock);
  for (std::uint32_t id = 1; id < sites.size(); ++id) {
    if (sites[id] == nullptr) {
      sites[id] = site;
      return id;
    }
  }
  sites.push_back(site);
  return static_cast<std::uint32_t>(sites.size() - 1);
}

void unregister_site(std::uint32_t id) {
  std::lock_guard<std::mutex> lock(sites_lock);
  if (id < sites.size()) sites[id] = nullptr;
}

}  // namespace moss::detail
