#ifndef RACEWAY_TESTS_STORAGE_TEST_UTIL_H_
#define RACEWAY_TESTS_STORAGE_TEST_UTIL_H_

// Temporary database files for the storage tests.

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

namespace raceway::storage::testing {

// A fresh directory under $TMPDIR (or /tmp) removed on destruction.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    const char* tmp = std::getenv("TMPDIR");
    path_ =
        std::filesystem::path(tmp ? tmp : "/tmp") /
        ("raceway-storage-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace raceway::storage::testing

#endif  // RACEWAY_TESTS_STORAGE_TEST_UTIL_H_
