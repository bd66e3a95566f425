#include "libs/storage/migrations.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libs/storage/common/embedded_migrations.h"

namespace raceway::storage {
namespace {

constexpr std::string_view kDialects[] = {"sqlite", "postgres", "mysql"};

std::string Label(int version, const std::string& name) {
  return absl::StrFormat("%03d_%s", version, name);
}

std::map<std::string, std::vector<Migration>, std::less<>> BuildTable() {
  std::map<std::string, std::vector<Migration>, std::less<>> table;
  for (std::string_view d : kDialects) table[std::string(d)];
  for (size_t i = 0; i < common::kEmbeddedMigrationCount; ++i) {
    const common::EmbeddedMigration& m = common::kEmbeddedMigrations[i];
    if (m.dialect == nullptr) continue;
    table[m.dialect].push_back({m.version, m.name, std::string(m.sql, m.sql_size), m.sha256});
  }
  for (auto& [d, list] : table) {
    std::sort(list.begin(), list.end(),
              [](const Migration& a, const Migration& b) { return a.version < b.version; });
  }
  return table;
}

// Checks what the database recorded against the compiled migrations and
// returns the pending ones.
absl::StatusOr<std::vector<Migration>> Pending(const std::vector<AppliedMigration>& applied,
                                               const std::vector<Migration>& compiled) {
  std::map<int, const Migration*> by_version;
  for (const Migration& m : compiled) by_version[m.version] = &m;
  const int newest = by_version.empty() ? 0 : by_version.rbegin()->first;
  std::map<int, const AppliedMigration*> done;
  for (const AppliedMigration& a : applied) {
    auto it = by_version.find(a.version);
    if (it == by_version.end()) {
      // Newer than anything compiled in: the schema was migrated first for
      // the next release (docs/operations.md, Upgrade), and migrations are
      // additive and compatible for one release, so this binary still runs.
      if (a.version > newest) continue;
      return absl::FailedPreconditionError(
          absl::StrCat("database has migration ", Label(a.version, a.name),
                       " which this binary does not know and which is older than its newest (",
                       Label(newest, by_version.rbegin()->second->name),
                       "): the database was migrated by a different build"));
    }
    if (it->second->checksum != a.checksum) {
      return absl::FailedPreconditionError(
          absl::StrCat("migration ", Label(it->second->version, it->second->name),
                       " was changed after it was applied (database checksum ", a.checksum,
                       ", compiled checksum ", it->second->checksum,
                       "); restore the original file and add a new migration instead"));
    }
    done[a.version] = &a;
  }
  std::vector<Migration> pending;
  for (const Migration& m : compiled) {
    if (!done.contains(m.version)) pending.push_back(m);
  }
  return pending;
}

absl::Status CheckDialect(std::string_view dialect) {
  if (std::find(std::begin(kDialects), std::end(kDialects), dialect) == std::end(kDialects)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown migration dialect \"", std::string(dialect), "\""));
  }
  if (CompiledMigrations(dialect).empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no migrations compiled in for dialect ", std::string(dialect),
                     " (migrations/", std::string(dialect), "/ was empty at build time)"));
  }
  return absl::OkStatus();
}

}  // namespace

const std::vector<Migration>& CompiledMigrations(std::string_view dialect) {
  static const auto* table = new auto(BuildTable());
  static const std::vector<Migration> kEmpty;
  auto it = table->find(dialect);
  return it == table->end() ? kEmpty : it->second;
}

absl::Status Migrate(MigrationTarget& target, std::string_view dialect, bool apply) {
  if (absl::Status st = CheckDialect(dialect); !st.ok()) return st;
  const std::vector<Migration>& compiled = CompiledMigrations(dialect);
  if (!apply) {
    auto applied = target.AppliedMigrations();
    if (!applied.ok()) return applied.status();
    auto pending = Pending(*applied, compiled);
    if (!pending.ok()) return pending.status();
    if (!pending->empty()) {
      const Migration& m = pending->front();
      return absl::FailedPreconditionError(absl::StrCat(
          "schema is out of date: migration ", Label(m.version, m.name), " not applied (",
          pending->size(),
          " pending); run `raceway migrate up`, or start the ingest service with auto_migrate = "
          "true (the query service never migrates)"));
    }
    return absl::OkStatus();
  }

  if (absl::Status st = target.Lock(); !st.ok()) return st;
  absl::Status result = [&]() -> absl::Status {
    if (absl::Status st = target.EnsureMigrationTable(); !st.ok()) return st;
    auto applied = target.AppliedMigrations();
    if (!applied.ok()) return applied.status();
    auto pending = Pending(*applied, compiled);
    if (!pending.ok()) return pending.status();
    for (const Migration& m : *pending) {
      if (absl::Status st = target.Apply(m); !st.ok()) {
        return absl::Status(st.code(), absl::StrCat("migration ", Label(m.version, m.name),
                                                    " failed: ", st.message()));
      }
    }
    return absl::OkStatus();
  }();
  absl::Status unlocked = target.Unlock();
  if (result.ok()) result = unlocked;
  return result;
}

absl::StatusOr<MigrationStatus> GetMigrationStatus(MigrationTarget& target,
                                                   std::string_view dialect) {
  if (absl::Status st = CheckDialect(dialect); !st.ok()) return st;
  auto applied = target.AppliedMigrations();
  if (!applied.ok()) return applied.status();
  MigrationStatus status;
  status.applied = *applied;
  std::sort(
      status.applied.begin(), status.applied.end(),
      [](const AppliedMigration& a, const AppliedMigration& b) { return a.version < b.version; });
  const std::vector<Migration>& compiled = CompiledMigrations(dialect);
  for (const AppliedMigration& a : status.applied) {
    if (!compiled.empty() && a.version > compiled.back().version) status.newer.push_back(a);
  }
  for (const Migration& m : compiled) {
    const bool done =
        std::any_of(status.applied.begin(), status.applied.end(),
                    [&](const AppliedMigration& a) { return a.version == m.version; });
    if (!done) status.pending.push_back(m);
  }
  return status;
}

}  // namespace raceway::storage
