// The store's diagnostics: one line per notable thing, on stderr.
#pragma once

#include <string_view>

namespace es::store {

// Writes "<UTC time> store_service: <text>\n" to stderr in one write, so
// lines from concurrent writers do not interleave.
void LogLine(std::string_view text);

}  // namespace es::store
