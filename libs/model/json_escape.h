#ifndef RACEWAY_LIBS_MODEL_JSON_ESCAPE_H_
#define RACEWAY_LIBS_MODEL_JSON_ESCAPE_H_

// The two pieces every hand-written JSON reader here needs to resolve a
// \uXXXX escape: the four hex digits, and the code point as UTF-8. Pure
// functions; thread-safe.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace raceway::model {

// The 4 hex digits at s[i..i+4) (either case) into *v; false when there are
// fewer than 4 or one is not a hex digit (*v untouched).
bool ParseHex4(std::string_view s, size_t i, uint32_t* v);

// Appends `code` (at most 0x10FFFF) as UTF-8: 1 to 4 bytes. Surrogates are
// encoded as 3-byte sequences like any other code point.
void AppendUtf8(uint32_t code, std::string* out);

}  // namespace raceway::model

#endif  // RACEWAY_LIBS_MODEL_JSON_ESCAPE_H_
