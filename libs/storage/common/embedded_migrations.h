#ifndef RACEWAY_LIBS_STORAGE_COMMON_EMBEDDED_MIGRATIONS_H_
#define RACEWAY_LIBS_STORAGE_COMMON_EMBEDDED_MIGRATIONS_H_

// The table generated at build time from migrations/<dialect>/*.sql by
// libs/storage/embed_migrations.cmake. Use CompiledMigrations() instead.
// Immutable data; thread-safe.

#include <cstddef>

namespace raceway::storage::common {

struct EmbeddedMigration {
  const char* dialect;
  int version;
  const char* name;
  const char* sql;
  std::size_t sql_size;
  const char* sha256;  // Lower-case hex of the file's bytes.
};

extern const EmbeddedMigration kEmbeddedMigrations[];
extern const std::size_t kEmbeddedMigrationCount;

}  // namespace raceway::storage::common

#endif  // RACEWAY_LIBS_STORAGE_COMMON_EMBEDDED_MIGRATIONS_H_
