// JSON Lines import (libs/storage/tools/jsonl.h): a deeply nested line is
// refused before protobuf's parser, whose cost is quadratic in depth (the
// fuzzer's finding: 8,000 levels in 16 KB took 7-11 s), whatever quoting
// surrounds the brackets; legitimately nested events still round-trip.

#include "libs/storage/tools/jsonl.h"

#include <string>

#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace raceway::storage::tools {
namespace {

using ::testing::HasSubstr;

std::string Nested(int levels) {
  return std::string(static_cast<size_t>(levels), '[') +
         std::string(static_cast<size_t>(levels), ']');
}

TEST(JsonlTest, DeepNestingIsRefusedBeforeParsing) {
  for (const std::string& line : {
           R"({"id":"e","custom":{"name":"x","data":)" + Nested(20000) + "}}",
           // A single-quoted string holding a double quote does not hide them.
           R"({"id":'"',"custom":{"name":"x","data":)" + Nested(20000) + "}}",
           R"({"id":"\"","custom":{"name":"x","data":)" + Nested(20000) + "}}",
       }) {
    raceway::v1::Event event;
    const absl::Status st = EventFromJsonLine(line, &event);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << line.substr(0, 40);
    EXPECT_THAT(std::string(st.message()), HasSubstr("nested deeper than 200 levels"));
  }
}

TEST(JsonlTest, NestedValuesWithinTheLimitRoundTrip) {
  raceway::v1::Event event;
  event.set_id("0b6a3f1e-0001-4d2c-9e8f-7a6b5c4d3e2f");
  google::protobuf::Value* v = event.mutable_custom()->mutable_data();
  event.mutable_custom()->set_name("deep");
  for (int i = 0; i < 30; ++i) v = v->mutable_list_value()->add_values();
  v->set_string_value("[[[ brackets in a string ]]] '\"");
  auto line = EventToJsonLine(event);
  ASSERT_TRUE(line.ok()) << line.status();
  raceway::v1::Event back;
  ASSERT_TRUE(EventFromJsonLine(*line, &back).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(event, back));
}

}  // namespace
}  // namespace raceway::storage::tools
