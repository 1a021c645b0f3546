// bench/runner/manager_boehm.hpp — the Boehm-Demers-Weiser baseline
// (`--gc=boehm`): libgc as Debian ships it, conservative and
// stop-the-world, with parallel marking on.
//
// Nodes and slot arrays come from GC_MALLOC (scanned), pointer-free arrays
// from GC_MALLOC_ATOMIC (never scanned). Nothing is freed by hand; what the
// workload forgets is collected. Debian's libgc is built with parallel
// marking, but it only starts its marker threads once a program creates a
// thread or asks; a single-threaded benchmark asks (GC_start_mark_threads),
// as any threaded client would get them.
//
// Collections are GC_get_gc_no() counted from construction. Pauses are
// timed from libgc's collection events: in this mode the allocating thread
// is stopped from GC_EVENT_START to GC_EVENT_END (marking included), so
// each such span is one pause.
//
// Called by: workloads.hpp through the contract in manager.hpp; main.cpp and
// tests/test_bench_workloads.cpp construct it (one at a time).
#pragma once

#ifndef GC_THREADS
#define GC_THREADS
#endif
#include <gc/gc.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#include "manager.hpp"
#include "manager_raw.hpp"

namespace moss_bench {

class BoehmManager : public RawTypes {
 public:
  static constexpr const char* name = "boehm";
  static constexpr bool explicit_free = false;

  BoehmManager() {
    static const bool initialized = [] {
      GC_INIT();
      GC_start_mark_threads();
      return true;
    }();
    (void)initialized;
    pause_log().count = 0;
    pause_log().dropped = 0;
    GC_set_on_collection_event(&on_collection_event);
    start_gc_no_ = GC_get_gc_no();
  }
  ~BoehmManager() { GC_set_on_collection_event(nullptr); }
  BoehmManager(const BoehmManager&) = delete;
  BoehmManager& operator=(const BoehmManager&) = delete;

  // Marker threads in use, counting the collecting thread itself.
  static int markers() { return GC_get_parallel() + 1; }

  template <class N>
  N* node(N* left, N* right) {
    N* n = static_cast<N*>(checked(GC_MALLOC(sizeof(N))));
    n->left = left;
    n->right = right;
    return n;
  }
  template <class E>
  ArrayRef<E> array(std::size_t n) {
    return static_cast<E*>(checked(GC_MALLOC_ATOMIC(n * sizeof(E))));
  }
  VecRef vec(std::size_t n) { return static_cast<void**>(checked(GC_MALLOC(n * sizeof(void*)))); }

  // Never called (explicit_free is false); present so the contract holds.
  template <class N>
  void free_node(N*) {}
  template <class E>
  void free_array(ArrayRef<E>, std::size_t) {}
  void free_vec(VecRef, std::size_t) {}

  GcReport report() const {
    GcReport r;
    r.collections = GC_get_gc_no() - start_gc_no_;
    const PauseLog& log = pause_log();
    summarize_pauses(std::vector<double>(log.pauses_us, log.pauses_us + log.count), r);
    return r;
  }

 private:
  // Filled from inside libgc (with its lock held), so it never allocates:
  // pauses past the capacity are counted as dropped, not recorded.
  struct PauseLog {
    static constexpr std::size_t capacity = 1u << 16;
    double pauses_us[capacity];
    std::size_t count = 0;
    std::uint64_t dropped = 0;
    std::chrono::steady_clock::time_point started;
  };
  static PauseLog& pause_log() {
    static PauseLog log;
    return log;
  }

  static void on_collection_event(GC_EventType event) {
    PauseLog& log = pause_log();
    if (event == GC_EVENT_START) {
      log.started = std::chrono::steady_clock::now();
    } else if (event == GC_EVENT_END) {
      double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - log.started).count();
      if (log.count < PauseLog::capacity) {
        log.pauses_us[log.count++] = us;
      } else {
        ++log.dropped;
      }
    }
  }

  static void* checked(void* p) {
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }

  GC_word start_gc_no_ = 0;
};

}  // namespace moss_bench
