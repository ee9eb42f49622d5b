#include "bus/ids.h"

#include <chrono>
#include <cstdio>
#include <random>

namespace es::bus {

std::string NewUuid() {
  // One seeded engine per thread: std::random_device can be slow per call.
  thread_local std::mt19937_64 engine{(uint64_t{std::random_device{}()} << 32) ^
                                      std::random_device{}()};
  uint64_t hi = engine();
  uint64_t lo = engine();
  hi = (hi & ~0xF000ULL) | 0x4000ULL;              // version 4
  lo = (lo & ~(0xC0ULL << 56)) | (0x80ULL << 56);  // RFC 4122 variant
  char buf[37];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xFFFF), static_cast<unsigned>(hi & 0xFFFF),
                static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
  return buf;
}

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace es::bus
