// How much memory this process holds, for the stats replies.
#pragma once

#include <cstdint>

namespace es::saga {

// The resident set size in bytes, from /proc/self/statm; 0 if unknown.
uint64_t ResidentSetBytes();

}  // namespace es::saga
