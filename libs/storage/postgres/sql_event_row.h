#ifndef RACEWAY_LIBS_STORAGE_POSTGRES_SQL_EVENT_ROW_H_
#define RACEWAY_LIBS_STORAGE_POSTGRES_SQL_EVENT_ROW_H_

// What the SQL backends (PostgreSQL and MySQL) store for one event besides
// the derived rows: the deterministic serialization (payload column, the
// source of truth) and the JSON columns. Computed before any connection is
// leased, so retries reuse it. Pure; thread-safe.

#include <string>

#include "google/protobuf/message.h"
#include "libs/storage/common/derive.h"
#include "raceway/v1/event.pb.h"

namespace raceway::storage::dbutil {

// Deterministic protobuf encoding (map entries sorted by key), so equal
// messages give equal bytes on every backend.
std::string SerializeDeterministic(const google::protobuf::Message& message);

struct SqlEventRow {
  common::PreparedEvent prepared;
  std::string payload;
  std::string kind_json;
  std::string metadata_json;
  std::string causality_json;  // "" = NULL (empty list).
  std::string lock_set_json;   // "" = NULL (empty list).
};

SqlEventRow BuildSqlEventRow(const raceway::v1::Event& event);

}  // namespace raceway::storage::dbutil

#endif  // RACEWAY_LIBS_STORAGE_POSTGRES_SQL_EVENT_ROW_H_
