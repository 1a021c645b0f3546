// bench/runner/workloads.hpp — the macro workloads of moss-bench, each
// written once as a template over a manager policy (manager.hpp).
//
//   gcbench      Ellis, Kovac and Boehm's GCBench. A stretch tree of depth
//                size+2; a long-lived tree of depth `size` and an array of
//                500,000 doubles kept alive throughout; then for d = 4, 6, ..
//                size, NumIters(d) = 2 * TreeSize(size+2) / TreeSize(d)
//                trees built top-down (populate) and as many bottom-up, where
//                TreeSize(i) = 2^(i+1) - 1. Reference size 16.
//   binarytrees  The Benchmarks Game shape at depth N = size: a stretch tree
//                of depth N+1, a long-lived tree of depth N, then for
//                d = 4, 6, .. N, 2^(N-d+4) trees of depth d built bottom-up
//                and checked (node count). Its nodes are the Game's: two
//                references and nothing else (M::Pair). Reference size 21.
//   binarytrees-local
//                binarytrees with every checked tree built in a moss
//                LocalScope of its own (one scope per tree, children
//                linked by Member stores between objects of that scope, the
//                check taken inside it): the trees never reach the
//                collector and are reclaimed when their scope closes. The
//                stretch and long-lived trees are ordinary heap objects.
//                Same checksum as binarytrees. Moss managers only
//                (ScopedManager); others throw std::invalid_argument.
//   pause        About `size` MiB kept live (reference 256) in chunks of
//                about 64 KiB each: linked lists of small nodes, binary
//                trees, slot arrays of medium pointer-free arrays, large
//                (> 32 KiB) pointer-free arrays, and large slot arrays of
//                small nodes. Then `iterations` churn steps (default
//                200,000 per MiB), each allocating one short-lived node (in
//                lists of 32 that are summed and dropped), every 64th also a
//                short-lived medium array, and about once per chunk over the
//                run a random chunk of the live set is replaced by a new one,
//                so old objects die too. It exists to measure pauses.
//
// Explicit-free managers (M::explicit_free) get every dropped object back
// through the policy as soon as the workload is done with it: each tree
// after its check, each replaced chunk at once. Collected managers just
// forget.
//
// Every workload returns a checksum computed from what it built (tree
// checks, node fields, array contents) that is the same under every manager
// for the same size and iterations; a corrupted structure changes it, and a
// corruption that the workload can see directly throws WorkloadError.
// Progress lines go to `WorkloadParams::log` when it is not null.
//
// Called by: main.cpp (moss-bench) and tests/test_bench_workloads.cpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "manager.hpp"

namespace moss {
class LocalScope;  // moss/local_scope.hpp; used by run_binarytrees_local only
}  // namespace moss

namespace moss_bench {

enum class Workload { gcbench, binarytrees, pause, binarytrees_local };

// A workload found its own data damaged (a collector freed or overwrote
// something live).
class WorkloadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct WorkloadParams {
  int size = 0;                // 0: the workload's reference size
  std::int64_t iterations = 0; // 0: the default (see each workload)
  std::FILE* log = nullptr;    // progress lines, or null for none
};

inline const char* workload_name(Workload w) {
  switch (w) {
    case Workload::gcbench: return "gcbench";
    case Workload::binarytrees: return "binarytrees";
    case Workload::pause: return "pause";
    case Workload::binarytrees_local: return "binarytrees-local";
  }
  return "?";
}

inline std::optional<Workload> parse_workload(std::string_view name) {
  for (Workload w : {Workload::gcbench, Workload::binarytrees, Workload::pause, Workload::binarytrees_local}) {
    if (name == workload_name(w)) return w;
  }
  return std::nullopt;
}

// The size the anchors were measured at: max tree depth for gcbench, N for
// binarytrees, live MiB for pause.
inline int reference_size(Workload w) {
  switch (w) {
    case Workload::gcbench: return 16;
    case Workload::binarytrees: return 21;
    case Workload::pause: return 256;
    case Workload::binarytrees_local: return 21;
  }
  return 0;
}

// The smallest size each workload accepts.
inline int minimum_size(Workload w) {
  switch (w) {
    case Workload::gcbench: return 4;
    case Workload::binarytrees: return 4;
    case Workload::pause: return 1;
    case Workload::binarytrees_local: return 4;
  }
  return 1;
}

namespace detail {

template <class... Args>
void progress(std::FILE* log, const char* format, Args... args) {
  if (log == nullptr) return;
  std::fprintf(log, format, args...);
  std::fputc('\n', log);
  std::fflush(log);
}

// Tree operations every workload shares, over node type N (M::Node or
// M::Pair). Heights go into i only when N has it.
template <ManagerPolicy M, class N = typename M::Node>
class Trees {
 public:
  using NodeRef = typename M::template Ref<N>;

  explicit Trees(M& m) : m_(m) {}

  // A complete tree of `depth` levels below the root, built bottom-up;
  // every node's i is its height.
  NodeRef bottom_up(int depth) {
    if (depth <= 0) return m_.node(NodeRef{}, NodeRef{});
    NodeRef n = m_.node(bottom_up(depth - 1), bottom_up(depth - 1));
    if constexpr (HasFields<N>) n->i = depth;
    return n;
  }

  // Gives `n` a complete subtree of `depth` levels, top-down; every node's
  // i is its height.
  void populate(int depth, const NodeRef& n) {
    if (depth <= 0) return;
    n->i = depth;
    --depth;
    n->left = m_.node(NodeRef{}, NodeRef{});
    n->right = m_.node(NodeRef{}, NodeRef{});
    populate(depth, n->left);
    populate(depth, n->right);
  }

  // The node count (the Benchmarks Game's check).
  static std::int64_t check(const NodeRef& n) {
    if (!n->left) return 1;
    return 1 + check(n->left) + check(n->right);
  }

  // Node count plus the sum of i over the tree.
  static std::uint64_t digest(const NodeRef& n)
    requires HasFields<N>
  {
    if (!n) return 0;
    return 1 + static_cast<std::uint64_t>(n->i) + digest(n->left) + digest(n->right);
  }

  // Nodes on the leftmost path: depth + 1 for an intact complete tree.
  static std::uint64_t leftmost(const NodeRef& n) {
    std::uint64_t count = 0;
    for (NodeRef p = n; p; p = p->left) ++count;
    return count;
  }

  // Hands a whole tree back to an explicit-free manager.
  void release(const NodeRef& n) {
    if constexpr (M::explicit_free) {
      if (!n) return;
      release(n->left);
      release(n->right);
      m_.free_node(n);
    }
  }

  // Hands a list linked through `left` back, iteratively.
  void release_list(NodeRef n) {
    if constexpr (M::explicit_free) {
      while (n) {
        NodeRef next = n->left;
        m_.free_node(n);
        n = next;
      }
    } else {
      (void)n;
    }
  }

 private:
  M& m_;
};

inline std::int64_t tree_size(int depth) { return (std::int64_t{1} << (depth + 1)) - 1; }

}  // namespace detail

// ---------------------------------------------------------------- gcbench

namespace detail {

// Every phase of GCBench runs in a frame of its own that is popped
// when the phase ends (GCBench's TimeConstruction is a function of its
// own, too). Addresses of a phase's dead trees left in its spill slots then
// lie below the stack pointer, where no conservative scan looks, rather
// than in the caller's frame, where they would keep a dead tree reachable
// for the rest of the run (found with MOSS_EXPLAIN_ROOTS=1: a subtree of
// the stretch tree, 3 MiB, kept to the end). Boehm's manager, which scans
// the stack as conservatively, gets the same frames.
template <ManagerPolicy M>
[[gnu::noinline]] std::uint64_t gcbench_stretch(M& m, int depth) {
  Trees<M> trees(m);
  auto stretch = trees.bottom_up(depth);
  const std::uint64_t leftmost = trees.leftmost(stretch);
  trees.release(stretch);
  return leftmost;
}

// `iterations` trees of `depth` levels, each dropped once built: built
// top-down (populate) or bottom-up. Two functions, not one with a run-time
// flag: with one, whose frame both phases share, GCBench's ms peak RSS was
// 33.7-35.6 MiB instead of 31 (a dead tree kept through the last phase,
// as with a stale slot).
template <bool TopDown, ManagerPolicy M>
[[gnu::noinline]] std::uint64_t gcbench_trees(M& m, int depth, std::int64_t iterations) {
  Trees<M> trees(m);
  std::uint64_t checksum = 0;
  for (std::int64_t k = 0; k < iterations; ++k) {
    typename M::NodeRef tree{};
    if constexpr (TopDown) {
      tree = m.node(typename M::NodeRef{}, typename M::NodeRef{});
      trees.populate(depth, tree);
    } else {
      tree = trees.bottom_up(depth);
    }
    checksum += trees.leftmost(tree);
    trees.release(tree);
  }
  return checksum;
}

}  // namespace detail

template <ManagerPolicy M>
std::uint64_t run_gcbench(M& m, int max_depth, std::FILE* log) {
  using NodeRef = typename M::NodeRef;
  constexpr int min_depth = 4;
  constexpr std::size_t array_size = 500000;
  const int stretch_depth = max_depth + 2;
  detail::Trees<M> trees(m);
  std::uint64_t checksum = 0;

  detail::progress(log, "gcbench: stretching memory with a binary tree of depth %d", stretch_depth);
  checksum += detail::gcbench_stretch(m, stretch_depth);

  detail::progress(log, "gcbench: creating a long-lived binary tree of depth %d", max_depth);
  auto long_lived = m.keep(m.node(NodeRef{}, NodeRef{}));
  trees.populate(max_depth, long_lived.get());

  detail::progress(log, "gcbench: creating a long-lived array of %zu doubles", array_size);
  auto array = m.keep(m.template array<double>(array_size));
  double* values = M::data(array.get());
  for (std::size_t k = 0; k < array_size / 2; ++k) values[k] = 1.0 / static_cast<double>(k);

  for (int depth = min_depth; depth <= max_depth; depth += 2) {
    const std::int64_t iterations = 2 * detail::tree_size(stretch_depth) / detail::tree_size(depth);
    detail::progress(log, "gcbench: creating %lld trees of depth %d (top-down, then bottom-up)",
                     static_cast<long long>(iterations), depth);
    checksum += detail::gcbench_trees<true>(m, depth, iterations);
    checksum += detail::gcbench_trees<false>(m, depth, iterations);
  }

  if (!long_lived.get() || values[1000] != 1.0 / 1000.0) {
    throw WorkloadError("gcbench: the long-lived tree or array did not survive");
  }
  const std::uint64_t long_lived_digest = trees.digest(long_lived.get());
  if (long_lived_digest == 0 || trees.leftmost(long_lived.get()) != static_cast<std::uint64_t>(max_depth) + 1) {
    throw WorkloadError("gcbench: the long-lived tree was damaged");
  }
  checksum += long_lived_digest;
  checksum += static_cast<std::uint64_t>(values[1000] * 1e6);
  if constexpr (M::explicit_free) {
    trees.release(long_lived.get());
    m.free_array(array.get(), array_size);
  }
  return checksum;
}

// ------------------------------------------------------------ binarytrees

template <ManagerPolicy M>
std::uint64_t run_binarytrees(M& m, int n, std::FILE* log) {
  using NodeRef = typename M::template Ref<typename M::Pair>;
  constexpr int min_depth = 4;
  const int max_depth = std::max(min_depth + 2, n);
  const int stretch_depth = max_depth + 1;
  detail::Trees<M, typename M::Pair> trees(m);
  std::uint64_t checksum = 0;

  {
    NodeRef stretch = trees.bottom_up(stretch_depth);
    const std::int64_t check = trees.check(stretch);
    detail::progress(log, "stretch tree of depth %d\t check: %lld", stretch_depth, static_cast<long long>(check));
    checksum += static_cast<std::uint64_t>(check);
    trees.release(stretch);
  }

  auto long_lived = m.keep(trees.bottom_up(max_depth));

  for (int depth = min_depth; depth <= max_depth; depth += 2) {
    const std::int64_t iterations = std::int64_t{1} << (max_depth - depth + min_depth);
    std::int64_t check = 0;
    for (std::int64_t k = 0; k < iterations; ++k) {
      NodeRef tree = trees.bottom_up(depth);
      check += trees.check(tree);
      trees.release(tree);
    }
    detail::progress(log, "%lld\t trees of depth %d\t check: %lld", static_cast<long long>(iterations), depth,
                     static_cast<long long>(check));
    checksum += static_cast<std::uint64_t>(check);
  }

  const std::int64_t long_check = trees.check(long_lived.get());
  detail::progress(log, "long lived tree of depth %d\t check: %lld", max_depth, static_cast<long long>(long_check));
  if (long_check != detail::tree_size(max_depth)) {
    throw WorkloadError("binarytrees: the long-lived tree was damaged");
  }
  checksum += static_cast<std::uint64_t>(long_check);
  trees.release(long_lived.get());
  return checksum;
}

// ------------------------------------------------------ binarytrees-local

// Managers over a moss::Heap (manager_moss.hpp), whose heap can open local
// scopes.
template <class M>
concept ScopedManager = ManagerPolicy<M> && requires(M& m) { m.heap(); };

namespace detail {

// Builds a complete tree of `depth` levels in `scope`, bottom-up, and
// returns its node count. Every node and every link stays inside the scope,
// so nothing escapes; the root pointer dies with this frame, below the
// scope object's, before the scope closes.
template <class M, class Scope>
std::int64_t local_tree_check(Scope& scope, int depth) {
  using Pair = typename M::Pair;
  struct Build {
    Scope& scope;
    Pair* operator()(int d) const {
      Pair* n = scope.template make<Pair>();
      if (d > 0) {
        n->left = (*this)(d - 1);
        n->right = (*this)(d - 1);
      }
      return n;
    }
  };
  Pair* tree = Build{scope}(depth);
  return Trees<M, Pair>::check(tree);
}

}  // namespace detail

// `Scope` is moss::LocalScope, declared here only: this header includes no
// moss header, because moss-bench-mimalloc (built without moss) includes it
// too. It is complete wherever a ScopedManager instantiates this.
template <ScopedManager M, class Scope = moss::LocalScope>
std::uint64_t run_binarytrees_local(M& m, int n, std::FILE* log) {
  using Pair = typename M::Pair;
  using NodeRef = typename M::template Ref<Pair>;
  constexpr int min_depth = 4;
  const int max_depth = std::max(min_depth + 2, n);
  const int stretch_depth = max_depth + 1;
  detail::Trees<M, Pair> trees(m);
  std::uint64_t checksum = 0;

  {
    NodeRef stretch = trees.bottom_up(stretch_depth);
    const std::int64_t check = trees.check(stretch);
    detail::progress(log, "stretch tree of depth %d\t check: %lld", stretch_depth, static_cast<long long>(check));
    checksum += static_cast<std::uint64_t>(check);
  }

  auto long_lived = m.keep(trees.bottom_up(max_depth));

  for (int depth = min_depth; depth <= max_depth; depth += 2) {
    const std::int64_t iterations = std::int64_t{1} << (max_depth - depth + min_depth);
    std::int64_t check = 0;
    for (std::int64_t k = 0; k < iterations; ++k) {
      Scope scope(m.heap());
      check += detail::local_tree_check<M>(scope, depth);
    }
    detail::progress(log, "%lld\t local trees of depth %d\t check: %lld", static_cast<long long>(iterations), depth,
                     static_cast<long long>(check));
    checksum += static_cast<std::uint64_t>(check);
  }

  const std::int64_t long_check = trees.check(long_lived.get());
  detail::progress(log, "long lived tree of depth %d\t check: %lld", max_depth, static_cast<long long>(long_check));
  if (long_check != detail::tree_size(max_depth)) {
    throw WorkloadError("binarytrees-local: the long-lived tree was damaged");
  }
  checksum += static_cast<std::uint64_t>(long_check);
  return checksum;
}

// ------------------------------------------------------------------ pause

template <ManagerPolicy M>
class PauseWorkload {
 public:
  using NodeRef = typename M::NodeRef;
  using AnyRef = typename M::AnyRef;
  using VecRef = typename M::VecRef;
  using Words = typename M::template ArrayRef<std::uint64_t>;

  // Steps per MiB of live data when `iterations` is not given.
  static constexpr std::int64_t default_steps_per_mib = 200000;

  PauseWorkload(M& m, int live_mib, std::int64_t steps)
      : m_(m),
        trees_(m),
        slots_(static_cast<std::size_t>(std::max(16, live_mib * 16))),
        steps_(steps > 0 ? steps : default_steps_per_mib * live_mib) {}

  std::uint64_t run(std::FILE* log) {
    std::uint64_t checksum = 0;
    auto table = m_.keep(m_.vec(slots_));
    std::vector<Kind> kinds(slots_);

    detail::progress(log, "pause: building a live set of %zu chunks of about 64 KiB", slots_);
    for (std::size_t s = 0; s < slots_; ++s) {
      kinds[s] = random_kind();
      m_.set(table.get(), s, build(kinds[s], s));
    }

    detail::progress(log, "pause: churning for %lld steps", static_cast<long long>(steps_));
    const std::int64_t replace_every = std::max<std::int64_t>(1, steps_ / static_cast<std::int64_t>(slots_));
    const std::int64_t report_every = std::max<std::int64_t>(1, steps_ / 8);
    NodeRef temp{};
    int temp_length = 0;
    for (std::int64_t step = 0; step < steps_; ++step) {
      // Short-lived small nodes, in lists that are read once and dropped.
      temp = m_.node(std::move(temp), NodeRef{});
      temp->i = static_cast<int>(step & 0xffff);
      if (++temp_length == temp_list_length) {
        checksum += list_digest(temp);
        trees_.release_list(std::move(temp));
        temp = NodeRef{};
        temp_length = 0;
      }
      // Short-lived medium arrays.
      if (step % garbage_every == garbage_every - 1) {
        const std::size_t words = uniform(garbage_min_words, garbage_max_words);
        Words a = m_.template array<std::uint64_t>(words);
        std::uint64_t* w = M::data(a);
        w[0] = words;
        w[words - 1] = static_cast<std::uint64_t>(step);
        keep_visible(w);
        checksum += w[0] + w[words - 1];
        if constexpr (M::explicit_free) m_.free_array(a, words);
      }
      // Old objects die too: a random chunk of the live set is replaced.
      if (step % replace_every == replace_every - 1) {
        const std::size_t s = static_cast<std::size_t>(uniform(0, slots_ - 1));
        const Kind kind = random_kind();
        AnyRef old = M::get(table.get(), s);
        m_.set(table.get(), s, build(kind, static_cast<std::uint64_t>(step)));
        release(kinds[s], std::move(old));
        kinds[s] = kind;
      }
      if (log != nullptr && step % report_every == report_every - 1) {
        GcReport r = m_.report();
        detail::progress(log, "pause: %lld steps, %llu collections so far", static_cast<long long>(step + 1),
                         static_cast<unsigned long long>(r.collections.value_or(0)));
      }
    }
    trees_.release_list(std::move(temp));

    for (std::size_t s = 0; s < slots_; ++s) {
      checksum += digest(kinds[s], M::get(table.get(), s));
    }
    if constexpr (M::explicit_free) {
      for (std::size_t s = 0; s < slots_; ++s) release(kinds[s], M::get(table.get(), s));
      m_.free_vec(table.get(), slots_);
    }
    return checksum;
  }

 private:
  enum class Kind : std::uint8_t { list, tree, medium_arrays, large_array, large_vec };
  static constexpr int kind_count = 5;

  // Chunk shapes, each about 64 KiB of payload.
  static constexpr int list_length = 2048;            // 2048 nodes
  static constexpr int tree_depth = 10;               // 2047 nodes
  static constexpr std::size_t medium_count = 16;     // 16 arrays of 2-6 KiB
  static constexpr std::size_t medium_min_bytes = 2048, medium_max_bytes = 6144;
  static constexpr std::size_t large_min_bytes = 40 << 10, large_max_bytes = 88 << 10;
  static constexpr std::size_t large_vec_slots = 4608;  // 36 KiB of slots
  static constexpr std::size_t large_vec_stride = 4;    // every 4th holds a node
  // Churn.
  static constexpr int temp_list_length = 32;
  static constexpr std::int64_t garbage_every = 64;
  static constexpr std::size_t garbage_min_words = 32, garbage_max_words = 256;

  // splitmix64: the same sequence under every manager.
  std::uint64_t next() {
    std::uint64_t z = (rng_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  std::size_t uniform(std::size_t lo, std::size_t hi) { return lo + static_cast<std::size_t>(next() % (hi - lo + 1)); }
  Kind random_kind() { return static_cast<Kind>(next() % kind_count); }

  AnyRef build(Kind kind, std::uint64_t tag) {
    const int t = static_cast<int>(tag & 0xffff);
    switch (kind) {
      case Kind::list: {
        NodeRef head{};
        for (int k = 0; k < list_length; ++k) {
          head = m_.node(std::move(head), NodeRef{});
          head->i = t + k;
        }
        return M::any(head);
      }
      case Kind::tree: {
        NodeRef root = trees_.bottom_up(tree_depth);
        root->j = t;
        return M::any(root);
      }
      case Kind::medium_arrays: {
        VecRef v = m_.vec(medium_count);
        for (std::size_t k = 0; k < medium_count; ++k) {
          m_.set(v, k, M::any(words_array(uniform(medium_min_bytes, medium_max_bytes) / 8, tag + k)));
        }
        return M::any(v);
      }
      case Kind::large_array:
        return M::any(words_array(uniform(large_min_bytes, large_max_bytes) / 8, tag));
      case Kind::large_vec: {
        VecRef v = m_.vec(large_vec_slots);
        for (std::size_t k = 0; k < large_vec_slots; k += large_vec_stride) {
          NodeRef n = m_.node(NodeRef{}, NodeRef{});
          n->i = t + static_cast<int>(k);
          m_.set(v, k, M::any(n));
        }
        return M::any(v);
      }
    }
    return AnyRef{};
  }

  // A pointer-free array of `words` words: its length first, then `tag`.
  Words words_array(std::size_t words, std::uint64_t tag) {
    Words a = m_.template array<std::uint64_t>(words);
    std::uint64_t* w = M::data(a);
    w[0] = words;
    std::fill(w + 1, w + words, tag);
    return a;
  }

  static std::uint64_t words_digest(const AnyRef& any) {
    const std::uint64_t* w = M::data(M::template as_array<std::uint64_t>(any));
    const std::uint64_t words = w[0];
    return words + w[words / 2] + w[words - 1];
  }

  static std::uint64_t list_digest(NodeRef n) {
    std::uint64_t sum = 0;
    for (; n; n = n->left) sum += 1 + static_cast<std::uint64_t>(n->i);
    return sum;
  }

  std::uint64_t digest(Kind kind, const AnyRef& chunk) {
    switch (kind) {
      case Kind::list:
        return list_digest(M::as_node(chunk));
      case Kind::tree: {
        NodeRef root = M::as_node(chunk);
        return trees_.digest(root) + static_cast<std::uint64_t>(root->j);
      }
      case Kind::medium_arrays: {
        VecRef v = M::as_vec(chunk);
        std::uint64_t sum = 0;
        for (std::size_t k = 0; k < medium_count; ++k) sum += words_digest(M::get(v, k));
        return sum;
      }
      case Kind::large_array:
        return words_digest(chunk);
      case Kind::large_vec: {
        VecRef v = M::as_vec(chunk);
        std::uint64_t sum = 0;
        for (std::size_t k = 0; k < large_vec_slots; ++k) {
          AnyRef slot = M::get(v, k);
          if ((k % large_vec_stride == 0) != static_cast<bool>(slot)) {
            throw WorkloadError("pause: a large slot array was damaged");
          }
          if (slot) sum += 1 + static_cast<std::uint64_t>(M::as_node(slot)->i);
        }
        return sum;
      }
    }
    return 0;
  }

  // Hands a dropped chunk back to an explicit-free manager.
  void release(Kind kind, AnyRef chunk) {
    if constexpr (M::explicit_free) {
      switch (kind) {
        case Kind::list:
          trees_.release_list(M::as_node(chunk));
          break;
        case Kind::tree:
          trees_.release(M::as_node(chunk));
          break;
        case Kind::medium_arrays: {
          VecRef v = M::as_vec(chunk);
          for (std::size_t k = 0; k < medium_count; ++k) {
            m_.free_array(M::template as_array<std::uint64_t>(M::get(v, k)), 0);
          }
          m_.free_vec(v, medium_count);
          break;
        }
        case Kind::large_array:
          m_.free_array(M::template as_array<std::uint64_t>(chunk), 0);
          break;
        case Kind::large_vec: {
          VecRef v = M::as_vec(chunk);
          for (std::size_t k = 0; k < large_vec_slots; k += large_vec_stride) m_.free_node(M::as_node(M::get(v, k)));
          m_.free_vec(v, large_vec_slots);
          break;
        }
      }
    } else {
      (void)kind;
      (void)chunk;
    }
  }

  M& m_;
  detail::Trees<M> trees_;
  std::size_t slots_;
  std::int64_t steps_;
  std::uint64_t rng_ = 0x6d6f7373ull;  // fixed seed: "moss"
};

// ---------------------------------------------------------------- dispatch

// Runs workload `w` once under manager `m` and returns its checksum. For
// gcbench, binarytrees and binarytrees-local, `iterations` repeats the whole
// workload that many times (default 1) and sums the checksums; for pause it
// is the number of churn steps. binarytrees-local under a manager that is
// not a ScopedManager throws std::invalid_argument.
template <ManagerPolicy M>
std::uint64_t run_workload(Workload w, M& m, const WorkloadParams& params) {
  const int size = params.size > 0 ? params.size : reference_size(w);
  if (size < minimum_size(w)) {
    throw std::invalid_argument(std::string(workload_name(w)) + ": size must be at least " +
                                std::to_string(minimum_size(w)));
  }
  if (w == Workload::pause) {
    PauseWorkload<M> pause(m, size, params.iterations);
    return pause.run(params.log);
  }
  if constexpr (!ScopedManager<M>) {
    if (w == Workload::binarytrees_local) {
      throw std::invalid_argument(std::string(workload_name(w)) + " needs moss local scopes: it runs under " +
                                  "--gc=ms and --gc=rc only, not " + M::name);
    }
  }
  const std::int64_t repeats = params.iterations > 0 ? params.iterations : 1;
  std::uint64_t checksum = 0;
  for (std::int64_t r = 0; r < repeats; ++r) {
    if (w == Workload::gcbench) {
      checksum += run_gcbench(m, size, params.log);
    } else if (w == Workload::binarytrees) {
      checksum += run_binarytrees(m, size, params.log);
    } else if constexpr (ScopedManager<M>) {
      checksum += run_binarytrees_local(m, size, params.log);
    }
  }
  return checksum;
}

}  // namespace moss_bench
