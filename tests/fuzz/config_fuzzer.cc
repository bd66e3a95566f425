// service::ParseConfig on arbitrary TOML text (raceway.toml is operator
// input, but a config generator or a template mistake can produce anything).
// Invariants: a refusal is INVALID_ARGUMENT with a message; parsing is
// deterministic (the same text gives the same answer twice).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "libs/service/config.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  constexpr std::string_view kOrigin = "fuzz.toml";
  const auto config = raceway::service::ParseConfig(text, kOrigin);
  const auto again = raceway::service::ParseConfig(text, kOrigin);
  FUZZ_CHECK(config.ok() == again.ok(), "ParseConfig is not deterministic");
  if (!config.ok()) {
    FUZZ_CHECK(config.status().code() == absl::StatusCode::kInvalidArgument,
               config.status().ToString());
    FUZZ_CHECK(!config.status().message().empty(), "error without a message");
    FUZZ_CHECK(config.status() == again.status(), "ParseConfig errors differ");
    return 0;
  }
  FUZZ_CHECK(config->warnings.size() == again->warnings.size(), "ParseConfig warnings differ");
  return 0;
}
