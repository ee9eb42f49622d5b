#include "saga_service/saga_log.h"

#include <cstdarg>
#include <cstdio>

namespace es::saga {

void Log(const char* format, ...) {
  char line[1024];
  va_list args;
  va_start(args, format);
  std::vsnprintf(line, sizeof line, format, args);
  va_end(args);
  // One write per line, so that lines from concurrent processes do not mix.
  std::fprintf(stderr, "saga_service: %s\n", line);
}

LogThrottle::LogThrottle(std::string what, std::chrono::milliseconds interval)
    : what_(std::move(what)), interval_(interval), last_line_(Clock::now() - interval) {}

void LogThrottle::Report(std::string_view example) {
  ++unreported_;
  ++total_;
  latest_.assign(example);
  Flush();
}

void LogThrottle::Flush(bool force) {
  if (unreported_ == 0) return;
  const auto now = Clock::now();
  if (!force && now - last_line_ < interval_) return;
  const double seconds = std::chrono::duration<double>(now - last_line_).count();
  if (unreported_ == 1) {
    Log("%s: %s", what_.c_str(), latest_.c_str());
  } else {
    Log("%s: %llu in the last %.1f s, latest: %s", what_.c_str(),
        static_cast<unsigned long long>(unreported_), seconds, latest_.c_str());
  }
  unreported_ = 0;
  last_line_ = now;
}

}  // namespace es::saga
