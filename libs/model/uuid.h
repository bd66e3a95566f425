#ifndef RACEWAY_LIBS_MODEL_UUID_H_
#define RACEWAY_LIBS_MODEL_UUID_H_

// UUID helpers. Raceway ids travel as canonical lower-case UUID strings
// ("8-4-4-4-12" hex digits); backends may store the 16 raw bytes.
// All functions are pure and thread-safe.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace raceway::model {

using UuidBytes = std::array<uint8_t, 16>;

// True when `s` is exactly 36 chars of lower-case hex in 8-4-4-4-12 groups.
bool IsCanonicalUuid(std::string_view s);

// Parses a canonical UUID (upper-case hex is accepted here, because callers
// such as the CLI take ids typed by people). nullopt when malformed.
std::optional<UuidBytes> ParseUuid(std::string_view s);

// Lower-case canonical text of 16 bytes.
std::string FormatUuid(const UuidBytes& bytes);

// A random (version 4) UUID in canonical form: 122 bits from the kernel
// CSPRNG (getrandom), read in blocks into a per-thread buffer that a fork()
// child discards, so ids do not repeat across threads or processes.
// Thread-safe. Aborts the process if the kernel has no randomness to give.
std::string NewUuidV4();

}  // namespace raceway::model

#endif  // RACEWAY_LIBS_MODEL_UUID_H_
