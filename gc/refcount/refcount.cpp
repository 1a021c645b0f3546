// gc/refcount/refcount.cpp — see refcount.hpp for the story.
#include "gc/refcount/refcount.hpp"

#include <algorithm>
#include <limits>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "gc/heap_impl.hpp"
#include "gc/roots.hpp"
#include "moss/member.hpp"

namespace moss::detail {

namespace {

// gc_state layout (the collector's 30 bits).
constexpr std::uint32_t kMaxCount = 0xFFFF;  // the count; sticky at the maximum
constexpr std::uint32_t kColorMask = 3u << 16;
constexpr std::uint32_t kBlack = 0;
constexpr std::uint32_t kGray = 1u << 16;
constexpr std::uint32_t kWhite = 2u << 16;
constexpr std::uint32_t kPurple = 3u << 16;
constexpr std::uint32_t kBuffered = 1u << 18;  // in the candidate buffer
constexpr std::uint32_t kInZct = 1u << 19;     // in the zero-count table
constexpr std::uint32_t kSeen = 1u << 20;      // scratch: kept in the ZCT this round
constexpr std::uint32_t kDying = 1u << 21;     // decided dead; stores into it count nothing
static_assert(((kMaxCount | kColorMask | kBuffered | kInZct | kSeen | kDying) & ~kCollectorBits) == 0);

constexpr std::size_t kBatch = 100000;          // dead objects freed per pause
constexpr std::size_t kZctThreshold = 32768;    // ZCT entries that trigger a reconciliation
constexpr std::size_t kCycleThreshold = 8192;   // buffered candidates that trigger cycle collection
constexpr std::size_t kMaxCycleThreshold = std::size_t{1} << 24;

inline std::uint32_t& state(void* p) { return header_of(p)->gc_state; }
inline std::uint32_t count_of(std::uint32_t s) { return s & kMaxCount; }
inline std::uint32_t color_of(std::uint32_t s) { return s & kColorMask; }
inline void set_color(void* p, std::uint32_t c) { state(p) = (state(p) & ~kColorMask) | c; }
inline void set_count(void* p, std::uint32_t c) { state(p) = (state(p) & ~kMaxCount) | c; }

// Calls f(child) for every strong reference of an object that is the start
// of a live object of the cache, and records weak slots if asked.
template <class F>
class ChildVisitor final : public Visitor {
 public:
  ChildVisitor(const SpanCache& cache, F& f, std::vector<void**>* weak) : cache_(cache), f_(f), weak_(weak) {}
  void visit_conservative(const void*, const void*) override {}

 protected:
  void visit_pointer(const void* object) override { visit_candidate(object); }
  void visit_candidate(const void* maybe) override {
    if (maybe == nullptr) return;
    void* p = cache_.find_object(maybe);
    if (p == maybe) f_(p);
  }
  void visit_weak(void* const* slot) override {
    if (weak_ != nullptr) weak_->push_back(const_cast<void**>(slot));
  }

 private:
  const SpanCache& cache_;
  F& f_;
  std::vector<void**>* weak_;
};

class RefCount final : public CollectorBase {
 public:
  explicit RefCount(HeapImpl& heap) : CollectorBase(heap) {
    collector_barrier_on();
    allocated_at_last_ = heap.cache().allocated_bytes();
    // Reconcile a few times per heap-goal's worth of allocation.
    bytes_threshold_ = std::max<std::uint64_t>(64u << 10, heap.options().min_heap_bytes / 4);
  }
  ~RefCount() override { shutdown(); }

  bool new_object_hook_wanted() const override { return true; }
  void on_new_object(void* object) override {
    state(object) |= kInZct;
    zct_.push_back(object);
  }
  void allocation_slow_path(std::size_t bytes) override;
  void before_growth(std::size_t) override {}
  void write_barrier(void* holder, void** slot, void* value) override;
  void weak_barrier(void* holder, void** slot, void* value) override;
  void root_changed(void* old_target, void* new_target) override {
    if (shut_down_) return;
    if (new_target != nullptr && owned(new_target)) increment(new_target);
    if (old_target != nullptr && owned(old_target)) decrement(old_target);
  }
  void before_explicit_free(void* object) override;
  bool explicit_free_hook_wanted() const override { return true; }
  // A local object was never logged; as a heap object it must be.
  void on_escape(void* object) override {
    if (shut_down_) return;
    std::uint32_t s = state(object);
    if (count_of(s) == 0 && (s & kDying) == 0) push_zct(object);
  }
  // Dead objects waiting for the next batch may be scope-local: free them
  // now, before the scope frees their memory under the dead list. No
  // external scan is current here, so children they leave at count zero go
  // to the ZCT (the next reconciliation decides), not straight to dead.
  void before_local_reclaim() override {
    if (busy_ || shut_down_ || dead_.empty()) return;
    busy_ = true;
    unscanned_ = true;
    while (!dead_.empty()) {
      void* p = dead_.back();
      dead_.pop_back();
      free_dead(p);
    }
    unscanned_ = false;
    busy_ = false;
  }
  void collect() override;
  void fill_stats(HeapStats& s) const override {
    s.rc_increments = increments_;
    s.rc_decrements = decrements_;
    s.rc_freed_promptly = freed_promptly_;
    s.rc_freed_by_cycles = freed_by_cycles_;
    s.cycle_collections = cycle_collections_;
  }
  const char* verify() override;
  void shutdown() override {
    if (shut_down_) return;
    shut_down_ = true;
    collector_barrier_off();
  }

 private:
  bool owned(const void* p) const { return heap_.cache().find_object(p) == p; }
  template <class F>
  void for_children(void* p, F&& f, std::vector<void**>* weak = nullptr) {
    const TypeInfo& ti = TypeRegistry::get(header_of(p)->type);
    if (ti.trace == nullptr) return;
    ChildVisitor<std::remove_reference_t<F>> v(heap_.cache(), f, weak);
    ti.trace(p, v);
  }
  static bool cyclic(void* p) {
    return (TypeRegistry::get(header_of(p)->type).flags & (type_acyclic | type_leaf)) == 0;
  }

  void increment(void* p);
  void decrement(void* p);
  // Restores one count without statistics or colours (cycle collection).
  void raw_increment(void* p) {
    std::uint32_t c = count_of(state(p));
    if (c == kMaxCount) return;
    if (c + 1 == kMaxCount) ++stuck_;
    set_count(p, c + 1);
  }
  void push_zct(void* p) {
    if ((state(p) & kInZct) != 0) return;
    state(p) |= kInZct;
    zct_.push_back(p);
  }
  void buffer_candidate(void* p) {
    set_color(p, kPurple);
    if ((state(p) & kBuffered) == 0) {
      state(p) |= kBuffered;
      buffer_.push_back(p);
    }
  }

  // External references: stacks, root callbacks and root ranges set mark bits.
  void scan_external();
  bool externally_marked(const void* p) const {
    std::uint32_t i = 0;
    Span* s = heap_.cache().locate(p, i);
    return s != nullptr && s->is_marked(i);
  }
  void mark_address(const void* address, bool exact);
  void clear_marks();

  void reconcile(std::size_t budget);
  void decide_dead(void* p);
  void free_dead(void* p);
  void release_child(void* c);
  void cycle_collect();
  void mark_gray(void* root);
  void scan(void* root);
  void scan_black(void* root);
  void collect_white(void* root, std::vector<void*>& white);
  void backup_trace();
  void mark_reachable();
  void remark_external();

  void clear_weak_targets(void* target);
  void forget_weak_slot(void** slot, void* target);
  void finish_pause(const char* what, double start);

  friend class ExternalMarker;

  std::vector<void*> zct_;
  std::vector<void*> dead_;
  std::vector<void*> buffer_;
  std::vector<void*> marked_;
  std::vector<void*> external_;
  std::vector<void*> held_externally_;
  std::vector<void*> work_;
  std::vector<void*> children_;
  std::vector<void*> explicit_children_;
  std::vector<void**> weak_scratch_;
  std::unordered_map<void*, std::vector<void**>> weak_by_target_;
  std::size_t zct_threshold_ = kZctThreshold;
  std::size_t cycle_threshold_ = kCycleThreshold;
  std::uint64_t allocated_at_last_ = 0;
  std::uint64_t bytes_threshold_ = 0;
  std::uint64_t stuck_ = 0;
  bool busy_ = false;
  bool unscanned_ = false;  // freeing dead objects with no external scan current
  bool shut_down_ = false;
  std::uint64_t increments_ = 0, decrements_ = 0, freed_promptly_ = 0, freed_by_cycles_ = 0,
                cycle_collections_ = 0;
};

void RefCount::increment(void* p) {
  ++increments_;
  std::uint32_t c = count_of(state(p));
  if (c == kMaxCount) return;
  if (c + 1 == kMaxCount) ++stuck_;
  set_count(p, c + 1);
  set_color(p, kBlack);
}

void RefCount::decrement(void* p) {
  ++decrements_;
  std::uint32_t c = count_of(state(p));
  if (c == kMaxCount || c == 0) return;
  set_count(p, c - 1);
  if ((state(p) & kDying) != 0) return;
  if (c == 1) {
    push_zct(p);
  } else if (cyclic(p)) {
    buffer_candidate(p);
  }
}

void RefCount::write_barrier(void* holder, void** slot, void* value) {
  if (shut_down_) {
    *slot = value;
    return;
  }
  // Only a finalizer can store into a dying object (nothing else can reach
  // one), so the holder is looked up only while one runs.
  if (holder == nullptr && heap_.in_finalizer()) {
    holder = heap_.cache().find_object(slot);
    if (holder == nullptr) {
      *slot = value;
      return;
    }
  }
  if (holder != nullptr && (state(holder) & kDying) != 0) {
    *slot = value;
    return;
  }
  void* old = *slot;
  if (value != nullptr && owned(value)) increment(value);
  *slot = value;
  if (old != nullptr && owned(old)) decrement(old);
}

void RefCount::weak_barrier(void* holder, void** slot, void* value) {
  if (shut_down_) {
    *slot = value;
    return;
  }
  if (holder == nullptr) holder = heap_.cache().find_object(slot);
  if (void* old = *slot) forget_weak_slot(slot, old);
  if (holder != nullptr && (state(holder) & kDying) == 0 && value != nullptr && owned(value)) {
    weak_by_target_[value].push_back(slot);
  }
  *slot = value;
}

void RefCount::forget_weak_slot(void** slot, void* target) {
  auto it = weak_by_target_.find(target);
  if (it == weak_by_target_.end()) return;
  std::vector<void**>& v = it->second;
  auto pos = std::find(v.begin(), v.end(), slot);
  if (pos != v.end()) {
    *pos = v.back();
    v.pop_back();
  }
  if (v.empty()) weak_by_target_.erase(it);
}

void RefCount::clear_weak_targets(void* target) {
  auto it = weak_by_target_.find(target);
  if (it == weak_by_target_.end()) return;
  for (void** slot : it->second) {
    if (*slot == target) *slot = nullptr;
  }
  weak_by_target_.erase(it);
}

void RefCount::before_explicit_free(void* object) {
  if (shut_down_) return;
  state(object) |= kDying;
  clear_weak_targets(object);
  weak_scratch_.clear();
  std::vector<void*>& children = explicit_children_;
  children.clear();
  for_children(object, [&children](void* c) { children.push_back(c); }, &weak_scratch_);
  for (void** slot : weak_scratch_) {
    if (*slot != nullptr) forget_weak_slot(slot, *slot);
  }
  for (void* c : children) {
    if (c != object) decrement(c);
  }
}

// --- external references ---------------------------------------------------

class ExternalMarker final : public Visitor {
 public:
  explicit ExternalMarker(RefCount& rc) : rc_(rc) {}
  void visit_conservative(const void* begin, const void* end) override {
    for_each_word(begin, end, [this](const void* w) { rc_.mark_address(w, false); });
  }

 protected:
  void visit_pointer(const void* object) override {
    if (object != nullptr) rc_.mark_address(object, false);
  }
  void visit_candidate(const void* maybe) override { rc_.mark_address(maybe, true); }
  void visit_weak(void* const*) override {}

 private:
  RefCount& rc_;
};

void RefCount::mark_address(const void* address, bool exact) {
  std::uint32_t i = 0;
  Span* s = heap_.cache().locate(address, i);
  if (s == nullptr || (exact && s->payload(i) != address)) return;
  if (s->try_mark(i)) marked_.push_back(s->payload(i));
}

void RefCount::scan_external() {
  PhaseTimer t(heap_.root_scan_us);
  ExternalMarker m(*this);
  visit_stacks(heap_, m);
  for (const RootCallbackEntry& e : heap_.root_callbacks()) e.callback(m, e.context);
  for (const RootRangeEntry& e : heap_.root_ranges()) m.visit_conservative(e.begin, e.end);
}

void RefCount::clear_marks() {
  for (void* p : marked_) {
    std::uint32_t i = 0;
    Span* s = heap_.cache().locate(p, i);
    if (s != nullptr) s->clear_mark(i);
  }
  marked_.clear();
}

// --- reconciliation --------------------------------------------------------

void RefCount::decide_dead(void* p) {
  state(p) = (state(p) & ~(kInZct | kBuffered | kColorMask)) | kDying;
  clear_weak_targets(p);
  dead_.push_back(p);
}

void RefCount::release_child(void* c) {
  ++decrements_;
  std::uint32_t n = count_of(state(c));
  if (n == kMaxCount || n == 0) return;
  set_count(c, n - 1);
  if ((state(c) & kDying) != 0) return;
  if (n > 1) {
    if (cyclic(c)) buffer_candidate(c);
  } else if (unscanned_ || externally_marked(c)) {
    push_zct(c);
  } else {
    decide_dead(c);
  }
}

void RefCount::free_dead(void* p) {
  const TypeInfo& ti = TypeRegistry::get(header_of(p)->type);
  children_.clear();
  weak_scratch_.clear();
  for_children(p, [this](void* c) { children_.push_back(c); }, &weak_scratch_);
  if (ti.finalize != nullptr && (state(p) & kFinalizedBit) == 0) {
    heap_.finalize(p);
    if (count_of(state(p)) != 0) {  // resurrected through a barriered store
      state(p) &= ~kDying;
      return;
    }
  }
  for (void** slot : weak_scratch_) {
    if (*slot != nullptr) forget_weak_slot(slot, *slot);
  }
  for (void* c : children_) {
    if (c != p) release_child(c);
  }
  heap_.cache().free_object(p);
  ++freed_promptly_;
}

void RefCount::reconcile(std::size_t budget) {
  std::vector<void*> old;
  old.swap(zct_);
  for (void* p : old) {
    if (!owned(p)) continue;
    std::uint32_t& s = state(p);
    if ((s & kInZct) == 0) continue;
    if ((s & kDying) != 0) {
      s &= ~kInZct;
    } else if (count_of(s) != 0) {
      // Referenced from the heap now, and possibly only from a garbage
      // cycle the stacks let go of without any decrement: a candidate.
      s &= ~kInZct;
      if (cyclic(p)) buffer_candidate(p);
    } else if (externally_marked(p)) {
      if ((s & kSeen) == 0) {
        s |= kSeen;
        zct_.push_back(p);
      }
    } else {
      decide_dead(p);
    }
  }
  for (void* p : zct_) state(p) &= ~kSeen;
  std::size_t kept = zct_.size();
  std::size_t done = 0;
  while (!dead_.empty() && done < budget) {
    void* p = dead_.back();
    dead_.pop_back();
    free_dead(p);
    ++done;
  }
  zct_threshold_ = std::max(kZctThreshold, kept * 2);
  allocated_at_last_ = heap_.cache().allocated_bytes();
  const SpanCache& c = heap_.cache();
  heap_.live_objects = c.allocated_objects() - c.freed_objects();
  heap_.live_bytes = c.allocated_bytes() - c.freed_bytes();
}

void RefCount::finish_pause(const char* what, double start) { heap_.trace_line(what, now_us() - start); }

void RefCount::allocation_slow_path(std::size_t) {
  if (busy_ || shut_down_) return;
  std::uint64_t since = heap_.cache().allocated_bytes() - allocated_at_last_;
  if (!dead_.empty() || zct_.size() >= zct_threshold_ || since >= bytes_threshold_) {
    double start = now_us();
    {
      Pause pause(heap_.pauses(), &heap_.sweep_us);
      busy_ = true;
      scan_external();
      reconcile(kBatch);
      clear_marks();
      busy_ = false;
      ++heap_.collections;
    }
    finish_pause("reconciliation", start);
  }
  if (dead_.empty() && buffer_.size() >= cycle_threshold_) {
    double start = now_us();
    {
      Pause pause(heap_.pauses(), &heap_.mark_us);
      busy_ = true;
      scan_external();
      cycle_collect();
      clear_marks();
      busy_ = false;
    }
    finish_pause("cycle collection", start);
  }
}

void RefCount::collect() {
  if (busy_ || shut_down_) return;
  double start = now_us();
  {
    Pause pause(heap_.pauses());
    busy_ = true;
    // One scan of the external references serves every phase: nothing
    // outside the collector runs in between except finalizers, and later
    // scans would find the collector's own stale registers and locals.
    scan_external();
    external_ = marked_;
    reconcile(std::numeric_limits<std::size_t>::max());
    // Freeing one cycle can turn what it referenced into new candidates (or
    // zero counts): repeat until a pass frees nothing, so that collect()
    // leaves no unreachable object behind.
    for (int pass = 0; pass < 64; ++pass) {
      std::uint64_t freed_before = heap_.cache().freed_objects();
      cycle_collect();
      if (stuck_ != 0) backup_trace();
      reconcile(std::numeric_limits<std::size_t>::max());
      if (heap_.cache().freed_objects() == freed_before) break;
    }
    clear_marks();
    external_.clear();
    busy_ = false;
    ++heap_.collections;
  }
  finish_pause("full collection", start);
}

// --- cycle collection ------------------------------------------------------

void RefCount::mark_gray(void* root) {
  if (color_of(state(root)) == kGray) return;
  set_color(root, kGray);
  work_.push_back(root);
  while (!work_.empty()) {
    void* x = work_.back();
    work_.pop_back();
    for_children(x, [this](void* c) {
      std::uint32_t n = count_of(state(c));
      if (n != kMaxCount && n != 0) set_count(c, n - 1);
      if (color_of(state(c)) != kGray) {
        set_color(c, kGray);
        work_.push_back(c);
      }
    });
  }
}

void RefCount::scan_black(void* root) {
  std::vector<void*> stack;
  set_color(root, kBlack);
  stack.push_back(root);
  while (!stack.empty()) {
    void* x = stack.back();
    stack.pop_back();
    for_children(x, [&stack](void* c) {
      std::uint32_t n = count_of(state(c));
      if (n != kMaxCount) set_count(c, n + 1);
      if (color_of(state(c)) != kBlack) {
        set_color(c, kBlack);
        stack.push_back(c);
      }
    });
  }
}

void RefCount::scan(void* root) {
  work_.push_back(root);
  while (!work_.empty()) {
    void* x = work_.back();
    work_.pop_back();
    if (color_of(state(x)) != kGray) continue;
    if (count_of(state(x)) != 0) {
      scan_black(x);
    } else if (externally_marked(x)) {
      // Held only by a stack or an embedder's root: it may let go without
      // any decrement, so it stays a candidate for the next run.
      scan_black(x);
      held_externally_.push_back(x);
    } else {
      set_color(x, kWhite);
      for_children(x, [this](void* c) {
        if (color_of(state(c)) == kGray) work_.push_back(c);
      });
    }
  }
}

void RefCount::collect_white(void* root, std::vector<void*>& white) {
  work_.push_back(root);
  while (!work_.empty()) {
    void* x = work_.back();
    work_.pop_back();
    std::uint32_t s = state(x);
    if (color_of(s) != kWhite || (s & kBuffered) != 0) continue;
    state(x) = (s & ~kColorMask) | kBlack | kDying;
    white.push_back(x);
    for_children(x, [this](void* c) {
      if (color_of(state(c)) == kWhite) work_.push_back(c);
    });
  }
}

void RefCount::cycle_collect() {
  ++cycle_collections_;
  std::vector<void*> candidates;
  candidates.swap(buffer_);
  std::vector<void*> roots;
  for (void* p : candidates) {
    if (!owned(p)) continue;
    std::uint32_t s = state(p);
    if ((s & kBuffered) == 0 || (s & kDying) != 0) continue;
    if (color_of(s) == kPurple && count_of(s) != 0) {
      mark_gray(p);
      roots.push_back(p);
    } else {
      state(p) &= ~kBuffered;
    }
  }
  for (void* r : roots) scan(r);
  std::vector<void*> white;
  for (void* r : roots) {
    state(r) &= ~kBuffered;
    collect_white(r, white);
  }
  for (void* x : held_externally_) {
    if (cyclic(x)) buffer_candidate(x);
  }
  held_externally_.clear();
  // The edges leaving the white set (recorded before any finalizer runs).
  std::vector<void*> edges;
  std::vector<void**> weak_slots;
  for (void* w : white) for_children(w, [&edges](void* c) { edges.push_back(c); }, &weak_slots);
  for (void* w : white) clear_weak_targets(w);
  for (void* w : white) {
    const TypeInfo& ti = TypeRegistry::get(header_of(w)->type);
    if (ti.finalize == nullptr || (state(w) & kFinalizedBit) != 0) continue;
    heap_.finalize(w);
  }
  bool resurrected = false;
  for (void* w : white) resurrected = resurrected || count_of(state(w)) != 0;
  if (resurrected) {
    // Put the set back as it was (its internal and outgoing counts) and let
    // the next run look at it again.
    for (void* c : edges) raw_increment(c);
    for (void* w : white) {
      state(w) &= ~kDying;
      buffer_candidate(w);
    }
  } else {
    for (void** slot : weak_slots) {
      if (*slot != nullptr) forget_weak_slot(slot, *slot);
    }
    for (void* c : edges) {
      std::uint32_t s = state(c);
      if ((s & kDying) == 0 && count_of(s) == 0) push_zct(c);
    }
    for (void* w : white) heap_.cache().free_object(w);
    freed_by_cycles_ += white.size();
  }
  // Adaptive trigger: a run that freed little waits longer next time.
  if (white.size() * 8 < roots.size() + 1) {
    cycle_threshold_ = std::min(kMaxCycleThreshold, cycle_threshold_ * 2);
  } else {
    cycle_threshold_ = std::max(kCycleThreshold, cycle_threshold_ / 2);
  }
  const SpanCache& c = heap_.cache();
  heap_.live_objects = c.allocated_objects() - c.freed_objects();
  heap_.live_bytes = c.allocated_bytes() - c.freed_bytes();
}

// Marks everything reachable from what is already marked (the stacks, root
// callbacks and root ranges) and from Root handles; marked_ lists them all.
void RefCount::mark_reachable() {
  for (RootNode& r : heap_.roots()) {
    if (r.target() != nullptr) mark_address(r.target(), true);
  }
  std::size_t next = 0;
  while (next < marked_.size()) {
    void* x = marked_[next++];
    for_children(x, [this](void* c) { mark_address(c, true); });
  }
}

void RefCount::backup_trace() {
  ++cycle_collections_;
  mark_reachable();
  std::vector<void*> garbage;
  heap_.cache().for_each_span([&garbage](const Span& s) {
    for (std::uint32_t i = 0; i < s.slots; ++i) {
      if (s.is_allocated(i) && !s.is_marked(i)) garbage.push_back(s.payload(i));
    }
  });
  for (void* g : garbage) {
    state(g) |= kDying;
    clear_weak_targets(g);
  }
  bool ran = false;
  for (void* g : garbage) {
    const TypeInfo& ti = TypeRegistry::get(header_of(g)->type);
    if (ti.finalize == nullptr || (state(g) & kFinalizedBit) != 0) continue;
    ran = true;
    heap_.finalize(g);
  }
  if (ran) {  // a finalizer may have made some of them reachable again
    clear_marks();
    remark_external();
    mark_reachable();
    std::erase_if(garbage, [this](void* g) {
      if (!externally_marked(g)) return false;
      state(g) &= ~kDying;
      return true;
    });
  }
  std::vector<void**> weak_slots;
  for (void* g : garbage) for_children(g, [](void*) {}, &weak_slots);
  for (void** slot : weak_slots) {
    if (*slot != nullptr) forget_weak_slot(slot, *slot);
  }
  for (void* g : garbage) heap_.cache().free_object(g);
  freed_by_cycles_ += garbage.size();
  // Recount every survivor from the references tracing finds.
  for (void* p : marked_) {
    std::uint32_t& s = state(p);
    s &= ~(kMaxCount | kColorMask | kBuffered);
  }
  buffer_.clear();
  stuck_ = 0;
  for (void* p : marked_) for_children(p, [this](void* c) { raw_increment(c); });
  for (RootNode& r : heap_.roots()) {
    if (r.target() != nullptr && owned(r.target())) raw_increment(r.target());
  }
  for (void* p : marked_) {
    if (count_of(state(p)) == 0) push_zct(p);
  }
  clear_marks();
  remark_external();
}

void RefCount::remark_external() {
  for (void* p : external_) {
    if (owned(p)) mark_address(p, true);
  }
}

// --- verification ----------------------------------------------------------

const char* RefCount::verify() {
  if (busy_ || shut_down_ || !dead_.empty()) return nullptr;
  std::unordered_map<void*, std::uint64_t> expected;
  std::vector<void*> live;
  bool finalized_live = false;
  const char* problem = nullptr;
  heap_.cache().for_each_span([&](const Span& s) {
    for (std::uint32_t i = 0; i < s.slots; ++i) {
      if (!s.is_allocated(i)) continue;
      void* p = s.payload(i);
      if (!TypeRegistry::valid(header_of(p)->type)) {
        problem = "an allocated object's header holds no registered type";
        continue;
      }
      live.push_back(p);
    }
  });
  if (problem != nullptr) return problem;
  for (void* p : live) {
    if ((state(p) & kFinalizedBit) != 0) {
      finalized_live = true;
      continue;
    }
    for_children(p, [&expected](void* c) { ++expected[c]; });
  }
  for (RootNode& r : heap_.roots()) {
    if (r.target() != nullptr && owned(r.target())) ++expected[r.target()];
  }
  if (finalized_live) return nullptr;  // a resurrected object's references are not traced
  for (void* p : live) {
    std::uint32_t c = count_of(state(p));
    if (c == kMaxCount) continue;
    auto it = expected.find(p);
    std::uint64_t want = it == expected.end() ? 0 : it->second;
    if (want != c) return "a reference count disagrees with the references found by tracing";
    // Scope-local objects join the ZCT only when they escape.
    if (c == 0 && (state(p) & (kInZct | kLocalBit)) == 0) {
      return "an object with a zero count is not in the zero-count table";
    }
  }
  for (const auto& [target, slots] : weak_by_target_) {
    if (!owned(target)) return "the weak-slot table names an object that is not live";
  }
  return nullptr;
}

}  // namespace

std::unique_ptr<CollectorBase> make_refcount(HeapImpl& heap) { return std::make_unique<RefCount>(heap); }

}  // namespace moss::detail
