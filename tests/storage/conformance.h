#ifndef RACEWAY_TESTS_STORAGE_CONFORMANCE_H_
#define RACEWAY_TESTS_STORAGE_CONFORMANCE_H_

// The storage conformance suite (ARCHITECTURE §7): ONE parameterized gtest
// suite that every backend must pass. The tests live in conformance.cc; a
// backend instantiates them from its own test file:
//
//   #include "tests/storage/conformance.h"
//   INSTANTIATE_TEST_SUITE_P(
//       Postgres, StorageConformanceTest,
//       ::testing::Values(raceway::storage::testing::BackendFactory{
//           "postgres", [] { return OpenFreshPostgres(); }}),
//       raceway::storage::testing::BackendFactoryName);
//
// and links the OBJECT library `raceway_storage_conformance` (CMake:
// `target_link_libraries(my_test PRIVATE raceway_storage_conformance)`).
//
// `open` must return a storage on an EMPTY database each time it is called
// (e.g. a new file, a new schema, or Clear() on a dedicated test database);
// one test calls it at most once, and the storage is destroyed before the
// next test starts.

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "libs/storage/storage.h"

namespace raceway::storage::testing {

struct BackendFactory {
  std::string name;  // Test-name suffix: letters, digits, underscores.
  std::function<absl::StatusOr<std::unique_ptr<Storage>>()> open;
};

std::string BackendFactoryName(const ::testing::TestParamInfo<BackendFactory>& info);

// Scale factor for the big tests: 1.0 in normal builds, 0.2 under ASan or
// TSan, overridden by the environment variable RACEWAY_STORAGE_TEST_SCALE.
double TestScale();

class StorageConformanceTest : public ::testing::TestWithParam<BackendFactory> {
 protected:
  void SetUp() override;
  void TearDown() override;
  Storage& storage() { return *storage_; }

  std::unique_ptr<Storage> storage_;
};

}  // namespace raceway::storage::testing

// Tests are defined in the global namespace so INSTANTIATE_TEST_SUITE_P can
// name the suite unqualified.
using StorageConformanceTest = raceway::storage::testing::StorageConformanceTest;

#endif  // RACEWAY_TESTS_STORAGE_CONFORMANCE_H_
