#include "libs/model/uuid.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/random.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace raceway::model {
namespace {

constexpr bool IsDashPosition(size_t i) { return i == 8 || i == 13 || i == 18 || i == 23; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Bumped in the child after fork(): per-thread buffers copied from the
// parent then hold bytes the parent also uses, so they are dropped.
std::atomic<uint64_t> fork_generation{0};

// Fills `out` from the kernel CSPRNG; /dev/urandom where getrandom(2) is
// missing or filtered (old kernels, seccomp). No fallback to anything weaker:
// without kernel randomness ids could repeat, so that is fatal.
void FillFromKernel(uint8_t* out, size_t size) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = getrandom(out + done, size - done, 0);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      break;
    }
  }
  if (done == size) return;
  const int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  while (fd >= 0 && done < size) {
    const ssize_t n = read(fd, out + done, size - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  if (fd >= 0) close(fd);
  if (done == size) return;
  std::fprintf(stderr, "raceway: no kernel randomness for ids: %s\n", std::strerror(errno));
  std::abort();
}

// Kernel randomness for 256 ids per system call.
struct RandomBuffer {
  uint8_t bytes[4096];
  size_t used = sizeof(bytes);
  uint64_t generation = 0;
};

void TakeRandom(UuidBytes& out) {
  static const bool registered = [] {
    pthread_atfork(nullptr, nullptr, [] { fork_generation.fetch_add(1); });
    return true;
  }();
  (void)registered;
  thread_local RandomBuffer buffer;
  const uint64_t generation = fork_generation.load(std::memory_order_relaxed);
  if (buffer.used + out.size() > sizeof(buffer.bytes) || buffer.generation != generation) {
    FillFromKernel(buffer.bytes, sizeof(buffer.bytes));
    buffer.used = 0;
    buffer.generation = generation;
  }
  std::memcpy(out.data(), buffer.bytes + buffer.used, out.size());
  // Each id's bytes are handed out once; wipe them so they do not linger.
  std::memset(buffer.bytes + buffer.used, 0, out.size());
  buffer.used += out.size();
}

}  // namespace

bool IsCanonicalUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (IsDashPosition(i)) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

std::optional<UuidBytes> ParseUuid(std::string_view s) {
  if (s.size() != 36) return std::nullopt;
  UuidBytes out{};
  size_t byte = 0;
  for (size_t i = 0; i < s.size();) {
    if (IsDashPosition(i)) {
      if (s[i] != '-') return std::nullopt;
      ++i;
      continue;
    }
    const int hi = HexValue(s[i]);
    const int lo = HexValue(s[i + 1]);
    if (hi < 0 || lo < 0 || IsDashPosition(i + 1)) return std::nullopt;
    out[byte++] = static_cast<uint8_t>(hi << 4 | lo);
    i += 2;
  }
  return out;
}

std::string FormatUuid(const UuidBytes& bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back(kHex[bytes[i] & 0xf]);
  }
  return out;
}

std::string NewUuidV4() {
  UuidBytes b;
  TakeRandom(b);
  b[6] = (b[6] & 0x0f) | 0x40;  // version 4
  b[8] = (b[8] & 0x3f) | 0x80;  // RFC 4122 variant
  return FormatUuid(b);
}

}  // namespace raceway::model
