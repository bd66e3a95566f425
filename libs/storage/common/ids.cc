#include "libs/storage/common/ids.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "libs/model/uuid.h"

namespace raceway::storage::common {

absl::StatusOr<std::string> CanonicalId(std::string_view field, std::string_view id) {
  if (raceway::model::IsCanonicalUuid(id)) return std::string(id);
  auto bytes = raceway::model::ParseUuid(id);
  if (!bytes) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(field), " is not a UUID"));
  }
  return raceway::model::FormatUuid(*bytes);
}

absl::Status CheckBatchIds(std::span<const raceway::v1::Event* const> events) {
  for (size_t i = 0; i < events.size(); ++i) {
    const raceway::v1::Event* e = events[i];
    if (e == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("events[", i, "] is null"));
    }
    const char* bad = nullptr;
    if (!raceway::model::IsCanonicalUuid(e->id())) {
      bad = "id";
    } else if (!raceway::model::IsCanonicalUuid(e->trace_id())) {
      bad = "trace_id";
    } else if (!e->parent_id().empty() && !raceway::model::IsCanonicalUuid(e->parent_id())) {
      bad = "parent_id";
    }
    if (bad != nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("events[", i, "].", bad, " is not a canonical lower-case UUID"));
    }
  }
  return absl::OkStatus();
}

uint32_t ClampPageSize(uint32_t requested, uint32_t def, uint32_t cap) {
  if (requested == 0) return def;
  return std::min(requested, cap);
}

}  // namespace raceway::storage::common
