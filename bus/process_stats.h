// Small facts about the running process, for stats replies.
#pragma once

#include <chrono>
#include <cstdint>

namespace es::bus {

// Resident set size in bytes (from /proc/self/statm); 0 if unknown.
uint64_t ResidentBytes();

// Events per second over roughly the last few seconds: feed it a running
// total now and then.
class RateMeter {
 public:
  void Observe(uint64_t total);
  double per_second() const { return rate_; }

 private:
  std::chrono::steady_clock::time_point since_{};
  uint64_t total_at_since_ = 0;
  double rate_ = 0;
};

}  // namespace es::bus
