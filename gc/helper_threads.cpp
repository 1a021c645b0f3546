// gc/helper_threads.cpp — see helper_threads.hpp.
#include "gc/helper_threads.hpp"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <new>

namespace moss::detail {

namespace {

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
std::vector<HelperThreads*>& registry() {
  static std::vector<HelperThreads*> pools;
  return pools;
}

void prepare_fork() {
  registry_mutex().lock();
  HelperThreads::quiesce_all();
}
void after_fork() { registry_mutex().unlock(); }

}  // namespace

void HelperThreads::quiesce_all() {
  for (HelperThreads* pool : registry()) pool->wait();
}

HelperThreads::HelperThreads(unsigned helpers) : helpers_(helpers) {
  static const bool hooked = [] {
    pthread_atfork(prepare_fork, after_fork, after_fork);
    return true;
  }();
  static_cast<void>(hooked);
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry().push_back(this);
}

HelperThreads::~HelperThreads() {
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    auto& pools = registry();
    pools.erase(std::find(pools.begin(), pools.end(), this));
  }
  if (threads_ == nullptr || pid_ != getpid()) return;  // never started, or the parent's
  {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return running_ == 0; });
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : *threads_) t.join();
  delete threads_;
}

void HelperThreads::ensure_threads() {
  if (threads_ != nullptr && pid_ == getpid()) return;
  if (threads_ != nullptr) {
    // A forked child: the parent's threads do not exist here. Their
    // records are left alone (joining them is impossible), and the
    // synchronization objects start afresh (a fork waits for every pool's
    // job to end, so no thread of the parent held them).
    new (&mutex_) std::mutex;
    new (&wake_) std::condition_variable;
    new (&done_) std::condition_variable;
    running_ = 0;
    stop_ = false;
  }
  pid_ = getpid();
  threads_ = new std::vector<std::thread>;
  threads_->reserve(helpers_);
  // Each starts from the current generation: the next job is theirs.
  for (unsigned i = 1; i <= helpers_; ++i) threads_->emplace_back([this, i, g = generation_] { worker(i, g); });
}

void HelperThreads::worker(unsigned id, std::uint64_t seen) {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      job = job_;
    }
    job(id);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (--running_ == 0) done_.notify_all();
    }
  }
}

void HelperThreads::start(const Job& job) {
  ensure_threads();
  {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return running_ == 0; });
    job_ = job;
    running_ = helpers_;
    ++generation_;
  }
  wake_.notify_all();
}

void HelperThreads::run(const Job& job) {
  start(job);
  job(0);
  wait();
}

void HelperThreads::post(const Job& job) { start(job); }

void HelperThreads::wait() {
  if (threads_ == nullptr || pid_ != getpid()) return;
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [this] { return running_ == 0; });
}

}  // namespace moss::detail
