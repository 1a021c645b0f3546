// gc/refcount/refcount.cpp — deferred reference counting (in progress).
#include <memory>
#include "gc/heap_impl.hpp"

namespace moss::detail {
std::unique_ptr<CollectorBase> make_refcount(HeapImpl&) {
  throw UsageError("moss: the refcount collector is not available in this build yet");
}
}  // namespace moss::detail
