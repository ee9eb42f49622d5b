// The saga's log: one line per call on stderr, prefixed "saga_service: ".
// stdout is reserved for the single "ready" line tests wait for.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace es::saga {

void Log(const char* format, ...) __attribute__((format(printf, 1, 2)));

// Folds repeated reports of one kind into at most one log line per interval:
// "<what>: <n> in the last <s> s, latest: <example>".
class LogThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  LogThrottle(std::string what, std::chrono::milliseconds interval);

  // Counts one occurrence; logs now if the interval has passed.
  void Report(std::string_view example);
  // Logs what was counted if the interval has passed (`force`: regardless).
  void Flush(bool force = false);
  uint64_t total() const { return total_; }

 private:
  std::string what_;
  std::chrono::milliseconds interval_;
  Clock::time_point last_line_;
  uint64_t unreported_ = 0;
  uint64_t total_ = 0;
  std::string latest_;
};

}  // namespace es::saga
