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
#include "runtime/barrier.hpp"
#include "runtime/work_stack.hpp"

namespace moss::detail {

namespace {

// gc_state layout (the collector's 30 bits).
constexpr std::uint32_t kMaxCount = 0x7FFF;  // the count; sticky at the maximum
constexpr std::uint32_t kYoung = 1u << 15;     // allocated since the last nursery pass; its slots are not counted
constexpr std::uint32_t kColorMask = 3u << 16;
constexpr std::uint32_t kBlack = 0;
constexpr std::uint32_t kGray = 1u << 16;
constexpr std::uint32_t kWhite = 2u << 16;
constexpr std::uint32_t kPurple = 3u << 16;
constexpr std::uint32_t kBuffered = 1u << 18;  // in the candidate buffer
constexpr std::uint32_t kInZct = 1u << 19;     // in the zero-count table
constexpr std::uint32_t kExternal = 1u << 20;  // a stack or embedder root may refer to it (see scan_external)
constexpr std::uint32_t kDying = 1u << 21;     // decided dead; stores into it count nothing
static_assert(((kMaxCount | kYoung | kColorMask | kBuffered | kInZct | kExternal | kDying) & ~kCollectorBits) == 0);

constexpr std::size_t kBatch = 2048;            // dead objects freed per pause
constexpr std::size_t kZctThreshold = 8192;     // ZCT entries that trigger a reconciliation
constexpr std::size_t kCycleThreshold = 8192;   // aged candidates worth a cycle-collection run
// A candidate is examined once this many bytes (or the live bytes, if more)
// were allocated after it was buffered: most young structures that got a
// count have died by then and cost nothing but a stale entry.
constexpr std::uint64_t kCandidateAge = 4u << 20;
constexpr std::size_t kCycleWork = 4096;        // objects trial-deleted per cycle-collection pause
constexpr std::uint64_t kMaxCycleBackoff = 16;  // most a candidate's wait grows (candidate_age)
// Automatic stack scans are paced by allocation: a scan of W words waits
// until W / kScanWordsPerObject objects were allocated since the last one,
// so deep stacks cost a bounded amount of scanning per allocation.
constexpr std::uint64_t kScanWordsPerObject = 4;

inline std::uint32_t& state(void* p) { return header_of(p)->gc_state; }
inline std::uint32_t count_of(std::uint32_t s) { return s & kMaxCount; }
inline std::uint32_t color_of(std::uint32_t s) { return s & kColorMask; }
inline void set_color(void* p, std::uint32_t c) { state(p) = (state(p) & ~kColorMask) | c; }
inline void set_count(void* p, std::uint32_t c) { state(p) = (state(p) & ~kMaxCount) | c; }

// Calls f(s, i, payload) for every allocated, unmarked slot i of s.
template <class F>
void for_each_unmarked(Span* s, F&& f) {
  std::uint32_t words = (s->slots + 63) / 64;
  for (std::uint32_t w = 0; w < words; ++w) {
    for (std::uint64_t bits = s->allocated_word(w) & ~s->mark_bits[w]; bits != 0; bits &= bits - 1) {
      std::uint32_t i = w * 64 + static_cast<std::uint32_t>(__builtin_ctzll(bits));
      f(s, i, s->payload(i));
    }
  }
}

// Calls f(child) for every strong reference of an object that is the start
// of a live object of the cache (or f(child, span, slot), if f takes them),
// and records weak slots if asked.
template <class F>
class ChildVisitor final : public Visitor {
 public:
  ChildVisitor(const SpanCache& cache, F& f, std::vector<void**>* weak) : cache_(cache), f_(f), weak_(weak) {}
  void visit_conservative(const void*, const void*) override {}

 protected:
  void visit_pointer(const void* object) override { visit_candidate(object); }
  void visit_candidate(const void* maybe) override {
    if (maybe == nullptr) return;
    std::uint32_t i = 0;
    Span* s = cache_.live_object_span(maybe, i);
    if (s == nullptr) return;
    void* p = const_cast<void*>(maybe);
    if constexpr (std::is_invocable_v<F&, void*, Span*, std::uint32_t>) {
      f_(p, s, i);
    } else {
      f_(p);
    }
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
    collector_barrier_on(true);
    plain_holder_bits_ = kYoung | kDying;  // see write_barrier
    plain_local_stores_ = true;            // local objects are young (on_escape)
    allocated_at_last_ = heap.cache().allocated_bytes();
    // The nursery: the unmarked objects of the spans allocation used since
    // the last pass (a span's mark bits say which of its objects are old).
    heap.cache().track_young_spans(true);
    heap.cache().set_sticky_marks(true);
    // Reconcile a few times per heap-goal's worth of allocation.
    bytes_threshold_ = std::max<std::uint64_t>(64u << 10, heap.options().min_heap_bytes / 4);
  }
  ~RefCount() override { shutdown(); }

  // A new heap object is young: its slots are uncounted until it survives
  // a nursery pass.
  std::uint32_t birth_state() const override { return kYoung; }
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
  // A local object's slots were not counted (it is scanned like a stack
  // frame while it is local: scan_external): as a heap object it counts
  // them now, like a survivor of a nursery pass, and it is logged in the
  // ZCT if nothing counts it, or if it may close a cycle (an escaped cycle
  // may have no reference from the heap at all: the reconciliation makes a
  // candidate of an entry with a count).
  void on_escape(void* object) override {
    if (shut_down_) return;
    std::uint32_t& s = state(object);
    if ((s & kYoung) != 0) {
      s &= ~kYoung;
      mark_old(object);
      set_counted(object, true);
      for_children(object, [this](void* c) { increment(c); });
    }
    if ((s & kDying) == 0 && (count_of(s) == 0 || cyclic(object))) push_zct(object);
  }
  // Without weak slots to forget, a closing scope's local objects need
  // nothing from this collector (their slots count nothing).
  // Dead objects waiting for the next batch are freed before a scope
  // disposes of its spans. (They are heap objects, local objects never die
  // by counting, but one that escaped from the scope lies in its spans.)
  void before_local_reclaim() override {
    if (busy_ || shut_down_ || dead_.empty()) return;
    busy_ = true;
    drain(std::numeric_limits<std::size_t>::max());
    end_work();
    busy_ = false;
  }
  void collect() override;
  void fill_stats(HeapStats& s) const override {
    s.rc_increments = increments_;
    s.rc_decrements = decrements_;
    s.rc_freed_promptly = freed_promptly_;
    s.rc_freed_by_cycles = freed_by_cycles_;
    s.rc_stack_words_scanned = words_scanned_;
    s.cycle_collections = cycle_collections_;
  }
  const char* verify() override;
  void shutdown() override {
    if (shut_down_) return;
    // Objects the heap frees as it goes keep their bits: clear them all.
    heap_.cache().for_each_span([](const Span& s) { mark_counted(s.start, s.bytes(), false); });
    shut_down_ = true;
    collector_barrier_off(true);
    report_goal(0);
  }
  // HeapOptions::retain_peak: the page heap keeps this heap's high-water
  // mark resident (a heap that just freed a large structure soon builds
  // another), until release_memory().
  void forget_high_water() override { report_goal(0); }

 private:
  bool owned(const void* p) const { return heap_.cache().is_object_start(p); }
  // A heap object was stored into a local object of scope span s: the
  // reconciliations trace s's local objects from now on (with the stacks),
  // so further stores into them need nothing from this collector, and,
  // while none of s's objects escaped, its pages become plain for the
  // barrier (runtime/barrier.hpp).
  static void note_refers_out(Span* s) {
    if (s->refers_out) return;
    s->refers_out = true;
    if (s->escaped == 0 && s->scope_depth != 0) mark_scope_plain(s->start, s->pages, true);
  }
  // An old object's slots are counted: the barrier's bitmap sends stores
  // into them to the slow path (runtime/barrier.hpp). Set when an object
  // becomes old, cleared when it is freed; pointer-free objects have no
  // slots to count.
  static void set_counted(const Span* s, void* p, bool on) {
    if (!s->noscan) mark_counted(p, SpanCache::payload_size(s), on);
  }
  void set_counted(void* p, bool on) { set_counted(heap_.cache().span_of(p), p, on); }
  // Frees garbage a trace found (cycle collection, the backup trace): its
  // references were dealt with by that trace.
  void free_traced_garbage(void* p) {
    set_counted(p, false);
    heap_.cache().free_object(p);
  }
  template <class F>
  void for_children(void* p, F&& f, std::vector<void**>* weak = nullptr) {
    const TypeInfo& ti = TypeRegistry::get(header_of(p)->type);
    if (ti.trace == nullptr) return;
    ChildVisitor<std::remove_reference_t<F>> v(heap_.cache(), f, weak);
    ti.trace(p, v);
  }
  static bool cyclic(void* p) {
    return (TypeRegistry::flags(header_of(p)->type) & (type_acyclic | type_leaf)) == 0;
  }

  void increment(void* p) {
    if (count_up(p) == 1) note_counted_young(p);
  }
  void decrement(void* p);
  // Restores one count without statistics or colours (cycle collection).
  void raw_increment(void* p) {
    std::uint32_t c = count_of(state(p));
    if (c == kMaxCount) return;
    if (c + 1 == kMaxCount) ++stuck_;
    set_count(p, c + 1);
    if (c == 0) note_counted_young(p);
  }
  // An object that stops being young gets its mark (the nursery pass
  // frees the unmarked objects of young spans without reading their
  // headers): in a young span, or anywhere for an object that escaped from
  // its scope, whose span may become young once the scope ends.
  void mark_old(void* p) {
    Span* s = heap_.cache().span_of(p);
    s->set_mark(s->exact_index(p));
  }
  // increment's counting: returns the new count (kMaxCount if stuck).
  std::uint32_t count_up(void* p);
  // The nursery pass's roots are the young objects a stack or root refers
  // to (marked_ lists them), those a counted reference holds and those with
  // a finalizer: a young object whose count leaves zero is logged here, so
  // that the pass need not read every young object's header to find them.
  void note_counted_young(void* p) {
    if ((state(p) & kYoung) != 0) counted_young_.push_back(p);
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
      // (Stored field by field: a whole Candidate built on the stack and
      // copied in is read back with one 16-byte load that cannot take its
      // two 8-byte stores' data, a store-forwarding stall every time.)
      buffer_.push(p, heap_.cache().allocated_bytes());
      ++buffered_;
    }
  }
  // Takes p out of the candidates (its buffer entry, if any, goes stale).
  void unbuffer(void* p) {
    std::uint32_t& s = state(p);
    if ((s & kBuffered) == 0) return;
    s &= ~kBuffered;
    if (buffered_ != 0) --buffered_;
  }

  // External references. A scan sets kExternal on every object a stack,
  // root callback or root range refers to (marked_ lists them). The marks
  // stay valid after the scan while marks_live_ is set: from then on the
  // mutator can only obtain a new stack reference to an unmarked object by
  // reading it from a counted heap slot, and a barrier that drops such a
  // reference (decrement) marks its target too. So a dead object whose
  // child's count reaches zero in a later batch decides that child the same
  // way a reconciliation would.
  void scan_external();
  static bool externally_marked(const void* p) { return (state(const_cast<void*>(p)) & kExternal) != 0; }
  void mark_address(const void* address, bool exact);
  void note_external(void* p) {
    std::uint32_t& s = state(p);
    if ((s & kExternal) != 0) return;
    s |= kExternal;
    marked_.push_back(p);
  }
  void clear_marks();
  void begin_scan();
  void end_work();
  bool scan_allowed() const {
    return (heap_.cache().allocated_objects() - objects_at_scan_) * kScanWordsPerObject >= last_scan_words_;
  }

  void reconcile();
  void promote_nursery();
  // Drops dead young object p's candidate entry and the weak slots it
  // holds, before promote_nursery frees it.
  void forget_young(void* p);
  void buffer_young();
  void drain(std::size_t budget);
  // `s`: p's span, when the caller has it at hand.
  void decide_dead(void* p, const Span* s = nullptr);
  // Releases dead object p: its finalizer runs if it has one to run, then
  // (unless that resurrected it) its children are decremented and its weak
  // slots forgotten. Returns whether p is to be freed (free_released).
  bool release_dead(void* p);
  void free_released(WorkStack<void*>& objects);
  void release_child(void* c, const Span* s);  // s: c's span, or null
  std::size_t cycle_collect(std::size_t work_budget, std::uint64_t stamped_before);
  // The least wait is scaled by cycle_backoff_: runs that trial-delete
  // live structures and free little make the next candidates wait longer
  // (a productive run shortens the wait again), so the work cycle
  // collection spends on live data stays a bounded share of allocation.
  std::uint64_t candidate_age() const {
    return std::max<std::uint64_t>(kCandidateAge * cycle_backoff_, heap_.live_bytes);
  }
  void mark_gray(void* root);
  void scan(void* root);
  void scan_black(void* root);
  void collect_white(void* root, std::vector<void*>& white);
  void backup_trace();
  void mark_reachable();
  void remark_external();
  void update_live();
  bool cycle_due() const;

  void clear_weak_targets(void* target);
  void forget_weak_slot(void** slot, void* target);
  void finish_pause(const char* what, double start);

  friend class ExternalMarker;

  std::vector<void*> zct_;
  std::vector<void*> zct_scratch_;
  std::uint64_t allocated_at_pass_ = 0;  // the cache's allocated_objects() at the last nursery pass
  WorkStack<void*> promoted_;  // a nursery pass's survivors (its work list)
  WorkStack<void*> released_;  // drain's released objects, freed at its end
  WorkStack<void*> young_;     // survivors with a count: candidates once the batch is freed
  WorkStack<void*> counted_young_;  // young objects whose count left zero since the last pass
  WorkStack<void*> dead_;
  // Candidates, oldest first, each with the allocation clock when buffered.
  struct Candidate {
    void* object;
    std::uint64_t stamp;
  };
  // A FIFO of candidates in 4 KiB chunks, keeping emptied chunks for reuse
  // (a young survivor is buffered at every reconciliation, and most leave
  // before they are examined: std::deque's chunks cost binary-trees 4% to
  // 12% of its time in malloc).
  class CandidateQueue {
   public:
    CandidateQueue() = default;
    CandidateQueue(const CandidateQueue&) = delete;
    CandidateQueue& operator=(const CandidateQueue&) = delete;
    ~CandidateQueue() {
      clear();
      while (spare_ != nullptr) {
        Chunk* c = spare_;
        spare_ = c->next;
        delete c;
      }
    }
    bool empty() const { return head_ == nullptr || (head_ == tail_ && head_pos_ == tail_pos_); }
    const Candidate& front() const { return head_->items[head_pos_]; }
    void push(void* object, std::uint64_t stamp) {
      if (tail_ == nullptr || tail_pos_ == kPerChunk) grow();
      Candidate& c = tail_->items[tail_pos_++];
      c.object = object;  // field by field: see buffer_candidate
      c.stamp = stamp;
    }
    void pop_front() {
      if (++head_pos_ < kPerChunk && !(head_ == tail_ && head_pos_ == tail_pos_)) return;
      if (head_ == tail_) {  // emptied: keep the chunk in place
        head_pos_ = tail_pos_ = 0;
        return;
      }
      Chunk* c = head_;
      head_ = c->next;
      head_pos_ = 0;
      retire(c);
    }
    void clear() {
      while (head_ != nullptr) {
        Chunk* c = head_;
        head_ = c->next;
        retire(c);
      }
      tail_ = nullptr;
      head_pos_ = tail_pos_ = 0;
    }

   private:
    static constexpr std::uint32_t kPerChunk = 255;
    static constexpr std::uint32_t kMaxSpare = 64;  // 256 KiB kept at most
    struct Chunk {
      Chunk* next = nullptr;
      Candidate items[kPerChunk];
    };
    void grow() {
      Chunk* c = spare_;
      if (c != nullptr) {
        spare_ = c->next;
        --spares_;
      } else {
        c = new Chunk;
      }
      c->next = nullptr;
      if (tail_ == nullptr) {
        head_ = c;
        head_pos_ = 0;
      } else {
        tail_->next = c;
      }
      tail_ = c;
      tail_pos_ = 0;
    }
    void retire(Chunk* c) {
      if (spares_ >= kMaxSpare) {
        delete c;
        return;
      }
      c->next = spare_;
      spare_ = c;
      ++spares_;
    }
    Chunk* head_ = nullptr;
    Chunk* tail_ = nullptr;
    std::uint32_t head_pos_ = 0, tail_pos_ = 0;
    Chunk* spare_ = nullptr;
    std::uint32_t spares_ = 0;
  };
  CandidateQueue buffer_;
  std::vector<void*> marked_;
  std::vector<void*> external_;
  std::vector<void*> held_externally_;
  std::vector<void*> work_;
  std::vector<void*> black_work_;
  std::vector<void*> roots_;
  std::vector<void*> children_;
  std::vector<void*> explicit_children_;
  std::vector<void**> weak_scratch_;
  std::unordered_map<void*, std::vector<void**>> weak_by_target_;
  // Without weak slots to forget, a local object needs nothing from this
  // collector when it is freed, by its scope's exit or by Heap::free (its
  // slots count nothing).
  void weak_map_changed() { heap_.set_local_free_hook(!weak_by_target_.empty()); }
  std::size_t zct_threshold_ = kZctThreshold;
  std::size_t buffered_ = 0;  // candidates with kBuffered set (an estimate: scope exits may drop some)
  std::size_t visits_ = 0;  // objects coloured gray in the current run
  std::uint64_t cycle_backoff_ = 1;  // see candidate_age()
  std::uint64_t allocated_at_last_ = 0;
  std::uint64_t bytes_threshold_ = 0;
  std::uint64_t objects_at_scan_ = 0;
  std::uint64_t last_scan_words_ = 0;
  std::uint64_t words_scanned_ = 0;
  std::uint64_t stuck_ = 0;
  bool marks_live_ = false;
  bool busy_ = false;
  bool shut_down_ = false;
  std::uint64_t increments_ = 0, decrements_ = 0, freed_promptly_ = 0, freed_by_cycles_ = 0,
                cycle_collections_ = 0;
};

std::uint32_t RefCount::count_up(void* p) {
  ++increments_;
  std::uint32_t c = count_of(state(p));
  if (c == kMaxCount) return c;
  if (c + 1 == kMaxCount) ++stuck_;
  set_count(p, c + 1);
  set_color(p, kBlack);
  return c + 1;
}

void RefCount::decrement(void* p) {
  ++decrements_;
  if (marks_live_) note_external(p);
  std::uint32_t c = count_of(state(p));
  if (c == kMaxCount || c == 0) return;
  set_count(p, c - 1);
  // A young object is decided by the next nursery pass, whatever its count.
  if ((state(p) & (kDying | kYoung)) != 0) return;
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
  // A young holder's slots are counted only if it survives a nursery pass
  // (which counts what they hold then); a dying one's never again.
  if (holder != nullptr && (state(holder) & (kDying | kYoung)) != 0) {
    // A local holder's span is traced with the stacks once it may refer
    // to a heap object (a value that is not a local object).
    if ((state(holder) & kLocalBit) != 0 && value != nullptr) {
      if (!(may_be_scope_local(value) && is_scope_local(value))) note_refers_out(heap_.cache().span_of(holder));
    }
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
    weak_map_changed();
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
  if (v.empty()) {
    weak_by_target_.erase(it);
    weak_map_changed();
  }
}

void RefCount::clear_weak_targets(void* target) {
  if (weak_by_target_.empty()) return;
  auto it = weak_by_target_.find(target);
  if (it == weak_by_target_.end()) return;
  for (void** slot : it->second) {
    if (*slot == target) *slot = nullptr;
  }
  weak_by_target_.erase(it);
  weak_map_changed();
}

void RefCount::before_explicit_free(void* object) {
  if (shut_down_) return;
  state(object) |= kDying;
  unbuffer(object);
  clear_weak_targets(object);
  if ((state(object) & kYoung) != 0 && weak_by_target_.empty()) return;  // nothing counted, no weak slot
  weak_scratch_.clear();
  std::vector<void*>& children = explicit_children_;
  children.clear();
  for_children(object, [&children](void* c) { children.push_back(c); }, &weak_scratch_);
  for (void** slot : weak_scratch_) {
    if (*slot != nullptr) forget_weak_slot(slot, *slot);
  }
  if ((state(object) & kYoung) != 0) return;  // its slots were never counted
  set_counted(object, false);
  // (A counted object refers to no scope-local one: a local value stored
  // into it escapes.)
  for (void* c : children) {
    if (c != object) decrement(c);
  }
}

// --- external references ---------------------------------------------------

class ExternalMarker final : public Visitor {
 public:
  explicit ExternalMarker(RefCount& rc) : rc_(rc) {}
  void visit_conservative(const void* begin, const void* end) override {
    if (end > begin) {
      rc_.last_scan_words_ += static_cast<std::uint64_t>(static_cast<const char*>(end) - static_cast<const char*>(begin)) / 8;
    }
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
  if (s == nullptr) return;
  void* p = s->payload(i);
  if (exact && p != address) return;
  note_external(p);
}

void RefCount::scan_external() {
  PhaseTimer t(heap_.root_scan_us);
  ExternalMarker m(*this);
  last_scan_words_ = 0;
  visit_stacks(heap_, m);
  for (const RootCallbackEntry& e : heap_.root_callbacks()) e.callback(m, e.context);
  for (const RootRangeEntry& e : heap_.root_ranges()) m.visit_conservative(e.begin, e.end);
  // Scope-local objects count none of their references: like stack
  // frames, they are scanned (precisely) instead, and paced the same way.
  heap_.for_each_local_referring_out([this](void* p, std::size_t bytes) {
    last_scan_words_ += bytes / 8;
    for_children(p, [this](void* c) {
      if ((state(c) & kLocalBit) == 0) note_external(c);  // (a local object is its scope's to free)
    });
  });
  words_scanned_ += last_scan_words_;
  objects_at_scan_ = heap_.cache().allocated_objects();
}

void RefCount::clear_marks() {
  // A marked object may have been freed since (its header is gone with it).
  for (void* p : marked_) {
    if (owned(p)) state(p) &= ~kExternal;
  }
  marked_.clear();
}

// Fresh marks: what the stacks and embedder roots refer to now.
void RefCount::begin_scan() {
  clear_marks();
  scan_external();
  marks_live_ = true;
}

// The end of a pause's work: the marks are kept only while dead objects
// wait for later batches.
void RefCount::end_work() {
  if (!dead_.empty()) return;
  clear_marks();
  marks_live_ = false;
}

void RefCount::update_live() {
  const SpanCache& c = heap_.cache();
  heap_.live_objects = c.allocated_objects() - c.freed_objects();
  heap_.live_bytes = c.allocated_bytes() - c.freed_bytes();
}

// --- reconciliation --------------------------------------------------------

void RefCount::decide_dead(void* p, const Span* s) {
  unbuffer(p);
  state(p) = (state(p) & ~(kInZct | kColorMask)) | kDying;
  clear_weak_targets(p);
  dead_.push_back(p);
  // Its release (soon: the dead list is a stack) decrements its children,
  // whose headers are likely cold. The first two words of its payload, in
  // the cache line just read, are the likeliest references: their targets'
  // headers are fetched now (prefetching a word that is no reference is
  // harmless, and the trace decides what is one).
  if (s == nullptr) s = heap_.cache().span_of(p);
  if (s->noscan) return;
  auto* words = static_cast<const std::uintptr_t*>(p);  // integers: any value may be there
  __builtin_prefetch(reinterpret_cast<const void*>(words[0] - kHeaderSize), 1);
  if (SpanCache::payload_size(s) >= 2 * sizeof(void*)) {
    __builtin_prefetch(reinterpret_cast<const void*>(words[1] - kHeaderSize), 1);
  }
}

void RefCount::release_child(void* c, const Span* s) {
  ++decrements_;
  std::uint32_t n = count_of(state(c));
  if (n == kMaxCount || n == 0) return;
  set_count(c, n - 1);
  if ((state(c) & (kDying | kYoung)) != 0) return;  // a young one: the nursery pass decides
  if (n > 1) {
    if (cyclic(c)) buffer_candidate(c);
  } else if (externally_marked(c)) {
    push_zct(c);
  } else {
    decide_dead(c, s);
  }
}

bool RefCount::release_dead(void* p) {
  const TypeInfo& ti = TypeRegistry::get(header_of(p)->type);
  weak_scratch_.clear();
  if (ti.finalize != nullptr && (state(p) & kFinalizedBit) == 0) {
    // The children are read before the finalizer runs (it may clear them).
    children_.clear();
    for_children(p, [this](void* c) { children_.push_back(c); }, &weak_scratch_);
    heap_.finalize(p);
    if (count_of(state(p)) != 0) {  // resurrected through a barriered store
      state(p) &= ~kDying;
      return false;
    }
    for (void* c : children_) {
      if (c != p) release_child(c, nullptr);
    }
  } else {
    for_children(p, [this, p](void* c, Span* s, std::uint32_t) {
      if (c != p) release_child(c, s);
    }, &weak_scratch_);
  }
  for (void** slot : weak_scratch_) {
    if (*slot != nullptr) forget_weak_slot(slot, *slot);
  }
  return true;
}

// Dead objects are released one by one (children first decremented), and
// their memory is freed at the end, a span at a time: the order is depth
// first, close to the reverse of allocation order, so consecutive objects
// mostly share a span. Until then a released object is still allocated,
// dying with a zero count: a reference to it from another dead object
// finds nothing to decrement, as it would find nothing once freed.
void RefCount::drain(std::size_t budget) {
  WorkStack<void*>& released = released_;
  released.clear();
  std::size_t done = 0;
  while (!dead_.empty() && done < budget) {
    void* p = dead_.back();
    dead_.pop_back();
    if (release_dead(p)) released.push_back(p);
    ++done;
  }
  free_released(released);
}

void RefCount::free_released(WorkStack<void*>& objects) {
  SpanCache& cache = heap_.cache();
  std::size_t first = 0;
  while (first < objects.size()) {
    Span* s = cache.span_of(objects[first]);
    std::size_t end = first;
    do {
      MOSS_ASSERT(s->is_allocated(s->index_of(objects[end])));
      set_counted(s, objects[end], false);
      ++end;
    } while (end < objects.size() && objects[end] >= s->start && objects[end] < s->end());
    cache.free_in_span(s, objects.begin() + first, end - first);
    first = end;
  }
  freed_promptly_ += objects.size();
  objects.clear();
}

// Decides every ZCT entry against fresh marks, frees a batch of the dead,
// and only then makes candidates of the new objects that got a count (most
// of those that die young are gone by then and never enter the buffer).
void RefCount::reconcile() {
  young_.clear();
  promote_nursery();
  std::vector<void*>& old = zct_scratch_;
  old.clear();
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
      if (cyclic(p)) young_.push_back(p);
    } else if (externally_marked(p)) {
      // Kept; kInZct is off until the pass ends so that a second entry for
      // the same object is skipped.
      s &= ~kInZct;
      zct_.push_back(p);
    } else {
      decide_dead(p);
    }
  }
  for (void* p : zct_) state(p) |= kInZct;
  std::size_t kept = zct_.size();
  drain(kBatch);
  buffer_young();
  zct_threshold_ = std::max(kZctThreshold, kept * 2);
  allocated_at_last_ = heap_.cache().allocated_bytes();
  update_live();
  std::size_t held = heap_.cache().heap_bytes();
  if (heap_.options().retain_peak && held > reported_goal()) report_goal(held);
}

// The nursery pass (needs fresh external marks). The young objects that a
// stack or embedder root refers to, or that a counted slot holds, survive,
// and so does every young object they reach: each survivor stops being
// young and its slots are counted now. Every other young object is garbage
// that no counted slot, stack or root refers to, and whose slots count
// nothing: it is freed without tracing (unless weak slots need forgetting).
// Survivors with a zero count (held by stacks only) join the ZCT; the rest
// become cycle candidates with buffer_young.
void RefCount::promote_nursery() {
  SpanCache& cache = heap_.cache();
  allocated_at_pass_ = cache.allocated_objects();
  const std::vector<Span*>& spans = cache.young_spans();
  WorkStack<void*>& promoted = promoted_;
  promoted.clear();
  // The young objects are the unmarked ones of the spans allocation took
  // objects from since the last pass (whatever stops being young gets its
  // mark: mark_old). The roots among them are found from lists (the
  // external marks, the young objects that got a count), not by reading
  // every young object's header. One with a finalizer survives its first
  // pass whatever refers to it, so that finalizers (and the resurrection
  // rule) only ever meet counted objects: if nothing does, the ZCT pass
  // that follows finds it dead. Only spans that may hold such objects are
  // looked through.
  auto survive = [&cache, &promoted](void* p, bool counted) {
    std::uint32_t i = 0;
    Span* span = cache.live_object_span(p, i);
    if (span == nullptr) return;  // freed since it was listed
    std::uint32_t& st = state(p);
    if ((st & (kYoung | kLocalBit)) != kYoung) return;  // old, promoted already, or a scope's
    if (counted && count_of(st) == 0) return;            // its count fell back to zero
    if (!cache.is_young_span(span) || span->is_marked(i)) return;
    st &= ~kYoung;
    span->set_mark(i);
    promoted.push_back(p);
  };
  for (void* p : marked_) survive(p, false);
  for (void* p : counted_young_) survive(p, true);
  counted_young_.clear();
  for (Span* s : spans) {
    if (!s->has_finalizable || !cache.is_young_span(s)) continue;
    for_each_unmarked(s, [&survive](Span*, std::uint32_t, void* p) {
      if ((TypeRegistry::flags(header_of(p)->type) & type_finalizable) != 0) survive(p, false);
    });
  }
  for (std::size_t next = 0; next < promoted.size(); ++next) {
    set_counted(promoted[next], true);
    for_children(promoted[next], [this, &promoted](void* c, Span* span, std::uint32_t i) {
      count_up(c);  // (a young child is promoted right here: nothing to log)
      std::uint32_t& s = state(c);
      if ((s & kYoung) != 0) {
        s &= ~kYoung;
        span->set_mark(i);
        promoted.push_back(c);
      } else if (cyclic(c)) {
        young_.push_back(c);  // not a tree edge of this trace: it may close a cycle
      }
    });
  }
  // What is still young is garbage: freed a bitmap word at a time. (A span
  // these frees empty may go back to the page heap and its record to
  // another span; a later entry for it fails is_young_span.)
  bool weak = !weak_by_target_.empty();
  std::uint64_t freed = 0;
  for (Span* s : spans) {
    if (!cache.is_young_span(s)) continue;
    std::uint32_t words = (s->slots + 63) / 64;
    std::uint64_t freed_before = freed;
    for (std::uint32_t w = 0; w < words; ++w) {
      std::uint64_t dead = s->allocated_word(w) & ~s->mark_bits[w];
      if (dead == 0) continue;
      for (std::uint64_t bits = dead; (weak || MOSS_DEBUG) && bits != 0; bits &= bits - 1) {
        void* p = s->payload(w * 64 + static_cast<std::uint32_t>(__builtin_ctzll(bits)));
        // Whatever stopped being young has its mark, and no young object
        // is ever a cycle candidate (candidates are counted objects).
        MOSS_ASSERT((state(p) & (kYoung | kBuffered)) == kYoung);
        if (weak) forget_young(p);
      }
      cache.free_slots(s, w, dead);
      freed += static_cast<std::uint64_t>(__builtin_popcountll(dead));
    }
    if (freed != freed_before) cache.refile_after_frees(s);
  }
  freed_promptly_ += freed;
  cache.restart_young_spans();
  for (void* p : promoted) {
    if (count_of(state(p)) == 0) push_zct(p);
  }
}

void RefCount::forget_young(void* p) {
  unbuffer(p);
  if (!weak_by_target_.empty()) {
    clear_weak_targets(p);
    weak_scratch_.clear();
    for_children(p, [](void*) {}, &weak_scratch_);
    for (void** slot : weak_scratch_) {
      if (*slot != nullptr) forget_weak_slot(slot, *slot);
    }
  }
}

// Survivors that still have a count after the batch: candidates (a
// structure that is referenced from the heap now may be a garbage cycle as
// soon as the stacks let go of it, without any decrement).
void RefCount::buffer_young() {
  for (void* p : young_) {
    if (!owned(p)) continue;
    std::uint32_t s = state(p);
    if ((s & (kDying | kInZct)) == 0 && count_of(s) != 0) buffer_candidate(p);
  }
  young_.clear();
}

void RefCount::finish_pause(const char* what, double start) { heap_.trace_line(what, now_us() - start); }

// Candidates are examined when the oldest has aged and enough have
// gathered, or when the oldest has waited twice as long.
bool RefCount::cycle_due() const {
  if (buffer_.empty()) return false;
  std::uint64_t now = heap_.cache().allocated_bytes();
  std::uint64_t waited = now - buffer_.front().stamp;
  std::uint64_t age = candidate_age();
  return waited >= 2 * age || (waited >= age && buffered_ >= kCycleThreshold);
}

// One pause per slow path, doing at most one kind of bounded work:
// a reconciliation (stack scan, ZCT pass, one batch of frees), or a batch of
// frees left over from one, or one bounded step of cycle collection.
void RefCount::allocation_slow_path(std::size_t) {
  if (busy_ || shut_down_) return;
  std::uint64_t since = heap_.cache().allocated_bytes() - allocated_at_last_;
  bool reconcile_due = zct_.size() >= zct_threshold_ || since >= bytes_threshold_;
  const char* what = nullptr;
  double start = now_us();
  if (reconcile_due && scan_allowed()) {
    Pause pause(heap_.pauses(), &heap_.sweep_us);
    busy_ = true;
    begin_scan();
    reconcile();
    end_work();
    busy_ = false;
    ++heap_.collections;
    what = "reconciliation";
  } else if (!dead_.empty()) {
    Pause pause(heap_.pauses(), &heap_.sweep_us);
    busy_ = true;
    drain(kBatch);
    end_work();
    update_live();
    busy_ = false;
    what = "batch free";
  } else if (cycle_due() && scan_allowed()) {
    Pause pause(heap_.pauses(), &heap_.mark_us);
    busy_ = true;
    begin_scan();
    std::uint64_t now = heap_.cache().allocated_bytes();
    std::uint64_t age = candidate_age();
    std::uint64_t freed_before = freed_by_cycles_;
    cycle_collect(kCycleWork, now > age ? now - age : 0);
    // Adaptive trigger: a run that freed less than an eighth of what it
    // traversed doubles the wait (up to kMaxCycleBackoff); one that freed
    // more halves it.
    std::uint64_t freed = freed_by_cycles_ - freed_before;
    if (freed * 8 < visits_) {
      cycle_backoff_ = std::min(cycle_backoff_ * 2, kMaxCycleBackoff);
    } else if (cycle_backoff_ > 1) {
      cycle_backoff_ /= 2;
    }
    end_work();
    busy_ = false;
    what = "cycle collection";
  }
  if (what != nullptr) finish_pause(what, start);
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
    begin_scan();
    external_ = marked_;
    reconcile();
    drain(std::numeric_limits<std::size_t>::max());
    // Freeing one cycle can turn what it referenced into new candidates (or
    // zero counts): repeat until a pass frees nothing, so that collect()
    // leaves no unreachable object behind.
    for (int pass = 0; pass < 64; ++pass) {
      std::uint64_t freed_before = heap_.cache().freed_objects();
      cycle_collect(std::numeric_limits<std::size_t>::max(), std::numeric_limits<std::uint64_t>::max());
      if (stuck_ != 0) backup_trace();
      reconcile();
      drain(std::numeric_limits<std::size_t>::max());
      if (heap_.cache().freed_objects() == freed_before) break;
    }
    end_work();
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
  ++visits_;
  work_.push_back(root);
  while (!work_.empty()) {
    void* x = work_.back();
    work_.pop_back();
    for_children(x, [this](void* c) {
      std::uint32_t n = count_of(state(c));
      if (n != kMaxCount && n != 0) set_count(c, n - 1);
      if (color_of(state(c)) != kGray) {
        set_color(c, kGray);
        ++visits_;
        work_.push_back(c);
      }
    });
  }
}

void RefCount::scan_black(void* root) {
  std::vector<void*>& stack = black_work_;
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

// Every white object is garbage, whether or not it still has a buffer entry
// (a run may examine only part of the buffer; the entries of the objects it
// frees go stale).
void RefCount::collect_white(void* root, std::vector<void*>& white) {
  work_.push_back(root);
  while (!work_.empty()) {
    void* x = work_.back();
    work_.pop_back();
    std::uint32_t s = state(x);
    if (color_of(s) != kWhite) continue;
    unbuffer(x);
    state(x) = (state(x) & ~kColorMask) | kBlack | kDying;
    white.push_back(x);
    for_children(x, [this](void* c) {
      if (color_of(state(c)) == kWhite) work_.push_back(c);
    });
  }
}

// One synchronous trial deletion over the oldest buffer entries: those
// buffered before the clock read stamped_before, and no more once
// work_budget objects were coloured gray. Trial deletion over any subset of the candidates is sound: an object
// left white has no references but those of other white objects, and no
// stack or embedder root refers to it. Nothing else runs during a run, so
// the counts it reads are the mutator's. Returns the entries consumed.
std::size_t RefCount::cycle_collect(std::size_t work_budget, std::uint64_t stamped_before) {
  ++cycle_collections_;
  // Trial deletion needs every reference between objects counted: young
  // objects' slots are not, so the nursery goes first (the marks are fresh).
  if (heap_.cache().allocated_objects() != allocated_at_pass_) {
    young_.clear();
    promote_nursery();
    buffer_young();
  }
  std::vector<void*>& roots = roots_;
  roots.clear();
  visits_ = 0;
  std::size_t consumed = 0;
  while (!buffer_.empty() && buffer_.front().stamp <= stamped_before && visits_ < work_budget) {
    void* p = buffer_.front().object;
    buffer_.pop_front();
    ++consumed;
    if (!owned(p)) continue;
    std::uint32_t s = state(p);
    if ((s & kBuffered) == 0 || (s & kDying) != 0) continue;
    if (color_of(s) == kPurple && count_of(s) != 0) {
      mark_gray(p);
      roots.push_back(p);
    } else {
      unbuffer(p);
    }
  }
  if (buffer_.empty()) buffered_ = 0;
  for (void* r : roots) scan(r);
  std::vector<void*> white;
  for (void* r : roots) {
    unbuffer(r);
    collect_white(r, white);
  }
  for (void* x : held_externally_) {
    if (cyclic(x)) buffer_candidate(x);
  }
  held_externally_.clear();
  if (white.empty()) {
    update_live();
    return consumed;
  }
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
    for (void* w : white) free_traced_garbage(w);
    freed_by_cycles_ += white.size();
  }
  update_live();
  return consumed;
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
      if (!s.is_allocated(i)) continue;
      void* p = s.payload(i);
      // (A scope-local object is its scope's to free.)
      if (!externally_marked(p) && (header_of(p)->gc_state & kLocalBit) == 0) garbage.push_back(p);
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
    std::erase_if(garbage, [](void* g) {
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
  for (void* g : garbage) free_traced_garbage(g);
  freed_by_cycles_ += garbage.size();
  // Recount every survivor from the references tracing finds.
  for (void* p : marked_) {
    std::uint32_t& s = state(p);
    s &= ~(kMaxCount | kColorMask | kBuffered);
  }
  buffer_.clear();
  buffered_ = 0;
  stuck_ = 0;
  for (void* p : marked_) {
    if ((state(p) & kYoung) == 0) for_children(p, [this](void* c) { raw_increment(c); });
  }
  for (RootNode& r : heap_.roots()) {
    if (r.target() != nullptr && owned(r.target())) raw_increment(r.target());
  }
  for (void* p : marked_) {
    if ((state(p) & kYoung) == 0 && count_of(state(p)) == 0) push_zct(p);
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
    if ((state(p) & kYoung) != 0) continue;  // a young object's slots are not counted
    const Span* s = heap_.cache().span_of(p);
    if (count_granules.load(std::memory_order_relaxed) != 0 && !s->noscan &&
        !all_counted(p, SpanCache::payload_size(s))) {
      return "an old object's slots are not all marked counted in the barrier's bitmap";
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
    // Young objects wait for the nursery pass instead.
    if (c == 0 && (state(p) & (kInZct | kLocalBit | kYoung)) == 0) {
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
