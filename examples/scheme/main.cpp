// examples/scheme/main.cpp — the moss-scheme command.
//
//     moss-scheme [--gc=ms|rc] [--heap-limit=SIZE] [--stack=SIZE]
//                 [--no-local-frames] [--stats] [FILE [ARG ...]]
//
// With FILE, runs the program in it (standard input is then the program's
// input) and exits with its status: 0, the argument of (exit n), or 1 after
// an error. Without FILE, reads and evaluates forms from standard input (a
// REPL; the prompt is shown only on a terminal). The collector comes from
// --gc, else MOSS_GC, else mark-sweep. SIZE takes K, M or G suffixes.
//
// --stats prints, when the program ends, one line of key=value pairs to
// standard error, in the format of moss-bench's result line
// (bench/runner/main.cpp), which examples/compare/moss-compare reads:
//
//   workload=fib gc=ms wall_ms=812.4 peak_rss_mib=9.1 collections=31
//   pause_p50_us=85.0 pause_p99_us=410.2 pause_max_us=433.9
//   local_frames=on local_reclaimed=1234567 local_escaped=12
//
// (one line, wrapped here). The workload is the program's file name
// without .scm ("repl" without FILE); wall_ms times the evaluation (from
// before the interpreter is made to after the program ends); peak RSS is
// the process's (getrusage); collections and pauses come from
// moss::HeapStats, and so do the local-frame counts (frames reclaimed at
// the exit of their moss::LocalScope, and frames that escaped to the heap).
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "interp.hpp"

namespace {

void usage() {
  std::fprintf(stderr,
               "usage: moss-scheme [--gc=ms|rc] [--heap-limit=SIZE] [--stack=SIZE] [--no-local-frames] [--stats]\n"
               "                   [FILE [ARG ...]]\n"
               "  --gc=ms|rc        collector: mark-sweep or reference counting (default: $MOSS_GC or ms)\n"
               "  --heap-limit=SIZE cap on the heap; running out is a Scheme error (default: none)\n"
               "  --stack=SIZE      stack reservation for evaluation (default: 512M)\n"
               "  --no-local-frames make every procedure frame a heap object (default: frames no closure\n"
               "                    can capture live in moss::LocalScopes)\n"
               "  --stats           at exit, print a line of key=value statistics to standard error\n"
               "With no FILE, a read-eval-print loop on standard input.\n");
}

bool parse_size(const char* text, std::size_t& out) {
  char* end = nullptr;
  unsigned long long n = std::strtoull(text, &end, 10);
  if (end == text) return false;
  switch (*end) {
    case 'k': case 'K': n <<= 10; ++end; break;
    case 'm': case 'M': n <<= 20; ++end; break;
    case 'g': case 'G': n <<= 30; ++end; break;
    default: break;
  }
  if (*end != '\0') return false;
  out = static_cast<std::size_t>(n);
  return true;
}

// The --stats line (see the top of this file).
void print_stats(scheme::Interp& interp, const char* file, double wall_ms) {
  moss::HeapStats s = interp.heap().stats();
  std::string workload = "repl";
  if (file != nullptr) {
    workload = file;
    std::size_t slash = workload.find_last_of('/');
    if (slash != std::string::npos) workload.erase(0, slash + 1);
    if (workload.size() > 4 && workload.compare(workload.size() - 4, 4, ".scm") == 0) {
      workload.erase(workload.size() - 4);
    }
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  double peak_rss_mib = static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB
  std::fprintf(stderr,
               "workload=%s gc=%s wall_ms=%.1f peak_rss_mib=%.1f collections=%llu pause_p50_us=%.1f "
               "pause_p99_us=%.1f pause_max_us=%.1f local_frames=%s local_reclaimed=%llu local_escaped=%llu\n",
               workload.c_str(), s.collector == moss::Collector::refcount ? "rc" : "ms", wall_ms, peak_rss_mib,
               static_cast<unsigned long long>(s.collections), s.pause_p50_us, s.pause_p99_us, s.pause_max_us,
               interp.options().local_frames ? "on" : "off", static_cast<unsigned long long>(s.local_reclaimed),
               static_cast<unsigned long long>(s.local_escaped));
}

}  // namespace

int main(int argc, char** argv) {
  scheme::Options options;
  bool stats = false;
  try {
    options.collector = moss::collector_from_env(moss::Collector::mark_sweep);
  } catch (const moss::Error& e) {
    std::fprintf(stderr, "moss-scheme: %s\n", e.what());
    return 2;
  }
  int i = 1;
  for (; i < argc && std::strncmp(argv[i], "--", 2) == 0; ++i) {
    const char* arg = argv[i];
    if (std::strcmp(arg, "--gc=ms") == 0) {
      options.collector = moss::Collector::mark_sweep;
    } else if (std::strcmp(arg, "--gc=rc") == 0) {
      options.collector = moss::Collector::refcount;
    } else if (std::strncmp(arg, "--heap-limit=", 13) == 0 && parse_size(arg + 13, options.heap_limit)) {
    } else if (std::strncmp(arg, "--stack=", 8) == 0 && parse_size(arg + 8, options.stack_reserve)) {
    } else if (std::strcmp(arg, "--no-local-frames") == 0) {
      options.local_frames = false;
    } else if (std::strcmp(arg, "--stats") == 0) {
      stats = true;
    } else if (std::strcmp(arg, "--help") == 0) {
      usage();
      return 0;
    } else if (std::strcmp(arg, "--") == 0) {
      ++i;
      break;
    } else {
      usage();
      return 2;
    }
  }
  for (int k = i; k < argc; ++k) options.command_line.emplace_back(argv[k]);

  std::string program;
  if (i < argc) {
    std::ifstream file(argv[i], std::ios::binary);
    if (!file) {
      std::fprintf(stderr, "moss-scheme: cannot open %s\n", argv[i]);
      return 2;
    }
    std::ostringstream text;
    text << file.rdbuf();
    program = text.str();
  }

  auto start = std::chrono::steady_clock::now();
  scheme::Interp interp(options);
  interp.out.file = stdout;
  interp.err.file = stderr;
  interp.in.file = stdin;
  int status = i < argc ? interp.run_program(program) : interp.repl(stdin, isatty(STDIN_FILENO) ? "> " : "");
  if (stats) {
    auto stop = std::chrono::steady_clock::now();
    print_stats(interp, i < argc ? argv[i] : nullptr, std::chrono::duration<double, std::milli>(stop - start).count());
  }
  return status;
}
