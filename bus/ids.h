// Fresh identifiers for commands, events and aggregates.
#pragma once

#include <string>

namespace es::bus {

// A random (version 4) UUID in its canonical 36-character form.
std::string NewUuid();

// Microseconds since the Unix epoch.
int64_t NowMicros();

}  // namespace es::bus
