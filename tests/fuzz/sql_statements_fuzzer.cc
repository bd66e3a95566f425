// storage::common::SplitStatements (migration files, one statement per
// driver call). The output must be exactly what a migration means, with no
// stray content: joining the statements with ';' and splitting again gives
// the same statements (no ';' left outside quotes, no comment or quote
// formed by what the split glued together), and no statement is only
// whitespace.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/storage/common/sql_statements.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view sql(reinterpret_cast<const char*>(data), size);
  const std::vector<std::string> statements = raceway::storage::common::SplitStatements(sql);
  for (const std::string& s : statements) {
    FUZZ_CHECK(s.find_first_not_of(" \t\r\n") != std::string::npos, "whitespace-only statement");
  }
  const std::string joined = absl::StrJoin(statements, ";");
  const std::vector<std::string> again = raceway::storage::common::SplitStatements(joined);
  FUZZ_CHECK(again == statements, absl::StrCat(statements.size(), " statements split again into ",
                                               again.size(), "; joined: ", joined));
  return 0;
}
