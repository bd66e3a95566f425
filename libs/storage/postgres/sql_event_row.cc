#include "libs/storage/postgres/sql_event_row.h"

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "libs/storage/common/event_json.h"

namespace raceway::storage::dbutil {

std::string SerializeDeterministic(const google::protobuf::Message& message) {
  std::string out;
  out.reserve(message.ByteSizeLong());
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeWithCachedSizes(&coded);
  }
  return out;
}

SqlEventRow BuildSqlEventRow(const raceway::v1::Event& event) {
  SqlEventRow row;
  row.prepared = common::PrepareEvent(event);
  row.payload = SerializeDeterministic(event);
  row.kind_json = common::KindJson(event);
  row.metadata_json = common::MessageJson(event.metadata());
  row.causality_json = common::CausalityJson(event);
  row.lock_set_json = common::StringArrayJson(event.lock_set());
  return row;
}

}  // namespace raceway::storage::dbutil
