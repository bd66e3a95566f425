#include "libs/model/uuid.h"

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace raceway::model {
namespace {

TEST(UuidTest, CanonicalForm) {
  EXPECT_TRUE(IsCanonicalUuid("123e4567-e89b-12d3-a456-426614174000"));
  EXPECT_FALSE(IsCanonicalUuid("123E4567-E89B-12D3-A456-426614174000"));  // upper
  EXPECT_FALSE(IsCanonicalUuid("123e4567e89b12d3a456426614174000"));      // no dashes
  EXPECT_FALSE(IsCanonicalUuid("123e4567-e89b-12d3-a456-42661417400"));   // short
  EXPECT_FALSE(IsCanonicalUuid("123e4567-e89b-12d3-a456-4266141740000"));
  EXPECT_FALSE(IsCanonicalUuid("123e4567-e89b-12d3-a456-42661417400g"));
  EXPECT_FALSE(IsCanonicalUuid("123e4567-e89b-12d3a-456-426614174000"));
  EXPECT_FALSE(IsCanonicalUuid(""));
  EXPECT_FALSE(IsCanonicalUuid(std::string("123e4567-e89b-12d3-a456-42661417400\0", 36)));
}

TEST(UuidTest, ParseFormatRoundTrip) {
  const std::string s = "00ff10ab-0000-4000-8000-ffffffffffff";
  auto bytes = ParseUuid(s);
  ASSERT_TRUE(bytes.has_value());
  EXPECT_EQ((*bytes)[0], 0x00);
  EXPECT_EQ((*bytes)[1], 0xff);
  EXPECT_EQ((*bytes)[15], 0xff);
  EXPECT_EQ(FormatUuid(*bytes), s);
  auto upper = ParseUuid("00FF10AB-0000-4000-8000-FFFFFFFFFFFF");
  ASSERT_TRUE(upper.has_value());
  EXPECT_EQ(FormatUuid(*upper), s);
  EXPECT_FALSE(ParseUuid("00ff10ab-0000-4000-8000-fffffffffff").has_value());
  EXPECT_FALSE(ParseUuid("00ff10ab-0000-4000-8000_ffffffffffff").has_value());
  EXPECT_FALSE(ParseUuid("0-0ff10ab0000-4000-8000-ffffffffffff").has_value());
}

TEST(UuidTest, NewV4IsCanonicalUniqueAndVersioned) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = NewUuidV4();
    ASSERT_TRUE(IsCanonicalUuid(id)) << id;
    EXPECT_EQ(id[14], '4');
    EXPECT_TRUE(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b') << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

// Version 4 and the RFC 4122 variant, checked on the bits.
void ExpectV4(const std::string& id) {
  auto bytes = ParseUuid(id);
  ASSERT_TRUE(bytes.has_value()) << id;
  EXPECT_EQ((*bytes)[6] >> 4, 0x4) << id;
  EXPECT_EQ((*bytes)[8] >> 6, 0x2) << id;
}

TEST(UuidTest, NewV4SetsVersionAndVariantBitsOnEveryId) {
  for (int i = 0; i < 5000; ++i) {
    const std::string id = NewUuidV4();
    ASSERT_TRUE(IsCanonicalUuid(id)) << id;
    ExpectV4(id);
  }
}

// Issue 13 bug 7: after fork() the child must not repeat the parent's ids
// (a per-thread generator or buffer copied into the child would).
TEST(UuidTest, ForkedChildAndParentProduceDifferentIds) {
  constexpr int kIds = 2000;
  NewUuidV4();  // The parent's per-thread state exists before the fork.
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    for (int i = 0; i < kIds; ++i) {
      const std::string id = NewUuidV4() + "\n";
      if (write(fds[1], id.data(), id.size()) != static_cast<ssize_t>(id.size())) _exit(2);
    }
    _exit(0);
  }
  close(fds[1]);
  std::set<std::string> parent;
  for (int i = 0; i < kIds; ++i) parent.insert(NewUuidV4());
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) text.append(buf, n);
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ASSERT_EQ(text.size(), kIds * 37u);
  int shared = 0;
  std::set<std::string> child;
  for (size_t at = 0; at < text.size(); at += 37) {
    const std::string id = text.substr(at, 36);
    ASSERT_TRUE(IsCanonicalUuid(id)) << id;
    child.insert(id);
    shared += parent.count(id);
  }
  EXPECT_EQ(child.size(), static_cast<size_t>(kIds));
  EXPECT_EQ(parent.size(), static_cast<size_t>(kIds));
  EXPECT_EQ(shared, 0) << "the child repeated the parent's ids";
}

TEST(UuidTest, ManyThreadsProduceNoDuplicates) {
  constexpr int kThreads = 16;
  constexpr int kPerThread = 20000;
  std::vector<std::vector<std::string>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&ids, t] {
      ids[t].reserve(kPerThread);
      for (int i = 0; i < kPerThread; ++i) ids[t].push_back(NewUuidV4());
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> all;
  for (const auto& v : ids) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads) * kPerThread);
}

// A tiny throughput figure for the record (printed, never asserted).
TEST(UuidTest, NewV4Throughput) {
  constexpr int kIds = 1000000;
  size_t checksum = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kIds; ++i) checksum += static_cast<unsigned char>(NewUuidV4()[0]);
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  EXPECT_GT(checksum, 0u);
  std::printf("NewUuidV4: %.2f M ids/s on one thread\n", kIds / took.count() / 1e6);
}

}  // namespace
}  // namespace raceway::model
