#ifndef RACEWAY_LIBS_STORAGE_COMMON_SQL_STATEMENTS_H_
#define RACEWAY_LIBS_STORAGE_COMMON_SQL_STATEMENTS_H_

// Splitting of a migration file into statements, for drivers that execute
// one statement per call (MySQL Connector/C++). Pure; thread-safe.

#include <string>
#include <string_view>
#include <vector>

namespace raceway::storage::common {

// The statements of `sql`, in order, without their terminating ';' and
// without comments: "-- ..." up to the end of the line becomes "\n", and
// "/* ... */" (unterminated: to the end) one space. A ';' ends a statement
// only outside quotes ('...', "...", `...`, where a backslash escapes the
// next byte) and comments. Statements that are only whitespace are dropped;
// the others keep their surrounding whitespace.
std::vector<std::string> SplitStatements(std::string_view sql);

}  // namespace raceway::storage::common

#endif  // RACEWAY_LIBS_STORAGE_COMMON_SQL_STATEMENTS_H_
