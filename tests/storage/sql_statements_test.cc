// storage::common::SplitStatements: how migration files are cut into the
// statements a one-statement-per-call driver (MySQL) executes.

#include "libs/storage/common/sql_statements.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/storage/migrations.h"

namespace raceway::storage::common {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(SplitStatementsTest, SemicolonsEndStatementsOutsideQuotes) {
  EXPECT_THAT(SplitStatements("SELECT 1;SELECT 2"), ElementsAre("SELECT 1", "SELECT 2"));
  EXPECT_THAT(SplitStatements("INSERT INTO t VALUES ('a;b', \"c;d\", `e;f`);\nSELECT 1;"),
              ElementsAre("INSERT INTO t VALUES ('a;b', \"c;d\", `e;f`)", "\nSELECT 1"));
  // A backslash escapes the next byte inside quotes; doubled quotes close
  // and reopen.
  EXPECT_THAT(SplitStatements("SELECT 'it\\'s; fine';SELECT 'a''b;c'"),
              ElementsAre("SELECT 'it\\'s; fine'", "SELECT 'a''b;c'"));
  // An unterminated quote runs to the end.
  EXPECT_THAT(SplitStatements("SELECT 1; SELECT 'a;b"), ElementsAre("SELECT 1", " SELECT 'a;b"));
}

TEST(SplitStatementsTest, CommentsAndEmptyStatementsDisappear) {
  EXPECT_THAT(SplitStatements("-- a; comment\nSELECT 1; -- tail;"), ElementsAre("\nSELECT 1"));
  EXPECT_THAT(SplitStatements("SELECT 1; /* b; */ ; /* never closed;"), ElementsAre("SELECT 1"));
  EXPECT_THAT(SplitStatements(" ; ;\n;\t;"), IsEmpty());
  EXPECT_THAT(SplitStatements(""), IsEmpty());
  // Quotes inside comments open nothing.
  EXPECT_THAT(SplitStatements("-- it's\nSELECT 1; /* \" */ SELECT 2"),
              ElementsAre("\nSELECT 1", "   SELECT 2"));
}

// A block comment separates tokens as whitespace does. It used to vanish:
// "SELECT/**/1" became "SELECT1", and "/ /**/*" a new comment that swallowed
// the rest (found by tests/fuzz/sql_statements_fuzzer.cc: splitting the
// joined statements again gave a different answer).
TEST(SplitStatementsTest, BlockCommentSeparatesTokens) {
  EXPECT_THAT(SplitStatements("SELECT/**/1;CREATE/* x */TABLE t(a INT)"),
              ElementsAre("SELECT 1", "CREATE TABLE t(a INT)"));
  EXPECT_THAT(SplitStatements("SELECT 6 //**/* 2; SELECT 3 */ 4"),
              ElementsAre("SELECT 6 / * 2", " SELECT 3 */ 4"));
  EXPECT_THAT(SplitStatements("SELECT 1 -/**/-1"), ElementsAre("SELECT 1 - -1"));
}

// Every embedded MySQL migration splits into statements that split again to
// themselves (what the fuzz target checks on arbitrary input).
TEST(SplitStatementsTest, MysqlMigrationsAreStable) {
  bool any = false;
  for (const Migration& m : CompiledMigrations("mysql")) {
    any = true;
    const std::vector<std::string> statements = SplitStatements(m.sql);
    EXPECT_FALSE(statements.empty()) << m.name;
    std::string joined;
    for (const std::string& s : statements) joined += s + ";";
    EXPECT_EQ(SplitStatements(joined), statements) << m.name;
  }
  EXPECT_TRUE(any);
}

}  // namespace
}  // namespace raceway::storage::common
