// gc/helper_threads.hpp — a heap's helper threads (HeapOptions::helper_threads).
//
// A small fixed pool that runs one job at a time on every helper: the
// mark-sweep collector uses it for parallel marking inside its pauses (the
// owner thread joins in as worker 0 and waits for the job to end: run())
// and for sweeping in the background while the owner runs on (post(); the
// owner waits for it with wait() before it touches what the job uses).
//
// Threads start on first use. A child process after fork() starts its own
// (the parent's are not there): the pool notices the new process id. A
// fork() waits for every pool's running job first (pthread_atfork), so no
// job is cut in half in the child.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace moss::detail {

class HelperThreads {
 public:
  using Job = std::function<void(unsigned worker)>;

  explicit HelperThreads(unsigned helpers);
  ~HelperThreads();
  HelperThreads(const HelperThreads&) = delete;
  HelperThreads& operator=(const HelperThreads&) = delete;

  unsigned helpers() const { return helpers_; }
  // Runs `job` on every helper (workers 1..helpers) and on the calling
  // thread (worker 0); returns when all are done.
  void run(const Job& job);
  // Starts `job` on every helper (workers 1..helpers) and returns.
  void post(const Job& job);
  // Returns when the last job posted is done on every helper.
  void wait();

  // pthread_atfork: every pool's job ends before a fork().
  static void quiesce_all();

 private:
  void start(const Job& job);
  void ensure_threads();
  void worker(unsigned id, std::uint64_t seen);

  unsigned helpers_;
  std::vector<std::thread>* threads_ = nullptr;  // leaked in a forked child
  int pid_ = 0;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  Job job_;
  std::uint64_t generation_ = 0;
  unsigned running_ = 0;
  bool stop_ = false;
};

}  // namespace moss::detail
