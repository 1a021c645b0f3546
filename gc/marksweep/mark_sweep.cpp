// gc/marksweep/mark_sweep.cpp — see mark_sweep.hpp for the cycle.
#include "gc/marksweep/mark_sweep.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_set>
#include <limits>
#include <vector>

#include "gc/heap_impl.hpp"
#include "gc/helper_threads.hpp"
#include "gc/roots.hpp"
#include "moss/member.hpp"
#include "runtime/barrier.hpp"
#include "runtime/work_stack.hpp"

namespace moss::detail {

namespace {

struct Grey {
  void* object;
  Span* span;  // the object's
  std::size_t bytes() const { return SpanCache::payload_size(span); }
};

// Prefetches what tracing g reads first: its header, and the end of its
// payload's first 64 bytes, which lies on the next cache line whenever the
// object straddles two (a span's first slot starts 8 bytes in: a quarter
// of 24-byte slots do, half of 32-byte ones; otherwise it is the header's
// line again).
inline void prefetch_object(const Grey& g) {
  __builtin_prefetch(header_of(g.object));
  __builtin_prefetch(static_cast<const char*>(g.object) + std::min<std::size_t>(g.bytes(), 64) - 1);
}

// A marker's grey objects.
using GreyStack = WorkStack<Grey>;

// Grey objects left at an incremental cycle's termination that make a
// parallel drain worth its wake-up.
constexpr std::size_t kParallelTermination = 4096;

// One marking thread's state: its grey objects, the weak slots it found,
// and what it marked. The owner thread's marker (main_) does all serial
// marking and the barrier's shading; helper threads get one each for
// parallel drains, merged into main_ when the drain ends.
// What is left to trace of a long array of references (Visitor::visit_array)
// found in `holder`: taken kArrayPiece slots at a time, so one slice of
// incremental marking never traces a whole large array.
struct ArrayPiece {
  const void* holder;
  const void* const* first;
  std::size_t count;
};
constexpr std::size_t kArrayPiece = 256;
constexpr std::size_t kCardScanStep = 4096;  // scan work per step of a minor cycle's card scan
constexpr std::size_t kArraySlotWork = 32;  // scan work charged per array slot

// The span a marker tries first while it drains: that of the object being
// traced (whose references most often point into its own span: objects
// allocated together refer to each other), or else of the object it found
// last. Span::exact_slot on that span tells at once whether a reference
// points into it, without the pagemap, owner and sweep checks (every span
// of a grey object passed them, and sweeping is over while a heap marks).
// Only a drain sets it (kSpanCacheOn) and it is dropped (kSpanCacheOff) when
// the drain returns: in between the mutator may free or hand back spans.
// Both sentinels are empty spans: exact_slot fails on them.
Span kSpanCacheOff, kSpanCacheOn;

struct Marker {
  GreyStack grey;
  Span* last_span = &kSpanCacheOff;
  std::vector<ArrayPiece> arrays;  // the sequential marker's only
  const void* tracing = nullptr;   // the object being traced (drain)
  std::vector<void**> weak;
  std::uint64_t bytes = 0;    // payload bytes marked
  std::uint64_t objects = 0;  // objects marked
  std::uint64_t work = 0;     // scan work done in a parallel drain
};

class MarkSweep final : public CollectorBase {
 public:
  explicit MarkSweep(HeapImpl& heap) : CollectorBase(heap), visitor_(*this, main_) {
    const char* v = std::getenv("MOSS_VERIFY");
    verify_each_cycle_ = v != nullptr && *v != '\0' && *v != '0';
    const char* e = std::getenv("MOSS_EXPLAIN_ROOTS");
    explain_roots_ = e != nullptr && *e != '\0' && *e != '0';
    if (heap.options().helper_threads != 0) {
      helpers_ = std::make_unique<HelperThreads>(heap.options().helper_threads);
      workers_.resize(heap.options().helper_threads);
      heap.cache().set_background_sweep(true);
    }
    generational_ = heap.options().generational && enable_card_marking();
    set_goal(0, 0);
  }

  void allocation_slow_path(std::size_t bytes) override;
  void before_growth(std::size_t) override {}
  void write_barrier(void*, void** slot, void* value) override {
    // Dijkstra's insertion barrier: the stored value turns grey, so no
    // black object ever refers to a white one. The old value needs no
    // shading because termination rescans every root (the stacks above all)
    // with the world stopped: whatever is still reachable then is found.
    if (marking_ && value != nullptr) shade<false>(main_, value);
    *slot = value;
  }
  void value_barrier(Span* s, void* value) override {
    std::uint32_t i = 0;
    if (marking_ && heap_.cache().locate_in(s, value, i) != nullptr && s->try_mark(i)) note_marked(main_, s, s->payload(i));
  }
  void weak_barrier(void*, void** slot, void* value) override {
    // A weak slot written while marking may belong to an object that was
    // already traced (or allocated black): remember it for termination.
    if (marking_) main_.weak.push_back(slot);
    *slot = value;
  }
  void collect() override { collect_cycle(true); }
  void stress_collect() override { collect_cycle(false); }
  // An escaped object may be known to the marker only through the scope it
  // left: shading it keeps this cycle from missing it.
  void on_escape(void* object) override {
    if (marking_) shade<false>(main_, object);
  }
  // Scope exit may free objects that are on the mark stack or hold weak
  // slots recorded this cycle: from now until marking ends, both are
  // checked before use.
  void forget_high_water() override {
    high_water_ = 0;
    if (!marking_ && goal_ != std::numeric_limits<std::uint64_t>::max()) set_goal(goal_live_, base_live_);
  }
  void before_local_reclaim() override {
    if (marking_) stale_entries_ = true;
  }
  void fill_stats(HeapStats& stats) const override {
    stats.minor_collections = minor_collections_;
    stats.helper_marked_objects = helper_marked_objects_;
    stats.helper_swept_spans = heap_.cache().background_swept_spans();
  }
  const char* verify() override;
  void shutdown() override {
    if (marking_) stop_marking();
    if (helpers_ != nullptr) {
      helpers_.reset();  // waits for a background sweep, then joins
      heap_.cache().set_background_sweep(false);
    }
    report_goal(0);
  }
  ~MarkSweep() override { report_goal(0); }

  // The tracing core's entry: shades `address`'s object grey if it is a
  // white live object of this heap (interior pointers count). `Shared`:
  // other threads mark at the same time (mark bits are set atomically).
  // The common case (a span swept this cycle, a stack with room) makes
  // no call; the rest is shade_in_stale.
  template <bool Shared>
  MOSS_INLINE void shade(Marker& m, const void* address) {
    std::uint32_t i = 0;
    Span* s = m.last_span;
    const void* object = address;  // the object's start, once known
    if (!s->exact_slot(address, i)) {
      s = heap_.cache().locate_slot(address, i);
      if (s == nullptr) return;
      if (MOSS_UNLIKELY(!heap_.cache().current_bits(s))) return shade_in_stale<Shared>(m, s, i);
      if (m.last_span != &kSpanCacheOff) m.last_span = s;
      object = s->payload(i);
    }
    if (s->is_allocated(i) && (Shared ? s->try_mark_shared(i) : s->try_mark(i))) note_marked(m, s, object);
  }
  template <bool Shared>
  MOSS_NOINLINE void shade_in_stale(Marker& m, Span* s, std::uint32_t i) {
    if (heap_.cache().live_in_stale(s, i) && (Shared ? s->try_mark_shared(i) : s->try_mark(i))) {
      note_marked(m, s, s->payload(i));
    }
  }
  template <bool Shared>
  void shade_exact(Marker& m, const void* address) {
    std::uint32_t i = 0;
    Span* s = heap_.cache().locate(address, i);
    if (s != nullptr && s->payload(i) == address && (Shared ? s->try_mark_shared(i) : s->try_mark(i))) {
      note_marked(m, s, address);
    }
  }
  // Counts `object`, just marked in span s, and makes it grey.
  static MOSS_INLINE void note_marked(Marker& m, Span* s, const void* object) {
    m.bytes += SpanCache::payload_size(s);
    ++m.objects;
    if (!s->noscan) m.grey.push_back({const_cast<void*>(object), s});
  }

 private:
  template <bool Shared>
  class MarkVisitor final : public Visitor {
   public:
    MarkVisitor(MarkSweep& ms, Marker& m) : ms_(ms), m_(m) {}
    void visit_conservative(const void* begin, const void* end) override {
      if (MOSS_UNLIKELY(!Shared && ms_.explain_roots_)) {
        explain(begin, end);
        return;
      }
      for_each_word(begin, end, [this](const void* w) { ms_.shade<Shared>(m_, w); });
    }
    // MOSS_EXPLAIN_ROOTS=1: name every conservative word that keeps an
    // object alive, with the number of objects first reached through it
    // (to find out why garbage is retained). Marks each word's objects to
    // the end before the next word: the scan's pause takes the marking.
    // (In a minor collection the first word's count includes what the
    // dirty cards reach.)
    MOSS_NOINLINE void explain(const void* begin, const void* end) {
      const char* b = static_cast<const char*>(begin);
      auto* p = reinterpret_cast<const char*>((reinterpret_cast<std::uintptr_t>(b) + 7) & ~std::uintptr_t{7});
      for_each_word(begin, end, [this, &p, end](const void* w) {
        std::uint64_t before = m_.objects;
        ms_.shade<Shared>(m_, w);
        if (m_.objects != before) {
          std::size_t work = 0;
          if constexpr (!Shared) ms_.drain_some(std::numeric_limits<std::size_t>::max(), work);
          std::fprintf(stderr, "moss: root word at %p (%td bytes below range end %p) keeps object %p alive (%llu objects)\n",
                       static_cast<const void*>(p), static_cast<const char*>(end) - p, end, w,
                       static_cast<unsigned long long>(m_.objects - before));
        }
        p += 8;
      });
    }

   protected:
    void visit_pointer(const void* object) override {
      if (object != nullptr) ms_.shade<Shared>(m_, object);
    }
    void visit_candidate(const void* maybe) override { ms_.shade_exact<Shared>(m_, maybe); }
    void visit_weak(void* const* slot) override { m_.weak.push_back(const_cast<void**>(slot)); }
    void visit_pointer_array(const void* const* first, std::size_t count) override {
      // Parallel marking (full collections and terminations) runs to the
      // end anyway; the incremental marker defers what a slice need not do.
      if (Shared || count <= kArrayPiece || m_.tracing == nullptr) {
        for (std::size_t i = 0; i < count; ++i) visit_pointer(first[i]);
        return;
      }
      m_.arrays.push_back({m_.tracing, first, count});
    }

   private:
    MarkSweep& ms_;
    Marker& m_;
  };

  // Paces the next cycle: the goal from `live` (the bytes marked live),
  // the trigger and the runway from `held` (the bytes the heap cannot free
  // before the next cycle: `live`, or under generational collection the
  // old data, garbage included, which only a full cycle reclaims).
  void set_goal(std::uint64_t live, std::uint64_t held);
  void start_marking();
  // Turns marking on (barrier, black allocation) and shades the roots. The
  // cycle is minor if the heap is generational, the last sweep left the
  // marks sticky and `full` is false; else every mark is cleared first.
  void begin_marking(bool full);
  // A whole cycle in one pause: full (collect()), or of whichever kind the
  // marks allow (stress collections, non-incremental heaps). A cycle under
  // way is finished (a minor one turned full if `full`).
  void collect_cycle(bool full);
  // Minor cycles: the next steps of the span walk begun at mark start:
  // pushes the old objects on each span's dirty cards (clearing them), up
  // to about `budget` work; returns the work done.
  std::size_t scan_cards(std::size_t budget);
  // Pushes the marked objects of slots first..last; returns how many.
  std::size_t push_old(Span* s, std::uint32_t first, std::uint32_t last);
  // Old and new after a cycle: the marked set's size, and whether the next
  // cycle is full (decided before the sweep, which keeps marks for a minor).
  void account_cycle();
  // MOSS_VERIFY=1, before a minor cycle: every reachable old object that
  // refers to a young one lies on a dirty card (or in a span without cards).
  void check_remembered_set();
  // MOSS_VERIFY=1: the objects reachable from the roots, found by a trace
  // of its own (mark bits untouched). After minor cycles the marked set
  // holds old garbage too, which may refer to anything: the generational
  // checks look at reachable objects only.
  std::unordered_set<const void*> reachable_objects();
  // Rescans the roots, drains, clears dead weak slots, turns marking off.
  // `full`: a whole collection in one pause (collect()).
  void terminate_marking(bool full);
  // Starts sweeping (and, with helper threads, sweeping in the background).
  void begin_sweep();
  // Statistics and the next cycle's pacing.
  void end_cycle();
  void scan_roots();
  // Traces grey objects until `budget` bytes were scanned or none is left;
  // returns true when the mark stack is empty.
  bool drain(std::size_t budget);
  // drain's loop; `work` is set to the work done.
  bool drain_some(std::size_t budget, std::size_t& work);
  // Once a scope has freed objects while marking: whether g's object is
  // still a live object start, its span (which may be another by now)
  // updated in g.
  bool still_live(Grey& g) const {
    std::uint32_t i = 0;
    Span* s = heap_.cache().locate(g.object, i);
    if (s == nullptr || s->payload(i) != g.object) return false;
    g.span = s;
    return true;
  }
  // drain_some's part for long arrays: shades the deferred pieces until
  // none is left or `work` reaches `budget`; returns the work then.
  std::size_t shade_arrays(std::size_t budget, std::size_t work);
  // Traces every grey object with the helper threads (the termination's
  // and a full collection's drain).
  void drain_in_parallel();
  void mark_in_parallel(Marker& m);
  void share_grey(Marker& m);
  bool take_grey(Marker& m);
  void finish_marking();
  void stop_marking();
  // `only`: check these objects alone (null: every marked object).
  void check_no_black_to_white(const std::unordered_set<const void*>* only = nullptr);

  Marker main_;
  MarkVisitor<false> visitor_;
  bool marking_ = false;
  // Generational mode (HeapOptions::generational; needs the card table).
  bool generational_ = false;
  bool minor_ = false;               // the cycle under way (or the last) is minor
  std::uint64_t old_bytes_ = 0;      // marked (old) payload after the last cycle
  std::uint64_t old_objects_ = 0;
  std::uint64_t full_old_bytes_ = 0; // old_bytes_ right after the last full cycle
  std::uint64_t full_cycle_work_ = 0;  // scan work of the last full cycle
  std::uint64_t allocated_at_mark_start_ = 0, allocated_objects_at_mark_start_ = 0;
  std::uint64_t minor_collections_ = 0;
  bool stale_entries_ = false;  // a scope freed objects while marking
  bool verify_each_cycle_ = false;
  bool explain_roots_ = false;
  std::uint64_t goal_ = 0;     // heap_live at which marking must be done
  // The most the pacer counted at a cycle's end (HeapOptions::retain_peak):
  // the goal is never below it, since the heap already held that much.
  std::uint64_t high_water_ = 0;
  std::uint64_t goal_live_ = 0;  // the live bytes the goal was last set from
  std::uint64_t trigger_ = 0;  // heap_live at which marking starts
  std::uint64_t base_live_ = 0;
  double assist_ratio_ = 0;    // scan bytes owed per byte allocated
  double span_overhead_ = 1.25;  // span bytes per paced payload byte (end_cycle)
  std::uint64_t cycle_work_ = 0;       // scan work done in this cycle
  std::uint64_t last_cycle_work_ = 0;  // and in the last complete one
  double debt_ = 0;
  std::uint64_t allocated_seen_ = 0;
  // Helper threads (HeapOptions::helper_threads), their markers, and the
  // shared pool of grey work a parallel drain balances through.
  std::unique_ptr<HelperThreads> helpers_;
  std::vector<Marker> workers_;
  std::mutex pool_mutex_;
  std::condition_variable pool_cv_;
  std::vector<std::vector<Grey>> pool_;
  std::atomic<unsigned> idle_{0};
  unsigned drainers_ = 0;
  std::uint64_t helper_marked_objects_ = 0;
};

void MarkSweep::set_goal(std::uint64_t live, std::uint64_t held) {
  const HeapOptions& o = heap_.options();
  base_live_ = held;
  if (o.gc_percent < 0) {
    goal_ = trigger_ = std::numeric_limits<std::uint64_t>::max();
    report_goal(0);
    return;
  }
  goal_live_ = live;
  double growth = 1.0 + o.gc_percent / 100.0;
  // At least half the usual headroom over what is held, so that a cycle
  // (the full one old garbage brings on above all) can be paced.
  goal_ = std::max<std::uint64_t>(
      {o.min_heap_bytes, static_cast<std::uint64_t>(static_cast<double>(live) * growth),
       held + static_cast<std::uint64_t>(static_cast<double>(held) * (growth - 1.0) / 2.0), high_water_});
  std::uint64_t runway = goal_ - std::min(goal_, held);
  trigger_ = o.incremental ? held + runway * 7 / 10 : goal_;
  // The goal counts payload bytes; the page heap is told the span bytes it
  // will take, so that the scavenger keeps resident the pages the next
  // cycle reuses (telling it too little, it releases pages every cycle
  // only for the heap to fault them back in).
  report_goal(static_cast<std::uint64_t>(static_cast<double>(goal_) * span_overhead_));
  // Expect to scan about as much as was live last time; spread it over
  // the allocation between trigger and goal.
  std::uint64_t window = std::max<std::uint64_t>(goal_ - trigger_, 1u << 20);
  // Expect the scan work of the last cycle (or 1.5x live before there was
  // one), with half again as margin: marking should end before the goal,
  // not in a long final pause at it.
  std::uint64_t expected = std::max<std::uint64_t>({last_cycle_work_, live + live / 2, 1u << 20});
  assist_ratio_ = std::max(0.5, 1.5 * static_cast<double>(expected) / static_cast<double>(window));
}

void MarkSweep::allocation_slow_path(std::size_t) {
  SpanCache& cache = heap_.cache();
  std::uint64_t heap_live = base_live_ + cache.bytes_since_mark();
  if (!marking_) {
    if (!cache.sweep_done()) cache.sweep_some(16);
    if (heap_live >= trigger_) {
      if (!heap_.options().incremental) {
        collect_cycle(false);
        heap_.run_finalizers();
        return;
      }
      start_marking();
    }
    return;
  }
  std::uint64_t allocated = cache.allocated_bytes();
  debt_ += static_cast<double>(allocated - allocated_seen_) * assist_ratio_;
  allocated_seen_ = allocated;
  if (heap_live >= goal_ + (goal_ - std::min(goal_, trigger_)) / 2) {
    // Far out of runway: finish now rather than let the heap keep growing.
    finish_marking();
    return;
  }
  std::size_t slice = heap_.options().mark_slice_bytes;
  // Past the goal, every slow path pays a slice until marking is done.
  if (heap_live >= goal_ && debt_ < static_cast<double>(slice)) debt_ = static_cast<double>(slice);
  if (debt_ >= static_cast<double>(slice)) {
    bool done;
    {
      Pause pause(heap_.pauses(), &heap_.mark_us);
      done = drain(slice);
    }
    debt_ -= static_cast<double>(slice);
    if (done) finish_marking();
  }
}

void MarkSweep::start_marking() {
  SpanCache& cache = heap_.cache();
  double start = now_us();
  bool finished = false;
  {
    Pause pause(heap_.pauses());
    if (!cache.sweep_done()) {
      PhaseTimer t(heap_.sweep_us);
      cache.finish_sweep();
    }
    {
      PhaseTimer t(heap_.root_scan_us);
      begin_marking(false);
    }
    if (minor_) {
      // A minor cycle often has little to trace: a slice of it right away,
      // and if that is all, termination too, in the same pause. Nothing is
      // then allocated black (and so kept until the next full cycle).
      PhaseTimer t(heap_.mark_us);
      if (drain(heap_.options().mark_slice_bytes)) {
        terminate_marking(false);
        account_cycle();
        begin_sweep();
        end_cycle();
        finished = true;
      }
    }
  }
  if (finished) heap_.trace_line("minor collection", now_us() - start);
}

void MarkSweep::begin_marking(bool full) {
  SpanCache& cache = heap_.cache();
  minor_ = generational_ && !full && cache.sticky_marks();
  if (!minor_ && cache.sticky_marks()) cache.clear_all_marks();
  if (minor_) {
    if (verify_each_cycle_) check_remembered_set();
    cache.begin_span_walk();
  }
  allocated_at_mark_start_ = cache.allocated_bytes();
  allocated_objects_at_mark_start_ = cache.allocated_objects();
  marking_ = true;
  collector_barrier_on(false);
  heap_.cache().set_allocate_black(true);
  main_.bytes = main_.objects = 0;
  cycle_work_ = 0;
  debt_ = 0;
  allocated_seen_ = heap_.cache().allocated_bytes();
  main_.weak.clear();
  scan_roots();
}

void MarkSweep::terminate_marking(bool full) {
  scan_roots();
  cycle_work_ += scan_cards(std::numeric_limits<std::size_t>::max());
  // The helpers join a full collection's drain, and a termination's when
  // there is enough grey left to repay waking them (a short termination
  // pause would otherwise wait for a thread to be scheduled).
  if (helpers_ != nullptr && !main_.grey.empty() && (full || main_.grey.size() >= kParallelTermination)) {
    drain_in_parallel();
  }
  drain(std::numeric_limits<std::size_t>::max());
  if (verify_each_cycle_) {
    if (minor_) {
      auto reachable = reachable_objects();
      check_no_black_to_white(&reachable);
    } else {
      check_no_black_to_white();
    }
  }
  SpanCache& cache = heap_.cache();
  for (void** slot : main_.weak) {
    if (stale_entries_ && cache.find_object(slot) == nullptr) continue;  // its holder was reclaimed
    std::uint32_t i = 0;
    Span* s = *slot != nullptr ? cache.locate(*slot, i) : nullptr;
    if (s != nullptr && !s->is_marked(i)) *slot = nullptr;
  }
  main_.weak.clear();
  heap_.cache().end_span_walk();
  stop_marking();
}

void MarkSweep::account_cycle() {
  SpanCache& cache = heap_.cache();
  // Allocated black while marking: marked, so old from now on.
  std::uint64_t black = cache.allocated_bytes() - allocated_at_mark_start_;
  std::uint64_t black_objects = cache.allocated_objects() - allocated_objects_at_mark_start_;
  if (minor_) {
    old_bytes_ += main_.bytes + black;
    old_objects_ += main_.objects + black_objects;
    ++minor_collections_;
  } else {
    old_bytes_ = main_.bytes + black;
    old_objects_ = main_.objects + black_objects;
    full_old_bytes_ = old_bytes_;
  }
  // Minor cycles run until the old data has grown by half (at least 1 MiB)
  // since the last full cycle (what died old is reclaimed only by a full
  // one), or until one costs half what a full one did: old objects written
  // next to young ones (whose cards their initialisation dirties) are
  // traced by every minor cycle, more of them as old garbage piles up.
  if (!minor_) full_cycle_work_ = cycle_work_;
  bool full_next = old_bytes_ > full_old_bytes_ + std::max<std::uint64_t>(full_old_bytes_ / 2, 1u << 20) ||
                   (minor_ && cycle_work_ > full_cycle_work_ / 2);
  cache.set_sticky_marks(generational_ && !full_next);
}

void MarkSweep::begin_sweep() {
  SpanCache& cache = heap_.cache();
  // The last background sweep found nothing left to do long ago (the lazy
  // sweep finished before marking began; its threads only failed to claim
  // spans since), but it must be over before the work list is replaced.
  if (helpers_ != nullptr) helpers_->wait();
  cache.start_sweep();
  if (helpers_ != nullptr) {
    cache.publish_sweep_work();
    helpers_->post([&cache](unsigned) { cache.sweep_in_background(); });
  }
}

void MarkSweep::end_cycle() {
  // Span bytes held at the end of the cycle (its peak: lazy sweeping has
  // freed nothing yet) per payload byte the pacer counted: slot rounding,
  // headers and partly filled spans.
  SpanCache& cache = heap_.cache();
  std::uint64_t paced = base_live_ + cache.bytes_since_mark();
  if (heap_.options().retain_peak) high_water_ = std::max(high_water_, paced);
  if (paced >= (1u << 20)) {
    span_overhead_ = std::clamp(static_cast<double>(cache.heap_bytes()) / static_cast<double>(paced), 1.25, 2.0);
  }
  cache.reset_bytes_since_mark();
  // Generational: the old data stays until a full cycle, dead or not. The
  // goal comes from what the last full cycle found live, so old garbage
  // does not raise it: as it piles up, minor cycles come sooner, until the
  // next full one.
  heap_.live_bytes = generational_ ? old_bytes_ : main_.bytes;
  heap_.live_objects = generational_ ? old_objects_ : main_.objects;
  ++heap_.collections;
  last_cycle_work_ = cycle_work_;
  if (generational_) {
    set_goal(full_old_bytes_, old_bytes_);
  } else {
    set_goal(main_.bytes, main_.bytes);
  }
}

void MarkSweep::scan_roots() {
  clear_stack_below();
  visit_stacks(heap_, visitor_);
  visit_handles(heap_, visitor_);
}

bool MarkSweep::drain(std::size_t budget) {
  std::size_t work = 0;
  bool done = drain_some(budget, work);
  cycle_work_ += work;
  return done;
}

bool MarkSweep::drain_some(std::size_t budget, std::size_t& work_done) {
  // Objects leave the grey stack through a short queue: each is prefetched
  // as it enters and traced as it leaves, a few objects later, so the miss
  // on its header and fields overlaps with tracing the ones ahead of it.
  // (Popping straight off the stack, the next object is usually a child
  // just pushed, too soon for its fetch to have landed.) While the queue
  // is full, the object popped takes the slot of the one leaving.
  constexpr std::size_t kQueue = 16;
  Grey queue[kQueue];
  std::size_t head = 0, queued = 0;
  std::size_t work = 0;
  main_.last_span = &kSpanCacheOn;
  auto finish = [this, &work, &work_done](bool done) {
    main_.last_span = &kSpanCacheOff;
    main_.tracing = nullptr;
    work_done = work;
    return done;
  };
  GreyStack& grey = main_.grey;
  std::vector<ArrayPiece>& arrays = main_.arrays;
  // Out of budget: what is queued goes back on the stack, in order.
  auto give_back = [&grey, &queue, &head, &queued] {
    for (std::size_t k = queued; k-- > 0;) grey.push_back(queue[(head + k) % kQueue]);
  };
  // Array pieces left over from the last drain go first. (Only a trace
  // adds pieces, and each trace's are finished below before the next.)
  if (!arrays.empty()) {
    work = shade_arrays(budget, 0);
    if (!arrays.empty()) return finish(false);
  }
  for (;;) {
    while (queued < kQueue && !grey.empty()) {
      Grey g = grey.back();
      grey.pop_back();
      prefetch_object(g);
      queue[(head + queued) % kQueue] = g;
      ++queued;
    }
    if (queued == 0) {
      // A minor cycle's dirty cards are scanned a little at a time, when
      // the grey stack has run dry, so that it stays short.
      if (heap_.cache().span_walk_done()) return finish(true);
      if (work >= budget) return finish(false);
      std::size_t w = scan_cards(std::min<std::size_t>(budget - work, kCardScanStep));
      work += w;
      continue;
    }
    if (work >= budget) {
      give_back();
      return finish(false);
    }
    Grey g = queue[head];
    if (MOSS_LIKELY(queued == kQueue && !grey.empty())) {
      Grey next = grey.back();
      grey.pop_back();
      prefetch_object(next);
      queue[head] = next;
    } else {
      --queued;
    }
    head = (head + 1) % kQueue;
    if (MOSS_UNLIKELY(stale_entries_) && !still_live(g)) continue;
    const TypeInfo& ti = TypeRegistry::get(header_of(g.object)->type);
    // `tracing` stays set until the next trace or the drain's end: only a
    // trace's visitor reads it.
    main_.tracing = g.object;
    work += g.bytes() + 16;
    // The references a trace finds most often point into the traced
    // object's own span (objects allocated together refer to each other).
    main_.last_span = g.span;
    if (ti.trace != nullptr) ti.trace(g.object, visitor_);
    if (MOSS_UNLIKELY(!arrays.empty())) {
      // A long array the object deferred (arrays was empty before its
      // trace) is traced in pieces, each paid for separately; the object's
      // own entry pays for the rest of it.
      // (The object's size is looked up again, so that nothing of g need
      // outlive the trace call in the common case.)
      std::size_t deferred = 0;
      for (const ArrayPiece& a : arrays) deferred += a.count * 8;
      std::size_t bytes = SpanCache::payload_size(heap_.cache().span_of(main_.tracing));
      work = shade_arrays(budget, work - std::min(deferred, bytes));
      if (!arrays.empty()) {
        give_back();
        return finish(false);
      }
    }
  }
}

std::size_t MarkSweep::shade_arrays(std::size_t budget, std::size_t work) {
  std::vector<ArrayPiece>& arrays = main_.arrays;
  while (!arrays.empty() && work < budget) {
    ArrayPiece& a = arrays.back();
    if (heap_.cache().find_object(a.holder) != a.holder) {
      arrays.pop_back();  // its holder was reclaimed (freed, or with a scope) since
      continue;
    }
    std::size_t n = a.count < kArrayPiece ? a.count : kArrayPiece;
    const void* const* first = a.first;
    a.first += n;
    a.count -= n;
    if (a.count == 0) arrays.pop_back();
    for (std::size_t i = 0; i < n; ++i) {
      if (first[i] != nullptr) shade<false>(main_, first[i]);
    }
    // A slot costs what visiting a small object does (its target is as
    // likely cold), not just its 8 bytes: else one slice could shade
    // tens of thousands of targets.
    work += n * kArraySlotWork + 16;
  }
  return work;
}

// Parallel marking: every thread traces from its own grey stack and marks
// with atomic bit sets, so each object is marked (and counted) by exactly
// one thread. A thread with work to spare moves the older half of its
// stack to the shared pool when another is idle; an idle thread takes from
// the pool. The drain ends when every thread is idle and the pool empty
// (only a busy thread adds to the pool, so that state is final).
void MarkSweep::drain_in_parallel() {
  drainers_ = helpers_->helpers() + 1;
  idle_.store(0, std::memory_order_relaxed);
  pool_.clear();
  helpers_->run([this](unsigned worker) { mark_in_parallel(worker == 0 ? main_ : workers_[worker - 1]); });
  cycle_work_ += main_.work;
  main_.work = 0;
  for (Marker& w : workers_) {
    MOSS_ASSERT(w.grey.empty());
    main_.bytes += w.bytes;
    main_.objects += w.objects;
    helper_marked_objects_ += w.objects;
    cycle_work_ += w.work;
    main_.weak.insert(main_.weak.end(), w.weak.begin(), w.weak.end());
    w.bytes = w.objects = w.work = 0;
    w.weak.clear();
  }
}

void MarkSweep::mark_in_parallel(Marker& m) {
  MarkVisitor<true> visitor(*this, m);
  unsigned since_share = 0;
  m.last_span = &kSpanCacheOn;  // the mutator waits for the drain
  for (;;) {
    while (!m.grey.empty()) {
      Grey g = m.grey.back();
      m.grey.pop_back();
      if (!m.grey.empty()) prefetch_object(m.grey.back());
      if (MOSS_UNLIKELY(stale_entries_) && !still_live(g)) continue;
      const TypeInfo& ti = TypeRegistry::get(header_of(g.object)->type);
      m.last_span = g.span;  // its references most often point into its own span
      if (ti.trace != nullptr) ti.trace(g.object, visitor);
      m.work += g.bytes() + 16;
      if (++since_share >= 32 && m.grey.size() >= 8 && idle_.load(std::memory_order_relaxed) != 0) {
        share_grey(m);
        since_share = 0;
      }
    }
    if (!take_grey(m)) break;
  }
  m.last_span = &kSpanCacheOff;
}

void MarkSweep::share_grey(Marker& m) {
  std::vector<Grey> chunk = m.grey.take_older_half();
  {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    pool_.push_back(std::move(chunk));
  }
  pool_cv_.notify_one();
}

bool MarkSweep::take_grey(Marker& m) {
  std::unique_lock<std::mutex> lock(pool_mutex_);
  idle_.fetch_add(1, std::memory_order_relaxed);
  for (;;) {
    if (!pool_.empty()) {
      m.grey.assign(std::move(pool_.back()));
      pool_.pop_back();
      idle_.fetch_sub(1, std::memory_order_relaxed);
      return true;
    }
    if (idle_.load(std::memory_order_relaxed) == drainers_) {
      pool_cv_.notify_all();
      return false;
    }
    pool_cv_.wait(lock);
  }
}

void MarkSweep::stop_marking() {
  marking_ = false;
  main_.arrays.clear();
  stale_entries_ = false;
  heap_.cache().set_allocate_black(false);
  collector_barrier_off(false);
}

std::size_t MarkSweep::scan_cards(std::size_t budget) {
  SpanCache& cache = heap_.cache();
  std::uint8_t* cards = card_bytes.load(std::memory_order_relaxed);
  std::size_t work = 0;
  Span* s = nullptr;
  while (work < budget && (s = cache.next_walk_span()) != nullptr) {
    // Work is charged in scan bytes: a span's cards cost what reading them
    // does, and the old objects they hold are charged when traced.
    work += 8;
    // Spans that may hold traceable old objects (the walk visits only this
    // heap's spans in use).
    if (s->noscan || s->scope_depth != 0 || s->alloc_count == 0) {
      continue;
    }
    if (!carded(s->start, s->end())) {
      // No cards: every old object counts as written.
      work += s->slots + 16 * push_old(s, 0, s->slots - 1);
      continue;
    }
    std::uintptr_t first = (reinterpret_cast<std::uintptr_t>(s->start) - kCardBase) >> kCardShift;
    std::uintptr_t count = s->bytes() >> kCardShift;
    work += count;
    // Stores into young objects (their initialisation above all) dirty
    // cards too: a span with no old object only has its cards cleared.
    bool old = false;
    for (std::uint32_t w = 0, words = (s->slots + 63) / 64; w < words && !old; ++w) old = s->mark_bits[w] != 0;
    if (!old) {
      std::memset(cards + first, 0, count);
      continue;
    }
    std::uint32_t next = 0;  // slots below it were pushed already
    for (std::uintptr_t c = 0; c < count; ++c) {
      if (cards[first + c] == 0) continue;
      cards[first + c] = 0;
      work += 4;
      // The slots overlapping the card (its first bytes may be the span's
      // head, before the first slot).
      const char* lo = s->start + (c << kCardShift);
      const char* hi = lo + (std::size_t{1} << kCardShift) - 1;
      if (hi < s->first_slot()) continue;
      std::uint32_t i0 = lo < s->first_slot() ? 0 : s->index_of(lo);
      if (i0 >= s->slots) break;
      std::uint32_t i1 = std::min(s->index_of(hi), s->slots - 1);
      i0 = std::max(i0, next);
      if (i0 > i1) continue;
      work += 16 * push_old(s, i0, i1);
      next = i1 + 1;
    }
  }
  return work;
}

std::size_t MarkSweep::push_old(Span* s, std::uint32_t first, std::uint32_t last) {
  std::size_t pushed = 0;
  for (std::uint32_t i = first; i <= last; ++i) {
    if (s->is_marked(i) && s->is_allocated(i)) {
      main_.grey.push_back({s->payload(i), s});
      ++pushed;
    }
  }
  return pushed;
}

void MarkSweep::check_remembered_set() {
  class Checker final : public Visitor {
   public:
    explicit Checker(SpanCache& c) : cache_(c) {}
    bool young = false;
    void visit_conservative(const void*, const void*) override {}

   protected:
    void visit_pointer(const void* object) override { note(object, false); }
    void visit_candidate(const void* maybe) override { note(maybe, true); }
    void visit_weak(void* const* slot) override { note(*slot, true); }

   private:
    void note(const void* object, bool exact) {
      std::uint32_t i = 0;
      Span* s = object != nullptr ? cache_.locate(object, i) : nullptr;
      if (s != nullptr && (!exact || s->payload(i) == object) && !s->is_marked(i) && s->scope_depth == 0) {
        young = true;
      }
    }
    SpanCache& cache_;
  } checker(heap_.cache());
  const std::uint8_t* cards = card_bytes.load(std::memory_order_relaxed);
  const std::unordered_set<const void*> reachable = reachable_objects();
  for (Span* s : heap_.cache().all_spans()) {
    if (s->noscan || s->scope_depth != 0 || !carded(s->start, s->end())) continue;
    for (std::uint32_t i = 0; i < s->slots; ++i) {
      if (!s->is_marked(i) || !s->is_allocated(i)) continue;
      void* p = s->payload(i);
      if (reachable.count(p) == 0) continue;
      const TypeInfo& ti = TypeRegistry::get(header_of(p)->type);
      if (ti.trace == nullptr) continue;
      checker.young = false;
      ti.trace(p, checker);
      if (!checker.young) continue;
      const char* begin = static_cast<const char*>(p) - kHeaderSize;
      std::uintptr_t c0 = (reinterpret_cast<std::uintptr_t>(begin) - kCardBase) >> kCardShift;
      std::uintptr_t c1 = (reinterpret_cast<std::uintptr_t>(begin + s->slot_size - 1) - kCardBase) >> kCardShift;
      bool dirty = false;
      for (std::uintptr_t c = c0; c <= c1; ++c) dirty |= cards[c] != 0;
      if (!dirty) {
        std::fprintf(stderr, "moss: MOSS_VERIFY: an old object refers to a young one but no card of it is dirty\n");
        std::abort();
      }
    }
  }
}

void MarkSweep::finish_marking() {
  double start = now_us();
  {
    Pause pause(heap_.pauses(), &heap_.mark_us);
    terminate_marking(false);
    account_cycle();
    begin_sweep();
    end_cycle();
  }
  heap_.trace_line(minor_ ? "minor mark termination" : "mark termination", now_us() - start);
}

void MarkSweep::collect_cycle(bool full) {
  double start = now_us();
  {
    Pause pause(heap_.pauses());
    SpanCache& cache = heap_.cache();
    if (marking_ && minor_ && full) {
      // A minor cycle under way becomes full: with every mark cleared
      // (whatever is grey is traced all the same), termination's root scan
      // and drain find everything reachable.
      cache.clear_all_marks();
      minor_ = false;
      cache.end_span_walk();
      main_.bytes = main_.objects = 0;
    }
    if (!marking_) {
      if (!cache.sweep_done()) {
        PhaseTimer t(heap_.sweep_us);
        cache.finish_sweep();
      }
      PhaseTimer t(heap_.root_scan_us);
      begin_marking(full);
    }
    {
      PhaseTimer t(heap_.mark_us);
      terminate_marking(true);
    }
    account_cycle();
    {
      // With helper threads the sweep runs on all of them at once: they
      // take spans from one end, this thread from the other.
      PhaseTimer t(heap_.sweep_us);
      begin_sweep();
      cache.finish_sweep();
    }
    end_cycle();
  }
  heap_.trace_line(minor_ ? "minor collection" : "full collection", now_us() - start);
  if (verify_each_cycle_) {
    if (const char* p = heap_.cache().verify()) {
      std::fprintf(stderr, "moss: MOSS_VERIFY: %s\n", p);
      std::abort();
    }
  }
}

std::unordered_set<const void*> MarkSweep::reachable_objects() {
  class Tracer final : public Visitor {
   public:
    Tracer(SpanCache& c, std::unordered_set<const void*>& seen, std::vector<const void*>& work)
        : cache_(c), seen_(seen), work_(work) {}
    void visit_conservative(const void* begin, const void* end) override {
      for_each_word(begin, end, [this](const void* w) { add(cache_.find_object(w)); });
    }

   protected:
    void visit_pointer(const void* object) override {
      if (object != nullptr) add(cache_.find_object(object));
    }
    void visit_candidate(const void* maybe) override {
      if (maybe != nullptr && cache_.is_object_start(maybe)) add(maybe);
    }
    void visit_weak(void* const*) override {}

   private:
    void add(const void* p) {
      if (p != nullptr && seen_.insert(p).second) work_.push_back(p);
    }
    SpanCache& cache_;
    std::unordered_set<const void*>& seen_;
    std::vector<const void*>& work_;
  };
  std::unordered_set<const void*> seen;
  std::vector<const void*> work;
  Tracer tracer(heap_.cache(), seen, work);
  visit_stacks(heap_, tracer);
  visit_handles(heap_, tracer);
  while (!work.empty()) {
    const void* p = work.back();
    work.pop_back();
    const TypeInfo& ti = TypeRegistry::get(header_of(p)->type);
    if (ti.trace != nullptr) ti.trace(p, tracer);
  }
  return seen;
}

// Every marked object's references lead to marked objects.
void MarkSweep::check_no_black_to_white(const std::unordered_set<const void*>* only) {
  class Checker final : public Visitor {
   public:
    explicit Checker(SpanCache& c) : cache_(c) {}
    const char* problem = nullptr;
    void visit_conservative(const void*, const void*) override {}

   protected:
    void visit_pointer(const void* object) override {
      if (object == nullptr) return;
      std::uint32_t i = 0;
      Span* s = cache_.locate(object, i);
      if (s != nullptr && !s->is_marked(i)) problem = "a marked object refers to an unmarked one after marking";
    }
    void visit_candidate(const void* maybe) override {
      std::uint32_t i = 0;
      Span* s = cache_.locate(maybe, i);
      if (s != nullptr && s->payload(i) == maybe && !s->is_marked(i))
        problem = "a marked object refers to an unmarked one after marking";
    }
    void visit_weak(void* const*) override {}

   private:
    SpanCache& cache_;
  } checker(heap_.cache());
  heap_.cache().for_each_span([&checker, only](const Span& s) {
    if (s.noscan) return;
    for (std::uint32_t i = 0; i < s.slots; ++i) {
      if (!s.is_marked(i)) continue;
      void* p = s.payload(i);
      if (only != nullptr && only->count(p) == 0) continue;
      const TypeInfo& ti = TypeRegistry::get(header_of(p)->type);
      if (ti.trace != nullptr) ti.trace(p, checker);
    }
  });
  if (checker.problem != nullptr) {
    std::fprintf(stderr, "moss: MOSS_VERIFY: %s\n", checker.problem);
    std::abort();
  }
}

const char* MarkSweep::verify() {
  if (marking_) return nullptr;
  // Every allocated object's header names a registered type, and every
  // reference it holds leads to a live object of this heap.
  class Checker final : public Visitor {
   public:
    explicit Checker(SpanCache& c) : cache_(c) {}
    const char* problem = nullptr;
    void visit_conservative(const void*, const void*) override {}

   protected:
    void visit_pointer(const void* object) override {
      if (object != nullptr && cache_.find_object(object) != object)
        problem = "an object refers to something that is not a live object of this heap";
    }
    void visit_candidate(const void*) override {}
    void visit_weak(void* const* slot) override {
      if (*slot != nullptr && cache_.find_object(*slot) != *slot)
        problem = "a weak reference points to something that is not a live object";
    }

   private:
    SpanCache& cache_;
  } checker(heap_.cache());
  const char* problem = nullptr;
  heap_.cache().finish_sweep();
  heap_.cache().for_each_span([&](const Span& s) {
    for (std::uint32_t i = 0; i < s.slots && problem == nullptr; ++i) {
      if (!s.is_allocated(i)) continue;
      void* p = s.payload(i);
      TypeIndex t = header_of(p)->type;
      if (!TypeRegistry::valid(t)) {
        problem = "an allocated object's header holds no registered type";
        return;
      }
      if ((header_of(p)->gc_state & kFinalizedBit) != 0) continue;  // its references may be gone
      const TypeInfo& ti = TypeRegistry::get(t);
      if (ti.trace != nullptr) ti.trace(p, checker);
      if (checker.problem != nullptr) problem = checker.problem;
    }
  });
  return problem;
}

}  // namespace

std::unique_ptr<CollectorBase> make_mark_sweep(HeapImpl& heap) { return std::make_unique<MarkSweep>(heap); }

}  // namespace moss::detail
