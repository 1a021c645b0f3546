// bench/runner/manager.hpp — the contract between moss-bench's workloads and
// the memory managers they run under.
//
// Every workload (workloads.hpp) is written once, as a template over a
// manager policy `M`. A policy is a small class that owns one memory manager
// (a moss heap, libgc, glibc new/delete, std::shared_ptr, mimalloc) and
// gives the workloads four kinds of object:
//
//   Ref<Node>        a 4-field node: `left`, `right` (references to nodes
//                    of its own type that assign from Ref<Node> and read
//                    back as one) and `int i, j` (GCBench's node). NodeRef
//                    names Ref<Node>.
//   Ref<Pair>        a 2-field node: `left` and `right` only (the Benchmarks
//                    Game's node).
//   ArrayRef<E>      a pointer-free array of n trivially copyable E (contents
//                    unspecified until written); `M::data(a)` is its E*.
//   VecRef           an array of n AnyRef slots, all null when made.
//   AnyRef           a reference to any of the above, for heterogeneous slots.
//
// and these operations (all on an instance `m`, except where static):
//
//   m.node(Ref<N> left, Ref<N> right)      a new Node or Pair (i = j = 0)
//   m.array<E>(n)                          a new pointer-free array
//   m.vec(n)                               a new slot array
//   M::data(a), M::get(v, k), m.set(v, k, AnyRef)
//   M::any(ref), M::as_node(any), M::as_array<E>(any), M::as_vec(any)
//   m.free_node(r), m.free_array(a, n), m.free_vec(v, n)
//                                          reclaim one object now; only
//                                          called when M::explicit_free
//   m.keep(ref)                            a holder that keeps ref alive for
//                                          as long as the holder exists (a
//                                          moss::Root for moss); .get()
//   m.report()                             collections and pauses so far
//
// `M::explicit_free` says whether the workload must free what it drops
// (glibc, mimalloc) or may simply forget it (collectors, shared_ptr).
// `M::name` is the `--gc=` spelling.
//
// Called by: workloads.hpp (the workloads), main.cpp (reporting) and
// tests/test_bench_workloads.cpp.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace moss_bench {

// What a manager knows about its own collections once a workload is done.
// Absent fields print as "na".
struct GcReport {
  std::optional<std::uint64_t> collections;
  std::optional<double> pause_p50_us, pause_p99_us, pause_max_us;
  // The sum of all pauses: the time the workload's thread spent on
  // collection work (slices, terminations, full collections).
  std::optional<double> pause_total_us;
};

// p50/p99/max of a set of pause durations (nearest-rank percentiles), for
// managers that time their own pauses. Leaves the report's pause fields
// empty when there were no pauses.
inline void summarize_pauses(std::vector<double> pauses_us, GcReport& report) {
  if (pauses_us.empty()) {
    report.pause_p50_us = report.pause_p99_us = report.pause_max_us = report.pause_total_us = 0.0;
    return;
  }
  std::sort(pauses_us.begin(), pauses_us.end());
  auto rank = [&](double q) {
    std::size_t k = static_cast<std::size_t>(q * static_cast<double>(pauses_us.size()) + 0.999999);
    if (k == 0) k = 1;
    return pauses_us[std::min(k, pauses_us.size()) - 1];
  };
  report.pause_p50_us = rank(0.50);
  report.pause_p99_us = rank(0.99);
  report.pause_max_us = pauses_us.back();
  double total = 0;
  for (double p : pauses_us) total += p;
  report.pause_total_us = total;
}

// Keeps the compiler from proving that an allocation is never used (and so
// from removing a new/delete pair the workload means to measure).
template <class T>
inline void keep_visible(const T& value) {
  asm volatile("" : : "g"(&value) : "memory");
}

// A holder for managers whose references need no registration: the value
// itself, kept on the stack (which the conservative collectors scan).
template <class Ref>
class PlainHold {
 public:
  explicit PlainHold(Ref ref) : ref_(std::move(ref)) {}
  const Ref& get() const { return ref_; }

 private:
  Ref ref_;
};

// Whether node type N carries GCBench's two int fields.
template <class N>
concept HasFields = requires(N& n) {
  n.i = 0;
  n.j = 0;
};

// The operations every policy provides; checked where the workloads are
// instantiated so that a policy that drifts fails to compile with a reason.
template <class M>
concept ManagerPolicy = requires(M& m, typename M::NodeRef n, typename M::template Ref<typename M::Pair> p,
                                 typename M::VecRef v, typename M::AnyRef a, std::size_t k) {
  { M::name } -> std::convertible_to<const char*>;
  { M::explicit_free } -> std::convertible_to<bool>;
  requires std::same_as<typename M::NodeRef, typename M::template Ref<typename M::Node>>;
  { m.node(n, n) } -> std::convertible_to<typename M::NodeRef>;
  { m.node(p, p) } -> std::convertible_to<typename M::template Ref<typename M::Pair>>;
  n->i = 1;
  n->left = n;
  p->left = p;
  { m.vec(k) } -> std::convertible_to<typename M::VecRef>;
  { M::get(v, k) } -> std::convertible_to<typename M::AnyRef>;
  m.set(v, k, a);
  { M::any(n) } -> std::convertible_to<typename M::AnyRef>;
  { M::as_node(a) } -> std::convertible_to<typename M::NodeRef>;
  { M::as_vec(a) } -> std::convertible_to<typename M::VecRef>;
  { m.template array<double>(k) } -> std::convertible_to<typename M::template ArrayRef<double>>;
  { M::data(m.template array<double>(k)) } -> std::convertible_to<double*>;
  m.free_node(n);
  m.free_node(p);
  m.free_vec(v, k);
  m.keep(n).get();
  { m.report() } -> std::convertible_to<GcReport>;
};

}  // namespace moss_bench
