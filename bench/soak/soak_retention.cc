// soak_retention: one retention pass with an age in seconds, for the soak
// benchmark (soak.py runs it every --retention-interval seconds, as the
// retention CronJob runs `raceway retention --hours N`). The CLI takes whole
// hours, so a 30-minute soak would never delete anything through it; this
// calls the same Storage::DeleteTracesBefore with a shorter cutoff.
//
//   soak_retention --url=URL --max-age-seconds=N
//
// URL as in `raceway migrate` (sqlite:///abs/path.db, postgres://...).
// Prints "deleted N" and exits 0; on an error prints it and exits 1.

#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libs/storage/factory.h"

int main(int argc, char** argv) {
  std::string url;
  int64_t max_age_seconds = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--url=", 0) == 0) {
      url = arg.substr(6);
    } else if (arg.rfind("--max-age-seconds=", 0) == 0) {
      if (!absl::SimpleAtoi(arg.substr(18), &max_age_seconds)) max_age_seconds = 0;
    } else {
      url.clear();
      break;
    }
  }
  if (url.empty() || max_age_seconds <= 0) {
    std::fprintf(stderr, "usage: soak_retention --url=URL --max-age-seconds=N (N > 0)\n");
    return 2;
  }
  auto options = raceway::storage::StorageOptionsFromUrl(url);
  if (!options.ok()) {
    std::fprintf(stderr, "soak_retention: %s\n", options.status().ToString().c_str());
    return 1;
  }
  // The services own the schema; retention never migrates it.
  options->auto_migrate = false;
  auto storage = raceway::storage::OpenStorage(*options);
  if (!storage.ok()) {
    std::fprintf(stderr, "soak_retention: %s\n", storage.status().ToString().c_str());
    return 1;
  }
  const int64_t cutoff = absl::ToUnixNanos(absl::Now() - absl::Seconds(max_age_seconds));
  auto deleted = (*storage)->DeleteTracesBefore(cutoff);
  if (!deleted.ok()) {
    std::fprintf(stderr, "soak_retention: %s\n", deleted.status().ToString().c_str());
    return 1;
  }
  std::printf("deleted %llu\n", static_cast<unsigned long long>(*deleted));
  return 0;
}
