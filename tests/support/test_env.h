#ifndef RACEWAY_TESTS_SUPPORT_TEST_ENV_H_
#define RACEWAY_TESTS_SUPPORT_TEST_ENV_H_

// Access to the test-database harness (tests/support/testdb.sh). A test that
// needs a server reads its URL with RACEWAY_REQUIRE_ENV: under CI (CI set)
// a missing variable FAILS the test; run by hand without the harness, the
// test is skipped with a message saying how to provide it.

#include <cstdlib>
#include <string>

#include "gtest/gtest.h"

namespace raceway::testing {

inline std::string EnvOrEmpty(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

inline bool RunningInCi() { return !EnvOrEmpty("CI").empty(); }

}  // namespace raceway::testing

// Declares `std::string var` = getenv(name), or fails (CI) / skips (by hand).
#define RACEWAY_REQUIRE_ENV(var, name)                                          \
  const std::string var = ::raceway::testing::EnvOrEmpty(name);                 \
  if (var.empty()) {                                                            \
    if (::raceway::testing::RunningInCi()) {                                    \
      FAIL() << name << " is not set: run the tests through scripts/test";      \
    }                                                                           \
    GTEST_SKIP() << name << " is not set; run scripts/test (or source "         \
                 << "the env.sh written by tests/support/testdb.sh start DIR)"; \
  }

#endif  // RACEWAY_TESTS_SUPPORT_TEST_ENV_H_
