// bench/clock_gaps.cpp — how long the host stops a busy thread.
//
// Reads the monotonic clock in a tight loop for a few seconds and reports
// the longest gap between two consecutive reads, and how many gaps passed
// 0.5 ms and 1 ms. No work is done between reads, so any long gap is the
// host's: preemption by another process or the hypervisor, an interrupt.
// A collector's pause maxima on the same machine cannot be read below
// this (bench/RESULTS.md, pause figures). Pin it as the workloads are:
//
//     taskset -c 1 build/release/bench/moss-clock-gaps [--seconds N]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
  double seconds = 3;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
      char* end = nullptr;
      seconds = std::strtod(argv[++i], &end);
      if (end == argv[i] || *end != '\0' || !(seconds > 0 && seconds <= 3600)) {
        std::fprintf(stderr, "moss-clock-gaps: --seconds needs a number of seconds in (0, 3600], not '%s'\n", argv[i]);
        return 2;
      }
    } else {
      std::fprintf(stderr, "usage: moss-clock-gaps [--seconds N]\n");
      return 2;
    }
  }
  using clock = std::chrono::steady_clock;
  const clock::time_point start = clock::now();
  const clock::time_point stop = start + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(seconds));
  clock::time_point last = start;
  double max_gap_us = 0;
  long over_half_ms = 0, over_ms = 0, reads = 0;
  for (;;) {
    clock::time_point now = clock::now();
    double gap_us = std::chrono::duration<double, std::micro>(now - last).count();
    if (gap_us > max_gap_us) max_gap_us = gap_us;
    over_half_ms += gap_us > 500;
    over_ms += gap_us > 1000;
    ++reads;
    last = now;
    if (now >= stop) break;
  }
  std::printf("seconds=%.1f reads=%ld max_gap_us=%.1f gaps_over_500us=%ld gaps_over_1000us=%ld\n", seconds, reads,
              max_gap_us, over_half_ms, over_ms);
  return 0;
}
