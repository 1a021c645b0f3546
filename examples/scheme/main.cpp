// examples/scheme/main.cpp — the moss-scheme command.
//
//     moss-scheme [--gc=ms|rc] [--heap-limit=SIZE] [--stack=SIZE] [FILE [ARG ...]]
//
// With FILE, runs the program in it (standard input is then the program's
// input) and exits with its status: 0, the argument of (exit n), or 1 after
// an error. Without FILE, reads and evaluates forms from standard input (a
// REPL; the prompt is shown only on a terminal). The collector comes from
// --gc, else MOSS_GC, else mark-sweep. SIZE takes K, M or G suffixes.
#include <unistd.h>

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
               "usage: moss-scheme [--gc=ms|rc] [--heap-limit=SIZE] [--stack=SIZE] [FILE [ARG ...]]\n"
               "  --gc=ms|rc        collector: mark-sweep or reference counting (default: $MOSS_GC or ms)\n"
               "  --heap-limit=SIZE cap on the heap; running out is a Scheme error (default: none)\n"
               "  --stack=SIZE      stack reservation for evaluation (default: 512M)\n"
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

}  // namespace

int main(int argc, char** argv) {
  scheme::Options options;
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

  scheme::Interp interp(options);
  interp.out.file = stdout;
  interp.err.file = stderr;
  interp.in.file = stdin;
  if (i < argc) return interp.run_program(program);
  return interp.repl(stdin, isatty(STDIN_FILENO) ? "> " : "");
}
