#include "libs/model/uuid.h"

#include <set>

#include "gtest/gtest.h"

namespace raceway::model {
namespace {

TEST(UuidTest, CanonicalForm) {
  EXPECT_TRUE(IsCanonicalUuid("123e4567-e89b-12d3-a456-426614174000"));
  EXPECT_FALSE(IsCanonicalUuid("123E4567-E89B-12D3-A456-426614174000"));  // upper
  EXPECT_FALSE(IsCanonicalUuid("123e4567e89b12d3a456426614174000"));      // no dashes
  EXPECT_FALSE(IsCanonicalUuid("123e4567-e89b-12d3-a456-42661417400"));   // short
  EXPECT_FALSE(IsCanonicalUuid("123e4567-e89b-12d3-a456-4266141740000"));
  EXPECT_FALSE(IsCanonicalUuid("123e4567-e89b-12d3-a456-42661417400g"));
  EXPECT_FALSE(IsCanonicalUuid("123e4567-e89b-12d3a-456-426614174000"));
  EXPECT_FALSE(IsCanonicalUuid(""));
  EXPECT_FALSE(IsCanonicalUuid(std::string("123e4567-e89b-12d3-a456-42661417400\0", 36)));
}

TEST(UuidTest, ParseFormatRoundTrip) {
  const std::string s = "00ff10ab-0000-4000-8000-ffffffffffff";
  auto bytes = ParseUuid(s);
  ASSERT_TRUE(bytes.has_value());
  EXPECT_EQ((*bytes)[0], 0x00);
  EXPECT_EQ((*bytes)[1], 0xff);
  EXPECT_EQ((*bytes)[15], 0xff);
  EXPECT_EQ(FormatUuid(*bytes), s);
  auto upper = ParseUuid("00FF10AB-0000-4000-8000-FFFFFFFFFFFF");
  ASSERT_TRUE(upper.has_value());
  EXPECT_EQ(FormatUuid(*upper), s);
  EXPECT_FALSE(ParseUuid("00ff10ab-0000-4000-8000-fffffffffff").has_value());
  EXPECT_FALSE(ParseUuid("00ff10ab-0000-4000-8000_ffffffffffff").has_value());
  EXPECT_FALSE(ParseUuid("0-0ff10ab0000-4000-8000-ffffffffffff").has_value());
}

TEST(UuidTest, NewV4IsCanonicalUniqueAndVersioned) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = NewUuidV4();
    ASSERT_TRUE(IsCanonicalUuid(id)) << id;
    EXPECT_EQ(id[14], '4');
    EXPECT_TRUE(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b') << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

}  // namespace
}  // namespace raceway::model
