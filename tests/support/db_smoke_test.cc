// Proves the test-database harness works: each server started by
// tests/support/testdb.sh answers a query on its URL.

#include <cppconn/driver.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_driver.h>

#include <memory>
#include <pqxx/pqxx>
#include <regex>

#include "gtest/gtest.h"
#include "tests/support/test_env.h"

namespace {

int PostgresAnswer(const std::string& url) {
  pqxx::connection conn(url);
  pqxx::nontransaction tx(conn);
  return tx.exec("SELECT 40 + 2")[0][0].as<int>();
}

TEST(DbHarnessTest, PostgresAnswers) {
  RACEWAY_REQUIRE_ENV(url, "RACEWAY_TEST_POSTGRES_URL");
  EXPECT_EQ(PostgresAnswer(url), 42);
}

TEST(DbHarnessTest, PgbouncerAnswersInTransactionMode) {
  RACEWAY_REQUIRE_ENV(url, "RACEWAY_TEST_SUPABASE_URL");
  EXPECT_EQ(PostgresAnswer(url), 42);
  // Through a transaction-mode pooler every statement may land on another
  // server session; a plain query still answers.
  pqxx::connection conn(url);
  pqxx::nontransaction tx(conn);
  EXPECT_EQ(tx.exec("SELECT current_database()")[0][0].as<std::string>(), "raceway_sb");
}

TEST(DbHarnessTest, MariaDbAnswers) {
  RACEWAY_REQUIRE_ENV(url, "RACEWAY_TEST_MYSQL_URL");
  std::smatch m;
  const std::regex re(R"(mysql://([^:]+):([^@]+)@([^:/]+):(\d+)/(.+))");
  ASSERT_TRUE(std::regex_match(url, m, re)) << url;
  sql::mysql::MySQL_Driver* driver = sql::mysql::get_mysql_driver_instance();
  std::unique_ptr<sql::Connection> conn(
      driver->connect("tcp://" + m[3].str() + ":" + m[4].str(), m[1].str(), m[2].str()));
  conn->setSchema(m[5].str());
  std::unique_ptr<sql::Statement> stmt(conn->createStatement());
  std::unique_ptr<sql::ResultSet> rs(stmt->executeQuery("SELECT 40 + 2, @@character_set_server"));
  ASSERT_TRUE(rs->next());
  EXPECT_EQ(rs->getInt(1), 42);
  EXPECT_EQ(rs->getString(2), "utf8mb4");
}

}  // namespace
