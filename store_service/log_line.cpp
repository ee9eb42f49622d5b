#include "store_service/log_line.h"

#include <unistd.h>

#include <chrono>
#include <ctime>
#include <string>

namespace es::store {

void LogLine(std::string_view text) {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[32];
  size_t stamp_size = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
  std::string line(stamp, stamp_size);
  line += '.';
  line += std::to_string(1000 + millis).substr(1);
  line += "Z store_service: ";
  line += text;
  line += '\n';
  // A failed write to stderr has nowhere to be reported.
  [[maybe_unused]] ssize_t written = write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace es::store
