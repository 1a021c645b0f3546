// tests/soak_mutator.hpp — a randomized mutator checked against a shadow
// model, shared by the soak (tests/soak.cpp) and the fuzz target
// (tests/fuzz/fuzz_heap.cpp).
//
// The mutator draws every decision from a `Source` (a seeded generator for
// the soak, the fuzzer's bytes for the fuzz target) and drives one heap
// through everything an embedder does: allocation (small, large and leaf
// garbage), Member stores, Heap::write of tagged words and references,
// WeakMember stores, Root changes, coroutines that hold objects only on
// their suspended stacks, local scopes whose objects sometimes escape, and
// collections, full and incremental (small pacing goals make automatic
// cycles frequent).
//
// The model keeps, per node id, the pointer, the value, the three strong
// edges, the tagged slot (an integer or an id), the weak edge, and whether
// the node's finalizer ran. Its roots are the Root handles and the nodes
// held by live coroutines. After every full collection `check()` compares:
//  - every node the model reaches is live, never finalized, and holds the
//    value and edges the model says (lost / corrupt);
//  - a weak edge to a reachable node still points at it; one to an
//    unreachable node is either cleared or still points at it;
//  - every node the model cannot reach was finalized, but for a small
//    slack: conservative stack scanning may keep a few stale ones (a node
//    counts only once it was unreclaimed at two checks in a row: a stale
//    word can keep a whole detached subgraph for one check);
//  - heap.verify() finds nothing.
// Once unreachable, a node never becomes reachable again (stores only take
// reachable nodes), so confirmed-dead nodes leave the model's working set
// and the cost of a step stays proportional to the live graph.
#pragma once

#include <moss/moss.hpp>

#include <array>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace moss_soak {

constexpr int kEdges = 3;
constexpr long kNone = -1;
// Unreachable nodes a full collection may keep because a stale word on a
// scanned stack still points at them.
#if defined(__SANITIZE_ADDRESS__)
// AddressSanitizer's larger frames and redzones leave more stale words on
// the stack for the conservative scan to find, and one stale word can hold a
// whole detached group (several hundred nodes) for two checks.
constexpr long kConservativeSlack = 1024;
#else
constexpr long kConservativeSlack = 32;
#endif

// What the finalizer of a node reports to: the model of the mutator that
// made it (a null model ignores finalizations).
struct FinalizeLog {
  std::vector<char> finalized;  // by id
};

struct SNode {
  static inline FinalizeLog* log = nullptr;
  moss::Member<SNode> edges[kEdges];
  moss::WeakMember<SNode> weak;
  void* tagged = nullptr;  // written with Heap::write: an odd integer or a node
  long id;
  long value;
  SNode(long i, long v) : id(i), value(v) {}
  ~SNode() {
    if (log != nullptr && id >= 0 && static_cast<std::size_t>(id) < log->finalized.size()) {
      log->finalized[static_cast<std::size_t>(id)] = 1;
    }
    id = -2;  // a use after finalization shows up as a wrong id
  }
  void trace(moss::Visitor& v) const {
    for (const auto& e : edges) v.visit(e);
    v.visit(weak);
    v.visit_word(reinterpret_cast<std::uintptr_t>(tagged));
  }
};

// Pointer-free garbage.
struct Blob {
  long words[2];
};

struct CheckResult {
  long lost = 0, corrupt = 0, weak_wrong = 0, unreclaimed = 0;
  std::string verify_error;
  bool ok() const { return lost == 0 && corrupt == 0 && weak_wrong == 0 && unreclaimed <= kConservativeSlack && verify_error.empty(); }
};

struct Totals {
  std::uint64_t ops = 0, checks = 0, failed_checks = 0, allocations = 0, full_collections = 0;
  std::uint64_t coroutines = 0, scopes = 0, escapes = 0, local_frees = 0, max_unreclaimed = 0;
  std::uint64_t lost = 0, corrupt = 0;
};

// Source: `unsigned next(unsigned bound)` returns a value below bound (bound
// > 0) and `bool exhausted()` says when to stop.
template <class Source>
class Mutator {
 public:
  Mutator(moss::Heap& heap, Source& source, std::size_t max_live = 3000)
      : heap_(heap), src_(source), max_live_(max_live) {
    SNode::log = &log_;
  }
  ~Mutator() {
    coroutines_.clear();
    roots_.clear();
    SNode::log = nullptr;
  }
  Mutator(const Mutator&) = delete;
  Mutator& operator=(const Mutator&) = delete;

  const Totals& totals() const { return totals_; }
  const CheckResult& last_failure() const { return last_failure_; }

  // One randomly chosen operation.
  [[gnu::noinline]] void step() {
    ++totals_.ops;
    unsigned op = src_.next(100);
    bool crowded = reachable_ids().size() > max_live_;
    if (op < 22) {
      new_node_op();
    } else if (op < 40) {
      rewire_op(crowded);
    } else if (op < 48) {
      tagged_op(crowded);
    } else if (op < 54) {
      weak_op();
    } else if (op < 64) {
      root_op(crowded);
    } else if (op < 74) {
      coroutine_op();
    } else if (op < 82) {
      scope_op();
    } else if (op < 99) {
      garbage_op();
    } else {
      full_collection();
    }
  }

  // A full collection followed by the model check; returns its verdict.
  [[gnu::noinline]] bool full_collection() {
    scrub();
    heap_.collect();
    scrub();
    heap_.collect();
    ++totals_.full_collections;
    return check();
  }

  // Compares heap and model (after a full collection).
  bool check() {
    CheckResult r;
    const std::vector<long>& live = reachable_ids();
    std::vector<long> still_pending;
    for (long id : live) check_reachable(id, r);
    for (long id : pending_) {
      auto i = static_cast<std::size_t>(id);
      if (seen_[i] == epoch_) {
        still_pending.push_back(id);
      } else if (!log_.finalized[i]) {
        // Kept by a stale word once is conservative scanning; still kept
        // at the next check, after more mutator work, counts.
        if (unreclaimed_at_[i] == 0) unreclaimed_at_[i] = totals_.checks + 1;
        if (unreclaimed_at_[i] <= totals_.checks) ++r.unreclaimed;
        still_pending.push_back(id);
      }
    }
    pending_.swap(still_pending);
    try {
      heap_.verify();
    } catch (const moss::Error& e) {
      r.verify_error = e.what();
    }
    ++totals_.checks;
    totals_.lost += static_cast<std::uint64_t>(r.lost);
    totals_.corrupt += static_cast<std::uint64_t>(r.corrupt + r.weak_wrong);
    if (static_cast<std::uint64_t>(r.unreclaimed) > totals_.max_unreclaimed) {
      totals_.max_unreclaimed = static_cast<std::uint64_t>(r.unreclaimed);
    }
    if (!r.ok()) {
      ++totals_.failed_checks;
      last_failure_ = r;
    }
    return r.ok();
  }

  // Ends every coroutine and drops every root: everything becomes garbage.
  void release_all() {
    for (auto& c : coroutines_) c.ids.clear();
    coroutines_.clear();
    roots_.clear();
    root_ids_.clear();
    dirty_ = true;
  }

 private:
  struct Edgeset {
    std::array<long, kEdges> edges{kNone, kNone, kNone};
    long tagged_ref = kNone;  // the tagged slot holds this node ...
    long tagged_int = 0;      // ... or, when tagged_ref is kNone, this integer (0: null)
    long weak = kNone;
  };
  struct Co {
    std::unique_ptr<moss::Coroutine> co;
    std::vector<long> ids;  // nodes its suspended stack holds
    bool corrupt = false;
  };
  static constexpr int kCoHeld = 4;
  static constexpr std::size_t kMaxCoroutines = 6;
  static constexpr std::size_t kMaxRoots = 64;

  unsigned pick(unsigned bound) { return bound == 0 ? 0 : src_.next(bound); }
  long pick_reachable() {
    const std::vector<long>& ids = reachable_ids();
    return ids.empty() ? kNone : ids[pick(static_cast<unsigned>(ids.size()))];
  }
  static long value_for(long id) { return id * 7919 + 13; }

  // A new node in the model (its id), allocated on the heap or in a scope.
  SNode* new_node(moss::LocalScope* scope = nullptr) {
    long id = static_cast<long>(ptr_.size());
    SNode* n = scope != nullptr ? scope->make<SNode>(id, value_for(id)) : moss::make<SNode>(heap_, id, value_for(id));
    ptr_.push_back(n);
    model_.push_back({});
    log_.finalized.push_back(0);
    seen_.push_back(0);
    unreclaimed_at_.push_back(0);
    pending_.push_back(id);
    ++totals_.allocations;
    return n;
  }
  SNode* node(long id) const { return id == kNone ? nullptr : ptr_[static_cast<std::size_t>(id)]; }
  Edgeset& edges_of(long id) { return model_[static_cast<std::size_t>(id)]; }

  // Overwriting an edge may cut the last path to its old target.
  void set_edge(long from, int e, long to) {
    if (edges_of(from).edges[static_cast<std::size_t>(e)] != kNone) dirty_ = true;
    node(from)->edges[e] = node(to);
    edges_of(from).edges[static_cast<std::size_t>(e)] = to;
  }
  void set_tagged(long from, long to, long integer) {
    void* word = to != kNone ? static_cast<void*>(node(to))
                             : reinterpret_cast<void*>(static_cast<std::uintptr_t>(integer) << 1 | 1);
    if (to == kNone && integer == 0) word = nullptr;
    if (edges_of(from).tagged_ref != kNone) dirty_ = true;
    heap_.write(node(from), &node(from)->tagged, word);
    edges_of(from).tagged_ref = to;
    edges_of(from).tagged_int = to == kNone ? integer : 0;
  }

  void new_node_op() {
    SNode* n = new_node();
    long id = n->id;
    long parent = pick_reachable();
    if (parent != kNone && pick(4) != 0) {
      if (pick(4) == 0) {
        set_tagged(parent, id, 0);
      } else {
        set_edge(parent, static_cast<int>(pick(kEdges)), id);
      }
      reachable_.push_back(id);
      seen_[static_cast<std::size_t>(id)] = epoch_;
    } else if (roots_.size() < kMaxRoots) {
      roots_.push_back(std::make_unique<moss::Root<SNode>>(heap_, n));
      root_ids_.push_back(id);
      reachable_.push_back(id);
      seen_[static_cast<std::size_t>(id)] = epoch_;
    }
  }

  void rewire_op(bool crowded) {
    long from = pick_reachable();
    if (from == kNone) return;
    long to = (crowded || pick(3) == 0) ? kNone : pick_reachable();
    set_edge(from, static_cast<int>(pick(kEdges)), to);
    dirty_ = true;
  }

  void tagged_op(bool crowded) {
    long from = pick_reachable();
    if (from == kNone) return;
    if (crowded || pick(2) == 0) {
      set_tagged(from, kNone, static_cast<long>(pick(1u << 20)));
    } else {
      set_tagged(from, pick_reachable(), 0);
    }
    dirty_ = true;
  }

  void weak_op() {
    long from = pick_reachable();
    if (from == kNone) return;
    long to = pick(4) == 0 ? kNone : pick_reachable();
    node(from)->weak = node(to);
    edges_of(from).weak = to;
  }

  void root_op(bool crowded) {
    unsigned what = pick(3);
    if ((what == 0 || crowded) && !roots_.empty()) {  // drop one
      std::size_t k = pick(static_cast<unsigned>(roots_.size()));
      roots_[k] = std::move(roots_.back());
      roots_.pop_back();
      root_ids_[k] = root_ids_.back();
      root_ids_.pop_back();
      dirty_ = true;
    } else if (what == 1 && !roots_.empty()) {  // retarget one
      std::size_t k = pick(static_cast<unsigned>(roots_.size()));
      long to = pick_reachable();
      *roots_[k] = node(to);
      root_ids_[k] = to;
      dirty_ = true;
    } else if (roots_.size() < kMaxRoots) {  // root a reachable node twice over
      long id = pick_reachable();
      if (id == kNone) return;
      roots_.push_back(std::make_unique<moss::Root<SNode>>(heap_, node(id)));
      root_ids_.push_back(id);
    }
  }

  // The body of every coroutine: holds up to kCoHeld nodes in its own frame
  // (nowhere else), checks them on each resume, sometimes replaces one.
  [[gnu::noinline]] void coroutine_body(moss::Yield& yield, std::size_t slot) {
    SNode* volatile held[kCoHeld] = {};
    long expect[kCoHeld] = {kNone, kNone, kNone, kNone};
    auto hold = [&](int k) {
      SNode* n = new_node();
      held[k] = n;
      expect[k] = n->id;
      coroutines_[slot].ids[static_cast<std::size_t>(k)] = n->id;
      reachable_.push_back(n->id);
      seen_[static_cast<std::size_t>(n->id)] = epoch_;
    };
    for (int k = 0; k < kCoHeld; ++k) hold(k);
    // Edges among its own nodes only: the model sees them through `ids`.
    set_edge(expect[0], 0, expect[1]);
    set_edge(expect[2], 1, expect[3]);
    while (yield(nullptr) == nullptr) {
      for (int k = 0; k < kCoHeld; ++k) {
        SNode* n = held[k];
        if (n->id != expect[k] || n->value != value_for(expect[k]) || log_.finalized[static_cast<std::size_t>(expect[k])]) {
          coroutines_[slot].corrupt = true;
        }
      }
      if (pick(2) == 0) {
        int k = static_cast<int>(pick(kCoHeld));
        hold(k);
        dirty_ = true;
      }
      // Garbage made on this stack, to get collections to run here.
      for (int g = static_cast<int>(pick(64)); g > 0; --g) moss::make<Blob>(heap_);
    }
  }

  void coroutine_op() {
    unsigned what = pick(4);
    std::size_t slot = pick(static_cast<unsigned>(kMaxCoroutines));
    if (slot >= coroutines_.size()) coroutines_.resize(slot + 1);
    Co& c = coroutines_[slot];
    if (!c.co) {
      if (what != 0) return;
      c.ids.assign(kCoHeld, kNone);
      c.co = std::make_unique<moss::Coroutine>(heap_, [this, slot](moss::Yield& y) { coroutine_body(y, slot); });
      coroutines_[slot].co->resume();
      ++totals_.coroutines;
      return;
    }
    if (what == 1) {  // let it finish
      c.co->resume(reinterpret_cast<void*>(1));
    } else if (what == 2) {  // destroy it while suspended: its stack unwinds
      c.co.reset();
    } else {
      c.co->resume();
      if (c.corrupt) {
        ++totals_.corrupt;
        c.corrupt = false;
      }
      return;
    }
    // Gone: the nodes it held are garbage now.
    c.co.reset();
    c.ids.assign(kCoHeld, kNone);
    dirty_ = true;
  }

  // Opens a scope, builds a few scope-local nodes, makes some escape (by a
  // store into a reachable node, by a Root, or by moss::escape) and closes
  // it; the model then holds the escaped ones like any other node.
  [[gnu::noinline]] void scope_op() {
    ++totals_.scopes;
    std::size_t first = ptr_.size();
    scope_body();
    // Nodes of the scope the model reaches escaped; the rest are garbage
    // (reclaimed at exit, or kept a while if a stale stack word pointed at
    // them, and collected later).
    dirty_ = true;
    const std::vector<long>& live = reachable_ids();
    for (long id : live) {
      if (static_cast<std::size_t>(id) >= first && heap_.find_object(node(id)) != node(id)) ++totals_.lost;
    }
  }

  [[gnu::noinline]] void scope_body() {
    moss::LocalScope scope(heap_);
    long locals[8];
    // The scope's nodes are referred to from this frame (the model's
    // pointers are in unscanned memory), as an embedder's would be.
    SNode* volatile held[8] = {};
    int n = 1 + static_cast<int>(pick(8));
    for (int i = 0; i < n; ++i) {
      held[i] = new_node(&scope);
      locals[i] = held[i]->id;
      if (i > 0 && pick(2) == 0) set_edge(locals[i], static_cast<int>(pick(kEdges)), locals[pick(static_cast<unsigned>(i))]);
      if (pick(3) == 0) {
        long to = pick_reachable();
        if (to != kNone) set_edge(locals[i], static_cast<int>(pick(kEdges)), to);
      }
    }
    unsigned how = pick(4);
    long l = locals[pick(static_cast<unsigned>(n))];
    if (how == 0) {
      long holder = pick_reachable();
      if (holder != kNone) {
        set_edge(holder, static_cast<int>(pick(kEdges)), l);
        ++totals_.escapes;
      }
    } else if (how == 1 && roots_.size() < kMaxRoots) {
      roots_.push_back(std::make_unique<moss::Root<SNode>>(heap_, node(l)));
      root_ids_.push_back(l);
      ++totals_.escapes;
    } else if (how == 2) {
      moss::escape(heap_, node(l));
      ++totals_.escapes;  // escaped but unreachable: garbage for the collector
    }
    // Sometimes the nodes that stayed local are freed before the scope
    // closes, as an interpreter frees a dead frame (they are garbage: none
    // is reachable, and one a reachable node refers to escaped with it).
    if (pick(2) == 0) {
      for (int i = 0; i < n; ++i) {
        if (moss::is_local(node(locals[i]))) {
          heap_.free(node(locals[i]));
          ++totals_.local_frees;
        }
      }
    }
    for (auto& h : held) h = nullptr;
  }

  void garbage_op() {
    unsigned what = pick(16);
    if (what == 0) {
      // A large object (its own span).
      moss::make_trailing<Blob>(heap_, 40000 + pick(60000));
    } else if (what < 6) {
      for (int g = static_cast<int>(pick(200)); g > 0; --g) moss::make_trailing<Blob>(heap_, pick(512));
    } else {
      // Unreachable nodes in short chains (a stale stack word pointing at
      // one keeps only its chain), some closed into cycles.
      for (int chains = 1 + static_cast<int>(pick(8)); chains > 0; --chains) garbage_chain(1 + static_cast<int>(pick(10)));
    }
  }

  [[gnu::noinline]] void garbage_chain(int length) {
    SNode* first = nullptr;
    SNode* prev = nullptr;
    for (int g = 0; g < length; ++g) {
      SNode* n = new_node();
      if (first == nullptr) first = n;
      n->edges[0] = prev;
      edges_of(n->id).edges[0] = prev != nullptr ? prev->id : kNone;
      prev = n;
    }
    if (pick(2) == 0) {  // a cycle, for the cycle collector
      first->edges[1] = prev;
      edges_of(first->id).edges[1] = prev->id;
    }
  }

  void check_reachable(long id, CheckResult& r) {
    auto i = static_cast<std::size_t>(id);
    SNode* n = ptr_[i];
    if (log_.finalized[i] || heap_.find_object(n) != n) {
      ++r.lost;
      return;
    }
    if (n->id != id || n->value != value_for(id)) ++r.corrupt;
    const Edgeset& m = model_[i];
    for (int e = 0; e < kEdges; ++e) {
      if (n->edges[e].get() != node(m.edges[static_cast<std::size_t>(e)])) ++r.corrupt;
    }
    void* want = m.tagged_ref != kNone ? static_cast<void*>(node(m.tagged_ref))
                 : m.tagged_int != 0   ? reinterpret_cast<void*>(static_cast<std::uintptr_t>(m.tagged_int) << 1 | 1)
                                       : nullptr;
    if (n->tagged != want) ++r.corrupt;
    if (m.weak != kNone) {
      SNode* w = n->weak.get();
      bool target_live = seen_[static_cast<std::size_t>(m.weak)] == epoch_;
      bool dangling = w != nullptr && log_.finalized[static_cast<std::size_t>(m.weak)];
      if (dangling || (target_live ? w != node(m.weak) : (w != nullptr && w != node(m.weak)))) {
        ++r.weak_wrong;
      } else if (w == nullptr) {
        model_[i].weak = kNone;  // cleared: its target was reclaimed
      }
    } else if (n->weak.get() != nullptr) {
      ++r.weak_wrong;
    }
  }

  // The ids the model reaches from Roots and coroutine stacks; recomputed
  // only after something may have cut an edge.
  const std::vector<long>& reachable_ids() {
    if (!dirty_) return reachable_;
    dirty_ = false;
    ++epoch_;
    reachable_.clear();
    work_.clear();
    for (long id : root_ids_) work_.push_back(id);
    for (const Co& c : coroutines_) {
      for (long id : c.ids) work_.push_back(id);
    }
    while (!work_.empty()) {
      long id = work_.back();
      work_.pop_back();
      if (id == kNone || seen_[static_cast<std::size_t>(id)] == epoch_) continue;
      seen_[static_cast<std::size_t>(id)] = epoch_;
      reachable_.push_back(id);
      const Edgeset& m = model_[static_cast<std::size_t>(id)];
      for (long e : m.edges) work_.push_back(e);
      work_.push_back(m.tagged_ref);
    }
    return reachable_;
  }

  // Overwrites the stack below the caller, so stale words in dead frames do
  // not pose as references.
  [[gnu::noinline]] static void scrub() {
    char* buffer = static_cast<char*>(__builtin_alloca(32 * 1024));
    for (std::size_t i = 0; i < 32 * 1024; i += 8) *reinterpret_cast<volatile std::uint64_t*>(buffer + i) = 0;
    asm volatile("" : : "r"(buffer) : "memory");
  }

  moss::Heap& heap_;
  Source& src_;
  std::size_t max_live_;
  FinalizeLog log_;
  std::vector<SNode*> ptr_;  // by id; plain memory, not a root
  std::vector<Edgeset> model_;
  std::vector<std::uint32_t> seen_;
  std::vector<std::uint64_t> unreclaimed_at_;  // by id: the check that first found it unreclaimed
  std::uint32_t epoch_ = 1;
  std::vector<long> pending_;  // ids not yet confirmed reclaimed
  std::vector<long> reachable_;
  std::vector<long> work_;
  bool dirty_ = true;
  std::vector<std::unique_ptr<moss::Root<SNode>>> roots_;
  std::vector<long> root_ids_;
  std::vector<Co> coroutines_;
  Totals totals_;
  CheckResult last_failure_;
};

}  // namespace moss_soak
