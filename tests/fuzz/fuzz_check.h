#ifndef RACEWAY_TESTS_FUZZ_FUZZ_CHECK_H_
#define RACEWAY_TESTS_FUZZ_FUZZ_CHECK_H_

// Invariants of the fuzz targets. A failed FUZZ_CHECK prints the condition
// and `message` and aborts, which libFuzzer reports as a crash and saves the
// input; unlike assert it holds whatever NDEBUG says.

#include <cstdio>
#include <cstdlib>
#include <string>

#define FUZZ_CHECK(cond, message)                                                           \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed: %s\n", __FILE__, __LINE__, #cond, \
                   std::string(message).c_str());                                           \
      std::abort();                                                                         \
    }                                                                                       \
  } while (0)

#endif  // RACEWAY_TESTS_FUZZ_FUZZ_CHECK_H_
