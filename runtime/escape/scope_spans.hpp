// runtime/escape/scope_spans.hpp — the spans of one open LocalScope.
//
// A LocalScope allocates from spans of its own, drawn from its heap's
// SpanCache (so the pagemap, locate(), find_object() and the marker see its
// objects like any other) but kept off the cache's ordinary lists:
//  - `current[class][noscan]` is the scope's current span per size class and
//    scan kind, exactly like the cache's own, so the fast path is the same
//    take_from_cache. A scope starts with every entry at the cache's empty
//    sentinel; `touched` remembers which entries the slow path changed, so
//    opening and closing a scope costs nothing per class it never used.
//  - `spans` lists every span the scope holds, current ones included (list
//    kind kScope); large objects get a span each, also on it.
//  - Every span of the scope carries `scope_depth == depth`. Scopes of one
//    heap are strictly nested, so a holder in a span of depth >= the value's
//    depth (and not escaped) is in the same scope or an inner one: the
//    barrier's escape test is two pagemap lookups and a compare.
// Sweeping leaves scope spans alone: start_sweep() only clears their mark
// bits (marking may have set them: allocate-black, or shading through the
// stacks) and stamps them with the new epoch, so locate() keeps reading
// their alloc bits. Nothing but the scope's exit (SpanCache::release_scope,
// driven by gc/escape.cpp) frees their memory or moves them to the heap's
// lists; explicit frees and refcount's prompt frees only clear slots.
//
// Owner: the heap's HeapImpl keeps one ScopeSpans per open scope depth and
// reuses them; the SpanCache links the open ones (for for_each_span).
#pragma once

#include <boost/intrusive/list.hpp>
#include <cstdint>

#include "runtime/size_classes.hpp"
#include "runtime/span.hpp"

namespace moss::detail {

using ScopeHook = boost::intrusive::list_base_hook<>;

struct ScopeSpans : ScopeHook {
  static constexpr std::size_t kEntries = kNumSizeClasses * 2;

  Span* current[kNumSizeClasses][2];
  SpanList spans;
  std::uint64_t touched[(kEntries + 63) / 64] = {};
  std::uint32_t depth = 0;
  // An object of this scope's depth or an outer one escaped while the
  // scope was open: any of its objects may refer to that heap object now
  // (a refcount heap traces all of its spans with the stacks, not only
  // those with Span::refers_out).
  bool scan_all = false;

  void touch(std::size_t cls, bool noscan) {
    std::size_t e = cls * 2 + (noscan ? 1 : 0);
    touched[e >> 6] |= std::uint64_t{1} << (e & 63);
  }
};

using ScopeList = boost::intrusive::list<ScopeSpans, boost::intrusive::base_hook<ScopeHook>,
                                         boost::intrusive::constant_time_size<false>>;

}  // namespace moss::detail
