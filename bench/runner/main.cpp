// bench/runner/main.cpp — moss-bench, the macro workload runner.
//
//   moss-bench WORKLOAD --gc=ms|rc|boehm|malloc|shared_ptr|mimalloc
//              [--size N] [--iterations K] [--quiet]
//
// Runs one workload (workloads.hpp: gcbench, binarytrees, pause,
// binarytrees-local) under one memory manager (MOSS_GC names it when --gc is absent) and prints progress to stderr, then one line of key=value
// pairs to stdout:
//
//   workload=gcbench gc=ms size=16 wall_ms=412.3 peak_rss_mib=30.9
//   collections=14 pause_p50_us=210.0 pause_p99_us=900.1 pause_max_us=950.2
//   gc_ms=120.4 checksum=123456789
//
// (one line, wrapped here). wall_ms times the workload only, with
// steady_clock: the manager is set up before the clock starts and torn down
// after it stops. peak_rss_mib is the process's peak resident set
// (getrusage). Managers without collections print collections=0 and "na" for the
// pauses. The checksum is the same under every manager for the same
// workload, size and iterations. binarytrees-local runs under ms and rc
// only; asked for another manager, moss-bench says so and exits with 2.
//
// This file is compiled twice (bench/runner/meson.build): as moss-bench with
// every manager but mimalloc, and with MOSS_BENCH_MIMALLOC defined as
// moss-bench-mimalloc, which holds only the mimalloc manager because linking
// libmimalloc replaces malloc for the whole process. `moss-bench --gc=mimalloc`
// hands over to moss-bench-mimalloc from the same directory.
//
// Called by: bench/run_macro.sh and people comparing managers by hand.
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "manager.hpp"
#include "workloads.hpp"

#ifdef MOSS_BENCH_MIMALLOC
#include "manager_mimalloc.hpp"
#else
#include "manager_boehm.hpp"
#include "manager_malloc.hpp"
#include "manager_moss.hpp"
#include "manager_shared_ptr.hpp"
#endif

namespace {

using moss_bench::GcReport;
using moss_bench::Workload;

constexpr const char* usage_text =
    "usage: moss-bench WORKLOAD --gc=MANAGER [--size N] [--iterations K] [--quiet]\n"
    "  WORKLOAD    gcbench | binarytrees | pause | binarytrees-local\n"
    "  MANAGER     ms | ms+gen | rc | boehm | malloc | shared_ptr | mimalloc\n"
    "              (binarytrees-local: ms | rc)\n"
    "  --size N    gcbench: max tree depth (16); binarytrees(-local): N (21);\n"
    "              pause: live MiB (256)\n"
    "  --iterations K\n"
    "              gcbench, binarytrees(-local): run the workload K times (1);\n"
    "              pause: churn steps (200000 per MiB live)\n"
    "  --quiet     no progress on stderr\n"
    "Without --gc, the MOSS_GC environment variable names the manager.\n"
    "Prints one line of key=value pairs on stdout.\n";

struct Options {
  Workload workload = Workload::gcbench;
  std::string gc;
  int size = 0;
  std::int64_t iterations = 0;
  bool quiet = false;
};

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "moss-bench: %s\n%s", message.c_str(), usage_text);
  std::exit(2);
}

std::int64_t parse_count(std::string_view flag, const std::string& text) {
  char* end = nullptr;
  errno = 0;
  long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || value <= 0) {
    usage_error(std::string(flag) + " needs a positive whole number, not '" + text + "'");
  }
  return value;
}

Options parse(int argc, char** argv) {
  Options o;
  std::optional<Workload> workload;
  for (int k = 1; k < argc; ++k) {
    std::string_view arg = argv[k];
    // "--flag=value" or "--flag value".
    auto value_of = [&](std::string_view flag) -> std::optional<std::string> {
      if (arg == flag) {
        if (k + 1 >= argc) usage_error(std::string(flag) + " needs a value");
        return std::string(argv[++k]);
      }
      if (arg.size() > flag.size() && arg.substr(0, flag.size()) == flag && arg[flag.size()] == '=') {
        return std::string(arg.substr(flag.size() + 1));
      }
      return std::nullopt;
    };
    if (arg == "--help" || arg == "-h") {
      std::fputs(usage_text, stdout);
      std::exit(0);
    } else if (arg == "--quiet") {
      o.quiet = true;
    } else if (auto gc = value_of("--gc")) {
      o.gc = *gc;
    } else if (auto size = value_of("--size")) {
      std::int64_t n = parse_count("--size", *size);
      if (n > 1 << 20) usage_error("--size " + *size + " is too large");
      o.size = static_cast<int>(n);
    } else if (auto iterations = value_of("--iterations")) {
      o.iterations = parse_count("--iterations", *iterations);
    } else if (!arg.empty() && arg[0] == '-') {
      usage_error("unknown option '" + std::string(arg) + "'");
    } else if (workload) {
      usage_error("one workload at a time (got '" + std::string(arg) + "' too)");
    } else if (auto w = moss_bench::parse_workload(arg)) {
      workload = w;
    } else {
      usage_error("unknown workload '" + std::string(arg) + "'");
    }
  }
  if (!workload) usage_error("no workload given");
  if (o.gc.empty()) {
    // Like moss's other tools, MOSS_GC picks the collector when nothing else does.
    const char* from_env = std::getenv("MOSS_GC");
    if (from_env == nullptr || *from_env == '\0') usage_error("no --gc given (nor MOSS_GC)");
    o.gc = from_env;
  }
  o.workload = *workload;
  return o;
}

std::string field(const std::optional<double>& value) {
  if (!value) return "na";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.1f", *value);
  return buffer;
}

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB
}

// Sets up manager M, times the workload under it, prints the result line.
template <class M>
int measure(const Options& o) {
  moss_bench::WorkloadParams params;
  params.size = o.size > 0 ? o.size : moss_bench::reference_size(o.workload);
  params.iterations = o.iterations;
  params.log = o.quiet ? nullptr : stderr;

  M manager;
  if (!o.quiet) {
    std::fprintf(stderr, "moss-bench: %s under %s, size %d\n", moss_bench::workload_name(o.workload), M::name,
                 params.size);
#ifndef MOSS_BENCH_MIMALLOC
    if constexpr (std::is_same_v<M, moss_bench::BoehmManager>) {
      std::fprintf(stderr, "moss-bench: libgc marks with %d thread(s)\n", moss_bench::BoehmManager::markers());
    }
#endif
  }

  const auto start = std::chrono::steady_clock::now();
  const std::uint64_t checksum = moss_bench::run_workload(o.workload, manager, params);
  const auto stop = std::chrono::steady_clock::now();

  const GcReport report = manager.report();
  const double wall_ms = std::chrono::duration<double, std::milli>(stop - start).count();
  std::printf("workload=%s gc=%s size=%d wall_ms=%.1f peak_rss_mib=%.1f collections=%s pause_p50_us=%s "
              "pause_p99_us=%s pause_max_us=%s gc_ms=%s checksum=%llu\n",
              moss_bench::workload_name(o.workload), M::name, params.size, wall_ms, peak_rss_mib(),
              report.collections ? std::to_string(*report.collections).c_str() : "na",
              field(report.pause_p50_us).c_str(), field(report.pause_p99_us).c_str(),
              field(report.pause_max_us).c_str(),
              report.pause_total_us ? field(*report.pause_total_us / 1000.0).c_str() : "na",
              static_cast<unsigned long long>(checksum));
  std::fflush(stdout);
  return 0;
}

#ifndef MOSS_BENCH_MIMALLOC
// `--gc=mimalloc` runs in moss-bench-mimalloc, next to this executable.
[[noreturn]] void hand_over_to_mimalloc(char** argv) {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  std::string path;
  if (n > 0) {
    self[n] = '\0';
    path = self;
    path = path.substr(0, path.rfind('/') + 1);
  }
  path += "moss-bench-mimalloc";
  std::fflush(nullptr);
  execv(path.c_str(), argv);
  std::fprintf(stderr,
               "moss-bench: --gc=mimalloc runs in moss-bench-mimalloc, built beside moss-bench, "
               "and %s could not be started: %s\n",
               path.c_str(), std::strerror(errno));
  std::exit(1);
}
#endif

int dispatch(const Options& o, char** argv) {
  using namespace moss_bench;
  if (o.workload == Workload::binarytrees_local && o.gc != "ms" && o.gc != "rc") {
    std::fprintf(stderr,
                 "moss-bench: binarytrees-local is not applicable to --gc=%s: it builds its trees in moss "
                 "local scopes, so it runs under --gc=ms and --gc=rc only\n",
                 o.gc.c_str());
    std::exit(2);
  }
#ifdef MOSS_BENCH_MIMALLOC
  (void)argv;
  if (o.gc == "mimalloc") return measure<MimallocManager>(o);
  usage_error("moss-bench-mimalloc runs only --gc=mimalloc; use moss-bench for '" + o.gc + "'");
#else
  if (o.gc == "ms") return measure<MarkSweepManager>(o);
  if (o.gc == "ms+gen") return measure<GenerationalManager>(o);
  if (o.gc == "rc") return measure<RefcountManager>(o);
  if (o.gc == "boehm") return measure<BoehmManager>(o);
  if (o.gc == "malloc") return measure<MallocManager>(o);
  if (o.gc == "shared_ptr") return measure<SharedPtrManager>(o);
  if (o.gc == "mimalloc") hand_over_to_mimalloc(argv);
  usage_error("unknown manager '" + o.gc + "'");
#endif
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  try {
    return dispatch(options, argv);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "moss-bench: %s under --gc=%s failed: %s\n", moss_bench::workload_name(options.workload),
                 options.gc.c_str(), e.what());
    return 1;
  }
}
