// gc/pause.hpp — timing every stop of the mutator for collector work.
//
// A Pause is an RAII timer: construct it where collector work begins (a
// root scan, a mark slice, mark termination, a reconciliation, a cycle
// collection), destroy it where the mutator resumes. The recorder keeps
// every pause (a float each) so percentiles are exact, and per-phase sums.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

namespace moss::detail {

class PauseRecorder {
 public:
  void record(double us) {
    float f = static_cast<float>(us);
    pauses_.push_back(f);
    total_us_ += us;
    if (f > max_us_) max_us_ = f;
  }
  std::uint64_t count() const { return pauses_.size(); }
  double total_us() const { return total_us_; }
  double max_us() const { return max_us_; }
  // The q-quantile (0..1) of all pauses, nearest-rank.
  double quantile(double q) const {
    if (pauses_.empty()) return 0;
    std::vector<float> v(pauses_);
    std::size_t k = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k];
  }

 private:
  std::vector<float> pauses_;
  double total_us_ = 0;
  double max_us_ = 0;
};

inline double now_us() {
  using namespace std::chrono;
  return duration<double, std::micro>(steady_clock::now().time_since_epoch()).count();
}

// Times one pause; `phase` (if not null) also accumulates the time.
class Pause {
 public:
  Pause(PauseRecorder& recorder, double* phase = nullptr) : recorder_(recorder), phase_(phase), start_(now_us()) {}
  ~Pause() {
    double us = now_us() - start_;
    recorder_.record(us);
    if (phase_ != nullptr) *phase_ += us;
  }
  Pause(const Pause&) = delete;
  Pause& operator=(const Pause&) = delete;

 private:
  PauseRecorder& recorder_;
  double* phase_;
  double start_;
};

// Accumulates a phase's time without counting a pause.
class PhaseTimer {
 public:
  explicit PhaseTimer(double& phase) : phase_(phase), start_(now_us()) {}
  ~PhaseTimer() { phase_ += now_us() - start_; }
  PhaseTimer(const PhaseTimer&) = delete;
  PhaseTimer& operator=(const PhaseTimer&) = delete;

 private:
  double& phase_;
  double start_;
};

}  // namespace moss::detail
