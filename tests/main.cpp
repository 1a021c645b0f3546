// tests/main.cpp — the doctest runner shared by every test executable.
//
// Stacks are scanned conservatively, and test functions of one executable
// reuse the same stack region one after another: a word a finished test left
// in its frame could point at an address a later test's heap reuses, and
// keep that test's garbage alive. A listener zeroes the stack below the
// runner before each test case starts, so every test begins on a clean stack.
// doctest's own SIGSEGV handling would replace the handler that grows
// coroutine stacks; moss's handler already forwards faults that are not
// stack growth, so a crash still reports as one.
#define DOCTEST_CONFIG_NO_POSIX_SIGNALS
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdint>

namespace {

#if defined(__SANITIZE_ADDRESS__)
#define MOSS_RUNNER_NO_ASAN __attribute__((no_sanitize_address))
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MOSS_RUNNER_NO_ASAN __attribute__((no_sanitize_address))
#endif
#endif
#ifndef MOSS_RUNNER_NO_ASAN
#define MOSS_RUNNER_NO_ASAN
#endif

[[gnu::noinline]] MOSS_RUNNER_NO_ASAN void zero_stack_below(std::size_t bytes) {
  char* buffer = static_cast<char*>(__builtin_alloca(bytes));
  for (std::size_t i = 0; i < bytes; i += 8) *reinterpret_cast<volatile std::uint64_t*>(buffer + i) = 0;
  asm volatile("" : : "r"(buffer) : "memory");
}

struct CleanStackListener : doctest::IReporter {
  explicit CleanStackListener(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats&) override {}
  void test_case_start(const doctest::TestCaseData&) override { zero_stack_below(256 * 1024); }
  void test_case_reenter(const doctest::TestCaseData&) override { zero_stack_below(256 * 1024); }
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};

}  // namespace

DOCTEST_REGISTER_LISTENER("clean-stack", 1, CleanStackListener);
