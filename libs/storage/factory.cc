#include "libs/storage/factory.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "libs/storage/memory/memory_storage.h"
#include "libs/storage/sqlite/sqlite_storage.h"

#if RACEWAY_WITH_SQL_BACKENDS
#include "libs/storage/mysql/mysql_storage.h"
#include "libs/storage/postgres/postgres_storage.h"
#endif

namespace raceway::storage {
namespace {

bool ConsumePrefix(std::string_view& s, std::string_view prefix) {
  if (s.substr(0, prefix.size()) != prefix) return false;
  s.remove_prefix(prefix.size());
  return true;
}

absl::StatusOr<std::unique_ptr<Storage>> OpenMemory(const StorageOptions&) {
  return std::unique_ptr<Storage>(new MemoryStorage());
}

#if !RACEWAY_WITH_SQL_BACKENDS
absl::StatusOr<std::unique_ptr<Storage>> NotBuilt(const StorageOptions& options) {
  return absl::UnimplementedError(absl::StrCat(
      "backend ", options.backend, " not built (configure with -DRACEWAY_WITH_SQL_BACKENDS=ON)"));
}
#endif

using Opener = absl::StatusOr<std::unique_ptr<Storage>> (*)(const StorageOptions&);

struct Backend {
  std::string_view name;
  Opener open;
};

// The backend table.
constexpr Backend kBackends[] = {
    {"memory", &OpenMemory},
    {"sqlite", &OpenSqliteStorage},
#if RACEWAY_WITH_SQL_BACKENDS
    {"postgres", &OpenPostgresStorage},
    {"supabase", &OpenPostgresStorage},
    {"mysql", &OpenMysqlStorage},
#else
    {"postgres", &NotBuilt}, {"supabase", &NotBuilt},        {"mysql", &NotBuilt},
#endif
};

}  // namespace

absl::StatusOr<StorageOptions> StorageOptionsFromUrl(std::string_view url) {
  StorageOptions o;
  std::string_view rest = url;
  if (url == "memory" || url == "memory:" || url == "memory://") {
    o.backend = "memory";
    return o;
  }
  if (ConsumePrefix(rest, "sqlite://")) {
    // sqlite:///abs/path.db -> "/abs/path.db"; sqlite://rel/path.db -> "rel/path.db".
    if (rest.empty() || rest == ":memory:") {
      return absl::InvalidArgumentError(
          absl::StrCat("storage URL \"", std::string(url),
                       "\" names no database file (use memory:// for an in-memory store)"));
    }
    o.backend = "sqlite";
    o.sqlite_path = std::string(rest);
    return o;
  }
  if (ConsumePrefix(rest, "postgres://") || ConsumePrefix(rest, "postgresql://")) {
    o.backend = "postgres";
    o.connection_string = std::string(url);
    return o;
  }
  if (ConsumePrefix(rest, "supabase://")) {
    o.backend = "supabase";
    o.connection_string = absl::StrCat("postgresql://", std::string(rest));
    return o;
  }
  if (ConsumePrefix(rest, "mysql://")) {
    o.backend = "mysql";
    o.connection_string = std::string(url);
    return o;
  }
  // Name only the scheme: the rest of a URL may hold a password.
  const size_t colon = url.find(':');
  const std::string scheme(url.substr(0, std::min<size_t>(colon, 32)));
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported storage URL scheme \"", scheme,
                   "\": expected memory://, sqlite://PATH, postgres://, postgresql://, supabase:// "
                   "or mysql://"));
}

absl::StatusOr<std::unique_ptr<Storage>> OpenStorage(const StorageOptions& options) {
  for (const Backend& b : kBackends) {
    if (b.name != options.backend) continue;
    if (!options.read_only) return b.open(options);
    // A reader only checks the schema, whatever auto_migrate says.
    StorageOptions reader = options;
    reader.auto_migrate = false;
    return b.open(reader);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown storage backend \"", options.backend,
                   "\" (expected memory, sqlite, postgres, supabase or mysql)"));
}

}  // namespace raceway::storage
